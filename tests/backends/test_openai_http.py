"""OpenAIGenerator: request bodies, retries and errors against a fake transport, then a real
``transformers serve`` on 127.0.0.1 serving a local model folder (completions and chat)."""

import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from prmkit.backends import Generator
from prmkit.backends.openai_http import OpenAIGenerator, OpenAIHTTPError, cut_at_stop

REPO = Path(__file__).resolve().parents[2]
# The model the real server serves: the first of these folders that holds a model (PRMKIT_SERVE_MODEL,
# then the bundled policy where prmkit.world.policy.BUNDLED_POLICY puts it), else a tiny random Llama
# saved by the fixture below. The world package is not imported here: it pulls in torch and training code.
POLICY_CANDIDATES = [Path(p) for p in [os.environ.get("PRMKIT_SERVE_MODEL")] if p] + [
    REPO / "src" / "prmkit" / "world" / "assets" / "policy", REPO / "src" / "prmkit" / "world" / "policy"]
BUNDLED_POLICY = next((p for p in POLICY_CANDIDATES if (p / "config.json").is_file()), None)


def _fake(handler, **kwargs) -> OpenAIGenerator:
    gen = OpenAIGenerator("http://127.0.0.1:9/v1", "m", backoff=0.0, **kwargs)
    gen.client = httpx.Client(transport=httpx.MockTransport(handler))
    return gen


def _completion(texts):
    return httpx.Response(200, json={"choices": [{"index": i, "text": t} for i, t in enumerate(texts)]})


# ----------------------------------------------------------------------------- offline


