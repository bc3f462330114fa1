"""Annotation jobs on the real bundled policy: the report, budgets, settings checks, and kill -9 / resume."""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from prmkit.data import read, write
from prmkit.pipelines.annotate import AnnotateConfig, run
from prmkit.world.export import world_examples
from prmkit.world.policy import BUNDLED_POLICY


@pytest.fixture(scope="module")
def world_file(tmp_path_factory):
    """12 policy samples on unseen world problems, with exact labels (prmkit JSONL)."""
    path = tmp_path_factory.mktemp("world") / "world.jsonl"
    write(world_examples(12, seed=5), path, "prmkit")
    return path


def _config(world_file, out, **kw):
    base = dict(data=str(world_file), out=str(out), generator=str(BUNDLED_POLICY), k=4, probe_size=4,
                chunk_size=4, max_tokens=160)
    return AnnotateConfig(**{**base, **kw})


def test_mc_and_binary_search_on_the_bundled_policy(world_file, tmp_path, prmkit_cli):
    report = run(_config(world_file, tmp_path, methods=("mc", "binary-search", "tool"), consensus=("mc+tool",),
                         generator_options={"max_batch_size": 32}, judge_options={"api_key": "sk-secret"}))
    assert report["config"]["judge_options"] == {"api_key": "***"}  # secrets never reach report.json
    assert "sk-secret" not in (tmp_path / "report.json").read_text()
    mc, bs = report["methods"]["mc"], report["methods"]["binary-search"]
    assert report["gold"] and mc["labelled"] == bs["labelled"] == 12
    steps = report["steps"]
    wrong = sum(not ex.correct for ex in read(world_file))
    # exhaustive MC: 4 rollouts per prefix except the last step; binary search only probes wrong solutions
    assert mc["rollouts"] == 4 * (steps - 12)
    assert 0 < bs["rollouts"] <= 4 * 3 * wrong  # at most ceil(log2 7) = 3 probes of 4 rollouts each
    assert mc["tokens"] > mc["rollouts"] and mc["seconds"] > 0
    for name in ("mc", "binary-search"):
        q = report["methods"][name]["quality"]
        assert q["coverage"] == 1.0 and 0.3 <= q["first_error_accuracy"] <= 1.0, q
    # the outputs: soft MC labels survive in prmkit and TRL format, with the gold kept beside them
    labelled = list(read(mc["outputs"]["prmkit"]))
    assert len(labelled) == 12 and all(ex.labels.kind == "soft" for ex in labelled)
    assert all(len(ex.problem.metadata["gold_labels"]) == len(ex.solution.steps) for ex in labelled)
    trl = list(read(mc["outputs"]["trl"], "trl-stepwise"))
    assert [ex.labels.values for ex in trl] == [ex.labels.values for ex in labelled]
    assert json.loads((tmp_path / "report.json").read_text())["methods"]["mc"]["rollouts"] == mc["rollouts"]
    # consensus of the two output files, by the CLI, keeps what the job's own consensus kept
    cons = prmkit_cli("annotate", "consensus", mc["outputs"]["prmkit"], report["methods"]["tool"]["outputs"]["prmkit"],
                      "--out", tmp_path / "cons", "--json", tmp_path / "cons.json")
    assert "kept" in cons.stdout
    by_files = json.loads((tmp_path / "cons.json").read_text())
    in_job = report["methods"]["consensus:mc+tool"]
    assert by_files["kept"] == in_job["labelled"] and by_files["unmatched"] == 0
    assert by_files["quality"]["consensus"] == in_job["quality"]
    # a second run finds every chunk done and changes nothing
    again = run(_config(world_file, tmp_path, methods=("mc", "binary-search", "tool"), consensus=("mc+tool",),
                        generator_options={"max_batch_size": 32}))
    assert again["methods"]["mc"]["quality"] == mc["quality"] and again["methods"]["mc"]["seconds"] == mc["seconds"]


def test_a_budget_stops_the_job_and_a_larger_one_finishes_it(world_file, tmp_path):
    report = run(_config(world_file, tmp_path, max_rollouts=1))
    assert report["stopped"].startswith("max_rollouts 1 reached")
    first = report["methods"]["mc"]["labelled"]
    assert first == 4 and report["methods"]["mc"]["unlabelled"] == 8  # one chunk, then the budget was spent
    report = run(_config(world_file, tmp_path))
    assert report["stopped"] is None and report["methods"]["mc"]["labelled"] == 12
    tokens = run(_config(world_file, tmp_path / "tokens", max_tokens_budget=1))
    assert tokens["stopped"].startswith("max_tokens 1 reached") and tokens["methods"]["mc"]["labelled"] == 4
    # the first chunk is the same work in both jobs: same seed, same cache, same labels
    a, b = (list(read(Path(r["methods"]["mc"]["outputs"]["prmkit"])))[:4] for r in (report, tokens))
    assert [x.labels for x in a] == [x.labels for x in b]


