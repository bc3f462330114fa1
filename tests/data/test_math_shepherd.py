"""Math-Shepherd reader and writer: real samples, byte-exact round trip, label checks, soft labels."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from prmkit.data.io import text_id
from prmkit.data import ReadReport, read, write
from prmkit.data.formats import math_shepherd, omegaprm, prm800k, processbench, trl_stepwise
from prmkit.data.io import Context
from prmkit.errors import DataError
from prmkit.types import Example, Problem, Solution, StepLabels

TAG = "\u043a\u0438"  # "ки"


@pytest.fixture(scope="module")
def sample_path(shared_data) -> Path:
    return shared_data / "openr_samples" / "samples_math-shepherd.jsonl"


@pytest.fixture(scope="module")
def lines(sample_path):
    return sample_path.read_text(encoding="utf-8").splitlines()


def _parse(raw):
    return list(math_shepherd.parse(raw, Context("mem.jsonl", 1)))


def test_real_samples(sample_path):
    exs = list(read(sample_path, "math-shepherd"))
    assert len(exs) == 7
    assert [len(e.solution) for e in exs] == [5, 3, 2, 5, 5, 2, 3]
    assert exs[0].labels.values == (1.0, 1.0, 1.0, 1.0, 0.0) and exs[0].first_error == 4
    assert exs[4].labels.values == (1.0, 0.0, 0.0, 0.0, 0.0)
    assert sum(e.first_error == 0 for e in exs) == 5
    assert exs[0].problem.question.endswith("than clarinet lessons in a year?")
    assert exs[0].solution.steps[0] == "Janet spends 3 hours + 5 hours = <<3+5=8>>8 hours per week on music lessons."
    assert exs[5].solution.steps[-1].endswith("pieces of $100 bills The answer is: 2.2")
    assert all(e.problem.metadata == {"task": "GSM8K"} and e.labels.kind == "hard" for e in exs)
    assert all(not e.solution.metadata for e in exs)  # all seven use the canonical layout
    assert exs[0].problem.id == text_id("math-shepherd", exs[0].problem.question)


def test_round_trip_is_byte_exact(sample_path, lines, tmp_path):
    out = tmp_path / "ms.jsonl"
    assert write(read(sample_path, "math-shepherd"), out, "math-shepherd") == 7
    written = out.read_text(encoding="utf-8").splitlines()
    assert len(written) == 7
    for orig, new in zip(lines, written):
        raw = json.loads(orig)
        assert list(json.loads(new).items()) == list(raw.items())  # same keys, same order, same bytes
        assert new == json.dumps(raw, ensure_ascii=False)


def test_unlabelled_test_time_format():
    text = f"What is 2+3? Step 1: 2+3=5 {TAG}\nStep 2: The answer is: 5 {TAG}"
    (ex,) = _parse({"input": text})
    assert ex.labels is None and ex.solution.steps == ("2+3=5", "The answer is: 5")
    assert list(math_shepherd.dump([ex], math_shepherd.Options())) == [{"input": text}]


def test_non_canonical_layout_is_kept(tmp_path):
    text = f"Q?\nStep 1:  a {TAG}\n\nStep 2: b{TAG}\n"
    label = text.replace(TAG, "+", 1).replace(TAG, "-", 1)
    src = tmp_path / "odd.jsonl"
    src.write_text(json.dumps({"input": text, "label": label}) + "\n", encoding="utf-8")
    report = ReadReport()
    (ex,) = read(src, "math-shepherd", report=report)
    assert ex.solution.steps == ("a", "b") and ex.labels.values == (1.0, 0.0)
    assert sum(report.notes.values()) == 1
    assert list(math_shepherd.dump([ex], math_shepherd.Options())) == [{"input": text, "label": label}]


def test_label_must_match_input():
    text = f"Q? Step 1: a {TAG}\nStep 2: b {TAG}"
    with pytest.raises(DataError, match="field 'label'.*step 2"):
        _parse({"input": text, "label": "Q? Step 1: a +\nStep 2: c +"})
    with pytest.raises(DataError, match="field 'label'.*got '\\*'"):
        _parse({"input": text, "label": "Q? Step 1: a *\nStep 2: b +"})
    with pytest.raises(DataError, match="field 'label'.*more than input"):
        _parse({"input": text, "label": "Q? Step 1: a +\nStep 2: b + extra"})
    with pytest.raises(DataError, match="field 'input'.*after the last"):
        _parse({"input": text + " dangling"})


def test_writer_labels():
    problem = Problem("p1", "What is 1+1?", metadata={"task": "MATH"})
    soft = Example(problem, Solution(("1+1=2", "The answer is: 2")), StepLabels((0.9, 0.3), "soft"))
    with pytest.raises(ValueError, match="'p1'.*threshold"):
        list(math_shepherd.dump([soft], math_shepherd.Options()))
    (rec,) = math_shepherd.dump([soft], math_shepherd.Options(threshold=0.5))
    assert rec == {"input": f"What is 1+1? Step 1: 1+1=2 {TAG}\nStep 2: The answer is: 2 {TAG}",
                   "label": "What is 1+1? Step 1: 1+1=2 +\nStep 2: The answer is: 2 -", "task": "MATH"}
    first_error = Example(problem, Solution(("a", "b", "c")), StepLabels((1, 0, None)))
    (rec,) = math_shepherd.dump([first_error], math_shepherd.Options())
    assert rec["label"].endswith("a +\nStep 2: b -\nStep 3: c -")
    unknown = Example(problem, Solution(("a", "b")), StepLabels((None, 1)))
    with pytest.raises(ValueError, match="'p1'.*step 1 is unlabelled"):
        list(math_shepherd.dump([unknown], math_shepherd.Options()))


def test_corrupt_record_located_and_skipped(tmp_path, lines):
    bad = json.loads(lines[3])
    bad["label"] = 17
    path = tmp_path / "ms.jsonl"
    path.write_text("\n".join(lines[:3] + [json.dumps(bad)] + lines[4:]) + "\n", encoding="utf-8")
    with pytest.raises(DataError) as info:
        list(read(path, "math-shepherd"))
    assert str(path) in str(info.value) and ":4:" in str(info.value) and "field 'label'" in str(info.value)
    report = ReadReport()
    assert len(list(read(path, "math-shepherd", skip_invalid=True, report=report))) == 6
    assert report.n_skipped == 1 and sum(report.skipped.values()) == 1


def test_sniff_is_specific(lines):
    raw = json.loads(lines[0])
    assert math_shepherd.sniff(raw) and math_shepherd.sniff({"input": raw["input"]})
    assert not any(m.sniff(raw) for m in (processbench, prm800k, trl_stepwise, omegaprm))
    assert not math_shepherd.sniff({"prompt": "p", "completions": ["a"], "labels": [True]})
    assert not math_shepherd.sniff({"problem": "p", "steps": ["a"], "label": -1})
