"""`import prmkit` and the core modules must not import torch, transformers or datasets (P13)."""

import subprocess
import sys

CORE = ["prmkit", "prmkit.types", "prmkit.steps", "prmkit.errors", "prmkit.registry", "prmkit.answers",
        "prmkit.data", "prmkit.data.io", "prmkit.data.stats", "prmkit.data.hf", "prmkit.data.formats",
        "prmkit.aggregate", "prmkit.metrics", "prmkit.scoring", "prmkit.backends", "prmkit.backends.families",
        "prmkit.annotate", "prmkit.annotate.tool_check", "prmkit.annotate.judge", "prmkit.annotate.rollouts",
        "prmkit.annotate.consensus", "prmkit.annotate.store", "prmkit.pipelines.annotate", "prmkit.pipelines.train",
        "prmkit.world",
        "prmkit.world.export"]


def test_core_imports_stay_light(shared_data):
    code = f"""
import sys
for m in {CORE!r}:
    __import__(m)
from prmkit.data import FORMATS, read
from prmkit.registry import resolve
for name in FORMATS:
    resolve(name, FORMATS)
n = sum(1 for _ in read({str(shared_data / 'processbench' / 'gsm8k.json.gz')!r}))
heavy = sorted(m for m in ("torch", "transformers", "datasets", "math_verify", "sympy") if m in sys.modules)
print(n, heavy)
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["400", "[]"], result.stdout + result.stderr
