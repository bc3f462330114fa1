"""Console plumbing shared by the CLI modules: consoles, one-line errors, progress, read reports.

Text that comes from data or from the user (values, ids, file names) is never read as rich markup:
``[/red]`` in a record must print as written, not crash the command or vanish.
"""

from __future__ import annotations

import sys
from typing import Any, Iterable, Iterator, List, Mapping, Optional

import typer
from rich.console import Console
from rich.markup import escape

__all__ = ["out", "err", "fail", "describe", "parse_options", "progress", "report_read"]

# When piped (CI logs, files) rich would wrap at 80 columns and truncate tables; use a wide page.
out = Console(width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 160)


def fail(message: str, code: int = 2) -> None:
    """Print ``error: message`` on one line of stderr and exit with ``code``; ``message`` is plain text."""
    err.print(f"[red]error:[/red] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def describe(e: BaseException) -> str:
    """An exception as the text after ``error:``: ``path: Is a directory`` for an OSError, else its message.

    Example:
        >>> describe(IsADirectoryError(21, "Is a directory", "out"))
        'out: Is a directory'
    """
    if isinstance(e, OSError) and e.strerror:
        return f"{e.filename}: {e.strerror}" if e.filename else e.strerror
    return str(e).strip('"')  # KeyError quotes its message


def parse_options(pairs: Optional[List[str]]) -> dict[str, Any]:
    """``["neutral=negative", "with-correct-samples=true"]`` -> keyword options (YAML scalars)."""
    import yaml

    options = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            fail(f"option {pair!r} is not key=value")
        options[key.strip().replace("-", "_")] = yaml.safe_load(value)
    return options


def build_config(cls: Any, fields: dict[str, Any], what: str) -> Any:
    """``cls(**fields)`` for a config dataclass, naming unknown fields, and reading numbers that YAML 1.1
    leaves as strings (``lr=1e-3`` parses as the string ``"1e-3"``) by the field's declared type."""
    import dataclasses
    import typing

    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(fields) - known)
    if unknown:
        fail(f"unknown {what} field(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    values = {}
    for key, value in fields.items():
        kinds = [t for t in typing.get_args(hints[key]) or (hints[key],) if t in (int, float)]
        if isinstance(value, str) and kinds:
            try:
                value = kinds[0](value)
            except ValueError:
                fail(f"{what} field {key}: {value!r} is not a {kinds[0].__name__}")
        values[key] = value
    return cls(**values)


def progress(items: Iterable[Any], description: str) -> Iterator[Any]:
    """Show a live count and elapsed time on stderr while ``items`` is consumed."""
    from rich.progress import MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    columns = (SpinnerColumn(), TextColumn("{task.description}"), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=err, transient=True) as bar:
        task = bar.add_task(escape(description), total=None)
        for item in items:
            yield item
            bar.advance(task)


def report_read(info: Mapping[str, Any], path: Optional[str] = None) -> None:
    """Print a read report (``ReadReport.to_dict()``): format notes, then skipped records by reason."""
    for note, n in sorted(info["notes"].items()):
        err.print(f"note: {n} {note}", highlight=False, markup=False)
    skipped = sum(info["skipped"].values())
    if skipped:
        where = f" in {escape(str(path))}" if path else ""
        err.print(f"[yellow]skipped {skipped} invalid record(s) of {info['records']}{where}:[/yellow]", highlight=False)
        for reason, n in sorted(info["skipped"].items(), key=lambda kv: -kv[1]):
            err.print(f"  {n:>6}  {reason}", highlight=False, markup=False)
        for example in info["first_skipped"]:
            err.print(f"  e.g. {example}", highlight=False, markup=False)
