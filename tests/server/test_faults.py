"""Faults the server must survive, on real `prmkit serve` processes on loopback: a scorer that raises,
returns garbage, leaves a solution unscored or hangs; stalled uploads; more connections than allowed.

The scorer is ``faulty_scorer:Faulty``, written into a temporary folder on ``PYTHONPATH``; the word in a
problem picks its fault.
"""

import asyncio
import os
import re
import signal
import socket

import httpx
import pytest

SCORER = '''
import threading

from prmkit.types import StepScores


class Faulty:
    """0.5 for every step, unless a problem asks for a fault."""

    def score(self, problems, solutions):
        questions = " ".join(p.question for p in problems)
        if "RAISE" in questions:
            raise ValueError("cannot score a RAISE problem")
        if "CRASH" in questions:
            raise RuntimeError("the model fell over")
        if "GARBAGE" in questions:
            return [[0.5] * len(s.steps) for s in solutions]
        if "HANG" in questions:
            threading.Event().wait()
        return [StepScores((None,) * len(s.steps) if "UNSCORED" in p.question else (0.5,) * len(s.steps))
                for p, s in zip(problems, solutions)]
'''
SHUTDOWN = 2  # --shutdown-timeout of the `tight` server


def start(start_server, folder, *args):
    env = {"PYTHONPATH": os.pathsep.join([str(folder), os.environ.get("PYTHONPATH", "")])}
    return start_server("--model", "faulty_scorer:Faulty", *args, env=env)


@pytest.fixture(scope="module")
def scorer_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("scorer")
    (folder / "faulty_scorer.py").write_text(SCORER)
    return folder


@pytest.fixture(scope="module")
def faulty(start_server, scorer_folder):
    """Waits 100 ms for company, so concurrent requests share a scorer call; splits texts at `ки` + newline."""
    proc, url = start(start_server, scorer_folder, "--max-wait-ms", "100", "--separator", "ки\\n")
    yield url
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) is not None


def item(problem):
    return {"items": [{"problem": problem, "steps": ["1 + 1 = 2", "so 2"]}]}


async def concurrently(url, bodies):
    async with httpx.AsyncClient(base_url=url, timeout=30) as c:
        return await asyncio.gather(*(c.post("/v1/score", json=b) for b in bodies))


def test_garbage_from_the_scorer_fails_only_its_request_and_the_server_lives_on(faulty):
    answers = asyncio.run(concurrently(faulty, [item(f"good {i}") for i in range(10)] + [item("GARBAGE")]))
    assert [r.status_code for r in answers[:10]] == [200] * 10
    assert answers[10].status_code == 500 and "scorer returned" in answers[10].json()["error"]["message"]
    assert httpx.post(faulty + "/v1/score", json=item("next"), timeout=30).status_code == 200
    assert httpx.get(faulty + "/health", timeout=30).json()["status"] == "ok"


def test_one_poisoned_request_fails_alone_with_the_reason(faulty):
    answers = asyncio.run(concurrently(faulty, [item(f"good {i}") for i in range(19)] + [item("RAISE")]))
    assert [r.status_code for r in answers[:19]] == [200] * 19
    assert answers[19].status_code == 422
    assert "cannot score a RAISE problem" in answers[19].json()["error"]["message"]


def test_5xx_answers_are_counted(faulty):
    def failures():
        m = re.search(r'prmkit_requests_total\{path="/v1/score",status="500"\} (\S+)', httpx.get(faulty + "/metrics").text)
        return float(m.group(1)) if m else 0.0

    before = failures()
    r = httpx.post(faulty + "/v1/score", json=item("CRASH"), timeout=30)
    assert r.status_code == 500 and "the model fell over" in r.json()["error"]["message"]
    assert failures() == before + 1


