"""``POST /v1/chat/completions`` and ``POST /v1/completions``: OpenAI-compatible answers from the policy,
chosen by a PRM-guided search when the request names a ``budget``.

With a ``budget`` (and optionally ``method`` and ``pick``), the question (chat: the one user message;
completions: the prompt) is searched with ``prmkit.search.SEARCHERS[method]`` over the policy and the
server's scorer. The chosen candidate's steps, joined by the separator, are the completion, and what the
search spent is the extra top-level field ``search``. Without a budget the request passes through: one
``complete`` (or ``generate``) call with its ``max_tokens``, ``temperature``, ``stop``, ``n`` and ``seed``.

Generation and search block, so each runs in one of ``search_concurrency`` daemon worker threads (one
that outlives the request timeout cannot keep the process from exiting, and its search stops at its next
policy or scorer call, so the thread is soon free again; so does one whose client hangs up); at most
``search_queue`` more wait for a thread, and a request beyond them gets 429, so a flood cannot pile searches
up in memory. The scorer is shared with the micro-batcher behind one lock (``SharedScorer``); so is the policy.

(No ``from __future__ import annotations``: FastAPI reads the handlers' request models, local to
``completions_router``, from their evaluated annotations.)
"""

import asyncio
import dataclasses
import queue
import threading
import time
import uuid
from collections import Counter
from typing import Any, Awaitable, Callable, Optional, Sequence

from fastapi import APIRouter, Request

from ..annotate.rollouts import count_tokens_with
from ..registry import resolve
from ..search import DEFAULT_AGGREGATE, SEARCHERS
from ..search.primitives import StepPolicy, select_topk
from ..search.strategies import SearchResult
from ..types import Problem, Solution
from .batching import ScoringError, _settle
from .config import ServeConfig
from .protocol import SEARCH_RESPONSES, ChatCompletionResponse, CompletionResponse, completion_models
from .routes import fail

__all__ = ["completions_router", "SharedScorer", "search_options", "chosen", "SELF_CONSISTENCY"]

SELF_CONSISTENCY = "self-consistency"  # best-of-n with the majority pick
_RUNNING = threading.local()  # the job a worker thread is running (``job``), None between jobs


class _Abandoned(Exception):
    """The request a search runs for has ended (504, the client hung up, shutdown): the search stops at its
    next model call."""


def _stop_if_abandoned() -> None:
    """Raise ``_Abandoned`` in a worker thread whose job's request has ended; nothing elsewhere."""
    job = getattr(_RUNNING, "job", None)
    if job is not None and job.ended.is_set():
        raise _Abandoned


class SharedScorer:
    """One scorer for the micro-batcher and the searches; every call holds one lock, so the model never
    runs two calls at once. The batcher calls ``score``; each search gets a ``view()``."""

    def __init__(self, scorer: Any) -> None:
        self.scorer, self.lock = scorer, threading.Lock()

    def score(self, problems: Sequence[Problem], solutions: Sequence[Solution]) -> Any:
        with self.lock:
            return self.scorer.score(problems, solutions)

    def view(self) -> "_SearchScorer":
        return _SearchScorer(self)


class _SearchScorer:
    """One search's handle on a ``SharedScorer``. Its own ``report["tokens"]`` counts only this search's
    calls (``score_nodes`` reads the PRM tokens from it, and other requests score in between). Its calls
    are incremental where the scorer can be (an HF scorer then reads only each candidate's new step, as
    ``prmkit search`` does); the scoring routes keep the scorer's own mode."""

    def __init__(self, shared: SharedScorer) -> None:
        self.shared, self.report = shared, Counter()

    def score(self, problems: Sequence[Problem], solutions: Sequence[Solution]) -> Any:
        _stop_if_abandoned()
        scorer = self.shared.scorer
        with self.shared.lock:
            report = getattr(scorer, "report", None)
            before = report.get("tokens", 0) if report is not None else 0
            mode = getattr(scorer, "incremental", None)
            if mode is not None:
                scorer.incremental = True
            try:
                return scorer.score(problems, solutions)
            finally:
                if mode is not None:
                    scorer.incremental = mode
                if report is not None:
                    self.report["tokens"] += report.get("tokens", 0) - before

    def release(self, problem: Problem) -> None:
        release = getattr(self.shared.scorer, "release", None)
        if callable(release):
            with self.shared.lock:
                release(problem)


