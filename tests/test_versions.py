"""The installed libraries are the tested ones: transformers, torch, TRL (and the rest of the stack prmkit
touches) have exactly the versions pinned in constraints.txt, which `make demo`, `make test` and CI install
with. A mismatch means the environment drifted (or constraints.txt moved without `make upgrade`)."""

from __future__ import annotations

import re
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pytest

PINS = Path(__file__).resolve().parents[1] / "constraints.txt"
# What the Makefile installed .venv with: constraints.txt, its torch line replaced by `make TORCH=...`.
INSTALLED_WITH = Path(sys.prefix) / "constraints.txt"
CHECKED = ("torch", "transformers", "trl", "accelerate", "peft", "datasets", "huggingface_hub", "tokenizers",
           "typer", "rich", "ray")


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pins(path: Path = PINS) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, sep, pinned = line.partition("==")
            assert sep and pinned, f"{PINS.name}: {line!r} is not name==version"
            pins[_normalise(name)] = pinned.strip()
    return pins


def test_constraints_pin_every_library_prmkit_is_tested_with():
    pins = _pins()
    assert not [n for n in CHECKED if _normalise(n) not in pins], "missing from constraints.txt"
    assert "prmkit" not in pins  # the checkout itself is installed editable, never pinned
    assert "+" not in pins["torch"]  # a public version: matches the CPU build (2.13.0+cpu) and the CUDA one


@pytest.mark.parametrize("name", CHECKED)
def test_installed_version_is_the_pinned_one(name):
    try:
        installed = version(name)
    except PackageNotFoundError:
        pytest.fail(f"{name} is not installed; run make install")
    pins = _pins()
    if name == "torch" and INSTALLED_WITH.is_file():  # a deliberate `make TORCH=torch==X`
        pins["torch"] = _pins(INSTALLED_WITH).get("torch", pins["torch"])
    public = installed.split("+", 1)[0]  # torch's local label (+cpu) is not part of the pin
    assert public == pins[_normalise(name)], f"{name} {installed} installed, constraints.txt pins {pins[_normalise(name)]}"
