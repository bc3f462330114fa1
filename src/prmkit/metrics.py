"""Benchmark metrics for step verifiers: ProcessBench, PRMBench, Best-of-N and pairwise accuracy.

Every metric is a pure function over plain lists (step scores, gold indices, outcome flags) and is
written once, here; pipelines only gather inputs and print outputs. Where a benchmark ships official
scoring code, the function reimplements it and its docstring names that code and any difference.
Only the stdlib and prmkit's own stdlib-only modules (``aggregate``, ``answers``) are imported.
"""

from __future__ import annotations

import bisect
import itertools
import math
import random
from typing import Any, Callable, Hashable, Iterable, Mapping, Optional, Sequence

from .aggregate import aggregate, argmax, majority_vote, weighted_vote

__all__ = [
    "predicted_first_error", "harmonic_f1", "processbench_f1", "processbench_report", "threshold_candidates",
    "threshold_sweep", "best_threshold", "prmbench_sample", "prmbench_summary", "prmbench_prm_score",
    "prmbench_groups", "prmbench_report", "PRMBENCH_GROUPS",
    "pass_at_k", "cluster_answers", "candidate_score", "bootstrap_ci", "best_of_n", "pairwise_accuracy",
    "label_quality",
]

Scores = Sequence[Optional[float]]
Split = tuple[Sequence[Scores], Sequence[int]]  # (step scores per solution, gold first error per solution)


# --- ProcessBench (Zheng et al., 2024; QwenLM/ProcessBench code/run_eval_prm_*.py) ---------------------------

def predicted_first_error(scores: Scores, threshold: float = 0.5) -> int:
    """Index of the first step scored strictly below ``threshold`` (0-based), or -1 when there is none.

    Unscored steps (``None``) are skipped: they neither flag an error nor hide a later one.

    Example:
        >>> predicted_first_error([0.9, None, 0.3, 0.1]), predicted_first_error([0.9, 0.5])
        (2, -1)
    """
    for i, s in enumerate(scores):
        if s is not None and s < threshold:
            return i
    return -1


def harmonic_f1(a: float, b: float) -> float:
    """``2ab / (a + b)``, 0 when both are 0 (ProcessBench's F1 of its two accuracies).

    Example:
        >>> harmonic_f1(0.5, 1.0), harmonic_f1(0.0, 0.0)
        (0.6666666666666666, 0.0)
    """
    return 0.0 if a + b == 0 else 2 * a * b / (a + b)


def processbench_f1(predicted: Sequence[int], gold: Sequence[int]) -> dict:
    """Error-sample accuracy, correct-sample accuracy and their harmonic mean, as the official scripts.

    Args:
        predicted: predicted first-error index per solution (-1 = no error).
        gold: gold first-error index per solution (-1 = the solution is correct).

    Returns:
        ``{"error_acc", "correct_acc", "f1", "n_error", "n_correct"}``; an accuracy over no samples
        (and then the F1) is None.

    Example:
        >>> r = processbench_f1([1, -1, 0, -1], [1, 2, -1, -1])
        >>> r["error_acc"], r["correct_acc"], round(r["f1"], 4)
        (0.5, 0.5, 0.5)
    """
    if len(predicted) != len(gold):
        raise ValueError(f"{len(predicted)} predictions for {len(gold)} gold labels")
    err = [p == g for p, g in zip(predicted, gold) if g != -1]
    cor = [p == g for p, g in zip(predicted, gold) if g == -1]
    error_acc = sum(err) / len(err) if err else None
    correct_acc = sum(cor) / len(cor) if cor else None
    f1 = None if error_acc is None or correct_acc is None else harmonic_f1(error_acc, correct_acc)
    return {"error_acc": error_acc, "correct_acc": correct_acc, "f1": f1, "n_error": len(err), "n_correct": len(cor)}


