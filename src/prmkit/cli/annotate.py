"""`prmkit annotate mc|binary-search|judge|tool|verifier|consensus|compare|chains`: automatic step labels, resumable.

Each command builds an ``AnnotateConfig`` and calls ``prmkit.pipelines.annotate.run``; a killed
command rerun with the same arguments resumes from its job folder (``--out``).
"""

from __future__ import annotations

import json
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, List, Optional

import typer
from rich import box
from rich.table import Table

from .common import OPTION, data_format, err, fail, out, parse_options, report_read

annotate_app = typer.Typer(help="Label solution steps automatically (Monte-Carlo rollouts, binary search, LLM judge, "
                                "tool checks, consensus), resumably, with a quality report against gold labels.",
                           no_args_is_help=True)

DATA = typer.Argument(..., help="Solutions to label (file, folder or hub id; any readable format).")
OUT = typer.Option(..., "--out", help="Job folder: progress (job.sqlite), labels, report. Rerun to resume.")
FORMAT = typer.Option(None, "--format", "-f", help="Input format (detected when omitted).")
LIMIT = typer.Option(None, help="Label only the first N solutions.")
GENERATOR = typer.Option(..., "--generator", help="Rollout policy: model folder, hub id or http://host:port/v1.")
GEN_OPTION = typer.Option(None, "--generator-option", "-g", help="Generator option key=value (e.g. model=NAME).")
TEMPLATE = typer.Option("{question}\n", help="Rollout prompt before the steps ({question}).")
SEPARATOR = typer.Option("\n", help="Between steps in rollout prompts.")
TEMPERATURE = typer.Option(0.8, help="Rollout sampling temperature.")
ROLLOUT_TOKENS = typer.Option(256, help="New tokens at most per rollout.")
ROUND = typer.Option(2, help="Rollouts per round (early-stopped prefixes and probes stop at the first success).")
CHUNK = typer.Option(16, help="Solutions per committed unit of work.")
MAX_ROLLOUTS = typer.Option(None, help="Budget: stop once the job has generated this many rollouts.")
MAX_TOKENS = typer.Option(None, help="Budget: stop once the job has generated this many tokens.")
SEED = typer.Option(0)
SKIP = typer.Option(False, "--skip-invalid", help="Skip malformed input records and report them.")
JSON_OUT = typer.Option(None, "--json", help="Also write the report here.")
EXECUTOR = typer.Option("local", help="'local': chunks one after another here; 'ray': chunks on Ray actors "
                        "(same labels; docs/scaling.md).")
WORKERS = typer.Option(2, help="Ray actors, one CPU each (with --executor ray).")
RAY_ADDRESS = typer.Option(None, help="A Ray cluster to join (ray://host:10001, host:6379 or auto); default: start a "
                           "local one on 127.0.0.1.")
GPUS = typer.Option(0.0, help="GPUs per Ray actor (for a local HF generator on a GPU cluster).")


