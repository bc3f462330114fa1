"""Job folders: one writer at a time, and pause points where kill tests stop a job.

``lock(folder)`` takes an OS lock on ``folder/job.lock`` (``fcntl.flock``), so a second copy of the
same job refuses at once with ``job in use by pid N``. The kernel drops the lock when its process dies,
so a lock left by a killed job (even after SIGKILL) is free again at once: there is nothing to clean
up. The file holds only the holder's pid, for the message. Annotation and training jobs use it.

``pause_point(name)`` lets a test stop a job at a known point instead of racing a poll. With
``PRMKIT_PAUSE_AT=NAME:N`` (e.g. ``chunk:3``) and ``PRMKIT_PAUSE_MARKER=FILE``, the job writes its pid to
FILE at its N-th ``NAME`` point and blocks there until FILE is removed (it then goes on) or the job is
killed. Without them it does nothing. Points: ``chunk`` (an annotation chunk committed), ``checkpoint``
(a training checkpoint complete), ``save`` (a PRM checkpoint's weights written, its state not yet).
``start_paused(cmd, "chunk:3", marker)`` starts a command and returns once it has paused there.

``kill_point(name)`` is the same for a worker that must die mid-task: with ``PRMKIT_KILL_AT=NAME:N`` and
``PRMKIT_KILL_MARKER=FILE``, the process that reaches its N-th ``NAME`` point first creates FILE and kills
itself with SIGKILL. FILE is created exclusively, so exactly one process dies once per job, and its retry
(which finds FILE there) goes on. Point: ``rollouts`` (one rollout batch generated, the chunk not done).
"""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import time
from collections import Counter
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Optional

__all__ = ["JobInUseError", "lock", "pause_point", "kill_point", "start_paused", "LOCK_NAME", "PAUSE_ENV", "MARKER_ENV",
           "KILL_ENV", "KILL_MARKER_ENV"]

LOCK_NAME = "job.lock"
PAUSE_ENV = "PRMKIT_PAUSE_AT"
MARKER_ENV = "PRMKIT_PAUSE_MARKER"
KILL_ENV = "PRMKIT_KILL_AT"
KILL_MARKER_ENV = "PRMKIT_KILL_MARKER"
_MAX_PAUSE_S = 600.0  # a pause nobody ends (a crashed test) lets the job go on instead of hanging forever


class JobInUseError(ValueError):
    """Another process holds the job folder's lock.

    A ``ValueError``, as every other refused argument is (here the output folder), so each command
    prints it as its one-line error with exit code 2.

    Args:
        folder (`Path`): the job folder.
        pid (`int`, *optional*): the holder's pid, when it could be read.
    """

    def __init__(self, folder: Path, pid: Optional[int]) -> None:
        self.folder, self.pid = folder, pid
        who = f"pid {pid}" if pid is not None else "another process"
        super().__init__(f"job in use by {who}: {folder} is locked ({folder / LOCK_NAME}); wait for that run to "
                         "end, or use another output folder")


def _holder(fd: int) -> Optional[int]:
    """The pid in the lock file. The holder writes it just after taking the lock: wait a moment for it."""
    for _ in range(20):
        text = os.pread(fd, 32, 0).decode(errors="replace").strip()
        if text.isdigit():
            return int(text)
        time.sleep(0.05)
    return None


@contextmanager
def lock(folder: str | Path) -> Iterator[Path]:
    """Hold ``folder``'s job lock for the ``with`` block (the folder is created if missing).

    Raises ``JobInUseError`` at once if another process holds it; never waits. The lock belongs to
    this open file: a second ``lock`` of the same folder, even in the same process, is refused too.

    Example:
        >>> with lock(tmp) as folder:  # doctest: +SKIP
        ...     run_the_job(folder)
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise JobInUseError(folder, _holder(fd)) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        try:
            yield folder
        finally:
            os.ftruncate(fd, 0)  # a clean end leaves an empty file; a killed job leaves its pid (and no lock)
    finally:
        os.close(fd)  # closing drops the lock


_reached: Counter = Counter()


def pause_point(name: str) -> None:
    """Count one ``name`` point of this process; at the one ``PRMKIT_PAUSE_AT`` names, pause (see above)."""
    want = os.environ.get(PAUSE_ENV)
    if not want:
        return
    _reached[name] += 1
    point, _, n = want.rpartition(":")
    if point != name or not n.isdigit() or _reached[name] != int(n):
        return
    marker = os.environ.get(MARKER_ENV)
    if not marker:
        raise RuntimeError(f"{PAUSE_ENV}={want} needs {MARKER_ENV}, the file to write when the job pauses")
    tmp = f"{marker}.{os.getpid()}.tmp"
    Path(tmp).write_text(f"{os.getpid()}\n")
    os.replace(tmp, marker)  # atomic: whoever waits for the marker reads a whole pid
    deadline = time.monotonic() + _MAX_PAUSE_S
    while os.path.exists(marker) and time.monotonic() < deadline:
        time.sleep(0.05)


def kill_point(name: str) -> None:
    """Count one ``name`` point of this process; at the one ``PRMKIT_KILL_AT`` names, die once (see above)."""
    want = os.environ.get(KILL_ENV)
    if not want:
        return
    _reached["kill:" + name] += 1
    point, _, n = want.rpartition(":")
    if point != name or not n.isdigit() or _reached["kill:" + name] != int(n):
        return
    marker = os.environ.get(KILL_MARKER_ENV)
    if not marker:
        raise RuntimeError(f"{KILL_ENV}={want} needs {KILL_MARKER_ENV}, the file that says the kill happened")
    try:
        fd = os.open(marker, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:  # this job's one kill is done: a retry goes on
        return
    os.write(fd, f"{os.getpid()}\n".encode())
    os.close(fd)
    os.kill(os.getpid(), signal.SIGKILL)


def start_paused(cmd: list[str], at: str, marker: str | Path, *, log: Optional[str | Path] = None,
                 env: Optional[dict[str, str]] = None, timeout: float = 600.0, **popen: Any) -> subprocess.Popen:
    """Start ``cmd`` with ``PRMKIT_PAUSE_AT=at`` and return once it has paused there (for kill tests).

    The job is blocked when this returns, so what the caller does next (SIGKILL it, start a second copy,
    remove ``marker`` to let it go on) happens at a known point. ``log`` gets its stdout and stderr;
    ``env`` defaults to this process's environment; ``popen`` goes to ``subprocess.Popen``. The timeout
    only guards against a job that never reaches ``at``: nothing races it.

    Raises:
        RuntimeError: the command ended, or ran ``timeout`` seconds, without pausing (with its log's tail).
    """
    marker = Path(marker)
    env = {**(os.environ if env is None else env), PAUSE_ENV: at, MARKER_ENV: str(marker)}
    with open(log or os.devnull, "wb") as sink:
        proc = subprocess.Popen(cmd, env=env, stdout=sink, stderr=subprocess.STDOUT, **popen)
    deadline = time.monotonic() + timeout
    while not marker.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            what = f"exited with {proc.returncode}" if proc.returncode is not None else f"ran {timeout:.0f} s"
            proc.kill()
            proc.wait()
            tail = Path(log).read_text(errors="replace")[-2000:] if log else ""
            raise RuntimeError(f"{cmd[0]} {what} without pausing at {at}\n{tail}")
        time.sleep(0.05)
    return proc
