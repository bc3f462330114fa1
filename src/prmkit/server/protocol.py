"""The server's wire protocol: pydantic request and response models, and the error body.

Request models carry the configured limits (items per request, steps per solution, characters per
string), so ``request_models(config)`` builds them per app; the response models and ``ErrorResponse``
are fixed. Every error the server sends, from the guard, a validation failure or the scorer, has the
shape ``{"error": {"message": str, "type": str}}``.
"""

from types import SimpleNamespace
from typing import Annotated, Any, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field

from ..aggregate import AGGREGATORS
from .config import ServeConfig

__all__ = ["ErrorBody", "ErrorResponse", "error", "ERROR_RESPONSES", "request_models", "ScoreResult", "ScoreResponse",
           "RewardResponse", "PoolingRow", "PoolingResponse", "HealthResponse", "UNSCORED"]

Aggregation = Literal[tuple(AGGREGATORS)]  # type: ignore[valid-type]
UNSCORED = "no step was scored (e.g. the text is longer than the model's max length)"


class ErrorBody(BaseModel):
    message: str
    type: str


class ErrorResponse(BaseModel):
    """Every 4xx and 5xx answer of the server."""
    error: ErrorBody


def error(message: str, status: int) -> dict:
    """The error body for ``status``: ``invalid_request_error`` for 4xx, ``server_error`` for 5xx."""
    return {"error": {"message": message, "type": "invalid_request_error" if status < 500 else "server_error"}}


_WHY = {400: "Host header not a loopback name (token-less mode only)",
        401: "missing or wrong bearer token", 408: "the body did not arrive within --body-timeout",
        411: "no Content-Length header", 413: "body larger than --max-request-bytes",
        422: "malformed request; the message names the field", 500: "the scorer failed on this request",
        503: "the batcher has stopped, or too many connections (uvicorn's plain-text 503)",
        504: "no scores within --request-timeout"}
ERROR_RESPONSES: dict = {status: {"model": ErrorResponse, "description": why} for status, why in _WHY.items()}


def request_models(config: ServeConfig) -> Any:
    """``ScoreRequest``, ``RewardRequest`` and ``PoolingRequest`` with ``config``'s limits, as attributes."""
    Text = Annotated[str, Field(max_length=config.max_chars)]
    Texts = Annotated[list[Text], Field(max_length=config.max_items)]

    class Item(BaseModel):
        """One solution: its ``steps``, or a ``text`` split at the server's separator (exactly one of them)."""
        model_config = ConfigDict(extra="forbid")
        problem: Text
        steps: Optional[Annotated[list[Text], Field(max_length=config.max_steps)]] = None
        text: Optional[Text] = None

    class ScoreRequest(BaseModel):
        model_config = ConfigDict(extra="forbid")
        items: Annotated[list[Item], Field(max_length=config.max_items)]
        aggregate: Aggregation = "min"

    class RewardRequest(BaseModel):
        """OpenRLHF's remote reward request: each query is its prompt followed by the response."""
        query: Texts
        prompts: Optional[Texts] = None
        labels: Optional[Annotated[list[Any], Field(max_length=config.max_items)]] = None

    class PoolingRequest(BaseModel):
        """vLLM's pooling request: each input is a question, the separator, then the steps."""
        input: Union[Text, Texts]
        model: Optional[Text] = None

    return SimpleNamespace(ScoreRequest=ScoreRequest, RewardRequest=RewardRequest, PoolingRequest=PoolingRequest)


class ScoreResult(BaseModel):
    step_scores: list[Optional[float]]
    aggregate: Optional[float] = Field(description="null when no step was scored")


class ScoreResponse(BaseModel):
    results: list[ScoreResult]


class RewardResponse(BaseModel):
    """Every list is as long as the batch; a reward is null when no step was scored, with the reason in
    ``extra_logs.prm_unscored_reason`` (present only then)."""
    rewards: list[Optional[float]]
    scores: list[Optional[float]]
    extra_logs: dict[str, list[Union[float, str, None]]]
    step_scores: list[list[Optional[float]]]


class PoolingRow(BaseModel):
    index: int
    object: Literal["pooling"] = "pooling"
    data: list[Optional[list[float]]] = Field(description="one [p_wrong, p_correct] row per step")


class PoolingResponse(BaseModel):
    id: str
    object: Literal["list"] = "list"
    created: int
    model: str
    data: list[PoolingRow]
    usage: dict[str, int]


class HealthResponse(BaseModel):
    status: Literal["ok", "unavailable"]
    model: str
    batcher: str = Field(description="idle, running, or why the batcher cannot score (then the status is 503)")
