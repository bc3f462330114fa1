"""PRM training: soft labels stay floats from the file to the loss, and a trained model scores with no glue."""

import dataclasses
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
    model, tok, spec, _ = _load(TrainConfig(model=str(BUNDLED_POLICY), data=str(path), out=str(tmp_path)))
    report = Counter()
    features = encode_examples(examples, HFStepScorer(model, tok, spec), "soft", report)
    batch = _collate(tok.pad_token_id)(features)
    targets = batch["step_targets"]
    stored = [v for v in targets[0].tolist() if v != IGNORE]
    want = [v for v in examples[0].labels.propagated().values]
    assert stored == pytest.approx(want) and torch.tensor(0.7).item() in stored  # float32(0.7), not 1
    assert report["trained steps"] == sum(len(ex.solution.steps) for ex in examples)
    # the loss at a step is the cross-entropy against (0.3, 0.7), on the (wrong, correct) logits scoring reads
    rows, cols = (targets != IGNORE).nonzero(as_tuple=True)
    at = [i for i, v in enumerate(targets[0].tolist()) if abs(v - 0.7) < 1e-6][0]
    logits = torch.zeros(len(rows), 2)
    logits[(cols == at) & (rows == 0)] = torch.tensor([0.0, 1.0])
    picked = targets[rows, cols]
    q = torch.softmax(torch.tensor([0.0, 1.0]), -1)
    by_hand = [-(p * math.log(q[1]) + (1 - p) * math.log(q[0])) if (r, c) == (0, at) else math.log(2)
               for r, c, p in zip(rows.tolist(), cols.tolist(), picked.tolist())]
    assert step_loss(logits, picked).item() == pytest.approx(sum(by_hand) / len(by_hand), rel=1e-6)
    one = step_loss(torch.tensor([[0.0, 1.0]]), torch.tensor([0.7])).item()
    assert one == pytest.approx(-(0.7 * math.log(q[1]) + 0.3 * math.log(q[0])), rel=1e-6)
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