def test_the_http_backend_needs_no_torch():
    code = ("import sys, prmkit.backends as b; light = 'httpx' not in sys.modules; "
            "from prmkit.backends.openai_http import OpenAIGenerator; OpenAIGenerator('http://127.0.0.1:9/v1', 'm'); "
            "print(light, sorted(m for m in ('torch', 'transformers', 'vllm') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["True", "[]"], result.stdout + result.stderr


def test_request_bodies_urls_and_key(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "from-env")
    gen = OpenAIGenerator("http://127.0.0.1:8000", "policy")
    assert isinstance(gen, Generator)
    assert gen.url == "http://127.0.0.1:8000/v1/completions"
    assert gen.client.headers["authorization"] == "Bearer from-env"
    assert gen.payload("Q", n=2, seed=3, max_tokens=5, temperature=0.5, stop=["\n"]) == {
        "model": "policy", "prompt": "Q", "n": 2, "seed": 3, "max_tokens": 5, "temperature": 0.5, "stop": ["\n"]}
    chat = OpenAIGenerator("http://127.0.0.1:8000/v1/", "policy", mode="chat", api_key="k")
    assert chat.url == "http://127.0.0.1:8000/v1/chat/completions"
    assert chat.client.headers["authorization"] == "Bearer k"
    assert chat.payload("Q", n=1, seed=None, max_tokens=5, temperature=0.0, stop=None) == {
        "model": "policy", "messages": [{"role": "user", "content": "Q"}], "max_tokens": 5, "temperature": 0.0}
    monkeypatch.delenv("OPENAI_API_KEY")
    assert "authorization" not in OpenAIGenerator("http://x/v1", "m").client.headers
    with pytest.raises(ValueError, match="mode"):
        OpenAIGenerator("http://x/v1", "m", mode="responses")


@contextlib.contextmanager
def _canned_server(reply):
    """A real HTTP server on 127.0.0.1 answering every POST with ``reply(body)`` as JSON; yields (base URL,
    the request bodies it got)."""
    bodies = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            bodies.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            data = json.dumps(reply(bodies[-1])).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/v1", bodies
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


# vLLM's shapes for "1 + 1 = 2" then the stop "\n" then "more": completions (logprobs=0: token_logprobs, no tops)
# and chat (content[].logprob); a chat token with a null logprob makes the whole list unknown
COMPLETIONS_LOGPROBS = {"tokens": ["1", " +", " 1", " =", " 2", "\n", "more"],
                        "token_logprobs": [-0.1, -0.2, -0.3, -0.4, -0.5, -0.6, -0.7], "top_logprobs": None}
CHAT_LOGPROBS = {"content": [{"token": t, "logprob": v, "top_logprobs": [{"token": t, "logprob": v}]}
                             for t, v in zip(COMPLETIONS_LOGPROBS["tokens"], COMPLETIONS_LOGPROBS["token_logprobs"])]}


def test_sampled_token_logprobs_over_http_from_both_shapes_cut_at_the_stop():
    def completions(body):
        return {"choices": [{"index": i, "text": "1 + 1 = 2\nmore", "logprobs": COMPLETIONS_LOGPROBS}
                            for i in range(body.get("n", 1))]}

    with _canned_server(completions) as (url, bodies):
        rows = OpenAIGenerator(url, "m").complete(["Q", "R"], n=2, stop=["\n"], logprobs=True)
        assert bodies[0]["logprobs"] == 0 and "top_logprobs" not in bodies[0]  # 0: token_logprobs, no alternatives
        OpenAIGenerator(url, "m").complete(["Q"], logprobs=True, top_logprobs=3)
        assert bodies[-1]["logprobs"] == 3
        OpenAIGenerator(url, "m").complete(["Q"])
        assert "logprobs" not in bodies[-1]
    assert [len(row) for row in rows] == [2, 2]
    for c in (c for row in rows for c in row):
        assert c.text == "1 + 1 = 2" and c.tokens == 7 and c.top_logprobs is None
        assert c.logprobs == (-0.1, -0.2, -0.3, -0.4, -0.5) and c.offsets == (0, 1, 3, 5, 7)  # "\n", "more" cut

    def chat(body):
        content = body["messages"][0]["content"]
        lp = CHAT_LOGPROBS if content != "null" else {"content": [{**CHAT_LOGPROBS["content"][0], "logprob": None}]
                                                                  + CHAT_LOGPROBS["content"][1:]}
        return {"choices": [{"index": 0, "message": {"content": "1 + 1 = 2\nmore"}, "logprobs": lp}]}

    with _canned_server(chat) as (url, bodies):
        gen = OpenAIGenerator(url, "m", mode="chat")
        (c,), = gen.complete(["Q"], stop=["\n"], logprobs=True)
        assert bodies[-1]["logprobs"] is True and "top_logprobs" not in bodies[-1]
        assert c.logprobs == (-0.1, -0.2, -0.3, -0.4, -0.5) and c.offsets == (0, 1, 3, 5, 7) and c.top_logprobs is None
        (c,), = gen.complete(["Q"], stop=["\n"], logprobs=True, top_logprobs=1)
        assert bodies[-1]["top_logprobs"] == 1 and c.top_logprobs[4] == {" 2": -0.5} and len(c.top_logprobs) == 5
        (c,), = gen.complete(["null"], stop=["\n"], logprobs=True)
        assert c.logprobs is None and c.offsets == (0, 1, 3, 5, 7)  # one token's is missing: never made up


def test_logprobs_are_none_when_the_server_sends_none():
    def bare(body):
        key = "message" if "messages" in body else "text"
        return {"choices": [{"index": 0, key: {"content": "no logprobs"} if key == "message" else "no logprobs"}]}

    for mode in ("completions", "chat"):
        with _canned_server(bare) as (url, bodies):
            (c,), = OpenAIGenerator(url, "m", mode=mode).complete(["Q"], logprobs=True)
        assert bodies[0]["logprobs"] in (0, True) and c.text == "no logprobs"
        assert c.logprobs is None and c.top_logprobs is None and c.offsets is None


def test_n_samples_and_stop_cut_when_the_server_honours_n():
    bodies = []

    def handler(request):
        bodies.append(json.loads(request.content))
        return _completion([f"{bodies[-1]['prompt']}-{i}\nrest" for i in range(bodies[-1]["n"])])

    gen = _fake(handler)
    assert gen.generate(["a", "b"], n=3, stop=["\n"], seed=1) == [["a-0", "a-1", "a-2"], ["b-0", "b-1", "b-2"]]
    assert len(bodies) == 2 and gen.supports_n is True


def test_server_that_ignores_n_gets_one_request_per_sample_with_distinct_seeds():
    seeds = []

    def handler(request):
        body = json.loads(request.content)
        seeds.append(body.get("seed"))
        return _completion([f"s{body.get('seed')}"])  # one choice, whatever n says

    gen = _fake(handler, concurrency=1)
    assert gen.generate(["a"], n=3, seed=10) == [["s10", "s11", "s12"]]
    assert seeds == [10, 11, 12] and gen.supports_n is False
    seeds.clear()
    gen.generate(["a"], n=2, seed=0)  # now known: no request asks for n
    assert seeds == [0, 1]


def test_a_seed_per_prompt_goes_with_that_prompts_requests():
    """``seed=[...]`` (``seeds_per_prompt``): prompt i's requests carry seeds[i] (and seeds[i] + j for the j-th
    extra sample), exactly the requests a call of that prompt alone sends."""
    sent = []

    def handler(request):
        body = json.loads(request.content)
        sent.append((body["prompt"], body.get("seed")))
        return _completion([f"{body['prompt']}{body.get('seed')}"])

    gen = _fake(handler, concurrency=1, supports_n=False)
    assert OpenAIGenerator.seeds_per_prompt is True
    assert gen.generate(["a", "b", "c"], n=2, seed=[10, 20, None]) == [["a10", "a11"], ["b20", "b21"],
                                                                      ["cNone", "cNone"]]
    assert sorted(sent, key=str) == sorted([("a", 10), ("a", 11), ("b", 20), ("b", 21), ("c", None), ("c", None)],
                                           key=str)
    with pytest.raises(ValueError, match="seed: 2 seeds for 3 prompts"):
        gen.generate(["a", "b", "c"], seed=[1, 2])


def test_retries_on_503_then_succeeds():
    calls = []

    def handler(request):
        calls.append(1)
        return httpx.Response(503, json={"detail": "loading"}) if len(calls) < 3 else _completion(["ok"])

    assert _fake(handler, max_retries=3).generate(["a"]) == [["ok"]] and len(calls) == 3


def test_errors_name_the_status_and_the_servers_message():
    calls = []

    def bad(request):
        calls.append(1)
        return httpx.Response(400, json={"error": {"message": "max_tokens is too large", "type": "invalid"}})

    with pytest.raises(OpenAIHTTPError, match=r"HTTP 400 .*max_tokens is too large") as err:
        _fake(bad).generate(["a"])
    assert err.value.status == 400 and len(calls) == 1  # a client error is not retried

    def down(request):
        calls.append(1)
        return httpx.Response(500, text="boom")

    calls.clear()
    with pytest.raises(OpenAIHTTPError, match=r"HTTP 500 .*boom"):
        _fake(down, max_retries=2).generate(["a"])
    assert len(calls) == 3  # bounded: 1 + max_retries


def test_malformed_responses_are_reported():
    for body in ({"choices": []}, {"data": 1}):
        with pytest.raises(OpenAIHTTPError, match=r"HTTP 200 .*(no choices|unexpected response shape)"):
            _fake(lambda request, body=body: httpx.Response(200, json=body)).generate(["a"])


def test_connection_refused_is_retried_then_reported():
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    gen = OpenAIGenerator(f"http://127.0.0.1:{port}/v1", "m", max_retries=1, backoff=0.0, timeout=5)
    with pytest.raises(OpenAIHTTPError, match=r"ConnectError.*2 attempts"):
        gen.generate(["a"])


# ----------------------------------------------------------------------------- real server


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory, tiny_tokenizer, tiny_config_factory):
    """The bundled policy if present, else a tiny random Llama with the tiny tokenizer and its chat template."""
    if BUNDLED_POLICY is not None:
        return BUNDLED_POLICY
    import torch
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    config = tiny_config_factory("llama", len(tiny_tokenizer), eos_token_id=tiny_tokenizer.eos_token_id,
                                 bos_token_id=tiny_tokenizer.eos_token_id)
    model = AutoModelForCausalLM.from_config(config)
    model.generation_config.do_sample = True  # transformers serve samples only if the model's config says so
    path = tmp_path_factory.mktemp("served_policy")
    model.save_pretrained(path)
    tiny_tokenizer.save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def server(model_dir, tmp_path_factory, transformers_serve):
    """``transformers serve MODEL --host 127.0.0.1 --port PORT --device cpu``; yields the base URL."""
    with transformers_serve(model_dir, tmp_path_factory.mktemp("serve")) as url:
        yield url


