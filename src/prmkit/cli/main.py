"""The ``prmkit`` command line: ``prmkit data convert|stats``, ``prmkit ls formats|scorers``, and the
``eval``/``score`` (cli/eval.py), ``world`` (cli/world.py) and ``annotate`` (cli/annotate.py) groups.

Bad input ends the command with one line ``error: FILE:LINE: field 'F': reason`` on stderr and
exit code 2; ``--skip-invalid`` skips such records instead and reports how many, by reason.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, List, Optional

import typer
from rich.markup import escape
from rich.table import Table

from ..errors import DataError
from .common import build_config, describe, err, fail, out, parse_options, progress, report_read

app = typer.Typer(help="prmkit: process reward models end to end.", no_args_is_help=True, add_completion=False)


def _print_version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        out.print(f"prmkit {version('prmkit')}", highlight=False)
        raise typer.Exit()


@app.callback()
def _global_options(
    verbose: bool = typer.Option(False, "--verbose", help="Also show the libraries' logs, progress bars and warnings "
                                 "(transformers, datasets, ...); same as PRMKIT_VERBOSE=1."),
    version: bool = typer.Option(False, "--version", callback=_print_version, is_eager=True,
                                 help="Print prmkit's version and exit."),
) -> None:
    """prmkit: process reward models end to end."""
    from ..logs import quiet

    quiet(keep=verbose)  # before any command imports transformers or datasets


data_app = typer.Typer(help="Read, convert and describe PRM datasets.", no_args_is_help=True)
ls_app = typer.Typer(help="List what is built in.", no_args_is_help=True)
app.add_typer(data_app, name="data")
app.add_typer(ls_app, name="ls")
from .eval import eval_app, register as _register_eval  # noqa: E402  (eval commands live in their own file)

app.add_typer(eval_app, name="eval")
from .world import world_app  # noqa: E402

app.add_typer(world_app, name="world")
from .annotate import annotate_app  # noqa: E402

app.add_typer(annotate_app, name="annotate")
from .search import search  # noqa: E402

app.command("search")(search)


from ..server.config import ServeConfig as _Serve  # noqa: E402  (light: the defaults of `prmkit serve`)


@app.command("serve")
def serve(
    model: str = typer.Option(..., "--model", "-m", help="Scorer: model folder, hub id, 'fake' or pkg.mod:Class."),
    spec: Optional[str] = typer.Option(None, help="PRM family, if the model folder carries none."),
    host: str = typer.Option(_Serve.host, help="Address to bind; anything but loopback needs --token."),
    port: int = typer.Option(_Serve.port, help="Port to listen on, 1-65535."),
    token: Optional[str] = typer.Option(None, envvar="PRMKIT_TOKEN", help="Bearer token clients must send."),
    separator: str = typer.Option("\\n", help="Splits raw texts into steps, taken literally except the escapes "
                                               "\\n \\t \\r \\\\ (e.g. ' ки' or '\\n\\n')."),
    max_batch_items: int = typer.Option(_Serve.max_batch_items, help="Micro-batching: solutions per scorer call at most."),
    max_wait_ms: float = typer.Option(_Serve.max_wait_ms, help="Micro-batching: also wait this long for more requests."),
    max_request_bytes: int = typer.Option(_Serve.max_request_bytes, help="Largest request body (413 beyond)."),
    max_items: int = typer.Option(_Serve.max_items, help="Items, queries or inputs per request at most (422 beyond)."),
    max_steps: int = typer.Option(_Serve.max_steps, help="Steps per solution at most (422 beyond)."),
    max_chars: int = typer.Option(_Serve.max_chars, help="Characters per string at most (422 beyond)."),
    request_timeout: float = typer.Option(_Serve.request_timeout, help="Seconds a request waits for scores (504 after)."),
    body_timeout: float = typer.Option(_Serve.body_timeout, help="Seconds a client has to send its body (408 after)."),
    limit_concurrency: int = typer.Option(_Serve.limit_concurrency, help="Connections and requests at most (503 beyond)."),
    shutdown_timeout: float = typer.Option(_Serve.shutdown_timeout, help="Seconds SIGTERM waits for requests in flight."),
    policy: Optional[str] = typer.Option(None, help="Generator (model folder, hub id, bundled-policy, http://.../v1): "
                                         "adds OpenAI-compatible /v1/chat/completions and /v1/completions, searched "
                                         "with the PRM when a request gives a 'budget'."),
    template: str = typer.Option("{question}\\n", help="The policy's prompt around the question, escapes as in "
                                 "--separator."),
    max_budget: int = typer.Option(_Serve.max_budget, help="Largest search 'budget' (and 'n') of a request (422 beyond)."),
    search_concurrency: int = typer.Option(_Serve.search_concurrency, help="Searches and generations running at once."),
    search_queue: int = typer.Option(_Serve.search_queue, help="Searches that may wait for a free slot (429 beyond)."),
) -> None:
    """Serve step rewards over HTTP: /v1/score, OpenRLHF /get_reward, vLLM-style /pooling, /health, /metrics; with
    --policy, PRM-guided search behind OpenAI's /v1/chat/completions and /v1/completions."""
    from ..server import load_policy_for, load_scorer_for, parse_separator
    from ..server import serve as run_server

    try:
        config = _Serve(model=model, spec=spec, host=host, port=port, token=token, separator=parse_separator(separator),
                        max_batch_items=max_batch_items, max_wait_ms=max_wait_ms, max_request_bytes=max_request_bytes,
                        max_items=max_items, max_steps=max_steps, max_chars=max_chars, request_timeout=request_timeout,
                        body_timeout=body_timeout, limit_concurrency=limit_concurrency, shutdown_timeout=shutdown_timeout,
                        policy=policy, template=parse_separator(template), max_budget=max_budget,
                        search_concurrency=search_concurrency, search_queue=search_queue)
        scorer = load_scorer_for(config)  # as `prmkit eval` does: a bad --model is one line, exit code 2
        generator = load_policy_for(config)  # and so is a bad --policy
    except (ValueError, KeyError, OSError, ImportError) as e:
        fail(str(e).strip('"'))
    run_server(config, scorer, generator)