def test_training_killed_mid_save_resumes_from_the_last_complete_checkpoint(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    from pathlib import Path

    from prmkit.jobfolder import JobInUseError, start_paused

    data = tmp_path / "train.jsonl"
    write(world_examples(32, source="injected", seed=4), data, "prmkit")
    out = tmp_path / "prm"
    fields = dict(model=str(BUNDLED_POLICY), data=str(data), out=str(out), labels="hard", epochs=3, batch_size=8,
                  save_steps=4, lr=0.001)
    cmd = [str(Path(sys.executable).with_name("prmkit")), "train", *(f"{k}={v}" for k, v in fields.items())]
    # 4 steps an epoch, 12 in all; the job blocks while saving checkpoint-8: weights written, trainer_state.json not
    job = start_paused(cmd, "save:2", tmp_path / "paused", log=tmp_path / "job.log")
    with pytest.raises(JobInUseError, match=f"^job in use by pid {job.pid}: "):  # a second run refuses at once
        run(TrainConfig(**fields), log=lambda s: None)
    os.kill(job.pid, signal.SIGKILL)
    job.wait()
    assert (out / "checkpoint-8" / "model.safetensors").exists() and not (out / "checkpoint-8" / "trainer_state.json").exists()
    assert (out / "checkpoint-4" / "trainer_state.json").exists() and not (out / "prmkit_train.json").exists()
    with open(tmp_path / "rerun.log", "w") as log:
        rerun = subprocess.Popen(cmd, stdout=log, stderr=log)
    run(TrainConfig(**{**fields, "out": str(tmp_path / "whole")}), log=lambda s: None)  # meanwhile: the reference
    assert rerun.wait(timeout=300) == 0, (tmp_path / "rerun.log").read_text()[-2000:]
    summary = json.loads((out / "prmkit_train.json").read_text())
    assert summary["steps"] == 12 and summary["resumed_from"] == "checkpoint-4"  # the cut-short checkpoint-8 skipped
    assert (out / "prmkit_spec.json").exists()
    # and it ends with the weights of a run that was never killed
    from safetensors.torch import load_file

    resumed, whole = load_file(out / "model.safetensors"), load_file(tmp_path / "whole" / "model.safetensors")
    assert resumed.keys() == whole.keys() and all(torch.allclose(resumed[k], whole[k], atol=1e-6) for k in whole)


@pytest.fixture(scope="module")
def small_data(tmp_path_factory):
    folder = tmp_path_factory.mktemp("heads")
    write(_soft(world_examples(24, source="injected", seed=6), 0.8), folder / "train.jsonl", "prmkit")
    write(world_examples(12, source="injected", seed=8), folder / "eval.json", "processbench")
    return folder


@pytest.mark.parametrize("spec", ["prmkit-words", "prmkit-value"])
def test_lm_word_and_value_heads_train_and_score_with_no_glue(small_data, tmp_path, spec):
    from prmkit.backends.hf_transformers import HFStepScorer

    out = tmp_path / spec
    summary = run(TrainConfig(model="bundled-policy", data=str(small_data / "train.jsonl"), out=str(out), spec=spec,
                              epochs=2, lr=1e-3, eval_data=str(small_data / "eval.json"), eval_steps=3,
                              gradient_checkpointing=spec == "prmkit-value"), log=lambda s: None)
    assert math.isfinite(summary["train_loss"]) and summary["spec"] == spec
    # periodic evaluation on the ProcessBench-format set, every 3 optimiser steps and at the end
    assert [h["step"] for h in summary["eval_history"]][:2] == [3, 6]
    assert 0.0 <= summary["eval"]["eval_pb_f1_best_threshold"] <= 1.0
    scorer = HFStepScorer.from_pretrained(str(out))  # spec and head from the folder
    assert scorer.spec.head == ("lm_words" if spec == "prmkit-words" else "value")
    examples = list(read(small_data / "train.jsonl"))[:4]
    values = scorer.score([e.problem for e in examples], [e.solution for e in examples])
    assert all(0.0 < v < 1.0 for s in values for v in s.values)


def test_implicit_prm_scores_are_the_cumulative_log_ratio(small_data, tmp_path):
    from prmkit.backends.hf_transformers import HFStepScorer, token_logprobs

    out = tmp_path / "implicit"
    cfg = TrainConfig(model="bundled-policy", data=str(small_data / "train.jsonl"), out=str(out), spec="prmkit-implicit",
                      epochs=2, lr=1e-3, beta=0.5)
    logs = []
    summary = run(cfg, log=logs.append)
    assert summary["target"] == "outcome" and summary["report"]["trained steps"] == 24  # one per solution
    assert any("cached reference log-probs of 24 solutions" in line for line in logs)
    assert (out / "reference" / "model.safetensors").exists() and (out / "reference_logprobs.pt").exists()
    scorer = HFStepScorer.from_pretrained(str(out))
    assert scorer.spec.head == "implicit" and scorer.spec.beta == 0.5
    ex = list(read(small_data / "train.jsonl"))[0]
    got = scorer.score([ex.problem], [ex.solution])[0].values
    # by hand: beta * the sum over the solution's tokens (not the question's) of log pi - log pi_ref
    enc = scorer.encode(ex.problem, ex.solution.steps)
    ids = torch.tensor([enc.input_ids])
    with torch.no_grad():
        ratio = (token_logprobs(scorer.model, ids, None) - token_logprobs(scorer.reference, ids, None))[0]
    want = [torch.sigmoid(0.5 * ratio[enc.start: p + 1].sum()).item() for p in enc.read_positions]
    assert got == pytest.approx(want, abs=1e-5)
    assert ids[0, enc.start - 1].item() == scorer.tokenizer.convert_tokens_to_ids("\n")  # the question ends there
    assert len(set(round(v, 4) for v in got)) > 1  # trained: the policy moved away from its reference
    # a rerun reuses the cached reference log-probs instead of recomputing them
    logs.clear()
    run(dataclasses.replace(cfg, out=str(out), epochs=3), log=logs.append)
    assert not any("cached reference" in line for line in logs)
    # the same parameterisation on step labels: one target per step, at each closing newline
    steps = run(dataclasses.replace(cfg, out=str(tmp_path / "steps"), target="steps"), log=logs.append)
    assert steps["report"]["trained steps"] == sum(len(e.solution.steps) for e in read(small_data / "train.jsonl"))


def test_lora_trains_adapters_and_saves_a_merged_scorer(small_data, tmp_path):
    from prmkit.backends.hf_transformers import HFStepScorer
    from prmkit.pipelines.train import _load

    cfg = TrainConfig(model="bundled-policy", data=str(small_data / "train.jsonl"), out=str(tmp_path / "lora"),
                      lora_r=4, lora_alpha=8, epochs=2, lr=3e-3)
    model, _, _, _ = _load(cfg)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    assert 0 < trainable < total / 3  # adapters, the new head and the embeddings of the added tag only
    run(cfg, log=lambda s: None)
    assert not (tmp_path / "lora" / "adapter_config.json").exists()  # merged: a plain model folder
    scorer = HFStepScorer.from_pretrained(str(tmp_path / "lora"))
    ex = list(read(small_data / "train.jsonl"))[:3]
    assert all(0.0 < v < 1.0 for s in scorer.score([e.problem for e in ex], [e.solution for e in ex]) for v in s.values)


def test_pretrained_minilm_encoder_as_backbone(small_data, tmp_path, prmkit_cli):
    out = tmp_path / "minilm"
    summary = run(TrainConfig(model="minilm", data=str(small_data / "train.jsonl"), out=str(out), epochs=1, lr=1e-4,
                              batch_size=8), log=lambda s: None)
    assert summary["report"]["trained steps"] == sum(len(e.solution.steps) for e in read(small_data / "train.jsonl"))
    assert json.loads((out / "config.json").read_text())["model_type"] == "bert"
    scores = tmp_path / "scores.jsonl"
    prmkit_cli("score", small_data / "train.jsonl", "--model", out, "--out", scores)
    assert all(len(e.scores) == len(e.solution.steps) for e in read(scores))


def test_truncation_reports_the_steps_it_cannot_train_on(small_data, tmp_path):
    from collections import Counter

    from prmkit.backends.hf_transformers import HFStepScorer
    from prmkit.pipelines.train import _load

    examples = list(read(small_data / "train.jsonl"))
    model, tok, spec, _ = _load(TrainConfig(model="bundled-policy", data="-", out=str(tmp_path)))
    full = HFStepScorer(model, tok, spec)
    lengths = [full.encode(e.problem, e.solution.steps) for e in examples]
    cut = HFStepScorer(model, tok, spec, max_length=40)
    report = Counter()
    encode_examples(examples, cut, "soft", report)
    lost = sum(p >= 40 for enc in lengths for p in enc.read_positions)
    assert lost > 0 and report["labelled steps past max_length (not trained on)"] == lost
    assert report["trained steps"] + lost == sum(len(e.solution.steps) for e in examples)


def test_shipped_configs_are_valid_training_configs():
    from importlib.resources import files

    import yaml

    from prmkit.backends.families import get_spec
    from prmkit.cli.common import build_config

    configs = sorted(files("prmkit").joinpath("configs/train").iterdir(), key=lambda p: p.name)
    assert len(configs) >= 4
    for path in configs:
        cfg = build_config(TrainConfig, yaml.safe_load(path.read_text()), "training")
        assert isinstance(cfg.lr, float) and get_spec(cfg.spec).name == cfg.spec, path.name


def test_cli_numbers_in_yaml_1_1_spelling_become_numbers():
    from prmkit.cli.common import build_config

    cfg = build_config(TrainConfig, {"model": "m", "data": "d", "out": "o", "lr": "1e-3", "epochs": "2"}, "training")
    assert cfg.lr == 0.001 and cfg.epochs == 2.0
    import typer

    with pytest.raises(typer.Exit):
        build_config(TrainConfig, {"model": "m", "data": "d", "out": "o", "lr": "fast"}, "training")
