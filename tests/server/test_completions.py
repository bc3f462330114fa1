"""OpenAI-compatible search endpoints, driven by the official ``openai`` client.

A real ``prmkit serve --policy bundled-policy`` subprocess with a real HF PRM (a random 2-way head on the
bundled policy) answers searched and pass-through requests; in-process apps (``TestClient``, no port) over
a scripted policy check the validation, the pick rules, the pass-through arguments, the queue and the
timeout, where the right answer is known by construction.
"""

import json
import re
import socket
import threading

import openai
import pytest
from openai import OpenAI

from prmkit.answers import extract_answer
from prmkit.search import SEARCHERS
from prmkit.types import StepScores
from prmkit.world.problems import WorldConfig, generate

TOKEN = "s3cret-token"
QUESTION = generate(1, WorldConfig(min_steps=2, max_steps=3), seed=3)[0].text


# ----------------------------------------------------------------------------- a real `prmkit serve`


@pytest.fixture(scope="module")
def prm(tmp_path_factory):
    """A real HF token-classification PRM: the bundled policy's body with a seeded random 2-way head."""
    import torch
    import transformers

    from prmkit.world.policy import BUNDLED_POLICY

    folder = tmp_path_factory.mktemp("prm")
    torch.manual_seed(0)
    model = transformers.AutoModelForTokenClassification.from_pretrained(str(BUNDLED_POLICY), num_labels=2)
    model.save_pretrained(folder)
    transformers.AutoTokenizer.from_pretrained(str(BUNDLED_POLICY)).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def served(start_server, prm):
    proc, url = start_server("--model", str(prm), "--spec", "trl-prm", "--policy", "bundled-policy",
                             "--token", TOKEN, env={"OMP_NUM_THREADS": "1"}, timeout=120)
    yield url
    proc.terminate()
    proc.wait(10)


def client(url, key=TOKEN):
    return OpenAI(base_url=url + "/v1", api_key=key, max_retries=0, timeout=60)


def ends_with_its_answer(text, answer):
    last = text.split("\n")[-1]
    return re.fullmatch(r"The answer is -?\d+\.", last) is not None and extract_answer(text) == answer


@pytest.mark.parametrize("method", ["best-of-n", "particle-filtering"])
def test_a_chat_search_answers_with_a_real_solution_and_its_compute(served, method):
    r = client(served).chat.completions.create(model="bundled-policy", messages=[{"role": "user", "content": QUESTION}],
                                               seed=0, temperature=1.0, extra_body={"budget": 4, "method": method})
    text, search = r.choices[0].message.content, r.search
    assert r.object == "chat.completion" and r.choices[0].finish_reason == "stop" and r.model == "bundled-policy"
    assert ends_with_its_answer(text, search["answer"]), text
    assert search["method"] == method and search["budget"] == 4 and search["candidates"] == 4
    assert search["prm_tokens"] > 0 and search["score_calls"] >= 1 and search["generate_calls"] >= 1
    assert r.usage.completion_tokens == search["generated_tokens"] > 0
    assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens and r.usage.prompt_tokens > 0


def test_pass_through_is_the_policys_own_text_and_completions_search_too(served):
    from prmkit.backends import load_generator

    greedy = load_generator("bundled-policy", device="cpu").generate(
        [QUESTION + "\n"], n=1, max_tokens=40, temperature=0.0, stop=["The answer"])[0][0]
    c = client(served)
    chat = c.chat.completions.create(model="p", messages=[{"role": "system", "content": "ignored"},
                                                          {"role": "user", "content": QUESTION}],
                                     temperature=0, max_tokens=40, stop=["The answer"])
    assert chat.choices[0].message.content == greedy and chat.search is None and "=" in greedy
    plain = c.completions.create(model="p", prompt=QUESTION + "\n", temperature=0, max_tokens=40, stop="The answer",
                                 n=2)
    assert [x.text for x in plain.choices] == [greedy, greedy] and [x.index for x in plain.choices] == [0, 1]
    searched = c.completions.create(model="p", prompt=QUESTION, seed=1, extra_body={"budget": 4, "pick": "weighted"})
    assert searched.object == "text_completion" and searched.search["candidates"] == 4
    assert ends_with_its_answer(searched.choices[0].text, searched.search["answer"])


