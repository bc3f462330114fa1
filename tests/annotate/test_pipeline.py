"""Annotation jobs on the real bundled policy: the report, budgets, settings checks, kill -9 / resume, and
the job folder's lock (a second copy refuses, a killed job's lock is free again)."""

import json
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from prmkit.data import read, write
from prmkit.jobfolder import JobInUseError, lock, start_paused
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


@pytest.mark.parametrize("option, value", [("--limit", "0"), ("--limit", "-5"), ("--rollout-tokens", "0"),
                                           ("--max-rollouts", "-1")])
def test_out_of_range_options_are_refused_in_one_line(world_file, tmp_path, prmkit_cli, option, value):
    # --limit -5 used to label all but the last five; --rollout-tokens 0 sampled empty rollouts
    result = prmkit_cli("annotate", "mc", world_file, "--generator", BUNDLED_POLICY, "--out", tmp_path / "job",
                        "--limit", "1", option, value, check=False)
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith(f"error: {option} must be at least ") and f"got {value}" in result.stderr
    assert not (tmp_path / "job").exists()  # refused before any work
    with pytest.raises(ValueError, match="max_tokens must be at least 1, got 0"):
        _config(world_file, tmp_path, max_tokens=0)


@pytest.mark.parametrize("generator", ["/no/such/policy", "runs/a/b"])
def test_a_missing_generator_folder_is_one_line_before_any_hub_request(world_file, tmp_path, prmkit_cli, generator):
    result = prmkit_cli("annotate", "mc", world_file, "--generator", generator, "--out", tmp_path / "job", check=False)
    assert result.returncode == 2, result.stderr
    assert result.stderr == f"error: generator {generator}: no such folder (nor a URL, a generator name or a hub id)\n"


def test_the_report_is_written_through_a_temp_file_of_this_process(world_file, tmp_path, monkeypatch):
    replaced = []
    real = os.replace
    monkeypatch.setattr(os, "replace", lambda src, dst: (replaced.append((Path(src), Path(dst))), real(src, dst))[1])
    (tmp_path / ".report.json.tmp").write_text("another run's half-written report")
    run(_config(world_file, tmp_path, methods=("tool",)))
    src = next(src for src, dst in replaced if dst == tmp_path / "report.json")
    assert src.parent == tmp_path and str(os.getpid()) in src.name
    assert (tmp_path / ".report.json.tmp").read_text() == "another run's half-written report"  # not someone else's


def test_job_lock_names_its_holder_and_dies_with_it(tmp_path):
    code = ("import sys; from prmkit.jobfolder import lock\n"
            "with lock(sys.argv[1]):\n    print('locked', flush=True); sys.stdin.read()")
    holder = subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline() == "locked\n"  # blocks until the lock is held: nothing to race
    with pytest.raises(JobInUseError, match=f"^job in use by pid {holder.pid}: ") as refused:
        with lock(tmp_path):
            pass
    assert refused.value.pid == holder.pid
    holder.kill()  # SIGKILL: no cleanup runs, the pid stays in the file, the kernel drops the lock
    holder.wait()
    assert (tmp_path / "job.lock").read_text() == f"{holder.pid}\n"
    with lock(tmp_path):
        assert (tmp_path / "job.lock").read_text() == f"{os.getpid()}\n"
        with pytest.raises(JobInUseError, match=f"pid {os.getpid()}"):  # one holder, even within a process
            with lock(tmp_path):
                pass
    assert (tmp_path / "job.lock").read_text() == ""  # a clean end


def test_a_second_copy_of_a_running_job_refuses_at_once(world_file, tmp_path):
    exe = str(Path(sys.executable).with_name("prmkit"))
    cmd = [exe, "annotate", "tool", str(world_file), "--chunk-size", "4", "--out", str(tmp_path / "job")]
    first = start_paused(cmd, "chunk:1", tmp_path / "paused", log=tmp_path / "first.log")  # holds the lock
    second = subprocess.run(cmd, capture_output=True, text=True)
    assert second.returncode == 2 and second.stderr.count("\n") == 1, second.stderr  # one line, no traceback
    assert second.stderr.startswith(f"error: job in use by pid {first.pid}: ")
    assert _chunks_done(tmp_path / "job" / "job.sqlite") == 1  # the second copy did no work
    (tmp_path / "paused").unlink()  # let the first go on
    assert first.wait() == 0, (tmp_path / "first.log").read_text()
    from prmkit.annotate.tool_check import tool_labels

    got = list(read(tmp_path / "job" / "tool.jsonl"))
    assert [ex.labels.values for ex in got] == [tool_labels(ex.solution.steps).values for ex in read(world_file)]
    with sqlite3.connect(tmp_path / "job" / "job.sqlite") as con:
        assert con.execute("SELECT COUNT(*), COUNT(DISTINCT position) FROM results").fetchone() == (12, 12)


