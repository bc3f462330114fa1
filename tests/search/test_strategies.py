"""Search strategies on a scripted policy and scorer, where the right choice is known by construction.

The policy writes steps ``d<depth>:<k>`` (k = sample index) and, at depth 3, ``The answer is <sum of ks>.``;
the scorer gives step ``d:k`` the score ``k / 10``, so the best path always takes the highest k.
"""

import re

import pytest

from prmkit.search.particles import effective_sample_size, multinomial, particle_filtering, particle_gibbs, systematic
from prmkit.search.primitives import SELF_CERTAINTY, Compute, Node, StepPolicy, score_nodes, select_topk
from prmkit.search.strategies import beam_search, best_of_n, best_of_n_batch, dvts, early_rejection, mcts
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


def test_best_of_n_batch_samples_every_problem_in_one_call_and_equals_one_search_each():
    class PerPromptSeeds(ScriptedGenerator):
        seeds_per_prompt = True

        def generate(self, prompts, *, seed=None, **kwargs):
            self.seeds = seed
            return super().generate(prompts, **kwargs)

    problems = [PROBLEM, Problem("q", "Other?", "3"), Problem("r", "Third?", "0")]
    for generator, calls in ((PerPromptSeeds(), 1), (ScriptedGenerator(), 3)):  # without seeds_per_prompt: 1 each
        policy = StepPolicy(generator, template="{question}\n", max_steps=8)
        many = best_of_n_batch(problems, policy, ScriptedScorer(), 4, seeds=[1, 2, 3])
        assert len(generator.calls) == calls
        for problem, seed, got in zip(problems, [1, 2, 3], many):
            alone = best_of_n(problem, policy, ScriptedScorer(), 4, seed=seed)
            assert got.candidates == alone.candidates and got.answers == alone.answers
            assert got.compute.generate_calls == 1 and got.compute.prm_tokens == alone.compute.prm_tokens == 16
            assert got.compute.generated_tokens == alone.compute.generated_tokens > 0
    shared = PerPromptSeeds()
    best_of_n_batch(problems, StepPolicy(shared, max_steps=8), ScriptedScorer(), 2, seeds=[1, 2, 3])
    assert shared.seeds == [1, 2, 3]


def test_beam_search_keeps_the_best_children(policy):
    r = beam_search(PROBLEM, policy, ScriptedScorer(), 4, beam_width=2)
    # N=4, width 2: 4 children of the root, then the best 2 beams are each extended 2 ways (best child: k=1)
    assert {c.steps[:3] for c in r.candidates} == {("d0:3", "d1:1", "d2:1"), ("d0:2", "d1:1", "d2:1")}
    assert r.pick("prm") == "5"
    assert policy.generator.calls[:2] == [(1, 4, ["\n"]), (2, 2, ["\n"])]  # one step at a time


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


@pytest.mark.parametrize("search", [best_of_n, early_rejection, beam_search, dvts, mcts, particle_filtering, particle_gibbs])
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


# ----------------------------------------------------------------------------- beam refill, particles, self-certainty



class EarlyAnswers(ScriptedGenerator):
    """Sample 0 of every step states the answer at once; the others write ``d<depth>:<k>`` (to depth 3)."""

    def generate(self, prompts, *, n=1, stop=None, max_tokens=256, temperature=1.0, seed=None):
        self.calls.append((len(prompts), n, stop))
        return [[f"The answer is {len(p.split(chr(10))) - 2}." if k == 0 or len(p.split("\n")) > 4
                 else f"d{len(p.split(chr(10))) - 2}:{k}" for k in range(n)] for p in prompts]


def test_beam_refill_writes_n_children_every_step_until_n_have_finished():
    policy = StepPolicy(EarlyAnswers(), max_steps=8)
    r = beam_search(PROBLEM, policy, ScriptedScorer(), 4, beam_width=2)
    written = [rows * n for rows, n, _ in policy.generator.calls]
    # each step: 4 children of the surviving beams (1 or 2 of them finish); refilled until 4 have finished
    assert written == [4, 4, 4] and len(r.candidates) == 4 and all(c.done for c in r.candidates)
    assert sorted(c.steps[-1] for c in r.candidates)[0] == "The answer is 0."  # set aside at the first step


