"""Core data types shared by every prmkit stage.

Everything here is a small frozen dataclass that imports only the standard library and validates
itself in ``__post_init__``. Steps are tuples of strings; labels and scores are tuples of floats
(or ``None`` for "unknown"), one per step. Soft labels stay floats end to end: nothing in prmkit
coerces ``0.7`` to ``0`` (the TRL ``int(label)`` pitfall).

Invariants:
    * ``Example.labels`` and ``Example.scores``, when present, have one value per step.
    * Hard labels are 0.0, 1.0 or None; soft labels are in [0, 1] or None.
    * A step is *wrong* when its label is below ``threshold`` (0.5 by default); ``first_error`` is the
      index of the first wrong step, or None when no labelled step is wrong.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal, Mapping, Optional, Sequence

__all__ = ["Problem", "Solution", "StepLabels", "StepScores", "Example", "LabelKind"]

LabelKind = Literal["hard", "soft"]
_LABEL_KINDS = ("hard", "soft")


def _check_metadata(owner: str, metadata: Any) -> None:
    if not isinstance(metadata, Mapping):
        raise TypeError(f"{owner}.metadata must be a mapping, got {type(metadata).__name__}")


@dataclass(frozen=True)
class Problem:
    """A question with an optional reference answer.

    Args:
        id (`str`): stable identifier, unique within a dataset.
        question (`str`): the problem statement shown to the policy.
        answer (`str`, *optional*): the reference final answer (e.g. ``"18"``, ``"\\frac{1}{2}"``).
        metadata (`Mapping`, *optional*): anything else the source carried (subject, level, ...).
    """

    id: str
    question: str
    answer: Optional[str] = None
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not self.id:
            raise ValueError(f"Problem.id must be a non-empty string, got {self.id!r}")
        if not isinstance(self.question, str):
            raise TypeError(f"Problem.question must be a string, got {type(self.question).__name__}")
        if self.answer is not None and not isinstance(self.answer, str):
            raise TypeError(f"Problem.answer must be a string or None, got {type(self.answer).__name__}")
        _check_metadata("Problem", self.metadata)


@dataclass(frozen=True)
class Solution:
    """An ordered list of reasoning steps and the final answer they lead to.

    A solution may have zero steps: score-only candidate files (RewardMATH) and the root prefix
    of an OmegaPRM tree carry no step text.

    Args:
        steps (`tuple[str, ...]`): the steps, in order; a list is converted to a tuple.
        final_answer (`str`, *optional*): the answer the solution ends with, if known or extracted.
        metadata (`Mapping`, *optional*): source-specific fields (generator, alternatives, ...).
    """

    steps: tuple[str, ...]
    final_answer: Optional[str] = None
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if isinstance(self.steps, (list, tuple)):
            object.__setattr__(self, "steps", tuple(self.steps))
        else:
            raise TypeError(f"Solution.steps must be a list or tuple of strings, got {type(self.steps).__name__}")
        for i, step in enumerate(self.steps):
            if not isinstance(step, str):
                raise TypeError(f"Solution.steps[{i}] must be a string, got {type(step).__name__}")
        if self.final_answer is not None and not isinstance(self.final_answer, str):
            raise TypeError("Solution.final_answer must be a string or None")
        _check_metadata("Solution", self.metadata)

    def __len__(self) -> int:
        return len(self.steps)


def _as_values(owner: str, values: Sequence[Any], allow_none: bool) -> tuple:
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
        raise TypeError(f"{owner}.values must be a sequence of numbers, got {type(values).__name__}")
    out = []
    for i, v in enumerate(values):
        if v is None:
            if not allow_none:
                raise ValueError(f"{owner}.values[{i}] is None")
            out.append(None)
            continue
        if isinstance(v, bool):
            v = float(v)
        if not isinstance(v, (int, float)) or not math.isfinite(v):  # NaN, inf: not a score
            raise TypeError(f"{owner}.values[{i}] must be a number or None, got {v!r}")
        out.append(float(v))
    return tuple(out)


@dataclass(frozen=True)
class StepLabels:
    """Per-step correctness labels.

    Args:
        values (`tuple[float | None, ...]`): one label per step. ``1.0`` = correct, ``0.0`` = wrong,
            a float in between = soft (e.g. the fraction of Monte-Carlo rollouts that succeed),
            ``None`` = not labelled (e.g. steps after ProcessBench's first error).
        kind (`"hard"` or `"soft"`): hard labels must be 0 or 1; soft labels any value in [0, 1].

    Example:
        >>> StepLabels((1, 1, 0, None)).first_error
        2
        >>> StepLabels((0.9, 0.7, 0.2), kind="soft").hard().values
        (1.0, 1.0, 0.0)
    """

    values: tuple[Optional[float], ...]
    kind: LabelKind = "hard"

    def __post_init__(self) -> None:
        if self.kind not in _LABEL_KINDS:
            raise ValueError(f"StepLabels.kind must be one of {_LABEL_KINDS}, got {self.kind!r}")
        values = _as_values("StepLabels", self.values, allow_none=True)
        for i, v in enumerate(values):
            if v is None:
                continue
            if self.kind == "hard" and v not in (0.0, 1.0):
                raise ValueError(f"StepLabels.values[{i}] = {v} is not 0 or 1 but kind='hard'; use kind='soft'")
            if not 0.0 <= v <= 1.0:
                raise ValueError(f"StepLabels.values[{i}] = {v} is outside [0, 1]")
        object.__setattr__(self, "values", values)

    def __len__(self) -> int:
        return len(self.values)

    def first_error_at(self, threshold: float = 0.5) -> Optional[int]:
        """Index of the first labelled step whose value is below ``threshold``, else None."""
        for i, v in enumerate(self.values):
            if v is not None and v < threshold:
                return i
        return None

    @property
    def first_error(self) -> Optional[int]:
        """Index of the first wrong step (value < 0.5), or None if no labelled step is wrong."""
        return self.first_error_at(0.5)

    def hard(self, threshold: float = 0.5) -> "StepLabels":
        """Hard labels: ``1.0`` where value >= threshold, ``0.0`` below, ``None`` stays ``None``."""
        return StepLabels(tuple(None if v is None else float(v >= threshold) for v in self.values), "hard")

    def propagated(self) -> "StepLabels":
        """Fill unlabelled steps after the first error with ``0.0`` (an error makes later steps wrong).

        Unlabelled steps *before* the first error stay ``None``.

        Example:
            >>> StepLabels((1, 0, None, None)).propagated().values
            (1.0, 0.0, 0.0, 0.0)
        """
        fe = self.first_error
        if fe is None:
            return self
        return StepLabels(self.values[:fe + 1] + tuple(0.0 if v is None else v for v in self.values[fe + 1:]), self.kind)

    @classmethod
    def from_first_error(cls, n_steps: int, first_error: Optional[int]) -> "StepLabels":
        """Hard labels known from a first-error index alone (ProcessBench).

        Steps before the error are correct, the error step is wrong, later steps are unknown.

        Example:
            >>> StepLabels.from_first_error(4, 1).values
            (1.0, 0.0, None, None)
            >>> StepLabels.from_first_error(2, None).values
            (1.0, 1.0)
        """
        if first_error is None:
            return cls((1.0,) * n_steps, "hard")
        if not 0 <= first_error < n_steps:
            raise ValueError(f"first_error {first_error} is outside the {n_steps} steps")
        return cls((1.0,) * first_error + (0.0,) + (None,) * (n_steps - first_error - 1), "hard")


@dataclass(frozen=True)
class StepScores:
    """Scores a verifier gave to each step, and optionally to the whole solution.

    Args:
        values (`tuple[float | None, ...]`): one score per step; ``None`` marks a step that got no
            score (e.g. it fell past the model's context limit).
        outcome (`float`, *optional*): a solution-level score (an outcome reward model's output).
        source (`str`, *optional*): which verifier produced the scores.
    """

    values: tuple[Optional[float], ...]
    outcome: Optional[float] = None
    source: Optional[str] = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "values", _as_values("StepScores", self.values, allow_none=True))
        if self.outcome is not None:
            if isinstance(self.outcome, bool) or not isinstance(self.outcome, (int, float)) or not math.isfinite(self.outcome):
                raise TypeError(f"StepScores.outcome must be a number, got {self.outcome!r}")
            object.__setattr__(self, "outcome", float(self.outcome))

    def __len__(self) -> int:
        return len(self.values)


@dataclass(frozen=True)
class Example:
    """The unit every reader yields and every writer takes: one solution to one problem.

    Several examples sharing a ``problem.id`` form a candidate set (Best-of-N data).

    Args:
        problem (`Problem`): the question.
        solution (`Solution`): the steps.
        labels (`StepLabels`, *optional*): gold per-step labels, one per step.
        scores (`StepScores`, *optional*): verifier scores, one per step.
        correct (`bool`, *optional*): whether the final answer is right (outcome label).
    """

    problem: Problem
    solution: Solution
    labels: Optional[StepLabels] = None
    scores: Optional[StepScores] = None
    correct: Optional[bool] = None

    def __post_init__(self) -> None:
        n = len(self.solution.steps)
        if self.labels is not None and len(self.labels) != n:
            raise ValueError(f"Example {self.problem.id!r}: {len(self.labels)} labels for {n} steps")
        if self.scores is not None and len(self.scores) != n:
            raise ValueError(f"Example {self.problem.id!r}: {len(self.scores)} scores for {n} steps")
        if self.correct is not None and not isinstance(self.correct, bool):
            raise TypeError(f"Example.correct must be a bool or None, got {self.correct!r}")

    @property
    def first_error(self) -> Optional[int]:
        """First wrong step according to the labels (None if unlabelled or all correct)."""
        return None if self.labels is None else self.labels.first_error
