"""The server's wire protocol: pydantic request and response models, and the error body.

Request models carry the configured limits (items per request, steps per solution, characters per
string, the largest search budget), so ``request_models(config)`` and ``completion_models(config)`` build
them per app; the response models and ``ErrorResponse`` are fixed. Every error the server sends, from the
guard, a validation failure, the scorer or a search, has the shape ``{"error": {"message": str, "type": str}}``.
"""

from types import SimpleNamespace
from typing import Annotated, Any, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field

from ..aggregate import AGGREGATORS
from ..search.strategies import PICKS
from .config import ServeConfig

__all__ = ["ErrorBody", "ErrorResponse", "error", "ERROR_RESPONSES", "SEARCH_RESPONSES", "request_models",
           "ScoreResult", "ScoreResponse", "RewardResponse", "PoolingRow", "PoolingResponse", "HealthResponse", "UNSCORED",
           "completion_models", "Usage", "SearchInfo", "ChatCompletionResponse", "CompletionResponse"]

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
_SEARCH_WHY = {**_WHY, 422: "malformed request (the message names the field), or the policy refused the prompt",
               429: "--search-concurrency searches running and --search-queue waiting: retry later",
               500: "the policy or the scorer failed on this request",
               504: "no answer within --request-timeout (the search runs on to its end, holding its slot)"}
SEARCH_RESPONSES: dict = {status: {"model": ErrorResponse, "description": why} for status, why in _SEARCH_WHY.items()}


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


# ----------------------------------------------------------------------------- OpenAI-compatible completions


def completion_models(config: ServeConfig) -> Any:
    """``ChatRequest`` and ``CompletionRequest`` (OpenAI's bodies plus ``budget``, ``method``, ``pick``) with
    ``config``'s limits, as attributes.

    A few OpenAI sampling fields the policy has no use for (``top_p``, penalties, ``user``, ...) are accepted
    and ignored; any other unknown field is a 422 naming it, so a misspelt ``budget`` is not silently a
    pass-through."""
    Text = Annotated[str, Field(max_length=config.max_chars)]
    Budget = Annotated[Optional[int], Field(strict=True, ge=1, le=config.max_budget,
                                            description="run a PRM-guided search with this many candidates "
                                                        "(simulations for mcts); absent: pass through to the policy")]

    class ContentPart(BaseModel):
        type: Literal["text"]
        text: Text

    class Message(BaseModel):
        model_config = ConfigDict(extra="ignore")  # name, tool_call_id, ...: nothing the policy reads
        role: Literal["system", "developer", "user", "assistant", "tool"]
        content: Union[Text, Annotated[list[ContentPart], Field(max_length=config.max_items)], None] = None

    class _Common(BaseModel):
        model_config = ConfigDict(extra="forbid")
        model: Optional[Text] = None
        max_tokens: Optional[Annotated[int, Field(strict=True, ge=1)]] = None
        temperature: Optional[Annotated[float, Field(ge=0, le=2)]] = None
        stop: Union[Text, Annotated[list[Text], Field(max_length=16)], None] = None
        n: Annotated[int, Field(strict=True, ge=1, le=config.max_budget)] = 1
        seed: Optional[Annotated[int, Field(strict=True)]] = None
        stream: Optional[bool] = None
        budget: Budget = None
        method: Optional[Annotated[str, Field(max_length=100, description="a name in prmkit.search.SEARCHERS, "
                                                                          "or self-consistency")]] = None
        pick: Optional[Literal[PICKS]] = None  # type: ignore[valid-type]
        # accepted, ignored
        top_p: Optional[float] = None
        frequency_penalty: Optional[float] = None
        presence_penalty: Optional[float] = None
        logit_bias: Optional[dict[str, float]] = None
        user: Optional[Text] = None
        metadata: Optional[dict[str, Text]] = None
        store: Optional[bool] = None
        service_tier: Optional[Text] = None

    class ChatRequest(_Common):
        messages: Annotated[list[Message], Field(min_length=1, max_length=config.max_items)]
        max_completion_tokens: Optional[Annotated[int, Field(strict=True, ge=1)]] = None

    class CompletionRequest(_Common):
        prompt: Union[Text, Annotated[list[Text], Field(min_length=1, max_length=config.max_items)]]

    return SimpleNamespace(ChatRequest=ChatRequest, CompletionRequest=CompletionRequest)


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int = Field(description="every token the policy wrote for the request (a search's too)")
    total_tokens: int


class SearchInfo(BaseModel):
    """What a search spent (``prmkit.search.primitives.Compute``) and what it chose."""
    method: str
    budget: int
    candidates: int = Field(description="finished candidates the pick chose among")
    generated_tokens: int
    prm_tokens: int
    generate_calls: int
    score_calls: int
    seconds: float
    prm_seconds: float
    answer: Optional[str] = Field(description="the final answer picked; null when no candidate states one")


class ChatMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str


class ChatChoice(BaseModel):
    index: int
    message: ChatMessage
    finish_reason: Literal["stop", "length"]
    logprobs: None = None


class TextChoice(BaseModel):
    index: int
    text: str
    finish_reason: Literal["stop", "length"]
    logprobs: None = None


class _CompletionEnvelope(BaseModel):
    """The fields both completion responses share."""

    id: str
    created: int
    model: str
    usage: Usage
    search: Optional[SearchInfo] = Field(None, description="present with a budget; null for a pass-through")


class ChatCompletionResponse(_CompletionEnvelope):
    object: Literal["chat.completion"] = "chat.completion"
    choices: list[ChatChoice]


class CompletionResponse(_CompletionEnvelope):
    object: Literal["text_completion"] = "text_completion"
    choices: list[TextChoice]
