"""The narrow, text-level interfaces every backend implements (structural typing: no subclassing).

Callers hand over problems and solutions as text and get numbers or text back; tokenization,
templating, batching and devices are the backend's business. A user's own class that has these
methods works everywhere a built-in backend does.
"""

from __future__ import annotations

from typing import Optional, Protocol, Sequence, runtime_checkable

from ..types import Problem, Solution, StepScores

__all__ = ["StepScorer", "ReleasesProblems", "Generator", "check_request", "cut_at_stop"]


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
class ReleasesProblems(Protocol):
    """Optional for a ``StepScorer``: one that keeps state per problem (an incremental scorer's KV caches)
    frees it in ``release(problem)``. Search strategies call it when a problem's search ends, if the scorer
    has it; a scorer without it works the same."""

    def release(self, problem: Problem) -> None:
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


def check_request(prompts: Sequence[str], n: int, max_tokens: int, temperature: float,
                  stop: Optional[Sequence[str]]) -> list[str]:
    """Validate a ``Generator.generate`` call the same way in every backend; returns the non-empty stops.

    Raises:
        TypeError: ``prompts`` is one string (a common slip that would sample from each character).
        ValueError: ``n < 1``, ``max_tokens < 0`` or ``temperature < 0``.
    """
    if isinstance(prompts, str):
        raise TypeError("prompts must be a sequence of strings, not one string")
    if n < 1 or max_tokens < 0 or temperature < 0:
        raise ValueError(f"need n >= 1, max_tokens >= 0, temperature >= 0; got {n}, {max_tokens}, {temperature}")
    return [s for s in (stop or ()) if s]


def cut_at_stop(text: str, stop: Optional[Sequence[str]]) -> str:
    """``text`` up to (not including) the earliest occurrence of any stop string (every backend cuts here,
    since some servers keep the stop string).

    Example:
        >>> cut_at_stop("Step 1: 2 + 2 = 4.\\nStep 2: done", ["\\n"])
        'Step 1: 2 + 2 = 4.'
        >>> cut_at_stop("no stop here", ["\\n", "###"])
        'no stop here'
    """
    cut = len(text)
    for s in stop or ():
        at = text.find(s) if s else -1
        if 0 <= at < cut:
            cut = at
    return text[:cut]
