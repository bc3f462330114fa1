"""Console plumbing shared by the CLI modules: consoles, one-line errors, progress, read reports.

Text that comes from data or from the user (values, ids, file names) is never read as rich markup:
``[/red]`` in a record must print as written, not crash the command or vanish.
"""

from __future__ import annotations

import sys
from contextlib import contextmanager
from typing import Any, Callable, Iterable, Iterator, List, Mapping, Optional

import typer
from rich.console import Console
from rich.markup import escape

__all__ = ["out", "err", "fail", "describe", "parse_options", "OPTION", "data_format", "progress", "bars", "report_read"]

def _tidy_help() -> None:
    """Two fixes to typer's rich ``--help``, applied once at import.

    typer 0.29 prints a type for every option, so a flag that takes no value reads ``--skip-invalid <bool>``
    (``--help <bool>`` too); its plain formatter already leaves flags untyped, and so do we. Defaults are shown
    with ``str()``, so ``"\\n"`` broke the help line in two; control characters are shown as escapes (``\\n``), as
    a user types them. Guarded: if typer renames these internals, help keeps typer's own look (tested).
    """
    from typer.core import TyperArgument, TyperOption

    if not all(hasattr(c, a) for c in (TyperOption, TyperArgument) for a in ("display_type_rich", "_get_default_string")):
        return
    typed = TyperOption.display_type_rich

    def display_type_rich(self: Any, ctx: Any) -> Optional[str]:
        return None if self.is_flag and not self.count else typed(self, ctx)

    TyperOption.display_type_rich = display_type_rich
    escapes = str.maketrans({"\n": "\\n", "\t": "\\t", "\r": "\\r"})
    for cls in (TyperOption, TyperArgument):
        def default_string(self: Any, *, _shown: Any = cls._get_default_string, **kwargs: Any) -> str:
            return _shown(self, **kwargs).translate(escapes)

        cls._get_default_string = default_string


_tidy_help()

# When piped (CI logs, files) rich would wrap at 80 columns and truncate tables; use a wide page.
out = Console(width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 160)


def fail(message: str, code: int = 2) -> None:
    """Print ``error: message`` on one line of stderr and exit with ``code``; ``message`` is plain text (a
    library's multi-line message, such as transformers' hub errors, is joined into one line)."""
    message = " ".join(line.strip() for line in message.splitlines() if line.strip())
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


# the reader options of --format, for every command that reads data (eval, annotate)
OPTION = typer.Option(None, "--option", "-o", help="Format option key=value (repeatable), e.g. -o first_error=first_wrong.")


def data_format(fmt: Optional[str], option: Optional[List[str]]) -> Optional[str]:
    """``--format NAME -o key=value ...`` as the one ``data_format`` string the pipelines read."""
    from ..data import format_spec

    try:
        return format_spec(fmt, parse_options(option))
    except ValueError as e:
        fail(str(e))


def progress(items: Iterable[Any], description: str) -> Iterator[Any]:
    """Show a live count and elapsed time on stderr while ``items`` is consumed."""
    from rich.progress import MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    columns = (SpinnerColumn(), TextColumn("{task.description}"), MofNCompleteColumn(), TimeElapsedColumn())
    # off when stderr is not a terminal: a stopped display would leave a blank line before a one-line error
    with Progress(*columns, console=err, transient=True, disable=not err.is_terminal) as bar:
        task = bar.add_task(escape(description), total=None)
        for item in items:
            yield item
            bar.advance(task)


@contextmanager
def bars() -> Iterator[Callable[[str, Optional[int]], Callable[[], None]]]:
    """``start(description, total)`` -> ``advance()``: one rich bar per long stage, on stderr.

    The display starts at the first ``start``, so a command refused up front prints its one error line and
    no empty bar (stopping a display prints a blank line when stderr is not a terminal)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    bar = Progress(TextColumn("{task.description:>24}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                   TimeRemainingColumn(), console=err)
    started = []

    def start(description: str, total: Optional[int]) -> Callable[[], None]:
        if not started:
            bar.start()
            started.append(True)
        task = bar.add_task(escape(description), total=total)
        return lambda: bar.advance(task)

    try:
        yield start
    finally:
        if started:
            bar.stop()


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
