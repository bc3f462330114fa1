"""prmkit.sandbox against real hostile blocks, in real subprocesses.

Each run is bounded by the sandbox's own limits (small ones here, to keep the file fast); the tests assert
statuses and outputs, never timings. Isolation tests skip, with the reason, where ``available()`` says the
namespace sandbox cannot be built (e.g. a container that forbids user namespaces).
"""

from __future__ import annotations

import json
import os
import select
import socket
import tempfile
from pathlib import Path

import pytest

from prmkit import sandbox
from prmkit.sandbox import SandboxLimits, SandboxUnavailable, run_python

REPO = Path(__file__).resolve().parents[1]
FAST = SandboxLimits(cpu_seconds=1, wall_seconds=3)


@pytest.fixture(scope="module", autouse=True)
def isolation():
    reason = sandbox.available()
    if reason is not None:
        pytest.skip(reason)


def _sandboxed_processes() -> int:
    """Live processes started by the sandbox (their command line carries the prelude's marker)."""
    count = 0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            count += b"prmkit-sandbox" in Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            pass
    return count


def test_a_normal_block_prints_its_result():
    result = run_python("print(12 - 5)")
    assert (result.status, result.returncode, result.truncated, result.as_text()) == ("ok", 0, False, "7")


def test_cwd_is_a_fresh_private_directory_removed_afterwards():
    before = set(Path(tempfile.gettempdir()).glob("prmkit-sandbox-*"))
    code = "import os\nprint(os.listdir('.'))\nopen('mine.txt', 'w').write('x')\nprint(os.listdir('.'), os.getcwd())"
    first, second = run_python(code, FAST), run_python(code, FAST)
    assert first.stdout == second.stdout == "[]\n['mine.txt'] /tmp\n"  # the second run does not see the first's file
    assert set(Path(tempfile.gettempdir()).glob("prmkit-sandbox-*")) == before