def _stop_from(text: str, prompt: str) -> str:
    """A printable ASCII character of ``text`` (not its first) that does not end the prompt."""
    for c in text[1:]:
        if c.isascii() and c.isprintable() and not prompt.endswith(c):
            return c
    pytest.fail(f"no usable stop string in {text!r}")


def test_completions_against_transformers_serve(server, model_dir):
    # concurrency=1: transformers serve seeds its global torch RNG per request, so overlapping
    # requests would interleave their draws and the same seed would not give the same samples
    # the bundled policy's word-level vocabulary trips transformers' server-side stop strings (see
    # OpenAIGenerator's server_stop); stops are then applied on the client only
    gen = OpenAIGenerator(server, str(model_dir), timeout=60, max_retries=1, concurrency=1,
                          server_stop=model_dir != BUNDLED_POLICY)
    prompts = ["Mia has 16 apples. Mia sells 3 apples. How many apples does Mia have now?\n", "Step 1: 12 + 7 = 19."]
    out = gen.generate(prompts, n=2, max_tokens=12, temperature=1.0, seed=5)
    assert [len(row) for row in out] == [2, 2] and all(isinstance(t, str) for row in out for t in row)
    assert any(t for row in out for t in row)
    assert gen.generate(prompts, n=2, max_tokens=12, temperature=1.0, seed=5) == out  # the server seeds torch
    if model_dir != BUNDLED_POLICY:
        assert out[0][0] != out[0][1]  # one request per sample, seeds 5 and 6
    # stop strings: greedy, cut where the full greedy completion has the stop
    full = gen.generate(prompts[:1], max_tokens=16, temperature=0)[0][0]
    stop = [_stop_from(full, prompts[0])]
    got = gen.generate(prompts[:1], n=2, stop=stop, max_tokens=16, temperature=0)[0]
    assert got == [cut_at_stop(full, stop)] * 2 and len(got[0]) < len(full) and stop[0] not in got[0]


