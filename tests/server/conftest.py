"""A real `prmkit serve` process on a free loopback port."""

import pytest

from prmkit.server import launch


@pytest.fixture(scope="session")
def start_server():
    """``start_server(*args, env=None) -> (process, url)``: `prmkit serve ARGS`, ready to answer."""
    return launch
