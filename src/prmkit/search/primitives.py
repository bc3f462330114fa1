"""The pieces every search strategy is built from: write one more step, score, select.

A ``Node`` is a partial solution (its steps, the PRM's score of each, whether it is finished). A
``StepPolicy`` turns any ``Generator`` into a step writer: the prompt is the question plus the steps so
far, and generation stops at the step separator. ``score_nodes`` asks any ``StepScorer`` for the scores
of steps not scored yet (an incremental scorer reuses the prefix it already read), and
``release_problem`` tells it when a problem's search ended. ``select_topk`` is the one selection rule.
A policy built with ``logprobs=True`` also records the log-probability of every token it wrote, per step, so
the policy's own self-certainty can weigh candidates where there is no PRM (``score_nodes(None, ...)``).
Every call is counted in a ``Compute`` (generated tokens, PRM tokens, wall time), so strategies compare
at equal compute, not only at equal N.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass, field
from typing import Any, Optional, Sequence

from ..aggregate import aggregate
from ..answers import extract_answer, marked_answer
from ..types import Problem, Solution

__all__ = ["Node", "Compute", "StepPolicy", "score_nodes", "release_problem", "select_topk", "node_answer",
           "SELF_CERTAINTY"]

SELF_CERTAINTY = "self-certainty"  # the scorer name of PRM-free search: steps scored by the policy's own certainty


@dataclass(frozen=True)
class Node:
    """A partial or finished solution: its steps, the PRM's score of each step so far, and whether it ended.

    ``scores`` may be shorter than ``steps`` (steps not scored yet); ``value`` aggregates what is there.
    ``logprobs`` / ``logprob_tokens`` (filled by a ``StepPolicy(logprobs=True)``): per step, the summed
    log-probability of the tokens the policy wrote and how many there were.
    """

    steps: tuple[str, ...] = ()
    scores: tuple[Optional[float], ...] = ()
    done: bool = False
    logprobs: tuple[float, ...] = ()
    logprob_tokens: tuple[int, ...] = ()

    def value(self, how: str = "min") -> Optional[float]:
        return aggregate(self.scores, how) if self.scores else None

    def certainty(self, step: Optional[int] = None) -> Optional[float]:
        """The policy's self-certainty: exp(mean token log-probability), the geometric mean of the written tokens'
        probabilities, in (0, 1], over the whole node or one ``step``; None where no log-probs were recorded."""
        if len(self.logprobs) != len(self.steps) or not self.steps:
            return None
        lp, count = (self.logprobs, self.logprob_tokens) if step is None else \
            ((self.logprobs[step],), (self.logprob_tokens[step],))
        return math.exp(math.fsum(lp) / sum(count)) if sum(count) else None


@dataclass
class Compute:
    """What a search spent: tokens generated, tokens the PRM read, calls, and wall seconds (all, and the PRM's)."""

    generated_tokens: int = 0
    prm_tokens: int = 0
    generate_calls: int = 0
    score_calls: int = 0
    seconds: float = 0.0
    prm_seconds: float = 0.0
    _started: float = field(default_factory=time.perf_counter, repr=False)

    def stop(self) -> "Compute":
        self.seconds = time.perf_counter() - self._started
        return self

    def restart(self, spent: float = 0.0) -> None:
        """Restart the clock as if ``spent`` seconds had gone already (a problem's share of a call made for several)."""
        self._started = time.perf_counter() - spent

    def as_dict(self) -> dict:
        return {k: v for k, v in dataclasses.asdict(self).items() if not k.startswith("_")}


def select_topk(values: Sequence[Optional[float]], k: int) -> list[int]:
    """Indices of the ``k`` highest values, best first; ties go to the earlier index, None ranks last.

    Example:
        >>> select_topk([0.2, 0.9, None, 0.9, 0.5], 3)
        [1, 3, 4]
    """
    order = sorted(range(len(values)), key=lambda i: (values[i] is None, -(values[i] or 0.0), i))
    return order[: max(k, 0)]


def node_answer(node: Node, style: str = "auto") -> Optional[str]:
    """The final answer a (finished) node states, or None."""
    return extract_answer("\n".join(node.steps), style=style) if node.steps else None


@dataclass
class StepPolicy:
    """Any ``Generator`` as a writer of one step at a time.

    Args:
        generator: a ``Generator`` (HF model, OpenAI-compatible server, vLLM, or your own).
        template: the prompt before the steps (``{question}``); the world policy's is ``"{question}\\n"``.
        separator: ends every step; generation of a step stops there.
        temperature / max_step_tokens: sampling of one step.
        max_steps: a node with this many steps is finished.
        answer_style: how a final answer is recognised (``prmkit.answers.marked_answer``); a step that
            states one ends the solution.
        logprobs: record each written token's log-probability (the generator's ``complete(logprobs=True)``: HF,
            OpenAI-compatible and vLLM backends), for self-certainty weights.
    """

    generator: Any
    template: str = "{question}\n"
    separator: str = "\n"
    temperature: float = 0.8
    max_step_tokens: int = 64
    max_steps: int = 16
    answer_style: str = "auto"
    logprobs: bool = False

    def __post_init__(self) -> None:
        from ..annotate.rollouts import count_tokens_with

        if self.logprobs and not callable(getattr(self.generator, "complete", None)):
            raise ValueError(f"{type(self.generator).__name__} cannot report token log-probabilities (it has no "
                             "complete()); self-certainty needs the HF, OpenAI-compatible or vLLM generator")
        self.count_tokens = count_tokens_with(self.generator)

    def _sample(self, prompts: list[str], n: int, stop: Optional[list[str]], max_tokens: int,
                seed: Optional[int]) -> list[list[tuple[str, Optional[list[tuple[int, float]]]]]]:
        """Texts, and with ``logprobs`` each text's tokens as (character offset, log-probability)."""
        if not self.logprobs:
            texts = self.generator.generate(prompts, n=n, stop=stop, max_tokens=max_tokens,
                                            temperature=self.temperature, seed=seed)
            return [[(t, None) for t in group] for group in texts]
        rows = self.generator.complete(prompts, n=n, stop=stop, max_tokens=max_tokens, temperature=self.temperature,
                                       seed=seed, logprobs=True)
        out = []
        for group in rows:
            out.append([])
            for c in group:
                if c.logprobs is None or c.offsets is None:
                    raise ValueError(f"{type(self.generator).__name__} returned no token log-probabilities; "
                                     "self-certainty needs a backend that reports them")
                out[-1].append((c.text, list(zip(c.offsets, c.logprobs))))
        return out

    def prompt(self, problem: Problem, steps: Sequence[str]) -> str:
        return self.template.format(question=problem.question) + "".join(s + self.separator for s in steps)

    def child(self, parent: Node, text: str, tokens: Optional[list[tuple[int, float]]] = None) -> Node:
        """``parent`` and one more step ``text``; ``tokens`` its (offset, log-prob) pairs with ``logprobs``."""
        step = text.strip()
        steps = parent.steps + (step,)
        final = not step or marked_answer(step, style=self.answer_style) is not None or len(steps) >= self.max_steps
        if not step:
            return Node(parent.steps, parent.scores, final, parent.logprobs, parent.logprob_tokens)
        lp = (parent.logprobs + (math.fsum(v for _, v in tokens),), parent.logprob_tokens + (len(tokens),)) \
            if tokens is not None else ((), ())
        return Node(steps, parent.scores, final, *lp)

    def expand(self, problem: Problem, nodes: Sequence[Node], n: int, compute: Compute,
               seed: Optional[int] = None) -> list[list[Node]]:
        """``n`` one-step children of every node, in one ``generate`` call."""
        if not nodes:
            return []
        prompts = [self.prompt(problem, node.steps) for node in nodes]
        texts = self._sample(prompts, n, [self.separator], self.max_step_tokens, seed)
        compute.generate_calls += 1
        compute.generated_tokens += sum(self.count_tokens(t) for group in texts for t, _ in group)
        return [[self.child(node, t, lp) for t, lp in group] for node, group in zip(nodes, texts)]

    def expand_counts(self, problem: Problem, nodes: Sequence[Node], counts: Sequence[int], compute: Compute,
                      seed: Optional[int] = None) -> list[list[Node]]:
        """``counts[i]`` one-step children of ``nodes[i]``: one ``generate`` call per distinct count, so a node
        that several particles or refilled beams share is sampled ``count`` ways, never copied."""
        out: list[list[Node]] = [[] for _ in nodes]
        for j, count in enumerate(sorted({c for c in counts if c > 0})):
            mine = [i for i, c in enumerate(counts) if c == count]
            kids = self.expand(problem, [nodes[i] for i in mine], count, compute, None if seed is None else seed + 7919 * j)
            for i, k in zip(mine, kids):
                out[i] = k
        return out

    def complete(self, problem: Problem, nodes: Sequence[Node], n: int, compute: Compute,
                 seed: Optional[int] = None) -> list[list[Node]]:
        """``n`` completions of every node to the end (at most ``max_steps`` steps), in one ``generate`` call."""
        if not nodes:
            return []
        prompts = [self.prompt(problem, node.steps) for node in nodes]
        budget = self.max_step_tokens * max(1, self.max_steps - min(len(node.steps) for node in nodes))
        texts = self._sample(prompts, n, None, budget, seed)
        compute.generate_calls += 1
        compute.generated_tokens += sum(self.count_tokens(t) for group in texts for t, _ in group)
        return [[self._finished(node, text, tokens) for text, tokens in group] for node, group in zip(nodes, texts)]

    def solve(self, problems: Sequence[Problem], n: int, computes: Sequence[Compute],
              seeds: Sequence[Optional[int]]) -> tuple[list[list[Node]], list[float]]:
        """``n`` whole solutions of each problem (``complete`` from the empty node), and the sampling seconds
        charged to each. With a generator that takes a seed per prompt (``seeds_per_prompt``) all problems share
        one ``generate`` call, each drawing what it would draw alone with its seed, and each is charged an equal
        share of that call's time; otherwise one call per problem, each charged its own."""
        if len(problems) < 2 or not getattr(self.generator, "seeds_per_prompt", False):
            out, seconds = [], []
            for problem, compute, seed in zip(problems, computes, seeds):
                started = time.perf_counter()
                out.append(self.complete(problem, [Node()], n, compute, seed)[0])
                seconds.append(time.perf_counter() - started)
            return out, seconds
        started = time.perf_counter()
        texts = self._sample([self.prompt(p, ()) for p in problems], n, None,
                             self.max_step_tokens * max(1, self.max_steps), list(seeds))
        out = []
        for compute, group in zip(computes, texts):
            compute.generate_calls += 1
            compute.generated_tokens += sum(self.count_tokens(t) for t, _ in group)
            out.append([self._finished(Node(), text, tokens) for text, tokens in group])
        return out, [(time.perf_counter() - started) / len(problems)] * len(problems)

    def _finished(self, node: Node, text: str, tokens: Optional[list[tuple[int, float]]]) -> Node:
        """``node`` continued by ``text`` (one step per separator, up to the first that ends it), finished."""
        child, start = node, 0
        for line in text.split(self.separator):
            if child.done:
                break
            end = start + len(line) + len(self.separator)  # a step owns the tokens up to its separator
            if line.strip():
                child = self.child(child, line, None if tokens is None else
                                   [(o, v) for o, v in tokens if start <= o < end])
            start = end
        return dataclasses.replace(child, done=True)


def score_nodes(scorer: Any, problem: Problem, nodes: Sequence[Node], compute: Compute, final: bool = False) -> list[Node]:
    """The nodes with every step scored (one ``score`` call for those with unscored steps). PRM tokens are
    counted from the scorer's ``report["tokens"]`` when it keeps one (``HFStepScorer`` does; its incremental
    mode reads only the steps it has not seen). Nodes with the same steps (duplicate samples, particles that
    wrote the same step) are scored once. ``final``: nothing will extend these nodes and no prefix of theirs was
    read (Best-of-N), so an incremental scorer reads them in its plain batched mode (where the candidates still read
    the question they share once) and caches no state.

    ``scorer`` ``"self-certainty"`` (``SELF_CERTAINTY``) needs no PRM: each step's score is the policy's certainty in
    it (``Node.certainty(step)``), so every strategy runs PRM-free on a ``StepPolicy(logprobs=True)``."""
    todo = [i for i, node in enumerate(nodes) if len(node.scores) < len(node.steps)]
    if not todo:
        return list(nodes)
    if scorer == SELF_CERTAINTY:
        if any(len(nodes[i].logprobs) != len(nodes[i].steps) for i in todo):
            raise ValueError("self-certainty scores need token log-probabilities: build the StepPolicy with logprobs=True")
        return [dataclasses.replace(node, scores=tuple(node.certainty(k) for k in range(len(node.steps))))
                if i in todo else node for i, node in enumerate(nodes)]
    unique = list(dict.fromkeys(nodes[i].steps for i in todo))
    before = getattr(scorer, "report", {}).get("tokens", 0)
    started = time.perf_counter()
    plain = final and getattr(scorer, "incremental", False) is True
    if plain:
        scorer.incremental = False
    try:
        scores = scorer.score([problem] * len(unique), [Solution(steps) for steps in unique])
    finally:
        if plain:
            scorer.incremental = True
    compute.prm_seconds += time.perf_counter() - started
    compute.score_calls += 1
    compute.prm_tokens += getattr(scorer, "report", {}).get("tokens", 0) - before
    by_steps = {steps: tuple(s.values) for steps, s in zip(unique, scores)}
    out = list(nodes)
    for i in todo:
        out[i] = dataclasses.replace(nodes[i], scores=by_steps[nodes[i].steps])
    return out


def release_problem(scorer: Any, problem: Problem) -> None:
    """The search of ``problem`` ended: let the scorer free what it kept for it (``release``, optional in the
    ``StepScorer`` protocol; ``HFStepScorer`` drops the problem's cached prefix states). Every strategy calls it
    last."""
    release = getattr(scorer, "release", None)
    if callable(release):
        release(problem)
