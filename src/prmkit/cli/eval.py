"""`prmkit eval ...` and `prmkit score` (being written)."""

import typer

eval_app = typer.Typer(help="Evaluate PRMs: ProcessBench, PRMBench, Best-of-N, pairwise.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add the top-level `prmkit score` command to ``app``."""
