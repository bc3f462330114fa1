"""The ThinkPRM recipe end to end on the world: teacher chains, the label filter, `prmkit train target=chains`."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from prmkit.annotate.chains import agrees, chain_records
from prmkit.backends.generative import Chain, GenerativeScorer
from prmkit.data import write
from prmkit.types import StepLabels
from prmkit.world.export import world_examples


def test_agreement_needs_every_verdict_up_to_the_first_wrong_step():
    labels = StepLabels((1.0, 0.0, None), "hard")
    assert agrees(Chain(verdicts={0: (True, None), 1: (False, None)}), labels)
    assert not agrees(Chain(verdicts={0: (True, None)}), labels)  # step 1 never judged
    assert not agrees(Chain(verdicts={0: (False, None), 1: (False, None)}), labels)
    assert not agrees(Chain(verdicts={0: (True, None), 1: (False, None)}, truncated=True), labels)
    soft = StepLabels((0.9, 0.75, 0.25), "soft")  # MC labels: thresholded at 0.5
    assert agrees(Chain(verdicts={0: (True, None), 1: (True, None), 2: (False, None)}), soft)


def test_teacher_chains_filtered_by_labels_then_trained_and_scored(tmp_path, prmkit_cli):
    from prmkit.world.verifier import Teacher, init_from_policy

    examples = world_examples(12, seed=21)
    scorer = GenerativeScorer(Teacher(), "world", k=2, temperature=0.8, scores="votes", seed=0)
    report: Counter = Counter()
    records = chain_records(examples, scorer, keep=1, report=report)
    assert report["chains sampled"] == 24 and report["chains kept"] == len(records) > 0
    for rec in records:  # a kept chain judges every step as the exact labels do, up to the first error
        ex = next(e for e in examples if e.problem.id == rec["problem_id"])
        assert rec["first_error"] == ex.labels.first_error
        verdicts = [t.strip() for t, by in rec["segments"] if by and t.strip() in ("ok", "wrong")]
        expected = len(ex.solution.steps) if ex.labels.first_error is None else ex.labels.first_error + 1
        assert len(verdicts) == expected and ("wrong" in verdicts) == (ex.labels.first_error is not None)
        # the solution's steps are shown to the verifier (after the "|" it wrote), never text it learns to write
        shown = [rec["segments"][j + 1] for j, (text, _) in enumerate(rec["segments"]) if text == "|"]
        assert [text for text, _ in shown] == [" " + s for s in ex.solution.steps[: len(shown)]]
        assert not any(by for _, by in shown)
    (tmp_path / "chains.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    init_from_policy(tmp_path / "init")
    prmkit_cli("train", f"model={tmp_path / 'init'}", f"data={tmp_path / 'chains.jsonl'}", "target=chains",
               f"out={tmp_path / 'verifier'}", "epochs=1", "batch_size=8", "lr=1e-3")
    saved = json.loads((tmp_path / "verifier" / "prmkit_verifier.json").read_text())
    assert saved["prompt"] == "world"
    bench = tmp_path / "bench.json"
    write(world_examples(3, seed=7), bench, "processbench")
    prmkit_cli("score", bench, "--model", tmp_path / "verifier", "--out", tmp_path / "scores.jsonl")
    rows = [json.loads(line) for line in (tmp_path / "scores.jsonl").read_text().splitlines()]
    assert len(rows) == 3 and all(len(r["scores"]["values"]) == len(r["solution"]["steps"]) for r in rows)


def test_bad_chain_files_are_one_located_line(tmp_path, prmkit_cli):
    bad = tmp_path / "chains.jsonl"
    bad.write_text(json.dumps({"prompt": "p", "segments": [["a", True]]}) + "\n" + json.dumps({"prompt": "p"}) + "\n")
    r = prmkit_cli("train", "model=bundled-policy", f"data={bad}", "target=chains", f"out={tmp_path / 'o'}", check=False)
    assert r.returncode == 2, r.stderr
    assert "chains.jsonl:2" in r.stderr and "segments" in r.stderr and len(r.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("target", ["chain", "verdicts"])
def test_unknown_targets_are_refused(target):
    from prmkit.pipelines.train import TrainConfig

    with pytest.raises(ValueError, match="'chains'"):
        TrainConfig(model="m", data="d", out="o", target=target)


def test_world_train_verifier_runs_the_code_recipe_from_the_plain_verifier(tmp_path, prmkit_cli):
    from prmkit.sandbox import available

    if available() is not None:
        pytest.skip(f"no sandbox on this machine: {available()}")
    out = tmp_path / "run"
    r = prmkit_cli("world", "train-verifier", "--code", "--init", "bundled-verifier", "--problems", "6",
                   "--injected", "6", "--k", "1", "--epochs", "1", "--out", out)
    report = json.loads((out / "chains_report.json").read_text())
    assert report["chains sampled"] == 12 and 0 < report["chains kept"] <= 12
    assert report["teacher"]["code_runs"] > 0 and report["teacher"]["truncated"] == 0
    records = [json.loads(line) for line in (out / "chains.jsonl").read_text().splitlines()]
    assert len(records) == report["chains kept"] and "chains, loss" in r.stdout
    for rec in records:  # each block's output (the sandbox's, never the verifier's text) starts with mine == shown
        segs = rec["segments"]
        for j, (text, by) in enumerate(segs):
            if text == "|":
                mine, shown, output = segs[j - 1][0].strip(), segs[j + 1][0].strip(), segs[j + 4]
                assert segs[j + 3] == ["]", True] and not output[1]
                assert output[0].split()[0] == str(mine == shown)
    assert json.loads((out / "verifier" / "prmkit_verifier.json").read_text())["prompt"] == "world-code"
