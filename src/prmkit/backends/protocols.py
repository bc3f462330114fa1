"""The narrow, text-level interfaces every backend implements (structural typing: no subclassing).

Callers hand over problems and solutions as text and get numbers or text back; tokenization,
templating, batching and devices are the backend's business. A user's own class that has these
methods works everywhere a built-in backend does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Protocol, Sequence, runtime_checkable

from ..types import Problem, Solution, StepScores

__all__ = ["StepScorer", "ReleasesProblems", "Generator", "Completion", "Completes", "check_request", "prompt_seeds",
           "cut_at_stop", "stop_hit"]


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

    A generator whose class sets ``seeds_per_prompt = True`` (the HF, OpenAI-compatible and vLLM ones) also takes
    ``seed`` as one seed per prompt: each prompt's samples are then those of a call with that prompt alone and its
    seed, so callers batch several problems into one call without changing what any of them draws.
    """

    def generate(self, prompts: Sequence[str], *, n: int = 1, stop: Optional[Sequence[str]] = None,
                 max_tokens: int = 256, temperature: float = 1.0, seed: Optional[int] = None) -> list[list[str]]:
        ...


@dataclass(frozen=True)
class Completion:
    """One sampled completion with what a verifier needs beyond its text.

    Args:
        text: the completion, without the prompt and without the stop string.
        finish: ``"stop"`` (EOS or a stop string) or ``"length"`` (cut at ``max_tokens``: the text is truncated).
        stop: the stop string that ended it, if one did.
        tokens: tokens generated.
        top_logprobs: per generated token (up to the cut), the log-probabilities of the most likely tokens at
            that position, by token text; None when not asked for or the backend cannot give them.
        offsets: the character offset in ``text`` where each of those tokens starts.
        logprobs: per generated token (the same tokens as ``offsets``: up to the cut at the stop string), the
            log-probability of the token that was sampled, under the model's own distribution: the softmax of
            the raw logits at temperature 1, not the temperature-scaled distribution it was drawn from (vLLM
            and OpenAI report the same by default). Their mean is the policy's "self-certainty", a PRM-free
            weight. None when not asked for or the backend cannot give them (never made up).
    """

    text: str
    finish: str = "stop"
    stop: Optional[str] = None
    tokens: int = 0
    top_logprobs: Optional[tuple[dict[str, float], ...]] = None
    offsets: Optional[tuple[int, ...]] = None
    logprobs: Optional[tuple[float, ...]] = None


@runtime_checkable
class Completes(Protocol):
    """Optional for a ``Generator``: ``complete`` takes the arguments of ``generate``, ``top_logprobs``
    (how many alternatives to report per token; 0: none) and ``logprobs`` (report each sampled token's
    log-probability and offset) and returns ``Completion`` objects, so a caller knows whether a text was
    truncated and, where the backend can, how likely each token was. The HF, OpenAI-compatible and vLLM
    generators have it; a generator without it works wherever only text is needed."""

    def complete(self, prompts: Sequence[str], *, n: int = 1, stop: Optional[Sequence[str]] = None,
                 max_tokens: int = 256, temperature: float = 1.0, seed: Optional[int] = None,
                 top_logprobs: int = 0, logprobs: bool = False) -> list[list[Completion]]:
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


def prompt_seeds(seed: Any, count: int) -> Optional[list[Optional[int]]]:
    """``seed`` as one seed per prompt (``seeds_per_prompt`` generators), or None for a single ``int`` or None seed.

    Raises:
        ValueError: a sequence of seeds whose length is not the number of prompts.
    """
    if seed is None or isinstance(seed, int):
        return None
    seeds = list(seed)
    if len(seeds) != count:
        raise ValueError(f"seed: {len(seeds)} seeds for {count} prompts; give one per prompt, or one int")
    return seeds


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


def stop_hit(text: str, stop: Optional[Sequence[str]]) -> Optional[str]:
    """The stop string that occurs first in ``text`` (None if none does).

    Example:
        >>> stop_hit("a | b\nc", ["\n", "|"]), stop_hit("abc", ["\n"])
        ('|', None)
    """
    found = [(text.find(s), i, s) for i, s in enumerate(stop or ()) if s and s in text]
    return min(found)[2] if found else None
