"""Evaluate a PRM on ProcessBench, PRMBench, Best-of-N candidate sets or chosen/rejected pairs.

``run(EvalConfig(...))`` reads in order: load the benchmark data -> attach step scores (a scorer
built from ``model``, a scores file matched by (problem id, steps), or the scores the data already
carries) -> compute the metrics of ``prmkit.metrics`` -> write JSON. It returns the same dict; the
CLI (``prmkit eval ...``) only builds the config and prints that dict as a table.
"""

from __future__ import annotations

import dataclasses
import json
import operator
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from .. import metrics
from ..aggregate import AGGREGATORS
from ..answers import extract_answer
from ..data import ReadReport, detect_source, group_by_problem, read
from ..errors import DataError
from ..types import Example

__all__ = ["EvalConfig", "run", "load_examples", "attach_scores", "first_error_f1", "BENCHMARKS", "POLICIES"]

BENCHMARKS = ("processbench", "prmbench", "bon", "pairwise")
POLICIES = ("fixed", "calibrated", "oracle")
ORACLE_NOTE = "upper bound: the threshold was chosen on the evaluated data itself; not comparable to fixed/calibrated"
NOT_CHECKED = "not checked (no reference data given): a solution missing from the scores file cannot be noticed"
DUPLICATE = "duplicate example (a later copy; the first is kept)"


@dataclass
class EvalConfig:
    """What to evaluate and how.

    Args:
        benchmark: one of ``BENCHMARKS``.
        data: the benchmark data (file, folder or hub id); may be omitted when ``scores`` is a file
            that also carries the labels (e.g. written by ``prmkit score``).
        data_format: the data's format, detected when omitted (PRMBench folders are read with the
            official extra error-free samples).
        model: a scorer (``fake``, a model folder or hub id, ``pkg.mod:Class``); see ``load_scorer``.
        spec: the PRM family for Hugging Face models.
        scores: a file whose examples carry ``scores``, matched to ``data`` by (problem id, steps).
        aggregate: step-score aggregation for Best-of-N (a name in ``AGGREGATORS``), defaults to ``min``.
        threshold_policy: ``fixed``, ``calibrated`` or ``oracle`` (ProcessBench only), defaults to ``fixed``.
        threshold: the fixed threshold, and the tie-break preference of the other policies, defaults to 0.5.
        calibrate_on: a subset name of ``data`` or a separate file, for ``calibrated``.
        n: Best-of-N sizes; defaults to 1, 2, 4, ... and the smallest candidate-set size.
        subsets_per_problem: random size-N subsets per problem (K), defaults to 100.
        first_n: Best-of-N below the set size on the first N candidates in file order (Qwen2.5-Math
            ``evaluation/rm_maj_eval.py``) instead of the average over size-N subsets (the default).
        exact_vote: vote over identical answer strings (as ``rm_maj_eval.py``) instead of clusters of
            answers that math-verify finds equal (the default).
        bootstrap: bootstrap resamples over problems (B), defaults to 1000.
        seed: seeds subsets and bootstrap, defaults to 0.
        skip_invalid: skip malformed records (counted in the results) instead of stopping.
        json_out: where to write the results as JSON.
        chunk_size: examples per scorer call.
    """

    benchmark: str
    data: Optional[str] = None
    data_format: Optional[str] = None
    model: Optional[str] = None
    spec: Optional[str] = None
    scores: Optional[str] = None
    aggregate: str = "min"
    threshold_policy: str = "fixed"
    threshold: float = 0.5
    calibrate_on: Optional[str] = None
    n: Optional[tuple[int, ...]] = None
    subsets_per_problem: int = 100
    first_n: bool = False
    exact_vote: bool = False
    bootstrap: int = 1000
    seed: int = 0
    skip_invalid: bool = False
    json_out: Optional[str] = None
    chunk_size: int = 64

    def __post_init__(self) -> None:
        if self.benchmark not in BENCHMARKS:
            raise ValueError(f"unknown benchmark {self.benchmark!r}; known: {', '.join(BENCHMARKS)}")
        if self.model and self.scores:
            raise ValueError("give either a model or a scores file, not both")
        if not (self.data or self.scores):
            raise ValueError("no data: give the benchmark data, or a scores file that carries the labels")
        if self.threshold_policy not in POLICIES:
            raise ValueError(f"unknown threshold policy {self.threshold_policy!r}; known: {', '.join(POLICIES)}")
        if self.threshold_policy != "fixed" and self.benchmark != "processbench":
            raise ValueError("threshold policies other than 'fixed' apply to processbench only")
        if (self.threshold_policy == "calibrated") != bool(self.calibrate_on):
            raise ValueError("the 'calibrated' policy needs calibrate_on (a subset or a file), and only it takes one")
        if self.aggregate not in AGGREGATORS:
            raise ValueError(f"unknown aggregate {self.aggregate!r}; known: {', '.join(AGGREGATORS)}")
        if self.n is not None and (not self.n or any(k < 1 for k in self.n)):
            raise ValueError(f"N values must be positive, got {self.n}")
        if self.subsets_per_problem < 1 or self.bootstrap < 1:
            raise ValueError("subsets_per_problem and bootstrap must be at least 1")


