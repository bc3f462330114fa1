"""Monte-Carlo step labels from rollouts: exhaustive estimation (Math-Shepherd) and binary search (OmegaPRM).

A rollout continues a solution's prefix (the problem and steps ``0..j``) with any ``Generator`` and
is *successful* when its final answer equals the reference (``prmkit.answers.grade``). Step ``j`` is
then judged by the rollouts from its prefix:

* ``monte_carlo`` (Math-Shepherd): ``k`` rollouts from every prefix; the soft label is the fraction
  that succeed, the hard label "any succeeded". With ``early_stop`` the prefixes are taken in order
  and their rollouts come in rounds that stop at the first success (the hard label is decided); once
  a prefix has none in ``k``, it and the later steps are labelled wrong without more rollouts.
* ``binary_search`` (OmegaPRM): for a solution with a wrong final answer, probe the middle of the
  interval that holds the first error; a probe of up to ``probe_size`` rollouts that reaches the
  answer moves the search right, one that does not moves it left, so the first error is found in
  ``ceil(log2 n)`` probes. The probes form the search tree recorded in ``info["tree"]``. A solution
  with the right final answer is labelled correct throughout with no rollouts (as in OmegaPRM).

The last step needs no rollout: the solution's own final answer decides it. Every rollout is cached
by its prompt (shared across solutions, methods and resumed runs); each labeler reports the rollouts
and tokens it *used*, whether generated now or read from the cache, so costs compare across methods.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Sequence

from ..answers import grade
from ..jobfolder import kill_point
from ..types import Example, StepLabels
from .store import Rollout

__all__ = ["RolloutEngine", "monte_carlo", "binary_search", "derive_seed", "prefix_prompt", "prefix_keys"]


def derive_seed(*parts: Any) -> int:
    """A 31-bit seed from any parts (the same parts give the same seed on every machine and run)."""
    return int(hashlib.sha256(":".join(map(str, parts)).encode()).hexdigest()[:8], 16) & 0x7FFFFFFF


def count_tokens_with(generator: Any) -> Callable[[str], int]:
    """Token counter for a generator's completions: its tokenizer if it has one, else whitespace words."""
    tokenizer = getattr(generator, "tokenizer", None)
    if tokenizer is not None:
        return lambda text: len(tokenizer(text, add_special_tokens=False)["input_ids"])
    return lambda text: len(text.split())


def prefix_prompt(ex: Example, upto: int, template: str, separator: str) -> str:
    """The rollout prompt after steps ``0..upto`` of ``ex`` (``upto = -1``: the problem alone)."""
    return template.format(question=ex.problem.question) + "".join(s + separator for s in ex.solution.steps[: upto + 1])


def prefix_keys(examples: Sequence[Example], template: str, separator: str) -> set[str]:
    """The cache keys of every prefix of these solutions: all a rollout labeler can read for them."""
    return {RolloutEngine.key(prefix_prompt(ex, j, template, separator))
            for ex in examples for j in range(-1, len(ex.solution.steps))}


