"""PRM-guided search strategies, each a short loop over the shared primitives.

Every strategy takes ``(problem, policy, scorer, n, ...)`` and returns a ``SearchResult``: the finished
candidates (with their step scores) and what the search spent. Choosing among candidates (PRM argmax,
PRM-weighted vote, majority vote) is ``SearchResult.pick``, the same for every strategy.

* ``best_of_n``: ``n`` complete samples, scored once; ``best_of_n_batch`` samples many problems in one call.
* ``early_rejection``: ``n`` samples written to ``reject_after`` steps, scored mid-way; only the best
  ``keep`` share is finished (Early Rejection with Partial Reward Modeling, 2025).
* ``beam_search``: ``n`` candidates per step; the best ``n / beam_width`` by PRM score are each
  extended ``beam_width`` ways (Snell et al. 2024). As in search-and-learn, finished candidates are set aside and
  the surviving beams are refilled: they write ``n`` children in all at every step, until ``n`` have finished.
* ``dvts``: ``n / beam_width`` independent subtrees, each keeping its single best of ``beam_width``
  children per step (Diverse Verifier Tree Search, Beeching et al. 2024).
* ``mcts``: ``n`` simulations of UCT over steps, PRM scores as values (rStar-Math-style, without a
  policy prior).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Optional, Sequence

from ..aggregate import argmax, majority_vote, weighted_vote
from ..metrics import cluster_answers
from ..types import Problem
from .primitives import Compute, Node, StepPolicy, node_answer, release_problem, score_nodes, select_topk

__all__ = ["SearchResult", "best_of_n", "best_of_n_batch", "early_rejection", "beam_search", "dvts", "mcts", "PICKS",
           "CERTAINTY_PICKS"]

PICKS = ("prm", "weighted", "majority")
CERTAINTY_PICKS = ("self-certainty", "certainty-weighted")  # where the policy recorded token log-probs


@dataclass
class SearchResult:
    """The finished candidates of one search, and its compute."""

    candidates: list[Node]
    compute: Compute
    aggregate: str = "min"
    answers: list[Optional[str]] = field(default_factory=list)

    def pick(self, how: str = "prm") -> Optional[str]:
        """The chosen answer: ``prm`` (highest aggregated score), ``weighted`` (PRM-weighted vote),
        ``majority`` (self-consistency), and with token log-probs ``self-certainty`` (the candidate the policy
        is most certain of, ``Node.certainty``) and ``certainty-weighted`` (a vote weighted by it)."""
        if not self.candidates:
            return None
        certain = how in CERTAINTY_PICKS
        values = [c.certainty() if certain else c.value(self.aggregate) for c in self.candidates]
        if certain and any(v is None for v in values):
            raise ValueError(f"pick {how!r} needs token log-probabilities: build the StepPolicy with logprobs=True")
        if how in ("prm", "self-certainty"):
            return self.answers[argmax(values)]
        clusters = cluster_answers(self.answers)  # votes count equal answers together ("0.5" and "1/2")
        if how == "weighted" and all(v is None for v in values):  # nothing was scored (one distinct solution)
            how = "majority"
        if how in ("weighted", "certainty-weighted"):
            winner = weighted_vote(clusters, values)
        elif how == "majority":
            winner = majority_vote(clusters)
        else:
            raise ValueError(f"unknown pick {how!r}; known: {', '.join(PICKS + CERTAINTY_PICKS)}")
        return None if winner is None else self.answers[winner]


def _result(problem: Problem, scorer: Any, candidates: list[Node], compute: Compute, how: str,
            style: str) -> SearchResult:
    """The search of ``problem`` ended: release its scorer state and collect the candidates' answers."""
    release_problem(scorer, problem)
    return SearchResult(candidates, compute.stop(), how, [node_answer(c, style) for c in candidates])