def run(config: EvalConfig) -> dict[str, Any]:
    """Load, score, compute the benchmark's metrics, write JSON (if asked) and return the results."""
    scorer = _build_scorer(config)
    examples, read_info = load_examples(config, config.data or config.scores, scorer)
    compute = {"processbench": _processbench, "prmbench": _prmbench, "bon": _bon, "pairwise": _pairwise}
    results = {"benchmark": config.benchmark, "data": config.data or config.scores,
               "scored_by": config.model or config.scores or "scores in the data", "read": read_info}
    results.update(compute[config.benchmark](examples, config, scorer))
    if config.scores and not config.data:
        results["read"]["completeness"] = NOT_CHECKED
    results["config"] = dataclasses.asdict(config)
    if config.json_out:
        Path(config.json_out).write_text(json.dumps(results, indent=2) + "\n")
    return results


def _build_scorer(config: EvalConfig) -> Any:
    if not config.model:
        return None
    from ..backends import load_scorer

    return load_scorer(config.model, spec=config.spec)


# --- data and scores ----------------------------------------------------------------------------------------

def load_examples(config: EvalConfig, path: str, scorer: Any = None) -> tuple[list[Example], dict]:
    """Read ``path`` and attach scores (scorer, scores file, or the data's own); also a read summary."""
    report = ReadReport()
    fmt = config.data_format
    if fmt is None and config.benchmark == "prmbench":  # known up front: it decides the reader's options
        fmt = detect_source(path)
    options = {"with_correct_samples": True} if fmt == "prmbench" else {}
    examples = list(read(path, fmt, skip_invalid=config.skip_invalid, report=report, **options))
    if not examples:
        skipped = f", {report.n_skipped} invalid record(s) skipped" if report.n_skipped else ""
        raise ValueError(f"{path}: 0 items to evaluate ({report.records} record(s) read{skipped})")
    if config.benchmark == "processbench":  # one sample per id; PRMBench keeps the first, as upstream does
        examples = _unique(examples, lambda ex: ex.problem.id, path, report, config.skip_invalid)
    info: dict[str, Any] = {}
    if scorer is not None:
        from ..scoring import score_examples

        examples = list(score_examples(scorer, examples, chunk_size=config.chunk_size))
    elif config.scores and Path(path) != Path(config.scores):
        scores_report = ReadReport()
        examples = attach_scores(examples, config.scores, skip_invalid=config.skip_invalid, report=scores_report)
        info["scores_file"] = {"path": str(config.scores), **scores_report.to_dict()}
    unscored = sum(ex.scores is None for ex in examples)
    if unscored:
        raise ValueError(f"{path}: {unscored} of {len(examples)} examples carry no scores; pass a model or a scores file")
    return examples, {"path": str(path), **report.to_dict(), "examples": len(examples), **info}


def _unique(examples: list[Example], key: Any, path: str, report: ReadReport, skip_invalid: bool) -> list[Example]:
    """``examples`` without later copies of a key: a located error, or skipped and counted in ``report``."""
    first: dict[Any, int] = {}
    kept = []
    for i, ex in enumerate(examples, 1):
        k = key(ex)
        if k not in first:
            first[k] = i
            kept.append(ex)
            continue
        error = DataError(f"example {i}: duplicate of example {first[k]} (problem id {ex.problem.id!r})", source=str(path))
        if not skip_invalid:
            raise error
        report.skipped[DUPLICATE] += 1
        if len(report.first_skipped) < 5:
            report.first_skipped.append(str(error))
    return kept


