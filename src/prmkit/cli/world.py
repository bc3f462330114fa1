"""`prmkit world ...`: look at the synthetic world, export labelled data, train and evaluate the policy."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Optional

import typer
from rich import box
from rich.table import Table

from .common import err, fail, out

world_app = typer.Typer(help="The synthetic world: problems with exact step labels, and the bundled policy.",
                        no_args_is_help=True)


def _world(steps: str):
    from ..world import WorldConfig

    lo, _, hi = steps.partition("-")
    try:
        return WorldConfig(min_steps=int(lo), max_steps=int(hi or lo))
    except ValueError as e:
        fail(f"--steps {steps!r}: {e}")


@world_app.command("sample")
def sample(n: int = typer.Option(3, help="Problems to show."), steps: str = typer.Option("2-8", help="Steps, e.g. 3-6."),
           seed: int = typer.Option(0)) -> None:
    """Print problems and their gold solutions."""
    from ..world import generate, gold_steps

    for p in generate(n, _world(steps), seed=seed):
        out.print(f"[bold]{p.id}[/bold] ({len(p.events)} steps)\n{p.text}", highlight=False)
        out.print("\n".join(gold_steps(p)) + "\n", highlight=False)


@world_app.command("export")
def export(
    dst: Path = typer.Argument(..., help="Output file (.json for ProcessBench, .jsonl otherwise)."),
    n: int = typer.Option(500, help="Problems."),
    steps: str = typer.Option("3-6", help="Steps per problem, e.g. 2-8."),
    source: str = typer.Option("policy", help="'policy' (sampled solutions) or 'injected' (gold or one injected error)."),
    policy: Optional[Path] = typer.Option(None, help="Policy folder (default: the bundled one)."),
    samples: int = typer.Option(1, help="Policy samples per problem."),
    temperature: float = typer.Option(0.8),
    fmt: str = typer.Option("processbench", "--format", help="processbench, prmkit or trl-stepwise."),
    seed: int = typer.Option(1, help="Problem seed (the policy was trained on seed 0)."),
) -> None:
    """Labelled solutions with exact labels, e.g. a ProcessBench-format benchmark for `prmkit eval processbench`."""
    from ..data import write
    from ..world.export import world_examples

    report: Counter = Counter()
    try:
        examples = world_examples(n, _world(steps), source=source, policy=policy, samples=samples,
                                  temperature=temperature, seed=seed, complete_only=fmt == "processbench", report=report)
    except ValueError as e:
        fail(f"--source: {e}")
    try:
        written = write(examples, dst, fmt)
    except (ValueError, KeyError) as e:
        fail(str(e))
    wrong = sum(e.first_error is not None for e in examples)
    out.print(f"wrote {written} labelled solution(s) to {dst}: {wrong} with an error, {len(examples) - wrong} without",
              highlight=False)
    if report["incomplete"]:
        err.print(f"note: {report['incomplete']} solution(s) stopped before their answer step and were left out "
                  "(no exact first-error label)", highlight=False)


@world_app.command("train-policy")
def train_policy(
    out_dir: Path = typer.Option(Path("runs/policy"), "--out", help="Where to write the model (resumes from it)."),
    max_steps: int = typer.Option(4000, help="Optimisation steps at most."),
    target_accuracy: float = typer.Option(0.5, help="Stop once quick-eval accuracy (T=0.8, 3-6 steps) reaches this."),
    seed: int = typer.Option(0),
) -> None:
    """Train the small policy from scratch (seeded; kill and rerun to resume)."""
    from ..world.policy import PolicyTrainConfig
    from ..world.policy import train_policy as run

    metrics = run(out_dir, PolicyTrainConfig(max_steps=max_steps, target_accuracy=target_accuracy, seed=seed),
                  log=lambda line: err.print(line, highlight=False))
    out.print(f"policy written to {out_dir}: quick-eval accuracy {metrics.get('accuracy', 0):.2f}", highlight=False)


@world_app.command("train-judge")
def train_judge(
    out_dir: Path = typer.Option(Path("runs/judge"), "--out", help="Where to write the judge (resumes from it)."),
    max_steps: int = typer.Option(3000, help="Optimisation steps at most."),
    target_accuracy: float = typer.Option(0.9, help="Stop once greedy first-error accuracy on held-out solutions reaches this."),
    seed: int = typer.Option(0),
) -> None:
    """Train the small world judge from scratch (seeded; kill and rerun to resume)."""
    from ..world.judge import JudgeTrainConfig
    from ..world.judge import train_judge as run

    metrics = run(out_dir, JudgeTrainConfig(max_steps=max_steps, target_accuracy=target_accuracy, seed=seed),
                  log=lambda line: err.print(line, highlight=False))
    out.print(f"judge written to {out_dir}: held-out first-error accuracy {metrics.get('accuracy', 0):.2f}",
              highlight=False)


@world_app.command("train-verifier")
def train_verifier(
    out_dir: Path = typer.Option(Path("runs/verifier"), "--out", help="Run folder; the verifier is OUT/verifier (resumes)."),
    code: bool = typer.Option(False, "--code", help="The code-checking variant (world-code prompt)."),
    init: Optional[str] = typer.Option(None, help="Start from this verifier folder or name, e.g. bundled-verifier "
                                       "(default: the policy's weights)."),
    problems: int = typer.Option(3000, help="Policy solutions to sample chains for."),
    injected: int = typer.Option(2000, help="More solutions, each with one injected error."),
    k: int = typer.Option(4, help="Teacher chains per solution."),
    epochs: float = typer.Option(3.0),
) -> None:
    """Train a world generative verifier by the ThinkPRM recipe: teacher chains, kept where they agree with the
    exact labels, then fine-tuning (docs/generative.md)."""
    from ..pipelines.world_verifier import WorldVerifierConfig, run

    summary = run(WorldVerifierConfig(out=str(out_dir), code=code, init=init, problems=problems, injected=injected,
                                      k=k, epochs=epochs),
                  log=lambda line: err.print(line, highlight=False))
    out.print(f"verifier written to {out_dir / 'verifier'}: {summary['chains']} chains, loss {summary['train_loss']:.3f}",
              highlight=False)


@world_app.command("eval-policy")
def eval_policy(
    policy: Optional[Path] = typer.Option(None, help="Policy folder (default: the bundled one)."),
    problems: int = typer.Option(200, help="Held-out problems."),
    samples: int = typer.Option(16, help="Samples per problem (pass@k)."),
    temperature: float = typer.Option(0.8),
    steps: str = typer.Option("3-6", help="Steps per held-out problem."),
    json_out: Optional[Path] = typer.Option(None, "--json"),
) -> None:
    """Single-sample accuracy, pass@k and the kinds of first errors, checked exactly."""
    from ..world.policy import BUNDLED_POLICY, evaluate_policy, load_policy

    model, tok = load_policy(policy or BUNDLED_POLICY)
    r = evaluate_policy(model, tok, problems=problems, samples=samples, temperature=temperature, world=_world(steps))
    out.print(f"{policy or BUNDLED_POLICY}: {problems} held-out {steps}-step problems x {samples} samples at "
              f"temperature {temperature}", highlight=False)
    out.print(f"accuracy (single sample) {r['accuracy']:.3f}   pass@{samples} {r['pass_at_k']:.3f}", highlight=False)
    table = Table("steps", "accuracy", box=box.SIMPLE_HEAD, title="by number of steps", title_justify="left")
    for k, acc in r["by_steps"].items():
        table.add_row(k, f"{acc:.3f}")
    out.print(table)
    total = sum(r["error_kinds"].values())
    table = Table("first error", "count", "share", box=box.SIMPLE_HEAD, title="wrong samples by kind of first error",
                  title_justify="left")
    for kind, count in r["error_kinds"].items():
        table.add_row(kind, str(count), f"{count / total:.1%}")
    out.print(table)
    if json_out:
        json_out.write_text(json.dumps(r, indent=2))
