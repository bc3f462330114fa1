"""Data formats: read any supported PRM dataset into ``Example`` records and write them back out.

``read(source, fmt)`` and ``write(examples, path, fmt)`` are the whole API; ``FORMATS`` maps format
names to the modules that implement them (see ``formats/__init__.py`` for the module contract).

A format may carry its options in one string, ``"fields,problem=question,first_error=first_wrong"``
(``format_spec`` builds it): the form that a config's single ``data_format`` field and the
``--format NAME -o key=value`` options of every command pass down to ``read``.
"""

from __future__ import annotations

import dataclasses
import itertools
import typing
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Optional

from ..errors import DataError
from ..registry import resolve
from ..types import Example
from .formats import FORMATS
from .io import ReadReport, example_from_dict, example_to_dict, iter_raw, options_from, write_records

__all__ = ["FORMATS", "read", "write", "detect", "detect_source", "format_spec", "ReadReport", "example_to_dict",
           "example_from_dict", "group_by_problem"]


def _format_module(fmt: Any):
    mod = resolve(fmt, FORMATS, "format", modules=True)
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
    raise DataError(f"cannot tell the format from the first record (keys: {keys}); pass --format NAME (fmt= in Python), "
                    "or map other field names: --format fields -o problem=KEY -o steps=KEY -o first_error=KEY "
                    "(see prmkit ls formats)", source=source)


def format_spec(fmt: Optional[str], options: Mapping[str, Any]) -> Optional[str]:
    """``fmt`` with its options folded into one string, as a config's ``data_format`` field holds it.

    Example:
        >>> format_spec("fields", {"first_error": "first_wrong", "index_base": 1})
        'fields,first_error=first_wrong,index_base=1'
    """
    if not options:
        return fmt
    if fmt is None:
        raise ValueError("format options (-o key=value) need a format: pass --format NAME")
    parts = [str(fmt)]
    for key, value in options.items():
        text = "null" if value is None else str(value).lower() if isinstance(value, bool) else str(value)
        if "," in text or "," in key or "=" in key:
            raise ValueError(f"format option {key}={text!r}: a format option cannot contain ',' here")
        parts.append(f"{key}={text}")
    return ",".join(parts)


def _split_spec(fmt: Any) -> tuple[Any, dict[str, str]]:
    """``"name,key=value,..."`` -> ``("name", {"key": "value"})``; anything else unchanged, no options."""
    if not isinstance(fmt, str) or "," not in fmt:
        return fmt, {}
    name, *pairs = (part.strip() for part in fmt.split(","))
    options = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"format {fmt!r}: {pair!r} is not key=value")
        options[key.strip().replace("-", "_")] = value.strip()
    return name, options


def _typed(cls: Any, options: dict[str, str], fmt: str) -> dict[str, Any]:
    """Option values written as text (a format spec) read by the type the ``Options`` field declares."""
    if not options or not dataclasses.is_dataclass(cls):
        return options
    hints = typing.get_type_hints(cls)
    typed = {}
    for key, text in options.items():
        kinds = typing.get_args(hints[key]) or (hints[key],) if key in hints else (str,)
        if type(None) in kinds and text.lower() in ("null", "none", "~"):
            typed[key] = None
        elif bool in kinds:
            if text.lower() not in ("true", "false", "yes", "no", "1", "0"):
                raise ValueError(f"format {fmt!r}: option {key}: {text!r} is not true or false")
            typed[key] = text.lower() in ("true", "yes", "1")
        elif int in kinds or float in kinds:
            kind = int if int in kinds else float
            try:
                typed[key] = kind(text)
            except ValueError:
                raise ValueError(f"format {fmt!r}: option {key}: {text!r} is not {'an integer' if kind is int else 'a number'}") from None
        else:
            typed[key] = text
    return typed


def _options(mod: Any, fmt: Any, spec: dict[str, str], options: dict[str, Any]) -> Any:
    twice = sorted(set(spec) & set(options))
    if twice:
        raise ValueError(f"format option(s) {', '.join(twice)} given both in {fmt!r} and as keyword options")
    return options_from(mod.Options, {**_typed(mod.Options, spec, str(fmt)), **options}, str(fmt))


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
        fmt: a name from ``FORMATS``, a module name (``"myformat"``, ``"pkg.mod"``), optionally with
            options (``"fields,problem=question,first_error=first_wrong"``); detected from the first
            record when omitted.
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
    name, spec = _split_spec(fmt)
    mod = _format_module(name)
    opts = _options(mod, fmt, spec, options)
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
    name, spec = _split_spec(fmt)
    mod = _format_module(name)
    if not hasattr(mod, "dump"):
        writable = [n for n in FORMATS if hasattr(_format_module(n), "dump")]
        raise ValueError(f"format {name!r} is read-only; formats with a writer: {', '.join(writable)}")
    opts = _options(mod, fmt, spec, options)
    return write_records(mod.dump(examples, opts), path, container=getattr(mod, "CONTAINER", "jsonl"))


def group_by_problem(examples: Iterable[Example]) -> dict[str, list[Example]]:
    """Candidate sets: examples grouped by ``problem.id``, in first-seen order."""
    groups: dict[str, list[Example]] = {}
    for ex in examples:
        groups.setdefault(ex.problem.id, []).append(ex)
    return groups



