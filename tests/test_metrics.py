"""Benchmark metrics against hand-computed numbers (ProcessBench, PRMBench, Best-of-N, pairwise)."""

import math
import random

import pytest

from prmkit.metrics import (
    best_of_n, best_threshold, bootstrap_ci, candidate_score, cluster_answers, harmonic_f1, pairwise_accuracy,
    pass_at_k, predicted_first_error, prmbench_report, prmbench_sample, processbench_f1, processbench_report,
    threshold_candidates, threshold_sweep,
)
from prmkit.metrics import label_quality, prmbench_summary


# --- ProcessBench -------------------------------------------------------------------------------------------

def test_predicted_first_error_rules():
    assert predicted_first_error([0.2, 0.9]) == 0  # error at step 0
    assert predicted_first_error([0.9, 0.8, 0.7]) == -1  # all correct
    assert predicted_first_error([0.9, 0.5, 0.49]) == 2  # 0.5 is not below 0.5
    assert predicted_first_error([None, 0.1]) == 1  # unscored steps are skipped
    assert predicted_first_error([None, None]) == -1
    assert predicted_first_error([0.6, 0.7], threshold=0.65) == 0


def test_processbench_f1_by_hand():
    # gold: two error samples (at 0 and 2), three correct samples
    gold = [0, 2, -1, -1, -1]
    pred = [0, 1, -1, -1, 3]
    r = processbench_f1(pred, gold)
    assert (r["error_acc"], r["correct_acc"], r["n_error"], r["n_correct"]) == (0.5, 2 / 3, 2, 3)
    assert math.isclose(r["f1"], 2 * 0.5 * (2 / 3) / (0.5 + 2 / 3))
    assert harmonic_f1(0.0, 0.0) == 0.0 and harmonic_f1(1.0, 0.0) == 0.0


def test_processbench_all_correct_and_error_at_step_0():
    all_correct = processbench_report({"s": ([[0.9, 0.8], [0.7, 0.2]], [-1, -1])})["subsets"]["s"]
    assert all_correct["correct_acc"] == 0.5 and all_correct["error_acc"] is None and all_correct["f1"] is None
    step0 = processbench_report({"s": ([[0.1, 0.9], [0.6, 0.1], [0.9]], [0, 0, -1])})
    assert step0["subsets"]["s"]["error_acc"] == 0.5  # the second one is flagged at step 1, not 0
    assert step0["subsets"]["s"]["correct_acc"] == 1.0
    assert math.isclose(step0["average_f1"], 2 / 3)


def test_average_f1_is_the_mean_of_subset_f1s():
    r = processbench_report({"a": ([[0.1], [0.9]], [0, -1]), "b": ([[0.9], [0.9]], [0, -1])})
    assert r["subsets"]["a"]["f1"] == 1.0 and r["subsets"]["b"]["f1"] == 0.0 and r["average_f1"] == 0.5


def _random_split(rng, n):
    scores, gold = [], []
    for _ in range(n):
        k = rng.randint(1, 6)
        scores.append([None if rng.random() < 0.1 else round(rng.random(), 2) for _ in range(k)])
        gold.append(rng.randrange(-1, k))
    return scores, gold


def test_threshold_sweep_is_exact():
    rng = random.Random(1)
    splits = {"a": _random_split(rng, 60), "b": _random_split(rng, 40)}
    sweep = threshold_sweep(splits)
    assert [t for t, _ in sweep] == threshold_candidates(s for sc, _ in splits.values() for s in sc)
    for t, f in sweep:  # the sweep agrees with scoring at each candidate directly
        assert f == pytest.approx(processbench_report(splits, t)["average_f1"], abs=1e-12)
    best_t, best_f = best_threshold(splits)
    grid = [i / 1000 for i in range(-10, 1011)]
    assert max(processbench_report(splits, t)["average_f1"] for t in grid) <= best_f + 1e-12
    assert processbench_report(splits, best_t)["average_f1"] == pytest.approx(best_f)


