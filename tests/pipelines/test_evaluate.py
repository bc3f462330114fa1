"""The evaluation pipeline end to end on tiny constructed data and on the real benchmarks (FakeScorer)."""

import dataclasses
import json

import pytest

from prmkit.backends.fake import FakeScorer
from prmkit.data import read, write
from prmkit.metrics import prmbench_report, processbench_report
from prmkit.pipelines.evaluate import EvalConfig, default_ns, run
from prmkit.types import Example, Problem, Solution, StepLabels, StepScores


def _pb(pid, subset, scores, first_error):
    steps = tuple(f"{pid} step {i}" for i in range(len(scores)))
    return Example(Problem(pid, f"question {pid}", metadata={"subset": subset}), Solution(steps),
                   StepLabels.from_first_error(len(steps), None if first_error < 0 else first_error),
                   StepScores(tuple(scores), source="hand"))


# "cal" and "test": errors score 0.6, correct steps 0.8, so only a threshold in (0.6, 0.8] finds them
CONSTRUCTED = [
    _pb("c1", "cal", [0.8, 0.6], 1), _pb("c2", "cal", [0.6], 0), _pb("c3", "cal", [0.8, 0.8], -1),
    _pb("t1", "test", [0.8, 0.8, 0.6], 2), _pb("t2", "test", [0.8, 0.65], 1), _pb("t3", "test", [0.8], -1),
    _pb("t4", "test", [0.9, 0.75], -1),
]


@pytest.fixture()
def scored_file(tmp_path):
    path = tmp_path / "scored.jsonl"
    write(CONSTRUCTED, path)
    return str(path)


def test_config_validates():
    with pytest.raises(ValueError, match="unknown benchmark"):
        EvalConfig("nope", data="x")
    with pytest.raises(ValueError, match="not both"):
        EvalConfig("processbench", data="x", model="fake", scores="y")
    with pytest.raises(ValueError, match="calibrate_on"):
        EvalConfig("processbench", data="x", threshold_policy="calibrated")
    with pytest.raises(ValueError, match="processbench only"):
        EvalConfig("prmbench", data="x", threshold_policy="oracle")
    with pytest.raises(ValueError, match="unknown aggregate"):
        EvalConfig("bon", data="x", aggregate="median")
    assert default_ns(8) == [1, 2, 4, 8] and default_ns(10) == [1, 2, 4, 8, 10] and default_ns(1) == [1]


def test_threshold_policies(scored_file, tmp_path):
    fixed = run(EvalConfig("processbench", data=scored_file))
    assert fixed["threshold"] == {"policy": "fixed", "threshold": 0.5} and fixed["average_f1"] == 0.0

    cal = run(EvalConfig("processbench", data=scored_file, threshold_policy="calibrated", calibrate_on="cal",
                         json_out=str(tmp_path / "r.json")))
    th = cal["threshold"]
    assert th["calibrated_on"] == "cal" and th["threshold"] == 0.7 and th["in_sample_subsets"] == ["cal"]
    assert th["calibration_average_f1"] == 1.0 and th["average_f1_at_fixed"] == 0.0
    # applied to "test" at 0.7: t1 -> 2, t2 -> 1 (0.65 < 0.7), t3 -> -1, t4 -> -1 (0.75 >= 0.7): all right
    assert cal["subsets"]["test"]["f1"] == 1.0
    assert json.loads((tmp_path / "r.json").read_text())["threshold"]["calibrated_on"] == "cal"

    oracle = run(EvalConfig("processbench", data=scored_file, threshold_policy="oracle"))
    assert oracle["threshold"]["upper_bound"] is True and "upper bound" in oracle["threshold"]["note"]
    assert oracle["average_f1"] == 1.0 and "upper_bound" not in cal["threshold"]


def test_calibrate_on_a_separate_file(scored_file, tmp_path):
    other = tmp_path / "cal.jsonl"
    write([dataclasses.replace(e, problem=Problem(f"x{i}", "q", metadata={"subset": "gsm8k"}))
           for i, e in enumerate(CONSTRUCTED[:3])], other)
    r = run(EvalConfig("processbench", data=scored_file, threshold_policy="calibrated", calibrate_on=str(other)))
    assert r["threshold"]["calibrated_on"] == str(other) and "in_sample_subsets" not in r["threshold"]
    assert 0.6 < r["threshold"]["threshold"] <= 0.8


def test_scores_file_is_matched_by_id_and_steps(scored_file, tmp_path):
    unscored = tmp_path / "data.jsonl"
    write([dataclasses.replace(e, scores=None) for e in CONSTRUCTED], unscored)
    with pytest.raises(ValueError, match="carry no scores"):
        run(EvalConfig("processbench", data=str(unscored)))
    r = run(EvalConfig("processbench", data=str(unscored), scores=scored_file, threshold_policy="oracle"))
    assert r["average_f1"] == 1.0
    partial = tmp_path / "partial.jsonl"
    write(CONSTRUCTED[:-1], partial)
    with pytest.raises(ValueError, match=r"no scores for 1 of 7 examples .* e\.g\. 't4'"):
        run(EvalConfig("processbench", data=str(unscored), scores=str(partial)))