@contextmanager
def _progress() -> Iterator[Any]:
    """A live bar per method: solutions done, rollouts and tokens spent, rollout rate, elapsed and ETA."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    columns = (TextColumn("{task.description:>16}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[spent]}"),
               TimeElapsedColumn(), TimeRemainingColumn())
    bar = Progress(*columns, console=err)
    tasks: dict[str, Any] = {}
    start: dict[str, tuple[float, int]] = {}

    def update(method: str, done: int, total: int, spent: dict) -> None:
        if method not in tasks:
            bar.start()  # at the first chunk: a job refused up front prints its one error line, no empty bar
            tasks[method] = bar.add_task(method, total=total, spent="")
            start[method] = (time.perf_counter(), spent["rollouts"])
        t0, r0 = start[method]
        rate = (spent["rollouts"] - r0) / max(time.perf_counter() - t0, 1e-9)
        bar.update(tasks[method], completed=done,
                   spent=f"{spent['rollouts']:,} rollouts ({rate:.1f}/s) {spent['tokens']:,} tokens")

    try:
        yield update
    finally:
        if tasks:  # only a started bar is stopped: stopping prints a blank line when stderr is not a terminal
            bar.stop()


def _fmt(x: Optional[float]) -> str:
    return "-" if x is None else f"{x:.3f}"


def _print(report: dict) -> None:
    report_read(report["read"], report["data"])
    table = Table("method", "labelled", "rollouts", "tokens", "seconds", "step acc", "first-error acc", "PB F1",
                  "wrong-step F1", "step coverage", box=box.SIMPLE_HEAD,
                  title=f"{report['solutions']} solutions, {report['steps']} steps"
                        + (" (quality against the input's gold labels)" if report["gold"] else " (no gold labels)"),
                  title_justify="left")
    for name, m in report["methods"].items():
        q = m.get("quality", {})
        table.add_row(name, f"{m['labelled']}/{report['solutions']}", f"{m['rollouts']:,}", f"{m['tokens']:,}",
                      f"{m['seconds']:.1f}", _fmt(q.get("step_accuracy")), _fmt(q.get("first_error_accuracy")),
                      _fmt(q.get("f1")), _fmt(q.get("error_f1")), _fmt(q.get("step_coverage")))
    out.print(table)
    for name, m in report["methods"].items():
        if "unparseable_critiques" in m:
            out.print(f"{name}: {m['unparseable_critiques']} of {m['critiques']} critiques unparseable; "
                      f"{m['no_verdict']} solution(s) without a verdict (left unlabelled)", highlight=False)
        if "unscored_steps" in m:
            out.print(f"{name}: {m['unscored_steps']} of {report['steps']} steps got no score (left unlabelled)",
                      highlight=False)
        if "checkable_steps" in m:
            solutions = (f", {m['checkable_solutions']} of {report['solutions']} solutions (F1 is over all of them)"
                         if "checkable_solutions" in m else "")
            out.print(f"{name}: {m['checkable_steps']} of {report['steps']} steps checkable{solutions}, "
                      f"{m['flagged_steps']} flagged", highlight=False)
        by = m.get("by_outcome", {})
        if by:
            parts = [f"{v['flagged']} of {v['solutions']} with a {k.replace('_', ' ')}" for k, v in sorted(by.items())]
            out.print(f"{name}: solutions flagged with a wrong step: {'; '.join(parts)}", highlight=False)
    if "ray" in report:
        r = report["ray"]
        out.print(f"ray: {r['workers']} workers, {r['chunks']} chunks ({r['reruns']} rerun on cache their neighbours "
                  f"filled), {r['work_seconds']:.1f} s of work, overhead {100 * r['overhead_seconds'] / max(r['work_seconds'], 1e-9):.1f}%, "
                  f"start-up {r['start_seconds']:.1f} s", highlight=False)
    outputs = {name: m["outputs"] for name, m in report["methods"].items()}
    for name, o in outputs.items():
        note = f" ({o['trl_left_out']} without a label for every step left out of TRL)" if o["trl_left_out"] else ""
        out.print(f"{name}: {o['written']} labelled solution(s) -> {o['prmkit']}, {o['trl_written']} -> {o['trl']}{note}",
                  highlight=False)
    if report["stopped"]:
        err.print(f"[yellow]stopped early: {report['stopped']}; rerun with a larger budget to go on[/yellow]",
                  highlight=False)


# config fields whose option is not spelled --field-name
_FLAGS = {"max_tokens": "--rollout-tokens", "max_tokens_budget": "--max-tokens", "judge_samples": "--samples",
          "judge_max_tokens": "--critique-tokens"}


def _run(json_out: Optional[Path], **fields: Any) -> dict:
    from ..errors import DataError
    from ..pipelines.annotate import AT_LEAST, AnnotateConfig, run

    for name, least in AT_LEAST.items():  # checked here too, to name the option rather than the field
        value = fields.get(name)
        if value is not None and value < least:
            fail(f"{_FLAGS.get(name, '--' + name.replace('_', '-'))} must be at least {least}, got {value}")
    try:
        config = AnnotateConfig(**fields)
        with _progress() as update:
            report = run(config, progress=update)
    except (DataError, ValueError, KeyError, FileNotFoundError, ImportError) as e:
        fail(str(e).strip('"'))
    _print(report)
    if json_out:
        json_out.write_text(json.dumps(report, indent=2))
    out.print(f"report: {Path(fields['out']) / 'report.json'}", highlight=False)
    return report


@annotate_app.command("mc")
def mc(data: str = DATA, out_dir: Path = OUT, generator: str = GENERATOR, k: int = typer.Option(8, help="Rollouts per prefix."),
       early_stop: bool = typer.Option(False, "--early-stop", help="Hard labels: stop a prefix at its first success; "
                                       "label the steps after a failed prefix wrong without rollouts."),
       generator_option: Optional[List[str]] = GEN_OPTION, template: str = TEMPLATE, separator: str = SEPARATOR,
       temperature: float = TEMPERATURE, rollout_tokens: int = ROLLOUT_TOKENS, round_size: int = ROUND,
       fmt: Optional[str] = FORMAT, option: Optional[List[str]] = OPTION, limit: Optional[int] = LIMIT,
       chunk_size: int = CHUNK,
       max_rollouts: Optional[int] = MAX_ROLLOUTS, max_tokens: Optional[int] = MAX_TOKENS, seed: int = SEED,
       skip_invalid: bool = SKIP, json_out: Optional[Path] = JSON_OUT,
       executor: str = EXECUTOR, workers: int = WORKERS, ray_address: Optional[str] = RAY_ADDRESS,
       gpus_per_worker: float = GPUS) -> None:
    """Monte-Carlo estimation (Math-Shepherd): K rollouts from every step prefix; soft label = share that succeed."""
    _run(json_out, data=data, out=str(out_dir), methods=("mc",), generator=generator,
         generator_options=parse_options(generator_option), template=template, separator=separator, temperature=temperature,
         max_tokens=rollout_tokens, k=k, early_stop=early_stop, round_size=round_size, limit=limit,
         data_format=data_format(fmt, option),
         chunk_size=chunk_size, max_rollouts=max_rollouts, max_tokens_budget=max_tokens, seed=seed,
         skip_invalid=skip_invalid, executor=executor, workers=workers, ray_address=ray_address, gpus_per_worker=gpus_per_worker)


@annotate_app.command("binary-search")
def binary_search(data: str = DATA, out_dir: Path = OUT, generator: str = GENERATOR,
                  probe_size: int = typer.Option(8, help="Rollouts per probe at most."),
                  max_probes: Optional[int] = typer.Option(None, help="Probes per solution at most."),
                  generator_option: Optional[List[str]] = GEN_OPTION, template: str = TEMPLATE,
                  separator: str = SEPARATOR, temperature: float = TEMPERATURE, rollout_tokens: int = ROLLOUT_TOKENS,
                  round_size: int = ROUND, fmt: Optional[str] = FORMAT, option: Optional[List[str]] = OPTION,
                  limit: Optional[int] = LIMIT,
                  chunk_size: int = CHUNK, max_rollouts: Optional[int] = MAX_ROLLOUTS,
                  max_tokens: Optional[int] = MAX_TOKENS, seed: int = SEED, skip_invalid: bool = SKIP,
                  json_out: Optional[Path] = JSON_OUT,
       executor: str = EXECUTOR, workers: int = WORKERS, ray_address: Optional[str] = RAY_ADDRESS,
       gpus_per_worker: float = GPUS) -> None:
    """OmegaPRM binary search: locate each wrong solution's first error in O(log n) rollout probes."""
    _run(json_out, data=data, out=str(out_dir), methods=("binary-search",), generator=generator,
         generator_options=parse_options(generator_option), template=template, separator=separator, temperature=temperature,
         max_tokens=rollout_tokens, probe_size=probe_size, max_probes=max_probes, round_size=round_size,
         data_format=data_format(fmt, option), limit=limit, chunk_size=chunk_size, max_rollouts=max_rollouts,
         max_tokens_budget=max_tokens,
         seed=seed, skip_invalid=skip_invalid, executor=executor, workers=workers, ray_address=ray_address, gpus_per_worker=gpus_per_worker)


