"""`prmkit eval processbench|prmbench|bon|pairwise|robustness` and `prmkit score`: evaluate PRMs, see per-step scores.

Each eval command builds an ``EvalConfig``, calls ``prmkit.pipelines.evaluate.run`` and prints the
returned dict as a rich table (``--json`` writes it in full); ``robustness`` does the same with
``prmkit.pipelines.robustness``. Bad input ends with one line
``error: ...`` on stderr and exit code 2, as everywhere in the CLI. Names that come from the data
(subsets, classifications, ids) are escaped, never read as rich markup.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, List, Optional

import typer
from rich import box
from rich.markup import escape
from rich.table import Table

from ..errors import DataError, UnreadableFile
from .common import OPTION, bars, data_format, describe, err, fail, out, parse_options, report_read

eval_app = typer.Typer(help="Evaluate PRMs: ProcessBench, PRMBench, Best-of-N, pairwise, master-key robustness.",
                       no_args_is_help=True)

MODEL = typer.Option(None, "--model", "-m", help="Scorer: 'fake', a model folder or hub id, or pkg.mod:Class.")
SPEC = typer.Option(None, "--spec", help="PRM family of a Hugging Face model (see prmkit.backends.families).")
SCORES = typer.Option(None, "--scores", help="File of examples with scores (e.g. from `prmkit score`).")
FORMAT = typer.Option(None, "--format", "-f", help="Data format (detected when omitted).")
SKIP = typer.Option(False, "--skip-invalid", help="Skip malformed records and report them.")
JSON_OUT = typer.Option(None, "--json", help="Write the full results as JSON here.")
SEED = typer.Option(0, "--seed", help="Seed for subsets and bootstrap.")


def _run(**fields: Any) -> dict:
    from ..pipelines.evaluate import EvalConfig, run

    return _guarded(lambda: run(EvalConfig(**fields)))


def _guarded(call: Callable[[], dict]) -> dict:
    """``call()``, with bad input (data, config, model) ended as one ``error:`` line and exit code 2."""
    try:
        return call()
    except UnreadableFile as e:  # nothing to skip: the file cannot be read on
        fail(str(e))
    except DataError as e:
        fail(f"{e} (--skip-invalid skips such records and reports them)")
    except (ValueError, KeyError, OSError, ImportError) as e:
        fail(describe(e))


def _fmt(x: Optional[float], digits: int = 3) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def _done(results: dict, json_out: Optional[Path]) -> None:
    report_read(results["read"], results["read"].get("path"))
    if "scores_file" in results["read"]:
        report_read(results["read"]["scores_file"], results["read"]["scores_file"]["path"])
    if "completeness" in results["read"]:
        out.print(f"note: completeness {results['read']['completeness']}", highlight=False, markup=False)
    if json_out:
        out.print(f"results written to {json_out}", highlight=False, markup=False)


@eval_app.command("processbench")
def processbench(
    data: Optional[str] = typer.Argument(None, help="ProcessBench folder or file (optional with --scores that carry labels)."),
    model: Optional[str] = MODEL, spec: Optional[str] = SPEC, scores: Optional[str] = SCORES,
    threshold_policy: str = typer.Option("fixed", "--threshold-policy", help="fixed | calibrated | oracle (an upper bound)."),
    threshold: float = typer.Option(0.5, "--threshold", help="Fixed threshold (tie preference of the other policies)."),
    calibrate_on: Optional[str] = typer.Option(None, "--calibrate-on", help="Subset name or file to calibrate on."),
    fmt: Optional[str] = FORMAT, option: Optional[List[str]] = OPTION, skip_invalid: bool = SKIP,
    json_out: Optional[Path] = JSON_OUT,
) -> None:
    """First-error identification: error/correct accuracy and F1 per subset, average F1 (the paper's)."""
    r = _run(benchmark="processbench", data=data, data_format=data_format(fmt, option), model=model, spec=spec, scores=scores,
             threshold_policy=threshold_policy, threshold=threshold, calibrate_on=calibrate_on,
             skip_invalid=skip_invalid, json_out=str(json_out) if json_out else None)
    th = r["threshold"]
    title = f"ProcessBench, scores from {escape(r['scored_by'])}, threshold {th['threshold']:.4g} ({th['policy']}"
    title += f" on {escape(th['calibrated_on'])})" if "calibrated_on" in th else ")"
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD)
    for col in ("subset", "error acc", "correct acc", "F1", "errors", "corrects"):
        table.add_column(col, justify="left" if col == "subset" else "right")
    for name, s in r["subsets"].items():
        table.add_row(escape(name), _fmt(s["error_acc"]), _fmt(s["correct_acc"]), _fmt(s["f1"]), str(s["n_error"]),
                      str(s["n_correct"]))
    table.add_section()
    table.add_row("average F1" + (" (UPPER BOUND)" if th.get("upper_bound") else ""), "", "", _fmt(r["average_f1"]), "", "")
    out.print(table)
    if th.get("upper_bound"):
        out.print(f"[bold yellow]oracle:[/bold yellow] {escape(th['note'])}", highlight=False)
    if "in_sample_subsets" in th:
        out.print(f"note: {', '.join(th['in_sample_subsets'])} was used to calibrate, so its row is in-sample",
                  highlight=False, markup=False)
    if "average_f1_at_fixed" in th:
        out.print(f"average F1 at the fixed threshold {threshold:g}: {_fmt(th['average_f1_at_fixed'])}", highlight=False)
    _done(r, json_out)


