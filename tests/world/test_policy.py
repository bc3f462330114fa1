"""The bundled policy loads as a plain HF model, is small, and samples checkable solutions; training resumes."""

import json
import os
import signal
import subprocess
import sys

import pytest

from prmkit.jobfolder import start_paused
from prmkit.world import check, generate
from prmkit.world.policy import (BUNDLED_POLICY, PolicyTrainConfig, build_tokenizer, evaluate_policy, sample_solutions,
                                 train_policy)


def test_bundled_policy_is_a_small_hf_model():
    from transformers import AutoModelForCausalLM, AutoTokenizer

    size = sum(f.stat().st_size for f in BUNDLED_POLICY.iterdir())
    assert size <= 10 * 2**20, f"bundled policy is {size / 2**20:.1f} MB"
    model = AutoModelForCausalLM.from_pretrained(BUNDLED_POLICY)
    tok = AutoTokenizer.from_pretrained(BUNDLED_POLICY)
    assert model.config.model_type == "llama" and model.generation_config.do_sample
    text = "Mia has 12 apples. Mia buys 7 more apples. How many apples does Mia have now?\n12 + 7 = 19\nThe answer is 19."
    ids = tok(text, add_special_tokens=False)["input_ids"]
    assert tok.decode(ids) == text and tok.unk_token_id not in ids  # the reloaded tokenizer is the saved one
    assert tok.convert_ids_to_tokens(tok(" 12", add_special_tokens=False)["input_ids"]) == [" 1", "2"]


def test_bundled_policy_solves_some_and_fails_some():
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model, tok = AutoModelForCausalLM.from_pretrained(BUNDLED_POLICY), AutoTokenizer.from_pretrained(BUNDLED_POLICY)
    problems = generate(12, seed=123, prefix="t")
    greedy = sample_solutions(model, tok, problems, n=1, temperature=0, seed=0)
    results = [check(p, s[0]) for p, s in zip(problems, greedy)]
    assert all(r.steps for r in results)  # it writes steps...
    r = evaluate_policy(model, tok, problems=24, samples=4, seed=77)
    assert 0.1 < r["accuracy"] < 0.95 and r["error_kinds"]  # ...some right, some wrong, checkably


def test_training_is_killed_and_resumed(tmp_path):
    """A real run is killed with SIGKILL while it waits at its first checkpoint; the rerun resumes there and
    ends where an uninterrupted run ends."""
    import torch

    cfg = dict(train_problems=300, max_steps=6, eval_every=2, eval_problems=2, eval_samples=1, target_accuracy=None,
               near_accuracy=2.0, eval_max_tokens=4, batch_size=8, hidden=32, layers=1, heads=2)
    code = ("import sys, json; from prmkit.world.policy import train_policy, PolicyTrainConfig; "
            "train_policy(sys.argv[1], PolicyTrainConfig(**json.loads(sys.argv[2])), log=lambda s: print(s, flush=True))")
    out = tmp_path / "run"
    cmd = [sys.executable, "-c", code, str(out), json.dumps(cfg)]
    proc = start_paused(cmd, "checkpoint:1", tmp_path / "paused", log=tmp_path / "run.log", start_new_session=True)
    os.killpg(proc.pid, signal.SIGKILL)  # it is blocked just after writing checkpoint.pt at step 2
    proc.wait()
    assert torch.load(out / "checkpoint.pt", weights_only=False)["step"] == 2
    assert not (out / "model.safetensors").exists()
    with open(tmp_path / "rerun.log", "w") as log:
        rerun = subprocess.Popen(cmd, stdout=log, stderr=log)
    train_policy(tmp_path / "whole", PolicyTrainConfig(**cfg), log=lambda s: None)  # meanwhile: the reference
    assert rerun.wait(timeout=300) == 0, (tmp_path / "rerun.log").read_text()[-2000:]
    assert "resuming from step 2\n" in (tmp_path / "rerun.log").read_text()
    history = json.loads((out / "prmkit_policy.json").read_text())["history"]
    assert [h["step"] for h in history] == [2, 4, 6]  # nothing lost, nothing repeated
    assert not (out / "checkpoint.pt").exists() and (out / "model.safetensors").exists()
    uninterrupted = json.loads((tmp_path / "whole" / "prmkit_policy.json").read_text())["history"]
    assert [{**h, "seconds": 0} for h in history] == [{**h, "seconds": 0} for h in uninterrupted]


def test_resume_refuses_another_config(tmp_path):
    import torch

    torch.save({"config": {"seed": 99}}, tmp_path / "checkpoint.pt")
    from prmkit.world.policy import train_policy

    with pytest.raises(ValueError, match="another config"):
        train_policy(tmp_path, PolicyTrainConfig(max_steps=1), log=lambda s: None)
    assert len(build_tokenizer()) > 100
