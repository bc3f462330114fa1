"""Splitting a solution text into steps and joining steps back into text: the one place for it.

Three ways to mark steps, as real PRM data does:

* a **separator** string between steps (``"\\n\\n"`` for Qwen/ProcessBench style, ``"\\n"`` for GSM8K);
* a **pattern**, a regex that matches at the *start* of each step (``r"Step \\d+:"``, Math-Shepherd);
* a **tag**, a marker written at the *end* of each step (``"ки"`` in Math-Shepherd, ``"<extra_0>"`` in Qwen PRMs).

Splitting strips whitespace around steps and drops empty pieces; no non-blank text is ever lost.
"""

from __future__ import annotations

import re
from typing import Optional, Sequence

__all__ = ["split_steps", "join_steps"]


def split_steps(text: str, *, separator: Optional[str] = None, pattern: Optional[str] = None,
                tag: Optional[str] = None) -> tuple[str, ...]:
    """Split ``text`` into stripped, non-empty steps; give exactly one of the three markers.

    With ``pattern``, text before the first match becomes a step of its own (nothing is dropped),
    and the matched marker stays at the start of its step.

    Args:
        text: the solution text.
        separator: a literal string between steps.
        pattern: a regex matching at the start of each step.
        tag: a literal string that ends each step (text after the last tag is a final step).

    Example:
        >>> split_steps("a = 1\\n\\nb = 2\\n\\n", separator="\\n\\n")
        ('a = 1', 'b = 2')
        >>> split_steps("Step 1: x Step 2: y", pattern=r"Step \\d+:")
        ('Step 1: x', 'Step 2: y')
        >>> split_steps("x ки\\ny ки", tag="ки")
        ('x', 'y')
    """
    if sum(m is not None for m in (separator, pattern, tag)) != 1:
        raise ValueError("give exactly one of separator=, pattern= or tag=")
    if not isinstance(text, str):
        raise TypeError(f"text must be a string, got {type(text).__name__}")
    if separator is not None or tag is not None:
        marker = separator if separator is not None else tag
        if not marker:
            raise ValueError("the separator/tag must not be empty")
        pieces = text.split(marker)
    else:
        starts = [m.start() for m in re.finditer(pattern, text)]
        bounds = [0] + [s for s in starts if s > 0] + [len(text)]
        pieces = [text[a:b] for a, b in zip(bounds, bounds[1:])]
    return tuple(p.strip() for p in pieces if p.strip())


def join_steps(steps: Sequence[str], *, separator: str = "\n\n", tag: Optional[str] = None) -> str:
    """Render steps as text: ``separator`` between steps, and ``tag`` after each step if given.

    Example:
        >>> join_steps(["a", "b"])
        'a\\n\\nb'
        >>> join_steps(["a", "b"], separator="\\n", tag=" ки")
        'a ки\\nb ки'
    """
    if tag is None:
        return separator.join(steps)
    return separator.join(f"{s}{tag}" for s in steps)