class _LockedGenerator:
    """The policy behind one lock: searches and pass-throughs in different threads share one model."""

    def __init__(self, generator: Any) -> None:
        self.generator, self.lock = generator, threading.Lock()
        self.tokenizer = getattr(generator, "tokenizer", None)  # count_tokens_with reads it

    def generate(self, prompts: Sequence[str], **kwargs: Any) -> list[list[str]]:
        _stop_if_abandoned()
        with self.lock:
            return self.generator.generate(prompts, **kwargs)


class _LockedCompleter(_LockedGenerator):
    """As ``_LockedGenerator``, for a policy that also has ``complete`` (the ``Completes`` protocol)."""

    def complete(self, prompts: Sequence[str], **kwargs: Any) -> list[list[Any]]:
        _stop_if_abandoned()
        with self.lock:
            return self.generator.complete(prompts, **kwargs)


@dataclasses.dataclass
class _Job:
    fn: Callable[[], Any]
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future
    ended: threading.Event = dataclasses.field(default_factory=threading.Event)  # its request has ended:
    # a worker that has not started it skips it, one running it stops at its next model call


class _Pool:
    """``workers`` daemon threads running blocking jobs; at most ``workers + waiting`` jobs admitted."""

    def __init__(self, workers: int, waiting: int) -> None:
        self.workers, self.capacity = workers, workers + waiting
        self.jobs: queue.SimpleQueue = queue.SimpleQueue()
        self.lock = threading.Lock()
        self.admitted = 0  # queued or running; a job that timed out still counts until its thread is free
        self.started = False

    async def run(self, fn: Callable[[], Any], timeout: float, hung_up: Callable[[], Awaitable[Any]]) -> Any:
        """``fn()`` in a worker thread; ``ScoringError`` 429 when full, 504 after ``timeout`` seconds, 499 when
        ``hung_up()`` (which returns once the client has gone) returns first."""
        with self.lock:
            if self.admitted >= self.capacity:
                raise ScoringError(429, f"{self.admitted} searches or generations are running or queued (the most "
                                        "--search-concurrency plus --search-queue allow); retry later")
            self.admitted += 1
            if not self.started:
                for k in range(self.workers):
                    threading.Thread(target=self._work, name=f"prmkit-search-{k}", daemon=True).start()
                self.started = True
        loop = asyncio.get_running_loop()
        job = _Job(fn, loop, loop.create_future())
        self.jobs.put(job)
        gone = asyncio.ensure_future(hung_up())
        try:
            done, _ = await asyncio.wait({job.future, gone}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
            if job.future in done:
                return job.future.result()
            if gone in done:  # nobody will read the answer (nginx's 499 "client closed request", for the metrics)
                raise ScoringError(499, "the client closed the connection before the answer")
            raise ScoringError(504, f"no answer within the request timeout of {timeout:g} s; a search already "
                                    "running stops at its next model call")
        finally:  # answered, timed out, hung up or cancelled (shutdown): the job is no longer wanted
            job.ended.set()
            gone.cancel()

    def _work(self) -> None:
        while True:
            job = self.jobs.get()
            try:
                if job.ended.is_set():
                    continue
                _RUNNING.job = job  # its model calls refuse to start once its request has ended
                try:
                    result, error = job.fn(), None
                except _Abandoned:
                    continue  # nobody waits for it
                except BaseException as e:  # noqa: BLE001 - handed to the waiting coroutine
                    result, error = None, e
                finally:
                    _RUNNING.job = None
                try:
                    job.loop.call_soon_threadsafe(_settle, job.future, result, error)
                except RuntimeError:  # the event loop is closed: the server is gone
                    return
            finally:
                with self.lock:
                    self.admitted -= 1


def search_options(method: str) -> dict:
    """The options ``prmkit search`` gives ``method`` by default: the aggregation of ``DEFAULT_AGGREGATE``; the
    rest are the strategy's own defaults, which ``SearchConfig``'s equal."""
    return {"aggregate": DEFAULT_AGGREGATE.get(method, "min")}


def chosen(result: SearchResult, how: str) -> tuple[Optional[int], Optional[str]]:
    """The index of the candidate ``how`` picks and its answer: among the candidates that state the answer
    ``result.pick(how)`` chose, the best by aggregated score (all candidates when none was chosen).

    Example:
        >>> from prmkit.search.primitives import Compute, Node
        >>> nodes = [Node(("x = 1", "The answer is 1."), (0.9, 0.9), True), Node(("The answer is 2.",), (0.2,), True),
        ...          Node(("y = 2", "The answer is 2."), (0.4, 0.5), True)]
        >>> r = SearchResult(nodes, Compute(), "min", ["1", "2", "2"])
        >>> chosen(r, "prm"), chosen(r, "majority")
        ((0, '1'), (2, '2'))
    """
    if not result.candidates:
        return None, None
    answer = result.pick(how)
    pool = [i for i, a in enumerate(result.answers) if a == answer] if answer is not None else []
    pool = pool or list(range(len(result.candidates)))
    values = [result.candidates[i].value(result.aggregate) for i in pool]
    return pool[select_topk(values, 1)[0]], answer


def _question(messages: Sequence[Any]) -> tuple[Optional[str], Optional[str]]:
    """``(question, None)``: the text of the one user message (its text parts joined); or ``(None, why)``.

    The policy is prompted with ``--template`` around one question, so a conversation (a second user turn,
    an assistant or tool message) is refused rather than cut to its last turn; system and developer
    messages, which OpenAI clients often add, are not part of the question and are ignored."""
    users = [i for i, m in enumerate(messages) if m.role == "user"]
    turns = [i for i, m in enumerate(messages) if m.role in ("assistant", "tool")] + users[1:]
    if turns:
        at = min(turns)
        return None, (f"field 'messages[{at}]': a conversation (here a '{messages[at].role}' message) is not "
                      "supported; the policy answers one user message, through --template")
    if not users:
        return None, "field 'messages': no message has the role 'user'"
    content = messages[users[0]].content
    return ("".join(part.text for part in content) if isinstance(content, list) else content or ""), None


def completions_router(config: ServeConfig, policy: Any, scorer: SharedScorer) -> APIRouter:
    """``/v1/chat/completions`` and ``/v1/completions`` over ``policy`` (any ``Generator``) and ``scorer``."""
    models = completion_models(config)
    generator = (_LockedCompleter if callable(getattr(policy, "complete", None)) else _LockedGenerator)(policy)
    count = count_tokens_with(generator)
    pool = _Pool(config.search_concurrency, config.search_queue)
    name = config.policy or type(policy).__name__
    router = APIRouter(responses=SEARCH_RESPONSES)

    def refusal(request: Any, prompts: int) -> Optional[Any]:
        """A 422 for what the request asks that cannot be done, or None."""
        if request.stream:
            return fail(422, "field 'stream': streaming is not supported; leave it out or false")
        if request.budget is None:
            for field in ("method", "pick"):
                if getattr(request, field) is not None:
                    return fail(422, f"field '{field}': only a search has one; give a 'budget' too")
            return None
        method = request.method or "best-of-n"
        if method not in SEARCHERS and method != SELF_CONSISTENCY:
            return fail(422, f"field 'method': unknown search method {method!r}; known: "
                             f"{', '.join([*SEARCHERS, SELF_CONSISTENCY])}")
        if method == SELF_CONSISTENCY and request.pick not in (None, "majority"):
            return fail(422, f"field 'pick': {SELF_CONSISTENCY} is the majority pick; for another pick use best-of-n")
        if request.n != 1:
            return fail(422, "field 'n': a search answers once; its candidates are the 'budget'")
        if request.stop is not None:
            return fail(422, f"field 'stop': a search's steps end at the server's separator {config.separator!r}; "
                             "'stop' is for requests without a budget")
        if prompts != 1:
            return fail(422, f"field 'prompt': a search takes one prompt, got {prompts}")
        return None

    def search(question: str, request: Any) -> tuple[list[tuple[str, str]], int, int, dict]:
        method = request.method or "best-of-n"
        searcher = "best-of-n" if method == SELF_CONSISTENCY else method
        how = "majority" if method == SELF_CONSISTENCY else request.pick or "prm"
        fn = resolve(searcher, SEARCHERS, "search method")
        sampling = {} if request.temperature is None else {"temperature": request.temperature}
        step_policy = StepPolicy(generator, template=config.template, separator=config.separator, **sampling)
        problem = Problem(id=f"search-{uuid.uuid4().hex[:12]}", question=question)
        view = scorer.view()
        try:
            result = fn(problem, step_policy, view, request.budget, seed=request.seed, **search_options(searcher))
        finally:
            view.release(problem)  # the strategy did, unless it raised
        index, answer = chosen(result, how)
        node = result.candidates[index] if index is not None else None
        text = config.separator.join(node.steps) if node is not None else ""
        finish = "stop" if index is not None and result.answers[index] is not None else "length"
        compute = result.compute.as_dict()
        info = {"method": method, "budget": request.budget, "candidates": len(result.candidates), **compute,
                "answer": answer}
        return [(text, finish)], count(step_policy.prompt(problem, ())), compute["generated_tokens"], info

    def generate(prompts: list[str], request: Any) -> tuple[list[tuple[str, str]], int, int, None]:
        stop = [request.stop] if isinstance(request.stop, str) else request.stop
        limit = getattr(request, "max_completion_tokens", None) or request.max_tokens
        kwargs = {"n": request.n, "stop": stop, "seed": request.seed,
                  "max_tokens": limit or StepPolicy.max_step_tokens * StepPolicy.max_steps,
                  "temperature": 1.0 if request.temperature is None else request.temperature}
        if isinstance(generator, _LockedCompleter):
            rows = generator.complete(prompts, **kwargs)
            done = [(c.text, "length" if c.finish == "length" else "stop", c.tokens or count(c.text))
                    for row in rows for c in row]
        else:
            done = [(t, "stop", count(t)) for row in generator.generate(prompts, **kwargs) for t in row]
        return [(t, f) for t, f, _ in done], sum(count(p) for p in prompts), sum(k for _, _, k in done), None

    async def hung_up(http: Request) -> None:
        """Return once the client has gone (the body is read, so the next ASGI message is the disconnect)."""
        while (await http.receive())["type"] != "http.disconnect":
            pass

    async def answer(request: Any, http: Request, question: str, prompts: list[str]) -> tuple:
        searched = request.budget is not None
        job = (lambda: search(question, request)) if searched else (lambda: generate(prompts, request))
        try:
            return await pool.run(job, config.request_timeout, lambda: hung_up(http))
        except ScoringError:
            raise
        except ValueError as e:  # a backend's way of refusing an input (an empty prompt, ...)
            raise ScoringError(422, f"the {'search' if searched else 'policy'} refused this request: {e}") from e
        except Exception as e:  # noqa: BLE001 - the policy's or the scorer's failure, told to the client
            raise ScoringError(500, f"the {'search' if searched else 'policy'} failed: {type(e).__name__}: {e}") from e

    def envelope(kind: str, request: Any, prompt_tokens: int, completion_tokens: int, info: Optional[dict]) -> dict:
        return {"id": f"{kind}-{uuid.uuid4().hex}", "created": int(time.time()), "model": request.model or name,
                "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                          "total_tokens": prompt_tokens + completion_tokens}, "search": info}

    @router.post("/v1/chat/completions", response_model=ChatCompletionResponse)
    async def chat_completions(request: models.ChatRequest, http: Request) -> Any:
        """OpenAI's chat completion; with ``budget``, the answer a PRM-guided search chose (see ``search``).
        The prompt is the server's ``--template`` with the one user message as the question."""
        question, why = _question(request.messages)
        if why is not None:
            return fail(422, why)
        refused = refusal(request, 1)
        if refused is not None:
            return refused
        done, prompt_tokens, completion_tokens, info = await answer(
            request, http, question, [config.template.format(question=question)])
        return {**envelope("chatcmpl", request, prompt_tokens, completion_tokens, info), "object": "chat.completion",
                "choices": [{"index": i, "message": {"role": "assistant", "content": text}, "finish_reason": finish}
                            for i, (text, finish) in enumerate(done)]}

    @router.post("/v1/completions", response_model=CompletionResponse)
    async def completions(request: models.CompletionRequest, http: Request) -> Any:
        """OpenAI's text completion of each prompt, as given; with ``budget``, the one prompt is the question
        of a PRM-guided search (templated with ``--template``) and the answer is the chosen solution."""
        prompts = [request.prompt] if isinstance(request.prompt, str) else list(request.prompt)
        refused = refusal(request, len(prompts))
        if refused is not None:
            return refused
        done, prompt_tokens, completion_tokens, info = await answer(request, http, prompts[0], prompts)
        return {**envelope("cmpl", request, prompt_tokens, completion_tokens, info), "object": "text_completion",
                "choices": [{"index": i, "text": text, "finish_reason": finish}
                            for i, (text, finish) in enumerate(done)]}

    return router
