"""The `fields` format: any first-error dataset read through a field mapping, from every command.

The renamed files are built from the real ProcessBench gsm8k subset, so every count they give must be
the one the ProcessBench file gives: 0-based and 1-based first errors, and per-step boolean lists.
"""

from __future__ import annotations

import gzip
import json
import sys

import pytest

from prmkit.data import FORMATS, ReadReport, format_spec, read
from prmkit.data.stats import dataset_stats
from prmkit.errors import DataError
from prmkit.registry import resolve

MAP = ["-f", "fields", "-o", "problem=question", "-o", "steps=chain", "-o", "id=uid", "-o", "correct=ok"]
VARIANTS = {  # name -> (label field of a renamed record, the options that read it)
    "0-based": (lambda fe, n, i: {"first_wrong": None if fe < 0 else fe}, ["-o", "first_error=first_wrong"]),
    # 1-based: no error written as null in even records and as 0 (index_base - 1) in odd ones
    "1-based": (lambda fe, n, i: {"wrong_step": fe + 1 if fe >= 0 else (None if i % 2 == 0 else 0)},
                ["-o", "first_error=wrong_step", "-o", "index_base=1"]),
    # ProcessBench leaves the steps after the first error unlabelled: null here
    "booleans": (lambda fe, n, i: {"verdicts": [True] * n if fe < 0 else [True] * fe + [False] + [None] * (n - fe - 1)},
                 ["-o", "step_labels=verdicts"]),
}


def _options(variant: str) -> dict:
    pairs = MAP[3::2] + VARIANTS[variant][1][1::2]
    return {k: int(v) if v.isdigit() else v for k, v in (p.split("=") for p in pairs)}


@pytest.fixture(scope="module")
def processbench(shared_data, tmp_path_factory):
    """The gsm8k subset, its renamed copies (each `VARIANT/gsm8k.jsonl`, so the subset name is kept) and
    the counts the ProcessBench file gives (computed in-process: the CLI runs only on the renamed files)."""
    from prmkit.pipelines.annotate import AnnotateConfig
    from prmkit.pipelines.annotate import run as annotate
    from prmkit.pipelines.evaluate import EvalConfig
    from prmkit.pipelines.evaluate import run as evaluate

    src = shared_data / "processbench" / "gsm8k.json.gz"
    records = json.loads(gzip.decompress(src.read_bytes()))
    root = tmp_path_factory.mktemp("fields")
    files = {}
    for variant, (label, _) in VARIANTS.items():
        path = root / variant / "gsm8k.jsonl"
        path.parent.mkdir()
        with path.open("w") as f:
            for i, r in enumerate(records):
                rec = {"uid": r["id"], "generator": r["generator"], "question": r["problem"], "chain": r["steps"],
                       "ok": r["final_answer_correct"], **label(r["label"], len(r["steps"]), i)}
                f.write(json.dumps(rec) + "\n")
        files[variant] = path
    expected = {
        "stats": dataset_stats(read(src)),
        "eval": evaluate(EvalConfig(benchmark="processbench", data=str(src), model="fake")),
        "annotate": annotate(AnnotateConfig(data=str(src), out=str(root / "tool-ref"), methods=("tool",), chunk_size=256)),
    }
    return src, files, expected


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_reads_the_same_examples_as_processbench(processbench, variant):
    src, files, _ = processbench
    ours, theirs = list(read(files[variant], "fields", **_options(variant))), list(read(src))
    assert len(ours) == len(theirs) == 400
    for a, b in zip(ours, theirs):
        assert (a.problem.id, a.problem.question, a.solution, a.labels, a.correct) == \
               (b.problem.id, b.problem.question, b.solution, b.labels, b.correct)
        assert a.problem.metadata == b.problem.metadata  # subset from the file name, generator kept (unmapped)
    # the one-string form a config's data_format holds reads the same
    spec = format_spec("fields", _options(variant))
    assert [ex.labels for ex in read(files[variant], spec)] == [ex.labels for ex in ours]


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_every_command_gives_the_processbench_counts(processbench, prmkit_cli, tmp_path, variant):
    _, files, expected = processbench
    path, opts = files[variant], MAP + VARIANTS[variant][1]

    prmkit_cli("data", "stats", path, *opts, "--json", tmp_path / "stats.json")
    stats = json.loads((tmp_path / "stats.json").read_text())
    assert stats["total"] == expected["stats"]["total"] and stats["groups"] == expected["stats"]["groups"]

    prmkit_cli("eval", "processbench", path, "--model", "fake", *opts, "--json", tmp_path / "eval.json")
    ev = json.loads((tmp_path / "eval.json").read_text())
    assert ev["subsets"] == expected["eval"]["subsets"] and ev["average_f1"] == expected["eval"]["average_f1"]
    assert ev["subsets"]["gsm8k"]["n_error"] == 207 and ev["subsets"]["gsm8k"]["n_correct"] == 193

    prmkit_cli("annotate", "tool", path, "--out", tmp_path / "tool", *opts, "--json", tmp_path / "tool.json")
    got, want = json.loads((tmp_path / "tool.json").read_text()), expected["annotate"]
    assert (got["solutions"], got["steps"], got["gold"]) == (want["solutions"], want["steps"], True)

    def counts(method: dict) -> dict:
        return {k: v for k, v in method.items() if k not in ("seconds", "outputs")}

    assert counts(got["methods"]["tool"]) == counts(want["methods"]["tool"])


def _write(path, records) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return str(path)


GOOD = {"q": "1+1?", "s": ["1+1=2", "so 2"], "fe": None}


