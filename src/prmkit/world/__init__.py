"""A synthetic reasoning world with exact step labels: problems, gold solutions, an exact checker.

``generate`` makes seeded arithmetic word problems, ``gold_steps`` their solutions, ``inject_error``
a solution with one error of a known kind at a known step, and ``check`` labels any candidate text
exactly. Pure Python; the bundled policy model lives in ``prmkit.world.policy``.
"""

from .checker import CheckResult, check, parse_step
from .problems import ERROR_KINDS, STEP_SEPARATOR, WorldConfig, WorldProblem, generate, gold_steps, inject_error

__all__ = ["WorldConfig", "WorldProblem", "generate", "gold_steps", "inject_error", "ERROR_KINDS", "STEP_SEPARATOR",
           "check", "CheckResult", "parse_step"]
