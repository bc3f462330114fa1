"""A ``StepScorer`` that asks a ``prmkit serve`` server (``POST /v1/score``), so RL workers share one PRM."""

from __future__ import annotations

import os
from typing import Optional, Sequence

from ..types import Problem, Solution, StepScores

__all__ = ["PRMServerScorer"]


class PRMServerScorer:
    """Scores through ``prmkit serve`` at ``url`` (``http://host:port``); ``token`` defaults to $PRMKIT_TOKEN.

    Example:
        >>> PRMServerScorer("http://127.0.0.1:8000").score(problems, solutions)  # doctest: +SKIP
    """

    def __init__(self, url: str, token: Optional[str] = None, timeout: float = 60.0, batch: int = 256) -> None:
        import httpx

        token = token or os.environ.get("PRMKIT_TOKEN")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.client = httpx.Client(base_url=url.rstrip("/"), headers=headers, timeout=timeout)
        self.batch = batch
        self.report = {"tokens": 0}

    def score(self, problems: Sequence[Problem], solutions: Sequence[Solution]) -> list[StepScores]:
        out = []
        for at in range(0, len(problems), self.batch):
            items = [{"problem": p.question, "steps": list(s.steps)}
                     for p, s in zip(problems[at: at + self.batch], solutions[at: at + self.batch])]
            response = self.client.post("/v1/score", json={"items": items})
            if response.status_code != 200:
                raise RuntimeError(f"PRM server answered {response.status_code}: {response.text[:500]}")
            out += [StepScores(tuple(r["step_scores"]), source="prmkit-server") for r in response.json()["results"]]
        return out
