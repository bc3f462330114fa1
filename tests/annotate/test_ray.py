"""Annotation on a local Ray cluster (the session's, 2 CPUs): the labels of every method (MC, binary search, the
judge, the tool check, a generative verifier) and the job store equal a run in one
process, byte for byte, with 2 workers, with a worker killed mid-chunk, and with the driver killed and rerun;
a generator's error fails its chunk by name; every socket of the cluster is on 127.0.0.1."""

import json
import os
import signal
import sqlite3
import sys
from pathlib import Path

import psutil
import pytest

from prmkit.data import write
from prmkit.jobfolder import start_paused
from prmkit.pipelines.annotate import AnnotateConfig, run
from prmkit.world.export import world_examples
from prmkit.world.judge import BUNDLED_JUDGE
from prmkit.world.policy import BUNDLED_POLICY

METHODS = ("mc", "binary-search", "judge", "tool", "verifier")


@pytest.fixture(scope="module")
def world_file(tmp_path_factory):
    """14 policy solutions with exact labels. Chunk 1 repeats two solutions of chunk 0, so the two chunks,
    started together on two workers, share rollout prefixes: chunk 1 must be rerun on chunk 0's rollouts."""
    w = world_examples(12, seed=5)
    path = tmp_path_factory.mktemp("world") / "world.jsonl"
    write(w[:4] + w[:2] + w[4:], path, "prmkit")
    return path


def _config(world_file, out, **kw):
    base = dict(data=str(world_file), out=str(out), methods=METHODS, generator=str(BUNDLED_POLICY), judge=str(BUNDLED_JUDGE),
                judge_prompt="world", judge_max_tokens=256, consensus=("mc+judge",), k=4, probe_size=4, chunk_size=4,
                max_tokens=160, verifier="bundled-verifier", verifier_spec="generative,k=1")
    return AnnotateConfig(**{**base, **kw})


@pytest.fixture(scope="module")
def local(world_file, tmp_path_factory):
    """The single-process run of every method: the folder every Ray run is compared with."""
    out = tmp_path_factory.mktemp("local")
    run(_config(world_file, out))
    mc_only = tmp_path_factory.mktemp("local-mc")
    run(_config(world_file, mc_only, methods=("mc",), consensus=()))
    return {METHODS: out, ("mc",): mc_only}


def _store(folder: Path) -> dict:
    """Every row of the job store but the timings (results, rollouts, chunks), sorted."""
    with sqlite3.connect(f"file:{folder / 'job.sqlite'}?mode=ro", uri=True) as con:
        return {"results": sorted(con.execute("SELECT * FROM results")),
                "rollouts": sorted(con.execute("SELECT * FROM rollouts")),
                "chunks": sorted(con.execute("SELECT method, chunk, generated, generated_tokens FROM chunks"))}


def _close(got, want) -> bool:
    """Equal, but for floats, which may differ in their last bits (JSON text is compared parsed).

    The verifier's soft labels are probabilities from the model's logits, and CPU matrix kernels do not
    promise the same last bit in two processes (a 1e-7 difference was seen once, in a fresh clone); the text it
    generated, its verdicts and every other method's labels are compared exactly."""
    if isinstance(got, float) or isinstance(want, float):
        return isinstance(got, (int, float)) and isinstance(want, (int, float)) and abs(got - want) <= 1e-6
    if isinstance(got, str) and isinstance(want, str) and got[:1] in "{[" and got != want:
        try:
            return _close(json.loads(got), json.loads(want))
        except ValueError:
            return False
    if isinstance(got, (list, tuple)) and isinstance(want, (list, tuple)):
        return len(got) == len(want) and all(_close(a, b) for a, b in zip(got, want))
    if isinstance(got, dict) and isinstance(want, dict):
        return got.keys() == want.keys() and all(_close(got[k], want[k]) for k in got)
    return got == want


def _same_as(reference: Path, folder: Path, methods) -> None:
    names = [*methods, *(["consensus-mc-judge"] if "judge" in methods else [])]
    for name in names:
        for suffix in (".jsonl", ".trl.jsonl"):
            got, want = (folder / f"{name}{suffix}").read_bytes(), (reference / f"{name}{suffix}").read_bytes()
            if name == "verifier":
                assert _close(got.decode().splitlines(), want.decode().splitlines()), name
            else:
                assert got == want, name
    got, want = _store(folder), _store(reference)
    for table in got:  # every label, rollout and chunk once: none lost, none twice, none different
        exact = [[row for row in rows if "verifier" not in row] for rows in (got[table], want[table])]
        assert exact[0] == exact[1], table
        assert _close([row for row in got[table] if "verifier" in row],
                      [row for row in want[table] if "verifier" in row]), table
    with sqlite3.connect(folder / "job.sqlite") as con:
        assert con.execute("SELECT COUNT(*) FROM results WHERE method = 'mc'").fetchone()[0] == 14


