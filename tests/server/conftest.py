"""A real `prmkit serve` process on a free loopback port."""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(*args, env=None):
    port = _free_port()
    cmd = [str(Path(sys.executable).with_name("prmkit")), "serve", "--port", str(port), *args]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})
    url = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            if httpx.get(url + "/health", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.1)
        if proc.poll() is not None:
            break
    proc.kill()
    raise AssertionError(proc.stdout.read().decode()[-2000:])



@pytest.fixture(scope="session")
def start_server():
    """``start_server(*args, env=None) -> (process, url)``: `prmkit serve ARGS`, ready to answer."""
    return _start
