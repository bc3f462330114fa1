"""Automatic step labels: Monte-Carlo rollouts, binary search, LLM-as-judge, tool checks, verifiers, consensus.

``LABELERS`` names the labelers (imported lazily: this package imports no torch). Each takes a list
of ``Example`` and keyword settings and returns one result dict per example (``labels``, ``kind``,
``info``, ``rollouts``, ``tokens``); ``prmkit.pipelines.annotate`` runs them in resumable chunks.
"""

LABELERS: dict[str, str] = {
    "mc": "prmkit.annotate.rollouts:monte_carlo",
    "binary-search": "prmkit.annotate.rollouts:binary_search",
    "judge": "prmkit.annotate.judge:judge_labels",
    "tool": "prmkit.annotate.tool_check:tool_labeler",
    "verifier": "prmkit.annotate.verifier:verifier_labels",
}
ROLLOUT_METHODS = ("mc", "binary-search")  # the labelers that roll out through the RolloutEngine and its cache

__all__ = ["LABELERS", "ROLLOUT_METHODS"]