def _chunks_done(db: Path) -> int:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:
        return con.execute("SELECT COUNT(*) FROM chunks").fetchone()[0]


def test_kill_9_mid_job_then_rerun_gives_the_uninterrupted_result(world_file, tmp_path):
    exe = str(Path(sys.executable).with_name("prmkit"))
    args = ["annotate", "mc", str(world_file), "--generator", str(BUNDLED_POLICY), "--k", "4", "--chunk-size", "1",
            "--rollout-tokens", "160", "--limit", "6"]
    whole, resumed = tmp_path / "whole", tmp_path / "resumed"
    reference = subprocess.Popen([exe, *args, "--out", str(whole)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    # meanwhile the job to kill: it blocks right after committing its third chunk, and the kill lands there
    job = start_paused([exe, *args, "--out", str(resumed)], "chunk:3", tmp_path / "paused", log=tmp_path / "job.log")
    os.kill(job.pid, signal.SIGKILL)
    job.wait()
    assert _chunks_done(resumed / "job.sqlite") == 3 and not (resumed / "mc.jsonl").exists()
    assert (resumed / "job.lock").read_text() == f"{job.pid}\n"  # the dead job's lock file, stale

    rerun = subprocess.run([exe, *args, "--out", str(resumed)], capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr  # the stale lock is no obstacle
    assert reference.wait() == 0
    a = [json.loads(line) for line in (whole / "mc.jsonl").read_text().splitlines()]
    b = [json.loads(line) for line in (resumed / "mc.jsonl").read_text().splitlines()]
    assert len(b) == 6 and [r["problem"]["id"] for r in b] == [r["problem"]["id"] for r in a]
    assert [r["labels"] for r in b] == [r["labels"] for r in a]
    with sqlite3.connect(resumed / "job.sqlite") as con:
        assert con.execute("SELECT COUNT(*), COUNT(DISTINCT position) FROM results").fetchone() == (6, 6)
        assert con.execute("SELECT COUNT(*) FROM chunks").fetchone()[0] == 6
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
    solutions = sum(any(v is not None for v in lab) for lab in labels)
    assert (f"{checked} of {steps} steps checkable, {solutions} of 400 solutions (F1 is over all of them), "
            f"{flagged} flagged") in result.stdout
    assert 0.9 * steps < checked < steps and 0 < flagged < 0.1 * steps
    by = json.loads((tmp_path / "report.json").read_text())["methods"]["tool"]["by_outcome"]
    assert by["wrong_answer"]["solutions"] + by["right_answer"]["solutions"] == 400
    # flags concentrate on wrong answers
    assert by["wrong_answer"]["flagged"] / by["wrong_answer"]["solutions"] > 2 * by["right_answer"]["flagged"] / by["right_answer"]["solutions"]


def test_tool_f1_is_over_all_solutions_with_the_checkable_count(tmp_path):
    """A solution with no checkable step predicts "no error", as every other method's unflagged solutions do:
    the ProcessBench F1 is over all 4 solutions, not the 2 the tool could check."""
    from prmkit.types import Example, Problem, Solution, StepLabels

    def ex(i, steps, labels):
        return Example(Problem(f"p{i}", "q"), Solution(steps), StepLabels(labels))

    data = tmp_path / "data.jsonl"
    write([ex(0, ["2 + 3 = 5", "5 * 2 = 10"], [1, 1]),          # checked, right: no error
           ex(1, ["2 + 3 = 6", "so 6"], [0, None]),             # checked, error found at step 0
           ex(2, ["Think first.", "Then answer."], [1, 1]),      # nothing to check, correct: "no error" is right
           ex(3, ["Guess a number.", "It is big."], [0, None])],  # nothing to check, wrong: "no error" is wrong
          data, "prmkit")
    report = run(AnnotateConfig(data=str(data), out=str(tmp_path / "job"), methods=("tool",)))
    tool = report["methods"]["tool"]
    assert tool["checkable_solutions"] == 2
    q = tool["quality"]
    assert q["coverage"] == 0.5 and q["f1_solutions"] == 4
    assert q["error_acc"] == 0.5 and q["correct_acc"] == 1.0   # over all solutions; over the checked two both were 1
    assert q["first_error_accuracy"] == 0.75