def test_systematic_resampling_keeps_each_index_floor_or_ceil_of_its_share():
    import random

    rng = random.Random(3)
    for _ in range(20):
        w = [rng.random() ** 3 for _ in range(7)]
        w = [x / sum(w) for x in w]
        picks = systematic(w, 16, rng)
        assert all(int(16 * x) <= picks.count(i) <= int(16 * x) + 1 for i, x in enumerate(w))
    assert sorted(multinomial([0.0, 1.0, 0.0], 5, rng)) == [1] * 5
    assert effective_sample_size([0.5, 0.5]) == 2.0 and effective_sample_size([0.9, 0.1]) == pytest.approx(1 / 0.82)


def test_particle_filtering_resamples_towards_high_scores_and_shares_parents(policy):
    never = particle_filtering(PROBLEM, StepPolicy(ScriptedGenerator(), max_steps=8), ScriptedScorer(), 8,
                               ess_threshold=0.0, seed=1)
    assert sorted(c.steps[0] for c in never.candidates) == [f"d0:{k}" for k in range(8)]  # 8 independent paths
    r = particle_filtering(PROBLEM, policy, ScriptedScorer(), 8, ess_threshold=1.0, seed=1)
    first = [int(c.steps[0].split(":")[1]) for c in r.candidates]
    assert len(first) == 8 and min(first) >= 4 and sum(first) / 8 > 5  # score k/10: resampled onto high k
    # after the first step, particles that are one node are sampled together: n > 1 per prompt
    assert any(n > 1 for _, n, _ in policy.generator.calls[1:])
    assert all(c.done for c in r.candidates) and r.pick("prm") is not None


def test_particle_gibbs_replays_its_reference_particle(policy):
    r = particle_gibbs(PROBLEM, policy, ScriptedScorer(), 8, iterations=2, ess_threshold=1.0, seed=2)
    assert len(r.candidates) == 8
    first, second = r.candidates[:4], r.candidates[4:]
    assert second[0].steps in [c.steps for c in first]  # the reference, drawn from the first filter, kept whole


class CertainGenerator(ScriptedGenerator):
    """``complete`` with token log-probs: every character is a token, of log-prob -0.1 * k for sample k."""

    def complete(self, prompts, *, n=1, stop=None, max_tokens=256, temperature=1.0, seed=None, top_logprobs=0,
                 logprobs=False):
        from prmkit.backends.protocols import Completion

        texts = self.generate(prompts, n=n, stop=stop, max_tokens=max_tokens, temperature=temperature, seed=seed)
        return [[Completion(t, logprobs=tuple(-0.1 * k for _ in t), offsets=tuple(range(len(t))))
                 for k, t in enumerate(group)] for group in texts]


def test_self_certainty_weights_need_no_prm():
    import math

    policy = StepPolicy(CertainGenerator(), max_steps=8, logprobs=True)
    r = best_of_n(PROBLEM, policy, SELF_CERTAINTY, 4)
    assert [round(c.certainty(), 6) for c in r.candidates] == [round(math.exp(-0.1 * k), 6) for k in range(4)]
    assert r.pick("self-certainty") == "0" and r.pick("prm") == "0" and r.compute.prm_tokens == 0
    lengths = [len(s) + 1 for s in r.candidates[2].steps]  # a step owns its characters and its separator
    assert list(r.candidates[2].logprob_tokens[:-1]) == lengths[:-1]
    pf = particle_filtering(PROBLEM, StepPolicy(CertainGenerator(), max_steps=8, logprobs=True), SELF_CERTAINTY, 4,
                            ess_threshold=1.0, seed=0)
    assert all(c.scores == tuple(c.certainty(k) for k in range(len(c.steps))) for c in pf.candidates)
    with pytest.raises(ValueError, match="log-probabilities"):
        best_of_n(PROBLEM, StepPolicy(ScriptedGenerator()), SELF_CERTAINTY, 2)


def test_duplicates_are_scored_once_and_one_solution_is_not_scored_at_all():
    scorer, compute = ScriptedScorer(), Compute()
    out = score_nodes(scorer, PROBLEM, [Node(("d0:1", "d1:2"))] * 3 + [Node(("d0:3",))], compute)
    assert [n.scores for n in out] == [(0.1, 0.2)] * 3 + [(0.3,)] and scorer.report["tokens"] == 3

    class Same(ScriptedGenerator):
        def generate(self, prompts, **kw):
            return [[row[0]] * len(row) for row in super().generate(prompts, **kw)]

    r = best_of_n(PROBLEM, StepPolicy(Same(), max_steps=8), ScriptedScorer(), 4)
    assert r.compute.score_calls == 0 and all(c.scores == () for c in r.candidates)
    assert {r.pick(p) for p in ("prm", "weighted", "majority")} == {"0"}
