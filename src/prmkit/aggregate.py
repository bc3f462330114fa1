"""Step-score aggregation and answer selection: the one place these live.

Aggregators turn a solution's step scores into one number (``min`` is the PRM default since
Lightman et al.; ``prod`` and ``last`` are the other common choices). Selectors pick one answer
from N candidates: by the best aggregate (argmax), by PRM-weighted vote, or by majority vote.
Everything is a pure function over plain lists; nothing here imports more than the stdlib.
"""

from __future__ import annotations

import math
from typing import Callable, Hashable, Optional, Sequence

__all__ = [
    "min_", "prod", "last", "mean", "geometric_mean", "AGGREGATORS", "aggregate",
    "argmax", "weighted_vote", "majority_vote",
]


def _check(scores: Sequence[float]) -> Sequence[float]:
    if len(scores) == 0:
        raise ValueError("cannot aggregate an empty list of step scores")
    return scores


def min_(scores: Sequence[float]) -> float:
    """The weakest step decides: ``min_([0.9, 0.2, 0.8]) == 0.2``."""
    return float(min(_check(scores)))


def prod(scores: Sequence[float]) -> float:
    """Probability that every step is right, if steps were independent.

    Example:
        >>> round(prod([0.9, 0.5]), 6)
        0.45
    """
    return float(math.prod(_check(scores)))


def last(scores: Sequence[float]) -> float:
    """The score of the final step, which sees the whole solution: ``last([0.1, 0.7]) == 0.7``."""
    return float(_check(scores)[-1])


def mean(scores: Sequence[float]) -> float:
    """Arithmetic mean: ``mean([0.2, 0.4]) == 0.3`` (up to float rounding)."""
    return float(math.fsum(_check(scores)) / len(scores))


def geometric_mean(scores: Sequence[float]) -> float:
    """``prod ** (1/n)``: a product that does not punish long solutions.

    Example:
        >>> round(geometric_mean([0.25, 1.0]), 6)
        0.5
    """
    scores = _check(scores)
    if any(s < 0 for s in scores):
        raise ValueError("geometric_mean needs non-negative scores")
    if any(s == 0 for s in scores):
        return 0.0
    return float(math.exp(math.fsum(math.log(s) for s in scores) / len(scores)))


AGGREGATORS: dict[str, Callable[[Sequence[float]], float]] = {
    "min": min_, "prod": prod, "last": last, "mean": mean, "geometric_mean": geometric_mean,
}


def aggregate(scores: Sequence[Optional[float]], how: str | Callable[[Sequence[float]], float] = "min") -> Optional[float]:
    """Aggregate step scores by name (a key of ``AGGREGATORS``) or function, skipping unscored steps.

    Returns None when no step has a score (never a made-up number).

    Example:
        >>> aggregate([0.9, None, 0.3], "min"), aggregate([None], "min")
        (0.3, None)
    """
    if isinstance(how, str) and how not in AGGREGATORS:
        raise KeyError(f"unknown aggregator {how!r}; known: {', '.join(AGGREGATORS)}")
    fn = AGGREGATORS[how] if isinstance(how, str) else how
    present = [s for s in scores if s is not None]
    return fn(present) if present else None


def argmax(scores: Sequence[Optional[float]]) -> int:
    """Index of the highest score (first on ties); candidates scored None never win unless all are.

    Example:
        >>> argmax([0.2, 0.9, 0.9, None])
        1
    """
    if not scores:
        raise ValueError("argmax of no candidates")
    best = None
    for i, s in enumerate(scores):
        if s is not None and (best is None or s > scores[best]):
            best = i
    return 0 if best is None else best


def weighted_vote(answers: Sequence[Optional[Hashable]], weights: Sequence[Optional[float]]) -> Optional[Hashable]:
    """The answer whose candidates' weights (e.g. PRM scores) sum highest; ties go to the first seen.

    Candidates without an answer (None) or without a weight are skipped.

    Example:
        >>> weighted_vote(["4", "5", "5"], [0.9, 0.5, 0.3])
        '4'
    """
    if len(answers) != len(weights):
        raise ValueError(f"{len(answers)} answers but {len(weights)} weights")
    totals: dict[Hashable, float] = {}
    for a, w in zip(answers, weights):
        if a is not None and w is not None:
            totals[a] = totals.get(a, 0.0) + w
    return max(totals, key=totals.__getitem__) if totals else None


def majority_vote(answers: Sequence[Optional[Hashable]]) -> Optional[Hashable]:
    """The most frequent answer (self-consistency); ties go to the first seen.

    Example:
        >>> majority_vote(["4", "5", "5", None, None, None])
        '5'
    """
    return weighted_vote(answers, [1.0] * len(answers))
