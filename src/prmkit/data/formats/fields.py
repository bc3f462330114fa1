"""Any first-error or per-step-label dataset, read through a field mapping instead of code.

The options name the record's fields: ``problem`` (question text), ``steps`` (list of step texts) and
at most one label field, ``first_error`` (index of the earliest wrong step, ``index_base`` 0 or 1;
null, or ``index_base - 1``, for none) or ``step_labels`` (one label per step: true/1 correct,
false/0 wrong, null unlabelled, a float in [0, 1] for soft labels). With neither, the examples carry
no labels (e.g. for ``prmkit score``). A first error gives ProcessBench's labels: 1 before it, 0 at
it, unlabelled after. Optional fields: ``id`` (default: the record's ``id`` when present, else
``subset:line``), ``answer`` (reference answer), ``final_answer``, ``correct`` (outcome, a boolean)
and ``subset`` (default: the file name). Fields not mapped are kept in ``problem.metadata``.

A mapped field that a record lacks, or a first error outside the steps, stops the read with the
located error ``FILE:LINE: field 'first_wrong': ...``; nothing is dropped or clamped. The format is
never detected: name it, ``--format fields -o problem=question -o steps=steps -o first_error=first_wrong``.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Iterable, Optional

from ...types import Example, Problem, Solution, StepLabels
from ..io import Context, get, get_list

DESCRIPTION = ("any first-error / step-label JSON(L) by field mapping: problem=, steps=, first_error= (index_base=0|1) "
               "or step_labels=, optional id=, answer=, final_answer=, correct=, subset=")
EXAMPLE = "--format fields -o problem=question -o steps=steps -o first_error=first_wrong -o index_base=1"
_FIELD_OPTIONS = ("problem", "steps", "first_error", "step_labels", "id", "answer", "final_answer", "correct", "subset")


@dataclass(frozen=True)
class Options:
    """Args:
        problem (`str`, defaults to `"problem"`): field holding the question text.
        steps (`str`, defaults to `"steps"`): field holding the list of step texts.
        first_error (`str`, *optional*): field holding the earliest wrong step (null = no error).
        step_labels (`str`, *optional*): field holding one label per step (bool, 0/1, float or null).
        index_base (`int`, defaults to `0`): 0 or 1, how ``first_error`` counts steps; ``index_base - 1``
            (-1 or 0) also means no error.
        id / answer / final_answer / correct / subset (`str`, *optional*): fields for the problem id,
            the reference answer, the solution's final answer, the outcome flag and the subset name.
    """

    problem: str = "problem"
    steps: str = "steps"
    first_error: Optional[str] = None
    step_labels: Optional[str] = None
    index_base: int = 0
    id: Optional[str] = None
    answer: Optional[str] = None
    final_answer: Optional[str] = None
    correct: Optional[str] = None
    subset: Optional[str] = None

    def __post_init__(self) -> None:
        for name in _FIELD_OPTIONS:
            value = getattr(self, name)
            if isinstance(value, int) and not isinstance(value, bool):  # -o steps=2 names the field "2"
                object.__setattr__(self, name, str(value))
            elif value is not None and (not isinstance(value, str) or not value):
                raise ValueError(f"format 'fields': option {name} must name a field, got {value!r} (quote it: {name}='...')")
        if self.index_base not in (0, 1) or isinstance(self.index_base, bool):
            raise ValueError(f"format 'fields': option index_base must be 0 or 1, got {self.index_base!r}")
        if self.first_error and self.step_labels:
            raise ValueError("format 'fields': give first_error or step_labels, not both")

    def mapped(self) -> set[str]:
        return {getattr(self, f.name) for f in fields(self) if f.name in _FIELD_OPTIONS} - {None}


def sniff(raw: Any) -> bool:
    return False  # a mapping must be asked for: `--format fields -o ...`


def parse(raw: Any, ctx: Context) -> Iterable[Example]:
    o: Options = ctx.options
    steps = get_list(raw, o.steps, str, ctx)
    question = get(raw, o.problem, str, ctx)
    labels = None
    if o.first_error:
        labels = StepLabels.from_first_error(len(steps), _first_error(raw, o, len(steps), ctx))
    elif o.step_labels:
        labels = _step_labels(raw, o.step_labels, len(steps), ctx)
    record_id = get(raw, o.id or "id", (str, int), ctx, optional=o.id is None)
    subset = get(raw, o.subset, (str, int), ctx) if o.subset else ctx.subset
    answer = get(raw, o.answer, (str, int, float), ctx) if o.answer else None
    final = get(raw, o.final_answer, (str, int, float), ctx) if o.final_answer else None
    correct = get(raw, o.correct, bool, ctx) if o.correct else None
    mapped = o.mapped() | ({"id"} if o.id is None else set())
    meta = {k: v for k, v in raw.items() if k not in mapped}
    meta["subset"] = str(subset)
    problem = Problem(str(ctx.record_id if record_id is None else record_id), question,
                      None if answer is None else str(answer), metadata=meta)
    yield Example(problem, Solution(tuple(steps), None if final is None else str(final)), labels, correct=correct)


def _first_error(raw: dict, o: Options, n: int, ctx: Context) -> Optional[int]:
    if o.first_error not in raw:
        raise ctx.error("missing", o.first_error)
    value = raw[o.first_error]
    if value is None:
        return None
    value = get(raw, o.first_error, int, ctx)
    none = o.index_base - 1
    if value == none:
        return None
    if not o.index_base <= value < n + o.index_base:
        where = f"{o.index_base}..{n - 1 + o.index_base}" if n else "none (no steps)"
        raise ctx.error(f"first-error index {value} is outside {where} ({n} steps, {o.index_base}-based; "
                        f"null or {none} for no error)", o.first_error)
    return value - o.index_base


def _step_labels(raw: dict, name: str, n: int, ctx: Context) -> StepLabels:
    values = get_list(raw, name, (bool, int, float, type(None)), ctx)
    if len(values) != n:
        raise ctx.error(f"{len(values)} labels for {n} steps", name)
    for i, v in enumerate(values):
        if v is not None and not 0 <= v <= 1:
            raise ctx.error(f"label {v!r} is outside [0, 1]", f"{name}[{i}]")
    hard = all(v is None or float(v) in (0.0, 1.0) for v in values)
    return StepLabels(tuple(None if v is None else float(v) for v in values), "hard" if hard else "soft")
