"""Reading and writing examples: raw record iteration, located errors, and prmkit's own JSONL.

Every format module only maps one raw record (a decoded JSON object) to examples and back; this
module owns everything around that: opening ``.json``/``.jsonl`` (optionally ``.gz``) files,
directories of them and Hugging Face dataset ids, tracking the file and line of every record,
turning bad records into ``DataError`` (or counting them under ``skip_invalid``), and atomic writes.
The bytes of each file are read and decoded by ``files.py``, which locates every failure.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import json
import os
import re
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Optional

from ..errors import DataError
from ..types import Example, Problem, Solution, StepLabels, StepScores
from .files import BLANK, decode_line, read_json_file, read_lines

__all__ = [
    "Context", "ReadReport", "iter_raw", "get", "example_to_dict", "example_from_dict",
    "open_text", "write_records", "is_hub_id", "DATA_SUFFIXES", "text_id", "NoOptions",
]

DATA_SUFFIXES = (".jsonl", ".json", ".jsonl.gz", ".json.gz")
_FILE_SUFFIXES = (".jsonl", ".json", ".gz")  # a name ending so is a file, never a hub id
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+(@[\w.-]+)?$")  # owner/name, optionally @split


@dataclass
class ReadReport:
    """What a read saw: records and examples, records skipped (by reason), and format notes.

    ``notes`` holds counts a format wants the user to see, e.g. PRMBench's clamped error indices.
    """

    records: int = 0
    examples: int = 0
    skipped: Counter = field(default_factory=Counter)
    notes: Counter = field(default_factory=Counter)
    first_skipped: list = field(default_factory=list)

    def skip(self, error: DataError) -> None:
        reason = f"field '{error.field}': {error.reason}" if error.field else error.reason
        self.skipped[_generalise(reason)] += 1
        if len(self.first_skipped) < 5:
            self.first_skipped.append(str(error))

    @property
    def n_skipped(self) -> int:
        return sum(self.skipped.values())

    def to_dict(self) -> dict:
        """JSON-ready summary: records, examples, skipped (by reason), first_skipped, notes."""
        return {"records": self.records, "examples": self.examples, "skipped": dict(self.skipped),
                "first_skipped": list(self.first_skipped), "notes": dict(self.notes)}


def _generalise(reason: str) -> str:
    # "expected str, got int at [3]" and "... at [7]" are the same reason
    return re.sub(r"\[\d+\]", "[i]", reason)


@dataclass
class Context:
    """Where a raw record came from, the reader's options, and the report to add notes to."""

    source: str
    line: Optional[int] = None
    kind: str = "line"
    subset: str = ""
    options: Any = None
    report: ReadReport = field(default_factory=ReadReport)

    def error(self, reason: str, field: Optional[str] = None) -> DataError:
        return DataError(reason, source=self.source, line=self.line, field=field, kind=self.kind)

    def note(self, key: str, n: int = 1) -> None:
        self.report.notes[key] += n

    @property
    def record_id(self) -> str:
        """A fallback id for records that carry none: ``subset:line``."""
        return f"{self.subset or Path(self.source).name}:{self.line}"


@dataclass(frozen=True)
class NoOptions:
    """The ``Options`` of a format that takes none."""


def text_id(prefix: str, text: str) -> str:
    """A stable id from text: ``prefix-`` and 16 hex digits of its SHA-256.

    Used where a source has no unique id; records about the same question then share it.

    Example:
        >>> text_id("trl", "What is 1+1?")
        'trl-31adf3e245f99d7b'
    """
    return f"{prefix}-{hashlib.sha256(text.encode('utf-8')).hexdigest()[:16]}"


_TYPE_NAMES = {str: "a string", int: "an integer", float: "a number", bool: "a boolean", list: "a list", dict: "an object"}


