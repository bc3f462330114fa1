"""Annotation chunks on Ray actors, with the labels a chunk-by-chunk run in one process gives.

Each of ``workers`` actors holds its own backends (a ``Labeller``: the rollout generator, the judge),
loaded once. An actor takes 1 CPU, and ``num_gpus`` when asked, so an HF model gets its own GPU. The
driver sends each chunk with the committed rollout cache at that chunk's prefix keys. It gets back the
chunk's results, the rollouts it generated and the keys it looked up. The driver alone writes the job
store.

Chunks run ahead speculatively: chunk c may start before the chunks before it are committed. Results
are handed to the caller in chunk order, and the caller commits each one. A result is kept only if no
chunk committed after it started generated rollouts at a key it looked up. Then the cache it read
equals the cache of the chunk-by-chunk run, so its labels are equal too. Otherwise it runs again on the
committed cache. So the labels do not depend on the number of workers or on which chunk finishes
first. Solutions that share prefixes across chunk borders cost such reruns, and the report counts them.

Faults: an actor that dies (SIGKILL, out of memory) is restarted and its chunk retried, up to
``RETRIES`` times (Ray's ``max_restarts`` / ``max_task_retries``). An exception raised by a labeller or
generator is not retried: the job stops with it once the chunks before it are committed, naming the
chunk and its solutions.
"""

from __future__ import annotations

import os
import time
from collections import deque
from contextlib import contextmanager
from typing import Any, Iterator, Sequence

from ..cluster import RETRIES
from . import ROLLOUT_METHODS
from .chunks import ChunkResult, Chunks, Labeller, Task
from .rollouts import prefix_keys
from .store import Rollout

__all__ = ["ray_chunks"]


class _Worker:
    """One Ray actor: a ``Labeller`` whose cache is replaced by the committed one with each chunk."""

    def __init__(self, config: Any) -> None:
        self.labeller = Labeller(config, {})
        self.labeller.load(config.methods)  # once, at start-up

    def ready(self) -> int:
        return os.getpid()

    def label(self, method: str, chunk: list, seed: int, cache: dict[str, list[Rollout]]) -> ChunkResult:
        self.labeller.use_cache(cache)
        return self.labeller.label(method, chunk, seed)


def _failure(method: str, chunk: int, part: list, error: Exception) -> Exception:
    """The job's error for a chunk whose task raised: bad input stays a ValueError (the CLI's exit 2)."""
    cause = getattr(error, "cause", None) or error
    ids = ", ".join(str(ex.problem.id) for ex in part[:3]) + (", ..." if len(part) > 3 else "")
    text = f"{method} chunk {chunk} (solutions {ids}) failed on a Ray worker: {type(cause).__name__}: {cause}"
    return ValueError(text) if isinstance(cause, (ValueError, KeyError, LookupError)) else RuntimeError(text)


@contextmanager
def ray_chunks(ray: Any, config: Any, cache: dict[str, list[Rollout]], *, workers: int, num_gpus: float = 0,
               stats: dict | None = None) -> Iterator[Chunks]:
    """``workers`` actors for one job, killed when the block ends; yields the chunk runner.

    Args:
        ray: the initialised ``ray`` module (``prmkit.cluster.ray_runtime``).
        config: the job's ``AnnotateConfig``; cache: the committed rollouts (kept up to date as chunks commit).
        stats: ``start_seconds`` (the actors' start-up, models loaded), then as chunks are handed out: ``chunks``,
            ``reruns``, ``work_seconds`` (in the labellers) and
            ``overhead_seconds`` (the rest of each round trip: scheduling, sending the chunk and its cache, results back).
    """
    env = {k: v for k, v in os.environ.items() if k.startswith("PRMKIT_")}  # fault points reach a running cluster
    actor = ray.remote(_Worker).options(num_cpus=1, num_gpus=num_gpus, max_restarts=RETRIES,
                                        max_task_retries=RETRIES, runtime_env={"env_vars": env} if env else None)
    t0 = time.perf_counter()
    actors = [actor.remote(config) for _ in range(workers)]
    stats = {} if stats is None else stats

    def run(method: str, todo: Sequence[int], task: Task) -> Iterator[tuple[int, ChunkResult]]:
        todo, log = list(todo), []  # log: the keys each chunk committed by this run generated, in order
        free, running, done, redo = list(actors), {}, {}, deque()
        ahead, head = 0, 0  # todo[ahead]: next to start; todo[head]: next to hand out

        def start(c: int) -> None:
            t0 = time.perf_counter()
            part, seed = task(c)
            keys = prefix_keys(part, config.template, config.separator) if method in ROLLOUT_METHODS else ()
            worker = free.pop()
            running[worker.label.remote(method, part, seed, {k: cache[k] for k in keys if k in cache})] = (
                c, len(log), worker, t0)

        while head < len(todo):
            while free and (redo or (ahead < len(todo) and ahead < head + 2 * len(actors))):
                if redo:
                    start(redo.popleft())
                else:
                    start(todo[ahead])
                    ahead += 1
            c = todo[head]
            if c in done:
                result, since = done.pop(c)
                if isinstance(result, Exception):  # raised only now: the chunks before it are committed, none lost
                    raise _failure(method, c, task(c)[0], result) from result
                if any(result.touched & log[v] for v in range(since, len(log))):
                    redo.append(c)  # it read a key an earlier chunk has since filled: its labels may differ
                    stats["reruns"] += 1
                    continue
                stats["chunks"] += 1
                yield c, result  # the caller commits it before asking for the next
                for key, items in result.new.items():
                    cache.setdefault(key, []).extend(rollout for _, rollout in items)
                log.append(frozenset(result.new))
                head += 1
                continue
            ready, _ = ray.wait(list(running), num_returns=1)
            finished, since, worker, t0 = running.pop(ready[0])
            free.append(worker)
            try:
                result = ray.get(ready[0])
                stats["work_seconds"] += result.seconds
                stats["overhead_seconds"] += time.perf_counter() - t0 - result.seconds
                done[finished] = (result, since)
            except Exception as e:  # noqa: BLE001 - every task error is the job's, named by its chunk
                done[finished] = (e, since)

    try:
        ray.get([a.ready.remote() for a in actors])  # the processes are up, their models loaded
        stats.update(start_seconds=time.perf_counter() - t0, chunks=0, reruns=0, work_seconds=0.0, overhead_seconds=0.0)
        yield run
    finally:
        for a in actors:
            ray.kill(a)
