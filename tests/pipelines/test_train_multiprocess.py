"""`accelerate launch` of prmkit's trainer on 2 CPU processes (gloo, loopback): one model, every file written once,
the implicit PRM's reference log-prob cache built once, and the same training as one process with the same
global batch (2 x 4 against 1 x 8)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from prmkit.data import write
from prmkit.world.export import world_examples


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_cpu_processes_train_the_same_model_as_one(tmp_path, prmkit_cli):
    from safetensors.torch import load_file

    data = tmp_path / "data.jsonl"
    write(world_examples(32, seed=11), data, "prmkit")
    options = [f"data={data}", "model=bundled-policy", "spec=prmkit-implicit", "epochs=2", "lr=1e-4", "save_steps=1000"]
    prmkit_cli("train", *options, f"out={tmp_path / 'one'}", "batch_size=8")
    accelerate = Path(sys.executable).with_name("accelerate")
    env = {**os.environ, "ACCELERATE_USE_CPU": "true", "OMP_NUM_THREADS": "1", "MASTER_ADDR": "127.0.0.1"}
    run = subprocess.run([str(accelerate), "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
                          "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_ip", "127.0.0.1",
                          "--main_process_port", str(_free_port()), "-m", "prmkit", "train", *options,
                          f"out={tmp_path / 'two'}", "batch_size=4"], env=env, capture_output=True, text=True,
                         timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    two = json.loads((tmp_path / "two" / "prmkit_train.json").read_text())
    one = json.loads((tmp_path / "one" / "prmkit_train.json").read_text())
    assert two["processes"] == 2 and one["processes"] == 1 and two["steps"] == one["steps"] == 8
    output = run.stdout + run.stderr
    assert output.count("cached reference log-probs of 32 solutions") == 1  # built by the main process only
    assert output.count("trained prmkit-implicit PRM on 32 solutions") == 1
    assert sorted(p.name for p in (tmp_path / "two").glob("*.safetensors")) == ["model.safetensors"]
    a, b = load_file(tmp_path / "one" / "model.safetensors"), load_file(tmp_path / "two" / "model.safetensors")
    init = load_file(tmp_path / "one" / "reference" / "model.safetensors")
    moved = max((a[k] - init[k]).abs().max().item() for k in init)
    assert moved > 1e-4  # training changed the weights ...
    assert max((a[k] - b[k]).abs().max().item() for k in a) < 1e-5  # ... and 2 x 4 changed them as 1 x 8 did
    # the reported loss is the main process's own half of each batch (transformers' training_loss is not gathered)
    assert two["train_loss"] == pytest.approx(one["train_loss"], abs=0.03)
    bench = tmp_path / "bench.json"
    write(world_examples(3, seed=7), bench, "processbench")
    prmkit_cli("score", bench, "--model", tmp_path / "two", "--out", tmp_path / "scores.jsonl")
    rows = [json.loads(line) for line in (tmp_path / "scores.jsonl").read_text().splitlines()]
    assert len(rows) == 3 and all(v is not None for r in rows for v in r["scores"]["values"])
