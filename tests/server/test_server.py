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


def test_metrics_cannot_be_forged_and_unknown_paths_share_one_label(server):
    """A percent-encoded path cannot plant a sample, and 3,000 distinct unknown paths add at most one label."""
    import re
    import socket

    def shape(text):  # the exposition with every sample value blanked
        return [re.sub(r" \S+$", " N", line) if not line.startswith("#") else line for line in text.splitlines()]

    client = httpx.Client(base_url=server, timeout=30)
    client.get("/warm-up-an-unknown-path")
    client.get("/metrics")
    before = client.get("/metrics")
    assert before.headers["content-type"].startswith("text/plain")
    client.get("/x%22%7D%201%0Aprmkit_scored_items_total%209999%0A%23")
    after = client.get("/metrics").text
    assert shape(after) == shape(before.text)
    assert not re.search(r"^prmkit_scored_items_total 9999", after, re.M)
    host, port = server.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as s:  # 3,000 requests pipelined, 100 at a time
        answered, tail = 0, b""
        for start in range(0, 3000, 100):
            s.sendall(b"".join(b"GET /unknown/%d HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" % i for i in range(start, start + 100)))
            while answered < start + 100:
                data = tail + s.recv(1 << 16)
                answered, tail = answered + data.count(b"HTTP/1.1 404 "), data[-12:]  # a status line cut in two
    grown = client.get("/metrics").text
    labels = {line.split(" ")[0] for line in grown.splitlines() if line.startswith("prmkit_requests_total{")}
    assert len(labels - {line.split(" ")[0] for line in after.splitlines()}) <= 1
    assert len(grown) < len(after) + 2000


@pytest.mark.parametrize("path, body, field", [
    ("/v1/score", {"items": [{"problem": "Q", "steps": ["x" * 200_001]}]}, "items.0.steps.0"),
    ("/get_reward", {"query": ["x" * 200_001]}, "query.0"),
    ("/get_reward", {"query": ["Q\na"], "prompts": ["x" * 200_001]}, "prompts.0"),
    ("/pooling", {"input": "x" * 200_001}, "input"),
    ("/pooling", {"input": ["Q\na", "x" * 200_001]}, "input"),
])
def test_every_string_is_capped(server, path, body, field):
    r = httpx.post(server + path, json=body, timeout=30)
    assert r.status_code == 422 and f"'{field}" in r.json()["error"]["message"], r.text[:300]


def test_without_a_token_only_loopback_host_names_are_served(server):
    """DNS rebinding: a page on evil.example that resolves to 127.0.0.1 sends ``Host: evil.example``."""
    port = server.rsplit(":", 1)[1]
    for host in ("evil.example", f"evil.example:{port}", "127.0.0.1.evil.example"):
        r = httpx.get(server + "/health", headers={"Host": host})
        assert r.status_code == 400 and "host" in r.json()["error"]["message"], (host, r.text)
        r = httpx.post(server + "/v1/score", json={"items": [{"problem": "Q", "steps": ["a"]}]}, headers={"Host": host})
        assert r.status_code == 400, host
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", "localhost", f"[::1]:{port}"):
        assert httpx.get(server + "/health", headers={"Host": host}).status_code == 200, host


def test_openapi_schema_says_what_the_server_does(server):
    schema = httpx.get(server + "/openapi.json").json()
    error = schema["components"]["schemas"]["ErrorResponse"]
    assert set(error["properties"]) == {"error"}
    for path in ("/v1/score", "/get_reward", "/pooling"):
        responses = schema["paths"][path]["post"]["responses"]
        for status in ("400", "401", "411", "413", "422"):
            ref = responses[status]["content"]["application/json"]["schema"]["$ref"]
            assert ref.endswith("/ErrorResponse"), (path, status)
    request = schema["components"]["schemas"]["ScoreRequest"]["properties"]["aggregate"]
    assert set(request["enum"]) == {"min", "prod", "last", "mean", "geometric_mean"}
    assert "text/plain" in schema["paths"]["/metrics"]["get"]["responses"]["200"]["content"]


def test_a_json_decode_error_names_a_position(server):
    r = httpx.post(server + "/v1/score", content=b'{"items": [}', headers={"content-type": "application/json"})
    message = r.json()["error"]["message"]
    assert r.status_code == 422 and "position 11" in message and "field" not in message, message


def test_health_reports_a_dead_batcher():
    """Should the batcher's loop ever end, /health says so (503) and requests fail at once instead of waiting."""
    import asyncio

    from prmkit.backends.fake import FakeScorer
    from prmkit.server import MicroBatcher, ScoringError
    from prmkit.types import Problem, Solution

    pairs = [(Problem("p", "Q"), Solution(("a", "b")))]

    async def main():
        batcher = MicroBatcher(FakeScorer())
        assert len((await batcher.score(pairs))[0]) == 2 and batcher.health()[0]
        batcher.task.cancel()
        await asyncio.sleep(0)
        ok, detail = batcher.health()
        assert not ok and "dead" in detail
        with pytest.raises(ScoringError) as e:
            await asyncio.wait_for(batcher.score(pairs), 30)
        assert e.value.status == 503

    asyncio.run(main())
