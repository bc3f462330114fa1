"""The bundled generative verifier wherever a PRM goes: score, eval, search, serve (three shapes) and RL glue."""

from __future__ import annotations

import json

import httpx
import pytest

from prmkit.data import write
from prmkit.world.export import world_examples

SPEC = "generative,k=2,temperature=0.7"


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    path = tmp_path_factory.mktemp("gen") / "bench.json"
    write(world_examples(12, seed=7), path, "processbench")
    return path


def test_score_and_eval_processbench_and_bon(bench, tmp_path, prmkit_cli):
    prmkit_cli("score", bench, "--model", "bundled-verifier", "--spec", SPEC, "--out", tmp_path / "s.jsonl")
    rows = [json.loads(line) for line in (tmp_path / "s.jsonl").read_text().splitlines()]
    assert len(rows) == 12
    values = [v for r in rows for v in r["scores"]["values"]]
    assert any(v is not None for v in values) and all(v is None or 0.0 <= v <= 1.0 for v in values)
    prmkit_cli("eval", "processbench", bench, "--model", "bundled-verifier", "--spec", SPEC, "--json", tmp_path / "pb.json")
    report = json.loads((tmp_path / "pb.json").read_text())
    assert 0.0 <= report["average_f1"] <= 1.0
    sets = [ex for ex in world_examples(3, samples=4, seed=9)]
    write(sets, tmp_path / "bon.jsonl", "prmkit")
    prmkit_cli("eval", "bon", tmp_path / "bon.jsonl", "--model", "bundled-verifier", "--spec", SPEC,
               "--exact-vote", "--json", tmp_path / "bon.json")
    assert "n" in json.loads((tmp_path / "bon.json").read_text())


def test_search_with_a_generative_verifier_counts_its_tokens(tmp_path, prmkit_cli):
    problems = tmp_path / "problems.jsonl"
    write(world_examples(2, source="injected", seed=6), problems, "prmkit")
    prmkit_cli("search", problems, "--model", "bundled-verifier", "--spec", "generative,k=1", "--method", "best-of-n",
               "--method", "beam", "--n", "2", "--out", tmp_path / "s")
    summary = json.loads((tmp_path / "s" / "summary.json").read_text())
    for method in ("best-of-n", "beam"):
        row = summary["accuracy"][method]["2"]
        # the verifier reads every chain's prompt and writes its verdicts: far more tokens than the policy wrote
        assert row["prm_tokens"] > row["generated_tokens"] > 0, method


def test_serve_score_get_reward_and_pooling_with_a_generative_verifier():
    from prmkit.server import launch

    proc, url = launch("--model", "bundled-verifier", "--spec", "generative,k=1,temperature=0")
    try:
        q = world_examples(1, source="injected", seed=2)[0]
        steps = list(q.solution.steps)
        r = httpx.post(url + "/v1/score", json={"items": [{"problem": q.problem.question, "steps": steps}]}, timeout=60)
        assert r.status_code == 200, r.text
        result = r.json()["results"][0]
        assert len(result["step_scores"]) == len(steps) and result["step_scores"][0] is not None
        body = {"query": [q.problem.question + "\n" + "\n".join(steps)], "prompts": [q.problem.question + "\n"]}
        reward = httpx.post(url + "/get_reward", json=body, timeout=60).json()
        # the same greedy chains; batch padding (and the prompt text each shape passes) moves the probabilities a little
        assert reward["step_scores"][0] == pytest.approx(result["step_scores"], abs=1e-2)
        pooled = httpx.post(url + "/pooling", json={"input": body["query"][0]}, timeout=60).json()
        assert [p for _, p in pooled["data"][0]["data"]] == pytest.approx(result["step_scores"], abs=1e-2)
    finally:
        proc.terminate()
        proc.wait(10)


def test_rl_reward_functions_with_a_generative_verifier():
    from prmkit.backends import load_scorer
    from prmkit.rl import trl_reward_function, verl_compute_score

    scorer = load_scorer("bundled-verifier", spec="generative,k=1,temperature=0")
    ex = world_examples(2, source="injected", seed=4)
    rewards = trl_reward_function(scorer)([e.problem.question for e in ex], ["\n".join(e.solution.steps) for e in ex])
    assert len(rewards) == 2 and all(0.0 <= r <= 1.0 for r in rewards)
    out = verl_compute_score(scorer)("world", "\n".join(ex[0].solution.steps), None, {"question": ex[0].problem.question})
    assert len(out["step_rewards"]) == len(ex[0].solution.steps) and out["score"] == pytest.approx(rewards[0])
