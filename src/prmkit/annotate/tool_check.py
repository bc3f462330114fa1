"""Tool checks: verify the arithmetic written in each step with sympy, as a step labeler.

A step is *checkable* when it contains arithmetic claims: GSM8K calculator spans ``<<48/2=24>>`` or
plain equations ``12 + 7 = 19`` (numbers with thousands commas or decimals; ``+ - * / x ×`` and
parentheses). Each claim's left side is evaluated exactly (rationals) and compared with the stated
result, allowing the rounding the statement shows (``10/3 = 3.33`` is right to two decimals). A step
is labelled 1 when every claim holds, 0 when one fails, and ``None`` (unknown) when it makes none:
a tool check cannot judge reasoning it cannot see.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Optional, Sequence

from ..types import Example, StepLabels

__all__ = ["Claim", "find_claims", "check_step", "tool_labels", "tool_labeler"]

_NUM = r"\d+(?:,\d{3})*(?:\.\d+)?|\.\d+"
_CALC = re.compile(r"<<([^<>=]+)=([^<>]+)>>")
# an expression of numbers, operators and parentheses, "=", then a number
_EQUATION = re.compile(rf"((?:\(\s*)*-?(?:{_NUM})(?:\s*\)*\s*[-+*/x×÷]\s*(?:\(\s*)*(?:{_NUM})\s*\)*)+)\s*=\s*\$?\s*(-?(?:{_NUM}))")


@dataclass(frozen=True)
class Claim:
    """One arithmetic statement in a step: ``expression = stated``, and what it really is."""

    expression: str
    stated: str
    value: Optional[Fraction]  # None: the expression could not be evaluated (e.g. division by zero)

    @property
    def holds(self) -> bool:
        """Whether the stated result equals the value, up to the stated number's own precision."""
        if self.value is None:
            return False
        stated = Fraction(self.stated.replace(",", ""))
        decimals = len(self.stated.split(".")[1]) if "." in self.stated else 0
        tolerance = Fraction(1, 2 * 10**decimals) if decimals else Fraction(0)
        return abs(self.value - stated) <= tolerance or (not decimals and self.value == stated)


def _evaluate(expression: str) -> Optional[Fraction]:
    import sympy

    text = expression.replace(",", "").replace("×", "*").replace("x", "*").replace("÷", "/")
    if not re.fullmatch(r"[\d.+\-*/()\s]+", text):
        return None
    try:
        value = sympy.Rational(sympy.sympify(text, rational=True, evaluate=True))
    except (sympy.SympifyError, TypeError, ValueError, ZeroDivisionError, SyntaxError):
        return None
    if value.has(sympy.zoo, sympy.nan, sympy.oo):
        return None
    return Fraction(int(value.p), int(value.q))


def find_claims(step: str) -> list[Claim]:
    """The arithmetic claims of one step: calculator spans first, then plain equations outside them.

    Example:
        >>> [(c.expression, c.stated, c.holds) for c in find_claims("She pays 3 * 4 = <<3*4=12>>12 and 12 + 5 = 18.")]
        [('3*4', '12', True), ('12 + 5', '18', False)]
    """
    claims = []
    for m in _CALC.finditer(step):
        stated = m.group(2).strip()
        if re.fullmatch(rf"-?(?:{_NUM})", stated):
            claims.append(Claim(m.group(1).strip(), stated, _evaluate(m.group(1))))
    spans = {c.expression.replace(" ", "") for c in claims}
    outside = _CALC.sub(" ", step)
    for m in _EQUATION.finditer(outside):
        expression = m.group(1).strip()
        if expression.replace(" ", "") in spans:
            continue  # "3 * 4 = <<3*4=12>>12": the visible equation repeats the calculator span
        claims.append(Claim(expression, m.group(2), _evaluate(expression)))
    return claims


def check_step(step: str) -> Optional[bool]:
    """True if every claim in the step holds, False if one fails, None if the step makes none.

    Example:
        >>> check_step("19 - 5 = 14"), check_step("19 - 5 = 13"), check_step("So she has more.")
        (True, False, None)
    """
    claims = find_claims(step)
    if not claims:
        return None
    return all(c.holds for c in claims)


def tool_labels(steps: Sequence[str]) -> StepLabels:
    """Per-step labels from the arithmetic checks: 1 all claims hold, 0 one fails, None nothing to check."""
    results = [check_step(s) for s in steps]
    return StepLabels(tuple(None if r is None else float(r) for r in results), "hard")


def tool_labeler(examples: Sequence[Example], **_: Any) -> list[dict]:
    """``tool_labels`` for each example, as an annotation result (no rollouts, no tokens)."""
    results = []
    for ex in examples:
        labels = tool_labels(ex.solution.steps).values
        results.append({"labels": list(labels), "kind": "hard", "rollouts": 0, "tokens": 0,
                        "info": {"checked": sum(v is not None for v in labels), "flagged": labels.count(0.0)}})
    return results
