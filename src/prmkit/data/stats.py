"""Dataset statistics: sizes, steps per solution, label balance and where first errors fall.

``dataset_stats`` is a pure function over examples; the CLI renders its result as tables or JSON.
"""

from __future__ import annotations

import statistics
from collections import Counter
from typing import Any, Iterable, Optional

from ..types import Example

__all__ = ["dataset_stats", "HISTOGRAM_CAP"]

HISTOGRAM_CAP = 15  # first errors at step >= this index share one bucket


def _summary(values: list[int]) -> dict[str, float]:
    if not values:
        return {"mean": 0.0, "median": 0.0, "min": 0, "max": 0}
    return {"mean": round(statistics.fmean(values), 3), "median": statistics.median(values),
            "min": min(values), "max": max(values)}


class _Acc:
    """Running counts for one group of examples."""

    def __init__(self) -> None:
        self.items = 0
        self.steps: list[int] = []
        self.problems: Counter = Counter()
        self.labelled = self.with_error = self.without_error = 0
        self.step_labels = Counter()  # positive / negative / unlabelled / soft
        self.soft_sum = 0.0
        self.first_errors: Counter = Counter()
        self.outcome = Counter()

    def add(self, ex: Example) -> None:
        self.items += 1
        self.steps.append(len(ex.solution.steps))
        self.problems[ex.problem.id] += 1
        if ex.correct is not None:
            self.outcome["correct" if ex.correct else "incorrect"] += 1
        if ex.labels is None:
            return
        self.labelled += 1
        soft = ex.labels.kind == "soft"
        for v in ex.labels.values:
            if v is None:
                self.step_labels["unlabelled"] += 1
            else:
                self.step_labels["positive" if v >= 0.5 else "negative"] += 1
                if soft:
                    self.step_labels["soft"] += 1
                    self.soft_sum += v
        fe = ex.labels.first_error
        if fe is None:
            self.without_error += 1
        else:
            self.with_error += 1
            self.first_errors[min(fe, HISTOGRAM_CAP)] += 1

    def result(self) -> dict[str, Any]:
        labelled_steps = self.step_labels["positive"] + self.step_labels["negative"]
        out: dict[str, Any] = {
            "items": self.items,
            "problems": len(self.problems),
            "duplicate_ids": sum(n - 1 for n in self.problems.values() if n > 1),
            "steps_per_solution": _summary(self.steps),
            "total_steps": sum(self.steps),
            "labelled_items": self.labelled,
            "error": self.with_error,
            "correct": self.without_error,
            "step_labels": {k: self.step_labels[k] for k in ("positive", "negative", "unlabelled")},
            "positive_fraction": round(self.step_labels["positive"] / labelled_steps, 4) if labelled_steps else None,
            "first_error_histogram": {(f"{k}+" if k == HISTOGRAM_CAP else str(k)): self.first_errors[k]
                                      for k in sorted(self.first_errors)},
        }
        if self.step_labels["soft"]:
            out["soft_label_mean"] = round(self.soft_sum / self.step_labels["soft"], 4)
        if self.outcome:
            out["outcome"] = dict(self.outcome)
        return out


def dataset_stats(examples: Iterable[Example], by: Optional[str] = "subset") -> dict[str, Any]:
    """Statistics over all examples and per group.

    Args:
        examples: the examples to describe.
        by: a ``problem.metadata`` key to group by (``"subset"``, ``"classification"``...), or None.

    Returns:
        ``{"total": {...}, "groups": {name: {...}}}`` where each entry has ``items``, ``problems``,
        ``duplicate_ids``, ``steps_per_solution`` (mean/median/min/max), ``error``/``correct``
        (labelled examples with and without a wrong step), ``step_labels`` counts,
        ``positive_fraction`` and ``first_error_histogram`` (0-based step -> count).

    Example:
        >>> from prmkit.types import *
        >>> ex = Example(Problem("p", "q", metadata={"subset": "a"}), Solution(["s1", "s2"]), StepLabels([1, 0]))
        >>> s = dataset_stats([ex])
        >>> s["total"]["error"], s["total"]["first_error_histogram"], list(s["groups"])
        (1, {'1': 1}, ['a'])
    """
    total = _Acc()
    groups: dict[str, _Acc] = {}
    for ex in examples:
        total.add(ex)
        if by:
            key = str(ex.problem.metadata.get(by, "-"))
            groups.setdefault(key, _Acc()).add(ex)
    return {"total": total.result(), "groups": {k: g.result() for k, g in groups.items()}}
