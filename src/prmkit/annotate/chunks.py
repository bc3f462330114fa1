"""Labelling an annotation job's chunks, in this process one after another (``local_chunks``) or on Ray
actors in parallel (``prmkit.annotate.ray_chunks``), with the same labels either way.

A chunk's labels are a function of its solutions, its seed ``derive_seed(seed, method, chunk)`` and the
rollout cache at the keys it looked up (``RolloutEngine.touched``). Running chunk by chunk, each sees the
cache of every chunk committed before it. A runner yields ``(chunk, ChunkResult)`` in the order the caller
must commit them, and each result is what that chunk gives on the cache as committed up to then.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Sequence

from ..registry import resolve
from ..types import Example
from . import LABELERS, ROLLOUT_METHODS
from .store import Rollout

__all__ = ["ChunkResult", "Labeller", "local_chunks", "Chunks", "Task"]


@dataclass(frozen=True)
class ChunkResult:
    """One labelled chunk: a result per solution, the rollouts it generated (prompt key -> (index, rollout)),
    the keys it looked up, and its seconds of work."""

    results: list[dict]
    new: dict[str, list[tuple[int, Rollout]]]
    touched: frozenset[str]
    seconds: float


Task = Callable[[int], tuple[list[Example], int]]  # chunk -> (its solutions, its seed)
Chunks = Callable[[str, Sequence[int], Task], Iterator[tuple[int, ChunkResult]]]  # (method, chunks to do, task)


class Labeller:
    """The backends of one job, built lazily (a model is loaded only if some chunk still needs it).

    Args:
        config: the job's ``AnnotateConfig``.
        cache: prompt key -> rollouts, what the rollout engine starts from (updated in place as it generates).
    """

    def __init__(self, config: Any, cache: dict[str, list[Rollout]]) -> None:
        self.config, self.cache = config, cache
        self._engine: Any = None
        self._judge: Any = None
        self._verifier: Any = None

    @property
    def engine(self) -> Any:
        if self._engine is None:
            from ..backends import load_generator
            from .rollouts import RolloutEngine

            c = self.config
            self._engine = RolloutEngine(load_generator(c.generator, **c.generator_options), self.cache,
                                         template=c.template, separator=c.separator, temperature=c.temperature,
                                         max_tokens=c.max_tokens)
        return self._engine

    @property
    def judge(self) -> Any:
        if self._judge is None:
            from ..backends import load_generator

            self._judge = load_generator(self.config.judge, **self.config.judge_options)
        return self._judge

    @property
    def verifier(self) -> Any:
        if self._verifier is None:
            from ..backends import load_scorer

            c = self.config
            self._verifier = load_scorer(c.verifier, spec=c.verifier_spec, **c.verifier_options)
        return self._verifier

    def load(self, methods: Sequence[str]) -> None:
        """Build now the backends ``methods`` need (the rollout generator, the judge, the verifier)."""
        if set(ROLLOUT_METHODS) & set(methods):
            self.engine  # noqa: B018 - the property builds it
        if "judge" in methods:
            self.judge  # noqa: B018
        if "verifier" in methods:
            self.verifier  # noqa: B018

    def use_cache(self, cache: dict[str, list[Rollout]]) -> None:
        """Start the next chunk from ``cache`` (a Ray worker gets the committed cache with each chunk)."""
        self.cache = cache
        if self._engine is not None:
            self._engine.cache = cache

    def label(self, method: str, chunk: list[Example], seed: int) -> ChunkResult:
        c, t0 = self.config, time.perf_counter()
        fn = resolve(method, LABELERS, "labeler")
        if method == "mc":
            results = fn(chunk, self.engine, k=c.k, early_stop=c.early_stop, round_size=c.round_size, seed=seed)
        elif method == "binary-search":
            results = fn(chunk, self.engine, probe_size=c.probe_size, round_size=c.round_size, max_probes=c.max_probes,
                         seed=seed)
        elif method == "judge":
            results = fn(chunk, self.judge, prompt=c.judge_prompt, n=c.judge_samples, temperature=c.judge_temp,
                         max_tokens=c.judge_max_tokens, seed=seed)
        elif method == "verifier":
            results = fn(chunk, self.verifier, seed=seed)
        else:
            results = fn(chunk, seed=seed)
        new, touched = self._engine.take_new() if self._engine is not None else ({}, set())
        return ChunkResult(results, new, frozenset(touched), time.perf_counter() - t0)


def local_chunks(labeller: Labeller) -> Chunks:
    """Chunks in this process, in order, each computed when the caller asks for it (so a budget checked
    between chunks stops before the next one is started)."""

    def run(method: str, todo: Sequence[int], task: Task) -> Iterator[tuple[int, ChunkResult]]:
        for c in todo:
            yield c, labeller.label(method, *task(c))

    return run
