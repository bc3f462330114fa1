"""Data formats: read any supported PRM dataset into ``Example`` records and write them back out.

``read(source, fmt)`` and ``write(examples, path, fmt)`` are the whole API; ``FORMATS`` maps format
names to the modules that implement them (see ``formats/__init__.py`` for the module contract).
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any, Iterable, Iterator, Optional

from ..errors import DataError
from ..registry import resolve
from ..types import Example
from .formats import FORMATS
from .io import ReadReport, example_from_dict, example_to_dict, iter_raw, options_from, write_records

__all__ = ["FORMATS", "read", "write", "detect", "detect_source", "ReadReport", "example_to_dict", "example_from_dict", "group_by_problem"]


def _format_module(fmt: Any):
    mod = resolve(fmt, FORMATS, "format")
    for attr in ("parse", "sniff", "Options"):
        if not hasattr(mod, attr):
            raise TypeError(f"format {fmt!r} does not define {attr!r} (see prmkit.data.formats)")
    return mod


def detect(first_record: Any, source: str = "<input>") -> str:
    """Name of the first format in ``FORMATS`` whose ``sniff`` accepts this raw record."""
    for name in FORMATS:
        if _format_module(name).sniff(first_record):
            return name
    keys = sorted(first_record) if isinstance(first_record, dict) else type(first_record).__name__
    raise DataError(f"cannot tell the format from the first record (keys: {keys}); pass --from/fmt", source=source)


def _format_of(first: tuple[Any, Any], source: str | Path) -> str:
    if isinstance(first[1], DataError):  # the very first record is unreadable: nothing to detect from
        raise first[1]
    return detect(first[1], str(source))


def detect_source(source: str | Path, *, split: str = "train") -> Optional[str]:
    """The format of a file, directory or dataset id, from its first record (None when it has none)."""
    raw_iter = iter_raw(source, split=split)
    try:
        first = next(raw_iter, None)
    finally:
        raw_iter.close()
    return None if first is None else _format_of(first, source)


def read(source: str | Path, fmt: Optional[str] = None, *, skip_invalid: bool = False,
         report: Optional[ReadReport] = None, split: str = "train", **options: Any) -> Iterator[Example]:
    """Yield the examples of a file, a directory of files, or a Hugging Face dataset id.

    Args:
        source: a path (``.json``/``.jsonl``, optionally ``.gz``, or a directory of them), a hub
            id ``owner/name`` (``@split`` suffix allowed), or ``hf:<anything load_dataset takes>``.
        fmt: a name from ``FORMATS`` or ``"pkg.mod"``; detected from the first record when omitted.
        skip_invalid: skip malformed records, counting them by reason in ``report.skipped``,
            instead of raising ``DataError`` at the first one.
        report: a ``ReadReport`` to fill (records read, examples, skipped, format notes).
        split: dataset split for hub ids.
        **options: the format's options (its ``Options`` dataclass), e.g. ``neutral="negative"``.

    Raises:
        DataError: a malformed record, located as ``file:line: field 'x': reason``.
        UnreadableFile: a file that cannot be read on (a ``DataError`` that ``skip_invalid`` never skips),
            e.g. ``data.jsonl.gz:11: truncated gzip file: ...``.
    """
    report = report if report is not None else ReadReport()
    raw_iter = iter_raw(source, split=split)
    if fmt is None:
        first = next(raw_iter, None)
        if first is None:
            return
        fmt = _format_of(first, source)  # read on from the same iterator: no second pass over the source
        raw_iter = itertools.chain([first], raw_iter)
    mod = _format_module(fmt)
    opts = options_from(mod.Options, options, str(fmt))
    for ctx, raw in raw_iter:
        report.records += 1
        ctx.options, ctx.report = opts, report
        try:
            if isinstance(raw, DataError):
                raise raw
            try:
                examples = list(mod.parse(raw, ctx))
            except DataError:
                raise
            except (TypeError, ValueError, KeyError, IndexError, RecursionError) as e:
                raise ctx.error(f"{type(e).__name__}: {e}") from e
        except DataError as e:
            if not skip_invalid:
                raise
            report.skip(e)
            continue
        report.examples += len(examples)
        yield from examples


def write(examples: Iterable[Example], path: str | Path, fmt: str = "prmkit", **options: Any) -> int:
    """Write examples in a format that has a writer; returns the number of records written."""
    mod = _format_module(fmt)
    if not hasattr(mod, "dump"):
        writable = [n for n in FORMATS if hasattr(_format_module(n), "dump")]
        raise ValueError(f"format {fmt!r} is read-only; formats with a writer: {', '.join(writable)}")
    opts = options_from(mod.Options, options, str(fmt))
    return write_records(mod.dump(examples, opts), path, container=getattr(mod, "CONTAINER", "jsonl"))


def group_by_problem(examples: Iterable[Example]) -> dict[str, list[Example]]:
    """Candidate sets: examples grouped by ``problem.id``, in first-seen order."""
    groups: dict[str, list[Example]] = {}
    for ex in examples:
        groups.setdefault(ex.problem.id, []).append(ex)
    return groups



