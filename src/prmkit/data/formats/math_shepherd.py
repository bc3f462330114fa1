"""Math-Shepherd (Wang et al., 2024): ``input`` with a `` ки`` tag after each step, ``label`` the same text
with each tag replaced by ``+`` or ``-``, and ``task`` (GSM8K or MATH).

Each line becomes one ``Example``: the question is the text before ``Step 1:``, the steps the text
between tags without their ``Step k:`` prefix, labels hard (``+`` -> 1, ``-`` -> 0; ``None`` when the
line has no ``label``, as in the test-time format). ``task`` goes to ``problem.metadata["task"]``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterable, Iterator, Optional

from ...types import Example, Problem, Solution, StepLabels
from ..io import Context, text_id, get

DESCRIPTION = "Math-Shepherd: input with ' ки' after each step, label with '+'/'-' in their place, task"
CONTAINER = "jsonl"
TAG = "ки"
_FIRST = "Step 1:"
_PREFIX = re.compile(r"Step \d+:\s*")
_MARKS = {"+": 1.0, "-": 0.0}


@dataclass(frozen=True)
class Options:
    """Writer options.

    Args:
        threshold: binarise soft labels at this value when writing (soft labels are refused
            without it, since the format only has ``+`` and ``-``).
    """

    threshold: Optional[float] = None

    def __post_init__(self) -> None:
        if self.threshold is not None and not 0.0 <= self.threshold <= 1.0:
            raise ValueError(f"math-shepherd option threshold must be in [0, 1], got {self.threshold!r}")


def sniff(raw: Any) -> bool:
    """Whether ``raw`` has a string ``input`` holding at least one ``ки`` step tag."""
    return isinstance(raw, dict) and isinstance(raw.get("input"), str) and TAG in raw["input"]


def _split(text: str) -> tuple[str, list[str]]:
    """``(text before "Step 1:", pieces of the rest split at each tag)``; ValueError if malformed."""
    start = text.find(_FIRST)
    if start < 0:
        raise ValueError(f"no {_FIRST!r} marks the start of the steps")
    pieces = text[start:].split(TAG)
    if pieces[-1].strip():
        raise ValueError(f"text after the last {TAG!r} tag: {pieces[-1].strip()[:40]!r}")
    return text[:start], pieces


def _steps(pieces: list[str]) -> tuple[str, ...]:
    steps = []
    for piece in pieces[:-1]:
        m = _PREFIX.match(piece.strip())
        steps.append(piece.strip()[m.end():] if m else piece.strip())
    return tuple(steps)


def _verbatim(ex: Example) -> Optional[str]:
    """The original ``input`` kept by ``parse``, if it still says exactly what the example says."""
    text = ex.solution.metadata.get("input")
    if not isinstance(text, str):
        return None
    try:
        head, pieces = _split(text)
    except ValueError:
        return None
    return text if (head.strip(), _steps(pieces)) == (ex.problem.question, ex.solution.steps) else None


def _canonical(question: str, steps: tuple[str, ...]) -> str:
    return f"{question} " + "\n".join(f"Step {k}: {s} {TAG}" for k, s in enumerate(steps, 1))




def parse(raw: Any, ctx: Context) -> Iterable[Example]:
    """Map one Math-Shepherd line to one ``Example``.

    Args:
        raw: the decoded line.
        ctx: where it came from.

    Returns:
        A one-element list. A layout that the writer would not reproduce exactly (spacing,
        missing ``Step k:`` prefixes) is kept verbatim in ``solution.metadata["input"]``.
    """
    text = get(raw, "input", str, ctx)
    try:
        head, pieces = _split(text)
    except ValueError as e:
        raise ctx.error(str(e), "input") from None
    question, steps = head.strip(), _steps(pieces)
    labels = None
    label = get(raw, "label", str, ctx, optional=True)
    if label is not None:
        labels = StepLabels(_marks(head, pieces, label, ctx), "hard")
    task = get(raw, "task", str, ctx, optional=True)
    meta = {}
    if _canonical(question, steps) != text:
        meta["input"] = text
        ctx.note("math-shepherd: non-canonical layout kept verbatim in solution.metadata['input']")
    yield Example(Problem(text_id("math-shepherd", question), question, metadata={} if task is None else {"task": task}),
                  Solution(steps, metadata=meta), labels)


def _marks(head: str, pieces: list[str], label: str, ctx: Context) -> tuple[float, ...]:
    """Walk ``label`` along the input's pieces: each tag must be replaced by exactly one + or -."""
    if not label.startswith(head):
        raise ctx.error("does not match input before 'Step 1:'", "label")
    pos, values = len(head), []
    for k, piece in enumerate(pieces):
        if label[pos:pos + len(piece)] != piece:
            raise ctx.error(f"does not match input in step {k + 1} (character {pos})", "label")
        pos += len(piece)
        if k == len(pieces) - 1:
            break
        mark = label[pos:pos + 1]
        if mark not in _MARKS:
            raise ctx.error(f"expected '+' or '-' for step {k + 1} (character {pos}), got {mark!r}", "label")
        values.append(_MARKS[mark])
        pos += 1
    if pos != len(label):
        raise ctx.error(f"has {len(label) - pos} characters more than input", "label")
    return tuple(values)


def dump(examples: Iterable[Example], options: Options) -> Iterator[dict]:
    """Write examples as Math-Shepherd lines (``input``, ``label`` when labelled, ``task`` when known).

    Args:
        examples: the examples.
        options: ``Options``; ``threshold`` binarises soft labels.

    Returns:
        An iterator of records; unlabelled steps after the first error become ``-``.

    Raises:
        ValueError: soft labels without ``threshold``, a step left unlabelled before the first
            error, or a step or question containing the tag.
    """
    for ex in examples:
        name = f"example {ex.problem.id!r}"
        q, steps = ex.problem.question, ex.solution.steps
        if not steps:
            raise ValueError(f"{name} has no steps; a math-shepherd line needs at least one")
        if any(TAG in s for s in (q, *steps)) or _FIRST in q:
            raise ValueError(f"{name}: the question or a step contains {TAG!r}, or the question {_FIRST!r}")
        text = _verbatim(ex) or _canonical(q, steps)
        rec = {"input": text}
        if ex.labels is not None:
            labels = ex.labels
            if labels.kind == "soft":
                if options.threshold is None:
                    raise ValueError(f"{name} has soft labels; math-shepherd only has '+'/'-': pass threshold= to binarise")
                labels = labels.hard(options.threshold)
            values = labels.propagated().values
            if None in values:
                raise ValueError(f"{name}: step {values.index(None) + 1} is unlabelled; math-shepherd needs '+' or '-'")
            head, pieces = _split(text)
            marks = ["+" if v == 1.0 else "-" for v in values] + [""]
            rec["label"] = head + "".join(p + m for p, m in zip(pieces, marks))
        if "task" in ex.problem.metadata:
            rec["task"] = ex.problem.metadata["task"]
        yield rec