def test_two_workers_give_the_local_labels_byte_for_byte(ray_cluster, world_file, local, tmp_path, off_loopback):
    seen = []

    def progress(method, done, total, spent):  # the driver, between chunks: the actors are up
        seen.extend(off_loopback())

    report = run(_config(world_file, tmp_path, executor="ray", workers=2), progress=progress)
    assert seen == []
    _same_as(local[METHODS], tmp_path, METHODS)
    assert report["ray"]["workers"] == 2
    assert report["ray"]["reruns"] >= 1  # chunk 1 read the prefixes chunk 0 was filling, and was run again
    assert report["ray"]["chunks"] == 4 * len(METHODS)  # 4 chunks of each method handed out once
    assert 0 < report["methods"]["verifier"]["unscored_steps"] < report["steps"]
    assert report["ray"]["work_seconds"] > 0 and report["ray"]["overhead_seconds"] > 0


def test_a_worker_killed_mid_chunk_is_retried_and_the_labels_are_unchanged(ray_cluster, world_file, local, tmp_path,
                                                                           monkeypatch):
    marker = tmp_path / "killed"
    monkeypatch.setenv("PRMKIT_KILL_AT", "rollouts:2")  # a worker's second rollout batch: its second chunk
    monkeypatch.setenv("PRMKIT_KILL_MARKER", str(marker))
    run(_config(world_file, tmp_path / "job", methods=("mc",), consensus=(), executor="ray", workers=2))
    assert int(marker.read_text()) != os.getpid()  # a worker wrote it just before it SIGKILLed itself
    _same_as(local[("mc",)], tmp_path / "job", ("mc",))


def test_the_driver_killed_and_rerun_resumes_with_the_same_labels(ray_cluster, world_file, local, tmp_path, off_loopback):
    exe = str(Path(sys.executable).with_name("prmkit"))
    job = tmp_path / "job"
    tag = f"prmkit-test-{os.getpid()}-{id(job)}"  # marks the killed driver's Ray processes, to clean up after it
    cmd = [exe, "annotate", "mc", str(world_file), "--generator", str(BUNDLED_POLICY), "--k", "4", "--chunk-size", "4",
           "--rollout-tokens", "160", "--executor", "ray", "--workers", "2", "--out", str(job)]
    env = {**os.environ, "PRMKIT_TEST_TAG": tag}
    driver = start_paused(cmd, "chunk:2", tmp_path / "paused", log=tmp_path / "driver.log", env=env, cwd=Path.cwd())
    try:
        assert off_loopback(driver.pid) == []  # the runtime the CLI started, actors up
        os.kill(driver.pid, signal.SIGKILL)
        driver.wait()
    finally:
        _kill_tagged(tag)
    with sqlite3.connect(job / "job.sqlite") as con:
        assert con.execute("SELECT COUNT(*) FROM chunks").fetchone()[0] == 2 and not (job / "mc.jsonl").exists()
    run(_config(world_file, job, methods=("mc",), consensus=(), executor="ray", workers=2))  # the rerun resumes
    _same_as(local[("mc",)], job, ("mc",))


def _kill_tagged(tag: str) -> None:
    """SIGKILL every process whose environment holds ``PRMKIT_TEST_TAG=tag``: Ray's agents outlive a
    SIGKILLed driver (its GCS, raylet and workers die with it)."""
    for proc in psutil.process_iter():
        try:
            if proc.environ().get("PRMKIT_TEST_TAG") == tag:
                proc.kill()
        except psutil.Error:
            continue


def test_a_generator_error_fails_its_chunk_by_name_after_committing_the_chunks_before(ray_cluster, world_file, tmp_path):
    from prmkit.data import read

    examples = list(read(world_file))
    bad = examples[5]
    examples[5] = type(bad)(type(bad.problem)(bad.problem.id, bad.problem.question + " REFUSE", bad.problem.answer),
                            bad.solution, bad.labels, None, bad.correct)
    write(examples, tmp_path / "bad.jsonl", "prmkit")
    config = _config(tmp_path / "bad.jsonl", tmp_path / "job", methods=("mc",), consensus=(), executor="ray", workers=2,
                     generator="tests.annotate.picky_generator:PickyGenerator")
    with pytest.raises(ValueError, match=r"^mc chunk 1 \(solutions .*\) failed on a Ray worker: ValueError: prompt \d+ "
                                         r"holds a word this backend refuses$"):
        run(config)
    with sqlite3.connect(tmp_path / "job" / "job.sqlite") as con:  # chunk 0 is kept; a rerun goes on from it
        assert con.execute("SELECT chunk FROM chunks").fetchall() == [(0,)]


def test_more_workers_than_the_cluster_holds_are_refused_up_front(ray_cluster, world_file, tmp_path):
    with pytest.raises(ValueError, match=r"^--workers 3 needs 3 CPU\(s\) and the Ray cluster has 2; "):
        run(_config(world_file, tmp_path, methods=("tool",), consensus=(), executor="ray", workers=3))
    with sqlite3.connect(tmp_path / "job.sqlite") as con:  # refused before any chunk ran
        assert con.execute("SELECT COUNT(*) FROM chunks").fetchone()[0] == 0
