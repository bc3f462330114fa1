"""`prmkit search` and `prmkit quickstart` end to end on the bundled policy with a PRM trained here."""

import json

import pytest

from prmkit.data import write
from prmkit.pipelines.train import TrainConfig, run as train
from prmkit.world.export import world_examples


@pytest.fixture(scope="module")
def prm(tmp_path_factory):
    folder = tmp_path_factory.mktemp("prm")
    write(world_examples(32, seed=5), folder / "train.jsonl", "prmkit")
    train(TrainConfig(model="bundled-policy", data=str(folder / "train.jsonl"), out=str(folder / "prm"),
                      spec="prmkit-implicit", target="outcome", epochs=1, lr=3e-4, beta=0.5), log=lambda s: None)
    return folder / "prm"


def test_search_cli_reports_accuracy_and_compute_per_method_and_n(prm, tmp_path, prmkit_cli):
    problems = tmp_path / "problems.jsonl"
    write(world_examples(4, source="injected", seed=6), problems, "prmkit")
    prmkit_cli("search", problems, "--model", prm, "--method", "best-of-n", "--method", "beam", "--method", "mcts",
               "--n", "1,4", "--prm-cache", "64M", "--out", tmp_path / "s")
    summary = json.loads((tmp_path / "s" / "summary.json").read_text())
    assert summary["problems"] == 4 and set(summary["accuracy"]) == {"best-of-n", "beam", "mcts"}
    assert summary["config"]["prm_cache_bytes"] == 64 * 2**20
    for method, rows in summary["accuracy"].items():
        assert set(rows) == {"1", "4"}
        assert rows["4"]["generated_tokens"] > rows["1"]["generated_tokens"] > 0, method
        assert rows["4"]["prm_tokens"] > 0 and 0.0 <= rows["4"]["prm"] <= 1.0
    records = [json.loads(line) for line in (tmp_path / "s" / "search.jsonl").read_text().splitlines()]
    assert len(records) == 4 * 3 * 2
    bon4 = [r for r in records if r["method"] == "best-of-n" and r["n"] == 4]
    # every candidate is scored, unless all 4 are one solution: then no score can change the pick
    assert all(len(r["candidates"]) == 4 for r in bon4)
    assert all(all(len(c["scores"]) == (len(c["steps"]) if len({tuple(d["steps"]) for d in r["candidates"]}) > 1 else 0)
                   for c in r["candidates"]) for r in bon4)
    assert any(len({tuple(c["steps"]) for c in r["candidates"]}) > 1 for r in bon4)
    # the answers are graded against the problems' own
    assert all(r["correct"]["majority"] == (r["picks"]["majority"] == r["answer"]) for r in bon4)


def test_best_of_n_batched_across_problems_finds_what_one_search_each_finds(prm, tmp_path):
    """``batch_problems``: Best-of-N samples several problems in one generate call (a seed per prompt) and gets
    the candidates, scores and picks of searching them one at a time."""
    from prmkit.pipelines.search import SearchConfig, run

    write(world_examples(5, source="injected", seed=6), tmp_path / "problems.jsonl", "prmkit")
    records = {}
    for batch in (1, 3):
        run(SearchConfig(data=str(tmp_path / "problems.jsonl"), model=str(prm), methods=("best-of-n",), n=(2, 4),
                         batch_problems=batch, seed=9, out=str(tmp_path / str(batch))))
        lines = (tmp_path / str(batch) / "search.jsonl").read_text().splitlines()
        records[batch] = [json.loads(line) for line in lines]
    assert len(records[1]) == len(records[3]) == 5 * 2
    for one, many in zip(records[1], records[3]):
        assert (one["problem"], one["n"], one["picks"]) == (many["problem"], many["n"], many["picks"])
        assert [c["steps"] for c in one["candidates"]] == [c["steps"] for c in many["candidates"]]
        assert [len(c["scores"]) for c in one["candidates"]] == [len(c["scores"]) for c in many["candidates"]]
        assert [v for c in one["candidates"] for v in c["scores"]] == \
            pytest.approx([v for c in many["candidates"] for v in c["scores"]], abs=1e-5)
        assert one["compute"]["generated_tokens"] == many["compute"]["generated_tokens"]
        assert one["compute"]["prm_tokens"] == many["compute"]["prm_tokens"]
    assert len({tuple(c["steps"]) for r in records[3] for c in r["candidates"]}) > 5  # real, varied samples
    with pytest.raises(ValueError, match="batch_problems must be >= 1"):
        SearchConfig(data="-", model="m", batch_problems=0)


def test_a_prm_free_search_reads_no_prm_and_says_whose_pick_it_shows(tmp_path, prmkit_cli):
    problems = tmp_path / "problems.jsonl"
    write(world_examples(3, source="injected", seed=6), problems, "prmkit")
    result = prmkit_cli("search", problems, "--model", "self-certainty", "--method", "best-of-n", "--n", "4",
                        "--out", tmp_path / "s")
    assert "certainty pick" in result.stdout and "PRM pick" not in result.stdout
    row = json.loads((tmp_path / "s" / "summary.json").read_text())["accuracy"]["best-of-n"]["4"]
    assert row["prm_tokens"] == 0 and row["generated_tokens"] > 0 and 0.0 <= row["prm"] <= 1.0


def test_prm_cache_sizes_read_with_binary_units_and_bad_ones_raise():
    from prmkit.cli.search import parse_bytes

    assert [parse_bytes(s) for s in ("512M", "2GiB", "1.5g", "4kb", "100")] == [2**29, 2**31, 3 * 2**29, 4096, 100]
    for bad in ("", "G", "lots", "-1G", "inf"):
        with pytest.raises(ValueError, match="--prm-cache"):
            parse_bytes(bad)


def test_quickstart_small_runs_every_stage_and_writes_the_report(tmp_path):
    from prmkit.pipelines.quickstart import QuickstartConfig, run

    lines = []
    summary = run(QuickstartConfig(out=str(tmp_path / "q"), train_problems=24, bench_problems=16, search_problems=3,
                                   n=(1, 2), k=2, epochs=1, verifier_problems=3, verifier_ks=(1,)), log=lines.append)
    assert [line.split("]")[0] for line in lines if line.startswith("[")] == [f"[{k}/6" for k in range(1, 7)]
    assert summary["labels"]["quality"]["solutions"] == 24
    assert set(summary["search"]) == {"best-of-n", "beam", "particle-filtering"}
    assert 0.0 <= summary["search"]["best-of-n"]["2"]["self-certainty"] <= 1.0  # the PRM-free pick, next to the PRM's
    report = (tmp_path / "q" / "report.html").read_text()
    assert "self-certainty Best-of-N (no PRM)" in report
    assert report.count("<svg") == 2 and "first error" in report and "hsl(" in report
    assert "generative verifier, K=1" in summary["verifiers"] and "against a generative verifier" in report
    from prmkit.sandbox import available

    if available() is None:  # the code-checking verifier's K=1 row is the first of its K=8 chains
        assert {"code-checking verifier, K=1", "code-checking verifier, K=8"} <= set(summary["verifiers"])
    for row in summary["verifiers"].values():
        assert row["tokens_per_solution"] > 0 and (row["f1@0.5"] is None or 0.0 <= row["f1@0.5"] <= 1.0)