def test_reopening_a_job_with_other_settings_is_refused(world_file, tmp_path):
    run(_config(world_file, tmp_path, limit=4))
    with pytest.raises(ValueError, match=r"other mc settings \(k: 4 then 8\)"):
        run(_config(world_file, tmp_path, limit=4, k=8))
    with pytest.raises(ValueError, match="other input settings"):
        run(_config(world_file, tmp_path, limit=3))


def test_bad_configs_are_refused_up_front(world_file, tmp_path):
    with pytest.raises(ValueError, match="need a rollout generator"):
        AnnotateConfig(data=str(world_file), out=str(tmp_path), methods=("binary-search",))
    with pytest.raises(ValueError, match="unknown method 'montecarlo'"):
        AnnotateConfig(data=str(world_file), out=str(tmp_path), methods=("montecarlo",))
    with pytest.raises(ValueError, match="unknown judge prompt 'chatty'"):
        AnnotateConfig(data=str(world_file), out=str(tmp_path), methods=("judge",), judge="x", judge_prompt="chatty")
    with pytest.raises(ValueError, match="consensus 'mc\\+judge' must be two of the methods run"):
        AnnotateConfig(data=str(world_file), out=str(tmp_path), methods=("mc",), generator="x", consensus=("mc+judge",))


def _chunks_done(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as con:
            return con.execute("SELECT COUNT(*) FROM chunks").fetchone()[0]
    except sqlite3.OperationalError:  # the job is still creating its tables
        return 0


def test_kill_9_mid_job_then_rerun_gives_the_uninterrupted_result(world_file, tmp_path):
    exe = str(Path(sys.executable).with_name("prmkit"))
    args = ["annotate", "mc", str(world_file), "--generator", str(BUNDLED_POLICY), "--k", "4", "--chunk-size", "1",
            "--rollout-tokens", "160", "--limit", "8"]
    whole, resumed = tmp_path / "whole", tmp_path / "resumed"
    subprocess.run([exe, *args, "--out", str(whole)], check=True, capture_output=True)

    job = subprocess.Popen([exe, *args, "--out", str(resumed)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while _chunks_done(resumed / "job.sqlite") < 3 and time.time() < deadline and job.poll() is None:
        time.sleep(0.02)
    assert job.poll() is None, "the job ended before it could be killed"
    os.kill(job.pid, signal.SIGKILL)
    job.wait()
    done_at_kill = _chunks_done(resumed / "job.sqlite")
    assert 3 <= done_at_kill < 8 and not (resumed / "mc.jsonl").exists()

    subprocess.run([exe, *args, "--out", str(resumed)], check=True, capture_output=True)
    a = [json.loads(line) for line in (whole / "mc.jsonl").read_text().splitlines()]
    b = [json.loads(line) for line in (resumed / "mc.jsonl").read_text().splitlines()]
    assert len(b) == 8 and [r["problem"]["id"] for r in b] == [r["problem"]["id"] for r in a]
    assert [r["labels"] for r in b] == [r["labels"] for r in a]
    with sqlite3.connect(resumed / "job.sqlite") as con:
        assert con.execute("SELECT COUNT(*), COUNT(DISTINCT position) FROM results").fetchone() == (8, 8)
        assert con.execute("SELECT COUNT(*) FROM chunks").fetchone()[0] == 8
    ra, rb = (json.loads((d / "report.json").read_text())["methods"]["mc"] for d in (whole, resumed))
    assert (ra["rollouts"], ra["tokens"], ra["quality"]) == (rb["rollouts"], rb["tokens"], rb["quality"])


def test_tool_command_on_real_gsm8k_solutions(shared_data, tmp_path, prmkit_cli):
    from prmkit.annotate.tool_check import tool_labels

    src = shared_data / "gsm8k" / "example_model_solutions.jsonl.gz"
    result = prmkit_cli("annotate", "tool", src, "--format", "gsm8k-solutions", "--limit", "400", "--out", tmp_path)
    examples = list(read(src, "gsm8k-solutions"))[:400]
    labels = [tool_labels(ex.solution.steps).values for ex in examples]
    checked = sum(v is not None for lab in labels for v in lab)
    flagged = sum(v == 0.0 for lab in labels for v in lab)
    steps = sum(len(lab) for lab in labels)
    assert f"{checked} of {steps} steps checkable, {flagged} flagged" in result.stdout
    assert 0.9 * steps < checked < steps and 0 < flagged < 0.1 * steps
    by = json.loads((tmp_path / "report.json").read_text())["methods"]["tool"]["by_outcome"]
    assert by["wrong_answer"]["solutions"] + by["right_answer"]["solutions"] == 400
    # flags concentrate on wrong answers
    assert by["wrong_answer"]["flagged"] / by["wrong_answer"]["solutions"] > 2 * by["right_answer"]["flagged"] / by["right_answer"]["solutions"]