def test_requests_need_the_token_and_scoring_still_answers(served):
    with pytest.raises(openai.AuthenticationError):
        client(served, key="wrong").chat.completions.create(model="p", messages=[{"role": "user", "content": "Q"}],
                                                            extra_body={"budget": 1})
    import httpx

    r = httpx.post(served + "/v1/score", json={"items": [{"problem": "Q", "text": "1 + 1 = 2\nThe answer is 2."}]},
                   headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60)
    assert r.status_code == 200 and len(r.json()["results"][0]["step_scores"]) == 2


# ----------------------------------------------------------------------------- in-process, a scripted policy


class Scripted:
    """Sample ``k`` writes ``x = k`` then ``The answer is 7.``, but sample 3 writes ``x = 9`` and answers 9 (so
    the 9-loving scorer prefers it and a majority does not); one step at a time with ``stop``, the rest of the
    solution without. ``calls`` records every call's arguments."""

    def __init__(self, entered=None, release=None):
        self.calls, self.entered, self.release = [], entered, release

    def generate(self, prompts, *, n=1, stop=None, max_tokens=256, temperature=1.0, seed=None):
        self.calls.append({"prompts": list(prompts), "n": n, "stop": stop, "max_tokens": max_tokens,
                           "temperature": temperature, "seed": seed})
        if self.entered is not None:
            self.entered.set()
            assert self.release.wait(30)
        out = []
        for p in prompts:
            written = len(p.split("\n")) - 2  # the question's line and the prompt's trailing newline
            rest = [f"x = {9 if k == 3 else k}" for k in range(n)] if written == 0 else [None] * n
            answers = [f"The answer is {9 if k == 3 else 7}." for k in range(n)]
            if stop:  # one step
                out.append([r if r is not None else a for r, a in zip(rest, answers)])
            else:
                out.append(["\n".join(x for x in (r, a) if x) for r, a in zip(rest, answers)])
        return out


class NinesScorer:
    """0.9 for a step with a 9 in it, else 0.1; counts the tokens (words) it reads."""

    def __init__(self):
        self.report = {"tokens": 0}

    def score(self, problems, solutions):
        self.report["tokens"] += sum(len(s.split()) for sol in solutions for s in sol.steps)
        return [StepScores(tuple(0.9 if "9" in s else 0.1 for s in sol.steps)) for sol in solutions]


@pytest.fixture
def app_with():
    """``app_with(policy, **config)`` -> ``(http, openai_client)`` over an in-process app; closed after."""
    from starlette.testclient import TestClient

    from prmkit.server import ServeConfig, build_app

    opened = []

    def make(policy, scorer=None, **config):
        app = build_app(scorer or NinesScorer(), ServeConfig(model="nines", policy="scripted", token=TOKEN, **config),
                        policy)
        http = TestClient(app, headers={"Authorization": f"Bearer {TOKEN}"}).__enter__()
        opened.append(http)
        return http, OpenAI(base_url="http://testserver/v1", api_key=TOKEN, http_client=http, max_retries=0)

    yield make
    for http in opened:
        http.__exit__(None, None, None)


def ask(c, **body):
    return c.chat.completions.create(model="m", messages=[{"role": "user", "content": "Q?"}], extra_body=body)


@pytest.mark.parametrize("body, pick, answer", [
    ({}, "prm", "9"), ({"pick": "majority"}, "majority", "7"), ({"pick": "weighted"}, "weighted", "9"),
    ({"method": "self-consistency"}, "majority", "7"),
])
def test_the_pick_chooses_the_candidate_and_its_full_text(app_with, body, pick, answer):
    _, c = app_with(Scripted())
    r = ask(c, budget=4, seed=3, **body)
    first = "x = 9" if answer == "9" else "x = 0"  # the best of the candidates that state the picked answer
    assert r.choices[0].message.content == f"{first}\nThe answer is {answer}."
    assert r.search["answer"] == answer and r.search["candidates"] == 4
    assert r.search["method"] == body.get("method", "best-of-n") and r.search["prm_tokens"] > 0