def processbench_report(splits: Mapping[str, Split], threshold: float = 0.5) -> dict:
    """ProcessBench per subset at one threshold, and the paper's headline: the mean of the subset F1s.

    Args:
        splits: subset name -> (step scores per solution, gold first error per solution).
        threshold: passed to ``predicted_first_error``.

    Returns:
        ``{"subsets": {name: processbench_f1(...)}, "average_f1"}``; undefined subset F1s are left out.

    Example:
        >>> r = processbench_report({"a": ([[0.9, 0.2], [0.8, 0.7]], [1, -1]), "b": ([[0.1]], [-1])})
        >>> r["subsets"]["a"]["f1"], r["subsets"]["b"]["f1"], r["average_f1"]
        (1.0, None, 1.0)
    """
    subsets = {name: processbench_f1([predicted_first_error(s, threshold) for s in scores], gold)
               for name, (scores, gold) in splits.items()}
    f1s = [r["f1"] for r in subsets.values() if r["f1"] is not None]
    return {"subsets": subsets, "average_f1": sum(f1s) / len(f1s) if f1s else None}


def threshold_candidates(score_lists: Iterable[Scores]) -> list[float]:
    """One threshold inside each interval on which every ``predicted_first_error`` is constant.

    Predictions only change where the threshold crosses a score, so the lowest score (nothing is
    below it), the midpoints between consecutive distinct scores and the float just above the highest
    score cover every possible outcome: searching these is exact, not a grid.

    Example:
        >>> threshold_candidates([[0.2, 0.6], [0.6, None, 1.0]])[:3]
        [0.2, 0.4, 0.8]
    """
    values = sorted({s for scores in score_lists for s in scores if s is not None})
    if not values:
        return [0.5]
    out = [values[0]]
    for a, b in zip(values, values[1:]):
        mid = (a + b) / 2
        out.append(mid if a < mid < b else b)  # adjacent floats: b itself lies in (a, b]
    out.append(math.nextafter(values[-1], math.inf))
    return out


def _hit_interval(scores: Scores, gold: int) -> Optional[tuple[float, float]]:
    """The thresholds t in (lo, hi] for which ``predicted_first_error(scores, t) == gold``."""
    if gold == -1:
        return (-math.inf, min((s for s in scores if s is not None), default=math.inf))
    if scores[gold] is None:
        return None
    hi = min((s for s in scores[:gold] if s is not None), default=math.inf)
    return (scores[gold], hi) if scores[gold] < hi else None


def threshold_sweep(splits: Mapping[str, Split]) -> list[tuple[float, Optional[float]]]:
    """``(threshold, average subset F1)`` at every candidate threshold, computed exactly by a sweep.

    Each solution is matched on one interval of thresholds (``_hit_interval``), so the hit counts at
    all candidates come from one pass of interval additions instead of re-scoring per threshold.

    Example:
        >>> threshold_sweep({"a": ([[0.25, 0.75], [0.5, 1.0]], [0, -1])})[:4]
        [(0.25, 0.0), (0.375, 1.0), (0.625, 0.0), (0.875, 0.0)]
    """
    cands = threshold_candidates(s for scores, _ in splits.values() for s in scores)
    per_split = []
    for scores, gold in splits.values():
        hits = {True: [0] * (len(cands) + 1), False: [0] * (len(cands) + 1)}  # True = error samples
        for s, g in zip(scores, gold):
            interval = _hit_interval(s, g)
            if interval is not None:
                diff = hits[g != -1]
                diff[bisect.bisect_right(cands, interval[0])] += 1
                diff[bisect.bisect_right(cands, interval[1])] -= 1
        n_err, n_cor = sum(g != -1 for g in gold), sum(g == -1 for g in gold)
        if n_err and n_cor:
            err, cor, f1s = 0, 0, []
            for i in range(len(cands)):
                err, cor = err + hits[True][i], cor + hits[False][i]
                f1s.append(harmonic_f1(err / n_err, cor / n_cor))
            per_split.append(f1s)
    return [(t, sum(f[i] for f in per_split) / len(per_split) if per_split else None) for i, t in enumerate(cands)]


