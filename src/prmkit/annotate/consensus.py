"""Consensus filtering: keep the labels two sources agree on ("The Lessons of Developing PRMs", sec. 3).

At the ``solution`` level (the paper's), a solution is kept when both sources put its first error at
the same step (or both find none); its labels are the primary source's. A source's unlabelled steps
(a tool check on a step without arithmetic) neither flag nor clear anything; a source with no label
at all for a solution (an unparseable judge) cannot agree. At the ``step`` level, each step keeps the
label both sources give it after thresholding and is unlabelled where they differ or either is silent.
"""

from __future__ import annotations

from typing import Optional, Sequence

from ..metrics import predicted_first_error
from ..types import StepLabels

__all__ = ["first_error_verdict", "consensus", "LEVELS"]

LEVELS = ("solution", "step")


def first_error_verdict(labels: Optional[StepLabels], threshold: float = 0.5) -> Optional[int]:
    """The first step labelled below ``threshold`` (-1: none), or None when nothing is labelled.

    Example:
        >>> first_error_verdict(StepLabels((1, None, 0))), first_error_verdict(StepLabels((1, None)))
        (2, -1)
        >>> first_error_verdict(StepLabels((None, None))) is None
        True
    """
    if labels is None or all(v is None for v in labels.values):
        return None
    return predicted_first_error(labels.values, threshold)


def consensus(primary: Sequence[Optional[StepLabels]], other: Sequence[Optional[StepLabels]], *,
              level: str = "solution", thresholds: tuple[float, float] = (0.5, 0.5)) -> list[Optional[StepLabels]]:
    """Per solution, the agreed labels, or None where the sources disagree.

    Args:
        primary / other: labels of the same solutions from two sources (None: the source gave none).
        level: ``"solution"`` (same first error: keep ``primary``'s labels) or ``"step"`` (keep agreeing steps).
        thresholds: per source, the value below which a label means "wrong" (Math-Shepherd's hard
            estimate of soft MC labels is "any rollout succeeded": a threshold just above 0).

    Example:
        >>> mc = [StepLabels((1, 0, 0)), StepLabels((1, 1, 0))]
        >>> judge = [StepLabels((1, 0, None)), StepLabels((0, None, None))]
        >>> [None if c is None else c.values for c in consensus(mc, judge)]
        [(1.0, 0.0, 0.0), None]
    """
    if level not in LEVELS:
        raise ValueError(f"level must be one of {LEVELS}, not {level!r}")
    if len(primary) != len(other):
        raise ValueError(f"{len(primary)} primary labels for {len(other)} other labels")
    out: list[Optional[StepLabels]] = []
    for a, b in zip(primary, other):
        if a is not None and b is not None and len(a) != len(b):
            raise ValueError(f"label counts differ for the same solution: {len(a)} and {len(b)}")
        if level == "solution":
            va, vb = first_error_verdict(a, thresholds[0]), first_error_verdict(b, thresholds[1])
            out.append(a if va is not None and va == vb else None)
            continue
        if a is None or b is None:
            out.append(None)
            continue
        ha, hb = a.hard(thresholds[0]).values, b.hard(thresholds[1]).values
        agreed = tuple(x if x is not None and x == y else None for x, y in zip(ha, hb))
        out.append(None if all(v is None for v in agreed) else StepLabels(agreed, "hard"))
    return out