def best_of_n(problem: Problem, policy: StepPolicy, scorer: Any, n: int, *, aggregate: str = "min",
              seed: Optional[int] = None) -> SearchResult:
    return best_of_n_batch([problem], policy, scorer, n, aggregate=aggregate, seeds=[seed])[0]


def best_of_n_batch(problems: Sequence[Problem], policy: StepPolicy, scorer: Any, n: int, *, aggregate: str = "min",
                    seeds: Optional[Sequence[Optional[int]]] = None) -> list[SearchResult]:
    """``best_of_n`` of each problem (``seeds[i]`` for ``problems[i]``), their samples drawn in one ``generate``
    call where the generator takes a seed per prompt (``StepPolicy.solve``): the same candidates and scores as one
    search per problem, in less time when N is small. Each problem's ``compute.seconds`` is its share of the shared
    call plus its own scoring."""
    seeds = list(seeds) if seeds is not None else [None] * len(problems)
    if len(seeds) != len(problems):
        raise ValueError(f"seeds: {len(seeds)} for {len(problems)} problems; give one per problem")
    computes = [Compute() for _ in problems]
    solved, sampling = policy.solve(problems, n, computes, seeds)
    results = []
    for problem, candidates, compute, seconds in zip(problems, solved, computes, sampling):
        compute.restart(seconds)
        if len({c.steps for c in candidates}) > 1:  # one solution, however often sampled, is picked without a PRM
            candidates = score_nodes(scorer, problem, candidates, compute, final=True)
        results.append(_result(problem, scorer, candidates, compute, aggregate, policy.answer_style))
    return results


def early_rejection(problem: Problem, policy: StepPolicy, scorer: Any, n: int, *, reject_after: int = 2,
                    keep: float = 0.5, aggregate: str = "min", seed: Optional[int] = None) -> SearchResult:
    compute = Compute()
    nodes = [Node()] * n
    for depth in range(reject_after):  # all n candidates, one step at a time, in one call per step
        open_ = [i for i, node in enumerate(nodes) if not node.done]
        for i, children in zip(open_, policy.expand(problem, [nodes[i] for i in open_], 1, compute,
                                                    None if seed is None else seed + depth)):
            nodes[i] = children[0]
    nodes = score_nodes(scorer, problem, nodes, compute)
    kept = [nodes[i] for i in sorted(select_topk([x.value(aggregate) for x in nodes], max(1, round(keep * n))))]
    unfinished = [node for node in kept if not node.done]
    completed = iter(policy.complete(problem, unfinished, 1, compute, None if seed is None else seed + reject_after))
    finished = [node if node.done else next(completed)[0] for node in kept]
    scored = score_nodes(scorer, problem, finished, compute)
    return _result(problem, scorer, scored, compute, aggregate, policy.answer_style)


