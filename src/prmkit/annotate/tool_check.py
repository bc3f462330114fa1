"""Tool checks: verify the arithmetic written in each step exactly, as a step labeler.

A step is *checkable* when it makes arithmetic claims: GSM8K calculator spans ``<<48/2=24>>`` or plain
equations and chains of them, ``(22 + 17) * (11 - 11) = 39 * 0 = 0`` (every ``=`` link is a claim). Numbers may
have thousands separators (``1,000``, LaTeX ``1{,}000``) and decimals; operators are ``+ - * /``, unary minus,
parentheses, ``x``/``×``/``·``/``÷``/U+2212, and LaTeX ``\\times``, ``\\cdot``, ``\\div``, ``\\frac{a}{b}``.
Both sides of a link are evaluated exactly as rationals and compared, allowing the rounding a bare stated
number shows (``10/3 = 3.33`` is right to two decimals).

Only unambiguous arithmetic is judged. An expression touching anything else (a variable ``2x + 3 = 7``, a
power, a percent sign, a function, a unit inside it) is not a claim, and a claim that cannot be evaluated
(division by zero) is unknown, never wrong. A step is 1 when every claim holds, 0 when one fails, and ``None``
(unknown) when it makes no claim that can be judged: a tool check cannot judge reasoning it cannot see.
Evaluation is a small parser over ``fractions.Fraction`` (the same exact rationals as ``sympy.Rational``),
not ``sympify``: that evaluates Python, where ``9**9**9**9`` in a model's text would never return.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Optional, Sequence

from ..types import Example, StepLabels

__all__ = ["Claim", "find_claims", "check_step", "tool_labels", "tool_labeler"]

_NUM = r"(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?![\d,]\d)|\.\d+"
_CALC = re.compile(r"<<([^<>]+)>>")
_TOKEN = re.compile(rf"(?P<num>{_NUM})|(?P<op>[-+*/])|(?P<lp>\()|(?P<rp>\))|(?P<eq>=)|(?P<ws>\s+)|(?P<other>.)", re.S)
_LATEX = [  # (pattern, replacement), in order; a command never matches the start of a longer one
    (re.compile(r"\\(?:left|right|big|Big|bigg|Bigg)(?![a-zA-Z])"), ""),
    (re.compile(r"\\(?:times|cdot|ast)(?![a-zA-Z])|[×·⋅∙]"), " * "),
    (re.compile(r"\\div(?![a-zA-Z])|÷"), " / "),
    (re.compile("\u2212"), "-"),
    (re.compile(r"\{,\}|,\\!"), ""),  # LaTeX thousands separators: 1{,}000, 1,\!000
    (re.compile(r"\\\$|\$|\\[()\[\]]|\\\\|\\[,;:! ]|\\q?quad(?![a-zA-Z])|\*\*"), " "),  # math delimiters, spacing, bold
    (re.compile(r"(?<=[\d)])( ?)x\1(?=[\d(])"), "*"),  # 4 x 5, 4x5: but 2x + 3 keeps its variable
]
_FRAC = re.compile(r"\\[dt]?frac\s*\{([^{}]*)\}\s*\{([^{}]*)\}")
_TEXT_COMMANDS = ("\\text", "\\mathrm", "\\textbf", "\\mbox", "\\implies", "\\Rightarrow", "\\rightarrow", "\\to",
                  "\\therefore", "\\quad", "\\qquad", "\\approx", "\\neq", "\\ne")


def _normalise(text: str) -> str:
    for _ in range(4):  # nested \frac, innermost first
        text, n = _FRAC.subn(r"((\1)/(\2))", text)
        if not n:
            break
    for pattern, replacement in _LATEX:
        text = pattern.sub(replacement, text)
    return text


def _word_before(text: str) -> bool:
    """Whether ``text`` (what precedes a run of arithmetic) ends in prose, so the run starts an expression."""
    stripped = text.rstrip()
    if not stripped or "\n" in text[len(stripped):]:
        return True
    if len(stripped) == len(text):  # touching: "x2", "f(", "}"
        return stripped[-1] in ":;,"
    if stripped[-1] in ".:;,!?":
        return True
    word = re.search(r"[A-Za-z]+$", stripped)
    if word is None or stripped[: word.start()].endswith("\\"):  # a LaTeX command: \sqrt 4 + 5
        return False
    if word.group() == "of":  # "25% of 80 = 20", "one-third of 27 = 9": the expression began earlier
        return False
    return len(word.group()) >= 2 or word.group() in ("a", "A", "I")


def _word_after(text: str) -> bool:
    """Whether ``text`` (what follows a run of arithmetic) starts with prose, so the run ends an expression."""
    if not text.strip():
        return True
    if not text[0].isspace():  # touching: "12x", "12%", "12^2", "5!"
        return text[0] in ".,;:!?" and (len(text) == 1 or text[1].isspace() or text[1] in "\"')")
    rest = text.lstrip()
    if "remainder" in rest[:30]:  # "23 / 4 = 5 remainder 3": integer division
        return False
    if "\n" in text[: len(text) - len(rest)] or rest[0] in ".,;:!?":
        return True
    if rest.startswith("\\"):
        return rest.startswith(_TEXT_COMMANDS)
    word = re.match(r"[A-Za-z]+", rest)
    return word is not None and (len(word.group()) >= 2 or word.group() in ("a", "A", "I"))


@dataclass(frozen=True)
class Claim:
    """One arithmetic statement in a step, ``expression = stated``, and what each side really is.

    ``value`` and ``stated_value`` are None when that side cannot be evaluated (e.g. division by zero).
    """

    expression: str
    stated: str
    value: Optional[Fraction]
    stated_value: Optional[Fraction] = None

    @property
    def holds(self) -> Optional[bool]:
        """Whether the two sides are equal, up to the precision a bare number shows; None if unknown."""
        if self.value is None or self.stated_value is None:
            return None
        a, b = self.value, self.stated_value
        for side in (self.stated, self.expression):  # a bare number's decimals give the rounding it allows
            literal = side.strip().strip("()").lstrip("-").strip()
            if re.fullmatch(_NUM, literal):
                decimals = len(literal.split(".")[1]) if "." in literal else 0
                return abs(a - b) <= (Fraction(1, 2 * 10**decimals) if decimals else 0)
        if "." in self.expression + self.stated:  # 2/3 * 9 = 0.67 * 9: both sides rounded, within 1%
            return abs(a - b) <= abs(max(a, b, key=abs)) / 100
        return a == b


def _evaluate(tokens: Sequence[tuple[str, str]]) -> Optional[Fraction]:
    """Exact value of a token list (``num op lp rp``), or None if it is not an expression or divides by 0."""
    pos = 0

    def peek() -> tuple[str, str]:
        return tokens[pos] if pos < len(tokens) else ("end", "")

    def expr() -> Fraction:
        nonlocal pos
        value = term()
        while peek()[1] in ("+", "-"):
            op = peek()[1]
            pos += 1
            value = value + term() if op == "+" else value - term()
        return value

    def term() -> Fraction:
        nonlocal pos
        value = factor()
        while peek()[1] in ("*", "/"):  # no implicit product: 1\frac{9}{10} is a mixed number
            op = peek()[1]
            pos += 1
            right = factor()
            value = value * right if op == "*" else value / right
        return value

    def factor() -> Fraction:
        nonlocal pos
        kind, text = peek()
        pos += 1
        if kind == "op" and text in "+-":
            value = factor()
            return -value if text == "-" else value
        if kind == "num":
            return Fraction(text.replace(",", ""))
        if kind == "lp":
            value = expr()
            if peek()[0] != "rp":
                raise ValueError("unbalanced")
            pos += 1
            return value
        raise ValueError(f"unexpected {text!r}")

    try:
        value = expr()
    except (ValueError, ZeroDivisionError, RecursionError):
        return None
    return value if pos == len(tokens) else None


def _is_bare(tokens: Sequence[tuple[str, str]]) -> bool:
    return [k for k, _ in tokens if k not in ("lp", "rp")] in (["num"], ["op", "num"])


def _runs(text: str) -> list[tuple[int, int, list[tuple[str, str]]]]:
    """Maximal runs of arithmetic tokens (numbers, operators, parentheses, ``=``; no words between numbers)."""
    runs, current, start, last = [], [], 0, None
    for m in _TOKEN.finditer(text):
        kind = m.lastgroup
        if kind == "ws" and "\n" not in m.group():
            continue
        if kind in ("other", "ws") or (kind == "num" and last == "num"):  # "3 4": two numbers, no operator
            if current:
                runs.append((start, end, current))
            current, last = [], None
            if kind in ("other", "ws"):  # a word, or a line break: a list item per line
                continue
        if not current:
            start = m.start()
        current.append((kind, m.group()))
        end, last = m.end(), kind
    if current:
        runs.append((start, end, current))
    return runs


def _chain_claims(text: str, start: int, end: int, tokens: list[tuple[str, str]]) -> list[Claim]:
    """The claims of one run ``E0 = E1 = ... = En``: each link whose two sides are whole expressions."""
    sides: list[list[tuple[str, str]]] = [[]]
    for t in tokens:
        if t[0] == "eq":
            sides.append([])
        else:
            sides[-1].append(t)
    if len(sides) < 2:
        return []
    first, last = sides[0], sides[-1]
    while first and first[0][0] == "lp" and sum((k == "lp") - (k == "rp") for k, _ in first) > 0:
        first.pop(0)  # "(so 3 + 4 = 7)": the prose's parenthesis
    while last and last[-1][0] == "rp" and sum((k == "lp") - (k == "rp") for k, _ in last) < 0:
        last.pop()
    if first and first[0] == ("op", "-") and (len(first) < 2 or text[start + 1: start + 2].isspace()):
        if text[:start].rstrip(" \t").endswith("\n") or not text[:start].strip():
            first.pop(0)  # a "- " list bullet, not a minus sign
    complete = [True] * len(sides)
    complete[0] = _word_before(text[:start]) and bool(first) and (first[0][0] in ("num", "lp") or (
        first[0] == ("op", "-") and len(first) > 1 and first[1][0] in ("num", "lp")))
    complete[-1] = _word_after(text[end:]) and bool(last) and last[-1][0] in ("num", "rp")
    claims = []
    for i in range(len(sides) - 1):
        a, b = sides[i], sides[i + 1]
        if not (complete[i] and complete[i + 1] and a and b) or (_is_bare(a) and _is_bare(b)):
            continue  # "1 hour = 60": no computation to check
        claims.append(Claim(_show(a), _show(b), _evaluate(a), _evaluate(b)))
    return claims


def _show(tokens: Sequence[tuple[str, str]]) -> str:
    out, prev = "", "op"
    for kind, text in tokens:  # binary operators spaced, unary minus kept on its number: (-5 + -3)
        binary = kind == "op" and prev in ("num", "rp")
        out += f" {text} " if binary else text
        prev = kind
    return out.strip()


def find_claims(step: str) -> list[Claim]:
    """The arithmetic claims of one step: calculator spans first, then every ``=`` link outside them.

    Example:
        >>> [(c.expression, c.stated, c.holds) for c in find_claims("She pays 3 * 4 = <<3*4=12>>12 and 12 + 5 = 18.")]
        [('3 * 4', '12', True), ('12 + 5', '18', False)]
        >>> [(c.stated, c.holds) for c in find_claims("So (22 + 17) * (11 - 11) = 39 * 0 = 39.")]
        [('39 * 0', True), ('39', False)]
    """
    claims = []
    for m in _CALC.finditer(step):
        inner = _normalise(m.group(1))
        for start, end, tokens in _runs(inner):
            claims += _chain_claims(inner, start, end, tokens)
    spans = {(c.expression.replace(" ", ""), c.stated.replace(" ", "")) for c in claims}
    outside = _normalise(_CALC.sub(" ", step))
    for start, end, tokens in _runs(outside):
        for c in _chain_claims(outside, start, end, tokens):
            if (c.expression.replace(" ", ""), c.stated.replace(" ", "")) not in spans:
                claims.append(c)  # "3 * 4 = <<3*4=12>>12": the visible equation repeats the span
    return claims


def check_step(step: str) -> Optional[bool]:
    """True if every claim that can be judged holds, False if one fails, None if there is none.

    Example:
        >>> check_step("19 - 5 = 14"), check_step("19 - 5 = 13"), check_step("So she has more."), check_step("5/0 = 1")
        (True, False, None, None)
    """
    results = [c.holds for c in find_claims(step)]
    results = [r for r in results if r is not None]
    return all(results) if results else None


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
