"""``prmkit serve``: step rewards over HTTP for RL trainers and clients (FastAPI + uvicorn).

Endpoints:

* ``POST /v1/score``: ``{"items": [{"problem": str, "steps": [str]} | {"problem": str, "text": str}]}`` ->
  ``{"results": [{"step_scores": [...], "aggregate": float}]}`` (``text`` is split at ``separator``).
* ``POST /get_reward``: OpenRLHF's remote reward protocol: ``{"query": [...], "prompts": [...], "labels": [...]}``
  -> ``{"rewards": [...], "scores": [...], "extra_logs": {"prm_min": [...], "prm_last": [...]},
  "step_scores": [[...]]}``, every list as long as the batch (an empty batch gets empty lists).
* ``POST /pooling``: vLLM's pooling response shape for token classification: one ``[p_wrong, p_correct]``
  row per step (the rows are the step-tag positions the scorer reads, not every token).
* ``GET /health``, ``GET /metrics`` (Prometheus text format).

Concurrent requests are scored together: the ``MicroBatcher`` collects items until ``max_batch_items``
or ``max_wait_ms`` and makes one scorer call. The server binds 127.0.0.1 unless told otherwise; bound
anywhere else it refuses to start without a bearer token, and every request must carry it. Bodies and
step counts are limited, and malformed input gets a 4xx naming the field.

(No ``from __future__ import annotations`` here: FastAPI reads the request models of the handlers, which are
local to ``build_app``, from their evaluated annotations.)
"""


import asyncio
import hmac
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any, Optional

from .aggregate import aggregate
from .types import Problem, Solution

__all__ = ["ServeConfig", "MicroBatcher", "build_app", "serve", "launch", "LOOPBACK"]

LOOPBACK = ("127.0.0.1", "::1", "localhost")


@dataclass
class ServeConfig:
    """Server settings.

    Args:
        model / spec: the scorer (``load_scorer``).
        host / port: where to listen; anything but loopback needs ``token``.
        token: the bearer token clients must send (``Authorization: Bearer ...``).
        separator: splits raw texts into steps.
        max_batch_items / max_wait_ms: micro-batching: each scorer call takes the queued requests (up to
            ``max_batch_items`` solutions), so requests that arrive while the scorer is busy share the next call;
            ``max_wait_ms > 0`` also waits that long for company first; ``max_batch_items=1`` scores one
            request per call.
        max_request_bytes / max_items / max_steps / max_chars: request limits (413/422 beyond them).
    """

    model: str
    spec: Optional[str] = None
    host: str = "127.0.0.1"
    port: int = 8000
    token: Optional[str] = None
    separator: str = "\n"
    max_batch_items: int = 64
    max_wait_ms: float = 0.0
    max_request_bytes: int = 4_000_000
    max_items: int = 1024
    max_steps: int = 512
    max_chars: int = 200_000

    def __post_init__(self) -> None:
        if self.host not in LOOPBACK and not self.token:
            raise ValueError(f"refusing to listen on {self.host} without a token: pass --token (or PRMKIT_TOKEN), "
                             "or bind 127.0.0.1")


class MicroBatcher:
    """Scores concurrent requests in shared scorer calls, one call at a time, off the event loop.

    Each call takes the queued requests whole, oldest first, while their items fit in ``max_items`` (always
    at least one request): requests that arrive while the scorer is busy share the next call.
    ``max_items=1`` therefore scores one request per call (the baseline of benchmarks/serve_load.py).
    """

    def __init__(self, scorer: Any, max_items: int = 64, max_wait_ms: float = 0.0) -> None:
        self.scorer, self.max_items, self.max_wait = scorer, max_items, max_wait_ms / 1000
        self.queue: Optional[asyncio.Queue] = None
        self.stats: Counter = Counter()

    async def score(self, items: list[tuple[Problem, Solution]]) -> list[list[Optional[float]]]:
        if not items:
            return []
        if self.queue is None:
            self.queue = asyncio.Queue()
            asyncio.get_running_loop().create_task(self._loop())
        future = asyncio.get_running_loop().create_future()
        await self.queue.put((items, future))
        return await future

    async def _loop(self) -> None:
        assert self.queue is not None
        held = None
        while True:
            batch = [held or await self.queue.get()]
            held = None
            size = len(batch[0][0])
            deadline = time.perf_counter() + self.max_wait
            while size < self.max_items:
                if self.queue.empty():
                    left = deadline - time.perf_counter()
                    if left <= 0:
                        break
                    try:
                        nxt = await asyncio.wait_for(self.queue.get(), left)
                    except asyncio.TimeoutError:
                        break
                else:
                    nxt = self.queue.get_nowait()
                if size + len(nxt[0]) > self.max_items:
                    held = nxt  # first in the next call
                    break
                batch.append(nxt)
                size += len(nxt[0])
            pairs = [pair for items, _ in batch for pair in items]
            try:
                scores = await asyncio.to_thread(self.scorer.score, [p for p, _ in pairs], [s for _, s in pairs])
            except Exception as e:  # noqa: BLE001 - handed to every waiting request
                for _, future in batch:
                    if not future.done():
                        future.set_exception(e)
                continue
            self.stats["batches"] += 1
            self.stats["items"] += len(pairs)
            at = 0
            for items, future in batch:
                if not future.done():
                    future.set_result([list(s.values) for s in scores[at: at + len(items)]])
                at += len(items)


