"""`prmkit score --executor ray`: a pool of scorer actors on Ray Data gives the local path's file, byte for byte.

Everything runs in the session's 2-CPU Ray runtime (``ray_cluster``) on a tiny random HF PRM saved to a folder,
which each actor loads as a user's model would be loaded.
"""

import pytest
from typer.testing import CliRunner

from prmkit.backends import load_scorer
from prmkit.backends.families import PRMSpec
from prmkit.cli.main import app
from prmkit.data import write
from prmkit.scoring import score_examples
from prmkit.scoring_ray import score_examples_ray
from prmkit.types import Example, Problem, Solution

CPU = {"device": "cpu"}  # the actors see no GPU: the local reference must not use one either


@pytest.fixture(scope="module")
def prm_folder(tiny_tokenizer, tiny_config_factory, tmp_path_factory):
    """A 2-layer token-classification PRM with its spec, saved as a model folder."""
    import torch
    from transformers import AutoModelForTokenClassification

    torch.manual_seed(0)
    model = AutoModelForTokenClassification.from_config(tiny_config_factory("qwen2", len(tiny_tokenizer), num_labels=2))
    path = tmp_path_factory.mktemp("prm")
    model.save_pretrained(path)
    tiny_tokenizer.save_pretrained(path)
    PRMSpec(name="tiny", head="token_cls", step_tag="<extra_0>", step_separator="\n").save(path)
    return str(path)


def _examples(n):
    """``n`` distinct solutions of 1 to 5 steps of different lengths, so padding inside a chunk varies; every four
    share a question, which the scorer reads once for them (``share_prefix``)."""
    return [Example(Problem(f"q{i}", f"Janet has {i // 4} eggs and eats {i // 4 % 7}. How many are left?"),
                    Solution([f"Step {k}: {i} - {k} = {i - k}." + " Check it again." * ((i + k) % 4)
                              for k in range(1 + i % 5)]))
            for i in range(n)]


def test_ray_scores_equal_the_local_files_bytes_in_input_order(ray_cluster, off_loopback, prm_folder, tmp_path, capfd):
    examples = _examples(200)  # 4 chunks of 64 (the last of 8) over 2 actors
    scorer = load_scorer(prm_folder, **CPU)
    local = list(score_examples(scorer, examples))
    assert scorer.report["tokens"] < sum(len(scorer.encode(e.problem, e.solution.steps).input_ids) for e in examples)
    # the scorer pads inside a chunk, so other chunks give other last digits: equal files need the same chunks
    assert list(score_examples(scorer, examples, chunk_size=50)) != local
    sockets = []

    def progress(description, total):
        assert total == 200
        return lambda: sockets.append(off_loopback()) if not sockets else None  # actors are up

    scored = score_examples_ray(prm_folder, examples, workers=2, scorer_options=CPU, progress=progress)
    write(local, tmp_path / "local.jsonl", "prmkit")
    write(scored, tmp_path / "ray.jsonl", "prmkit")
    assert (tmp_path / "ray.jsonl").read_bytes() == (tmp_path / "local.jsonl").read_bytes()
    assert [e.problem.id for e in scored] == [f"q{i}" for i in range(200)]
    assert sockets == [[]]
    err = capfd.readouterr().err
    assert "execution finished" not in err and "Progress bars" not in err  # Ray Data's console lines are off


def test_a_scorer_error_names_its_chunk_and_says_what_the_local_path_says(ray_cluster, prm_folder):
    examples = _examples(200)
    examples[150] = Example(Problem("too-long", "Count the words."), Solution(["word " * 300, "So 300."]))
    strict = {**CPU, "max_length": 300, "overflow": "error"}  # only the long one exceeds it
    with pytest.raises(ValueError) as local:
        list(score_examples(load_scorer(prm_folder, **strict), examples))
    with pytest.raises(ValueError) as remote:  # chunk 2 holds example 151, positions 129-192
        score_examples_ray(prm_folder, examples, workers=2, scorer_options=strict)
    assert str(remote.value) == ("scoring examples 129-192 (ids q128, q129, q130, ...) failed on a Ray worker: "
                                 f"ValueError: {local.value}")
    assert "'too-long'" in str(local.value) and "max_length 300" in str(local.value)


def test_cli_score_executor_ray_writes_the_local_file_and_fails_in_one_line(ray_cluster, tmp_path):
    write(_examples(70), tmp_path / "in.jsonl", "prmkit")
    runner = CliRunner()  # in this process, so the command joins the session's runtime instead of starting one
    local = runner.invoke(app, ["score", str(tmp_path / "in.jsonl"), "--model", "fake", "--out", str(tmp_path / "loc.jsonl")])
    ok = runner.invoke(app, ["score", str(tmp_path / "in.jsonl"), "--model", "fake", "--out", str(tmp_path / "ray.jsonl"),
                             "--executor", "ray", "--workers", "2"])
    assert local.exit_code == 0 and ok.exit_code == 0, ok.output
    assert ok.stdout.replace("ray.jsonl", "loc.jsonl") == local.stdout  # the same solutions shown, the same count
    assert "wrote 70 scored example(s)" in ok.stdout
    assert (tmp_path / "ray.jsonl").read_bytes() == (tmp_path / "loc.jsonl").read_bytes()

    nope = tmp_path / "nope"
    bad = runner.invoke(app, ["score", str(tmp_path / "in.jsonl"), "--model", str(nope), "--out", str(tmp_path / "bad.jsonl"),
                              "--executor", "ray", "--workers", "2"])
    assert bad.exit_code == 2 and not (tmp_path / "bad.jsonl").exists()
    assert bad.stderr.strip() == (f"error: scoring examples 1-64 (ids q0, q1, q2, ...) failed on a Ray worker: "
                                  f"loading the scorer failed: ValueError: --model {nope}: no such folder")
