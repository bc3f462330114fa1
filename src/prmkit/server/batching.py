"""``MicroBatcher``: concurrent requests share scorer calls; one faulty request fails alone (stdlib only).

The scorer runs in one daemon thread, one call at a time, so the event loop stays free and a scorer that
never returns cannot keep the process from exiting. The loop that forms batches survives any exception:
a failed call (an exception, or a result that is not one ``StepScores`` per solution) is retried request by
request, so only the request that causes it fails, with a ``ScoringError`` naming why.
"""

from __future__ import annotations

import asyncio
import math
import queue
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from ..types import Problem, Solution

__all__ = ["MicroBatcher", "ScoringError"]

Pairs = list[tuple[Problem, Solution]]
Values = list[Optional[float]]


class ScoringError(Exception):
    """A request that could not be scored: ``status`` is the HTTP status to answer, the message says why."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class _Request:
    pairs: Pairs
    future: asyncio.Future = field(repr=False)


def _check(scores: Any, pairs: Pairs) -> list[Values]:
    """The scorer's answer as plain lists, or ``ScoringError(500)`` saying what is wrong with it."""
    if not isinstance(scores, (list, tuple)) or len(scores) != len(pairs):
        n = len(scores) if isinstance(scores, (list, tuple)) else type(scores).__name__
        raise ScoringError(500, f"the scorer returned {n} for {len(pairs)} solution(s): expected one StepScores each")
    out = []
    for s, (_, solution) in zip(scores, pairs):
        values = getattr(s, "values", None)
        if not isinstance(values, (list, tuple)) or len(values) != len(solution.steps):
            raise ScoringError(500, f"the scorer returned {type(s).__name__} {str(s)[:80]} for a solution of "
                                    f"{len(solution.steps)} step(s): expected StepScores with one value per step")
        for v in values:
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v)):
                raise ScoringError(500, f"the scorer returned the step score {v!r}: expected a finite number or None")
        out.append([None if v is None else float(v) for v in values])
    return out


def _as_error(e: BaseException) -> ScoringError:
    if isinstance(e, ScoringError):
        return e
    if isinstance(e, ValueError):  # the scorer's way of refusing an input (e.g. overflow="error")
        return ScoringError(422, f"the scorer refused this input: {e}")
    return ScoringError(500, f"the scorer failed: {type(e).__name__}: {e}")


class _Worker:
    """One daemon thread that runs scorer calls in order and hands each result back to the event loop."""

    def __init__(self) -> None:
        self.jobs: queue.SimpleQueue = queue.SimpleQueue()
        threading.Thread(target=self._run, name="prmkit-scorer", daemon=True).start()

    def _run(self) -> None:
        while True:
            fn, loop, future = self.jobs.get()
            try:
                result, error = fn(), None
            except BaseException as e:  # noqa: BLE001 - handed to the waiting coroutine
                result, error = None, e
            try:
                loop.call_soon_threadsafe(_settle, future, result, error)
            except RuntimeError:  # the event loop is closed: the server is gone
                return

    def call(self, fn: Callable[[], Any]) -> asyncio.Future:
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self.jobs.put((fn, loop, future))
        return future


def _settle(future: asyncio.Future, result: Any, error: Optional[BaseException]) -> None:
    if future.done():
        return
    if error is None:
        future.set_result(result)
    else:
        future.set_exception(error)