def test_threshold_candidates_cover_every_interval():
    assert threshold_candidates([[0.25, None], [0.75, 0.25]]) == [0.25, 0.5, math.nextafter(0.75, math.inf)]
    assert threshold_candidates([[None]]) == [0.5]
    a = 0.3
    b = math.nextafter(a, 1.0)  # no float strictly between: use b itself
    assert threshold_candidates([[a, b]])[1] == b


def test_calibrated_threshold_differs_from_fixed():
    # errors score 0.6, correct steps 0.8: nothing is below 0.5, so the fixed threshold finds no error
    cal = ([[0.8, 0.6], [0.6], [0.8, 0.8]], [1, 0, -1])
    assert processbench_report({"cal": cal}, 0.5)["average_f1"] == 0.0
    t, f1 = best_threshold({"cal": cal})
    assert t == 0.7 and f1 == 1.0
    # ties prefer the candidate nearest 0.5: every threshold in (0.2, 0.9] is perfect here
    assert best_threshold({"s": ([[0.2], [0.9]], [0, -1])}, prefer=0.5) == (0.55, 1.0)


# --- PRMBench -----------------------------------------------------------------------------------------------

SAMPLES = [
    ("circular", [1], [0.9, 0.3, 0.6]),  # TP, TN, TP; first error found
    ("circular", [0, 2], [0.7, 0.5, None]),  # FP, FN (0.5 is not > 0.5), unscored; first error missed
    ("correct", [], [0.4, 0.9]),  # FN, TP: its own row only
    ("confidence", [5], [0.2]),  # FN; the error index is past the end, ignored
]


def test_prmbench_sample_counts():
    c = prmbench_sample([0, 2], [0.7, 0.5, None])
    assert (c["TP"], c["FP"], c["TN"], c["FN"], c["first_error_hits"], c["first_error_total"]) == (0, 1, 0, 1, 0, 1)
    c = prmbench_sample([5], [0.2])
    assert (c["FN"], c["first_error_total"]) == (1, 0)
    assert prmbench_sample([0], [0.5], threshold=0.4)["FP"] == 1


def test_prmbench_report_by_hand():
    r = prmbench_report(SAMPLES)
    o = r["overall"]
    assert (o["TP"], o["FP"], o["TN"], o["FN"], o["samples"], o["steps"]) == (2, 1, 1, 2, 3, 6)
    assert o["precision"] == 2 / 3 and o["recall"] == 0.5 and o["f1"] == pytest.approx(4 / 7)
    assert o["negative_precision"] == 1 / 3 and o["negative_recall"] == 0.5 and o["negative_f1"] == pytest.approx(2 / 5)
    assert o["prm_score"] == pytest.approx(17 / 35)
    assert (o["first_error_acc"], o["correct_step_acc"], o["wrong_step_acc"], o["total_step_acc"]) == (0.5, 0.5, 0.5, 0.5)
    assert (r["classes"]["correct"]["TP"], r["classes"]["correct"]["FN"]) == (1, 1)
    conf = r["classes"]["confidence"]
    # only FN: precision and negative recall undefined, the other rates 0, so both F1s are 0 (as upstream)
    assert conf["precision"] is None and conf["negative_precision"] == 0.0 and conf["negative_recall"] is None
    assert conf["f1"] == 0.0 and conf["negative_f1"] == 0.0 and conf["prm_score"] == 0.0


# --- Best-of-N ----------------------------------------------------------------------------------------------

def test_pass_at_k_values():
    assert pass_at_k(5, 2, 2) == pytest.approx(0.7)  # 1 - C(3,2)/C(5,2) = 1 - 3/10
    assert pass_at_k(10, 3, 1) == pytest.approx(0.3)
    assert pass_at_k(4, 1, 4) == 1.0 and pass_at_k(4, 0, 2) == 0.0 and pass_at_k(8, 7, 2) == 1.0
    with pytest.raises(ValueError):
        pass_at_k(4, 5, 1)


def test_cluster_answers_math_equivalence_and_cache():
    assert cluster_answers(["1/2", "0.5", None, "\\frac{1}{2}", "3", "3"]) == [0, 0, None, 0, 4, 4]
    calls = []

    def equal(a, b):
        calls.append((a, b))
        return False

    assert cluster_answers(["x", "y", "x", "y", "y"], equal=equal) == [0, 1, 0, 1, 1]
    assert calls == [("y", "x")]  # identical strings never compared; each distinct pair once


def test_candidate_score_falls_back_to_outcome():
    assert candidate_score([0.9, None, 0.4], 7.0, "min") == 0.4
    assert candidate_score([None, None], 7.0, "min") == 7.0
    assert candidate_score([0.9, 0.5], None, "prod") == pytest.approx(0.45)


# Problem A: answers 3, 4, 4 (only the 4s are right); B: answers 7, 8, 8 (only 7 is right)
SETS = [([False, True, True], [0.9, 0.6, 0.5], [0, 1, 1]),
        ([True, False, False], [0.2, 0.8, None], [0, 1, 1])]


def test_best_of_n_by_hand():
    r = best_of_n(SETS, [1, 2, 3], resamples=50)
    val = {n: {m: r[n][m]["value"] for m in r[n]} for n in r}
    assert val[3] == {"pass": 1.0, "maj": 0.5, "rm": 0.0, "weighted": 0.5}
    # N=1: each candidate alone; B's unscored candidate cannot win a weighted vote
    assert val[1] == pytest.approx({"pass": 0.5, "maj": 0.5, "rm": 0.5, "weighted": 0.5})
    # N=2: all three pairs (C(3,2) <= K); a 1-1 vote goes to the first cluster seen
    assert val[2] == pytest.approx({"pass": 5 / 6, "maj": 0.5, "rm": 1 / 3, "weighted": 1 / 3})
    lo, hi = r[2]["maj"]["ci"]
    assert 0 <= lo <= val[2]["maj"] <= hi <= 1


def test_best_of_n_random_subsets_are_seeded():
    a = best_of_n(SETS, [2], subsets_per_problem=2, resamples=20, seed=3)
    assert a == best_of_n(SETS, [2], subsets_per_problem=2, resamples=20, seed=3)
    assert a[2]["pass"]["value"] == pytest.approx(5 / 6)  # exact estimator, no sampling
    with pytest.raises(ValueError, match="1..3"):
        best_of_n(SETS, [4])


def test_bootstrap_ci():
    assert bootstrap_ci([0.5] * 10) == (0.5, 0.5)
    lo, hi = bootstrap_ci([0.0] * 50 + [1.0] * 50, resamples=2000, seed=1)
    assert 0.35 < lo < 0.45 and 0.55 < hi < 0.65
    assert bootstrap_ci([0.0, 1.0], seed=7) == bootstrap_ci([0.0, 1.0], seed=7)


# --- pairwise -----------------------------------------------------------------------------------------------

def test_pairwise_ties_and_unscored_count_as_wrong():
    pairs = [([0.9, 0.8], [0.9, 0.1]), ([0.4], [0.4]), ([0.2, 0.9], [0.5]), ([None], [0.5])]
    assert pairwise_accuracy(pairs, "min") == {"accuracy": 0.25, "correct": 1, "ties": 1, "unscored": 1, "pairs": 4}
    assert pairwise_accuracy(pairs, "last")["correct"] == 2  # 0.8 > 0.1 and 0.9 > 0.5
    assert pairwise_accuracy([], "min")["accuracy"] is None


# --- issue 14, part 3: PRMBench's PRMScore as upstream reports it, first-N Best-of-N, tool F1 over all -------

def test_prmbench_prm_score_hand_computed():
    from prmkit.metrics import prmbench_prm_score

    # both F1s defined: 0.5 * 6/8 + 0.5 * 2/4
    assert prmbench_prm_score({"TP": 3, "FP": 1, "TN": 1, "FN": 1}) == 0.625
    # multi_solutions has no wrong steps: the F1 alone, 2*3/(2*3+0+1) = 6/7 (not None, not 0.5 * 6/7)
    assert prmbench_prm_score({"TP": 3, "FN": 1}, "multi_solutions") == pytest.approx(6 / 7)
    # both rates of the positive class 0: upstream F1 = -1, so 0.5*(-1) + 0.5*0.5 < 0, floored at 0
    assert prmbench_prm_score({"TP": 0, "FP": 2, "TN": 2, "FN": 2}) == 0.0
    # everything predicted valid: negative precision undefined, recall 0 -> upstream negative F1 = 0
    assert prmbench_prm_score({"TP": 2, "FP": 2}) == pytest.approx(0.5 * 0.5 * 2 * 1 / 1.5)
    assert prmbench_prm_score({}) is None