def best_threshold(splits: Mapping[str, Split], prefer: float = 0.5) -> tuple[float, Optional[float]]:
    """The threshold maximising the average subset F1 on ``splits``, and that F1.

    Ties (a run of thresholds with the same F1) go to the candidate closest to ``prefer``, the
    conventional 0.5, then to the lower one, so the choice moves away from the default only for a gain.

    Example:
        >>> best_threshold({"a": ([[0.25, 0.75], [0.5, 1.0]], [0, -1])})
        (0.375, 1.0)
    """
    sweep = [(t, f) for t, f in threshold_sweep(splits) if f is not None]
    if not sweep:
        return prefer, None
    top = max(f for _, f in sweep)
    return min(((t, f) for t, f in sweep if f == top), key=lambda tf: (abs(tf[0] - prefer), tf[0]))


# --- PRMBench (Song et al., 2025; ssmisya/PRMBench mr_eval/tasks/prmtest_classified/task.py) -----------------

_COUNTS = ("TP", "FP", "TN", "FN", "first_error_hits", "first_error_total", "samples")


def prmbench_sample(error_steps: Iterable[int], scores: Scores, threshold: float = 0.5) -> dict:
    """Confusion counts of one solution, positive = a correct step, as the official evaluation.

    A step is predicted valid when ``score > threshold``: strictly greater, because every official
    PRMBench model wrapper (``mr_eval/models/*.py``) builds ``step_level_validity_labels`` as
    ``score > validity_threshold``. (ProcessBench's ``predicted_first_error`` instead flags
    ``score < threshold``; the two differ only for a score exactly at the threshold.)

    Args:
        error_steps: 0-based indices of the wrong steps; indices past the last step are ignored,
            as the official loop over the step labels never reaches them.
        scores: one score per step; unscored (``None``) steps are left out of every count.
        threshold: the validity threshold (official default 0.5).

    Returns:
        ``{"TP", "FP", "TN", "FN", "first_error_hits", "first_error_total", "samples"}``; TP/FN = a
        correct step predicted valid/invalid, TN/FP = a wrong step predicted invalid/valid; the first
        wrong step is a first-error hit when predicted invalid.

    Example:
        >>> c = prmbench_sample([2, 3], [0.9, 0.4, 0.3, 0.8])
        >>> c["TP"], c["FP"], c["TN"], c["FN"], c["first_error_hits"], c["first_error_total"]
        (1, 1, 1, 1, 1, 1)
    """
    wrong = set(error_steps)
    out = dict.fromkeys(_COUNTS, 0)
    out["samples"] = 1
    first = min(wrong) if wrong else None
    for i, s in enumerate(scores):
        if s is None:
            continue
        valid = s > threshold
        out[("FP" if valid else "TN") if i in wrong else ("TP" if valid else "FN")] += 1
        if i == first:
            out["first_error_total"] += 1
            out["first_error_hits"] += not valid
    return out


def _ratio(a: float, b: float) -> Optional[float]:
    return a / b if b else None


def _f1(p: Optional[float], r: Optional[float]) -> Optional[float]:
    return None if p is None or r is None else harmonic_f1(p, r)


def _step_f1(tp: int, fp: int, fn: int) -> Optional[float]:
    """F1 from counts, ``2TP / (2TP + FP + FN)``: 0 when TP is 0, None only without TP, FP and FN."""
    return _ratio(2 * tp, 2 * tp + fp + fn)


def _official_f1(tp: int, fp: int, fn: int) -> float:
    """F1 exactly as ``evaluate_function`` computes it, with its -1 sentinels (a ratio over nothing, or
    precision + recall = 0). Only ever used inside ``prmbench_prm_score``, which floors the result."""
    p = tp / (tp + fp) if tp + fp else -1
    r = tp / (tp + fn) if tp + fn else -1
    return 2 * p * r / (p + r) if p + r != 0 else -1  # p = -1 forces TP = 0, so r is 0 or -1: p + r != 0 here


# Classes whose PRMScore is the F1 alone: they have no wrong steps. ``multi_solutions`` is upstream's
# (``get_prmscore_from_current_res_dict``); ``correct`` (the added error-free samples, which upstream
# gives no PRMScore) follows the same rule.
F1_ONLY_CLASSES = ("multi_solutions", "correct")

# The paper's three groups of classes, as upstream's tables average them (``classification_parallel_dict``).
PRMBENCH_GROUPS = {
    "simplicity": ("redundency", "circular"),
    "soundness": ("counterfactual", "step_contradiction", "domain_inconsistency", "confidence"),
    "sensitivity": ("missing_condition", "deception", "multi_solutions"),
}


def prmbench_prm_score(counts: Mapping[str, int], classification: Optional[str] = None) -> Optional[float]:
    """PRMScore as upstream reports it: ``0.5 F1 + 0.5 negative F1``, the F1 alone for a class in
    ``F1_ONLY_CLASSES``, floored at 0; None when no step was scored.

    Upstream (``mr_visualize/.../form_latex_strs.ipynb``) computes it from ``evaluate_function``'s F1s,
    -1 sentinels included, then floors it at 0, so a class where an F1 is undefined or both its rates
    are 0 scores 0 (not half the other F1).

    Example:
        >>> prmbench_prm_score({"TP": 3, "FP": 1, "TN": 1, "FN": 1}), prmbench_prm_score({"TP": 3, "FN": 1}, "multi_solutions")
        (0.625, 0.8571428571428571)
        >>> prmbench_prm_score({"TP": 0, "FP": 2, "TN": 2, "FN": 2}), prmbench_prm_score({})
        (0.0, None)
    """
    tp, fp, tn, fn = (counts.get(k, 0) for k in ("TP", "FP", "TN", "FN"))
    if not tp + fp + tn + fn:
        return None
    f1 = _official_f1(tp, fp, fn)
    raw = f1 if classification in F1_ONLY_CLASSES else 0.5 * f1 + 0.5 * _official_f1(tn, fn, fp)
    return max(raw, 0.0)


def prmbench_summary(counts: Mapping[str, int], classification: Optional[str] = None) -> dict:
    """Precision, recall and F1 for both classes, PRMScore and the step accuracies from summed counts.

    PRMScore is ``prmbench_prm_score`` (``0.5 * F1 + 0.5 * negative F1``, the paper; the F1 alone for
    ``multi_solutions``; floored at 0). Step accuracies are micro averages over steps, as the official
    per-step lists are: correct-step acc = TP/(TP+FN), wrong-step acc = TN/(TN+FP), total = (TP+TN)/all.
    F1 is ``2TP/(2TP+FP+FN)``: 0 when a rate is 0 and the other undefined (as upstream), 0 when both
    rates are 0 (upstream: -1), None with no TP, FP or FN (upstream: -1). Any other ratio over nothing
    is None where upstream writes -1.

    Example:
        >>> s = prmbench_summary({"TP": 3, "FP": 1, "TN": 1, "FN": 1, "first_error_hits": 1, "first_error_total": 2})
        >>> s["f1"], s["negative_f1"], s["prm_score"], s["first_error_acc"], s["total_step_acc"]
        (0.75, 0.5, 0.625, 0.5, 0.6666666666666666)
    """
    tp, fp, tn, fn = (counts.get(k, 0) for k in ("TP", "FP", "TN", "FN"))
    p, r = _ratio(tp, tp + fp), _ratio(tp, tp + fn)
    np_, nr = _ratio(tn, tn + fn), _ratio(tn, tn + fp)
    return {
        "prm_score": prmbench_prm_score(counts, classification),
        "f1": _step_f1(tp, fp, fn), "negative_f1": _step_f1(tn, fn, fp), "precision": p, "recall": r,
        "negative_precision": np_, "negative_recall": nr,
        "first_error_acc": _ratio(counts.get("first_error_hits", 0), counts.get("first_error_total", 0)),
        "correct_step_acc": r, "wrong_step_acc": nr, "total_step_acc": _ratio(tp + tn, tp + fp + tn + fn),
        "steps": tp + fp + tn + fn, "samples": counts.get("samples", 0), "TP": tp, "FP": fp, "TN": tn, "FN": fn,
    }


def prmbench_groups(classes: Mapping[str, Mapping[str, Any]]) -> dict:
    """The mean PRMScore of each group of ``PRMBENCH_GROUPS``, over its classes present with a score.

    Upstream averages the (floored) class PRMScores of each group; a class absent from the data (or
    with no scored step) is left out of the mean and listed under ``missing``.

    Example:
        >>> g = prmbench_groups({"redundency": {"prm_score": 0.5}, "circular": {"prm_score": 0.75}})
        >>> g["simplicity"], g["soundness"]["prm_score"], len(g["sensitivity"]["missing"])
        ({'prm_score': 0.625, 'classes': ['redundency', 'circular'], 'missing': []}, None, 3)
    """
    out = {}
    for group, members in PRMBENCH_GROUPS.items():
        present = [c for c in members if c in classes and classes[c].get("prm_score") is not None]
        scores = [classes[c]["prm_score"] for c in present]
        out[group] = {"prm_score": math.fsum(scores) / len(scores) if scores else None, "classes": present,
                      "missing": [c for c in members if c not in present]}
    return out


def prmbench_report(samples: Iterable[tuple[str, Iterable[int], Scores]], threshold: float = 0.5,
                    correct_class: str = "correct") -> dict:
    """PRMBench overall and per classification.

    The extra error-free samples (classification ``correct_class``) get their own row but are left
    out of the overall numbers, exactly as the official ``evaluate_function`` does.

    Args:
        samples: ``(classification, 0-based error steps, step scores)`` per solution.
        threshold: the validity threshold (see ``prmbench_sample``).
        correct_class: the classification of the added error-free samples.

    Returns:
        ``{"overall": summary, "classes": {classification: summary}, "groups": prmbench_groups(classes)}``,
        each summary from ``prmbench_summary``.

    Example:
        >>> r = prmbench_report([("circular", [1], [0.9, 0.2]), ("correct", [], [0.9, 0.2])])
        >>> r["overall"]["prm_score"], r["classes"]["correct"]["FN"], r["overall"]["samples"]
        (1.0, 1, 1)
    """
    totals: dict[str, dict[str, int]] = {}
    overall = dict.fromkeys(_COUNTS, 0)
    for cls, error_steps, scores in samples:
        counts = prmbench_sample(error_steps, scores, threshold)
        bucket = totals.setdefault(cls, dict.fromkeys(_COUNTS, 0))
        for k, v in counts.items():
            bucket[k] += v
            if cls != correct_class:
                overall[k] += v
    classes = {c: prmbench_summary(t, c) for c, t in totals.items()}
    return {"overall": prmbench_summary(overall), "classes": classes, "groups": prmbench_groups(classes)}


# --- Best-of-N on candidate sets ---------------------------------------------------------------------------