def attach_scores(examples: list[Example], scores_path: str, *, skip_invalid: bool = False,
                  report: Optional[ReadReport] = None) -> list[Example]:
    """Give each example the scores a scores file holds for the same (problem id, steps); error on a gap.

    Two examples of the scores file with the same (problem id, steps) are a located error, or with
    ``skip_invalid`` the later one is skipped and counted in ``report``.
    """
    report = report if report is not None else ReadReport()
    scored = [ex for ex in read(scores_path, skip_invalid=skip_invalid, report=report) if ex.scores is not None]
    scored = _unique(scored, lambda ex: (ex.problem.id, ex.solution.steps), scores_path, report, skip_invalid)
    table = {(ex.problem.id, ex.solution.steps): ex.scores for ex in scored}
    if not table:
        raise ValueError(f"{scores_path}: no example carries scores")
    missing = [ex.problem.id for ex in examples if (ex.problem.id, ex.solution.steps) not in table]
    if missing:
        raise ValueError(f"{scores_path} has no scores for {len(missing)} of {len(examples)} examples "
                         f"(matched by problem id and steps), e.g. {missing[0]!r}; score the same data and options")
    return [dataclasses.replace(ex, scores=table[(ex.problem.id, ex.solution.steps)]) for ex in examples]


# --- ProcessBench -------------------------------------------------------------------------------------------

def _processbench_splits(examples: list[Example]) -> dict[str, metrics.Split]:
    splits: dict[str, tuple[list, list]] = {}
    for ex in examples:
        if ex.labels is None:
            raise ValueError(f"example {ex.problem.id!r} has no step labels; ProcessBench needs the first-error label")
        scores, gold = splits.setdefault(str(ex.problem.metadata.get("subset") or "all"), ([], []))
        scores.append(ex.scores.values)
        gold.append(-1 if ex.labels.first_error is None else ex.labels.first_error)
    return splits


def first_error_f1(examples: list[Example], calibration: Optional[list[Example]] = None) -> dict:
    """ProcessBench first-error F1 (average over subsets) of scored examples at 0.5, and with scored
    ``calibration`` examples at the threshold that is best on them (``f1_calibrated``, ``threshold``)."""
    splits = _processbench_splits(examples)
    out: dict[str, Any] = {"f1@0.5": metrics.processbench_report(splits)["average_f1"]}
    if calibration:
        threshold, _ = metrics.best_threshold(_processbench_splits(calibration))
        out.update(f1_calibrated=metrics.processbench_report(splits, threshold)["average_f1"], threshold=threshold)
    return out


def _processbench(examples: list[Example], config: EvalConfig, scorer: Any) -> dict:
    splits = _processbench_splits(examples)
    info: dict[str, Any] = {"policy": config.threshold_policy}
    if config.threshold_policy == "fixed":
        threshold = config.threshold
    elif config.threshold_policy == "oracle":
        threshold, _ = metrics.best_threshold(splits, prefer=config.threshold)
        info.update(upper_bound=True, note=ORACLE_NOTE)
    else:
        cal = config.calibrate_on
        if cal in splits:
            cal_splits = {cal: splits[cal]}
            info["in_sample_subsets"] = [cal]
        elif Path(cal).exists():
            cal_splits = _processbench_splits(load_examples(config, cal, scorer)[0])
        else:
            raise ValueError(f"calibrate_on {cal!r} is neither a subset of the data ({', '.join(splits)}) nor a file")
        threshold, cal_f1 = metrics.best_threshold(cal_splits, prefer=config.threshold)
        info.update(calibrated_on=cal, calibration_average_f1=cal_f1)
    info["threshold"] = threshold
    report = metrics.processbench_report(splits, threshold)
    if config.threshold_policy != "fixed":
        info["average_f1_at_fixed"] = metrics.processbench_report(splits, config.threshold)["average_f1"]
    return {"threshold": info, **report}


# --- PRMBench -----------------------------------------------------------------------------------------------

def _prmbench_error_steps(ex: Example, notes: Counter) -> list[int]:
    """0-based wrong steps as the official scorer sees them: raw 1-based indices, past-the-end ones ignored.

    The reader clamps past-the-end indices to the last step (labels); the official loop never reaches
    them, so the raw list in ``problem.metadata["error_steps"]`` is used when present.
    """
    raw = ex.problem.metadata.get("error_steps")
    n = len(ex.solution.steps)
    if isinstance(raw, list):
        kept = [i - 1 for i in raw if 1 <= i <= n]
        if len(kept) < len(raw):
            notes["error steps past the last step, ignored as the official scorer does"] += len(raw) - len(kept)
        return kept
    if ex.labels is None:
        raise ValueError(f"example {ex.problem.id!r} has neither error_steps nor labels")
    return [i for i, v in enumerate(ex.labels.values) if v is not None and v < 0.5]


