"""Run one untrusted Python block (a generative verifier's code for a step) and capture what it prints.

``run_python(code, limits)`` always returns a ``SandboxResult`` whose ``status`` says how the block ended; a
hostile block (endless loop, fork bomb, 10 GB allocation, endless printing) never hangs or raises here. Only
misuse and missing isolation raise. The guarantees come from the kernel, set up with util-linux tools:

- ``unshare`` (stage 1) makes a private mount namespace in which ``mount`` remounts every inherited mount
  read-only, covers ``/root``, ``/home``, ``$HOME``, ``/run`` and ``/dev/shm`` with empty read-only tmpfs
  (the interpreter and its site-packages are bound back, read-only, if they live there) and puts a fresh
  ``disk_mb`` tmpfs on ``/tmp``: the block's cwd and its only writable place, gone when the run ends.
- ``unshare`` (stage 2) then makes a user namespace (its mount copy locks all of the above), an empty
  network namespace (loopback down: no host, not even 127.0.0.1) and a pid namespace, whose processes
  all die when its init does. ``prlimit`` sets CPU, address space, processes, file size and core 0 there;
  RLIMIT_NPROC counts per user namespace (Linux >= 5.14), so it counts only the block's own processes.
  ``setpriv`` drops every capability and sets no_new_privs before the interpreter starts.
- As root, stage 1 runs with real privileges and stage 2 as ``nobody`` (the kernel ignores RLIMIT_NPROC
  for uid 0, and a uid-0 process could open raw disks). A non-root user needs unprivileged user
  namespaces (``unshare -r`` must work); stage 1 then runs in a user namespace of its own.
- The parent enforces the wall time (it SIGKILLs the session's process group) and reads at most
  4 x ``output_chars`` bytes per stream, so endless output costs it nothing. bubblewrap would do
  stage 1 and 2 in one tool but is rarely installed; util-linux always is.

The interpreter is ``sys.executable`` run with ``-I -S`` (no PYTHON* variables, no user site), with this
environment's site-packages on ``sys.path`` (so sympy works) and an environment of PATH/LANG only. There is
no audit hook: ``ctypes`` bypasses one, so it would only look like a defence. Where no namespace can be made,
``network_isolation="off"`` runs the block with only the rlimits, the fresh cwd and the clean environment:
it is UNSAFE (network, filesystem and, as root, fork bombs are open) and only for trusted code.
"""

from __future__ import annotations

import functools
import math
import os
import selectors
import shlex
import shutil
import signal
import subprocess
import sys
import sysconfig
import tempfile
import time
from dataclasses import dataclass
from typing import Optional

__all__ = ["SandboxLimits", "SandboxResult", "SandboxUnavailable", "available", "run_python", "STATUSES"]

STATUSES = ("ok", "error", "memory", "cpu", "timeout", "output_limit")
_NOBODY = 65534
_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1"}  # one BLAS thread: each thread counts against RLIMIT_NPROC
_COVERED = ("/root", "/home", "/run", "/dev/shm")
# The block comes on stdin, so any text (NUL bytes, megabytes) reaches compile() and fails there as an
# ordinary SyntaxError inside the sandbox, never in the parent. "prmkit-sandbox" marks its processes.
_PRELUDE = """# prmkit-sandbox
import sys
sys.path.extend({paths!r})
exec(compile(sys.stdin.buffer.read(), "<block>", "exec"), {{"__name__": "__main__"}})
"""
_READ_ONLY = r"""set -eu
umask 022
fail() { echo "prmkit-sandbox: $*" >&2; exit 125; }
while read -r _ _ _ _ mp opts _; do
  case "$mp" in /proc|/proc/*) continue;; esac  # a new /proc is mounted in stage 2; a read-only one would block it
  "$MOUNT" -n -o "remount,bind,ro${opts#r[ow]}" "$(printf '%b' "$mp")" || fail "cannot make $mp read-only"
done < /proc/self/mountinfo"""


class SandboxUnavailable(RuntimeError):
    """The isolation ``run_python`` requires cannot be built on this machine; the message is one line."""