@app.command("quickstart")
def quickstart(
    out_dir: Path = typer.Option(Path("runs/quickstart"), "--out", help="Where everything goes; rerun to resume."),
    train_problems: int = typer.Option(400, help="Policy solutions to label and train on."),
    bench_problems: int = typer.Option(300, help="Held-out solutions for first-error F1."),
    search_problems: int = typer.Option(60, help="Held-out problems to search."),
    seed: int = typer.Option(100),
) -> None:
    """The whole pipeline on the synthetic world: sample, annotate, train a PRM, evaluate, search; an HTML report."""
    from types import SimpleNamespace

    from ..pipelines.quickstart import QuickstartConfig, run
    from .annotate import _progress as annotate_progress
    from .search import _progress as search_progress
    from .search import print_summary

    config = QuickstartConfig(out=str(out_dir), train_problems=train_problems, bench_problems=bench_problems,
                              search_problems=search_problems, seed=seed)
    with annotate_progress() as a, search_progress() as s:
        summary = run(config, log=lambda line: out.print(line, highlight=False, markup=False),
                      progress=SimpleNamespace(annotate=a, search=s, train=s))
    print_summary({"problems": search_problems, "accuracy": summary["search"]})
    pb, q = summary["processbench"], summary["labels"]["quality"]
    out.print(f"MC labels vs exact: first-error accuracy {q['first_error_accuracy']:.3f}; PRM first-error F1 on held-out "
              f"solutions {pb['f1_calibrated']:.3f} (calibrated threshold {pb['threshold']:.2f}; {pb['f1_at_0.5'] or 0:.3f} at 0.5)",
              highlight=False)
    out.print("first-error F1 at 0.5 / verifier tokens per solution: " + "; ".join(
        f"{name} {r['f1@0.5'] or 0:.3f} / {r['tokens_per_solution']:,.0f}" for name, r in summary["verifiers"].items()),
        highlight=False)
    total = sum(summary["seconds"].values())
    out.print(f"done in {total / 60:.1f} min; report: {(out_dir / 'report.html').resolve()}", highlight=False)
_register_eval(app)

OPTION_HELP = "Format option as key=value (repeatable), e.g. -o neutral=negative."


