"""OmegaPRM / OpenR Math-APS: one example per prefix, Monte-Carlo values, root prefixes, writer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from prmkit.data import ReadReport, group_by_problem, read, write
from prmkit.data.formats import math_shepherd, omegaprm, prm800k, processbench, trl_stepwise
from prmkit.errors import DataError



@pytest.fixture(scope="module")
def sample_path(shared_data) -> Path:
    return shared_data / "openr_samples" / "samples_math-aps.jsonl"


@pytest.fixture(scope="module")
def raws(sample_path):
    return [json.loads(line) for line in sample_path.read_text(encoding="utf-8").splitlines()]


def test_real_samples(sample_path, raws):
    report = ReadReport()
    exs = list(read(sample_path, "omegaprm", report=report))
    assert report.records == 3 and len(exs) == 145
    groups = group_by_problem(exs)
    assert [len(g) for g in groups.values()] == [90, 13, 42]
    # question_id is 3 for both of the last two records: ids come from the question text instead
    assert [g[0].problem.metadata["question_id"] for g in groups.values()] == [2, 3, 3]
    assert [g[0].problem.answer for g in groups.values()] == ["64", "4", "\\frac{11}{36}"]
    roots = [e for e in exs if not e.solution.steps]
    assert len(roots) == 3 and all(len(e.labels) == 0 for e in roots)
    assert exs[0].solution.metadata["mc_value"] == 0.75 and exs[0].labels.kind == "soft"
    assert exs[1].labels.values == (None,) * 5 + (1.0,)
    assert exs[1].solution.steps[0].startswith("To solve the inequality \\(\\frac{(x-a)(x-b)}{x-c} \\le 0\\)")
    assert exs[14].labels.values[-1] == 0.9375 and len(exs[14].solution) == 1
    assert exs[14].solution.steps[0].endswith("\\(x < -4\\) or \\(24 \\le x \\le 26\\).")
    mc = [s["mc_value"] for r in raws for s in r["reasoning_steps"]]
    assert [e.solution.metadata["mc_value"] for e in exs] == mc
    assert all(e.labels.values[-1] == e.solution.metadata["mc_value"] for e in exs if e.solution.steps)
    assert all(v is None for e in exs for v in e.labels.values[:-1])
    assert (sum(m == 0.0 for m in mc), sum(m == 1.0 for m in mc), sum(m < 0.5 for m in mc)) == (9, 123, 18)
    # two of the 18 low values belong to root prefixes, which have no step to label
    assert sum(e.labels.first_error is not None for e in exs) == 16
    assert sorted(e.solution.metadata["mc_value"] for e in roots) == [0.1875, 0.375, 0.75]


def test_writer_groups_back(sample_path, raws, tmp_path):
    out = tmp_path / "aps.jsonl"
    assert write(read(sample_path, "omegaprm"), out, "omegaprm") == 3
    written = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    for raw, new in zip(raws, written):
        assert list(new) == list(raw)  # question, final_answer, reasoning_steps, question_id
        assert (new["question"], new["final_answer"], new["question_id"]) == (raw["question"], raw["final_answer"], raw["question_id"])
        assert [s["mc_value"] for s in new["reasoning_steps"]] == [s["mc_value"] for s in raw["reasoning_steps"]]
        assert all(s["solution_prefix"].startswith(raw["question"]) for s in new["reasoning_steps"])
    again = list(read(out, "omegaprm"))
    first = list(read(sample_path, "omegaprm"))
    assert [(e.problem.id, e.solution.steps, e.labels) for e in again] == [(e.problem.id, e.solution.steps, e.labels) for e in first]


def test_prefix_must_start_with_question(raws, tmp_path):
    raw = json.loads(json.dumps(raws[1]))
    raw["reasoning_steps"][4]["solution_prefix"] = "Another question" + "\n\nstep"
    path = tmp_path / "aps.jsonl"
    path.write_text(json.dumps(raw) + "\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"aps.jsonl:1: field 'reasoning_steps\[4\].solution_prefix'"):
        list(read(path, "omegaprm"))


def test_corrupt_record_located_and_skipped(sample_path, tmp_path):
    lines = sample_path.read_text(encoding="utf-8").splitlines()
    raw = json.loads(lines[1])
    raw["reasoning_steps"][2]["mc_value"] = "high"
    path = tmp_path / "aps.jsonl"
    path.write_text("\n".join([lines[0], json.dumps(raw), lines[2]]) + "\n", encoding="utf-8")
    with pytest.raises(DataError) as info:
        list(read(path, "omegaprm"))
    text = str(info.value)
    assert str(path) in text and ":2:" in text and "reasoning_steps[2].mc_value" in text
    report = ReadReport()
    assert len(list(read(path, "omegaprm", skip_invalid=True, report=report))) == 90 + 42
    assert report.n_skipped == 1


def test_sniff_is_specific(raws):
    assert omegaprm.sniff(raws[0])
    assert not any(m.sniff(raws[0]) for m in (processbench, prm800k, math_shepherd, trl_stepwise))
    assert not omegaprm.sniff({"question": {"problem": "p"}, "label": {"steps": []}})
