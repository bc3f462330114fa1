"""PRM training: soft labels stay floats from the file to the loss, and a trained model scores with no glue."""

import json
import math

import pytest
import torch

from prmkit.data import read, write
from prmkit.pipelines.train import IGNORE, TrainConfig, _collate, encode_examples, run, step_loss
from prmkit.types import Example, StepLabels
from prmkit.world.export import world_examples
from prmkit.world.policy import BUNDLED_POLICY


def _soft(examples, value=0.7):
    """The same solutions with the label of every correct step set to ``value`` (a soft MC-style label)."""
    out = []
    for ex in examples:
        values = tuple(value if v == 1.0 else v for v in ex.labels.values)
        out.append(Example(ex.problem, ex.solution, StepLabels(values, "soft"), correct=ex.correct))
    return out


def test_a_soft_label_of_0_7_reaches_the_loss_as_0_7(tmp_path):
    from collections import Counter

    from prmkit.backends.hf_transformers import HFStepScorer
    from prmkit.pipelines.train import _load

    path = tmp_path / "soft.trl.jsonl"
    write(_soft(world_examples(3, source="injected", seed=2)), path, "trl-stepwise")
    examples = list(read(path, "trl-stepwise"))
    assert 0.7 in examples[0].labels.values and examples[0].labels.kind == "soft"
    model, tok, spec = _load(TrainConfig(model=str(BUNDLED_POLICY), data=str(path), out=str(tmp_path)))
    report = Counter()
    features = encode_examples(examples, HFStepScorer(model, tok, spec), "soft", report)
    batch = _collate(tok.pad_token_id)(features)
    targets = batch["step_targets"]
    stored = [v for v in targets[0].tolist() if v != IGNORE]
    want = [v for v in examples[0].labels.propagated().values]
    assert stored == pytest.approx(want) and torch.tensor(0.7).item() in stored  # float32(0.7), not 1
    assert report["trained steps"] == sum(len(ex.solution.steps) for ex in examples)
    # the loss at a step is the cross-entropy against (0.3, 0.7)
    logits = torch.zeros(1, 3, 2)
    logits[0, 1] = torch.tensor([0.0, 1.0])
    t = torch.tensor([[IGNORE, 0.7, IGNORE]])
    q = torch.softmax(torch.tensor([0.0, 1.0]), -1)
    assert step_loss(logits, t).item() == pytest.approx(-(0.7 * math.log(q[1]) + 0.3 * math.log(q[0])), rel=1e-6)
    hard = encode_examples(examples, HFStepScorer(model, tok, spec), "hard", Counter())
    assert 0.7 not in hard[0]["step_targets"] and 1.0 in hard[0]["step_targets"]
    # the outcome-model baseline: one target per solution, at its last step, from the final answer
    outcome = encode_examples(examples, HFStepScorer(model, tok, spec), "hard", Counter(), target="outcome")
    for ex, f in zip(examples, outcome):
        marked = [(i, v) for i, v in enumerate(f["step_targets"]) if v != IGNORE]
        last_tag = max(i for i, v in enumerate(features[examples.index(ex)]["step_targets"]) if v != IGNORE)
        assert marked == [(last_tag, float(ex.correct))]


def test_train_then_score_with_no_glue_and_resume(tmp_path, prmkit_cli):
    data = tmp_path / "train.jsonl"
    write(_soft(world_examples(48, source="injected", seed=3), 0.9), data, "prmkit")
    cfg = dict(model=str(BUNDLED_POLICY), data=str(data), out=str(tmp_path / "prm"), lr=1e-3, batch_size=8,
               save_steps=3)
    first = run(TrainConfig(**cfg, epochs=1), log=lambda s: None)
    assert first["steps"] == 6 and first["resumed_from"] is None and math.isfinite(first["train_loss"])
    assert json.loads((tmp_path / "prm" / "prmkit_spec.json").read_text())["name"] == "prmkit"
    # a longer run in the same folder continues from the last checkpoint instead of starting over
    second = run(TrainConfig(**cfg, epochs=2), log=lambda s: None)
    assert second["resumed_from"] == "checkpoint-6" and second["steps"] == 12
    # the saved folder is a complete scorer: `prmkit score --model OUT` needs no --spec
    scores = tmp_path / "scores.jsonl"
    prmkit_cli("score", data, "--model", tmp_path / "prm", "--out", scores)
    scored = list(read(scores))
    assert len(scored) == 48 and all(len(ex.scores) == len(ex.solution.steps) for ex in scored)
    assert all(0.0 <= v <= 1.0 for ex in scored for v in ex.scores.values)


def test_training_killed_mid_run_resumes_and_completes(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    data = tmp_path / "train.jsonl"
    write(world_examples(32, source="injected", seed=4), data, "prmkit")
    out = tmp_path / "prm"
    cmd = [str(Path(sys.executable).with_name("prmkit")), "train", f"model={BUNDLED_POLICY}", f"data={data}",
           f"out={out}", "labels=hard", "epochs=30", "batch_size=8", "save_steps=10", "lr=0.001"]
    job = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not (out / "checkpoint-20").exists() and time.time() < deadline and job.poll() is None:
        time.sleep(0.05)
    assert job.poll() is None, "training ended before it could be killed"
    os.kill(job.pid, signal.SIGKILL)
    job.wait()
    assert not (out / "prmkit_train.json").exists()  # it died before the end
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    summary = json.loads((out / "prmkit_train.json").read_text())
    # the kill may land while checkpoint-20 is being written: then the last complete one (10) is used
    assert summary["steps"] == 120 and summary["resumed_from"] in {f"checkpoint-{k}" for k in range(10, 120, 10)}
    assert (out / "prmkit_spec.json").exists() and (out / "model.safetensors").exists()
