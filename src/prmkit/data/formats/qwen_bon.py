"""Qwen2.5-Math Best-of-N samples: per MATH problem, N responses with correctness and ORM scores.

Each line (``question``, ``gt``, ``idx``, and parallel lists ``code`` = responses, ``pred`` =
extracted answers, ``score`` = correct or not, ``pred_score`` = one-element lists of
Qwen2.5-Math-RM-72B outcome scores) becomes N ``Example``s sharing the problem id: steps are the
response split on blank lines, each with a ``None`` step score, and the RM score is the outcome.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

from ...steps import split_steps
from ...types import Example, Problem, Solution, StepScores
from ..io import Context, get, get_list

DESCRIPTION = "Qwen2.5-Math best-of-N: question, gt, code (N responses), pred, score (correct), pred_score (ORM)"
_KEYS = {"code", "pred", "score", "pred_score"}


@dataclass(frozen=True)
class Options:
    """Args:
        source: the verifier that produced ``pred_score``.
        separator: the step separator inside a response.
    """

    source: str = "Qwen2.5-Math-RM-72B"
    separator: str = "\n\n"


def sniff(raw: Any) -> bool:
    return isinstance(raw, dict) and _KEYS <= raw.keys() and ("question" in raw or "query" in raw)


def parse(raw: Any, ctx: Context) -> Iterable[Example]:
    opts = ctx.options or Options()
    question = get(raw, "question", str, ctx)
    responses = get_list(raw, "code", str, ctx)
    preds = get_list(raw, "pred", (str, type(None)), ctx)
    correct = get_list(raw, "score", bool, ctx)
    rm = get_list(raw, "pred_score", (list, int, float), ctx)
    for name, values in (("pred", preds), ("score", correct), ("pred_score", rm)):
        if len(values) != len(responses):
            raise ctx.error(f"{len(values)} items but 'code' has {len(responses)} responses", name)
    outcomes = []
    for k, value in enumerate(rm):
        value = value[0] if isinstance(value, list) and len(value) == 1 else value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ctx.error(f"expected a number or a one-number list, got {value!r}", f"pred_score[{k}]")
        outcomes.append(float(value))
    idx = get(raw, "idx", (int, str), ctx, optional=True)
    meta = {"subset": ctx.subset}
    for key in ("level", "type", "subject"):
        if isinstance(raw.get(key), (str, int)):
            meta[key] = raw[key]
    gt = get(raw, "gt", (str, int, float), ctx, optional=True)
    problem = Problem(f"qwen-bon-{idx}" if idx is not None else ctx.record_id, question,
                      None if gt is None else str(gt), metadata=meta)
    for k, response in enumerate(responses):
        steps = split_steps(response, separator=opts.separator)
        scores = StepScores((None,) * len(steps), outcome=outcomes[k], source=opts.source)
        yield Example(problem, Solution(steps, preds[k], metadata={"sample": k}), scores=scores, correct=correct[k])
