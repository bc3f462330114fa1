"""TRL stepwise supervision: lossless ProcessBench round trip, soft labels kept exact, errors."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from prmkit.data.io import text_id
from prmkit.data import ReadReport, read, write
from prmkit.data.formats import math_shepherd, omegaprm, prm800k, processbench, trl_stepwise
from prmkit.errors import DataError
from prmkit.types import Example, Problem, Solution, StepLabels

PB_FIELDS = ("id", "generator", "problem", "steps", "final_answer_correct", "label")


@pytest.fixture(scope="module")
def data(shared_data) -> Path:
    return shared_data


def _jsonl(path: Path, records) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def test_processbench_round_trip_through_trl(data, tmp_path):
    src = data / "processbench" / "gsm8k.json.gz"
    original = json.load(gzip.open(src, "rt", encoding="utf-8"))
    assert len(original) == 400
    trl = tmp_path / "gsm8k.trl.jsonl"
    assert write(read(src, "processbench"), trl, "trl-stepwise") == 400
    rows = [json.loads(line) for line in trl.read_text(encoding="utf-8").splitlines()]
    assert rows[0]["id"] == "gsm8k-0" and rows[0]["labels"][:3] == [True, False, False]  # after the error: wrong
    assert all(isinstance(v, bool) for r in rows for v in r["labels"])
    assert sum(all(r["labels"]) for r in rows) == 193  # label -1: every step correct
    assert rows[0]["metadata"] == {"subset": "gsm8k", "generator": "Qwen2-7B-Instruct"}
    back = tmp_path / "gsm8k.json"
    assert write(read(trl, "trl-stepwise"), back, "processbench") == 400
    written = json.loads(back.read_text(encoding="utf-8"))
    assert len(written) == 400
    for orig, new in zip(original, written):
        for f in PB_FIELDS:
            assert new[f] == orig[f], (orig["id"], f)


def test_trl_file_loads_with_datasets(data, tmp_path):
    datasets = pytest.importorskip("datasets")
    trl = tmp_path / "gsm8k.trl.jsonl"
    write(read(data / "processbench" / "gsm8k.json.gz", "processbench"), trl, "trl-stepwise")
    ds = datasets.load_dataset("json", data_files=str(trl), split="train")
    assert ds.num_rows == 400 and ds.features["labels"].feature.dtype == "bool"
    assert ds[0]["completions"][0] == next(iter(read(trl, "trl-stepwise"))).solution.steps[0]


def test_soft_labels_stay_exact(tmp_path):
    src = _jsonl(tmp_path / "soft.jsonl", [{"prompt": "1+1?", "completions": ["a", "b", "c"], "labels": [1.0, 0.7, 0.0]}])
    (ex,) = read(src, "trl-stepwise")
    assert ex.labels.kind == "soft" and ex.labels.values == (1.0, 0.7, 0.0) and ex.labels.values[1] == 0.7
    assert ex.problem.id == text_id("trl", "1+1?") and ex.correct is None
    out = tmp_path / "out.jsonl"
    write([ex], out, "trl-stepwise")
    line = out.read_text(encoding="utf-8")
    assert '"labels": [1.0, 0.7, 0.0]' in line
    assert json.dumps(json.loads(line)["labels"]) == "[1.0, 0.7, 0.0]"


def test_hard_labels_and_extra_columns(tmp_path):
    src = _jsonl(tmp_path / "hard.jsonl", [
        {"prompt": "q", "completions": ["a", "b"], "labels": [True, False]},
        {"prompt": "q", "completions": ["a"], "labels": [1], "id": 7, "final_answer_correct": True,
         "answer": "2", "metadata": {"source": "x"}},
    ])
    a, b = read(src, "trl-stepwise")
    assert a.labels.kind == "hard" and a.labels.values == (1.0, 0.0) and a.first_error == 1
    assert b.labels.kind == "hard" and b.problem.id == "7" and b.correct is True
    assert b.problem.answer == "2" and b.problem.metadata == {"source": "x"}
    rows = list(trl_stepwise.dump([a, b], trl_stepwise.Options()))
    assert rows[0] == {"prompt": "q", "completions": ["a", "b"], "labels": [True, False],
                       "id": a.problem.id, "final_answer_correct": None}
    assert rows[1]["labels"] == [True] and rows[1]["metadata"] == {"source": "x"} and rows[1]["answer"] == "2"


def test_writer_needs_every_step_labelled():
    p = Problem("p9", "q")
    with pytest.raises(ValueError, match="'p9'.*step 1 is unlabelled"):
        list(trl_stepwise.dump([Example(p, Solution(("a", "b")), StepLabels((None, 0)))], trl_stepwise.Options()))
    with pytest.raises(ValueError, match="'p9' has no step labels"):
        list(trl_stepwise.dump([Example(p, Solution(("a",)))], trl_stepwise.Options()))
    (row,) = trl_stepwise.dump([Example(p, Solution(("a", "b")), StepLabels((0, None)))], trl_stepwise.Options())
    assert row["labels"] == [False, False]


def test_prm800k_to_trl(data, tmp_path):
    out = tmp_path / "prm800k.trl.jsonl"
    assert write(read(data / "openr_samples" / "samples_prm800k.jsonl", "prm800k"), out, "trl-stepwise") == 6
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [len(r["labels"]) for r in rows] == [6, 7, 5, 7, 8, 12]
    assert rows[1]["labels"][-1] is False and rows[1]["final_answer_correct"] is False


def test_corrupt_record_located_and_skipped(tmp_path):
    good = {"prompt": "q", "completions": ["a", "b"], "labels": [True, True]}
    path = _jsonl(tmp_path / "bad.jsonl", [good, good, {**good, "labels": [True, "yes"]}, {**good, "labels": [True]}])
    with pytest.raises(DataError) as info:
        list(read(path, "trl-stepwise"))
    assert str(path) in str(info.value) and ":3:" in str(info.value) and "field 'labels[1]'" in str(info.value)
    report = ReadReport()
    assert len(list(read(path, "trl-stepwise", skip_invalid=True, report=report))) == 2
    assert report.n_skipped == 2 and report.records == 4
    assert any("labels" in reason for reason in report.skipped)


def test_sniff_is_specific():
    row = {"prompt": "p", "completions": ["a"], "labels": [True]}
    assert trl_stepwise.sniff(row)
    assert not any(m.sniff(row) for m in (processbench, prm800k, math_shepherd, omegaprm))
    assert not trl_stepwise.sniff({"id": "x", "problem": "p", "steps": ["a"], "label": -1})
    assert not trl_stepwise.sniff({"prompt": "p", "completion": "a", "label": True})