def test_prmbench_summary_f1_conventions():
    s = prmbench_summary({"TP": 2, "FP": 2})  # no step predicted invalid
    assert s["negative_precision"] is None and s["negative_recall"] == 0.0 and s["negative_f1"] == 0.0
    assert s["prm_score"] == pytest.approx(0.5 * s["f1"])
    s = prmbench_summary({"TP": 0, "FP": 2, "TN": 2, "FN": 2})
    assert s["f1"] == 0.0 and s["prm_score"] == 0.0  # prmkit's F1 is 0 where upstream's is -1; PRMScore floored
    assert prmbench_summary({"TN": 1})["f1"] is None  # no TP, FP or FN


def test_prmbench_groups_hand_computed():
    from prmkit.metrics import PRMBENCH_GROUPS, prmbench_groups

    assert sum(len(v) for v in PRMBENCH_GROUPS.values()) == 9
    r = prmbench_report([("redundency", [1], [0.9, 0.2]), ("circular", [0], [0.9, 0.8]),
                         ("multi_solutions", [], [0.9, 0.2]), ("correct", [], [0.9, 0.9])])
    assert r["classes"]["redundency"]["prm_score"] == 1.0  # TP 1, TN 1
    assert r["classes"]["circular"]["prm_score"] == pytest.approx(1 / 3)  # TP 1, FP 1: 0.5 * 2/3 + 0.5 * 0
    assert r["classes"]["multi_solutions"]["prm_score"] == pytest.approx(2 / 3)  # F1 of TP 1, FN 1
    assert r["groups"]["simplicity"]["prm_score"] == pytest.approx(2 / 3)
    assert r["groups"]["sensitivity"] == {"prm_score": pytest.approx(2 / 3), "classes": ["multi_solutions"],
                                          "missing": ["missing_condition", "deception"]}
    assert r["groups"]["soundness"]["prm_score"] is None
    assert prmbench_groups({"redundency": {"prm_score": None}})["simplicity"]["missing"] == ["redundency", "circular"]


def test_best_of_n_first_n_hand_computed():
    # problem 1: first candidate wrong with the top score; problem 2: the first two agree on a right answer
    sets = [([False, True, True], [0.9, 0.1, 0.5], [0, 1, 1]), ([True, True, False], [0.2, 0.3, 0.9], [0, 0, 2])]
    r = best_of_n(sets, [1, 2, 3], first_n=True, resamples=10)
    assert [r[n]["pass"]["value"] for n in (1, 2, 3)] == [0.5, 1.0, 1.0]
    assert [r[n]["maj"]["value"] for n in (1, 2, 3)] == [0.5, 0.5, 1.0]   # n=2, problem 1: a tie to the first
    assert [r[n]["rm"]["value"] for n in (1, 2, 3)] == [0.5, 0.5, 0.0]
    default = best_of_n(sets, [3], resamples=10)
    assert default[3] == r[3]  # at the full set the two rules agree


def test_exact_answer_clusters():
    import operator

    assert cluster_answers(["1/2", "0.5", "1/2", ""], equal=operator.eq) == [0, 1, 0, 3]


def test_label_quality_counts_empty_labels_as_no_error_on_request():
    pred, gold = [[None, None], [1, 0], [None]], [[1, 0], [1, 0], [1]]
    default = label_quality(pred, gold)
    assert default["f1_solutions"] == 1 and default["first_error_accuracy"] == 1.0
    every = label_quality(pred, gold, empty_means_no_error=True)
    assert every["f1_solutions"] == 3 and every["coverage"] == 1 / 3
    assert every["error_acc"] == 0.5 and every["correct_acc"] == 1.0 and every["f1"] == pytest.approx(2 / 3)