@eval_app.command("prmbench")
def prmbench(
    data: Optional[str] = typer.Argument(None, help="PRMBench folder or file (optional with --scores that carry labels)."),
    model: Optional[str] = MODEL, spec: Optional[str] = SPEC, scores: Optional[str] = SCORES,
    threshold: float = typer.Option(0.5, "--threshold", help="A step is predicted valid when score > threshold."),
    fmt: Optional[str] = FORMAT, option: Optional[List[str]] = OPTION, skip_invalid: bool = SKIP,
    json_out: Optional[Path] = JSON_OUT,
) -> None:
    """PRMScore (0.5 F1 + 0.5 negative F1), first-error and step accuracies, per classification."""
    r = _run(benchmark="prmbench", data=data, data_format=data_format(fmt, option), model=model, spec=spec, scores=scores,
             threshold=threshold, skip_invalid=skip_invalid, json_out=str(json_out) if json_out else None)
    table = Table(title=f"PRMBench, scores from {escape(r['scored_by'])}, valid if score > {threshold:g}",
                  title_justify="left", box=box.SIMPLE_HEAD)
    cols = ("classification", "PRMScore", "F1", "neg F1", "1st err acc", "correct step", "wrong step", "total step",
            "samples", "steps")
    for col in cols:
        table.add_column(col, justify="left" if col == "classification" else "right")
    keys = ("prm_score", "f1", "negative_f1", "first_error_acc", "correct_step_acc", "wrong_step_acc", "total_step_acc")
    rows = list(r["classes"].items())
    for i, (name, s) in enumerate(rows + [("overall (without correct)", r["overall"])]):
        table.add_row(escape(name), *(_fmt(s[k]) for k in keys), str(s["samples"]), str(s["steps"]),
                      end_section=i == len(rows) - 1)
    out.print(table)
    groups = [f"{g} {_fmt(v['prm_score'])}" + (f" (without {', '.join(v['missing'])})" if v["missing"] else "")
              for g, v in r["groups"].items()]
    out.print(f"PRMScore by group (mean of its classes): {'; '.join(groups)}", highlight=False, markup=False)
    for note, n in r["notes"].items():
        out.print(f"note: {n} {note}", highlight=False, markup=False)
    _done(r, json_out)