def get(raw: Any, key: str, types: Any, ctx: Context, *, path: str = "", optional: bool = False) -> Any:
    """Fetch ``raw[key]`` and check its type, raising a located ``DataError`` naming the field.

    Args:
        raw: the decoded JSON object.
        key: the field name.
        types: a type or tuple of types the value must have (``int`` never accepts ``bool``).
        ctx: the record's context, for the error location.
        path: prefix for nested field names (``"label.steps[2]"``).
        optional: return None when the key is missing or null instead of raising.
    """
    name = f"{path}.{key}" if path else key
    if not isinstance(raw, dict):
        raise ctx.error(f"expected an object, got {type(raw).__name__}", path or None)
    if key not in raw or raw[key] is None:
        if optional:
            return None
        raise ctx.error("missing" if key not in raw else "is null", name)
    value = raw[key]
    types = types if isinstance(types, tuple) else (types,)
    ok = isinstance(value, types) and not (isinstance(value, bool) and bool not in types)
    if float in types and isinstance(value, int) and not isinstance(value, bool):
        ok = True
    if not ok:
        want = " or ".join(_TYPE_NAMES.get(t, t.__name__) for t in types)
        raise ctx.error(f"expected {want}, got {type(value).__name__} {_short(value)}", name)
    return value


def get_list(raw: Any, key: str, item_types: Any, ctx: Context, *, path: str = "", optional: bool = False) -> Optional[list]:
    """Like ``get`` for a list whose items must all have ``item_types``."""
    value = get(raw, key, list, ctx, path=path, optional=optional)
    if value is None:
        return None
    item_types = item_types if isinstance(item_types, tuple) else (item_types,)
    name = f"{path}.{key}" if path else key
    for i, item in enumerate(value):
        ok = isinstance(item, item_types) and not (isinstance(item, bool) and bool not in item_types)
        if float in item_types and isinstance(item, int) and not isinstance(item, bool):
            ok = True
        if not ok:
            want = " or ".join(_TYPE_NAMES.get(t, t.__name__) for t in item_types)
            raise ctx.error(f"expected {want}, got {type(item).__name__} {_short(item)}", f"{name}[{i}]")
    return value


def _short(value: Any) -> str:
    try:
        text = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else repr(value)
    except RecursionError:  # nested as deep as the parser allowed: too deep to print back
        return f"a {type(value).__name__} nested too deeply to show"
    return text if len(text) <= 40 else text[:37] + "..."


# --------------------------------------------------------------------------- raw iteration


def open_text(path: Path | str, mode: str = "rt"):
    """Open a text file, transparently gunzipping ``*.gz``; reading skips a UTF-8 byte-order mark."""
    path = str(path)
    encoding = "utf-8" if any(c in mode for c in "wax") else "utf-8-sig"
    if path.endswith(".gz"):
        return gzip.open(path, mode, encoding=encoding)
    return open(path, mode, encoding=encoding)


def is_hub_id(source: str) -> bool:
    """``hf:anything``, or an ``owner/name`` string that is not an existing local path.

    A name ending in ``.json``, ``.jsonl`` or ``.gz`` is a file even when missing: ``data/x.jsonl``
    that is not on disk is "no such file", not a dataset to look up on the hub (with retries).

    Example:
        >>> is_hub_id("trl-lib/math_shepherd"), is_hub_id("runs/mc.jsonl"), is_hub_id("hf:runs/mc.jsonl")
        (True, False, True)
    """
    if source.startswith("hf:"):
        return True
    return (bool(_HUB_ID.match(source)) and not source.partition("@")[0].lower().endswith(_FILE_SUFFIXES)
            and not os.path.exists(source))


def data_files(path: Path) -> list[Path]:
    """The data files of a directory (recursively, sorted), or the file itself."""
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and p.name.endswith(DATA_SUFFIXES))
        if not files:
            raise DataError(f"no {', '.join(DATA_SUFFIXES)} files in this directory", source=str(path))
        return files
    if not path.exists():
        raise DataError("no such file or directory", source=str(path))
    return [path]


def _subset_name(path: Path) -> str:
    name = path.name
    for suffix in (".gz", ".jsonl", ".json"):
        name = name[: -len(suffix)] if name.endswith(suffix) else name
    return name


