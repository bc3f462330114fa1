"""Final answers: extract them from solution text and compare them to a reference, never raising.

``extract_answer`` knows the answer conventions of real PRM data (``\\boxed{}``, GSM8K ``####``,
Math-Shepherd "The answer is:", PRM800K "# Answer"); ``answers_equal`` asks math-verify (imported
lazily, so this module stays light) and falls back to numeric, then normalised string comparison.
"""

from __future__ import annotations

import functools
import re
import threading
from typing import Any, Optional

__all__ = ["extract_answer", "marked_answer", "answers_equal", "grade", "STYLES"]

STYLES = ("auto", "boxed", "gsm8k", "the-answer-is", "prm800k", "last-number")
_BOX = re.compile(r"\\(?:boxed|fbox)\b")
_GSM8K = re.compile(r"####\s*([^\n]*)")
_THE_ANSWER_IS = re.compile(r"[Tt]he (?:final )?answer is:?[ \t]*([^\n]*)")
_PRM800K = re.compile(r"# Answer\s*\n\s*([^\n]+)")
_NUMBER = re.compile(r"-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|-?\.\d+")


def _boxed(text: str) -> Optional[str]:
    for m in reversed(list(_BOX.finditer(text))):
        i = m.end()
        while i < len(text) and text[i] == " ":
            i += 1
        if i < len(text) and text[i] == "{":
            depth = 0
            for j in range(i, len(text)):
                depth += {"{": 1, "}": -1}.get(text[j], 0)
                if depth == 0:
                    inner = text[i + 1:j].strip()
                    if inner:
                        return inner
                    break
        elif i > m.end():  # "\boxed 5" (old MATH style): up to the next '$' or blank
            word = re.match(r"[^\s$]+", text[i:])
            if word:
                return word.group(0)
    return None


def _clean(answer: str) -> Optional[str]:
    answer = answer.replace("ки", "").strip()
    answer = answer.rstrip(".").strip()
    if len(answer) >= 2 and answer[0] == answer[-1] == "$":
        answer = answer[1:-1].strip()
    return answer or None


def _last(pattern: re.Pattern, text: str) -> Optional[str]:
    matches = pattern.findall(text)
    return _clean(matches[-1]) if matches else None


def _gsm8k(text: str) -> Optional[str]:
    found = _last(_GSM8K, text)
    return None if found is None else (found.replace(",", "").replace("$", "").strip() or None)


def _last_number(text: str) -> Optional[str]:
    found = _NUMBER.findall(text)
    return found[-1].replace(",", "") if found else None


_EXTRACTORS = {
    "boxed": _boxed,
    "gsm8k": _gsm8k,
    "the-answer-is": lambda t: _last(_THE_ANSWER_IS, t),
    "prm800k": lambda t: _last(_PRM800K, t),
    "last-number": _last_number,
}


def extract_answer(text: Any, *, style: str = "auto") -> Optional[str]:
    """The final answer written in ``text``, or None when there is none.

    Args:
        text: a solution text; anything else (None, numbers) gives None.
        style: ``"boxed"`` (last ``\\boxed{}``/``\\fbox{}``, nested braces allowed), ``"gsm8k"``
            (``#### x``, commas and ``$`` removed), ``"the-answer-is"`` (Math-Shepherd),
            ``"prm800k"`` (``# Answer`` then the answer), ``"last-number"``, or ``"auto"``: each of
            these in that order, the first that finds something.

    Returns:
        The answer string, stripped, or None.

    Example:
        >>> extract_answer("so $x = \\\\boxed{\\\\frac{1}{2}}$.")
        '\\\\frac{1}{2}'
        >>> extract_answer("3 + 4 = <<3+4=7>>7\\n#### 1,007")
        '1007'
        >>> extract_answer("no answer here") is None
        True
    """
    if style not in STYLES:
        raise ValueError(f"unknown answer style {style!r}; known: {', '.join(STYLES)}")
    if not isinstance(text, str):
        return None
    names = list(_EXTRACTORS) if style == "auto" else [style]
    for name in names:
        try:
            found = _EXTRACTORS[name](text)
        except Exception:  # pragma: no cover - the extractors are plain regex code
            found = None
        if found:
            return found
    return None


def _normalise(s: str) -> str:
    s = re.sub(r"\\text\{\s*([^{}]*)\}", r"\1", s)
    s = re.sub(r"\\(?:left|right|displaystyle|!|,|;|:)", "", s)
    s = s.replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac").replace("^\\circ", "").replace("^{\\circ}", "")
    s = s.replace("\\$", "").replace("$", "").replace("\\%", "").replace("%", "")
    return re.sub(r"\s+", "", s).rstrip(".").lower()


