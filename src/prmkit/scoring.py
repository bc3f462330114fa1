"""Run any ``StepScorer`` over examples in chunks, attaching the scores (the loop written once)."""

from __future__ import annotations

import dataclasses
from typing import Iterable, Iterator

from .backends.protocols import StepScorer
from .types import Example

__all__ = ["score_examples"]


def score_examples(scorer: StepScorer, examples: Iterable[Example], *, chunk_size: int = 64) -> Iterator[Example]:
    """Yield each example with ``scores`` set by ``scorer``, in input order.

    Examples are sent ``chunk_size`` at a time (the scorer batches inside a chunk as it likes).
    A scorer that returns the wrong number of results or values raises ``ValueError``.

    Example:
        >>> from prmkit.backends.fake import FakeScorer
        >>> from prmkit.types import Example, Problem, Solution
        >>> ex = Example(Problem("p", "1+1?"), Solution(["1+1=2", "2"]))
        >>> [len(e.scores) for e in score_examples(FakeScorer(), [ex])]
        [2]
    """
    chunk: list[Example] = []
    for ex in examples:
        chunk.append(ex)
        if len(chunk) == chunk_size:
            yield from _score_chunk(scorer, chunk)
            chunk = []
    if chunk:
        yield from _score_chunk(scorer, chunk)


def _score_chunk(scorer: StepScorer, chunk: list[Example]) -> Iterator[Example]:
    results = scorer.score([e.problem for e in chunk], [e.solution for e in chunk])
    if len(results) != len(chunk):
        raise ValueError(f"scorer returned {len(results)} results for {len(chunk)} solutions")
    for ex, scores in zip(chunk, results):
        if len(scores) != len(ex.solution.steps):
            raise ValueError(f"scorer returned {len(scores)} scores for the {len(ex.solution.steps)} steps of {ex.problem.id!r}")
        yield dataclasses.replace(ex, scores=scores)