def test_bad_mappings_stop_with_one_located_line(prmkit_cli, tmp_path):
    data = _write(tmp_path / "d.jsonl", [GOOD, GOOD, {"q": "2+2?", "s": ["2+2=5", "so 5"], "fe": 3}])
    base = ["-f", "fields", "-o", "problem=q", "-o", "steps=s"]
    cases = [  # (command, mapping, message): a field the records lack; a first error past the last step
        (["data", "convert", data, tmp_path / "out.jsonl"], ["-o", "first_error=first_wrong"],
         f"error: {data}:1: field 'first_wrong': missing"),
        (["eval", "processbench", data, "--model", "fake"], ["-o", "first_error=fe", "-o", "index_base=1"],
         f"error: {data}:3: field 'fe': first-error index 3 is outside 1..2 (2 steps, 1-based; null or 0 for no error)"),
        (["annotate", "tool", data, "--out", tmp_path / "job"], ["-o", "step_labels=fe"],
         f"error: {data}:1: field 'fe': is null"),
    ]
    for command, mapping, message in cases:
        result = prmkit_cli(*command, *base, *mapping, check=False)
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert result.returncode == 2 and len(lines) == 1 and lines[0].startswith(message), result.stderr
    assert not (tmp_path / "out.jsonl").exists()


def test_skip_invalid_counts_bad_records_never_drops_them(tmp_path):
    data = _write(tmp_path / "d.jsonl", [GOOD, {"q": "x", "s": ["a"], "fe": 1}, {"q": "y", "fe": None}])
    report = ReadReport()
    examples = list(read(data, "fields", problem="q", steps="s", first_error="fe", skip_invalid=True, report=report))
    assert len(examples) == 1 and report.n_skipped == 2
    assert report.skipped == {"field 's': missing": 1,
                              "field 'fe': first-error index 1 is outside 0..0 (1 steps, 0-based; null or -1 for no error)": 1}


def test_step_label_lists_and_option_checks(tmp_path):
    data = _write(tmp_path / "d.jsonl", [{"problem": "p", "steps": ["a", "b", "c"], "l": [1, 0.5, None], "ans": 4}])
    (ex,) = read(data, "fields", step_labels="l", answer="ans")
    assert ex.labels.values == (1.0, 0.5, None) and ex.labels.kind == "soft" and ex.problem.answer == "4"
    assert ex.problem.metadata == {"subset": "d"} and ex.problem.id == "d:1"
    bad = [({"step_labels": "l", "first_error": "l"}, "not both"), ({"index_base": 2}, "0 or 1"),
           ({"problem": True}, "must name a field"), ({"nope": "x"}, "has no option"),
           ({"first_error": "x", "index_base": "1"}, "0 or 1")]
    for options, match in bad:
        with pytest.raises(ValueError, match=match):
            list(read(data, "fields", **options))
    with pytest.raises(ValueError, match="given both"):
        list(read(data, "fields,step_labels=l", step_labels="l"))
    with pytest.raises(ValueError, match="not an integer"):
        list(read(data, "fields,index_base=one"))
    _write(tmp_path / "d.jsonl", [{"problem": "p", "steps": ["a", "b"], "l": [True, 2]}])
    with pytest.raises(DataError, match=r"d.jsonl:1: field 'l\[1\]': label 2 is outside \[0, 1\]"):
        list(read(data, "fields", step_labels="l"))
    _write(tmp_path / "d.jsonl", [{"problem": "p", "steps": ["a", "b"], "l": [True]}])
    with pytest.raises(DataError, match="field 'l': 1 labels for 2 steps"):
        list(read(data, "fields", step_labels="l"))


def test_an_undetected_record_names_the_format_option(tmp_path):
    data = _write(tmp_path / "d.jsonl", [{"question": "q", "chain": ["a"], "first_wrong": None}])
    with pytest.raises(DataError, match="pass --format NAME.*--format fields -o problem=KEY"):
        list(read(data))
    assert not resolve("fields", FORMATS).sniff({"problem": "p", "steps": [], "label": -1})


def test_a_format_module_by_plain_name(tmp_path, monkeypatch, prmkit_cli):
    (tmp_path / "plainfmt_t14.py").write_text(
        "from prmkit.data.io import NoOptions as Options\n"
        "from prmkit.types import Example, Problem, Solution\n"
        "DESCRIPTION = 'test format'\n"
        "def sniff(raw):\n    return False\n"
        "def parse(raw, ctx):\n    yield Example(Problem(str(ctx.line), raw['text']), Solution((raw['text'],)))\n")
    (tmp_path / "brokenfmt_t14.py").write_text("import no_such_dependency_t14\n")
    (tmp_path / "runs_t14").mkdir()  # a bare folder is a namespace package, not a format
    data = _write(tmp_path / "d.jsonl", [{"text": "hello"}])
    monkeypatch.syspath_prepend(str(tmp_path))
    assert [ex.problem.question for ex in read(data, "plainfmt_t14")] == ["hello"]
    with pytest.raises(KeyError, match="cannot import format 'brokenfmt_t14': No module named 'no_such_dependency_t14'"):
        resolve("brokenfmt_t14", FORMATS, "format", modules=True)
    for name in ("runs_t14", "no_such_module_t14"):
        with pytest.raises(KeyError, match=f"unknown format '{name}'; known: .*or give a module name"):
            resolve(name, FORMATS, "format", modules=True)
    from prmkit.backends.families import FAMILIES

    with pytest.raises(KeyError, match="unknown PRM family 'json'"):  # only format tables import plain modules
        resolve("json", FAMILIES, "PRM family")
    sys.modules.pop("plainfmt_t14", None)
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    result = prmkit_cli("data", "stats", data, "--format", "plainfmt_t14", "--by", "")
    assert "1 items" in result.stdout
    listing = prmkit_cli("ls", "formats").stdout
    assert "fields: prmkit data stats FILE --format fields -o problem=question" in listing