def _error(message: str) -> dict:
    return {"error": {"message": message, "type": "invalid_request_error"}}


class _Guard:
    """Plain ASGI middleware (no per-request task, unlike Starlette's ``BaseHTTPMiddleware``): the bearer
    token, the body size (a POST must declare its length), and the request counters for ``/metrics``."""

    def __init__(self, app: Any, config: ServeConfig, counts: Counter, latency: Counter) -> None:
        self.app, self.config, self.counts, self.latency = app, config, counts, latency
        self.expected = f"Bearer {config.token}".encode() if config.token else None

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        import json

        path, started = scope["path"], time.perf_counter()
        headers = dict(scope["headers"])
        refusal = None
        if self.expected and path != "/health" and not hmac.compare_digest(headers.get(b"authorization", b""),
                                                                           self.expected):
            refusal = (401, "missing or wrong bearer token (Authorization: Bearer ...)")
        elif scope["method"] == "POST":
            size = headers.get(b"content-length", b"")
            if not size.isdigit():
                refusal = (411, "a request body needs a Content-Length header")
            elif int(size) > self.config.max_request_bytes:
                refusal = (413, f"request body larger than {self.config.max_request_bytes} bytes")
        if refusal:
            self.counts[(path, refusal[0])] += 1
            body = json.dumps(_error(refusal[1])).encode()
            await send({"type": "http.response.start", "status": refusal[0],
                        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})
            return None
        status = [500]

        async def watch(message: dict) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        await self.app(scope, receive, watch)
        self.counts[(path, status[0])] += 1
        self.latency[path] += time.perf_counter() - started
        return None


