"""Library chatter, in one place: what transformers, datasets, accelerate, huggingface_hub, PEFT, TRL and torch
may print while a prmkit command runs.

By default (``quiet()``, called once by the CLI) their progress bars are off, their loggers report errors only
and their ``FutureWarning``/``UserWarning``/``DeprecationWarning`` are not shown, so a command prints prmkit's own
lines and one rich progress per long stage. ``prmkit --verbose`` or ``PRMKIT_VERBOSE=1`` leaves them all as the
libraries set them. Errors are never hidden: exceptions, ``logger.error`` and prmkit's own messages pass either way.

Only environment variables are set for a library not yet imported (so importing prmkit's CLI never imports
torch or transformers), and child processes inherit them; a library already imported is told through its API.
"""

from __future__ import annotations

import logging
import os
import sys
import warnings
from typing import Mapping

__all__ = ["ENV", "verbose", "quiet", "LIBRARIES"]

ENV = "PRMKIT_VERBOSE"
LIBRARIES = ("transformers", "datasets", "accelerate", "huggingface_hub", "peft", "trl", "torch", "sentence_transformers")

# Read by each library when it is imported; setdefault, so a value the user exported wins.
_ENVIRONMENT = {
    "TRANSFORMERS_VERBOSITY": "error",
    "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1",
    "DATASETS_VERBOSITY": "error",
    "HF_HUB_VERBOSITY": "error",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",  # also switches off transformers' own tqdm bars ("Loading weights", ...)
    "HF_DATASETS_DISABLE_PROGRESS_BARS": "1",
    "ACCELERATE_LOG_LEVEL": "error",
}


def verbose(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether library logs and warnings are wanted: ``PRMKIT_VERBOSE`` set to anything but ``""``/``0``/``false``.

    Example:
        >>> verbose({"PRMKIT_VERBOSE": "1"}), verbose({"PRMKIT_VERBOSE": "0"}), verbose({})
        (True, False, False)
    """
    return environ.get(ENV, "").strip().lower() not in ("", "0", "false", "no", "off")


def quiet(keep: bool = False) -> None:
    """Silence the libraries' progress bars, non-error logs and warnings, unless ``keep`` or ``verbose()``.

    Args:
        keep: `bool`, keep all library output (``--verbose``); recorded in ``PRMKIT_VERBOSE`` for the
            pipelines (``prmkit.pipelines.train``) and child processes. Defaults to ``False``.
    """
    if keep:
        os.environ[ENV] = "1"
    if verbose():
        return
    for key, value in _ENVIRONMENT.items():
        os.environ.setdefault(key, value)
    pattern = rf"({'|'.join(LIBRARIES)})(\.|$)"
    for category in (FutureWarning, UserWarning, DeprecationWarning):
        warnings.filterwarnings("ignore", category=category, module=pattern)
    # Deprecation notices name the caller (stacklevel=2), which may be prmkit itself: they are for developers
    # (who run with --verbose or pytest), never for someone running a command.
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    for name in LIBRARIES:
        logging.getLogger(name).setLevel(logging.ERROR)
    _tell_imported_libraries()


def _tell_imported_libraries() -> None:
    """The same for libraries imported before ``quiet()`` ran (their environment variables are read already)."""
    if "transformers" in sys.modules:
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
    if "datasets" in sys.modules:
        import datasets

        datasets.disable_progress_bars()
        datasets.logging.set_verbosity_error()
    if "huggingface_hub" in sys.modules:
        from huggingface_hub.utils import disable_progress_bars

        disable_progress_bars()
