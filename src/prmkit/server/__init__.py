"""``prmkit serve``: step rewards over HTTP for RL trainers and clients (FastAPI + uvicorn).

Endpoints (docs/serving.md has the shapes, limits, timeouts and metrics):

* ``POST /v1/score``: ``{"items": [{"problem", "steps" | "text"}], "aggregate"}`` -> step scores per item.
* ``POST /get_reward``: OpenRLHF's remote reward protocol (openrlhf.py).
* ``POST /pooling``: vLLM's pooling response shape, one ``[p_wrong, p_correct]`` row per step.
* ``GET /health`` (503 when the batcher cannot score), ``GET /metrics`` (Prometheus text).
* With a policy (``--policy``): ``POST /v1/chat/completions`` and ``POST /v1/completions``, OpenAI's shapes;
  a ``budget`` runs a PRM-guided search and answers with the chosen solution (completions.py).

Modules: config.py (``ServeConfig``), protocol.py (request/response models, the error body), batching.py
(``MicroBatcher``), metrics.py (``prometheus_client``), guard.py (host, token, body, counting), routes.py,
openrlhf.py and completions.py (thin routes), app.py (``build_app``, ``serve``), launch.py (a server in a
subprocess).
``ServeConfig``, ``MicroBatcher`` and ``launch`` import no web framework; ``build_app`` and ``serve``
import FastAPI when first used.
"""

from typing import Any

from .batching import MicroBatcher, ScoringError
from .config import LOOPBACK, ServeConfig, parse_separator
from .launch import launch

__all__ = ["ServeConfig", "MicroBatcher", "ScoringError", "build_app", "serve", "launch", "LOOPBACK",
           "parse_separator", "load_scorer_for", "load_policy_for"]


def __getattr__(name: str) -> Any:  # PEP 562: FastAPI is imported only by what needs it
    if name in ("build_app", "serve", "load_scorer_for", "load_policy_for"):
        from . import app

        return getattr(app, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