@dataclass
class RolloutEngine:
    """Rollouts from step prefixes through a ``Generator``, with a cache keyed by the prompt.

    Args:
        generator: any ``Generator``.
        cache: prompt key -> rollouts in index order (from ``JobStore.load_rollouts``; updated in place).
        template: the prompt before the steps, with ``{question}`` (the world policy's is ``"{question}\\n"``).
        separator: between steps, and after the prefix (the policy writes one step per line).
        temperature / max_tokens: sampling of each rollout.
        grader: ``(completion, reference answer) -> bool``; defaults to ``prmkit.answers.grade``.
    """

    generator: Any
    cache: dict[str, list[Rollout]]
    template: str = "{question}\n"
    separator: str = "\n"
    temperature: float = 0.8
    max_tokens: int = 256
    grader: Callable[[str, Any], bool] = grade
    new: dict[str, list[tuple[int, Rollout]]] = field(default_factory=dict)  # generated since the last take_new()
    touched: set[str] = field(default_factory=set)  # every key fetch looked up since the last take_new()

    def __post_init__(self) -> None:
        self.count_tokens = count_tokens_with(self.generator)

    def prompt(self, ex: Example, upto: int) -> str:
        """The rollout prompt after steps ``0..upto`` (``upto = -1``: the problem alone)."""
        return prefix_prompt(ex, upto, self.template, self.separator)

    @staticmethod
    def key(prompt: str) -> str:
        return hashlib.sha256(prompt.encode()).hexdigest()

    def fetch(self, wants: Sequence[tuple[str, Any, int]], seed: int) -> list[list[Rollout]]:
        """The first ``m`` rollouts of each ``(prompt, reference answer, m)``, generating what the cache lacks.

        Missing rollouts are generated in one ``generate`` call per distinct shortfall, seeded from
        ``seed``; a prompt asked for more than once is generated for its largest ``m`` only.
        """
        need: dict[str, tuple[str, Any, int]] = {}
        for prompt, answer, m in wants:
            key = self.key(prompt)
            self.touched.add(key)
            if m > need.get(key, ("", None, 0))[2]:
                need[key] = (prompt, answer, m)
        short: dict[int, dict[str, tuple[str, Any]]] = {}
        for key, (prompt, answer, m) in need.items():
            missing = m - len(self.cache.get(key, ()))
            if missing > 0:
                short.setdefault(missing, {})[key] = (prompt, answer)
        for missing, group in sorted(short.items()):
            keys = list(group)
            texts = self.generator.generate([group[k][0] for k in keys], n=missing, max_tokens=self.max_tokens,
                                            temperature=self.temperature, seed=derive_seed(seed, missing))
            kill_point("rollouts")  # a test's worker kill lands here (PRMKIT_KILL_AT=rollouts:N), mid-chunk
            for key, completions in zip(keys, texts):
                have = self.cache.setdefault(key, [])
                for text in completions:
                    rollout = (text, bool(self.grader(text, group[key][1])), self.count_tokens(text))
                    self.new.setdefault(key, []).append((len(have), rollout))
                    have.append(rollout)
        return [self.cache[self.key(p)][:m] if m > 0 else [] for p, _, m in wants]

    def take_new(self) -> tuple[dict[str, list[tuple[int, Rollout]]], set[str]]:
        """The rollouts generated since the last call (to commit with the chunk that made them), and the
        keys looked up meanwhile (a chunk's labels depend on the cache at those keys only)."""
        new, touched, self.new, self.touched = self.new, self.touched, {}, set()
        return new, touched

    def final_correct(self, ex: Example) -> bool:
        """Whether the solution's own last step reaches the reference answer."""
        return bool(self.grader(self.separator.join(ex.solution.steps), ex.problem.answer))


def _need_answers(examples: Sequence[Example], method: str) -> None:
    for ex in examples:
        if ex.problem.answer is None:
            raise ValueError(f"example {ex.problem.id!r} has no reference answer; {method} grades rollouts against it")


def monte_carlo(examples: Sequence[Example], engine: RolloutEngine, *, k: int = 8, early_stop: bool = False,
                round_size: int = 2, seed: int = 0) -> list[dict]:
    """Math-Shepherd labels for each solution.

    Exhaustive (default): ``k`` rollouts from every prefix, all in one batched call; soft label =
    fraction that succeed. ``early_stop``: hard labels found step by step - rollouts in rounds of
    ``round_size`` from the earliest undecided prefix, which is correct at its first success and
    wrong after ``k`` failures, and then the steps after it are wrong without rollouts. Each round
    batches the current prefix of every solution in the chunk.

    Returns one result per example: ``{"labels", "kind", "info": {"rollouts", "successes"}, "rollouts", "tokens"}``.
    """
    _need_answers(examples, "monte-carlo estimation")
    used = [[0] * len(ex.solution.steps) for ex in examples]
    wins = [[0] * len(ex.solution.steps) for ex in examples]
    tokens = [0] * len(examples)
    last = [engine.final_correct(ex) for ex in examples]
    # at[i]: the prefix being rolled out for solution i (early stop); None when its labels are decided
    at: list[Optional[int]] = [0 if len(ex.solution.steps) > 1 else None for ex in examples]
    round_ = 0
    while True:
        if early_stop:
            where = [(i, at[i]) for i in range(len(examples)) if at[i] is not None]
            size = round_size
        else:
            where = [(i, j) for i, ex in enumerate(examples) for j in range(len(ex.solution.steps) - 1)] if round_ == 0 else []
            size = k
        if not where:
            break
        wants = [(engine.prompt(examples[i], j), examples[i].problem.answer, min(k, used[i][j] + size)) for i, j in where]
        for (i, j), rollouts in zip(where, engine.fetch(wants, derive_seed(seed, "mc", round_))):
            tokens[i] += sum(t for _, _, t in rollouts[used[i][j]:])
            used[i][j], wins[i][j] = len(rollouts), sum(ok for _, ok, _ in rollouts)
            if early_stop and wins[i][j]:
                at[i] = j + 1 if j + 1 < len(examples[i].solution.steps) - 1 else None
            elif early_stop and used[i][j] >= k:
                at[i] = None
        round_ += 1
    results = []
    for i, ex in enumerate(examples):
        n = len(ex.solution.steps)
        if early_stop:
            failed = [j for j in range(n - 1) if used[i][j] >= k and wins[i][j] == 0]
            cut = min(failed) if failed else n
            values = [0.0 if j >= cut else 1.0 for j in range(n - 1)]
            values.append(0.0 if cut < n else float(last[i]))
            kind = "hard"
        else:
            values = [wins[i][j] / k for j in range(n - 1)] + [float(last[i])]
            kind = "soft"
        results.append({"labels": values, "kind": kind, "rollouts": sum(used[i]), "tokens": tokens[i],
                        "info": {"rollouts": used[i][:-1], "successes": wins[i][:-1], "final_correct": last[i]}})
    return results