def _tree_search(problem: Problem, policy: StepPolicy, scorer: Any, n: int, beam_width: int, aggregate: str,
                 seed: Optional[int], subtrees: int) -> SearchResult:
    """``subtrees`` independent beam groups (DVTS: ``n // beam_width``, each keeping one beam). Each step expands
    every active beam ``beam_width`` ways and keeps the best ``n // beam_width`` of each
    group's children (by the PRM score of the newest step, ``aggregate="last"``, or the aggregate so far)."""
    compute = Compute()
    beam_width = min(beam_width, n)  # N below the width: N children of one beam
    keep = max(1, n // beam_width) // subtrees or 1
    groups = [[Node()] * keep for _ in range(subtrees)]
    finished: list[Node] = []
    for depth in range(policy.max_steps):
        active = [(g, node) for g, beams in enumerate(groups) for node in beams]
        if not active:
            break
        children = policy.expand(problem, [node for _, node in active], beam_width, compute,
                                 None if seed is None else seed + depth)
        flat = [(g, child) for (g, _), kids in zip(active, children) for child in kids]
        scored = score_nodes(scorer, problem, [c for _, c in flat], compute)
        groups = [[] for _ in range(subtrees)]
        for g in range(subtrees):
            mine = [c for (h, _), c in zip(flat, scored) if h == g]
            for i in select_topk([c.value(aggregate) for c in mine], keep):
                (finished if mine[i].done else groups[g]).append(mine[i])
    finished += [node for beams in groups for node in beams]  # out of steps
    return _result(problem, scorer, finished, compute, aggregate, policy.answer_style)


def beam_search(problem: Problem, policy: StepPolicy, scorer: Any, n: int, *, beam_width: int = 4,
                aggregate: str = "last", seed: Optional[int] = None) -> SearchResult:
    compute = Compute()
    beam_width = min(beam_width, n)
    keep = max(1, n // beam_width)
    beams, finished = [Node()], []
    for depth in range(policy.max_steps):
        if not beams or len(finished) >= n:
            break
        counts = [n // len(beams) + (i < n % len(beams)) for i in range(len(beams))]  # refill: n children in all
        children = policy.expand_counts(problem, beams, counts, compute, None if seed is None else seed + depth)
        scored = score_nodes(scorer, problem, [c for kids in children for c in kids], compute)
        finished += [c for c in scored if c.done]
        open_ = [c for c in scored if not c.done]
        beams = [open_[i] for i in select_topk([c.value(aggregate) for c in open_], keep)]
    if len(finished) < n:  # out of steps: the surviving beams count as they are
        finished += beams
    finished = [finished[i] for i in sorted(select_topk([c.value(aggregate) for c in finished], n))]
    return _result(problem, scorer, finished, compute, aggregate, policy.answer_style)


def dvts(problem: Problem, policy: StepPolicy, scorer: Any, n: int, *, beam_width: int = 4,
         aggregate: str = "last", seed: Optional[int] = None) -> SearchResult:
    return _tree_search(problem, policy, scorer, n, beam_width, aggregate, seed,
                        subtrees=max(1, n // min(beam_width, n)))


@dataclass
class _Tree:
    node: Node
    parent: Optional["_Tree"] = None
    children: list["_Tree"] = field(default_factory=list)
    visits: int = 0
    total: float = 0.0

    def uct(self, c: float) -> float:
        if self.visits == 0:
            return math.inf
        return self.total / self.visits + c * math.sqrt(math.log(self.parent.visits) / self.visits)


def mcts(problem: Problem, policy: StepPolicy, scorer: Any, n: int, *, beam_width: int = 4, c: float = 1.0,
         aggregate: str = "min", seed: Optional[int] = None) -> SearchResult:
    """``n`` simulations: select a leaf by UCT, expand it ``beam_width`` ways, value each child by its PRM
    score (aggregated over its steps), back the values up. Every finished node reached is a candidate."""
    compute = Compute()
    root = _Tree(Node())
    finished: list[Node] = []
    for sim in range(n):
        leaf = root
        while leaf.children:
            open_children = [t for t in leaf.children if not (t.node.done and t.visits)]
            if not open_children:
                break
            leaf = max(open_children, key=lambda t: t.uct(c))
        if leaf.node.done:  # every path below is finished: revisit it
            value = leaf.node.value(aggregate) or 0.0
            trees = [leaf]
        else:
            kids = policy.expand(problem, [leaf.node], beam_width, compute, None if seed is None else seed + sim)[0]
            kids = score_nodes(scorer, problem, kids, compute)
            leaf.children = [_Tree(k, leaf) for k in kids]
            finished += [k for k in kids if k.done]
            trees = leaf.children
        for tree in trees:
            value = tree.node.value(aggregate) or 0.0
            t: Optional[_Tree] = tree
            while t is not None:
                t.visits += 1
                t.total += value
                t = t.parent
    if not finished:  # no path ended: finish the most visited one
        t = root
        while t.children:
            t = max(t.children, key=lambda x: x.visits)
        finished = score_nodes(scorer, problem, policy.complete(problem, [t.node], 1, compute, seed)[0], compute)
    return _result(problem, scorer, finished, compute, aggregate, policy.answer_style)
