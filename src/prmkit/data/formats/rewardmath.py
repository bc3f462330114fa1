"""RewardMATH / RewardBench-math (Kim et al., 2024): scored candidate solutions in three record shapes.

PRM-score files (``eval_solution`` steps + ``output.step_scores``, chosen/rejected pairs), score-only
files (``solution_reference`` + ``score``: N candidates, no texts, candidate 0 the only correct one) and
direct files (``eval_solution`` + ``answer``, no scores). See ``parse`` for the mapping.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Optional

from ...aggregate import AGGREGATORS, aggregate
from ...answers import extract_answer
from ...types import Example, Problem, Solution, StepScores
from ..io import Context, get, get_list

DESCRIPTION = "RewardMATH / RewardBench math: eval_solution + output.step_scores, or score-only candidate lists"


@dataclass(frozen=True)
class Options:
    """Args:
        source: the verifier name; by default taken from the file name (``rewardbench_Math_Shepherd``
            -> ``Math_Shepherd``, ``ArmoRM_reward`` -> ``ArmoRM``).
        aggregate: how a score-only file's per-step scores become the candidate's outcome score
            (a name from ``prmkit.aggregate.AGGREGATORS``); the raw list stays in ``metadata["step_scores"]``.
    """

    source: Optional[str] = None
    aggregate: str = "min"

    def __post_init__(self) -> None:
        if self.aggregate not in AGGREGATORS:
            raise ValueError(f"unknown aggregate {self.aggregate!r}; known: {', '.join(AGGREGATORS)}")


def sniff(raw: Any) -> bool:
    if not isinstance(raw, dict) or "problem" not in raw:
        return False
    return "eval_solution" in raw or ({"solution_reference", "score"} <= raw.keys() and isinstance(raw["score"], list))


def _source(ctx: Context) -> str:
    opts = ctx.options or Options()
    if opts.source:
        return opts.source
    name = ctx.subset.removeprefix("rewardbench_").removesuffix("_reward")
    return name or "unknown"


def _meta(raw: Any, ctx: Context) -> dict:
    meta = {"subset": ctx.subset}
    for key in ("subject", "level"):
        value = get(raw, key, (str, int), ctx, optional=True)
        if value is not None:
            meta[key] = value
    return meta


def _is_chosen(raw: Any, ctx: Context) -> bool:
    kind = get(raw, "solution_type", str, ctx)
    if kind not in ("chosen", "rejected"):
        raise ctx.error(f"expected 'chosen' or 'rejected', got {kind!r}", "solution_type")
    return kind == "chosen"


def parse(raw: Any, ctx: Context) -> Iterable[Example]:
    """One record to examples: a scored or direct solution (one ``Example``), or N score-only candidates.

    Problem ids: ``rewardbench-math-{problem_id}`` (PRM-score files), ``rewardmath-{problem_id}``
    (direct files) and ``rewardmath-{record index}`` (score-only files, whose record i is problem i).
    ``correct`` is ``solution_type == "chosen"``, or ``k == 0`` for score-only candidate k.
    """
    question = get(raw, "problem", str, ctx)
    if "eval_solution" not in raw:
        yield from _parse_score_only(raw, question, ctx)
        return
    steps = tuple(get_list(raw, "eval_solution", str, ctx))
    final = extract_answer("\n\n".join(steps), style="boxed")
    pid = get(raw, "problem_id", (int, str), ctx, optional=True)
    meta = _meta(raw, ctx)
    output = get(raw, "output", dict, ctx, optional=True)
    if output is None:  # RewardMATH direct: texts and the gold answer, no scores
        answer = get(raw, "answer", (str, int, float), ctx, optional=True)
        problem = Problem(f"rewardmath-{pid}" if pid is not None else ctx.record_id, question,
                          None if answer is None else str(answer), metadata=meta)
        smeta = {"reference": get(raw, "solution_reference", str, ctx, optional=True)}
        yield Example(problem, Solution(steps, final, metadata=smeta), correct=_is_chosen(raw, ctx))
        return
    values = get_list(output, "step_scores", (int, float, type(None)), ctx, path="output")
    if len(values) != len(steps):
        raise ctx.error(f"{len(values)} scores for {len(steps)} steps", "output.step_scores")
    problem = Problem(f"rewardbench-math-{pid}" if pid is not None else ctx.record_id, question, metadata=meta)
    yield Example(problem, Solution(steps, final), scores=StepScores(tuple(values), source=_source(ctx)),
                  correct=_is_chosen(raw, ctx))


def _parse_score_only(raw: Any, question: str, ctx: Context) -> Iterable[Example]:
    opts = ctx.options or Options()
    names = get_list(raw, "solution_reference", str, ctx)
    scores = get_list(raw, "score", (int, float, list), ctx)
    if len(scores) != len(names):
        raise ctx.error(f"{len(scores)} scores for {len(names)} candidates in 'solution_reference'", "score")
    # record i (0-based) of a score file is RewardMATH problem_id i
    pid = f"rewardmath-{ctx.line - 1}" if ctx.kind == "record" and ctx.line else ctx.record_id
    problem = Problem(pid, question, metadata={"subset": ctx.subset})
    for k, (name, score) in enumerate(zip(names, scores)):
        meta = {"reference": name, "candidate": k}
        if isinstance(score, list):
            if not score or any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in score):
                raise ctx.error("expected a non-empty list of numbers", f"score[{k}]")
            meta["step_scores"] = [float(v) for v in score]
            score = aggregate(meta["step_scores"], opts.aggregate)
        yield Example(problem, Solution((), metadata=meta), scores=StepScores((), outcome=float(score), source=_source(ctx)),
                      correct=k == 0)