@annotate_app.command("judge")
def judge(data: str = DATA, out_dir: Path = OUT,
          judge_model: str = typer.Option(..., "--judge", help="Judge: model folder, hub id or http://host:port/v1."),
          judge_option: Optional[List[str]] = typer.Option(None, "--judge-option", "-j", help="Judge option key=value."),
          prompt: str = typer.Option("processbench", help="Critique prompt (prmkit.annotate.judge.PROMPTS)."),
          samples: int = typer.Option(1, help="Critiques per solution (majority vote)."),
          temperature: Optional[float] = typer.Option(None, help="Defaults to 0 for one sample, 0.7 for several."),
          critique_tokens: int = typer.Option(1024, help="New tokens at most per critique."),
          fmt: Optional[str] = FORMAT, option: Optional[List[str]] = OPTION, limit: Optional[int] = LIMIT,
          chunk_size: int = CHUNK,
          max_tokens: Optional[int] = MAX_TOKENS, seed: int = SEED, skip_invalid: bool = SKIP,
          json_out: Optional[Path] = JSON_OUT,
       executor: str = EXECUTOR, workers: int = WORKERS, ray_address: Optional[str] = RAY_ADDRESS,
       gpus_per_worker: float = GPUS) -> None:
    """LLM-as-judge: a ProcessBench-style critique names the earliest wrong step; majority over samples."""
    _run(json_out, data=data, out=str(out_dir), methods=("judge",), judge=judge_model,
         judge_options=parse_options(judge_option), judge_prompt=prompt, judge_samples=samples,
         judge_temperature=temperature, judge_max_tokens=critique_tokens, data_format=data_format(fmt, option), limit=limit,
         chunk_size=chunk_size, max_tokens_budget=max_tokens, seed=seed, skip_invalid=skip_invalid, executor=executor, workers=workers, ray_address=ray_address, gpus_per_worker=gpus_per_worker)


