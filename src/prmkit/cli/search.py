"""`prmkit search`: PRM-guided search at test time, accuracy against compute for each method and N."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, List, Optional

import typer
from rich import box
from rich.table import Table

from .common import err, fail, out, parse_options


@contextmanager
def _progress() -> Iterator[Any]:
    """A bar per method: searches done, elapsed and remaining time."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    with Progress(TextColumn("{task.description:>24}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  TimeRemainingColumn(), console=err) as bar:
        def start(description: str, total: int) -> Any:
            task = bar.add_task(description, total=total)
            return lambda: bar.advance(task)

        yield start


def parse_bytes(text: str) -> int:
    """``"512M"``, ``"2GiB"``, ``"1.5g"`` or ``"1000000"`` as bytes (K, M, G, T are powers of 1024).

    Example:
        >>> parse_bytes("512M"), parse_bytes("2GiB"), parse_bytes("100")
        (536870912, 2147483648, 100)
    """
    number = text.strip().upper().removesuffix("B").removesuffix("I")
    scale = 1024 ** ("KMGT".index(number[-1]) + 1) if number[-1:] in ("K", "M", "G", "T") else 1
    try:
        value = float(number[:-1] if scale > 1 else number) * scale
    except ValueError:
        raise ValueError(f"--prm-cache: expected a size such as 512M or 2G, got {text!r}") from None
    if not 0 <= value < 2**63:  # also nan and inf
        raise ValueError(f"--prm-cache: expected a size >= 0, got {text!r}")
    return int(value)


def print_summary(summary: dict) -> None:
    certain = any("self-certainty" in row for rows in summary["accuracy"].values() for row in rows.values())
    scorer = "certainty" if summary.get("config", {}).get("model") == "self-certainty" else "PRM"  # who scored the steps
    table = Table("method", "N", f"{scorer} pick", f"{scorer}-weighted vote", "majority vote",
                  *(["self-certainty", "certainty vote"] if certain else []), "gen tokens", "PRM tokens", "s",
                  box=box.SIMPLE, title=f"accuracy on {summary['problems']} problems (per problem: mean compute)")
    for method, rows in summary["accuracy"].items():
        for n, row in rows.items():
            table.add_row(method, n, f"{row['prm']:.3f}", f"{row['weighted']:.3f}", f"{row['majority']:.3f}",
                          *([f"{row['self-certainty']:.3f}", f"{row['certainty-weighted']:.3f}"] if certain else []),
                          f"{row['generated_tokens']:,.0f}", f"{row['prm_tokens']:,.0f}", f"{row['seconds']:.2f}",
                          end_section=n == list(rows)[-1])
    out.print(table)


def search(
    data: str = typer.Argument(..., help="Problems with reference answers (any readable format; solutions are ignored)."),
    model: str = typer.Option(..., "--model", "-m", help="PRM: model folder, hub id or pkg.mod:Class; "
                              "'self-certainty' searches without one (the policy's own token log-probs)."),
    method: List[str] = typer.Option(["best-of-n", "beam"], "--method", help="best-of-n, early-rejection, beam, dvts, "
                                     "mcts, particle-filtering, particle-gibbs (repeat the option for several)."),
    generator: str = typer.Option("bundled-policy", "--generator", help="Policy: model folder, hub id, bundled-policy "
                                  "or http://host:port/v1."),
    n: str = typer.Option("1,2,4,8,16", "--n", help="Comma-separated budgets N."),
    beam_width: int = typer.Option(4, help="Children per expanded node (beam, DVTS, MCTS)."),
    aggregate: Optional[str] = typer.Option(None, help="Step-score aggregation (default: min for Best-of-N and MCTS, "
                                            "last for beam and DVTS)."),
    particle_weight: str = typer.Option("log-odds", help="Particle weights from the newest step's score: log-odds "
                                        "or softmax."),
    particle_temperature: float = typer.Option(1.0, help="Divides the particles' log-potentials."),
    resample: str = typer.Option("systematic", help="Particle resampling: systematic or multinomial."),
    ess_threshold: float = typer.Option(1.0, help="Resample when the effective sample size is below this share of N "
                                        "(1: every step)."),
    iterations: int = typer.Option(2, help="Particle Gibbs: filters of N / iterations particles."),
    logprobs: bool = typer.Option(False, help="Record the policy's token log-probs and add the self-certainty picks."),
    spec: Optional[str] = typer.Option(None, help="PRM family, if the model folder carries none."),
    generator_option: Optional[List[str]] = typer.Option(None, "--generator-option", "-g", help="key=value."),
    temperature: float = typer.Option(0.8),
    max_step_tokens: int = typer.Option(64, help="New tokens at most per step."),
    max_steps: int = typer.Option(16),
    template: str = typer.Option("{question}\n", help="Prompt before the steps ({question})."),
    separator: str = typer.Option("\n", help="Ends every step."),
    prm_cache: Optional[str] = typer.Option(None, help="Most memory the PRM's cached prefixes may hold, e.g. 512M "
                                            "or 4G (default: a quarter of free GPU memory, 1G on CPU)."),
    limit: Optional[int] = typer.Option(None, help="Search the first N problems only."),
    batch_problems: int = typer.Option(64, help="Best-of-N samples this many problems in one generate call (the "
                                       "same candidates as one at a time; 1: one at a time)."),
    seed: int = typer.Option(0),
    out_dir: Optional[Path] = typer.Option(None, "--out", help="Write search.jsonl and summary.json here."),
) -> None:
    """PRM-guided search (Best-of-N, early rejection, beam, DVTS, MCTS, particle filtering and Gibbs): accuracy of each
    pick and compute per N."""
    from ..pipelines.search import SearchConfig, run

    try:
        config = SearchConfig(data=data, model=model, generator=generator, out=str(out_dir) if out_dir else None,
                              spec=spec, methods=tuple(method), n=tuple(int(k) for k in n.split(",")),
                              beam_width=beam_width, aggregate=aggregate, template=template, separator=separator,
                              particle_weight=particle_weight, particle_temperature=particle_temperature,
                              resample=resample, ess_threshold=ess_threshold, iterations=iterations, logprobs=logprobs,
                              temperature=temperature, max_step_tokens=max_step_tokens, max_steps=max_steps,
                              generator_options=parse_options(generator_option), limit=limit, seed=seed,
                              batch_problems=batch_problems,
                              prm_cache_bytes=parse_bytes(prm_cache) if prm_cache is not None else None)
        with _progress() as progress:
            summary = run(config, progress)
    except (ValueError, KeyError) as e:
        fail(str(e).strip('"'))
    print_summary(summary)
    if out_dir:
        out.print(f"wrote {out_dir / 'search.jsonl'} and {out_dir / 'summary.json'}", highlight=False)
