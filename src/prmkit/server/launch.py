"""``launch``: ``prmkit serve`` in a subprocess on a free loopback port, for RL scripts, tests and benchmarks."""

from __future__ import annotations

import time
from typing import Any, Optional

__all__ = ["launch"]


def launch(*args: str, env: Optional[dict] = None, timeout: float = 60.0) -> tuple[Any, str]:
    """Start ``prmkit serve ARGS`` on a free loopback port in a subprocess; return ``(process, url)`` once
    ``/health`` answers. Raises ``RuntimeError`` with the server's output if it exits or does not answer
    within ``timeout`` seconds."""
    import os
    import socket
    import subprocess
    import sys
    from pathlib import Path

    import httpx

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [str(Path(sys.executable).with_name("prmkit")), "serve", "--port", str(port), *args]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None:
        try:
            if httpx.get(url + "/health", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"prmkit serve did not start: {proc.stdout.read().decode()[-2000:]}")