def build_app(scorer: Any, config: ServeConfig) -> Any:
    """The FastAPI app over ``scorer`` (any ``StepScorer``)."""
    from fastapi import FastAPI, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse, PlainTextResponse
    from pydantic import BaseModel, ConfigDict, Field

    batcher = MicroBatcher(scorer, config.max_batch_items, config.max_wait_ms)
    counts: Counter = Counter()
    latency: Counter = Counter()
    app = FastAPI(title="prmkit PRM server", version="1")
    bounded = Field(max_length=config.max_chars)

    class Item(BaseModel):
        model_config = ConfigDict(extra="forbid")
        problem: str = bounded
        steps: Optional[list[str]] = Field(default=None, max_length=config.max_steps)
        text: Optional[str] = Field(default=None, max_length=config.max_chars)

    class ScoreRequest(BaseModel):
        model_config = ConfigDict(extra="forbid")
        items: list[Item] = Field(max_length=config.max_items)
        aggregate: str = "min"

    class RewardRequest(BaseModel):
        query: list[str] = Field(max_length=config.max_items)
        prompts: Optional[list[str]] = Field(default=None, max_length=config.max_items)
        labels: Optional[list[Any]] = Field(default=None, max_length=config.max_items)

    class PoolingRequest(BaseModel):
        input: str | list[str]
        model: Optional[str] = None

    def fail(status: int, message: str) -> JSONResponse:
        return JSONResponse(_error(message), status_code=status)

    app.add_middleware(_Guard, config=config, counts=counts, latency=latency)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(x) for x in first.get("loc", ()) if x != "body") or "body"
        return fail(422, f"field '{where}': {first.get('msg', 'invalid')}")

    def steps_of(item_text: str) -> tuple[str, ...]:
        steps = tuple(s for s in item_text.split(config.separator) if s.strip())
        if len(steps) > config.max_steps:
            raise ValueError(f"{len(steps)} steps > {config.max_steps}")
        return steps or (item_text,)

    @app.post("/v1/score")
    async def score(request: ScoreRequest) -> Any:
        if request.aggregate not in ("min", "prod", "last", "mean", "geometric_mean"):
            return fail(422, f"field 'aggregate': unknown aggregation {request.aggregate!r}")
        pairs = []
        for i, item in enumerate(request.items):
            if (item.steps is None) == (item.text is None):
                return fail(422, f"field 'items.{i}': give exactly one of 'steps' and 'text'")
            try:
                steps = tuple(item.steps) if item.steps is not None else steps_of(item.text or "")
                pairs.append((Problem(f"req-{i}", item.problem), Solution(steps)))
            except ValueError as e:
                return fail(422, f"field 'items.{i}': {e}")
        values = await batcher.score(pairs)
        return {"results": [{"step_scores": v, "aggregate": aggregate(v, request.aggregate)} for v in values]}

    @app.post("/get_reward")
    async def get_reward(request: RewardRequest) -> Any:
        prompts = request.prompts or [""] * len(request.query)
        if len(prompts) != len(request.query):
            return fail(422, f"field 'prompts': {len(prompts)} prompts for {len(request.query)} queries")
        pairs = []
        for i, (query, prompt) in enumerate(zip(request.query, prompts)):
            response = query[len(prompt):] if prompt and query.startswith(prompt) else query
            try:
                pairs.append((Problem(f"req-{i}", prompt or ""), Solution(steps_of(response))))
            except ValueError as e:
                return fail(422, f"field 'query.{i}': {e}")
        values = await batcher.score(pairs)
        low = [aggregate(v, "min") or 0.0 for v in values]
        return {"rewards": low, "scores": low,
                "extra_logs": {"prm_min": low, "prm_last": [aggregate(v, "last") or 0.0 for v in values]},
                "step_scores": values}

    @app.post("/pooling")
    async def pooling(request: PoolingRequest) -> Any:
        inputs = [request.input] if isinstance(request.input, str) else request.input
        if len(inputs) > config.max_items:
            return fail(413, f"field 'input': more than {config.max_items} inputs")
        pairs = []
        for i, raw in enumerate(inputs):
            question, _, body = raw.partition(config.separator)
            try:
                pairs.append((Problem(f"req-{i}", question), Solution(steps_of(body))))
            except ValueError as e:
                return fail(422, f"field 'input.{i}': {e}")
        values = await batcher.score(pairs)
        return {"id": f"pool-{int(time.time() * 1000)}", "object": "list", "created": int(time.time()),
                "model": config.model,
                "data": [{"index": i, "object": "pooling", "data": [[1 - x, x] if x is not None else None for x in v]}
                         for i, v in enumerate(values)],
                "usage": {"prompt_tokens": 0, "total_tokens": 0}}

    @app.get("/health")
    async def health() -> Any:
        return {"status": "ok", "model": config.model}

    @app.get("/metrics")
    async def metrics() -> Any:
        lines = ["# TYPE prmkit_requests_total counter"]
        lines += [f'prmkit_requests_total{{path="{p}",status="{s}"}} {n}' for (p, s), n in sorted(counts.items())]
        lines += ["# TYPE prmkit_request_seconds_sum counter"]
        lines += [f'prmkit_request_seconds_sum{{path="{p}"}} {t:.6f}' for p, t in sorted(latency.items())]
        lines += ["# TYPE prmkit_scored_items_total counter", f"prmkit_scored_items_total {batcher.stats['items']}",
                  "# TYPE prmkit_scorer_batches_total counter", f"prmkit_scorer_batches_total {batcher.stats['batches']}"]
        return PlainTextResponse("\n".join(lines) + "\n", media_type="text/plain; version=0.0.4")

    return app


def serve(config: ServeConfig) -> None:
    """Load the scorer and run the server until interrupted."""
    import uvicorn

    from .backends import load_scorer

    app = build_app(load_scorer(config.model, spec=config.spec), config)
    print(f"prmkit serve: {config.model} on http://{config.host}:{config.port} "
          f"({'bearer token required' if config.token else 'no token: loopback only'})", flush=True)
    uvicorn.run(app, host=config.host, port=config.port, log_level="warning", access_log=False)


def launch(*args: str, env: Optional[dict] = None, timeout: float = 60.0) -> tuple[Any, str]:
    """Start ``prmkit serve ARGS`` on a free loopback port in a subprocess; return ``(process, url)`` once
    ``/health`` answers (for RL scripts, tests and benchmarks). Raises ``RuntimeError`` with the server's
    output if it exits or does not answer within ``timeout`` seconds."""
    import os
    import socket
    import subprocess
    import sys
    from pathlib import Path

    import httpx

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [str(Path(sys.executable).with_name("prmkit")), "serve", "--port", str(port), *args]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None:
        try:
            if httpx.get(url + "/health", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"prmkit serve did not start: {proc.stdout.read().decode()[-2000:]}")