def iter_raw(source: str | Path, *, split: str = "train") -> Iterator[tuple[Context, Any]]:
    """Yield ``(context, decoded record)`` for every record of a file, directory or dataset id.

    A JSONL line that is not valid UTF-8 or JSON is yielded as a ``DataError`` instead, so that the
    caller decides whether to stop or to skip and count it.

    JSONL files yield one record per non-blank line; a JSON file holding an array yields its items
    (located by record index); a JSON object is one record. A hub id (``owner/name``, or any
    ``hf:...`` string including ``hf:/local/folder``) is loaded with ``datasets.load_dataset``.
    A file that cannot be read on (a ``.gz`` that is not gzip or is cut short, a ``.json`` file
    that does not decode) raises ``UnreadableFile``: no record can be skipped past it. A UTF-8
    byte-order mark at the start of a file (or of a line) is ignored.
    """
    source = str(source)
    if is_hub_id(source):
        yield from _iter_hub(source.removeprefix("hf:"), split)
        return
    for path in data_files(Path(source)):
        subset = _subset_name(path)
        if ".jsonl" in path.name:
            for lineno, line in read_lines(path):
                record = decode_line(line, str(path), lineno)
                if record is not BLANK:
                    yield Context(str(path), lineno, "line", subset), record
            continue
        data = read_json_file(path)
        items = data if isinstance(data, list) else [data]
        for i, item in enumerate(items, 1):
            yield Context(str(path), i, "record", subset), item


def _iter_hub(dataset_id: str, split: str) -> Iterator[tuple[Context, Any]]:
    name, _, maybe_split = dataset_id.partition("@")
    split = maybe_split or split
    try:
        import datasets
    except ImportError as e:  # pragma: no cover - datasets is a core dependency
        raise DataError("reading a hub dataset needs the 'datasets' package", source=dataset_id) from e
    try:
        ds = datasets.load_dataset(name, split=split)
    except Exception as e:  # the hub raises many types; report them all the same way
        raise DataError(f"could not load dataset (split {split!r}): {type(e).__name__}: {e}", source=dataset_id) from e
    subset = Path(name).name
    for i, row in enumerate(ds, 1):
        yield Context(f"{dataset_id}[{split}]", i, "record", subset), row


# --------------------------------------------------------------------------- prmkit's own format


def example_to_dict(ex: Example) -> dict:
    """A JSON-ready dict; hard labels are written as ints, soft labels as floats.

    Example:
        >>> from prmkit.types import *
        >>> d = example_to_dict(Example(Problem("p", "1+1?", "2"), Solution(["1+1=2"], "2"), StepLabels([0.7], "soft")))
        >>> d["labels"]
        {'values': [0.7], 'kind': 'soft'}
    """
    labels = None
    if ex.labels is not None:
        conv = (lambda v: v if v is None else int(v)) if ex.labels.kind == "hard" else (lambda v: v)
        labels = {"values": [conv(v) for v in ex.labels.values], "kind": ex.labels.kind}
    scores = None
    if ex.scores is not None:
        scores = {"values": list(ex.scores.values), "outcome": ex.scores.outcome, "source": ex.scores.source}
    p, s = ex.problem, ex.solution
    return {
        "problem": {"id": p.id, "question": p.question, "answer": p.answer, "metadata": dict(p.metadata)},
        "solution": {"steps": list(s.steps), "final_answer": s.final_answer, "metadata": dict(s.metadata)},
        "labels": labels,
        "scores": scores,
        "correct": ex.correct,
    }


def _metadata(raw: dict, ctx: Context, path: str) -> dict:
    value = get(raw, "metadata", (dict, str), ctx, path=path, optional=True)
    if isinstance(value, str):  # datasets/Arrow rows carry metadata as JSON text
        try:
            value = json.loads(value)
        except json.JSONDecodeError as e:
            raise ctx.error(f"metadata is neither an object nor JSON text ({e.msg})", f"{path}.metadata") from None
        except RecursionError:
            raise ctx.error("metadata JSON text is nested too deeply", f"{path}.metadata") from None
        if not isinstance(value, dict):
            raise ctx.error("metadata JSON text must hold an object", f"{path}.metadata")
    return value or {}


