"""World exports end to end: exact labels in ProcessBench format, evaluated by `prmkit eval processbench`."""

import json
from collections import Counter

from prmkit.data import read
from prmkit.world import check, generate
from prmkit.world.export import injected_solutions, label_solutions


def test_injected_export_labels_are_exact():
    problems = generate(200, seed=4)
    report = Counter()
    examples = label_solutions(problems, injected_solutions(problems, seed=4), generator="injected", report=report)
    assert report["labelled"] == 200 and 60 < sum(e.first_error is not None for e in examples) < 140
    for p, ex in zip(problems, examples):
        r = check(p, ex.solution.steps)
        assert ex.first_error == r.first_error and ex.correct == r.final_correct
        assert ex.first_error is not None or ex.correct  # a gold solution is always right


def test_export_is_evaluated_by_processbench_eval(prmkit_cli, tmp_path):
    bench = tmp_path / "world_bench.json"
    result = prmkit_cli("world", "export", bench, "--source", "injected", "--n", "120", "--steps", "2-5")
    assert "wrote 120 labelled solution(s)" in result.stdout
    records = json.loads(bench.read_text())
    assert {"id", "generator", "problem", "steps", "final_answer_correct", "label"} <= set(records[0])
    examples = list(read(bench))
    assert len(examples) == 120
    evaluated = prmkit_cli("eval", "processbench", bench, "--model", "fake", "--json", tmp_path / "r.json")
    r = json.loads((tmp_path / "r.json").read_text())
    n_error = sum(rec["label"] != -1 for rec in records)
    sub = r["subsets"]["world_bench"] if "subsets" in r else next(iter(r["results"]["subsets"].values()))
    assert sub["n_error"] == n_error and sub["n_correct"] == 120 - n_error
    assert "average F1" in evaluated.stdout


def test_world_sample_prints_gold(prmkit_cli):
    out = prmkit_cli("world", "sample", "--n", "1", "--steps", "3", "--seed", "2").stdout
    assert out.count(" = ") == 3 and "The answer is" in out


def test_policy_export_has_exact_labels_and_both_outcomes(prmkit_cli, tmp_path):
    bench = tmp_path / "policy_bench.json"
    result = prmkit_cli("world", "export", bench, "--n", "40", "--samples", "2", "--seed", "5")
    records = json.loads(bench.read_text())
    errors = sum(r["label"] != -1 for r in records)
    assert 0 < errors < len(records) and "labelled solution(s)" in result.stdout
    assert all(r["generator"].startswith("prmkit-policy") for r in records)
    prmkit_cli("eval", "processbench", bench, "--model", "fake", "--json", tmp_path / "r.json")
    assert json.loads((tmp_path / "r.json").read_text())
