"""Search strategies on a scripted policy and scorer, where the right choice is known by construction.

The policy writes steps ``d<depth>:<k>`` (k = sample index) and, at depth 3, ``The answer is <sum of ks>.``;
the scorer gives step ``d:k`` the score ``k / 10``, so the best path always takes the highest k.
"""

import re

import pytest

from prmkit.search.primitives import Compute, Node, StepPolicy, score_nodes, select_topk
from prmkit.search.strategies import beam_search, best_of_n, dvts, early_rejection, mcts
from prmkit.types import Problem, StepScores


class ScriptedGenerator:
    def __init__(self):
        self.calls = []

    def generate(self, prompts, *, n=1, stop=None, max_tokens=256, temperature=1.0, seed=None):
        self.calls.append((len(prompts), n, stop))
        out = []
        for p in prompts:
            steps = [s for s in p.split("\n")[1:] if s]
            outs = []
            for k in range(n):
                ks = [int(s.split(":")[1]) for s in steps] + [k]
                text = f"d{len(steps)}:{k}" if len(steps) < 3 else f"The answer is {sum(ks[:-1])}."
                if stop is None:  # complete: the rest of the solution, k-th sample at every step
                    rest = [f"d{d}:{k}" for d in range(len(steps), 3)]
                    text = "\n".join(rest + [f"The answer is {sum(ks[:-1]) + k * len(rest)}."])
                outs.append(text)
            out.append(outs)
        return out


class ScriptedScorer:
    def __init__(self):
        self.report = {"tokens": 0}

    def score(self, problems, solutions):
        out = []
        for s in solutions:
            self.report["tokens"] += len(s.steps)
            vals = []
            for step in s.steps:
                m = re.match(r"d\d+:(\d+)", step)
                vals.append(int(m.group(1)) / 10 if m else 0.5)
            out.append(StepScores(tuple(vals)))
        return out


PROBLEM = Problem("p", "Q?", "6")


@pytest.fixture
def policy():
    return StepPolicy(ScriptedGenerator(), template="{question}\n", max_steps=8)


def test_select_topk_ranks_none_last_and_breaks_ties_early():
    assert select_topk([None, 0.1, 0.1, 0.7], 4) == [3, 1, 2, 0]
    assert select_topk([0.3], 0) == []


def test_best_of_n_scores_every_candidate_once(policy):
    r = best_of_n(PROBLEM, policy, ScriptedScorer(), 4)
    assert [c.steps[-1] for c in r.candidates] == [f"The answer is {3 * k}." for k in range(4)]
    assert r.pick("prm") == "9" and r.pick("majority") == "0"  # highest min score: k=3 everywhere
    assert r.compute.generate_calls == 1 and r.compute.score_calls == 1 and r.compute.prm_tokens == 16


def test_beam_search_keeps_the_best_children(policy):
    r = beam_search(PROBLEM, policy, ScriptedScorer(), 4, beam_width=2)
    # N=4, width 2: 2 beams, each extended 2 ways; the best child of each step is k=1
    assert all(c.steps[:3] == ("d0:1", "d1:1", "d2:1") for c in r.candidates)
    assert r.pick("prm") == "3"
    assert policy.generator.calls[0] == (2, 2, ["\n"])  # 2 beams x 2 children, one step at a time


def test_dvts_subtrees_are_independent(policy):
    r = dvts(PROBLEM, policy, ScriptedScorer(), 8, beam_width=2)
    # 4 subtrees of width 2: each keeps its own best child, so all take k=1, one candidate per subtree
    assert len(r.candidates) == 4 and all(c.steps[:3] == ("d0:1", "d1:1", "d2:1") for c in r.candidates)


def test_early_rejection_completes_only_the_survivors(policy):
    full = best_of_n(PROBLEM, policy, ScriptedScorer(), 4)
    gen = StepPolicy(ScriptedGenerator(), max_steps=8)
    r = early_rejection(PROBLEM, gen, ScriptedScorer(), 4, reject_after=1, keep=0.5)
    assert len(r.candidates) == 2  # the two best after one step (all k=0 at depth 0: the first two)
    assert r.compute.generated_tokens < full.compute.generated_tokens


def test_mcts_follows_the_highest_values(policy):
    r = mcts(PROBLEM, policy, ScriptedScorer(), 12, beam_width=3, c=0.05)  # values differ by 0.1: exploit
    best = max(r.candidates, key=lambda c: c.value("min"))
    assert best.steps[:3] == ("d0:2", "d1:2", "d2:2") and r.pick("prm") == "6"


class ReleasingScorer(ScriptedScorer):
    """A scorer with the optional ``release`` hook, logging the calls it gets."""

    def __init__(self):
        super().__init__()
        self.calls = []

    def score(self, problems, solutions):
        self.calls.append("score")
        return super().score(problems, solutions)

    def release(self, problem):
        self.calls.append(("release", problem.id))


@pytest.mark.parametrize("search", [best_of_n, early_rejection, beam_search, dvts, mcts])
def test_every_strategy_releases_the_problem_once_its_search_ends(search, policy):
    scorer = ReleasingScorer()
    search(PROBLEM, policy, scorer, 4)
    assert scorer.calls[-1] == ("release", "p") and scorer.calls.count(("release", "p")) == 1
    assert "score" in scorer.calls  # (scorers without the hook: every other test here)


def test_score_nodes_only_asks_for_unscored_nodes():
    scorer, compute = ScriptedScorer(), Compute()
    nodes = [Node(("d0:1",), (0.1,)), Node(("d0:2",))]
    out = score_nodes(scorer, PROBLEM, nodes, compute)
    assert out[0] is nodes[0] and out[1].scores == (0.2,) and compute.score_calls == 1


def test_votes_count_equal_answers_together():
    from prmkit.search.strategies import SearchResult

    nodes = [Node(("a",), (0.9,)), Node(("b",), (0.2,)), Node(("c",), (0.3,))]
    r = SearchResult(nodes, Compute(), "min", ["7", "3.0", "3"])
    assert r.pick("majority") == "3.0" and r.pick("prm") == "7"
    assert r.pick("weighted") == "7"  # 0.9 against 0.2 + 0.3
