"""The one exception type for bad input data, carrying where the problem is.

A ``DataError`` renders as a single line ``FILE:LINE: field 'F': reason`` so the CLI can print it
as is and exit non-zero; readers raise it for every malformed record instead of guessing.
``UnreadableFile`` is the kind no ``--skip-invalid`` can step over: the file itself cannot be read on.
"""

from __future__ import annotations

from typing import Optional

__all__ = ["DataError", "UnreadableFile"]


class DataError(ValueError):
    """Malformed input, located by source (file or dataset id), line or record index, and field.

    Args:
        reason (`str`): what is wrong, e.g. ``"expected a list, got str"``.
        source (`str`, *optional*): file path or dataset id.
        line (`int`, *optional*): 1-based line (JSONL) or 1-based record index (JSON arrays, datasets).
        field (`str`, *optional*): the offending field, dotted for nested ones (``label.steps[2].rating``).
        kind (`str`, *optional*): ``"line"`` or ``"record"``, how ``line`` is counted.
    """

    def __init__(self, reason: str, *, source: Optional[str] = None, line: Optional[int] = None,
                 field: Optional[str] = None, kind: str = "line"):
        self.reason, self.source, self.line, self.field, self.kind = reason, source, line, field, kind
        super().__init__(str(self))

    def __str__(self) -> str:
        where = self.source or "<input>"
        if self.line is not None:
            where += f":{self.line}" if self.kind == "line" else f": record {self.line}"
        what = f" field '{self.field}':" if self.field else ""
        return f"{where}:{what} {self.reason}"

    def located(self, source: str, line: Optional[int], kind: str = "line") -> "DataError":
        """Return a copy with the location filled in (keeps an already known location)."""
        if self.source is not None:
            return self
        return DataError(self.reason, source=source, line=line, field=self.field, kind=kind)


class UnreadableFile(DataError):
    """A file that cannot be read on from this point: not gzip despite its name, truncated, unreadable.

    Unlike a malformed record it is never skipped: the records after it would be lost unnoticed.
    """
