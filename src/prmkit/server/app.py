"""``build_app`` wires the server together; ``serve`` loads the scorer (and the policy) and runs uvicorn.

The app is the guard (guard.py), the scoring routers (routes.py, openrlhf.py), with a policy the
OpenAI-compatible completions router (completions.py), ``/health`` and ``/metrics``, and the handlers that
give every error the one body shape of protocol.py. A new endpoint is a router over the same
``MicroBatcher``, included here; the guard needs no change.
"""

from typing import Any, Optional

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException

from .batching import MicroBatcher, ScoringError
from .config import ServeConfig
from .guard import Guard
from .metrics import CONTENT_TYPE, Metrics
from .openrlhf import openrlhf_router
from .protocol import HealthResponse, error
from .routes import fail, scoring_router

__all__ = ["build_app", "serve", "load_scorer_for", "load_policy_for"]


def _validation_message(exc: RequestValidationError) -> str:
    first = exc.errors()[0] if exc.errors() else {}
    if first.get("type") == "json_invalid":
        at = next((x for x in first.get("loc", ()) if isinstance(x, int)), None)
        return f"the body is not valid JSON: {first.get('ctx', {}).get('error', 'decode error')} at position {at}"
    loc = list(first.get("loc", ()))
    if loc and loc[0] in ("body", "query"):  # where the field was, not part of its name
        loc = loc[1:]
    where = ".".join(str(x) for x in loc) or "body"
    return f"field '{where}': {first.get('msg', 'invalid')}"


def build_app(scorer: Any, config: ServeConfig, policy: Optional[Any] = None) -> Any:
    """The FastAPI app over ``scorer`` (any ``StepScorer``); with ``policy`` (any ``Generator``), also
    ``/v1/chat/completions`` and ``/v1/completions``, whose searches share the scorer with the batcher."""
    if policy is not None:
        from .completions import SharedScorer, completions_router

        scorer = SharedScorer(scorer)  # one scorer call at a time, whether the batcher's or a search's
    batcher = MicroBatcher(scorer, config.max_batch_items, config.max_wait_ms, timeout=config.request_timeout)
    metrics = Metrics(batcher)
    app = FastAPI(title="prmkit PRM server", version="1",
                  description="Step rewards over HTTP; every error is {\"error\": {\"message\", \"type\"}}.")
    routers = [scoring_router(config, batcher), openrlhf_router(config, batcher)]
    if policy is not None:
        routers.append(completions_router(config, policy, scorer))
    app.add_middleware(Guard, config=config, metrics=metrics, routers=[app.router, *routers])

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return fail(422, _validation_message(exc))

    @app.exception_handler(ScoringError)
    async def unscorable(request: Request, exc: ScoringError) -> JSONResponse:
        return fail(exc.status, str(exc))

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:  # 404, 405
        return JSONResponse(error(str(exc.detail), exc.status_code), status_code=exc.status_code,
                            headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def crashed(request: Request, exc: Exception) -> JSONResponse:  # a bug; counted as 500 by the guard
        return fail(500, f"internal error: {type(exc).__name__}: {exc}")

    for router in routers:
        app.include_router(router)

    @app.get("/health", response_model=HealthResponse, responses={503: {"model": HealthResponse}})
    async def health() -> Any:
        ok, detail = batcher.health()
        body = {"status": "ok" if ok else "unavailable", "model": config.model, "batcher": detail}
        return body if ok else JSONResponse(body, status_code=503)

    @app.get("/metrics", response_class=Response,
             responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}},
                              "description": "Prometheus text exposition"}})
    async def metrics_text() -> Response:
        return Response(metrics.render(), media_type=CONTENT_TYPE)

    return app


def load_scorer_for(config: ServeConfig) -> Any:
    """``load_scorer(config.model, spec=config.spec)`` (a missing folder says "no such folder").

    Raises:
        ValueError, KeyError, OSError, ImportError: a model that cannot be loaded (the CLI prints one line).
    """
    from ..backends import load_scorer

    return load_scorer(config.model, spec=config.spec)


def load_policy_for(config: ServeConfig) -> Optional[Any]:
    """``load_generator(config.policy)``, or None without a policy (a missing folder says "no such folder",
    before any hub request).

    Raises:
        ValueError, KeyError, OSError, ImportError: a policy that cannot be loaded (the CLI prints one line).
    """
    import os

    from ..backends import GENERATORS, LOCAL_MODELS, _path_like, load_generator

    name = config.policy
    if name is None:
        return None
    known = name in GENERATORS or name in LOCAL_MODELS or ":" in name or name.startswith(("http://", "https://"))
    if not known and not os.path.exists(name) and _path_like(name):
        raise ValueError(f"--policy {name}: no such folder")
    try:
        return load_generator(name)
    except OSError as e:  # a hub id that is not there, or no network: transformers' message, with the flag
        raise ValueError(f"--policy {name}: {e}") from e


def serve(config: ServeConfig, scorer: Optional[Any] = None, policy: Optional[Any] = None) -> None:
    """Run the server until interrupted (SIGTERM waits ``shutdown_timeout`` s for requests in flight).
    ``scorer`` and ``policy`` default to loading ``config.model`` and ``config.policy``."""
    import uvicorn

    if policy is None:
        policy = load_policy_for(config)
    app = build_app(scorer if scorer is not None else load_scorer_for(config), config, policy)
    with_policy = f" with the policy {config.policy or type(policy).__name__}" if policy is not None else ""
    print(f"prmkit serve: {config.model}{with_policy} on http://{config.host}:{config.port} "
          f"({'bearer token required' if config.token else 'no token: loopback only'})", flush=True)
    uvicorn.run(app, host=config.host, port=config.port, log_level="warning", access_log=False,
                limit_concurrency=config.limit_concurrency, timeout_graceful_shutdown=config.shutdown_timeout)
