"""prmkit: process reward models end to end.

``import prmkit`` is light: it exposes the core types and never imports torch or transformers
(a test enforces this). Heavy pieces live in submodules imported on demand.
"""

from .errors import DataError
from .types import Example, Problem, Solution, StepLabels, StepScores

__version__ = "0.1.0"
__all__ = ["DataError", "Example", "Problem", "Solution", "StepLabels", "StepScores", "__version__"]
