"""PRM800K raw reader: real phase 1/2 samples, neutral ratings, stopping rules, located errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from prmkit.data.io import text_id
from prmkit.data import ReadReport, read
from prmkit.data.formats import math_shepherd, omegaprm, prm800k, processbench, trl_stepwise
from prmkit.data.io import Context
from prmkit.errors import DataError



@pytest.fixture(scope="module")
def sample_path(shared_data) -> Path:
    return shared_data / "openr_samples" / "samples_prm800k.jsonl"


@pytest.fixture(scope="module")
def raws(sample_path):
    return [json.loads(line) for line in sample_path.read_text(encoding="utf-8").splitlines()]


def _record(steps, finish="solution", problem="What is 1+1?"):
    return {"labeler": "x", "timestamp": "t", "generation": None, "is_quality_control_question": False,
            "is_initial_screening_question": False, "question": {"problem": problem, "ground_truth_answer": "2"},
            "label": {"steps": steps, "total_time": 1, "finish_reason": finish}}


def _step(ratings, chosen=None, human=None):
    comps = None if ratings is None else [{"text": f"c{j}", "rating": r, "flagged": False} for j, r in enumerate(ratings)]
    return {"completions": comps, "human_completion": human, "chosen_completion": chosen}


def _parse(raw, **options):
    return list(prm800k.parse(raw, Context("mem.jsonl", 1, options=prm800k.Options(**options))))


def test_real_samples(sample_path, raws):
    report = ReadReport()
    exs = list(read(sample_path, "prm800k", report=report))
    assert report.records == 6 and report.examples == 6 and not report.skipped
    assert [len(e.solution) for e in exs] == [6, 7, 5, 7, 8, 12]
    assert [e.correct for e in exs] == [True, False, True, True, None, True]
    assert [e.first_error for e in exs] == [None, 6, None, None, None, None]
    assert [e.problem.answer for e in exs] == ["29", "28800", "468", "9", "1+2\\sqrt{3}", None]
    assert [e.solution.metadata["finish_reason"] for e in exs] == [
        "solution", "found_error", "solution", "solution", "give_up", "solution"]
    # line 1, step 2: every completion rated -1, the labeler wrote their own step
    assert exs[0].solution.steps[1] == "We have $3p+e=1.24$ and $5p+e=1.82$."
    assert exs[0].solution.steps[5] == raws[0]["label"]["steps"][5]["completions"][4]["text"]
    # line 2 (phase 2, found_error): the trajectory ends at the first completion rated -1
    assert exs[1].solution.steps[-1].startswith("For the Democrats, there are 5! ways to order them in a line, but only")
    assert exs[1].labels.values == (1.0,) * 6 + (0.0,)
    assert exs[1].problem.metadata["ground_truth_solution"] == raws[1]["question"]["ground_truth_solution"]
    assert exs[1].solution.metadata["pre_generated_answer"] == "7200"
    assert exs[1].solution.metadata["generation"] == 6
    # line 5 (give_up): the human step 8 is kept, the empty step 9 ends the trajectory and is noted
    assert exs[4].solution.steps[7].startswith("By symmetry, we have that the intersection")
    assert report.notes["prm800k: trajectory ends at a step with no chosen, human or -1 completion"] == 1
    assert [e.solution.final_answer for e in exs] == ["29", None, "468", "9", None, "8, 3, 1"]
    assert exs[5].solution.metadata["is_initial_screening_question"] is True
    for ex, raw in zip(exs, raws):
        alts = ex.solution.metadata["alternatives"]
        assert [a["completions"] for a in alts] == [s["completions"] for s in raw["label"]["steps"]]
        assert [a["chosen"] for a in alts] == [s["chosen_completion"] for s in raw["label"]["steps"]]
        assert ex.solution.metadata["labeler"] == raw["labeler"]
        assert ex.problem.id == text_id("prm800k", raw["question"]["problem"])
    assert len({e.problem.id for e in exs}) == 6


def test_neutral_option(sample_path):
    exs = list(read(sample_path, "prm800k", neutral="negative"))
    assert exs[1].labels.values[1] == 0.0 and exs[1].first_error == 1
    assert exs[0].labels.values[5] == 1.0  # chosen completion 4 is rated 1; rating 0 was not chosen
    with pytest.raises(ValueError, match="neutral"):
        list(read(sample_path, "prm800k", neutral="maybe"))


def test_synthetic_rules():
    (ex,) = _parse(_record([_step([1], 0), _step([0], 0), _step([None], 0), _step([1, -1, -1], None)], "found_error"))
    assert ex.solution.steps == ("c0", "c0", "c0", "c1")
    assert ex.labels.values == (1.0, 1.0, None, 0.0) and ex.correct is False
    (ex,) = _parse(_record([_step([0], 0)]), neutral="negative")
    assert ex.labels.values == (0.0,) and ex.correct is False
    # null completions, no choice, no human step: the trajectory stops there
    (ex,) = _parse(_record([_step([1], 0), _step(None)], "give_up"))
    assert ex.solution.steps == ("c0",) and ex.correct is None
    assert ex.solution.metadata["alternatives"][1]["completions"] is None
    # same problem text on two lines: same problem id
    a, b = _parse(_record([_step([1], 0)])) + _parse(_record([_step([-1], 0)]))
    assert a.problem.id == b.problem.id and a.correct is True and b.correct is False


def test_field_errors():
    bad = _record([_step([1], 0), _step([1], 3)])
    with pytest.raises(DataError, match=r"label.steps\[1\].chosen_completion"):
        _parse(bad)
    with pytest.raises(DataError, match=r"label.steps\[0\].completions\[0\].rating"):
        _parse(_record([_step([2], 0)]))


def test_corrupt_record_located_and_skipped(tmp_path, sample_path):
    lines = sample_path.read_text(encoding="utf-8").splitlines()
    raw = json.loads(lines[2])
    raw["label"]["steps"][3]["completions"][0]["rating"] = "good"
    lines[2] = json.dumps(raw)
    path = tmp_path / "prm800k.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(DataError) as info:
        list(read(path, "prm800k"))
    text = str(info.value)
    assert str(path) in text and ":3:" in text and "label.steps[3].completions[0].rating" in text
    report = ReadReport()
    assert len(list(read(path, "prm800k", skip_invalid=True, report=report))) == 5
    assert report.n_skipped == 1 and report.records == 6


def test_sniff_is_specific(raws):
    assert all(prm800k.sniff(r) for r in raws)
    pb = {"id": "x", "generator": "g", "problem": "p", "steps": ["a"], "final_answer_correct": True, "label": -1}
    others = [pb, {"problem": {"id": "p"}, "solution": {"steps": []}}, {"input": "q Step 1: a ки", "label": "q Step 1: a +"},
              {"prompt": "p", "completions": ["a"], "labels": [True]}, {"question": "q", "final_answer": "1", "reasoning_steps": []}]
    assert not any(prm800k.sniff(o) for o in others)
    assert not any(m.sniff(raws[0]) for m in (processbench, math_shepherd, trl_stepwise, omegaprm))