def _prmbench(examples: list[Example], config: EvalConfig, scorer: Any) -> dict:
    notes: Counter = Counter()
    seen: set[str] = set()
    samples = []
    for ex in examples:
        if ex.problem.id in seen:  # the official loader keeps the first item of each idx
            notes["duplicate ids dropped, as the official loader does"] += 1
            continue
        seen.add(ex.problem.id)
        cls = ex.problem.metadata.get("classification")
        if cls is None:
            raise ValueError(f"example {ex.problem.id!r} has no problem.metadata['classification']; is this PRMBench?")
        samples.append((cls, _prmbench_error_steps(ex, notes), ex.scores.values))
    report = metrics.prmbench_report(samples, config.threshold)
    return {"threshold": {"policy": "fixed", "threshold": config.threshold, "valid_if": "score > threshold"},
            "notes": dict(notes), **report}


# --- Best-of-N ----------------------------------------------------------------------------------------------

def default_ns(size: int) -> list[int]:
    """1, 2, 4, ... below ``size``, then ``size``: ``default_ns(10) == [1, 2, 4, 8, 10]``."""
    ns = [1 << i for i in range(size.bit_length()) if 1 << i < size]
    return ns + [size]


def _final_answer(ex: Example, exact: bool = False) -> Optional[str]:
    """The solution's final answer, else the one extracted from its text; ``exact`` keeps an empty one."""
    if ex.solution.final_answer or (exact and ex.solution.final_answer is not None):
        return ex.solution.final_answer
    return extract_answer("\n\n".join(ex.solution.steps))


def _bon(examples: list[Example], config: EvalConfig, scorer: Any) -> dict:
    sets, no_answer = [], 0
    for pid, cands in group_by_problem(examples).items():
        if any(c.correct is None for c in cands):
            raise ValueError(f"problem {pid!r}: Best-of-N needs each candidate's correctness ('correct')")
        scores = [metrics.candidate_score(c.scores.values, c.scores.outcome, config.aggregate) for c in cands]
        answers = [_final_answer(c, config.exact_vote) for c in cands]
        no_answer += answers.count(None)
        equal = operator.eq if config.exact_vote else None  # None: math-verify
        sets.append(([c.correct for c in cands], scores, metrics.cluster_answers(answers, equal)))
    if not sets:
        raise ValueError("no candidate sets to evaluate")
    sizes = Counter(len(s[0]) for s in sets)
    ns = list(config.n or default_ns(min(sizes)))
    table = metrics.best_of_n(sets, ns, config.subsets_per_problem, config.bootstrap, config.seed, config.first_n)
    return {"problems": len(sets), "set_sizes": {str(k): v for k, v in sorted(sizes.items())},
            "aggregate": config.aggregate, "subsets_per_problem": config.subsets_per_problem,
            "subset_rule": "first N" if config.first_n else "all size-N subsets",
            "answers": "identical strings" if config.exact_vote else "math-verify clusters",
            "bootstrap": config.bootstrap, "candidates_without_answer": no_answer,
            "n": {str(k): v for k, v in table.items()}}


# --- pairwise -----------------------------------------------------------------------------------------------

def _pairwise(examples: list[Example], config: EvalConfig, scorer: Any) -> dict:
    pairs, unpaired = [], []
    for pid, xs in group_by_problem(examples).items():
        chosen = [x.scores.values for x in xs if x.correct is True]
        rejected = [x.scores.values for x in xs if x.correct is False]
        if not chosen or not rejected:
            unpaired.append(pid)
        pairs += [(c, r) for c in chosen for r in rejected]
    sources = sorted({ex.scores.source for ex in examples if ex.scores.source})
    return {"prm": ", ".join(sources) or Path(config.data or config.scores).name, "pairs": len(pairs),
            "unpaired_problems": len(unpaired), "unpaired_ids": unpaired[:20],
            "aggregations": {name: metrics.pairwise_accuracy(pairs, name) for name in AGGREGATORS}}