@pytest.mark.parametrize("method", [*SEARCHERS, "self-consistency", "particle-filtering", "particle-gibbs"])
def test_every_search_method_answers_by_name(app_with, method):
    _, c = app_with(Scripted())
    r = ask(c, budget=4, method=method, seed=0)
    assert r.search["method"] == method and r.search["candidates"] >= 1
    assert extract_answer(r.choices[0].message.content) == r.search["answer"] in ("7", "9")


def test_pass_through_hands_the_sampling_fields_to_one_generate_call(app_with):
    policy = Scripted()
    _, c = app_with(policy, template="Question: {question}\n")
    r = c.completions.create(model="m", prompt=["A\n", "B\n"], n=2, max_tokens=7, temperature=0.3, stop="\n\n", seed=11)
    assert policy.calls == [{"prompts": ["A\n", "B\n"], "n": 2, "stop": ["\n\n"], "max_tokens": 7,
                             "temperature": 0.3, "seed": 11}]
    assert [x.text for x in r.choices] == ["x = 0", "x = 1"] * 2 and r.search is None
    ask(c)  # chat: the template around the last user message
    assert policy.calls[-1]["prompts"] == ["Question: Q?\n"] and policy.calls[-1]["n"] == 1


@pytest.mark.parametrize("body, field", [
    ({"budget": 0}, "budget"), ({"budget": 9}, "budget"), ({"budget": "4"}, "budget"), ({"budget": True}, "budget"),
    ({"budget": 2, "method": "nope"}, "method"), ({"budget": 2, "pick": "best"}, "pick"),
    ({"method": "beam"}, "method"), ({"pick": "prm"}, "pick"),
    ({"budget": 2, "method": "self-consistency", "pick": "prm"}, "pick"),
    ({"budget": 2, "n": 2}, "n"), ({"budget": 2, "stop": ["x"]}, "stop"), ({"stream": True}, "stream"),
    ({"messages": []}, "messages"), ({"messages": [{"role": "system", "content": "s"}]}, "messages"),
    ({"budgte": 4}, "budgte"), ({"temperature": -1}, "temperature"),
    # a conversation is refused, not cut to its last turn
    ({"messages": [{"role": "user", "content": "Q"}, {"role": "assistant", "content": "A"},
                   {"role": "user", "content": "and?"}]}, "messages[1]"),
    ({"messages": [{"role": "user", "content": "Q"}, {"role": "user", "content": "Q2"}]}, "messages[1]"),
    ({"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "Q"},
                   {"role": "tool", "content": "7"}]}, "messages[2]"),
])
def test_invalid_requests_are_422_naming_the_field(app_with, body, field):
    http, _ = app_with(Scripted(), max_budget=8)
    r = http.post("/v1/chat/completions", json={"model": "m", "messages": [{"role": "user", "content": "Q"}], **body})
    assert r.status_code == 422 and f"field '{field}" in r.json()["error"]["message"], r.text
    assert r.json()["error"]["type"] == "invalid_request_error"


def test_one_search_at_a_time_and_a_full_queue_is_429(app_with):
    entered, release = threading.Event(), threading.Event()
    _, c = app_with(Scripted(entered, release), search_concurrency=1, search_queue=0)
    first = {}
    worker = threading.Thread(target=lambda: first.setdefault("r", ask(c, budget=2)))
    worker.start()
    try:
        assert entered.wait(30)  # the first search holds the only slot
        with pytest.raises(openai.RateLimitError) as e:
            ask(c, budget=2)
        assert e.value.status_code == 429 and "retry later" in e.value.body["message"]
    finally:
        release.set()
        worker.join(30)
    assert first["r"].search["candidates"] == 2


