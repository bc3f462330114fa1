"""``POST /get_reward``: OpenRLHF's remote reward protocol over the same batcher.

``{"query": [...], "prompts": [...], "labels": [...]}`` -> ``{"rewards", "scores", "extra_logs",
"step_scores"}``, every list as long as the batch. A solution with no scored step gets a null reward,
never a made-up number, with the reason in ``extra_logs.prm_unscored_reason`` (that key is present only
then); ``?strict=true`` answers 422 instead. (OpenRLHF turns ``rewards`` into a tensor, which fails on a
null: the run stops rather than training on an invented reward; docs/serving.md.)
"""

from typing import Any

from fastapi import APIRouter

from ..aggregate import aggregate
from ..types import Problem, Solution
from .batching import MicroBatcher
from .config import ServeConfig
from .protocol import ERROR_RESPONSES, UNSCORED, RewardResponse, request_models
from .routes import fail, steps_of

__all__ = ["openrlhf_router"]


def openrlhf_router(config: ServeConfig, batcher: MicroBatcher) -> APIRouter:
    models = request_models(config)
    router = APIRouter(responses=ERROR_RESPONSES)

    @router.post("/get_reward", response_model=RewardResponse)
    async def get_reward(request: models.RewardRequest, strict: bool = False) -> Any:
        """Rewards are the ``min`` of the step scores; ``strict=true``: 422 when a solution got no score."""
        prompts = request.prompts or [""] * len(request.query)
        if len(prompts) != len(request.query):
            return fail(422, f"field 'prompts': {len(prompts)} prompts for {len(request.query)} queries")
        pairs = []
        for i, (query, prompt) in enumerate(zip(request.query, prompts)):
            response = query[len(prompt):] if prompt and query.startswith(prompt) else query
            try:
                pairs.append((Problem(f"req-{i}", prompt or ""), Solution(steps_of(response, config))))
            except ValueError as e:
                return fail(422, f"field 'query.{i}': {e}")
        values = await batcher.score(pairs)
        low = [aggregate(v, "min") for v in values]
        unscored = [i for i, x in enumerate(low) if x is None]
        if strict and unscored:
            return fail(422, f"field 'query.{unscored[0]}': {UNSCORED}")
        logs: dict = {"prm_min": low, "prm_last": [aggregate(v, "last") for v in values]}
        if unscored:
            logs["prm_unscored_reason"] = [UNSCORED if x is None else None for x in low]
        return {"rewards": low, "scores": low, "extra_logs": logs, "step_scores": values}

    return router