def test_processbench_real_data_with_fake_scorer(shared_data):
    r = run(EvalConfig("processbench", data=str(shared_data / "processbench"), model="fake"))
    examples = list(read(shared_data / "processbench"))
    scores = FakeScorer().score([e.problem for e in examples], [e.solution for e in examples])
    splits = {}
    for e, s in zip(examples, scores):
        sc, gold = splits.setdefault(e.problem.metadata["subset"], ([], []))
        sc.append(s.values)
        gold.append(-1 if e.first_error is None else e.first_error)
    expected = processbench_report(splits, 0.5)
    assert r["subsets"] == expected["subsets"] and r["average_f1"] == expected["average_f1"]
    assert {k: (v["n_error"], v["n_correct"]) for k, v in r["subsets"].items()} == {
        "gsm8k": (207, 193), "math": (594, 406), "olympiadbench": (661, 339), "omnimath": (759, 241)}
    assert r["average_f1"] == pytest.approx(0.0454509, abs=1e-6)  # pinned: FakeScorer is deterministic


def _prmbench_record(idx, classification, steps, error_steps, **extra):
    return {"idx": idx, "classification": classification, "modified_question": f"q{idx}",
            "modified_process": steps, "error_steps": error_steps, **extra}


def test_prmbench_dedup_and_past_the_end_steps_as_the_official_code(tmp_path):
    records = [
        _prmbench_record(1, "redundency", ["a", "b", "c"], [2], original_question="q1", original_process=["a", "c"]),
        _prmbench_record(2, "circular", ["d", "e"], [5]),  # past the end: the official loop never sees it
        _prmbench_record(2, "circular", ["f", "g"], [1]),  # duplicate id: the official loader keeps the first
    ]
    path = tmp_path / "circular.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    r = run(EvalConfig("prmbench", data=str(path), model="fake"))
    assert r["notes"] == {"error steps past the last step, ignored as the official scorer does": 1,
                          "duplicate ids dropped, as the official loader does": 1}
    examples = list(read(path, "prmbench", with_correct_samples=True))[:3]
    assert [e.problem.id for e in examples] == ["redundency_1", "correct_1", "circular_2"]
    scores = FakeScorer().score([e.problem for e in examples], [e.solution for e in examples])
    expected = prmbench_report([("redundency", [1], scores[0].values), ("correct", [], scores[1].values),
                                ("circular", [], scores[2].values)])
    assert r["overall"] == expected["overall"] and r["classes"] == expected["classes"]
    assert r["overall"]["samples"] == 2 and r["classes"]["correct"]["samples"] == 1


def test_bon_needs_outcome_labels(tmp_path):
    path = tmp_path / "x.jsonl"
    write([dataclasses.replace(e, correct=None) for e in CONSTRUCTED], path)
    with pytest.raises(ValueError, match="correctness"):
        run(EvalConfig("bon", data=str(path)))


# --- no silent drops (issue 14, part 4) ------------------------------------------------------------------------

def _lines(path, examples, edit=None):
    from prmkit.data.io import example_to_dict

    rows = [example_to_dict(e) for e in examples]
    if edit:
        edit(rows)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))  # json writes inf as Infinity
    return str(path)


def test_an_infinite_score_is_a_located_error_or_skipped(tmp_path):
    from prmkit.errors import DataError

    def inf(rows):
        rows[1]["scores"]["values"][0] = float("inf")

    path = _lines(tmp_path / "inf.jsonl", CONSTRUCTED, inf)
    assert "Infinity" in (tmp_path / "inf.jsonl").read_text().splitlines()[1]
    with pytest.raises(DataError, match=r"inf\.jsonl:2: .*got inf"):
        run(EvalConfig("processbench", scores=path))
    r = run(EvalConfig("processbench", scores=path, skip_invalid=True))
    assert r["read"]["examples"] == len(CONSTRUCTED) - 1 and sum(r["read"]["skipped"].values()) == 1


def test_a_duplicate_in_the_scores_file_is_a_located_error_or_skipped(scored_file, tmp_path):
    from prmkit.errors import DataError

    def dup(rows):
        rows.append({**rows[0], "scores": {**rows[0]["scores"], "values": [0.1, 0.1]}})  # c1 again, other scores

    path = _lines(tmp_path / "dup.jsonl", CONSTRUCTED, dup)
    with pytest.raises(DataError, match=r"dup\.jsonl: example 8: duplicate of example 1 \(problem id 'c1'\)"):
        run(EvalConfig("processbench", data=scored_file, scores=path))
    r = run(EvalConfig("processbench", data=scored_file, scores=path, skip_invalid=True))
    assert r["read"]["scores_file"]["skipped"] == {"duplicate example (a later copy; the first is kept)": 1}
    assert r["subsets"] == run(EvalConfig("processbench", scores=scored_file))["subsets"]  # the first copy's scores


def test_a_duplicate_id_with_scores_alone_is_an_error_not_counted_twice(tmp_path):
    from prmkit.errors import DataError

    path = _lines(tmp_path / "dup.jsonl", CONSTRUCTED + CONSTRUCTED[3:4])  # t1 twice
    with pytest.raises(DataError, match=r"example 8: duplicate of example 4 \(problem id 't1'\)"):
        run(EvalConfig("processbench", scores=path))
    r = run(EvalConfig("processbench", scores=path, skip_invalid=True))
    assert r["subsets"]["test"]["n_error"] == 2 and r["read"]["examples"] == len(CONSTRUCTED)


def test_scores_alone_says_completeness_was_not_checked(scored_file):
    alone = run(EvalConfig("processbench", scores=scored_file))
    assert alone["read"]["completeness"].startswith("not checked (no reference data given)")
    assert "completeness" not in run(EvalConfig("processbench", data=scored_file, scores=scored_file))["read"]


def test_empty_input_is_an_error(tmp_path):
    (tmp_path / "empty.jsonl").write_text("")
    for benchmark in ("processbench", "bon", "pairwise"):
        with pytest.raises(ValueError, match="0 items"):
            run(EvalConfig(benchmark, data=str(tmp_path / "empty.jsonl")))
