"""Search for better solutions at test time with a PRM, and measure accuracy against compute.

``run(SearchConfig(...))`` reads in order: build the step policy (any generator) and the PRM scorer ->
read the problems (any readable format; their solutions are ignored, their reference answers grade) ->
for each method and N, search every problem (seeded per problem) and grade the answer each pick
(PRM argmax, PRM-weighted vote, majority vote) chooses -> write one record per (problem, method, N) to
``OUT/search.jsonl`` and the accuracy/compute table to ``OUT/summary.json``.

Best-of-N and majority vote are sampled once at the largest N; smaller N read the first N candidates, a
valid sample of that size, and their generation compute is counted in proportion to the candidates
they use. Best-of-N samples ``batch_problems`` problems in one generate call, each with its own seed (the
candidates of one search each). Tree searches (beam, DVTS, MCTS) and early rejection run once per N.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

from ..answers import grade
from ..data import read
from ..registry import resolve
from ..search import BATCHED, DEFAULT_AGGREGATE, SEARCHERS
from ..search.primitives import SELF_CERTAINTY, StepPolicy
from ..search.strategies import CERTAINTY_PICKS, PICKS, SearchResult

__all__ = ["SearchConfig", "run"]



@dataclass
class SearchConfig:
    """A search experiment.

    Args:
        data: problems with reference answers (any readable format).
        generator: the policy (a model folder, hub id, ``bundled-policy`` or ``http://host:port/v1``).
        model: the PRM scorer (a model folder, hub id or ``pkg.mod:Class``); ``spec`` its family if needed.
            ``self-certainty`` searches with no PRM: each step is scored by the policy's certainty in it.
        methods: names in ``prmkit.search.SEARCHERS``.
        n: the budgets N (candidates per problem; simulations for MCTS).
        beam_width: children per expanded node (beam, DVTS, MCTS).
        aggregate: step-score aggregation, default per method (``DEFAULT_AGGREGATE``).
        reject_after / keep: early rejection's scoring depth and surviving share.
        particle_weight / particle_temperature / resample / ess_threshold / iterations: particle filtering and
            Particle Gibbs (``prmkit.search.particles``).
        logprobs: record the policy's token log-probs, so summaries add the ``self-certainty`` and
            ``certainty-weighted`` picks (on with ``model="self-certainty"``).
        template / separator / temperature / max_step_tokens / max_steps / answer_style: the step policy.
        generator_options / scorer_options: passed to the backends (``device``, ``model=`` for servers...).
        prm_cache_bytes: the most bytes an incremental PRM's cached prefix states may hold (``HFStepScorer``'s
            ``max_cache_bytes``; default: a quarter of free CUDA memory, 1 GiB on CPU). Each problem's states
            are released when its search ends.
        limit: the first ``limit`` problems only.
        batch_problems: Best-of-N (``prmkit.search.BATCHED``) samples this many problems in one generate call
            where the generator takes a seed per prompt (HF, OpenAI-compatible, vLLM); the candidates are those of
            one search per problem, and 1 searches them one at a time.
        seed: problem ``i`` is searched with seed ``seed + 1000 * i``.
        out: where ``search.jsonl`` and ``summary.json`` go.
    """

    data: str
    model: str
    generator: str = "bundled-policy"
    out: Optional[str] = None
    spec: Optional[str] = None
    methods: tuple[str, ...] = ("best-of-n", "beam")
    n: tuple[int, ...] = (1, 2, 4, 8, 16)
    beam_width: int = 4
    aggregate: Optional[str] = None
    reject_after: int = 2
    keep: float = 0.5
    particle_weight: str = "log-odds"
    particle_temperature: float = 1.0
    resample: str = "systematic"
    ess_threshold: float = 1.0
    iterations: int = 2
    logprobs: bool = False
    template: str = "{question}\n"
    separator: str = "\n"
    temperature: float = 0.8
    max_step_tokens: int = 64
    max_steps: int = 16
    answer_style: str = "auto"
    generator_options: dict = field(default_factory=dict)
    scorer_options: dict = field(default_factory=dict)
    prm_cache_bytes: Optional[int] = None
    data_format: Optional[str] = None
    limit: Optional[int] = None
    batch_problems: int = 64
    seed: int = 0

    def __post_init__(self) -> None:
        unknown = [m for m in self.methods if m not in SEARCHERS and ":" not in m]
        if unknown:
            raise ValueError(f"unknown search method(s) {', '.join(unknown)}; known: {', '.join(SEARCHERS)}")
        if not self.n or any(k < 1 for k in self.n):
            raise ValueError(f"N values must be positive, got {self.n}")
        self.n = tuple(sorted(set(self.n)))
        self.logprobs = self.logprobs or self.model == SELF_CERTAINTY
        from ..search.particles import check_options

        check_options(self.particle_weight, self.resample, self.particle_temperature)  # before any model loads
        if not 0 <= self.ess_threshold <= 1 or self.iterations < 1:
            raise ValueError(f"need 0 <= ess_threshold <= 1 and iterations >= 1; got {self.ess_threshold}, "
                             f"{self.iterations}")
        if self.batch_problems < 1:
            raise ValueError(f"batch_problems must be >= 1, got {self.batch_problems}")
        if self.prm_cache_bytes is not None and self.prm_cache_bytes < 0:
            raise ValueError(f"prm_cache_bytes must be >= 0, got {self.prm_cache_bytes}")


def _options(config: SearchConfig, method: str) -> dict:
    options: dict[str, Any] = {"aggregate": config.aggregate or DEFAULT_AGGREGATE.get(method, "min")}
    if method in ("beam", "dvts", "mcts"):
        options["beam_width"] = config.beam_width
    if method == "early-rejection":
        options.update(reject_after=config.reject_after, keep=config.keep)
    if method in ("particle-filtering", "particle-gibbs"):
        options.update(weight=config.particle_weight, temperature=config.particle_temperature,
                       resample=config.resample, ess_threshold=config.ess_threshold)
    if method == "particle-gibbs":
        options["iterations"] = config.iterations
    return options


def _first(result: SearchResult, n: int, largest: int) -> SearchResult:
    """The first ``n`` candidates of a best-of-N run at the largest N, with compute in proportion."""
    c, share = result.compute, n / largest
    compute = replace(c, generated_tokens=round(c.generated_tokens * share), prm_tokens=round(c.prm_tokens * share),
                      seconds=c.seconds * share, prm_seconds=c.prm_seconds * share)
    return replace(result, candidates=result.candidates[:n], answers=result.answers[:n], compute=compute)


def _searches(config: SearchConfig, method: str, problems: list, policy: StepPolicy, scorer: Any,
              budgets: list[int]) -> Iterator[tuple[Any, int, SearchResult]]:
    """(problem, budget, result) of every search of ``method``, problem by problem (problem ``i`` seeded
    ``config.seed + 1000 * i``); a ``BATCHED`` strategy searches ``config.batch_problems`` problems at a time."""
    options, seeds = _options(config, method), [config.seed + 1000 * i for i in range(len(problems))]
    if method not in BATCHED or config.batch_problems == 1:
        search = resolve(method, SEARCHERS, "search method")
        for problem, seed in zip(problems, seeds):
            for budget in budgets:
                yield problem, budget, search(problem, policy, scorer, budget, seed=seed, **options)
        return
    search_many = resolve(method, BATCHED, "search method")
    for start in range(0, len(problems), config.batch_problems):
        chunk = slice(start, start + config.batch_problems)
        results = {b: search_many(problems[chunk], policy, scorer, b, seeds=seeds[chunk], **options) for b in budgets}
        for j, problem in enumerate(problems[chunk]):
            for budget in budgets:
                yield problem, budget, results[budget][j]


def run(config: SearchConfig, progress: Optional[Callable[[str, int], Any]] = None) -> dict:
    """Search every problem with every method at every N; returns (and writes) the summary.

    ``progress(description, total)`` may return a callable advanced once per search.
    """
    from ..backends import load_generator, load_scorer, mask_secrets

    policy = StepPolicy(load_generator(config.generator, **config.generator_options), template=config.template,
                        separator=config.separator, temperature=config.temperature,
                        max_step_tokens=config.max_step_tokens, max_steps=config.max_steps,
                        answer_style=config.answer_style, logprobs=config.logprobs)
    scorer = SELF_CERTAINTY if config.model == SELF_CERTAINTY else \
        load_scorer(config.model, spec=config.spec, **config.scorer_options)
    picks_made = PICKS + CERTAINTY_PICKS if config.logprobs else PICKS
    if hasattr(scorer, "incremental"):  # HF scorers: read only each candidate's new step
        scorer.incremental = True
    if config.prm_cache_bytes is not None and hasattr(scorer, "max_cache_bytes"):
        scorer.max_cache_bytes = config.prm_cache_bytes
    problems, seen = [], set()
    for ex in read(config.data, config.data_format):
        if ex.problem.id not in seen and ex.problem.answer is not None:
            seen.add(ex.problem.id)
            problems.append(ex.problem)
    problems = problems[: config.limit]
    if not problems:
        raise ValueError(f"{config.data}: no problems with a reference answer")
    out = Path(config.out) if config.out else None
    records, table = [], {}
    for method in config.methods:
        sampled_once = method == "best-of-n"
        budgets = [max(config.n)] if sampled_once else list(config.n)
        step = progress(f"{method} (N={','.join(map(str, budgets))})", len(problems) * len(budgets)) if progress else None
        for problem, budget, result in _searches(config, method, problems, policy, scorer, budgets):
            for n in (config.n if sampled_once else [budget]):
                r = _first(result, n, budget) if sampled_once else result
                picks = {p: r.pick(p) for p in picks_made}
                correct = {p: a is not None and grade(a, problem.answer) for p, a in picks.items()}
                records.append({"problem": problem.id, "method": method, "n": n, "answer": problem.answer,
                                "picks": picks, "correct": correct, "compute": r.compute.as_dict(),
                                "candidates": [{"steps": list(c.steps), "scores": list(c.scores)}
                                               for c in r.candidates]})
            if step:
                step()
    for rec in records:
        row = table.setdefault(rec["method"], {}).setdefault(str(rec["n"]), {"problems": 0, **{p: 0 for p in picks_made},
                                                                              "generated_tokens": 0, "prm_tokens": 0,
                                                                              "seconds": 0.0})
        row["problems"] += 1
        for p in picks_made:
            row[p] += rec["correct"][p]
        for k in ("generated_tokens", "prm_tokens", "seconds"):
            row[k] += rec["compute"][k]
    for rows in table.values():
        for row in rows.values():
            count = row.pop("problems")
            row.update({p: row[p] / count for p in picks_made})
            row.update({k: row[k] / count for k in ("generated_tokens", "prm_tokens", "seconds")})
            row["problems"] = count
    settings = {**asdict(config), "generator_options": mask_secrets(config.generator_options),
                "scorer_options": mask_secrets(config.scorer_options)}
    summary = {"problems": len(problems), "config": settings, "accuracy": table}
    if out:
        out.mkdir(parents=True, exist_ok=True)
        with open(out / "search.jsonl", "w") as f:
            for rec in records:
                f.write(json.dumps(rec) + "\n")
        (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary
