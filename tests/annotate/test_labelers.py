"""Monte-Carlo, binary search, judge parsing and consensus: the logic, on world solutions with exact labels.

The generator here is an oracle written for the test (a rollout succeeds exactly when its prefix is
on the gold path), so every label and every rollout count is known in advance; the same labelers on
the real bundled policy are exercised in test_pipeline.py.
"""

import math

import pytest

from prmkit.annotate.consensus import consensus, first_error_verdict
from prmkit.annotate.judge import PROMPTS, judge_labels, labels_from_verdict, parse_verdict, render, vote
from prmkit.annotate.rollouts import RolloutEngine, binary_search, monte_carlo
from prmkit.types import Example, Solution, StepLabels
from prmkit.world import check, generate, gold_steps, inject_error
from prmkit.world.problems import WorldConfig


class OracleGenerator:
    """Continues a world prefix with the gold steps if the prefix is right, else with a wrong answer."""

    def __init__(self, problems):
        self.by_text = {p.text: p for p in problems}
        self.calls, self.rows = 0, 0

    def generate(self, prompts, *, n=1, stop=None, max_tokens=256, temperature=1.0, seed=None):
        self.calls += 1
        self.rows += len(prompts) * n
        out = []
        for prompt in prompts:
            question, *steps = prompt.rstrip("\n").split("\n")
            p = self.by_text[question]
            ok = check(p, steps).first_error is None
            rest = "\n".join(gold_steps(p)[len(steps):]) if ok else "The answer is -1."
            out.append([rest] * n)
        return out


def _examples(n=12, seed=3):
    problems = generate(n, WorldConfig(min_steps=3, max_steps=7), seed=seed)
    examples = []
    for i, p in enumerate(problems):
        steps = gold_steps(p) if i % 3 == 0 else inject_error(p, "arithmetic", i % len(p.events))
        r = check(p, steps)
        examples.append(Example(p.to_problem(), Solution(r.steps), r.labels, correct=r.final_correct))
    return problems, examples


def _engine(problems):
    return RolloutEngine(OracleGenerator(problems), {})


def test_monte_carlo_soft_labels_match_the_oracle_and_count_every_rollout():
    problems, examples = _examples()
    engine = _engine(problems)
    results = monte_carlo(examples, engine, k=4)
    for ex, r in zip(examples, results):
        assert r["kind"] == "soft"
        assert r["labels"] == list(ex.labels.values)  # success 4/4 on the gold path, 0/4 off it
        assert r["rollouts"] == 4 * (len(ex.solution.steps) - 1)  # the last step needs none
    # one generate call per round: all prefixes of the chunk are batched together
    assert engine.generator.calls == 1
    assert engine.generator.rows == sum(r["rollouts"] for r in results)


def test_early_stopped_monte_carlo_spends_one_round_on_good_prefixes_and_nothing_after_an_error():
    problems, examples = _examples()
    results = monte_carlo(examples, _engine(problems), k=8, early_stop=True, round_size=2)
    for ex, r in zip(examples, results):
        assert r["kind"] == "hard" and r["labels"] == list(ex.labels.values)
        fe = ex.labels.first_error
        good = (fe if fe is not None else len(ex.solution.steps) - 1)
        wrong_prefix = 8 if fe is not None and fe < len(ex.solution.steps) - 1 else 0
        assert r["rollouts"] == 2 * good + wrong_prefix


def test_binary_search_finds_the_first_error_in_log_n_probes():
    problems, examples = _examples(30)
    results = binary_search(examples, _engine(problems), probe_size=4, round_size=4)
    for ex, r in zip(examples, results):
        n, fe = len(ex.solution.steps), ex.labels.first_error
        assert r["info"]["first_error"] == (None if ex.correct else fe)
        if ex.correct:
            assert r["labels"] == [1.0] * n and r["rollouts"] == 0 and r["info"]["tree"] == []
        else:
            assert r["labels"] == list(StepLabels.from_first_error(n, fe).values)
            assert len(r["info"]["tree"]) <= math.ceil(math.log2(n))
            assert r["rollouts"] == 4 * len(r["info"]["tree"])


def test_binary_search_stopped_by_max_probes_leaves_the_open_interval_unlabelled():
    problems, examples = _examples(30)
    wrong = [(ex, len(ex.solution.steps)) for ex in examples if not ex.correct and len(ex.solution.steps) >= 6]
    results = binary_search([ex for ex, _ in wrong], _engine(problems), probe_size=2, max_probes=1)
    for (ex, n), r in zip(wrong, results):
        assert len(r["info"]["tree"]) == 1 and r["info"]["stopped_by_max_probes"]
        assert None in r["labels"] and r["info"]["first_error"] is None
        labelled = [(i, v) for i, v in enumerate(r["labels"]) if v is not None]
        assert all(v == ex.labels.values[i] or (v == 0.0 and i > ex.labels.first_error) for i, v in labelled)


