"""A command prints prmkit's lines, not the libraries': no "Loading weights" bars, raw Trainer dicts or
FutureWarnings unless ``--verbose``/``PRMKIT_VERBOSE=1``; errors show either way. Also ``--version`` and help
that reads right (no ``<bool>`` after a flag, ``\\n`` defaults as escapes)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

from prmkit.data import write
from prmkit.logs import _ENVIRONMENT, ENV
from prmkit.world.export import world_examples

EXE = str(Path(sys.executable).with_name("prmkit"))
CHATTER = re.compile(r"Loading weights|Writing model shards|it/s\]|Warning|warn\(|\{'(loss|train_runtime)'")


def _prmkit(*args: str, verbose: bool = False) -> subprocess.CompletedProcess:
    """The console script, stdout and stderr together, in an environment free of any quieting set before."""
    env = {k: v for k, v in os.environ.items() if k not in _ENVIRONMENT and k != ENV}
    if verbose:
        env[ENV] = "1"
    return subprocess.run([EXE, *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)


def test_loading_a_model_prints_no_library_output_unless_verbose():
    args = ("world", "eval-policy", "--problems", "2", "--samples", "2")
    quiet = _prmkit(*args)
    assert quiet.returncode == 0, quiet.stdout
    assert "accuracy (single sample)" in quiet.stdout and not CHATTER.search(quiet.stdout), quiet.stdout
    loud = _prmkit(*args, verbose=True)
    assert loud.returncode == 0 and "Loading weights" in loud.stdout, loud.stdout
    assert "accuracy (single sample)" in loud.stdout


def test_training_prints_prmkit_lines_not_the_trainers_dicts(tmp_path):
    write(world_examples(8, source="injected", seed=3), tmp_path / "train.jsonl", "prmkit")
    result = _prmkit("train", "model=bundled-policy", f"data={tmp_path / 'train.jsonl'}", f"out={tmp_path / 'prm'}",
                     "epochs=1", "batch_size=4")
    assert result.returncode == 0, result.stdout
    assert "trained prmkit PRM on 8 solutions" in result.stdout and "loss " in result.stdout
    assert not CHATTER.search(result.stdout), result.stdout


def test_errors_are_not_hidden(tmp_path):
    result = _prmkit("data", "stats", str(tmp_path / "missing.jsonl"))
    assert result.returncode == 2 and result.stdout.strip().startswith("error:"), result.stdout


def test_version_and_global_verbose_flag():
    result = _prmkit("--version")
    assert result.returncode == 0 and result.stdout.strip() == f"prmkit {version('prmkit')}"
    result = _prmkit("--verbose", "ls", "formats")
    assert result.returncode == 0 and "processbench" in result.stdout


def test_help_shows_no_value_after_a_flag_and_newline_defaults_as_escapes():
    def help_of(*command: str) -> str:
        env = {**os.environ, "COLUMNS": "160"}
        return subprocess.run([EXE, *command, "--help"], capture_output=True, text=True, env=env, check=True).stdout

    convert = help_of("data", "convert")
    assert re.search(r"--skip-invalid +Skip malformed", convert) and "<bool>" not in convert, convert
    mc = help_of("annotate", "mc")
    assert "[default: {question}\\n]" in mc and "[default: \\n]" in mc and "<bool>" not in mc, mc
    top = help_of()
    assert "--verbose" in top and "--version" in top and "<bool>" not in top, top
