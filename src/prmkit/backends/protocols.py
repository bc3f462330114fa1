"""The narrow, text-level interfaces every backend implements (structural typing: no subclassing).

Callers hand over problems and solutions as text and get numbers or text back; tokenization,
templating, batching and devices are the backend's business. A user's own class that has these
methods works everywhere a built-in backend does.
"""

from __future__ import annotations

from typing import Optional, Protocol, Sequence, runtime_checkable

from ..types import Problem, Solution, StepScores

__all__ = ["StepScorer", "Generator"]


@runtime_checkable
class StepScorer(Protocol):
    """Scores every step of each solution.

    ``score(problems, solutions)`` takes two equally long sequences (solution ``i`` answers problem
    ``i``) and returns one ``StepScores`` per solution with exactly one value per step. A step the
    backend could not score (e.g. past the model's context) gets ``None``, never a guess.
    Scores are probabilities of "this step is correct" in [0, 1] for discriminative PRMs.
    """

    def score(self, problems: Sequence[Problem], solutions: Sequence[Solution]) -> list[StepScores]:
        ...


@runtime_checkable
class Generator(Protocol):
    """Samples continuations of text prompts.

    ``generate(prompts, n=..., stop=..., max_tokens=..., temperature=..., seed=...)`` returns, for each
    prompt, ``n`` completions (without the prompt; the stop string, if hit, is not included).
    """

    def generate(self, prompts: Sequence[str], *, n: int = 1, stop: Optional[Sequence[str]] = None,
                 max_tokens: int = 256, temperature: float = 1.0, seed: Optional[int] = None) -> list[list[str]]:
        ...
