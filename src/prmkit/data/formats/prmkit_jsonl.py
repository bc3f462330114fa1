"""prmkit's own JSONL: one ``Example`` per line, nested exactly like the core types (lossless)."""

from __future__ import annotations

from typing import Any, Iterable, Iterator

from ...types import Example
from ..io import NoOptions, Context, example_from_dict, example_to_dict

DESCRIPTION = "prmkit JSONL: one Example per line (problem, solution, labels, scores, correct); lossless"
CONTAINER = "jsonl"


Options = NoOptions


def sniff(raw: Any) -> bool:
    return isinstance(raw, dict) and isinstance(raw.get("problem"), dict) and isinstance(raw.get("solution"), dict)


def parse(raw: Any, ctx: Context) -> Iterable[Example]:
    yield example_from_dict(raw, ctx)


def dump(examples: Iterable[Example], options: Options) -> Iterator[dict]:
    for ex in examples:
        yield example_to_dict(ex)
