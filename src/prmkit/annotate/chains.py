"""Verification chains for training a generative verifier: sample them, keep those that agree with the labels.

The ThinkPRM recipe (Khalifa et al. 2025): a generator writes verification chains for labelled solutions;
a chain is kept only when every verdict it gives agrees with the step labels (gold, Monte-Carlo or
consensus) and it judges every step up to the first wrong one (or all of them); a verifier is then
fine-tuned on the kept chains (``prmkit train target=chains``). Truncated chains are never kept.
"""

from __future__ import annotations

from collections import Counter
from typing import Optional, Sequence

from ..backends.generative import VERIFIER_PROMPTS, Chain, GenerativeScorer
from ..types import Example, StepLabels

__all__ = ["agrees", "chain_records"]


def agrees(chain: Chain, labels: StepLabels, threshold: float = 0.5) -> bool:
    """Whether ``chain`` judges each step as ``labels`` do (a label >= ``threshold`` is correct), up to and
    including the first wrong step, or every step when none is wrong. Unlabelled steps take any verdict.

    Example:
        >>> c = Chain(verdicts={0: (True, None), 1: (False, None)})
        >>> agrees(c, StepLabels((1.0, 0.0, None), "hard")), agrees(c, StepLabels((1.0, 1.0, 1.0), "hard"))
        (True, False)
    """
    if chain.truncated:
        return False
    values = labels.values
    wrong = next((i for i, v in enumerate(values) if v is not None and v < threshold), None)
    for i in range(len(values) if wrong is None else wrong + 1):
        if i not in chain.verdicts:
            return False
        if values[i] is not None and chain.verdicts[i][0] != (values[i] >= threshold):
            return False
    return True


def chain_records(examples: Sequence[Example], scorer: GenerativeScorer, *, keep: int = 1,
                  report: Optional[Counter] = None, batch: int = 256) -> list[dict]:
    """Sample ``scorer.k`` chains per labelled example and keep up to ``keep`` that agree with its labels.

    Returns JSON-ready records ``{"prompt", "segments", "verifier_prompt", "problem_id", "first_error",
    "scorer"}`` (what ``prmkit train target=chains`` reads). ``report`` counts solutions, chains, kept
    chains and solutions with none kept, with and without an error."""
    report = report if report is not None else Counter()
    name = next((k for k, v in VERIFIER_PROMPTS.items() if v == scorer.prompt), None)
    settings = {"hole_tokens": scorer.hole_tokens, "max_tokens": scorer.max_tokens}
    labelled = [ex for ex in examples if ex.labels is not None]
    report["solutions without labels (skipped)"] += len(examples) - len(labelled)
    records = []
    for start in range(0, len(labelled), batch):
        part = labelled[start: start + batch]
        for ex, chains in zip(part, scorer.chains([e.problem for e in part], [e.solution for e in part])):
            kind = "with an error" if ex.labels.first_error is not None else "without an error"
            good = [c for c in chains if agrees(c, ex.labels)]
            report[f"solutions {kind}"] += 1
            report["chains sampled"] += len(chains)
            report["chains agreeing"] += len(good)
            report[f"solutions {kind}, none agreeing"] += not good
            for chain in good[:keep]:
                records.append({"prompt": scorer._prompt(ex.problem.question, ex.solution.steps),
                                "segments": [[t, by] for t, by in chain.segments], "verifier_prompt": name,
                                "problem_id": ex.problem.id, "first_error": ex.labels.first_error,
                                "scorer": settings})
    report["chains kept"] += len(records)
    return records