@dataclass(frozen=True)
class SandboxLimits:
    """Limits for one block; the defaults suit "recompute this step's arithmetic".

    Args:
        cpu_seconds (`float`): CPU time (RLIMIT_CPU, rounded up to whole seconds), defaults to 2.
        wall_seconds (`float`): wall-clock time before the whole process tree is killed, defaults to 5.
        memory_mb (`int`): address space (RLIMIT_AS), defaults to 256.
        processes (`int`): processes and threads of the block (RLIMIT_NPROC), defaults to 16.
        file_size_mb (`int`): largest file it may write (RLIMIT_FSIZE), defaults to 1.
        disk_mb (`int`): size of its private ``/tmp``, defaults to 16 (not enforced with isolation off).
        output_chars (`int`): characters kept of stdout and of stderr, defaults to 2000.
    """

    cpu_seconds: float = 2.0
    wall_seconds: float = 5.0
    memory_mb: int = 256
    processes: int = 16
    file_size_mb: int = 1
    disk_mb: int = 16
    output_chars: int = 2000

    def __post_init__(self):
        for name, value in vars(self).items():
            if not value > 0:
                raise ValueError(f"SandboxLimits.{name} must be > 0, got {value!r}")


@dataclass(frozen=True)
class SandboxResult:
    """How one block ended. ``status`` is one of ``STATUSES``:

    ``ok`` (exit 0), ``error`` (non-zero exit, e.g. a traceback), ``memory`` (a MemoryError), ``cpu`` (CPU
    limit), ``timeout`` (wall limit; the tree was killed) and ``output_limit`` (it wrote over 4 x
    ``output_chars`` bytes to a stream and was killed). ``truncated`` says stdout (its head is kept) or
    stderr (its tail, where a traceback ends) was cut to ``output_chars``; ``returncode`` is None when
    prmkit killed it; ``reason`` is a one-line explanation ("" when ok). A setup failure after a good
    probe is an ``error`` whose reason starts ``prmkit-sandbox:``; the block then never ran.
    """

    stdout: str
    stderr: str
    returncode: Optional[int]
    status: str
    truncated: bool
    seconds: float
    reason: str = ""

    def as_text(self) -> str:
        """What goes into a verification chain: stdout, then a truncation note and the one-line reason.

        Example: ``run_python("print(12 - 5)").as_text()`` is ``"7"``; an endless loop gives
        ``"TimeoutError: CPU time limit 2 s"``.
        """
        parts = [self.stdout.rstrip("\n")] if self.stdout.strip() else []
        if self.truncated and parts:
            parts.append("[output truncated]")
        return "\n".join(parts + ([self.reason] if self.reason else []))


def run_python(code: str, limits: SandboxLimits = SandboxLimits(), *,
               network_isolation: str = "require") -> SandboxResult:
    """Run ``code`` as ``__main__`` in a fresh sandbox and return how it ended; never raises for what it does.

    Args:
        code (`str`): the Python block.
        limits (`SandboxLimits`, *optional*): defaults to ``SandboxLimits()``.
        network_isolation (`str`, *optional*): ``"require"`` (default): the full sandbox or
            ``SandboxUnavailable``; ``"off"``: UNSAFE, no namespaces at all (see the module docstring).

    Raises:
        SandboxUnavailable: isolation is required and ``available()`` gives a reason it cannot be built,
            or (either way) util-linux's ``prlimit`` is missing, so no limit could be set.
    """
    if not isinstance(code, str):
        raise TypeError(f"code must be a str, got {type(code).__name__}")
    if network_isolation not in ("require", "off"):
        raise ValueError(f"network_isolation must be 'require' or 'off', got {network_isolation!r}")
    isolate = network_isolation == "require"
    if isolate:
        reason = available()
        if reason is not None:
            raise SandboxUnavailable(reason)
    return _run(code, limits, isolate)


@functools.lru_cache(maxsize=None)
def available() -> Optional[str]:
    """None when the namespace sandbox works here, else why not (one line). Probed once per process."""
    probe = ("import os, socket\n"  # an empty network namespace and a read-only root, seen from inside
             "print('ok' if [n for _, n in socket.if_nameindex()] == ['lo'] and not os.access('/', os.W_OK)"
             " else 'not isolated')")
    try:
        result = _run(probe, SandboxLimits(wall_seconds=30), isolate=True)
    except (SandboxUnavailable, OSError) as e:
        return f"sandbox unavailable: {e}"
    if result.stdout == "ok\n":
        return None
    why = result.stdout.strip() or _last_line(result.stderr) or result.reason or f"exit {result.returncode}"
    return f"sandbox unavailable ({'root' if os.geteuid() == 0 else 'user'} namespaces): {why}"


