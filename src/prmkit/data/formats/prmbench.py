"""PRMBench (Song et al., 2025): PRM800K solutions with injected errors, ``error_steps`` 1-based.

Each record becomes one ``Example`` over ``modified_question``/``modified_process``: steps listed in
``error_steps`` are labelled wrong, all others correct (as the official evaluation scores them).
The id is ``{classification}_{idx}``, as in the official code. Error indices past the last step
are clamped to it in the labels and counted in the read report (``clamped error_steps``); the raw
list is kept in ``problem.metadata["error_steps"]``, which ``prmkit eval prmbench`` scores from,
because the official scorer simply ignores out-of-range indices. With ``with_correct_samples=True`` each ``redundency``
record also yields the official error-free sample ``correct_{idx}`` built from ``original_process``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

from ...types import Example, Problem, Solution, StepLabels
from ..io import Context, get, get_list

DESCRIPTION = "PRMBench: modified_process + 1-based error_steps per classification (clamped, counted)"
_KEYS = {"modified_process", "error_steps", "classification"}
_MAPPED = {"modified_question", "modified_process", "error_steps", "classification", "idx", "question"}
CORRECT_CLASS = "redundency"  # the official loader adds error-free samples from this class (sic)


@dataclass(frozen=True)
class Options:
    """Args:
        with_correct_samples (`bool`, defaults to `False`): also yield the official error-free
            sample ``correct_{idx}`` (``original_question``/``original_process``, all steps correct)
            once per ``redundency`` record.
    """

    with_correct_samples: bool = False


def sniff(raw: Any) -> bool:
    return isinstance(raw, dict) and _KEYS <= raw.keys()


def parse(raw: Any, ctx: Context) -> Iterable[Example]:
    steps = get_list(raw, "modified_process", str, ctx)
    error_steps = get_list(raw, "error_steps", int, ctx)
    classification = get(raw, "classification", str, ctx)
    idx = str(get(raw, "idx", (str, int), ctx))
    question = get(raw, "modified_question", str, ctx, optional=True)
    if question is None:
        question = get(raw, "question", str, ctx)
    if error_steps and not steps:
        raise ctx.error("error_steps given for a solution with no steps", "modified_process")
    wrong = set()
    clamped = 0
    for i, step in enumerate(error_steps):
        if step < 1:
            raise ctx.error(f"error step {step} is not a 1-based step index", f"error_steps[{i}]")
        if step > len(steps):
            clamped += 1
            step = len(steps)
        wrong.add(step - 1)
    if clamped:
        ctx.note("clamped error_steps", clamped)
        ctx.note("records with clamped error_steps")
    meta = {k: v for k, v in raw.items() if k not in _MAPPED}
    meta.update(classification=classification, idx=idx, error_steps=list(error_steps), subset=ctx.subset)
    labels = StepLabels(tuple(0.0 if i in wrong else 1.0 for i in range(len(steps))), "hard")
    yield Example(Problem(f"{classification}_{idx}", question, metadata=meta), Solution(tuple(steps)), labels,
                  correct=not wrong)
    if ctx.options.with_correct_samples and classification == CORRECT_CLASS:
        original = get_list(raw, "original_process", str, ctx)
        original_question = get(raw, "original_question", str, ctx)
        yield Example(Problem(f"correct_{idx}", original_question,
                              metadata={"classification": "correct", "idx": idx, "error_steps": [], "subset": ctx.subset}),
                      Solution(tuple(original)), StepLabels((1.0,) * len(original), "hard"), correct=True)
