"""TRL stepwise supervision, what TRL's ``PRMTrainer`` reads: ``prompt``, ``completions`` (the steps), ``labels``.

Each row becomes one ``Example``: prompt -> question, completions -> steps, labels kept as given
(bools and 0/1 are hard; any other float makes the row soft and stays a float: 0.7 is never
rounded). prmkit writes three extra columns, ignored by TRL, that make a round trip lossless:
``id``, ``final_answer_correct`` (``Example.correct``) and ``metadata`` (``problem.metadata``).
"""

from __future__ import annotations

from typing import Any, Iterable, Iterator

from ...types import Example, Problem, Solution, StepLabels
from ..io import NoOptions, Context, text_id, get, get_list

DESCRIPTION = "TRL stepwise supervision: prompt, completions (steps), labels (bool or float per step)"
CONTAINER = "jsonl"


Options = NoOptions


def sniff(raw: Any) -> bool:
    """Whether ``raw`` has a string ``prompt`` and list ``completions`` and ``labels``."""
    return (isinstance(raw, dict) and isinstance(raw.get("prompt"), str)
            and isinstance(raw.get("completions"), list) and isinstance(raw.get("labels"), list))




def parse(raw: Any, ctx: Context) -> Iterable[Example]:
    """Map one row to one ``Example``, restoring id, correctness and metadata when present.

    Args:
        raw: the decoded row.
        ctx: where it came from.

    Returns:
        A one-element list.
    """
    prompt = get(raw, "prompt", str, ctx)
    steps = get_list(raw, "completions", str, ctx)
    values = get_list(raw, "labels", (bool, int, float, type(None)), ctx)
    if len(values) != len(steps):
        raise ctx.error(f"{len(values)} labels for {len(steps)} completions", "labels")
    for i, v in enumerate(values):
        if v is not None and not 0 <= v <= 1:
            raise ctx.error(f"label {v} is outside [0, 1]", f"labels[{i}]")
    soft = any(v is not None and v not in (0, 1) for v in values)
    labels = StepLabels(tuple(values), "soft" if soft else "hard")
    rid = get(raw, "id", (str, int), ctx, optional=True)
    meta = get(raw, "metadata", dict, ctx, optional=True) or {}
    problem = Problem(text_id("trl", prompt) if rid is None else str(rid), prompt,
                      get(raw, "answer", str, ctx, optional=True), meta)
    yield Example(problem, Solution(tuple(steps)), labels,
                  correct=get(raw, "final_answer_correct", bool, ctx, optional=True))


def dump(examples: Iterable[Example], options: Options) -> Iterator[dict]:
    """Write rows TRL's ``PRMTrainer`` can train on, plus prmkit's extra columns.

    Unlabelled steps after the first error become wrong (``StepLabels.propagated``): TRL needs
    a label for every step. Hard labels are written as bools, soft ones as the stored floats.
    ``answer`` is written when ``problem.answer`` is set; solution metadata and scores are not kept.

    Args:
        examples: the examples.
        options: no options.

    Returns:
        An iterator of rows.

    Raises:
        ValueError: an example without labels, or with a step unlabelled before its first error.
    """
    for ex in examples:
        name = f"example {ex.problem.id!r}"
        if ex.labels is None:
            raise ValueError(f"{name} has no step labels; TRL stepwise supervision needs one per step")
        labels = ex.labels.propagated()
        if None in labels.values:
            raise ValueError(f"{name}: step {labels.values.index(None) + 1} is unlabelled before the first error; "
                             "TRL stepwise supervision needs a label for every step")
        rec = {
            "prompt": ex.problem.question,
            "completions": list(ex.solution.steps),
            "labels": [v == 1.0 for v in labels.values] if labels.kind == "hard" else list(labels.values),
            "id": ex.problem.id,
            "final_answer_correct": ex.correct,
        }
        if ex.problem.answer is not None:
            rec["answer"] = ex.problem.answer
        if ex.problem.metadata:
            rec["metadata"] = dict(ex.problem.metadata)
        yield rec
