"""The bytes of data files: gzip checks, JSONL lines, UTF-8 and JSON decoding, every failure located.

Files are read as bytes and decoded here rather than through a text wrapper, so that a bad byte, a
gzip stream cut short or JSON nested too deeply for Python's parser is reported at its file and line
(``DataError``), never as a traceback. A failure in one JSONL line is that record's error; a file
that cannot be read on from some point is an ``UnreadableFile``, which no ``skip_invalid`` skips.
"""

from __future__ import annotations

import gzip
import json
import zlib
from pathlib import Path
from typing import Any, BinaryIO, Iterator, Optional

from ..errors import DataError, UnreadableFile

__all__ = ["BLANK", "read_lines", "decode_line", "read_json_file"]

BLANK = object()  # what decode_line returns for a blank line
_GZIP_MAGIC = b"\x1f\x8b"
_BOM = b"\xef\xbb\xbf"
_TRUNCATED = "truncated gzip file: the compressed data ends before its end marker"


def _open_bytes(path: Path) -> BinaryIO:
    """``path`` opened for reading bytes, gunzipped when it is named ``*.gz`` (and is gzip)."""
    try:
        if not path.name.endswith(".gz"):
            return open(path, "rb")
        with open(path, "rb") as f:
            head = f.read(2)
        if head and head != _GZIP_MAGIC:  # an empty .gz file is an empty file, as an empty .jsonl
            raise UnreadableFile(f"not a gzip file despite its .gz name (it starts with {head!r})", source=str(path))
        return gzip.open(path, "rb")
    except OSError as e:
        raise _unreadable(path, None, e) from None


def _unreadable(path: Path, line: Optional[int], e: BaseException) -> UnreadableFile:
    if isinstance(e, EOFError):  # gzip's reader: the stream stopped before its end-of-stream marker
        reason = _TRUNCATED
    elif isinstance(e, (gzip.BadGzipFile, zlib.error)):
        reason = f"corrupt gzip data ({e})"
    else:
        reason = f"cannot read ({getattr(e, 'strerror', None) or e})"
    return UnreadableFile(reason, source=str(path), line=line)


def read_lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """``(line number, bytes)`` of each line of a file, gunzipped when it is ``*.gz``.

    Raises:
        UnreadableFile: the file cannot be opened, or reading stops early (a cut or damaged gzip
            stream); located at the line being read, ``x.jsonl.gz:11: truncated gzip file: ...``.
    """
    with _open_bytes(path) as f:
        lineno = 0
        while True:
            try:
                line = f.readline()
            except (EOFError, OSError, zlib.error) as e:
                raise _unreadable(path, lineno + 1, e) from None
            if not line:
                return
            lineno += 1
            yield lineno, line


def decode_line(line: bytes, source: str, lineno: int) -> Any:
    """One JSONL line: the decoded record, ``BLANK``, or a located ``DataError`` (the record's error).

    A UTF-8 byte-order mark at the start of the line is ignored (on any line: ``cat a.jsonl b.jsonl``
    keeps b's).

    Example:
        >>> decode_line(b'{"a": 1}\\n', "x.jsonl", 1), decode_line(b"\\n", "x.jsonl", 2) is BLANK
        ({'a': 1}, True)
        >>> str(decode_line(b'{"a": "caf\\xe9"}\\n', "x.jsonl", 3))
        'x.jsonl:3: invalid UTF-8 (byte 0xe9 at column 11)'
    """
    start = len(_BOM) if line.startswith(_BOM) else 0
    try:
        text = line[start:].decode("utf-8")
    except UnicodeDecodeError as e:
        at = start + e.start
        return DataError(f"invalid UTF-8 (byte 0x{line[at]:02x} at column {at + 1})", source=source, line=lineno)
    if not text.strip():
        return BLANK
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        return DataError(f"invalid JSON ({e.msg} at column {e.colno})", source=source, line=lineno)
    except RecursionError:  # the parser recurses once per level; the process's recursion limit stays as it is
        return DataError("invalid JSON (nested too deeply)", source=source, line=lineno)


def read_json_file(path: Path) -> Any:
    """A whole ``.json`` file (optionally ``.gz``), decoded; a leading UTF-8 byte-order mark is ignored.

    Raises:
        UnreadableFile: nothing of the file can be read: ``x.json:3: invalid UTF-8 (byte 0xff at
            column 15)``, ``x.json:2: invalid JSON (...)``, ``x.json: invalid JSON (nested too deeply)``.
    """
    with _open_bytes(path) as f:
        try:
            data = f.read()
        except (EOFError, OSError, zlib.error) as e:
            raise _unreadable(path, None, e) from None
    data = data[len(_BOM):] if data.startswith(_BOM) else data
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line_start = data.rfind(b"\n", 0, e.start) + 1
        raise UnreadableFile(f"invalid UTF-8 (byte 0x{data[e.start]:02x} at column {e.start - line_start + 1})",
                             source=str(path), line=data.count(b"\n", 0, e.start) + 1) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise UnreadableFile(f"invalid JSON ({e.msg} at column {e.colno})", source=str(path), line=e.lineno) from None
    except RecursionError:
        raise UnreadableFile("invalid JSON (nested too deeply)", source=str(path)) from None
