"""The native scoring routes, ``POST /v1/score`` and vLLM-shaped ``POST /pooling``: validate, split into
steps, ``batcher.score``, shape the answer. Limits, auth and metrics are the guard's; scorer failures
reach the client as ``ScoringError`` (see ``app.py``).

(No ``from __future__ import annotations``: FastAPI reads the handlers' request models, local to
``scoring_router``, from their evaluated annotations.)
"""

import time
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from ..aggregate import aggregate
from ..types import Problem, Solution
from .batching import MicroBatcher
from .config import ServeConfig
from .protocol import ERROR_RESPONSES, PoolingResponse, ScoreResponse, error, request_models

__all__ = ["scoring_router", "steps_of", "fail"]


def fail(status: int, message: str) -> JSONResponse:
    return JSONResponse(error(message, status), status_code=status)


def steps_of(text: str, config: ServeConfig) -> tuple[str, ...]:
    """``text`` split at the separator, blank steps dropped (the whole text when nothing is left)."""
    steps = tuple(s for s in text.split(config.separator) if s.strip())
    if len(steps) > config.max_steps:
        raise ValueError(f"{len(steps)} steps > {config.max_steps}")
    return steps or (text,)


def scoring_router(config: ServeConfig, batcher: MicroBatcher) -> APIRouter:
    """``/v1/score`` and ``/pooling`` over ``batcher``, with ``config``'s separator and limits."""
    models = request_models(config)
    router = APIRouter(responses=ERROR_RESPONSES)

    @router.post("/v1/score", response_model=ScoreResponse)
    async def score(request: models.ScoreRequest) -> Any:
        pairs = []
        for i, item in enumerate(request.items):
            if (item.steps is None) == (item.text is None):
                return fail(422, f"field 'items.{i}': give exactly one of 'steps' and 'text'")
            try:
                steps = tuple(item.steps) if item.steps is not None else steps_of(item.text or "", config)
                pairs.append((Problem(f"req-{i}", item.problem), Solution(steps)))
            except ValueError as e:
                return fail(422, f"field 'items.{i}': {e}")
        values = await batcher.score(pairs)
        return {"results": [{"step_scores": v, "aggregate": aggregate(v, request.aggregate)} for v in values]}

    @router.post("/pooling", response_model=PoolingResponse)
    async def pooling(request: models.PoolingRequest) -> Any:
        inputs = [request.input] if isinstance(request.input, str) else request.input
        pairs = []
        for i, raw in enumerate(inputs):
            question, _, body = raw.partition(config.separator)
            try:
                pairs.append((Problem(f"req-{i}", question), Solution(steps_of(body, config))))
            except ValueError as e:
                return fail(422, f"field 'input.{i}': {e}")
        values = await batcher.score(pairs)
        return {"id": f"pool-{int(time.time() * 1000)}", "object": "list", "created": int(time.time()),
                "model": config.model,
                "data": [{"index": i, "object": "pooling", "data": [[1 - x, x] if x is not None else None for x in v]}
                         for i, v in enumerate(values)],
                "usage": {"prompt_tokens": 0, "total_tokens": 0}}

    return router
