"""ProcessBench (Zheng et al., 2024): one JSON array per subset, first-error ``label`` (0-based, -1 = none).

Each record becomes one ``Example`` whose labels are known up to the first error: earlier steps
correct, the error step wrong, later steps unlabelled (``None``) - exactly what the benchmark
annotates. The subset (file name: gsm8k, math, ...) goes to ``problem.metadata["subset"]``.
"""

from __future__ import annotations

from typing import Any, Iterable, Iterator

from ...types import Example, Problem, Solution, StepLabels
from ..io import NoOptions, Context, get, get_list

DESCRIPTION = "ProcessBench: id, generator, problem, steps, final_answer_correct, label (first error, 0-based, -1 none)"
CONTAINER = "json"
_KEYS = {"problem", "steps", "label"}


Options = NoOptions


def sniff(raw: Any) -> bool:
    return isinstance(raw, dict) and _KEYS <= raw.keys() and "completions" not in raw


def parse(raw: Any, ctx: Context) -> Iterable[Example]:
    steps = get_list(raw, "steps", str, ctx)
    label = get(raw, "label", int, ctx)
    if not -1 <= label < len(steps):
        raise ctx.error(f"first-error index {label} is outside -1..{len(steps) - 1} ({len(steps)} steps)", "label")
    correct = get(raw, "final_answer_correct", bool, ctx, optional=True)
    meta = {"subset": ctx.subset}
    generator = get(raw, "generator", str, ctx, optional=True)
    if generator is not None:
        meta["generator"] = generator
    problem = Problem(str(get(raw, "id", (str, int), ctx, optional=True) or ctx.record_id),
                      get(raw, "problem", str, ctx), metadata=meta)
    yield Example(problem, Solution(tuple(steps)), StepLabels.from_first_error(len(steps), None if label < 0 else label),
                  correct=correct)


def dump(examples: Iterable[Example], options: Options) -> Iterator[dict]:
    for ex in examples:
        if ex.labels is None:
            raise ValueError(f"example {ex.problem.id!r} has no step labels; ProcessBench needs a first-error label")
        fe = ex.labels.first_error
        rec = {"id": ex.problem.id}
        if "generator" in ex.problem.metadata:
            rec["generator"] = ex.problem.metadata["generator"]
        rec.update(problem=ex.problem.question, steps=list(ex.solution.steps))
        if ex.correct is not None:
            rec["final_answer_correct"] = ex.correct
        rec["label"] = -1 if fe is None else fe
        yield rec