def binary_search(examples: Sequence[Example], engine: RolloutEngine, *, probe_size: int = 8, round_size: int = 2,
                  max_probes: Optional[int] = None, seed: int = 0) -> list[dict]:
    """OmegaPRM's binary search for the first error of each solution with a wrong final answer.

    A probe at step ``j`` draws rollouts from the prefix through ``j`` in rounds of ``round_size``,
    up to ``probe_size``, and stops at the first success. ``max_probes`` caps the probes per solution;
    a search stopped by it leaves the steps it could not decide unlabelled (None).

    Returns one result per example: ``{"labels", "kind": "hard", "info": {"tree", "first_error"}, ...}``.
    """
    _need_answers(examples, "binary search")
    n_steps = [len(ex.solution.steps) for ex in examples]
    right = [engine.final_correct(ex) for ex in examples]
    lo = [0] * len(examples)
    hi = [n - 1 for n in n_steps]  # the last step is known wrong when the final answer is wrong
    probe = [(0, 0, 0)] * len(examples)  # (step, rollouts so far, successes so far) of the current probe
    trees: list[list[dict]] = [[] for _ in examples]
    tokens = [0] * len(examples)
    capped = [False] * len(examples)

    def active(i: int) -> bool:
        return not right[i] and lo[i] < hi[i] and not capped[i]

    for i in range(len(examples)):
        if active(i):
            probe[i] = ((lo[i] + hi[i]) // 2, 0, 0)
    round_ = 0
    while any(active(i) for i in range(len(examples))):
        live = [i for i in range(len(examples)) if active(i)]
        wants = [(engine.prompt(examples[i], probe[i][0]), examples[i].problem.answer,
                  min(probe_size, probe[i][1] + round_size)) for i in live]
        for i, rollouts in zip(live, engine.fetch(wants, derive_seed(seed, "bs", round_))):
            step, m, _ = probe[i]
            tokens[i] += sum(t for _, _, t in rollouts[m:])
            wins = sum(ok for _, ok, _ in rollouts)
            if wins == 0 and len(rollouts) < probe_size:
                probe[i] = (step, len(rollouts), 0)
                continue
            trees[i].append({"step": step, "rollouts": len(rollouts), "successes": wins,
                             "verdict": "correct" if wins else "wrong"})
            if wins:
                lo[i] = step + 1
            else:
                hi[i] = step
            capped[i] = max_probes is not None and len(trees[i]) >= max_probes and lo[i] < hi[i]
            probe[i] = ((lo[i] + hi[i]) // 2, 0, 0)
        round_ += 1
    results = []
    for i, n in enumerate(n_steps):
        if right[i]:
            values: list[Optional[float]] = [1.0] * n
            first = None
        elif capped[i]:
            values = [1.0] * lo[i] + [None] * (hi[i] - lo[i]) + [0.0] + [None] * (n - hi[i] - 1)
            first = None
        else:
            values, first = list(StepLabels.from_first_error(n, lo[i]).values), lo[i]
        results.append({"labels": values, "kind": "hard", "rollouts": sum(t["rollouts"] for t in trees[i]),
                        "tokens": tokens[i], "info": {"tree": trees[i], "first_error": first, "final_correct": right[i],
                                                      "stopped_by_max_probes": capped[i]}})
    return results