def test_a_search_past_the_request_timeout_is_504(app_with):
    entered, release = threading.Event(), threading.Event()
    http, _ = app_with(Scripted(entered, release), request_timeout=0.2)
    try:
        r = http.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": "Q"}], "budget": 2})
        assert r.status_code == 504 and "request timeout" in r.json()["error"]["message"]
        assert entered.is_set()
    finally:
        release.set()


class _EndWatcher(NinesScorer):
    """Counts its calls, and tells when a search has ended (the server releases its problem then)."""

    def __init__(self):
        super().__init__()
        self.calls, self.ended = 0, threading.Event()

    def score(self, problems, solutions):
        self.calls += 1
        return super().score(problems, solutions)

    def release(self, problem):
        self.ended.set()


def test_a_timed_out_search_stops_at_its_next_model_call(app_with):
    entered, release = threading.Event(), threading.Event()
    policy, scorer = Scripted(entered, release), _EndWatcher()
    http, _ = app_with(policy, scorer=scorer, request_timeout=0.2)
    body = {"messages": [{"role": "user", "content": "Q"}], "budget": 2, "method": "beam"}
    r = http.post("/v1/chat/completions", json=body)
    assert r.status_code == 504 and "stops at its next model call" in r.json()["error"]["message"]
    release.set()  # its first generate call returns: the beam search then stops instead of scoring and going on
    assert scorer.ended.wait(30)
    assert scorer.calls == 0 and len(policy.calls) == 1


def test_without_a_policy_there_are_no_completion_routes_and_bad_flags_are_one_line():
    from starlette.testclient import TestClient
    from typer.testing import CliRunner

    from prmkit.backends.fake import FakeScorer
    from prmkit.cli.main import app
    from prmkit.server import ServeConfig, build_app

    with TestClient(build_app(FakeScorer(), ServeConfig(model="fake")), base_url="http://127.0.0.1") as http:
        assert http.post("/v1/chat/completions", json={}).status_code == 404
    for args, reason in ((["--policy", "/no/such/policy"], "no such folder"), (["--max-budget", "0"], "max_budget"),
                         (["--template", "no question"], "template"), (["--template", "{q}"], "template"),
                         (["--search-queue", "-1"], "search_queue")):
        result = CliRunner().invoke(app, ["serve", "--model", "fake", *args])
        err = result.stderr.strip()
        assert result.exit_code == 2 and err.startswith("error:") and reason in err and "\n" not in err, err


class _WaitsForTheEnd(Scripted):
    """Its first call returns only once the server has given up on the request (the job has ended)."""

    def generate(self, prompts, **kwargs):
        from prmkit.server.completions import _RUNNING

        if not self.calls:
            self.entered.set()
            self.saw_the_end = _RUNNING.job.ended.wait(30)
        return super().generate(prompts, **kwargs)


def test_a_search_whose_client_hangs_up_stops_at_its_next_model_call():
    """A real uvicorn on loopback: the client sends a beam search and closes the connection during its
    first policy call; the server notices (the ASGI disconnect), and the search stops there, scoring
    nothing, long before the request timeout."""
    import uvicorn

    from prmkit.server import ServeConfig, build_app

    policy, scorer = _WaitsForTheEnd(threading.Event()), _EndWatcher()
    app = build_app(scorer, ServeConfig(model="nines", policy="scripted", token=TOKEN, request_timeout=600), policy)
    listener = socket.create_server(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    try:
        body = json.dumps({"messages": [{"role": "user", "content": "Q"}], "budget": 2, "method": "beam"}).encode()
        head = (f"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {TOKEN}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode()
        with socket.create_connection(listener.getsockname(), timeout=30) as conn:
            conn.sendall(head + body)
            assert policy.entered.wait(30)  # the search is in its first generate call
        assert scorer.ended.wait(30)  # the search ended ...
        assert policy.saw_the_end and scorer.calls == 0 and len(policy.calls) == 1  # ... at its next model call
    finally:
        server.should_exit = True
        thread.join(30)
        listener.close()
