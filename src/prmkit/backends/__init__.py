"""Backends behind the text-level protocols, and the lazy tables that name them.

``SCORERS`` maps names to scorer classes (imported only when used, so ``import prmkit.backends``
never imports torch); ``load_scorer`` turns what a user types (``fake``, a model folder, a hub id,
or ``pkg.mod:MyScorer``) into a ``StepScorer``.
"""

from __future__ import annotations

import os
from typing import Any, Optional

from ..registry import resolve
from .protocols import Generator, StepScorer

__all__ = ["SCORERS", "StepScorer", "Generator", "load_scorer"]

SCORERS: dict[str, str] = {
    "hf": "prmkit.backends.hf_transformers:HFStepScorer",
    "fake": "prmkit.backends.fake:FakeScorer",
}


def load_scorer(model: str, *, spec: Optional[str] = None, **kwargs: Any) -> StepScorer:
    """Build a scorer from a name, a model path or hub id, or an import path.

    Args:
        model: ``"fake"``; a key of ``SCORERS`` or ``"pkg.mod:Class"`` (constructed with ``**kwargs``);
            otherwise a Hugging Face model folder or hub id, loaded by ``HFStepScorer.from_pretrained``.
        spec: the PRM family (a name from ``prmkit.backends.families.FAMILIES``) for HF models;
            optional when the model folder carries a ``prmkit_spec.json`` or the hub id has a preset.
        **kwargs: passed to the scorer (``device``, ``dtype``, ``max_batch_tokens``, ...).
    """
    if model in SCORERS and model != "hf" or (":" in model and not os.path.exists(model)):
        return resolve(model, SCORERS, "scorer")(**kwargs)
    from .hf_transformers import HFStepScorer

    return HFStepScorer.from_pretrained(model, spec=spec, **kwargs)
