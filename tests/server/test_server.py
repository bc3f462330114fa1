"""The PRM server over real HTTP on loopback: protocols, auth, limits, micro-batching."""

import subprocess
import sys
from pathlib import Path

import httpx
import pytest


@pytest.fixture(scope="module")
def server(start_server):
    proc, url = start_server("--model", "fake")
    yield url
    proc.terminate()
    proc.wait(10)


def test_openrlhf_get_reward_shapes_including_the_empty_batch(server):
    body = {"query": ["Q1\n2 + 2 = 4\nThe answer is 4.", "Q2\n1 + 1 = 3"], "prompts": ["Q1\n", "Q2\n"],
            "labels": ["4", "2"]}
    r = httpx.post(server + "/get_reward", json=body).json()
    assert len(r["rewards"]) == len(r["scores"]) == len(r["step_scores"]) == 2
    assert [len(s) for s in r["step_scores"]] == [2, 1]
    assert r["rewards"] == [min(s) for s in r["step_scores"]]
    assert all(len(v) == 2 for v in r["extra_logs"].values())
    empty = httpx.post(server + "/get_reward", json={"query": [], "prompts": [], "labels": []}).json()
    assert empty["rewards"] == [] and empty["scores"] == [] and empty["step_scores"] == []
    assert all(v == [] for v in empty["extra_logs"].values())


def test_native_score_and_pooling_agree(server):
    r = httpx.post(server + "/v1/score", json={"items": [{"problem": "Q1", "steps": ["2 + 2 = 4", "The answer is 4."]},
                                                         {"problem": "Q1", "text": "2 + 2 = 4\nThe answer is 4."}]})
    a, b = r.json()["results"]
    assert a == b and a["aggregate"] == min(a["step_scores"]) and len(a["step_scores"]) == 2
    pooled = httpx.post(server + "/pooling", json={"input": "Q1\n2 + 2 = 4\nThe answer is 4."}).json()
    rows = pooled["data"][0]["data"]
    assert pooled["object"] == "list" and [p for _, p in rows] == a["step_scores"]
    assert all(abs(x + y - 1) < 1e-9 for x, y in rows)


@pytest.mark.parametrize("body, field", [
    ({"items": [{"problem": "Q"}]}, "items.0"),
    ({"items": [{"problem": 3, "steps": ["a"]}]}, "items.0.problem"),
    ({"items": "x"}, "items"),
    ({"items": [{"problem": "Q", "steps": ["a"], "bogus": 1}]}, "items.0.bogus"),
    ({"items": [{"problem": "Q", "steps": ["a"]}], "aggregate": "max"}, "aggregate"),
])
def test_malformed_requests_get_a_4xx_naming_the_field(server, body, field):
    r = httpx.post(server + "/v1/score", json=body)
    assert r.status_code == 422 and f"'{field}'" in r.json()["error"]["message"]


def test_limits_and_garbage(server):
    r = httpx.post(server + "/v1/score", json={"items": [{"problem": "Q", "steps": ["a"] * 600}]})
    assert r.status_code == 422 and "items.0.steps" in r.json()["error"]["message"]
    r = httpx.post(server + "/v1/score", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 422
    r = httpx.post(server + "/get_reward", json={"query": ["a"], "prompts": ["a", "b"]})
    assert r.status_code == 422 and "prompts" in r.json()["error"]["message"]
    metrics = httpx.get(server + "/metrics").text
    assert 'prmkit_requests_total{path="/v1/score",status="422"}' in metrics


def test_non_loopback_needs_a_token_and_requests_must_carry_it(start_server):
    refused = subprocess.run([str(Path(sys.executable).with_name("prmkit")), "serve", "--model", "fake",
                              "--host", "0.0.0.0"], capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2 and "without a token" in refused.stderr
    proc, url = start_server("--model", "fake", env={"PRMKIT_TOKEN": "s3cret"})
    try:
        body = {"query": ["Q\n1 + 1 = 2"], "prompts": ["Q\n"]}
        assert httpx.post(url + "/get_reward", json=body).status_code == 401
        assert httpx.post(url + "/get_reward", json=body, headers={"Authorization": "Bearer wrong"}).status_code == 401
        ok = httpx.post(url + "/get_reward", json=body, headers={"Authorization": "Bearer s3cret"})
        assert ok.status_code == 200 and len(ok.json()["rewards"]) == 1
    finally:
        proc.terminate()
        proc.wait(10)


def test_bounded_load_many_clients_are_batched_together(server):
    """16 clients x 8 requests each, loopback only: every answer right-shaped, fewer scorer calls than items."""
    import asyncio
    import re

    def scored():
        m = httpx.get(server + "/metrics").text
        return [int(re.search(rf"{name} (\d+)", m).group(1)) for name in ("prmkit_scored_items_total",
                                                                          "prmkit_scorer_batches_total")]

    items0, batches0 = scored()

    async def client(k):
        async with httpx.AsyncClient(base_url=server, timeout=30) as c:
            for j in range(8):
                r = await c.post("/get_reward", json={"query": [f"Q{k}\n{j} + 1 = {j + 1}"], "prompts": [f"Q{k}\n"]})
                assert r.status_code == 200 and len(r.json()["rewards"]) == 1

    async def main():
        await asyncio.wait_for(asyncio.gather(*(client(k) for k in range(16))), timeout=60)

    asyncio.run(main())
    items, batches = scored()
    assert items - items0 == 128 and batches - batches0 < 128


def test_fuzzed_bodies_never_get_a_5xx(server):
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    leaves = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20)
    json_values = st.recursive(leaves, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.sampled_from(["items", "problem", "steps", "text", "query", "prompts", "labels", "input", "aggregate", "x"]),
        inner, max_size=4), max_leaves=12)
    client = httpx.Client(base_url=server, timeout=30)

    @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
    @given(path=st.sampled_from(["/v1/score", "/get_reward", "/pooling"]), body=json_values)
    def check(path, body):
        r = client.post(path, json=body)
        assert r.status_code < 500, (path, body, r.text)

    check()
    for raw in (b"", b"\xff\xfe", b"[" * 5000, b'{"items": [' + b"{}," * 3000 + b"{}]}"):
        for path in ("/v1/score", "/get_reward", "/pooling"):
            r = client.post(path, content=raw, headers={"content-type": "application/json"})
            assert r.status_code < 500, (path, raw[:20], r.text[:200])