@annotate_app.command("tool")
def tool(data: str = DATA, out_dir: Path = OUT, fmt: Optional[str] = FORMAT, option: Optional[List[str]] = OPTION,
         limit: Optional[int] = LIMIT,
         chunk_size: int = typer.Option(256, help="Solutions per committed unit of work."), skip_invalid: bool = SKIP,
         json_out: Optional[Path] = JSON_OUT,
       executor: str = EXECUTOR, workers: int = WORKERS, ray_address: Optional[str] = RAY_ADDRESS,
       gpus_per_worker: float = GPUS) -> None:
    """Tool checks: verify the arithmetic of each step with sympy (1 holds, 0 fails, unlabelled: nothing to check)."""
    _run(json_out, data=data, out=str(out_dir), methods=("tool",), data_format=data_format(fmt, option), limit=limit,
         chunk_size=chunk_size,
         skip_invalid=skip_invalid, executor=executor, workers=workers, ray_address=ray_address, gpus_per_worker=gpus_per_worker)


@annotate_app.command("verifier")
def verifier(data: str = DATA, out_dir: Path = OUT,
             model: str = typer.Option(..., "--model", "-m", help="Verifier: bundled-code-verifier, a verifier or PRM "
                                       "folder, hub id, or any generator with --spec generative:PROMPT,k=K."),
             spec: Optional[str] = typer.Option(None, "--spec", help="As for `prmkit score` (generative:PROMPT,k=4,...)."),
             scorer_option: Optional[List[str]] = typer.Option(None, "--scorer-option", "-s", help="Scorer option key=value."),
             fmt: Optional[str] = FORMAT, option: Optional[List[str]] = OPTION, limit: Optional[int] = LIMIT,
             chunk_size: int = CHUNK, max_tokens: Optional[int] = MAX_TOKENS, seed: int = SEED,
             skip_invalid: bool = SKIP, json_out: Optional[Path] = JSON_OUT,
             executor: str = EXECUTOR, workers: int = WORKERS, ray_address: Optional[str] = RAY_ADDRESS,
             gpus_per_worker: float = GPUS) -> None:
    """A verifier's step scores as soft labels (a generative verifier's chains, or a trained PRM); unscored steps stay unlabelled."""
    _run(json_out, data=data, out=str(out_dir), methods=("verifier",), verifier=model, verifier_spec=spec,
         verifier_options=parse_options(scorer_option), data_format=data_format(fmt, option), limit=limit,
         chunk_size=chunk_size, max_tokens_budget=max_tokens, seed=seed, skip_invalid=skip_invalid,
         executor=executor, workers=workers, ray_address=ray_address, gpus_per_worker=gpus_per_worker)


