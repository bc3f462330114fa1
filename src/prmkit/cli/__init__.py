"""The `prmkit` command line (typer): `main.py` is the entry point, one module per command group."""