@eval_app.command("bon")
def bon(
    data: str = typer.Argument(..., help="Candidate sets: examples sharing a problem id, with 'correct' and scores."),
    model: Optional[str] = MODEL, spec: Optional[str] = SPEC, scores: Optional[str] = SCORES,
    aggregate: str = typer.Option("min", "--aggregate", help="Step-score aggregation: min, prod, last, mean or geometric_mean."),
    n: Optional[str] = typer.Option(None, "--n", help="Comma-separated N values (default 1,2,4,... up to the set size)."),
    subsets: int = typer.Option(100, "--subsets", help="Random size-N subsets per problem (K)."),
    bootstrap: int = typer.Option(1000, "--bootstrap", help="Bootstrap resamples over problems (B)."),
    first_n: bool = typer.Option(False, "--first-n", help="N below the set size: the first N candidates in file "
                                 "order (Qwen2.5-Math rm_maj_eval.py), not the average over size-N subsets."),
    exact_vote: bool = typer.Option(False, "--exact-vote", help="Vote over identical answer strings (as rm_maj_eval.py), "
                                    "not answers math-verify finds equal."),
    seed: int = SEED, fmt: Optional[str] = FORMAT, option: Optional[List[str]] = OPTION,
    skip_invalid: bool = SKIP, json_out: Optional[Path] = JSON_OUT,
) -> None:
    """Best-of-N: pass@N, maj@N, RM@N and PRM-weighted vote, with bootstrap 95% intervals."""
    try:
        ns = tuple(int(k) for k in n.split(",")) if n else None
    except ValueError:
        fail(f"--n {n!r} is not a comma-separated list of integers")
    r = _run(benchmark="bon", data=data, data_format=data_format(fmt, option), model=model, spec=spec, scores=scores, aggregate=aggregate,
             n=ns, subsets_per_problem=subsets, first_n=first_n, exact_vote=exact_vote, bootstrap=bootstrap, seed=seed,
             skip_invalid=skip_invalid, json_out=str(json_out) if json_out else None)
    sizes = ", ".join(f"{k} x{v}" for k, v in r["set_sizes"].items())
    table = Table(title=f"Best-of-N on {r['problems']} problems (set sizes {sizes}), "
                        f"scores from {escape(r['scored_by'])}, "
                        f"aggregate {aggregate}", title_justify="left", box=box.SIMPLE_HEAD)
    for col in ("N", "pass@N", "maj@N", "RM@N", "weighted@N"):
        table.add_column(col, justify="right")
    for k, row in r["n"].items():
        table.add_row(k, *(f"{_fmt(row[m]['value'])} [{_fmt(row[m]['ci'][0])}, {_fmt(row[m]['ci'][1])}]"
                           for m in ("pass", "maj", "rm", "weighted")))
    out.print(table)
    rule = ("uses the first N candidates in file order" if first_n else
            f"averages all size-N subsets, or {subsets} random ones per problem when there are more")
    out.print(f"[lo, hi] = bootstrap 95% interval over problems ({bootstrap} resamples); N below the set size {rule}",
              highlight=False, markup=False)
    if exact_vote:
        out.print("votes: identical answer strings (--exact-vote)", highlight=False, markup=False)
    if r["candidates_without_answer"]:
        out.print(f"note: {r['candidates_without_answer']} candidate(s) have no final answer and cannot vote "
                  "(maj@N and weighted@N count a set with no answer as wrong)", highlight=False)
    _done(r, json_out)


@eval_app.command("pairwise")
def pairwise(
    files: List[str] = typer.Argument(..., help="One file per PRM of scored chosen/rejected solutions."),
    fmt: Optional[str] = FORMAT, option: Optional[List[str]] = OPTION, skip_invalid: bool = SKIP,
    json_out: Optional[Path] = JSON_OUT,
) -> None:
    """Chosen-vs-rejected accuracy per PRM (row) and aggregation (column); ties count as wrong."""
    from ..aggregate import AGGREGATORS

    reader = data_format(fmt, option)
    results = {f: _run(benchmark="pairwise", data=f, data_format=reader, skip_invalid=skip_invalid) for f in files}
    table = Table(title="Pairwise accuracy: aggregate(chosen) > aggregate(rejected); ties count as wrong",
                  title_justify="left", box=box.SIMPLE_HEAD)
    for col in ("PRM", "pairs", "unpaired", "skipped", *AGGREGATORS):
        table.add_column(col, justify="left" if col == "PRM" else "right")
    for r in results.values():
        cells = []
        for name in AGGREGATORS:
            a = r["aggregations"][name]
            cells.append(_fmt(a["accuracy"]) + (f" ({a['ties']} ties)" if a["ties"] else "")
                         + (f" ({a['unscored']} unscored)" if a["unscored"] else ""))
        table.add_row(escape(r["prm"]), str(r["pairs"]), str(r["unpaired_problems"]),
                      str(sum(r["read"]["skipped"].values())), *cells)
    out.print(table)
    for f, r in results.items():
        report_read(r["read"], r["read"].get("path"))
        if r["unpaired_problems"]:
            err.print(f"{f}: {r['unpaired_problems']} problem(s) lack a chosen or a rejected solution and give no pair: "
                      f"{', '.join(r['unpaired_ids'])}", highlight=False, markup=False)
    if json_out:
        try:
            json_out.write_text(json.dumps({"files": results}, indent=2) + "\n")
        except OSError as e:
            fail(describe(e))
        out.print(f"results written to {json_out}", highlight=False, markup=False)