def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k (Chen et al., 2021): chance that k of n samples, c of them correct, hold one correct.

    ``1 - C(n-c, k) / C(n, k)``, exact with integers.

    Example:
        >>> pass_at_k(8, 1, 1), round(pass_at_k(4, 2, 2), 6), pass_at_k(4, 0, 4)
        (0.125, 0.833333, 0.0)
    """
    if not 0 <= c <= n or not 1 <= k <= n:
        raise ValueError(f"need 0 <= c <= n and 1 <= k <= n, got n={n}, c={c}, k={k}")
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)


def cluster_answers(answers: Sequence[Optional[str]],
                    equal: Optional[Callable[[str, str], bool]] = None) -> list[Optional[int]]:
    """Label each answer with the index of the first answer it equals (its cluster); None stays None.

    Each answer is compared with the first member of every cluster so far, in order; identical
    strings never reach ``equal`` and every distinct pair is compared at most once (cached).

    ``equal`` defaults to ``prmkit.answers.answers_equal`` (math-verify).

    Example:
        >>> cluster_answers(["1/2", "0.5", None, "3", "\\\\frac{1}{2}"], equal=lambda a, b: a == b)
        [0, 1, None, 3, 4]
    """
    if equal is None:
        from .answers import answers_equal as equal
    cache: dict[tuple[str, str], bool] = {}
    reps: list[int] = []
    out: list[Optional[int]] = []
    for i, a in enumerate(answers):
        if a is None:
            out.append(None)
            continue
        for r in reps:
            key = (answers[r], a)
            if key not in cache:
                cache[key] = answers[r] == a or equal(a, answers[r])
            if cache[key]:
                out.append(r)
                break
        else:
            reps.append(i)
            out.append(i)
    return out


def candidate_score(values: Scores, outcome: Optional[float], how: str | Callable = "min") -> Optional[float]:
    """A candidate's score for selection: its aggregated step scores, else its outcome score.

    Example:
        >>> candidate_score([0.9, 0.4], None), candidate_score([None, None], 3.5), candidate_score([], None)
        (0.4, 3.5, None)
    """
    agg = aggregate(values, how)
    return outcome if agg is None else agg


def bootstrap_ci(values: Sequence[float], resamples: int = 1000, seed: int = 0, level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of ``values`` (resampled with replacement, seeded).

    Example:
        >>> bootstrap_ci([1.0, 1.0, 1.0]), bootstrap_ci([0.0, 1.0], resamples=200)
        ((1.0, 1.0), (0.0, 1.0))
    """
    if not values:
        raise ValueError("bootstrap of no values")
    rng = random.Random(seed)
    n = len(values)
    means = sorted(math.fsum(values[rng.randrange(n)] for _ in range(n)) / n for _ in range(resamples))
    tail = (1 - level) / 2
    return means[int(tail * resamples)], means[min(resamples - 1, math.ceil((1 - tail) * resamples) - 1)]


def _select(subset: Sequence[int], correct: Sequence[bool], scores: Scores,
            clusters: Sequence[Optional[int]]) -> tuple[float, float, float]:
    """maj, RM and weighted-vote correctness (0/1) on one subset of candidate indices."""
    def winner(cluster: Optional[Hashable]) -> float:  # the cluster's first member in this subset
        return float(cluster is not None and next(correct[i] for i in subset if clusters[i] == cluster))

    maj = winner(majority_vote([clusters[i] for i in subset]))
    rm = float(correct[subset[argmax([scores[i] for i in subset])]])
    weighted = winner(weighted_vote([clusters[i] for i in subset], [scores[i] for i in subset]))
    return maj, rm, weighted