class MicroBatcher:
    """Scores concurrent requests in shared scorer calls, one call at a time, off the event loop.

    Each call takes the queued requests whole, oldest first, while their items fit in ``max_items`` (always
    at least one request): requests that arrive while the scorer is busy share the next call.
    ``max_items=1`` therefore scores one request per call (the baseline of benchmarks/serve_load.py).

    Args:
        scorer: any ``StepScorer``.
        max_items (`int`, defaults to 64): solutions per scorer call at most.
        max_wait_ms (`float`, defaults to 0): how long a call waits for more requests before it starts.
        timeout (`float`, *optional*): seconds a request waits for its scores; ``ScoringError(504)`` after.

    ``stats`` counts ``batches``, ``items``, ``failed_batches`` (calls retried request by request),
    ``failed_requests``, ``timeouts`` and ``unscored`` (solutions that got no score at all).
    """

    def __init__(self, scorer: Any, max_items: int = 64, max_wait_ms: float = 0.0,
                 timeout: Optional[float] = None) -> None:
        self.scorer, self.max_items, self.max_wait, self.timeout = scorer, max_items, max_wait_ms / 1000, timeout
        self.queue: Optional[asyncio.Queue] = None
        self.task: Optional[asyncio.Task] = None
        self.stats: Counter = Counter()
        self._worker: Optional[_Worker] = None
        self._held: Optional[_Request] = None  # did not fit in the last call: first in the next
        self._calls = 0  # scorer calls started
        self._running: Optional[int] = None  # the call in progress
        self._stalled: Optional[int] = None  # a call that outlived a request's timeout

    async def score(self, items: Pairs) -> list[Values]:
        """One list of step scores (None: unscored) per item, or ``ScoringError``."""
        if not items:
            return []
        if self.task is None:
            self.queue, self._worker = asyncio.Queue(), _Worker()
            self.task = asyncio.get_running_loop().create_task(self._loop())
        if self.task.done():
            raise ScoringError(503, f"the batcher has stopped ({self.health()[1]}); restart the server")
        request = _Request(items, asyncio.get_running_loop().create_future())
        await self.queue.put(request)
        try:
            return await asyncio.wait_for(asyncio.shield(request.future), self.timeout)
        except asyncio.TimeoutError:
            request.future.cancel()  # the loop skips it, or drops its result
            self.stats["timeouts"] += 1
            if self._running is not None:
                self._stalled = self._running
            raise ScoringError(504, f"no scores within the request timeout of {self.timeout:g} s; "
                                    "the scorer is busy or stuck (see /health)") from None

    def health(self) -> tuple[bool, str]:
        """``(ok, detail)``: not ok when the loop has ended, or the scorer call in progress has outlived a
        request's timeout."""
        if self.task is None:
            return True, "idle"
        if self.task.done():
            why = "cancelled" if self.task.cancelled() else repr(self.task.exception())
            return False, f"dead: the batching loop ended ({why})"
        if self._running is not None and self._running == self._stalled:
            return False, f"stalled: a scorer call has run past the request timeout of {self.timeout:g} s"
        return True, "running"

    async def _next_batch(self) -> list[_Request]:
        """The queued requests for the next call: oldest first, whole, while they fit in ``max_items``."""
        assert self.queue is not None
        first = self._held or await self.queue.get()
        self._held = None
        batch, size = [first], len(first.pairs)
        deadline = time.perf_counter() + self.max_wait
        while size < self.max_items:
            if self.queue.empty():
                left = deadline - time.perf_counter()
                if left <= 0:
                    break
                # asyncio.wait, not wait_for: on Python 3.11 wait_for can drop an item it got just as it timed out
                getter = asyncio.ensure_future(self.queue.get())
                done, _ = await asyncio.wait({getter}, timeout=left)
                if not done:
                    getter.cancel()
                    break
                nxt = getter.result()
            else:
                nxt = self.queue.get_nowait()
            if size + len(nxt.pairs) > self.max_items:
                self._held = nxt  # first in the next call
                break
            batch.append(nxt)
            size += len(nxt.pairs)
        return [r for r in batch if not r.future.done()]  # a request that timed out while queued is dropped

    async def _call(self, pairs: Pairs) -> list[Values]:
        assert self._worker is not None
        problems, solutions = [p for p, _ in pairs], [s for _, s in pairs]
        self._calls += 1
        self._running = self._calls
        try:
            scores = await self._worker.call(lambda: self.scorer.score(problems, solutions))
        finally:
            self._running = None
        values = _check(scores, pairs)
        self.stats["batches"] += 1
        return values

    async def _loop(self) -> None:
        while True:
            batch = await self._next_batch()
            if not batch:
                continue
            try:
                await self._score_batch(batch)
            except Exception as e:  # noqa: BLE001 - a bug here must fail these requests, not the server
                for request in batch:
                    _settle(request.future, None, _as_error(e))

    async def _score_batch(self, batch: list[_Request]) -> None:
        pairs = [pair for request in batch for pair in request.pairs]
        try:
            values = await self._call(pairs)
        except Exception as e:  # noqa: BLE001 - retried request by request below
            self.stats["failed_batches"] += 1
            if len(batch) == 1:
                return self._fail(batch[0], e)
            for request in batch:  # find the request(s) at fault; the others get their scores
                if request.future.done():
                    continue
                try:
                    self._answer(request, await self._call(request.pairs))
                except Exception as e:  # noqa: BLE001
                    self._fail(request, e)
            return None
        at = 0
        for request in batch:
            self._answer(request, values[at: at + len(request.pairs)])
            at += len(request.pairs)
        return None

    def _answer(self, request: _Request, values: list[Values]) -> None:
        self.stats["items"] += len(values)
        self.stats["unscored"] += sum(all(v is None for v in vs) for vs in values)
        _settle(request.future, values, None)

    def _fail(self, request: _Request, e: BaseException) -> None:
        self.stats["failed_requests"] += 1
        _settle(request.future, None, _as_error(e))