@data_app.command("convert")
def convert(
    src: Path = typer.Argument(..., help="Input file or directory (or a hub dataset id)."),
    dst: str = typer.Argument(..., help="Output file (.json/.jsonl, optionally .gz)."),
    fmt: Optional[str] = typer.Option(None, "--format", "-f", help="Input format (detected when omitted)."),
    from_: Optional[str] = typer.Option(None, "--from", hidden=True, help="Old spelling of --format."),
    to: str = typer.Option("prmkit", "--to", help="Output format."),
    skip_invalid: bool = typer.Option(False, "--skip-invalid", help="Skip malformed records and report them."),
    option: Optional[List[str]] = typer.Option(None, "--option", "-o", help=OPTION_HELP),
    write_option: Optional[List[str]] = typer.Option(None, "--write-option", "-w", help="Writer option key=value."),
) -> None:
    """Convert a dataset between formats, e.g. `--format processbench --to trl-stepwise`."""
    from ..data import ReadReport, read, write

    report = ReadReport()
    try:
        if fmt and from_ and fmt != from_:
            raise ValueError(f"--format {fmt} and --from {from_} disagree (--from is the old spelling of --format)")
        examples = read(str(src), fmt or from_, skip_invalid=skip_invalid, report=report, **parse_options(option))
        n = write(progress(examples, f"converting {src.name}"), dst, to, **parse_options(write_option))
    except (DataError, ValueError, KeyError, OSError) as e:
        fail(describe(e))
    report_read(report.to_dict())
    out.print(f"wrote {n} record(s) from {report.examples} example(s) ({report.records} input records) to {dst}",
              highlight=False, markup=False)


@data_app.command("stats")
def stats(
    path: str = typer.Argument(..., help="File, directory or hub dataset id."),
    fmt: Optional[str] = typer.Option(None, "--format", "-f", help="Input format (detected when omitted)."),
    by: str = typer.Option("subset", "--by", help="problem.metadata key to break down by ('' for none)."),
    skip_invalid: bool = typer.Option(False, "--skip-invalid", help="Skip malformed records and report them."),
    option: Optional[List[str]] = typer.Option(None, "--option", "-o", help=OPTION_HELP),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Also write the statistics as JSON here."),
) -> None:
    """Items, steps per solution, label balance and first-error positions, per subset."""
    from ..data import ReadReport, read
    from ..data.stats import dataset_stats

    report = ReadReport()
    try:
        examples = read(path, fmt, skip_invalid=skip_invalid, report=report, **parse_options(option))
        result = dataset_stats(progress(examples, f"reading {Path(path).name}"), by=by or None)
    except (DataError, ValueError, KeyError) as e:
        fail(describe(e))
    result["read"] = {"records": report.records, "skipped": dict(report.skipped), "notes": dict(report.notes)}
    _print_stats(path, result)
    report_read(report.to_dict())
    if json_out:
        try:
            json_out.write_text(json.dumps(result, indent=2))
        except OSError as e:
            fail(describe(e))
        out.print(f"statistics written to {json_out}", highlight=False, markup=False)


def _print_stats(path: str, result: dict[str, Any]) -> None:
    from rich import box

    rows = list(result["groups"].items())
    rows = (rows if len(rows) > 1 else []) + [("total", result["total"])]
    table = Table(title=f"{escape(path)}: {result['total']['items']} items", title_justify="left", box=box.SIMPLE_HEAD)
    for col in ("group", "items", "problems", "steps", "max", "error", "correct", "pos", "neg", "unlab"):
        table.add_column(col, justify="left" if col == "group" else "right", no_wrap=True)
    for name, s in rows:
        sl = s["step_labels"]
        table.add_row(escape(str(name)), str(s["items"]), str(s["problems"]), f"{s['steps_per_solution']['mean']:.2f}",
                      str(s["steps_per_solution"]["max"]), str(s["error"]), str(s["correct"]),
                      str(sl["positive"]), str(sl["negative"]), str(sl["unlabelled"]),
                      end_section=len(rows) > 1 and name == rows[-2][0])
    out.print(table)
    out.print("steps = mean steps per solution; error/correct = labelled solutions with/without a wrong step; "
              "pos/neg/unlab = step labels", highlight=False)
    total = result["total"]
    if total["positive_fraction"] is not None:
        out.print(f"label balance: {total['positive_fraction']:.1%} of labelled steps positive"
                  + (f"; mean soft label {total['soft_label_mean']}" if "soft_label_mean" in total else ""), highlight=False)
    if total["duplicate_ids"]:
        out.print(f"duplicate ids: {total['duplicate_ids']} (kept)", highlight=False)
    hist = total["first_error_histogram"]
    if hist:
        peak = max(hist.values())
        out.print("first-error position (0-based step: count)", highlight=False)
        for step, n in hist.items():
            out.print(f"  {step:>4} {n:>6} {'█' * max(1, round(30 * n / peak))}", highlight=False)