def best_of_n(sets: Sequence[tuple[Sequence[bool], Scores, Sequence[Optional[int]]]], ns: Sequence[int],
              subsets_per_problem: int = 100, resamples: int = 1000, seed: int = 0, first_n: bool = False) -> dict:
    """pass@N, maj@N, RM@N and weighted@N on candidate sets, with bootstrap 95% intervals over problems.

    pass@N is the exact unbiased estimator. For N below a set's size, maj/RM/weighted are averaged
    over every size-N subset when there are at most ``subsets_per_problem`` of them (exact), else over
    that many random ones (seeded per problem and N, shared by the three methods, in file order); at
    N equal to the size the one full set is used, so the value is deterministic. With ``first_n`` every
    method (pass@N too: any of them correct) uses only the first N candidates in file order, the rule
    of Qwen2.5-Math ``evaluation/rm_maj_eval.py`` (``[:k]``); it has more variance. The bootstrap draws
    the same problem resamples for every method and N. Selection rules: RM takes the highest score,
    the earliest candidate on ties, an unscored one only if all are (``aggregate.argmax``); maj and
    weighted vote over answer clusters, ties to the cluster seen first, which is right when its first
    member in the subset is; a subset where no candidate has an answer counts as wrong.

    Args:
        sets: per problem, ``(correct, score, answer cluster)`` lists (see ``cluster_answers``).
        ns: the N values, each at most the smallest set size.
        subsets_per_problem: K, subsets per problem for N below the set size; resamples: B.
        seed: seeds the subsets and the bootstrap.
        first_n: take the first N candidates instead of averaging over size-N subsets.

    Returns:
        ``{N: {"pass", "maj", "rm", "weighted"}}``, each ``{"value", "ci": [lo, hi]}``.

    Example:
        >>> r = best_of_n([([True, False], [0.2, 0.9], [0, 1]), ([True, True], [0.1, 0.8], [0, 0])], [2])
        >>> r[2]["pass"]["value"], r[2]["maj"]["value"], r[2]["rm"]["value"], r[2]["weighted"]["value"]
        (1.0, 1.0, 0.5, 0.5)
        >>> r = best_of_n([([False, True, True], [0.9, 0.1, 0.5], [0, 1, 1])], [1, 2], first_n=True)
        >>> [(r[n]["pass"]["value"], r[n]["maj"]["value"], r[n]["rm"]["value"]) for n in (1, 2)]
        [(0.0, 0.0, 0.0), (1.0, 0.0, 0.0)]
    """
    smallest = min(len(c) for c, _, _ in sets)
    if any(not 1 <= n <= smallest for n in ns):
        raise ValueError(f"every N must be in 1..{smallest} (the smallest candidate set), got {list(ns)}")
    results = {}
    for n in ns:
        per_problem: dict[str, list[float]] = {"pass": [], "maj": [], "rm": [], "weighted": []}
        for p, (correct, scores, clusters) in enumerate(sets):
            size = len(correct)
            if first_n:
                pass_n, subsets = float(any(correct[:n])), [list(range(n))]
            else:
                pass_n = pass_at_k(size, sum(correct), n)
                if math.comb(size, n) <= subsets_per_problem:  # few enough: every subset, exactly
                    subsets = [list(s) for s in itertools.combinations(range(size), n)]
                else:
                    rng = random.Random(f"{seed}:{p}:{n}")
                    subsets = [sorted(rng.sample(range(size), n)) for _ in range(subsets_per_problem)]
            per_problem["pass"].append(pass_n)
            picks = [_select(s, correct, scores, clusters) for s in subsets]
            for j, name in enumerate(("maj", "rm", "weighted")):
                per_problem[name].append(math.fsum(x[j] for x in picks) / len(picks))
        results[n] = {name: {"value": math.fsum(v) / len(v), "ci": list(bootstrap_ci(v, resamples, seed))}
                      for name, v in per_problem.items()}
    return results


# --- Pairwise (RewardBench-style chosen vs rejected) ---------------------------------------------------------

def pairwise_accuracy(pairs: Sequence[tuple[Scores, Scores]], how: str | Callable = "min") -> dict:
    """Fraction of (chosen, rejected) pairs whose aggregated chosen score is strictly higher.

    Ties count as wrong, as RewardBench scores them, and are also reported; so are pairs where a
    side has no score at all (``unscored``, also wrong).

    Example:
        >>> pairwise_accuracy([([0.9, 0.8], [0.9, 0.1]), ([0.5], [0.5]), ([0.2], [0.7])])
        {'accuracy': 0.3333333333333333, 'correct': 1, 'ties': 1, 'unscored': 0, 'pairs': 3}
    """
    correct = ties = unscored = 0
    for chosen, rejected in pairs:
        a, b = aggregate(chosen, how), aggregate(rejected, how)
        if a is None or b is None:
            unscored += 1
        elif a > b:
            correct += 1
        elif a == b:
            ties += 1
    return {"accuracy": _ratio(correct, len(pairs)), "correct": correct, "ties": ties, "unscored": unscored,
            "pairs": len(pairs)}