def example_from_dict(raw: Any, ctx: Optional[Context] = None) -> Example:
    """Inverse of ``example_to_dict``; every field is type-checked with a located error.

    Also accepts the ``datasets`` row form: metadata as JSON text, and a null ``labels``/``scores``
    struct that Arrow returns as a dict of nulls.
    """
    ctx = ctx or Context("<dict>")
    p = get(raw, "problem", dict, ctx)
    s = get(raw, "solution", dict, ctx)
    problem = Problem(
        id=str(get(p, "id", (str, int), ctx, path="problem")),
        question=get(p, "question", str, ctx, path="problem"),
        answer=get(p, "answer", str, ctx, path="problem", optional=True),
        metadata=_metadata(p, ctx, "problem"),
    )
    solution = Solution(
        steps=tuple(get_list(s, "steps", str, ctx, path="solution")),
        final_answer=get(s, "final_answer", str, ctx, path="solution", optional=True),
        metadata=_metadata(s, ctx, "solution"),
    )
    labels = scores = None
    lab = get(raw, "labels", dict, ctx, optional=True)
    if lab is not None and lab.get("values") is not None:
        values = get_list(lab, "values", (int, float, type(None)), ctx, path="labels")
        kind = get(lab, "kind", str, ctx, path="labels", optional=True) or "hard"
        try:
            labels = StepLabels(tuple(values), kind)
        except (TypeError, ValueError) as e:
            raise ctx.error(str(e), "labels.values") from None
    sc = get(raw, "scores", dict, ctx, optional=True)
    if sc is not None and sc.get("values") is not None:
        scores = StepScores(
            tuple(get_list(sc, "values", (int, float, type(None)), ctx, path="scores")),
            outcome=get(sc, "outcome", float, ctx, path="scores", optional=True),
            source=get(sc, "source", str, ctx, path="scores", optional=True),
        )
    correct = get(raw, "correct", bool, ctx, optional=True)
    try:
        return Example(problem, solution, labels, scores, correct)
    except (TypeError, ValueError) as e:
        raise ctx.error(str(e)) from None


# --------------------------------------------------------------------------- writing


def write_records(records: Iterable[Any], path: str | Path, *, container: str = "jsonl") -> int:
    """Write raw records atomically (temp file + rename): JSON lines, or one JSON array.

    ``*.gz`` paths are gzipped. Returns the number of records written. A crash mid-write leaves any
    previous file at ``path`` untouched. A directory (or a name ending in ``/``) is refused before any
    record is consumed: ``ValueError``.
    """
    if Path(path).is_dir() or str(path).endswith(("/", os.sep)):
        what = "is a directory" if Path(path).is_dir() else "names a directory"
        raise ValueError(f"{path}: {what}, not an output file")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    n = 0
    try:
        opener = gzip.open if path.name.endswith(".gz") else open
        with opener(tmp, "wt", encoding="utf-8") as f:
            if container == "json":
                f.write("[\n")
                for n, rec in enumerate(records, 1):
                    f.write((",\n" if n > 1 else "") + json.dumps(rec, ensure_ascii=False))
                f.write("\n]\n")
            else:
                for n, rec in enumerate(records, 1):
                    f.write(json.dumps(rec, ensure_ascii=False) + "\n")
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes the file private; give it the usual permissions
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return n


def options_from(cls: Callable[..., Any], options: dict, fmt: str) -> Any:
    """Build a format's ``Options`` dataclass, naming unknown options in the error."""
    known = {f.name for f in dataclasses.fields(cls)} if dataclasses.is_dataclass(cls) else set()
    unknown = sorted(set(options) - known)
    if unknown:
        raise ValueError(f"format {fmt!r} has no option(s) {', '.join(unknown)}; known: {', '.join(sorted(known)) or 'none'}")
    return cls(**options)
