"""OpenAI's GSM8K example model solutions: per test question, one solution from each of 4 systems.

Each line (``question``, ``ground_truth``, and ``{is_correct, solution}`` per system such as
``6b_finetuning`` or ``175b_verification``) becomes one ``Example`` per system, sharing the problem
id, so a line is a candidate set. Steps are the solution's lines without the final ``A: x`` line.
"""

from __future__ import annotations

from typing import Any, Iterable, Optional

from ...types import Example, Problem, Solution
from ..io import NoOptions, Context, get

DESCRIPTION = "GSM8K example model solutions: question, ground_truth, {system: {is_correct, solution}} x 4"
SYSTEMS = ("6b_finetuning", "6b_verification", "175b_finetuning", "175b_verification")


Options = NoOptions


def sniff(raw: Any) -> bool:
    return isinstance(raw, dict) and {"question", "ground_truth"} <= raw.keys() and any(s in raw for s in SYSTEMS)


def split_solution(text: str) -> tuple[tuple[str, ...], Optional[str]]:
    """Steps (non-blank lines, stripped) and the answer of a final ``A: x`` line (None if absent).

    Example:
        >>> split_solution("2 + 2 = <<2+2=4>>4\\nA: 4")
        (('2 + 2 = <<2+2=4>>4',), '4')
    """
    lines = [line.strip() for line in text.split("\n") if line.strip()]
    if lines and lines[-1].startswith("A:"):
        return tuple(lines[:-1]), lines[-1][2:].strip() or None
    return tuple(lines), None


def parse(raw: Any, ctx: Context) -> Iterable[Example]:
    question = get(raw, "question", str, ctx)
    _, gold = split_solution(get(raw, "ground_truth", str, ctx))
    if gold is None:
        raise ctx.error("no final 'A: <answer>' line", "ground_truth")
    systems = [k for k, v in raw.items() if k not in ("question", "ground_truth") and isinstance(v, dict)]
    if not systems:
        raise ctx.error(f"no system solutions (expected keys like {', '.join(SYSTEMS)})")
    problem = Problem(f"gsm8k-{ctx.subset}-{ctx.line}", question, gold.replace(",", ""), metadata={"subset": ctx.subset})
    for system in systems:
        correct = get(raw[system], "is_correct", bool, ctx, path=system)
        steps, final = split_solution(get(raw[system], "solution", str, ctx, path=system))
        if final is None:
            ctx.note("solution without a final 'A:' line")
        yield Example(problem, Solution(steps, final, metadata={"system": system}), correct=correct)