def test_nothing_scored_is_a_null_reward_with_the_reason_never_zero(faulty):
    body = {"query": ["Q\n1 + 1 = 2", "UNSCORED\n1 + 1 = 2"], "prompts": ["Q\n", "UNSCORED\n"]}
    r = httpx.post(faulty + "/get_reward", json=body, timeout=30).json()
    assert r["rewards"] == r["scores"] == r["extra_logs"]["prm_min"] == [0.5, None]
    assert r["extra_logs"]["prm_last"] == [0.5, None] and r["step_scores"] == [[0.5], [None]]
    reasons = r["extra_logs"]["prm_unscored_reason"]
    assert reasons[0] is None and "no step" in reasons[1]
    strict = httpx.post(faulty + "/get_reward?strict=true", json=body, timeout=30)
    assert strict.status_code == 422 and "query.1" in strict.json()["error"]["message"]
    score = httpx.post(faulty + "/v1/score", json=item("UNSCORED"), timeout=30).json()
    assert score["results"][0]["aggregate"] is None


def test_the_separator_is_taken_literally_with_shell_escapes(faulty):
    """Started with ``--separator 'ки\\n'``: a non-ASCII word plus the escape ``\\n`` for a newline."""
    body = {"items": [{"problem": "Q", "text": "1 + 1 = 2 ки\n2 + 2 = 4 ки\nso 4"}]}
    r = httpx.post(faulty + "/v1/score", json=body, timeout=30).json()
    assert len(r["results"][0]["step_scores"]) == 3
    pooled = httpx.post(faulty + "/pooling", json={"input": "Q ки\n1 + 1 = 2 ки\nso 2"}, timeout=30).json()
    assert len(pooled["data"][0]["data"]) == 2


@pytest.fixture(scope="module")
def tight(start_server, scorer_folder):
    proc, url = start(start_server, scorer_folder, "--limit-concurrency", "4", "--body-timeout", "1",
                      "--request-timeout", "1", "--shutdown-timeout", str(SHUTDOWN), "--max-items", "8",
                      "--max-chars", "1000")
    yield proc, url
    proc.kill()
    proc.wait(30)


def test_limits_are_set_from_the_command_line(tight):
    _, url = tight
    many = {"items": [{"problem": "Q", "steps": ["a"]}] * 9}
    r = httpx.post(url + "/v1/score", json=many, timeout=30)
    assert r.status_code == 422 and "'items'" in r.json()["error"]["message"]
    r = httpx.post(url + "/v1/score", json={"items": [{"problem": "Q", "steps": ["x" * 1001]}]}, timeout=30)
    assert r.status_code == 422 and "items.0.steps.0" in r.json()["error"]["message"]


def test_stalled_uploads_are_answered_408_and_closed(tight):
    _, url = tight
    host, port = url.removeprefix("http://").split(":")
    stalled = []
    for _ in range(3):
        s = socket.create_connection((host, int(port)), timeout=30)
        s.sendall(b"POST /v1/score HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                  b"Content-Length: 100\r\n\r\n{\"items\": ")
        stalled.append(s)
    for s in stalled:
        answer = b""
        while chunk := s.recv(4096):  # until the server closes the connection
            answer += chunk
        s.close()
        assert answer.startswith(b"HTTP/1.1 408") and b"body" in answer, answer[:200]
    assert httpx.post(url + "/v1/score", json=item("Q"), timeout=30).status_code == 200


def test_connections_beyond_the_limit_get_503(tight):
    _, url = tight
    clients = [httpx.Client(base_url=url, timeout=30) for _ in range(6)]  # --limit-concurrency 4
    try:
        statuses = [c.get("/health").status_code for c in clients]  # each keeps its connection open
    finally:
        for c in clients:
            c.close()
    assert 200 in statuses and 503 in statuses, statuses


def test_a_hung_scorer_gets_504_health_says_so_and_sigterm_still_stops_the_server(tight):
    """Last in this file: it stops the `tight` server."""
    proc, url = tight
    r = httpx.post(url + "/v1/score", json=item("HANG"), timeout=30)
    assert r.status_code == 504 and "1 s" in r.json()["error"]["message"], r.text
    health = httpx.get(url + "/health", timeout=30)
    assert health.status_code == 503 and "stalled" in health.json()["batcher"]
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(SHUTDOWN + 30) is not None