@annotate_app.command("consensus")
def consensus_cmd(primary: str = typer.Argument(..., help="Labels from one method (a <method>.jsonl output)."),
                  other: str = typer.Argument(..., help="Labels of the same solutions from another method."),
                  out_dir: Path = OUT,
                  level: str = typer.Option("solution", help="'solution': same first error; 'step': agreeing steps."),
                  json_out: Optional[Path] = JSON_OUT) -> None:
    """Keep the labels two methods agree on (e.g. MC and judge, MC and tool), as in the Lessons paper."""
    from ..errors import DataError
    from ..pipelines.annotate import run_consensus

    try:
        report = run_consensus(primary, other, str(out_dir), level=level)
    except (DataError, ValueError, FileNotFoundError) as e:
        fail(str(e).strip('"'))
    o = report["outputs"]
    out.print(f"kept {report['kept']} of {report['solutions']} solutions ({report['unmatched']} without a match in "
              f"{other}) -> {o['prmkit']}, {o['trl_written']} -> {o['trl']}", highlight=False)
    if "quality" in report:
        table = Table("labels", "coverage", "step acc", "first-error acc", "PB F1", box=box.SIMPLE_HEAD)
        for name, q in report["quality"].items():
            table.add_row(name, _fmt(q["coverage"]), _fmt(q["step_accuracy"]), _fmt(q["first_error_accuracy"]), _fmt(q["f1"]))
        out.print(table)
    if json_out:
        json_out.write_text(json.dumps(report, indent=2))


@annotate_app.command("chains")
def chains(data: str = DATA, out_file: Path = typer.Option(..., "--out", help="Kept chains (JSONL) for `prmkit train target=chains`."),
           generator: str = typer.Option(..., "--generator", help="Chain writer: model folder, hub id, http://host:port/v1 "
                                         "(with -g model=NAME) or pkg.mod:Class."),
           gen_option: Optional[List[str]] = GEN_OPTION,
           prompt: str = typer.Option("thinkprm", help="Verifier prompt (prmkit.backends.generative.VERIFIER_PROMPTS)."),
           k: int = typer.Option(4, help="Chains sampled per solution."),
           keep: int = typer.Option(1, help="Agreeing chains kept per solution at most."),
           temperature: float = typer.Option(0.8), max_tokens: int = typer.Option(2048, help="Tokens per chain at most."),
           fmt: Optional[str] = FORMAT, option: Optional[List[str]] = OPTION, limit: Optional[int] = LIMIT,
           seed: int = SEED) -> None:
    """Sample verification chains and keep those whose step verdicts agree with the labels (the ThinkPRM recipe)."""
    from collections import Counter

    from ..annotate.chains import chain_records
    from ..backends import load_generator
    from ..backends.generative import GenerativeScorer
    from ..data import read
    from ..data.io import write_records
    from .common import describe

    if k < 1 or keep < 1:
        fail(f"--k and --keep must be at least 1, got {k} and {keep}")
    try:
        examples = list(read(data, data_format(fmt, option)))[:limit]
        scorer = GenerativeScorer(load_generator(generator, **parse_options(gen_option)), prompt, k=k,
                                  temperature=temperature, max_tokens=max_tokens, scores="votes", seed=seed)
        report: Counter = Counter()
        written = write_records(chain_records(examples, scorer, keep=keep, report=report), out_file)
    except (ValueError, KeyError, OSError) as e:
        fail(describe(e))
    for key, value in report.items():
        out.print(f"{key}: {value}", highlight=False)
    out.print(f"{written} chains -> {out_file}", highlight=False)