def test_chat_against_transformers_serve(server, model_dir):
    gen = OpenAIGenerator(server, str(model_dir), mode="chat", timeout=60, max_retries=1,
                          server_stop=model_dir != BUNDLED_POLICY)
    out = gen.generate(["Mia has 7 apples. Mia buys 3 more apples. How many apples does Mia have now?"], n=2,
                       stop=["\n"], max_tokens=10, temperature=1.0, seed=1)
    assert len(out) == 1 and len(out[0]) == 2 and all("\n" not in t for t in out[0])
    assert any(out[0])


def test_bundled_policy_solves_stepwise_over_http(server, model_dir):
    """The served bundled policy answers one step per request (stop at the step boundary), checkably."""
    if model_dir != BUNDLED_POLICY:
        pytest.skip("the bundled policy is not in the tree")
    from prmkit.world import check, generate
    from prmkit.world.policy import prompt_of

    gen = OpenAIGenerator(server, str(model_dir), timeout=60, max_retries=1, concurrency=1, server_stop=False)
    problem = generate(1, seed=3)[0]
    steps: list[str] = []
    for _ in range(len(problem.events) + 1):  # one HTTP call per step, each stopped at the newline
        step = gen.generate([prompt_of(problem) + "".join(s + "\n" for s in steps)], stop=["\n"], max_tokens=20,
                            temperature=0.0)[0][0]
        assert "\n" not in step
        steps.append(step.strip())
    result = check(problem, steps)
    assert len(result.steps) == len(steps) and result.final_answer is not None


def test_transformers_serve_sends_no_logprobs_so_none_are_reported(server, model_dir):
    """``transformers serve`` ignores ``logprobs``: the text comes back and the log-probs are None, in both modes."""
    for mode in ("completions", "chat"):
        gen = OpenAIGenerator(server, str(model_dir), mode=mode, timeout=60, max_retries=1, concurrency=1,
                              server_stop=model_dir != BUNDLED_POLICY)
        (c,), = gen.complete(["Step 1: 12 + 7 = 19."], max_tokens=6, temperature=0, logprobs=True)
        assert isinstance(c.text, str) and c.logprobs is None and c.offsets is None


def test_real_server_errors_are_reported(server):
    gen = OpenAIGenerator(server, "not-the-served-model", max_retries=0)
    with pytest.raises(OpenAIHTTPError, match=r"HTTP 400 .*pinned to"):
        gen.generate(["a"], max_tokens=2)


def test_monte_carlo_rollouts_over_http(server, model_dir):
    """The annotation labelers take any Generator: MC rollouts through the real server, graded by answer."""
    if model_dir != BUNDLED_POLICY:
        pytest.skip("the bundled policy is not in the tree")
    from prmkit.annotate.rollouts import RolloutEngine, monte_carlo
    from prmkit.types import Example, Solution
    from prmkit.world import generate, gold_steps

    gen = OpenAIGenerator(server, str(model_dir), timeout=60, max_retries=1, concurrency=1, server_stop=False)
    problems = generate(2, seed=11)
    examples = [Example(p.to_problem(), Solution(gold_steps(p))) for p in problems]
    engine = RolloutEngine(gen, {}, max_tokens=80)
    results = monte_carlo(examples, engine, k=2)
    for ex, r in zip(examples, results):
        n = len(ex.solution.steps)
        assert r["rollouts"] == 2 * (n - 1) and r["labels"][-1] == 1.0  # gold: its own answer is right
        assert all(v in (0.0, 0.5, 1.0) for v in r["labels"]) and r["tokens"] > 0
    # the first prefix of a gold solution is on the gold path: the policy reaches the answer from it sometimes
    cached = [rollout for rows in engine.cache.values() for rollout in rows]
    assert len(cached) == sum(r["rollouts"] for r in results) and any(ok for _, ok, _ in cached)
