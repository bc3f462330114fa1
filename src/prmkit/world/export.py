"""Labelled examples from the world: policy samples or injected errors, labelled exactly by the checker.

The result is a list of ``Example`` with exact hard step labels, ready for any writer: ProcessBench
format for ``prmkit eval processbench``, prmkit JSONL or TRL stepwise for training. Solutions that
stop before their answer step (the policy ran out of tokens) have no exact first-error label in the
ProcessBench sense; they are kept out of benchmark exports and counted, never dropped silently.
"""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path
from typing import Optional, Sequence

from ..types import Example, Solution
from .checker import check
from .problems import ERROR_KINDS, WorldConfig, WorldProblem, generate, gold_steps, inject_error

__all__ = ["label_solutions", "injected_solutions", "world_examples"]


def label_solutions(problems: Sequence[WorldProblem], solutions: Sequence[Sequence[str]], *, generator: str,
                    complete_only: bool = False, report: Optional[Counter] = None) -> list[Example]:
    """One ``Example`` per (problem, solution text) with the checker's exact labels.

    Args:
        problems: the world problems.
        solutions: for each problem, its candidate solution texts (one step per line).
        generator: recorded in ``problem.metadata["generator"]``.
        complete_only: leave out solutions without a wrong step that also lack the answer step
            (counted in ``report["incomplete"]``).
        report: a Counter to add ``labelled``, ``incomplete`` and per-kind counts to.
    """
    report = report if report is not None else Counter()
    out = []
    for p, texts in zip(problems, solutions):
        for k, text in enumerate(texts):
            r = check(p, text)
            if complete_only and r.error_kind == "incomplete":
                report["incomplete"] += 1
                continue
            base = p.to_problem()
            problem = type(base)(f"{p.id}-s{k}", base.question, base.answer,
                                 {**base.metadata, "generator": generator, "world_id": p.id,
                                  "error_kind": r.error_kind or "none"})
            final = None if r.final_answer is None else str(r.final_answer)
            out.append(Example(problem, Solution(r.steps, final), r.labels, correct=r.final_correct))
            report["labelled"] += 1
            report[f"kind:{r.error_kind or 'none'}"] += 1
    return out


def injected_solutions(problems: Sequence[WorldProblem], *, error_rate: float = 0.5, seed: int = 0) -> list[list[str]]:
    """One solution per problem: the gold one, or (with probability ``error_rate``) one with a single
    injected error of a random kind at a random step."""
    rng = random.Random(seed)
    out = []
    for p in problems:
        if rng.random() >= error_rate:
            out.append(["\n".join(gold_steps(p))])
            continue
        kind = rng.choice(ERROR_KINDS)
        step = len(p.events) if kind == "wrong_final_answer" else rng.randrange(len(p.events))
        out.append(["\n".join(inject_error(p, kind, step, rng))])
    return out


def world_examples(n: int, world: WorldConfig = WorldConfig(min_steps=3, max_steps=6), *, source: str = "policy",
                   policy: Optional[str | Path] = None, samples: int = 1, temperature: float = 0.8, seed: int = 1,
                   complete_only: bool = False, report: Optional[Counter] = None) -> list[Example]:
    """``n`` problems (seeded) with exactly labelled solutions: ``samples`` policy samples each (the bundled
    policy unless ``policy`` names a folder), or ``source="injected"`` (gold or one injected error).
    Seed 1 and up are problems the policy never trained on (it trained on seed 0)."""
    problems = generate(n, world, seed=seed, prefix="world")
    if source == "injected":
        texts, generator = injected_solutions(problems, seed=seed), "injected"
    elif source == "policy":
        from .policy import BUNDLED_POLICY, load_policy, sample_solutions

        model, tok = load_policy(policy or BUNDLED_POLICY)
        texts = sample_solutions(model, tok, problems, n=samples, temperature=temperature, seed=seed)
        generator = f"prmkit-policy@T{temperature}"
    else:
        raise ValueError(f"source must be 'policy' or 'injected', not {source!r}")
    return label_solutions(problems, texts, generator=generator, complete_only=complete_only, report=report)