# --- Automatic step labels against exact ones (annotation quality) --------------------------------------------

def label_quality(predicted: Sequence[Optional[Scores]], gold: Sequence[Scores], threshold: float = 0.5, *,
                  empty_means_no_error: bool = False) -> dict:
    """How well automatic step labels match gold labels (the measures of "The Lessons of Developing PRMs").

    Args:
        predicted: per solution, the automatic labels (None, or all None: the method gave no label).
        gold: per solution, the gold labels (1 correct, 0 wrong; None: unknown, e.g. after a first error).
        threshold: a predicted label below it means "wrong" (gold labels are read at 0.5).
        empty_means_no_error: a solution whose labels are all None (the method ran and found nothing to
            judge, e.g. no checkable step) predicts "no error" in ``first_error_accuracy`` and ``f1``,
            which are then over every labelled solution; by default such solutions are left out.

    Returns:
        ``coverage`` (solutions with a label), ``step_coverage`` (gold-labelled steps that got a label),
        ``step_accuracy`` and the wrong-step ``error_precision``/``error_recall``/``error_f1`` over steps
        labelled by both, ``first_error_accuracy`` and the ProcessBench ``f1`` (``processbench_f1``) over
        covered solutions (``f1_solutions`` of them); None where there is nothing to measure.

    Example:
        >>> r = label_quality([[1, 0, 0], [1, 1], None], [[1, 0, None], [1, 0], [1]])
        >>> r["coverage"], r["step_accuracy"], r["first_error_accuracy"], r["error_recall"]
        (0.6666666666666666, 0.75, 0.5, 0.5)
        >>> r = label_quality([[None, None], [1, 0]], [[1, 0], [1, 0]], empty_means_no_error=True)
        >>> r["coverage"], r["f1_solutions"], r["first_error_accuracy"]
        (0.5, 2, 0.5)
    """
    if len(predicted) != len(gold):
        raise ValueError(f"{len(predicted)} predicted label lists for {len(gold)} gold ones")
    pred_fe, gold_fe = [], []
    hits = both = tp = fp = fn = gold_steps = covered = 0
    for p, g in zip(predicted, gold):
        gold_steps += sum(v is not None for v in g)
        if p is None or all(v is None for v in p):
            if p is not None and empty_means_no_error:
                pred_fe.append(-1)
                gold_fe.append(predicted_first_error(g, 0.5))
            continue
        covered += 1
        if len(p) != len(g):
            raise ValueError(f"{len(p)} predicted labels for {len(g)} gold labels in one solution")
        pred_fe.append(predicted_first_error(p, threshold))
        gold_fe.append(predicted_first_error(g, 0.5))
        for x, y in zip(p, g):
            if x is None or y is None:
                continue
            wrong_p, wrong_g = x < threshold, y < 0.5
            both += 1
            hits += wrong_p == wrong_g
            tp += wrong_p and wrong_g
            fp += wrong_p and not wrong_g
            fn += wrong_g and not wrong_p
    precision, recall = _ratio(tp, tp + fp), _ratio(tp, tp + fn)
    pb = processbench_f1(pred_fe, gold_fe)
    return {"solutions": len(gold), "coverage": _ratio(covered, len(gold)), "f1_solutions": len(pred_fe),
            "step_coverage": _ratio(both, gold_steps), "step_accuracy": _ratio(hits, both),
            "error_precision": precision, "error_recall": recall, "error_f1": _f1(precision, recall),
            "first_error_accuracy": _ratio(sum(a == b for a, b in zip(pred_fe, gold_fe)), len(pred_fe)),
            "f1": pb["f1"], "error_acc": pb["error_acc"], "correct_acc": pb["correct_acc"]}
