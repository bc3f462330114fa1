"""The exact checker of the synthetic world: per-step correctness, first error, error kind, final answer.

Step ``k`` of a candidate is correct when it is the gold step ``k``: the equation ``a op b = c`` with
the gold running total and the event's operand (either order for ``+`` and ``*``) and the gold
result, or, after the last event, ``The answer is <gold answer>.``. Anything else - an unparseable
line, a true equation off the gold path, a step after an earlier error that carries the wrong value
- is wrong, so the first wrong step is exactly where the solution left the gold path. The checker
never raises on text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional, Sequence, Union

from ..steps import split_steps
from ..types import StepLabels
from .problems import STEP_SEPARATOR, Event, WorldProblem, _apply

__all__ = ["CheckResult", "check", "parse_step"]

_EQUATION = re.compile(r"^\s*(-?\d+)\s*([+\-*/])\s*(-?\d+)\s*=\s*(-?\d+)\s*\.?\s*$")
_ANSWER = re.compile(r"^\s*The answer is\s*(-?\d+)\s*\.?\s*$")


@dataclass(frozen=True)
class CheckResult:
    """What the checker found.

    Attributes:
        steps: the candidate's steps as split.
        step_correct: one bool per step.
        first_error: index of the first wrong step, or None.
        error_kind: why the first wrong step is wrong (``arithmetic``, ``wrong_operand``,
            ``wrong_operation``, ``skipped_step``, ``wrong_final_answer``, ``unparseable``,
            ``extra_step``, ``early_answer``), ``incomplete`` when every step is right but the
            answer step is missing, else None.
        final_answer: the number after "The answer is", if any.
        final_correct: whether that number is the gold answer.
    """

    steps: tuple[str, ...]
    step_correct: tuple[bool, ...]
    first_error: Optional[int]
    error_kind: Optional[str]
    final_answer: Optional[int]
    final_correct: bool

    @property
    def labels(self) -> StepLabels:
        """Exact hard labels (1 correct, 0 wrong) for every step."""
        return StepLabels(tuple(float(c) for c in self.step_correct), "hard")


def parse_step(step: str) -> Union[tuple[int, str, int, int], int, None]:
    """``(a, op, b, c)`` for an equation, the answer ``int`` for an answer step, None otherwise.

    Example:
        >>> parse_step("12 + 7 = 19"), parse_step("The answer is 19."), parse_step("so 19")
        ((12, '+', 7, 19), 19, None)
    """
    m = _EQUATION.match(step)
    if m:
        return int(m.group(1)), m.group(2), int(m.group(3)), int(m.group(4))
    m = _ANSWER.match(step)
    return int(m.group(1)) if m else None


def _same_operands(op: str, a: int, b: int, ga: int, gb: int) -> bool:
    return (a, b) == (ga, gb) or (op in "+*" and (a, b) == (gb, ga))


def _equation_error(parsed: tuple[int, str, int, int], prev: int, event: Event, next_event: Optional[Event]) -> Optional[str]:
    """Why an equation step is off the gold path (None if it is the gold step)."""
    a, op, b, c = parsed
    if _same_operands(op, a, b, prev, event.operand):
        if op == event.op:
            return None if c == _apply(prev, op, event.operand) else "arithmetic"
        return "wrong_operation"
    if next_event is not None and op == next_event.op and _same_operands(op, a, b, prev, next_event.operand):
        return "skipped_step"  # the next event applied to the current total: this one was left out
    return "wrong_operand"


def check(problem: WorldProblem, solution: Union[str, Sequence[str]]) -> CheckResult:
    """Check a candidate solution (text with one step per line, or a list of steps) against the gold path.

    Example:
        >>> from prmkit.world.problems import generate, gold_steps, inject_error
        >>> p = generate(1, seed=1)[0]
        >>> check(p, gold_steps(p)).first_error is None
        True
        >>> r = check(p, inject_error(p, "arithmetic", 1))
        >>> r.first_error, r.error_kind, r.final_correct
        (1, 'arithmetic', False)
    """
    if isinstance(solution, str):
        steps = split_steps(solution, separator=STEP_SEPARATOR)
    else:
        steps = tuple(str(s).strip() for s in solution if str(s).strip())
    events, values = problem.events, problem.values
    n = len(events)
    correct, first, kind = [], None, None
    final_answer: Optional[int] = None
    for k, step in enumerate(steps):
        parsed = parse_step(step)
        if isinstance(parsed, int):
            final_answer = parsed
        if k < n:
            prev = values[k - 1] if k else problem.start
            if isinstance(parsed, tuple):
                why = _equation_error(parsed, prev, events[k], events[k + 1] if k + 1 < n else None)
            else:
                why = "unparseable" if parsed is None else ("skipped_step" if k == n - 1 else "early_answer")
        elif k == n:
            why = None if parsed == values[-1] and isinstance(parsed, int) else (
                "wrong_final_answer" if isinstance(parsed, int) else "unparseable" if parsed is None else "extra_step")
        else:
            why = "extra_step"
        ok = why is None and first is None  # after the first error, no step is on the gold path
        correct.append(ok)
        if why is not None and first is None:
            first, kind = k, why
    if first is None and len(steps) <= n:
        kind = "incomplete"
    return CheckResult(tuple(steps), tuple(correct), first, kind, final_answer,
                       final_answer is not None and final_answer == problem.answer)
