"""`prmkit serve` refuses bad settings with one line and exit code 2, before it loads or listens."""

import pytest
from typer.testing import CliRunner

from prmkit.cli.main import app


def serve(*args):
    result = CliRunner().invoke(app, ["serve", *args])
    return result.exit_code, result.stderr.strip()


@pytest.mark.parametrize("args, reason", [
    (["--port", "99999"], "port"),
    (["--port", "-1"], "port"),
    (["--max-batch-items", "0"], "max_batch_items"),
    (["--max-batch-items", "-1"], "max_batch_items"),
    (["--max-wait-ms", "-5"], "max_wait_ms"),
    (["--separator", ""], "separator"),
    (["--max-items", "0"], "max_items"),
    (["--max-chars", "0"], "max_chars"),
    (["--max-request-bytes", "-1"], "max_request_bytes"),
    (["--request-timeout", "0"], "request_timeout"),
    (["--body-timeout", "-1"], "body_timeout"),
    (["--limit-concurrency", "0"], "limit_concurrency"),
])
def test_bad_settings_are_refused_in_one_line(args, reason):
    code, err = serve("--model", "fake", *args)
    assert code == 2 and err.startswith("error:") and reason in err and "\n" not in err, err


@pytest.mark.parametrize("model, reason", [
    ("/no/such/prm", "no such folder"),
    ("./runs/no-such-prm", "no such folder"),
    ("no_such_pkg.mod:Scorer", "cannot import scorer"),
])
def test_a_bad_model_is_one_line(model, reason):
    code, err = serve("--model", model)
    assert code == 2 and err.startswith("error:") and reason in err and "\n" not in err, err


def test_separator_escapes():
    from prmkit.server import parse_separator

    assert parse_separator("\\n") == "\n" and parse_separator("\\n\\n") == "\n\n"
    assert parse_separator("ки") == "ки" and parse_separator(" ки\\t") == " ки\t"
    assert parse_separator("\\\\n") == "\\n" and parse_separator("\\u0041") == "\\u0041"


@pytest.mark.parametrize("args", [["--model", "fake", "--policy", "gpt2"], ["--model", "gpt2", "--spec", "generative"]])
def test_an_owner_less_hub_id_is_tried_on_the_hub_and_its_failure_is_one_line_naming_the_flag(args):
    """``gpt2`` names a hub model (no owner, as ``bert-base-uncased``), not a missing folder: offline, the hub's
    multi-line refusal comes back as one line after the flag that named it."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    result = subprocess.run([str(Path(sys.executable).with_name("prmkit")), "serve", *args, "--port", "18555"],
                            capture_output=True, text=True, timeout=120, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    err = result.stderr.strip()
    flag = "--policy gpt2:" if "--policy" in args else "--model gpt2:"
    assert result.returncode == 2 and err.startswith(f"error: {flag}") and "\n" not in err, err
    assert "no such folder" not in err and "huggingface.co" in err, err