@app.command("train")
def train(
    overrides: Optional[List[str]] = typer.Argument(None, help="TrainConfig fields as key=value, e.g. lr=1e-4 labels=hard."),
    config: Optional[Path] = typer.Option(None, "--config", help="YAML file of TrainConfig fields (overrides win)."),
) -> None:
    """Train a PRM (step labels soft or hard, outcome, or implicit) with the spec that will score it; rerun to resume."""
    import yaml

    from ..pipelines.train import TrainConfig, run
    from .common import bars

    fields = yaml.safe_load(config.read_text()) if config else {}
    fields.update(parse_options(overrides))
    try:
        with bars() as start:
            summary = run(build_config(TrainConfig, fields, "training"),
                          log=lambda line: out.print(line, highlight=False, markup=False), progress=start)
    except (TypeError, ValueError, DataError) as e:
        fail(str(e).strip('"'))
    for what, n in summary["report"].items():
        err.print(f"{n:>8}  {what}", highlight=False)
    if summary["train_seconds"]:
        err.print(f"{summary['tokens'] / summary['train_seconds']:>8.0f}  training tokens/s", highlight=False)


@ls_app.command("formats")
def ls_formats() -> None:
    """Data formats that `--format` (reading) and `--to` (writing) accept."""
    from ..data import FORMATS
    from ..registry import resolve

    table = Table("name", "write", "description")
    examples = []
    for name, target in FORMATS.items():
        mod = resolve(name, FORMATS, "format", modules=True)
        table.add_row(name, "yes" if hasattr(mod, "dump") else "-", mod.DESCRIPTION)
        if hasattr(mod, "EXAMPLE"):
            examples.append(f"  {name}: prmkit data stats FILE {mod.EXAMPLE}")
    out.print(table)
    out.print("\n".join(["examples (options as -o key=value, on every command that reads data):", *examples]),
              highlight=False, markup=False)
    out.print("your own format: --format mymodule or --format mypkg.myformat (a module on the Python path; "
              "see docs/data_formats.md)", highlight=False, markup=False)


@ls_app.command("scorers")
def ls_scorers() -> None:
    """Scorer backends and the PRM families (specs) the HF scorer knows."""
    from ..backends import SCORERS
    from ..backends.families import FAMILIES
    from ..registry import resolve

    table = Table("scorer", "implementation", title="scorers (--model NAME, or a model folder / hub id for 'hf')",
                  title_justify="left")
    for name, target in SCORERS.items():
        table.add_row(name, target)
    out.print(table)
    table = Table("family (--spec)", "head", "template", "step tag", "reference model", title="PRM families",
                  title_justify="left")
    for name in FAMILIES:
        spec = resolve(name, FAMILIES, "PRM family")()
        table.add_row(name, spec.head + (f" {spec.label_words}" if spec.label_words else ""), spec.template,
                      repr(spec.step_tag), spec.model_id or "-")
    out.print(table)
    from ..backends.generative import VERIFIER_PROMPTS

    table = Table("prompt (--spec generative:NAME)", "chain", "verdict words", "code", title="generative verifier "
                  "prompts (any generator as --model; docs/generative.md)", title_justify="left")
    for name, prompt in VERIFIER_PROMPTS.items():
        table.add_row(name, "guided" if prompt.guided else "free", f"{prompt.correct} / {prompt.incorrect}",
                      "python" if prompt.code else "-")
    out.print(table)


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except DataError as e:  # a lazily raised error escaping a command
        err.print(f"error: {e}", highlight=False, markup=False, soft_wrap=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
