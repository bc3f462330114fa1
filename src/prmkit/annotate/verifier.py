"""Step labels from a verifier: any ``StepScorer``'s step scores read as soft labels.

The scorer can be a generative verifier (``GenerativeScorer``: K verification chains per solution, the
share or probability of "correct" verdicts) or a trained PRM (pseudo-labels). A step it gives no score,
such as one after a truncated or unparseable chain, stays unlabelled. No value is made up for it.
"""

from __future__ import annotations

from typing import Any, Sequence

from ..types import Example

__all__ = ["verifier_labels"]


def verifier_labels(examples: Sequence[Example], scorer: Any, *, seed: int = 0) -> list[dict]:
    """Label each solution with ``scorer``'s step scores.

    A scorer with a ``seed`` (a generative verifier samples its chains from it) is seeded per chunk. One that
    writes chains (``chains`` and ``step_scores``) reports the tokens it generated per solution.

    Returns one result per example: ``{"labels", "kind": "soft", "info": {"unscored"}, "rollouts": 0, "tokens"}``.
    """
    if hasattr(scorer, "seed"):
        scorer.seed = seed
    problems, solutions = [ex.problem for ex in examples], [ex.solution for ex in examples]
    if callable(getattr(scorer, "chains", None)) and callable(getattr(scorer, "step_scores", None)):
        chains = scorer.chains(problems, solutions)
        scores = [scorer.step_scores(c, len(sol.steps)) for c, sol in zip(chains, solutions)]
        tokens = [sum(chain.tokens for chain in c) for c in chains]
    else:
        scores, tokens = scorer.score(problems, solutions), [0] * len(examples)
    if len(scores) != len(examples):
        raise ValueError(f"the verifier returned {len(scores)} results for {len(examples)} solutions")
    results = []
    for ex, s, t in zip(examples, scores, tokens):
        values = list(s.values)
        if len(values) != len(ex.solution.steps):
            raise ValueError(f"the verifier returned {len(values)} scores for the {len(ex.solution.steps)} steps of "
                             f"{ex.problem.id!r}")
        results.append({"labels": values, "kind": "soft", "rollouts": 0, "tokens": t,
                        "info": {"unscored": values.count(None)}})
    return results
