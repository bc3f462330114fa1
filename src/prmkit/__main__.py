"""``python -m prmkit``: the CLI, e.g. ``accelerate launch -m prmkit train ...`` (docs/training.md)."""

from prmkit.cli.main import main

main()
