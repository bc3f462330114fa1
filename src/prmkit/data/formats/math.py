"""MATH (Hendrycks et al., 2021) reference solutions: MATH-500 (``answer``, ``unique_id``) and full MATH (``idx``).

Full-MATH records carry no answer: it is taken from the solution's last ``\\boxed{}`` (none: ``answer=None``,
counted under the note ``"no boxed answer"``). Steps are the blank-line-separated paragraphs (an ``[asy]``
figure stays one step).
"""

from __future__ import annotations

from typing import Any, Iterable

from ...answers import extract_answer
from ...steps import split_steps
from ...types import Example, Problem, Solution
from ..io import NoOptions, Context, get

DESCRIPTION = "MATH / MATH-500: problem, solution (\\boxed{} answer), answer, subject|type, level, unique_id|idx"
_OTHER_FORMATS = {"code", "pred", "eval_solution", "steps", "label", "completions"}


Options = NoOptions


def sniff(raw: Any) -> bool:
    return (isinstance(raw, dict) and {"problem", "solution"} <= raw.keys() and not _OTHER_FORMATS & raw.keys()
            and bool({"answer", "unique_id", "idx", "level"} & raw.keys()))


def _steps(solution: str) -> tuple[str, ...]:
    """Blank-line-separated steps, keeping an ``[asy]...[/asy]`` figure (which has blank lines) whole."""
    steps: list[str] = []
    for piece in split_steps(solution, separator="\n\n"):
        if steps and steps[-1].count("[asy]") > steps[-1].count("[/asy]"):
            steps[-1] += "\n\n" + piece
        else:
            steps.append(piece)
    return tuple(steps)


def parse(raw: Any, ctx: Context) -> Iterable[Example]:
    question = get(raw, "problem", str, ctx)
    solution = get(raw, "solution", str, ctx)
    boxed = extract_answer(solution, style="boxed")
    answer = get(raw, "answer", str, ctx, optional=True)
    if answer is None:
        answer = boxed
        ctx.note("answer from \\boxed{}" if boxed is not None else "no boxed answer")
    pid = get(raw, "unique_id", str, ctx, optional=True)
    if pid is None:
        idx = get(raw, "idx", (int, str), ctx, optional=True)
        pid = ctx.record_id if idx is None else str(idx)
    meta = {"subset": ctx.subset}
    for key in ("subject", "type", "level"):
        value = get(raw, key, (str, int), ctx, optional=True)
        if value is not None:
            meta[key] = value
    problem = Problem(pid, question, answer, metadata=meta)
    yield Example(problem, Solution(_steps(solution), boxed if boxed is not None else answer, metadata={"source": "reference"}),
                  correct=True)
