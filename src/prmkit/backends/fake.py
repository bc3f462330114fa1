"""Deterministic fake backends for tests, docs and dry runs (registered as ``fake``).

``FakeScorer`` derives each step's score from a hash of (question, steps so far), so a step's score
depends only on its prefix, like a causal PRM's; it never loads a model.
"""

from __future__ import annotations

import hashlib
from typing import Sequence

from ..types import Problem, Solution, StepScores

__all__ = ["FakeScorer"]


class FakeScorer:
    """Scores in [0, 1) from a SHA-256 of the prefix; same input, same scores, on any machine.

    Args:
        seed (`int`, defaults to 0): changes every score.
    """

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed

    def _step_score(self, question: str, prefix: Sequence[str]) -> float:
        text = "\x00".join([str(self.seed), question, *prefix])
        h = hashlib.sha256(text.encode("utf-8")).digest()
        return int.from_bytes(h[:8], "big") / 2**64

    def score(self, problems: Sequence[Problem], solutions: Sequence[Solution]) -> list[StepScores]:
        if len(problems) != len(solutions):
            raise ValueError(f"{len(problems)} problems but {len(solutions)} solutions")
        return [StepScores(tuple(self._step_score(p.question, s.steps[: i + 1]) for i in range(len(s.steps))), source="fake")
                for p, s in zip(problems, solutions)]