@eval_app.command("robustness")
def robustness(
    model: str = typer.Option(..., "--model", "-m", help="Scorer: 'fake', a model folder or hub id, or pkg.mod:Class."),
    spec: Optional[str] = SPEC,
    data: Optional[List[str]] = typer.Option(None, "--data", help="Problem file (repeatable; any readable format, "
                                             "solutions ignored). Default: MATH-500 and GSM8K test in ../shared/data."),
    limit: int = typer.Option(200, "--limit", help="The first N problems of each file (0: all)."),
    threshold: float = typer.Option(0.5, "--threshold", help="A response is accepted when its score >= threshold."),
    aggregate: str = typer.Option("min", "--aggregate", help="Step-score aggregation: min, prod, last, mean or geometric_mean."),
    fmt: Optional[str] = FORMAT, option: Optional[List[str]] = OPTION, skip_invalid: bool = SKIP,
    json_out: Optional[Path] = JSON_OUT,
) -> None:
    """Master-key probe: how often the scorer accepts ':', 'Solution', 'Thought process:'... (all wrong) as correct."""
    from ..pipelines.robustness import RobustnessConfig, run

    def probe() -> dict:
        config = RobustnessConfig(model=model, spec=spec, **({"data": tuple(data)} if data else {}),
                                  data_format=data_format(fmt, option), limit=limit or None, threshold=threshold,
                                  aggregate=aggregate, skip_invalid=skip_invalid,
                                  json_out=str(json_out) if json_out else None)
        with bars() as start:  # inside _guarded: the bar stops before an error line is printed
            return run(config, progress=start)

    r = _guarded(probe)
    table = Table(title=f"Master-key probe on {r['problems']} problems, scores from {escape(r['scored_by'])}, "
                        f"accepted if {r['aggregate']} score >= {r['threshold']:g}", title_justify="left", box=box.SIMPLE_HEAD)
    cols = ("key", "language", "n", "scored", "unscored", "accepted", "FPR", "mean score")
    for col in cols:
        table.add_column(col, justify="left" if col in ("key", "language") else "right", no_wrap=col == "key")

    def row(key: str, language: str, t: dict, end_section: bool = False) -> None:
        table.add_row(key, escape(language), str(t["n"]), str(t["scored"]), str(t["unscored"]) if t["unscored"] else "-",
                      str(t["accepted"]), _fmt(t["fpr"]), _fmt(t["mean_score"]), end_section=end_section)

    for i, k in enumerate(r["keys"]):
        row(escape(json.dumps(k["key"], ensure_ascii=False)), k["language"], k, end_section=i == len(r["keys"]) - 1)
    for i, (language, t) in enumerate(r["by_language"].items()):
        row("all keys", language, t, end_section=i == len(r["by_language"]) - 1)
    row("overall", "all", r["overall"])
    out.print(table)
    out.print("every master-key response is wrong, so FPR = accepted / scored; unscored responses (no score) are "
              "counted apart, neither accepted nor rejected", highlight=False, markup=False)
    if r["overall"]["unscored"]:
        out.print(f"note: {r['overall']['unscored']} of {r['overall']['n']} responses got no score", highlight=False,
                  markup=False)
    for info in r["read"]:
        report_read(info, info["path"])
    if json_out:
        out.print(f"results written to {json_out}", highlight=False, markup=False)