@annotate_app.command("compare")
def compare(data: Optional[str] = typer.Argument(None, help="Solutions with gold labels (omit with --world)."),
            out_dir: Path = typer.Option(Path("runs/annotate-world"), "--out", help="Job folder (rerun to resume)."),
            world: Optional[int] = typer.Option(None, help="Sample this many world problems with the policy and "
                                                "label them exactly (written to OUT/world.jsonl)."),
            generator: Optional[str] = typer.Option(None, "--generator", help="Rollout policy (default with --world: the bundled one)."),
            judge_model: Optional[str] = typer.Option(None, "--judge", help="Judge (default with --world: the bundled one)."),
            prompt: Optional[str] = typer.Option(None, help="Judge prompt (default: world with --world, else processbench)."),
            samples: int = typer.Option(1, help="Judge critiques per solution."),
            k: int = typer.Option(8, help="Rollouts per prefix (MC) and per probe (binary search)."),
            round_size: int = ROUND, chunk_size: int = CHUNK, temperature: float = TEMPERATURE,
            rollout_tokens: int = typer.Option(160, help="New tokens at most per rollout."),
            max_rollouts: Optional[int] = MAX_ROLLOUTS, seed: int = SEED, json_out: Optional[Path] = JSON_OUT,
       executor: str = EXECUTOR, workers: int = WORKERS, ray_address: Optional[str] = RAY_ADDRESS,
       gpus_per_worker: float = GPUS) -> None:
    """Every method on the same solutions, measured against their gold labels (one table, one report)."""
    if world is not None:
        from ..data import write
        from ..world.export import world_examples
        from ..world.judge import BUNDLED_JUDGE
        from ..world.policy import BUNDLED_POLICY

        path = out_dir / "world.jsonl"
        if not path.exists():  # written once: a rerun resumes on the same solutions
            write(world_examples(world, seed=seed + 1), path, "prmkit")
        data = str(path)
        generator = generator or str(BUNDLED_POLICY)
        judge_model = judge_model or str(BUNDLED_JUDGE)
        prompt = prompt or "world"
    if data is None or generator is None or judge_model is None:
        fail("give DATA with --generator and --judge, or --world N")
    report = _run(json_out, data=data, out=str(out_dir), methods=("tool", "mc", "binary-search", "judge"),
                  generator=generator, judge=judge_model, judge_prompt=prompt or "processbench", judge_samples=samples,
                  k=k, probe_size=k, round_size=round_size, chunk_size=chunk_size, temperature=temperature,
                  max_tokens=rollout_tokens, judge_max_tokens=256, consensus=("mc+judge", "mc+tool"),
                  max_rollouts=max_rollouts, seed=seed, executor=executor, workers=workers, ray_address=ray_address, gpus_per_worker=gpus_per_worker)
    mc, bs = report["methods"]["mc"], report["methods"]["binary-search"]
    if mc.get("quality") and bs["rollouts"] and not report["stopped"]:
        a, b = mc["quality"]["first_error_accuracy"], bs["quality"]["first_error_accuracy"]
        out.print(f"binary search vs exhaustive MC: {mc['rollouts'] / bs['rollouts']:.1f}x fewer rollouts "
                  f"({bs['rollouts']:,} vs {mc['rollouts']:,}); first-error accuracy {b:.3f} vs {a:.3f} "
                  f"({100 * (b - a):+.1f} points)", highlight=False)