def test_the_rollout_cache_is_shared_across_methods_and_solutions():
    problems, examples = _examples()
    engine = _engine(problems)
    monte_carlo(examples, engine, k=4)
    calls = engine.generator.calls
    again = binary_search(examples, engine, probe_size=4, round_size=4)
    assert engine.generator.calls == calls  # every probe was an MC prefix already rolled out
    assert sum(r["rollouts"] for r in again) > 0  # used rollouts are still counted as the method's cost
    new, touched = engine.take_new()
    assert len(new) == sum(len(ex.solution.steps) - 1 for ex in examples)
    assert touched == set(new)  # every prefix was looked up, by both methods
    assert engine.take_new() == ({}, set())


def test_labelers_refuse_solutions_without_a_reference_answer():
    problems, examples = _examples(2)
    bare = [Example(type(e.problem)(e.problem.id, e.problem.question), e.solution) for e in examples]
    with pytest.raises(ValueError, match="no reference answer"):
        monte_carlo(bare, _engine(problems))


def test_processbench_prompt_and_verdict_parsing():
    text = render(PROMPTS["processbench"], "What is 2+2?", ["2+2=5", "So 5."])
    assert "<paragraph_0>\n2+2=5\n</paragraph_0>" in text and text.endswith("in \\boxed{}.")
    p = PROMPTS["processbench"]
    assert parse_verdict(p, "Paragraph 1 says \\boxed{0} first... final: \\boxed{ 1 }", 2) == 1
    assert parse_verdict(p, "\\boxed{-1}", 2) == -1
    assert parse_verdict(p, "\\boxed{2}", 2) is None  # outside the solution: unparseable, not clamped
    assert parse_verdict(p, "no verdict", 2) is None
    assert vote([1, 1, 0, None]) == 1 and vote([1, 0]) == 0 and vote([-1, -1, 2]) == -1 and vote([None]) is None
    assert labels_from_verdict(3, 1).values == (1.0, 0.0, None)
    assert labels_from_verdict(3, None).values == (None, None, None)


class CritiqueGenerator:
    """Returns fixed critiques per call, to test voting and unparseable counting."""

    def __init__(self, critiques):
        self.critiques = critiques

    def generate(self, prompts, *, n=1, **kwargs):
        return [self.critiques[:n] for _ in prompts]


def test_judge_majority_vote_counts_unparseable_critiques():
    _, examples = _examples(2)
    gen = CritiqueGenerator(["... \\boxed{1}", "I am not sure", "\\boxed{1}", "\\boxed{0}"])
    r = judge_labels(examples, gen, n=4)[0]
    assert r["info"] == {"verdict": 1, "verdicts": [1, None, 1, 0], "unparseable": 1}
    n = len(examples[0].solution.steps)
    assert r["labels"] == [1.0, 0.0] + [None] * (n - 2)
    none = judge_labels(examples, CritiqueGenerator(["??"]), n=1)[0]
    assert none["labels"] == [None] * n and none["info"]["unparseable"] == 1


def test_consensus_keeps_agreeing_solutions_or_steps():
    mc = [StepLabels((1, 0, 0)), StepLabels((1, 1, 0)), StepLabels((1, 1)), None]
    judge = [StepLabels((1, 0, None)), StepLabels((0, None, None)), StepLabels((1, 1)), StepLabels((1, 0))]
    kept = consensus(mc, judge)
    assert [None if k is None else k.values for k in kept] == [(1.0, 0.0, 0.0), None, (1.0, 1.0), None]
    steps = consensus(mc, judge, level="step")
    assert [None if k is None else k.values for k in steps] == [(1.0, 0.0, None), None, (1.0, 1.0), None]
    soft = [StepLabels((0.25, 0.0), "soft")]  # MC's "any success" reading: threshold just above 0
    assert consensus(soft, [StepLabels((1, 0))], thresholds=(0.1, 0.5))[0] is not None
    assert consensus(soft, [StepLabels((1, 0))])[0] is None
    assert first_error_verdict(StepLabels((None, None))) is None
    with pytest.raises(ValueError, match="level"):
        consensus(mc, judge, level="token")


def test_verifier_labels_are_the_scorers_step_scores_and_unscored_steps_stay_unlabelled():
    from prmkit.annotate.verifier import verifier_labels
    from prmkit.backends.fake import FakeScorer
    from prmkit.types import StepScores

    _, examples = _examples()
    scorer = FakeScorer()
    got = verifier_labels(examples, scorer, seed=3)
    assert scorer.seed == 3  # a scorer that samples is seeded per chunk
    want = scorer.score([ex.problem for ex in examples], [ex.solution for ex in examples])
    assert [r["labels"] for r in got] == [list(s.values) for s in want]
    assert all(r["kind"] == "soft" and r["info"]["unscored"] == 0 and r["tokens"] == 0 for r in got)

    class Gaps:  # a verifier whose chain broke off after the first step
        def score(self, problems, solutions):
            return [StepScores((0.9,) + (None,) * (len(s.steps) - 1)) for s in solutions]

    gaps = verifier_labels(examples, Gaps())
    assert [r["labels"] for r in gaps] == [[0.9] + [None] * (len(ex.solution.steps) - 1) for ex in examples]
    assert [r["info"]["unscored"] for r in gaps] == [len(ex.solution.steps) - 1 for ex in examples]