def _score_style(score: Optional[float]) -> str:
    return "[dim]-[/dim]" if score is None else f"[{'red' if score < 0.5 else 'green'}]{score:.3f}[/]"


def _show(examples: list, k: int) -> None:
    for ex in examples[:k]:
        table = Table(title=f"{escape(ex.problem.id)}: {escape(ex.problem.question[:100])}", title_justify="left",
                      box=box.SIMPLE_HEAD, show_lines=False)
        table.add_column("#", justify="right")
        table.add_column("score", justify="right")
        table.add_column("label", justify="right")
        table.add_column("step")
        labels = ex.labels.values if ex.labels is not None else (None,) * len(ex.solution.steps)
        for i, (step, s, lab) in enumerate(zip(ex.solution.steps, ex.scores.values, labels)):
            text = " ".join(step.split())
            table.add_row(str(i), _score_style(s), "-" if lab is None else f"{lab:g}",
                          escape(text[:117] + "..." if len(text) > 120 else text))
        out.print(table)
    if examples[:k]:
        out.print("score < 0.5 in red, >= 0.5 in green; label = the gold step label, when the data has one",
                  highlight=False)


def _score_on_ray(examples: list, model: str, spec: Optional[str], workers: int, address: Optional[str],
                  gpus: float) -> list:
    """``score_examples_ray``; a worker's failure or a runtime that cannot start ends as one error line too."""
    from ..scoring_ray import score_examples_ray

    try:
        return score_examples_ray(model, examples, spec=spec, workers=workers, num_gpus=gpus, address=address)
    except RuntimeError as e:
        fail(describe(e))


def register(app: typer.Typer) -> None:
    """Add the top-level `prmkit score` command to ``app``."""

    @app.command("score")
    def score(
        data: str = typer.Argument(..., help="File, folder or hub id of solutions to score."),
        model: str = typer.Option(..., "--model", "-m", help="Scorer: 'fake', a model folder or hub id, or pkg.mod:Class."),
        spec: Optional[str] = SPEC,
        out_path: Path = typer.Option(..., "--out", help="Output file (prmkit JSONL, optionally .gz)."),
        show: int = typer.Option(3, "--show", help="Print the first K solutions with their step scores."),
        fmt: Optional[str] = FORMAT,
        option: Optional[List[str]] = typer.Option(None, "--option", "-o", help="Reader option key=value, e.g. with_correct_samples=true."),
        skip_invalid: bool = SKIP,
        executor: str = typer.Option("local", "--executor", help="'local': here, chunk after chunk; 'ray': a pool of "
                                     "scorer actors on Ray Data (same scores, in input order; docs/scaling.md)."),
        workers: int = typer.Option(2, "--workers", help="Ray actors, one CPU each (with --executor ray)."),
        ray_address: Optional[str] = typer.Option(None, "--ray-address", help="A Ray cluster to join (ray://host:10001, "
                                                  "host:6379 or auto); default: start a local one on 127.0.0.1."),
        gpus_per_worker: float = typer.Option(0.0, "--gpus-per-worker", help="GPUs per Ray actor (an HF model on a "
                                              "GPU cluster)."),
    ) -> None:
        """Score every step with a PRM, write the examples with their scores, and show the first K."""

        from ..backends import load_scorer
        from ..data import ReadReport, read, write
        from ..scoring import score_examples

        if executor not in ("local", "ray"):
            fail(f"--executor {executor}: use local or ray")
        options = parse_options(option)
        report = ReadReport()
        try:
            if executor == "ray":
                examples = _score_on_ray(list(read(data, fmt, skip_invalid=skip_invalid, report=report, **options)),
                                         model, spec, workers, ray_address, gpus_per_worker)
            else:
                scorer = load_scorer(model, spec=spec)
                examples = list(score_examples(scorer, read(data, fmt, skip_invalid=skip_invalid, report=report, **options)))
            n = write(examples, out_path, "prmkit")
        except (DataError, ValueError, KeyError, OSError, ImportError) as e:
            fail(describe(e))
        _show(examples, show)
        report_read(report.to_dict(), data)
        out.print(f"wrote {n} scored example(s) to {out_path}", highlight=False, markup=False)
