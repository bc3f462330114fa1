"""OmegaPRM (Luo et al., 2024) / OpenR Math-APS: ``question``, ``final_answer`` and ``reasoning_steps``,
a list of ``{solution_prefix, mc_value}`` where each prefix is the question and a partial solution.

Each prefix becomes one ``Example``: its steps are the text after the question split at blank lines,
labelled soft with ``None`` everywhere but the last step, which gets the prefix's Monte-Carlo value
(also in ``solution.metadata["mc_value"]``). The root prefix (the bare question) has zero steps.
"""

from __future__ import annotations

from typing import Any, Iterable, Iterator

from ...steps import join_steps, split_steps
from ...types import Example, Problem, Solution, StepLabels
from ..io import NoOptions, Context, text_id, get, get_list

DESCRIPTION = "OmegaPRM / OpenR Math-APS: question, final_answer, reasoning_steps[{solution_prefix, mc_value}]"
CONTAINER = "jsonl"
SEPARATOR = "\n\n"


Options = NoOptions


def sniff(raw: Any) -> bool:
    """Whether ``raw`` has a string ``question`` and a ``reasoning_steps`` list."""
    return isinstance(raw, dict) and isinstance(raw.get("question"), str) and isinstance(raw.get("reasoning_steps"), list)




def parse(raw: Any, ctx: Context) -> Iterable[Example]:
    """Map one record (one question's tree of prefixes) to one ``Example`` per prefix.

    Args:
        raw: the decoded record.
        ctx: where it came from.

    Returns:
        The examples, in the order of ``reasoning_steps``. They share ``problem.id``, a hash of the
        question: Math-APS's ``question_id`` is not unique (it is kept in ``problem.metadata``).
    """
    question = get(raw, "question", str, ctx)
    answer = get(raw, "final_answer", str, ctx, optional=True)
    meta = {k: v for k, v in raw.items() if k not in ("question", "final_answer", "reasoning_steps")}
    problem = Problem(text_id("omegaprm", question), question, answer, meta)
    entries = get_list(raw, "reasoning_steps", dict, ctx)
    examples = []
    for i, entry in enumerate(entries):
        path = f"reasoning_steps[{i}]"
        prefix = get(entry, "solution_prefix", str, ctx, path=path)
        mc = get(entry, "mc_value", float, ctx, path=path)
        if not 0 <= mc <= 1:
            raise ctx.error(f"{mc} is outside [0, 1]", f"{path}.mc_value")
        if not prefix.startswith(question):
            raise ctx.error("does not start with the question", f"{path}.solution_prefix")
        steps = split_steps(prefix[len(question):], separator=SEPARATOR)
        labels = StepLabels((None,) * (len(steps) - 1) + (mc,) if steps else (), "soft")
        extra = {k: v for k, v in entry.items() if k not in ("solution_prefix", "mc_value")}
        examples.append(Example(problem, Solution(steps, metadata={"mc_value": float(mc), **extra}), labels))
    return examples


def dump(examples: Iterable[Example], options: Options) -> Iterator[dict]:
    """Group examples by ``problem.id`` back into one record per question (first-seen order).

    A prefix is written as the question, a blank line and the steps joined by blank lines, so
    whitespace around steps is normalised; the value is ``solution.metadata["mc_value"]``, else
    the last step's label.

    Args:
        examples: the examples.
        options: no options.

    Returns:
        An iterator of records.

    Raises:
        ValueError: an example with neither ``mc_value`` nor a labelled last step.
    """
    groups: dict[str, tuple[Example, list]] = {}
    for ex in examples:
        mc = ex.solution.metadata.get("mc_value")
        if mc is None and ex.labels is not None and len(ex.labels):
            mc = ex.labels.values[-1]
        if mc is None:
            raise ValueError(f"example {ex.problem.id!r} has no mc_value and no label on its last step")
        q = ex.problem.question
        prefix = q + SEPARATOR + join_steps(ex.solution.steps, separator=SEPARATOR) if ex.solution.steps else q
        groups.setdefault(ex.problem.id, (ex, []))[1].append({"solution_prefix": prefix, "mc_value": mc})
    for first, entries in groups.values():
        rec = {"question": first.problem.question, "final_answer": first.problem.answer, "reasoning_steps": entries}
        rec.update(first.problem.metadata)
        yield rec