def _tool(name: str) -> str:
    path = shutil.which(name, path="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
    if path is None:
        raise SandboxUnavailable(f"'{name}' (util-linux) not found")
    return path


def _last_line(text: str) -> str:
    return next((line.strip() for line in reversed(text.splitlines()) if line.strip()), "")


def _interpreter_dirs() -> list[str]:
    """What the block must still see: the interpreter's prefix, its real directory and site-packages."""
    paths = sysconfig.get_paths()
    dirs = {os.path.realpath(p) for p in (sys.base_prefix, os.path.dirname(os.path.realpath(sys.executable)),
                                          paths["purelib"], paths["platlib"])}
    return sorted(d for d in dirs if not any(d.startswith(o + "/") for o in dirs))


def _setup(stage: str, limits: SandboxLimits) -> list[str]:
    """Stage-1 shell lines: read-only mounts, the covers and the private /tmp, staged on ``stage`` and moved."""
    q = shlex.quote
    mount = q(_tool("mount")) + " -n"  # -n: no /run/mount/utab, which is read-only by then
    home = os.path.realpath(os.path.expanduser("~"))
    covered = [d for d in dict.fromkeys(os.path.realpath(d) for d in (*_COVERED, home))
               if os.path.isdir(d) and d not in ("/", "/tmp") and not d.startswith("/tmp/")]
    covered = [d for d in covered if not any(d.startswith(o + "/") for o in covered)]
    covers = [(d, "size=1m,mode=755") for d in covered]
    covers.append(("/tmp", f"size={limits.disk_mb}m,nr_inodes=4096,mode=1777"))
    covers.sort(key=lambda c: stage.startswith(c[0] + "/"))  # the cover that hides the stage goes last
    lines = [f"MOUNT={q(_tool('mount'))}", _READ_ONLY]
    for target, options in covers:
        lines.append(f"{mount} -t tmpfs -o {options} prmkit-sandbox {q(stage)} || fail 'cannot mount a tmpfs'")
        for keep in (d for d in _interpreter_dirs() if d.startswith(target + "/")):
            at = q(stage + keep[len(target):])
            lines.append(f"mkdir -p {at} && {mount} --bind {q(keep)} {at} && {mount} -o remount,bind,ro {at}"
                         f" || fail {q('cannot bind ' + keep)}")
        lines.append(f"{mount} --move {q(stage)} {q(target)} || fail {q('cannot cover ' + target)}")
        if target != "/tmp":
            lines.append(f"{mount} -o remount,bind,ro {q(target)} || fail {q('cannot cover ' + target)}")
    return lines + ["cd /tmp", "unset OLDPWD PWD"]


def _command(stage: str, limits: SandboxLimits, isolate: bool) -> list[str]:
    cpu = max(1, math.ceil(limits.cpu_seconds))
    python = [os.path.realpath(sys.executable), "-I", "-S", "-c", _PRELUDE.format(paths=sorted(
        {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}))]
    limited = [_tool("prlimit"), f"--cpu={cpu}:{cpu + 1}", f"--as={limits.memory_mb << 20}",
               f"--nproc={limits.processes}", f"--fsize={limits.file_size_mb << 20}", "--core=0", "--"]
    if not isolate:
        return limited + python
    # sh is the pid namespace's init: the kernel drops signals such as SIGXCPU to an init that has no
    # handler, so python must not be pid 1. sh exits with 128 + the signal that killed python.
    inner = [_tool("unshare"), "--user", "--map-root-user", "--mount", "--net", "--pid", "--fork",
             "--kill-child", "--mount-proc", "--", *limited, _tool("setpriv"), "--no-new-privs",
             "--bounding-set=-all", "--inh-caps=-all", "--", _tool("sh"), "-c", '"$@"; exit $?',
             "prmkit-sandbox", *python]
    if os.geteuid() == 0:
        inner = [_tool("setpriv"), f"--reuid={_NOBODY}", f"--regid={_NOBODY}", "--clear-groups", "--", *inner]
        outer = [_tool("unshare"), "--mount"]
    else:
        outer = [_tool("unshare"), "--user", "--map-root-user", "--mount"]
    script = "\n".join(_setup(stage, limits) + ["exec " + shlex.join(inner)])
    return [*outer, "--", _tool("sh"), "-c", script]


def _communicate(proc: subprocess.Popen, data: bytes, cap: int, deadline: float):
    """Feed stdin and read both streams, at most ``cap`` bytes each; return (out, err, why we stopped it)."""
    out, err = proc.stdout.fileno(), proc.stderr.fileno()
    fds = {out: bytearray(), err: bytearray()}
    stdin, view = proc.stdin.fileno(), memoryview(data)
    os.set_blocking(stdin, False)
    with selectors.DefaultSelector() as sel:
        for fd in fds:
            sel.register(fd, selectors.EVENT_READ)
        sel.register(stdin, selectors.EVENT_WRITE)
        while sel.get_map():
            left = deadline - time.monotonic()
            if left <= 0:
                return fds[out], fds[err], "timeout"
            for key, _ in sel.select(left):
                if key.fd == stdin:
                    try:
                        view = view[os.write(stdin, view[:1 << 16]):]
                    except BlockingIOError:
                        continue
                    except BrokenPipeError:
                        view = view[:0]
                    if not view:
                        sel.unregister(stdin)
                        proc.stdin.close()
                    continue
                chunk = os.read(key.fd, 1 << 16)
                if not chunk:
                    sel.unregister(key.fd)
                fds[key.fd] += chunk
                if len(fds[key.fd]) > cap:
                    return fds[out], fds[err], "output_limit"
    try:  # both streams closed; it may still run (it closed them itself)
        proc.wait(max(0.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        return fds[out], fds[err], "timeout"
    return fds[out], fds[err], None


def _run(code: str, limits: SandboxLimits, isolate: bool) -> SandboxResult:
    start = time.monotonic()
    cap = 4 * limits.output_chars + 4  # bytes enough for output_chars characters of UTF-8
    with tempfile.TemporaryDirectory(prefix="prmkit-sandbox-", ignore_cleanup_errors=True) as stage:
        home = "/tmp" if isolate else stage
        proc = subprocess.Popen(_command(stage, limits, isolate), cwd=stage,
                                env={**_ENV, "HOME": home, "TMPDIR": home}, stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
        try:
            data = code.encode("utf-8", "surrogatepass")  # a lone surrogate becomes the block's SyntaxError
            out, err, stopped = _communicate(proc, data, cap, start + limits.wall_seconds)
        finally:
            # Kill the group while it runs. After a normal exit the pid namespace is already gone; without
            # isolation strays may remain, and while they live the group id cannot be reused.
            if proc.returncode is None or not isolate:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            proc.wait()
            for pipe in (proc.stdin, proc.stdout, proc.stderr):
                pipe.close()
    return _result(out, err, stopped, proc.returncode, limits, time.monotonic() - start)


def _result(out: bytes, err: bytes, stopped: Optional[str], returncode: int, limits: SandboxLimits,
            seconds: float) -> SandboxResult:
    """Classify the run. Exit 128 + N from the namespace's sh means python died of signal N."""
    stdout, stderr = out.decode("utf-8", "replace"), err.decode("utf-8", "replace")
    truncated = stopped == "output_limit" or max(len(stdout), len(stderr)) > limits.output_chars
    last = _last_line(stderr)  # the traceback's last line, so stderr keeps its tail and stdout its head
    stdout, stderr = stdout[:limits.output_chars], stderr[-limits.output_chars:]
    sig = -returncode if returncode < 0 else returncode - 128 if returncode > 128 else None
    if stopped == "timeout":
        status, reason = "timeout", f"TimeoutError: wall time limit {limits.wall_seconds:g} s"
    elif stopped == "output_limit":
        status, reason = "output_limit", f"OutputLimitError: more than {limits.output_chars} characters of output"
    elif returncode == 0:
        status, reason = "ok", ""
    elif sig in (signal.SIGXCPU, signal.SIGKILL):  # SIGKILL: the hard CPU limit, 1 s after an ignored SIGXCPU
        status, reason = "cpu", f"TimeoutError: CPU time limit {max(1, math.ceil(limits.cpu_seconds))} s"
    elif last.startswith("MemoryError"):
        status, reason = "memory", f"MemoryError: memory limit {limits.memory_mb} MB"
    else:
        status = "error"
        reason = last or (f"killed by {signal.Signals(sig).name}" if sig in signal.valid_signals() else
                          f"exit status {returncode}")
    return SandboxResult(stdout, stderr, None if stopped else returncode, status, truncated, round(seconds, 3), reason)