def test_the_parents_environment_is_not_inherited(monkeypatch):
    names = ["PRMKIT_TEST_SECRET", "HF_TOKEN", "OPENAI_API_KEY"]
    for name in names:
        monkeypatch.setenv(name, "s3cret")
    code = f"import os, json\nprint(json.dumps([[os.environ.get(n) for n in {names!r}], sorted(os.environ)]))"
    result = run_python(code)
    values, keys = json.loads(result.stdout)
    assert values == [None, None, None]
    assert set(keys) <= {"PATH", "LANG", "HOME", "TMPDIR", "PWD", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"}


def test_an_endless_loop_hits_the_cpu_limit():
    result = run_python("while True:\n    pass", FAST)
    assert result.status == "cpu" and result.as_text() == "TimeoutError: CPU time limit 1 s"


def test_a_sleeping_block_hits_the_wall_limit():
    result = run_python("import time\ntime.sleep(60)", SandboxLimits(wall_seconds=1))
    assert (result.status, result.returncode) == ("timeout", None)
    assert result.as_text() == "TimeoutError: wall time limit 1 s"


def test_a_fork_bomb_is_contained_and_leaves_nothing_behind():
    result = run_python("import os\nwhile True:\n    os.fork()", FAST)
    assert result.status == "error"  # stopped by RLIMIT_NPROC, not by a time limit
    assert "BlockingIOError" in result.as_text()
    assert _sandboxed_processes() == 0
    assert run_python("print('still here')").stdout == "still here\n"


def test_a_huge_allocation_is_a_memory_error():
    result = run_python("bytearray(10 * 1024**3)", FAST)
    assert result.status == "memory" and "MemoryError" in result.stderr
    assert result.as_text() == "MemoryError: memory limit 256 MB"


def test_writing_outside_its_directory_fails(tmp_path):
    targets = [tmp_path / "escaped.txt", REPO / "should_not_exist", Path.home() / "should_not_exist"]
    code = ("import subprocess\n"  # first try to undo the read-only mounts and the covers
            "subprocess.run('umount /tmp; umount /root; mount -o remount,bind,rw /', shell=True)\n"
            f"for path in {[str(t) for t in targets]!r}:\n"
            "    try:\n        open(path, 'w').write('x')\n        print('wrote')\n"
            "    except OSError as e:\n        print(type(e).__name__)")
    result = run_python(code, FAST)
    assert result.status == "ok" and "wrote" not in result.stdout and len(result.stdout.split()) == 3
    assert not any(t.exists() for t in targets)


def test_home_and_tmp_are_hidden(tmp_path):
    (tmp_path / "secret.txt").write_text("token")
    code = (f"import os\nprint(os.path.exists({str(tmp_path / 'secret.txt')!r}))\n"
            f"print(sorted(os.listdir({str(Path.home())!r})))")
    exists, listing = run_python(code, FAST).stdout.splitlines()
    assert exists == "False"
    # only the path down to the interpreter (bound back read-only) may show
    home = str(Path.home().resolve())
    needed = {d[len(home) + 1:].split("/")[0] for d in sandbox._interpreter_dirs() if d.startswith(home + "/")}
    assert set(eval(listing)) <= needed


def test_no_connection_reaches_a_loopback_listener():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        code = ("import socket\ntry:\n"
                f"    socket.create_connection(('127.0.0.1', {port}), timeout=1)\n    print('connected')\n"
                "except OSError as e:\n    print('failed', e.errno)")
        result = run_python(code, FAST)
        assert result.status == "ok" and result.stdout.startswith("failed")
        assert select.select([server], [], [], 0)[0] == []  # the listener saw nothing


@pytest.mark.parametrize("code", ["print('x' * 10_000_000)", "while True:\n    print('y' * 100)"])
def test_endless_output_is_cut_and_stopped(code):
    result = run_python(code, FAST)
    assert (result.status, result.truncated, len(result.stdout)) == ("output_limit", True, FAST.output_chars)
    assert result.as_text().endswith("OutputLimitError: more than 2000 characters of output")


@pytest.mark.parametrize("code", ["\x00", "\ud800", "raise SystemExit(3)", "import os\nos.close(1)\nos.close(2)"])
def test_odd_blocks_give_results_not_exceptions(code):
    result = run_python(code, FAST)
    assert result.status in ("error", "ok") and result.as_text() is not None


def test_the_scorer_carries_on_after_hostile_blocks():
    hostile = ["import os\nwhile True:\n    os.fork()", "bytearray(10 * 1024**3)", "while True:\n    print('z')",
               "import os, signal\nos.kill(os.getpid(), signal.SIGSEGV)"]
    assert [run_python(code, FAST).status for code in hostile] == ["error", "memory", "output_limit", "error"]
    assert run_python("print(sum(range(10)))").as_text() == "45"


def test_required_isolation_that_cannot_be_built_raises_one_line(monkeypatch):
    monkeypatch.setattr(sandbox, "available", lambda: "sandbox unavailable: unshare: Operation not permitted")
    with pytest.raises(SandboxUnavailable) as info:
        run_python("print(1)")
    assert "\n" not in str(info.value) and "Operation not permitted" in str(info.value)
    assert run_python("print(1)", network_isolation="off").stdout == "1\n"  # the explicit, unsafe opt-out


def test_a_missing_tool_makes_isolation_unavailable(monkeypatch):
    monkeypatch.setattr(sandbox.shutil, "which", lambda *a, **k: None)
    sandbox.available.cache_clear()
    try:
        reason = sandbox.available()
        assert reason is not None and "\n" not in reason and "not found" in reason
        with pytest.raises(SandboxUnavailable):
            run_python("print(1)")
    finally:
        sandbox.available.cache_clear()


def test_isolation_off_still_uses_a_fresh_directory_and_a_clean_env(monkeypatch):
    monkeypatch.setenv("PRMKIT_TEST_SECRET", "s3cret")
    result = run_python("import os\nprint(os.getcwd(), os.environ.get('PRMKIT_TEST_SECRET'))", FAST,
                        network_isolation="off")
    cwd, secret = result.stdout.split()
    assert Path(cwd).name.startswith("prmkit-sandbox-") and not Path(cwd).exists() and secret == "None"


def test_misuse_raises():
    with pytest.raises(ValueError):
        run_python("print(1)", network_isolation="auto")
    with pytest.raises(ValueError):
        SandboxLimits(cpu_seconds=0)
    with pytest.raises(TypeError):
        run_python(b"print(1)")
