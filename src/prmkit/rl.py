"""Step rewards for reinforcement learning: credit assignment, dense rewards, and trainer glue.

The transforms are pure functions on one solution's step rewards (``Sequence[float]``), written once:

* ``sum_form``: the usual return, value at step k = sum of the rewards from k on.
* ``min_form``: PURE (Cheng et al. 2025, "Stop Summation: Min-Form Credit Assignment Is All Process Reward
  Model Needs for Reasoning"): value at step k = the minimum of the rewards from k on, so a policy cannot
  raise its return by adding steps.
* ``clip`` and ``delta``: Gao et al. 2024, "On Designing Effective RL Reward at Training Time for LLM
  Reasoning": clip rewards at a threshold so each is <= 0 (more steps never pay), or replace each reward
  by its difference to the next one (the return then telescopes to the current step's reward).
* ``prof_filter``: keep the rollouts whose process and outcome rewards agree (PROF, process consistency
  filter): the correct ones the PRM rates highest and the wrong ones it rates lowest.

``dense_rewards`` places each step's reward on the last token of that step (``step_end_tokens`` finds it),
the shape RL trainers consume.
``trl_reward_function`` and ``verl_compute_score`` wrap any scorer (in process, or a ``prmkit serve`` URL
through ``prmkit.backends.prm_http.PRMServerScorer``) in TRL's ``reward_funcs`` and verl's ``compute_score``
signatures.
"""

from __future__ import annotations

from typing import Any, Callable, Optional, Sequence

from .aggregate import aggregate

__all__ = ["sum_form", "min_form", "clip", "delta", "CREDIT", "group_advantages", "prof_filter", "dense_rewards",
           "step_end_tokens",
           "trl_reward_function", "verl_compute_score"]


def sum_form(rewards: Sequence[float]) -> list[float]:
    """Value of each step under summed credit: ``v_k = Σ_{j>=k} r_j``.

    Example:
        >>> sum_form([0.9, 0.2, 0.8])
        [1.9, 1.0, 0.8]
    """
    out, total = [], 0.0
    for r in reversed(rewards):
        total += r
        out.append(round(total, 12))
    return out[::-1]


def min_form(rewards: Sequence[float]) -> list[float]:
    """Value of each step under PURE's min-form credit: ``v_k = min_{j>=k} r_j``.

    Example:
        >>> min_form([0.9, 0.2, 0.8])
        [0.2, 0.2, 0.8]
    """
    out, low = [], float("inf")
    for r in reversed(rewards):
        low = min(low, r)
        out.append(low)
    return out[::-1]


def clip(rewards: Sequence[float], threshold: float = 0.5) -> list[float]:
    """Clip mechanism: ``min(r_k - threshold, 0)``, every step reward at most 0.

    Example:
        >>> clip([0.9, 0.2, 0.8], threshold=0.5)
        [0.0, -0.3, 0.0]
    """
    return [round(min(r - threshold, 0.0), 12) for r in rewards]


def delta(rewards: Sequence[float]) -> list[float]:
    """Delta mechanism: ``r_k - r_{k+1}`` for every step but the last, which keeps its reward.

    Example:
        >>> delta([0.9, 0.2, 0.8])
        [0.7, -0.6, 0.8]
    """
    return [round(r - nxt, 12) for r, nxt in zip(rewards, rewards[1:])] + list(rewards[-1:])


def group_advantages(values: Sequence[float]) -> list[float]:
    """Advantages within a group of rollouts of one prompt: each value minus the group's mean (GRPO's
    baseline, without the std scaling).

    Example:
        >>> group_advantages([1.9, 1.5])
        [0.2, -0.2]
    """
    mean = sum(values) / len(values)
    return [round(v - mean, 12) for v in values]


CREDIT: dict[str, Callable[[Sequence[float]], list[float]]] = {
    "sum": sum_form, "min": min_form, "clip": clip, "delta": delta, "none": lambda r: list(r),
}


def prof_filter(outcomes: Sequence[bool], process: Sequence[float], keep: float = 0.5) -> list[int]:
    """Indices of the rollouts of one group to keep: among the correct ones, the ``keep`` share the PRM rates
    highest; among the wrong ones, the share it rates lowest (at least one of each kind present).

    Example:
        >>> prof_filter([True, True, False, False], [0.9, 0.3, 0.8, 0.1], keep=0.5)
        [0, 3]
    """
    if len(outcomes) != len(process):
        raise ValueError(f"{len(outcomes)} outcomes but {len(process)} process rewards")
    kept: list[int] = []
    for good in (True, False):
        group = [i for i, o in enumerate(outcomes) if bool(o) is good]
        if group:
            group.sort(key=lambda i: (-process[i] if good else process[i], i))
            kept += group[: max(1, round(keep * len(group)))]
    return sorted(kept)