def _as_number(s: str) -> Optional[float]:
    s = re.sub(r"\\(?:text|mbox|mathrm)\{[^{}]*\}", "", s)
    s = s.replace("\\$", "").replace("$", "").replace("\\%", "").replace("%", "").replace("\\!", "").replace("^\\circ", "").strip().rstrip(".")
    if re.fullmatch(r"-?\d{1,3}(,\d{3})+(\.\d+)?", s):
        s = s.replace(",", "")
    m = re.fullmatch(r"(-?\d+)/(\d+)", s) or re.fullmatch(r"(-?)\\[dt]?frac\{(\d+)\}\{(\d+)\}", s)
    try:
        if m and len(m.groups()) == 2:
            return int(m.group(1)) / int(m.group(2))
        if m:
            return (-1 if m.group(1) else 1) * int(m.group(2)) / int(m.group(3))
        return float(s)
    except (ValueError, ZeroDivisionError, OverflowError):
        return None


def _wrap(s: str) -> str:
    return s if ("\\boxed" in s or "$" in s) else f"\\boxed{{{s}}}"


@functools.lru_cache(maxsize=4096)
def _parse(s: str, timeout: Optional[int]) -> Any:
    import math_verify
    return math_verify.parse(_wrap(s), parsing_timeout=timeout)


def _math_verify_equal(pred: str, gold: str, timeout_s: Optional[int]) -> bool:
    import math_verify
    from math_verify.errors import TimeoutException
    timeout = timeout_s if threading.current_thread() is threading.main_thread() else None
    try:
        g, p = _parse(gold, timeout), _parse(pred, timeout)
        return bool(g and p and math_verify.verify(g, p, timeout_seconds=timeout))
    except (Exception, TimeoutException):
        return False


def answers_equal(pred: Any, gold: Any, *, timeout_s: Optional[int] = 5) -> bool:
    """Whether a predicted final answer equals the reference, mathematically; never raises.

    Tries, in order: math-verify (answers wrapped in ``\\boxed{}`` when they carry no ``$`` or
    ``\\boxed``, so ``1/2`` and ``\\frac{1}{2}`` agree), a numeric comparison (``$``, thousands
    commas, ``\\%`` and ``\\text{...}`` units removed; relative tolerance 1e-6), and a normalised
    string comparison. Outside the main thread math-verify runs without its signal-based timeout.

    Args:
        pred: the predicted answer (a string; numbers are converted, None gives False).
        gold: the reference answer.
        timeout_s: seconds math-verify may spend parsing or comparing (main thread only).

    Returns:
        True when the answers are judged equal.

    Example:
        >>> answers_equal("0.5", "\\\\frac{1}{2}")
        True
        >>> answers_equal("1,000", "1000"), answers_equal("17", "18"), answers_equal(None, "1")
        (True, False, False)
    """
    if pred is None or gold is None:
        return False
    try:
        pred, gold = str(pred).strip(), str(gold).strip()
        if not pred or not gold:
            return False
        if _normalise(pred) == _normalise(gold):
            return True
        a, b = _as_number(pred), _as_number(gold)
        if a is not None and b is not None:
            return abs(a - b) <= 1e-6 * max(abs(a), abs(b)) or a == b
        return _math_verify_equal(pred, gold, timeout_s)
    except Exception:
        return False


def marked_answer(text: Any, *, style: str = "auto") -> Optional[str]:
    """Like ``extract_answer``, but ``auto`` only trusts explicit markers (boxed, ``####``, "the answer is",
    ``# Answer``), never a bare last number: is this step the one that states the final answer?

    Example:
        >>> marked_answer("2 + 2 = 4") is None, marked_answer("The answer is 4.")
        (True, '4')
    """
    if style != "auto":
        return extract_answer(text, style=style)
    for name in ("boxed", "gsm8k", "the-answer-is", "prm800k"):
        found = extract_answer(text, style=name)
        if found:
            return found
    return None


def grade(solution_text_or_answer: Any, gold: Any) -> bool:
    """Extract the final answer from a solution (or take a bare answer) and compare it to ``gold``.

    A short one-line text with no answer marker is taken to be the answer itself, so that
    ``grade("\\\\frac{1}{2}", "0.5")`` compares the fraction rather than its last number.

    Args:
        solution_text_or_answer: a full solution text or just an answer.
        gold: the reference answer.

    Returns:
        True when the extracted answer equals ``gold`` (``answers_equal``).

    Example:
        >>> grade("2 + 2 = 4\\nThe answer is: 4", "4"), grade("\\\\frac{1}{2}", "0.5")
        (True, True)
    """
    text = solution_text_or_answer
    if not isinstance(text, str):
        return answers_equal(text, gold)
    answer = marked_answer(text)
    if answer is None:
        short = "\n" not in text.strip() and len(text.strip()) <= 64
        answer = text.strip() if short else extract_answer(text, style="last-number")
    return answers_equal(answer, gold)