def step_end_tokens(tokenizer: Any, completion: str, separator: str = "\n") -> list[int]:
    """Index of the last token of each step of ``completion`` (steps split at ``separator``, empty ones
    skipped), in the tokenization ``tokenizer(completion, add_special_tokens=False)``: where
    ``dense_rewards`` puts each step's reward. Needs a fast tokenizer (character offsets)."""
    import bisect

    enc = tokenizer(completion, add_special_tokens=False, return_offsets_mapping=True)
    token_ends = [end for _, end in enc["offset_mapping"]]
    ends, at = [], 0
    for piece in completion.split(separator):
        start, at = at, at + len(piece) + len(separator)
        if piece.strip():
            last_char = start + len(piece.rstrip())  # the step's last visible character, exclusive
            ends.append(min(bisect.bisect_left(token_ends, last_char), len(token_ends) - 1))
    return ends


def dense_rewards(step_end_tokens: Sequence[int], rewards: Sequence[Optional[float]], length: int) -> Any:
    """A ``[length]`` float tensor of zeros with each step's reward on the step's last token (a step with reward
    None, which the PRM did not score, puts nothing there).

    Example:
        >>> dense_rewards([2, 5], [0.5, -1.0], 7).tolist()
        [0.0, 0.0, 0.5, 0.0, 0.0, -1.0, 0.0]
    """
    import torch

    if len(step_end_tokens) != len(rewards):
        raise ValueError(f"{len(step_end_tokens)} step ends but {len(rewards)} rewards")
    out = torch.zeros(length)
    for pos, r in zip(step_end_tokens, rewards):
        if not 0 <= pos < length:
            raise ValueError(f"step end {pos} is outside the {length} tokens")
        if r is not None:
            out[pos] += r
    return out


def _credited(scorer: Any, questions: Sequence[str], texts: Sequence[str], separator: str,
              transform: Callable[[Sequence[float]], list[float]]) -> list[list[Optional[float]]]:
    """Per text, one reward per step: ``transform`` over the steps the PRM scored, in their places. A step it gave
    no score (past its ``max_length``, no verdict) stays None, never counted as 0."""
    from .types import Problem, Solution

    problems = [Problem(f"rl-{i}", q) for i, q in enumerate(questions)]
    solutions = [Solution(tuple(s for s in t.split(separator) if s.strip()) or (t,)) for t in texts]
    out = []
    for s in scorer.score(problems, solutions):
        at = [k for k, v in enumerate(s.values) if v is not None]
        rewards: list[Optional[float]] = [None] * len(s.values)
        for k, r in zip(at, transform([s.values[k] for k in at]) if at else []):
            rewards[k] = r
        out.append(rewards)
    return out


def trl_reward_function(scorer: Any, *, separator: str = "\n", aggregate_how: str = "min",
                        credit: str = "none", name: str = "prm") -> Callable[..., list[Optional[float]]]:
    """A TRL ``GRPOTrainer`` reward function: ``f(prompts, completions, **kwargs) -> list[float | None]``.

    Each completion is split into steps at ``separator``, scored by ``scorer`` against its prompt (text, or
    the last user message of a conversation), transformed by ``CREDIT[credit]``, and aggregated over the steps
    the PRM scored. A completion with no step scored gets ``None``, which TRL's GRPO reads as "no reward":
    left out of its group's baseline, with advantage 0.
    """
    transform = CREDIT[credit]

    def prm_reward(prompts: Sequence[Any], completions: Sequence[Any], **kwargs: Any) -> list[Optional[float]]:
        questions = [p if isinstance(p, str) else p[-1]["content"] for p in prompts]
        texts = [c if isinstance(c, str) else c[-1]["content"] for c in completions]
        return [aggregate(steps, aggregate_how) for steps in _credited(scorer, questions, texts, separator, transform)]

    prm_reward.__name__ = name
    return prm_reward


def verl_compute_score(scorer: Any, *, separator: str = "\n", aggregate_how: str = "min",
                       credit: str = "none") -> Callable[..., dict]:
    """A verl ``compute_score(data_source, solution_str, ground_truth, extra_info=None)`` returning
    ``{"score": aggregated reward, "step_rewards": [...], "scored_steps": k}``; the question is
    ``extra_info["question"]``. A step the PRM did not score has reward None and is left out of ``score``; verl
    needs a number, so a solution with none scored gets ``score`` 0.0 with ``scored_steps`` 0 (verl logs the
    extra keys)."""
    transform = CREDIT[credit]

    def compute_score(data_source: str, solution_str: str, ground_truth: Any,
                      extra_info: Optional[dict] = None) -> dict:
        question = (extra_info or {}).get("question", "")
        steps = _credited(scorer, [question], [solution_str], separator, transform)[0]
        value = aggregate(steps, aggregate_how)
        return {"score": 0.0 if value is None else value, "step_rewards": steps,
                "scored_steps": sum(r is not None for r in steps)}

    return compute_score
