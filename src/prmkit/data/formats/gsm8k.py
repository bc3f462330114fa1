"""GSM8K (Cobbe et al., 2021): ``question`` and ``answer``, the answer ending in ``#### <number>``.

Each record becomes one ``Example`` holding the human reference solution: one step per line of the
answer (the ``<<a*b=c>>`` calculator annotations kept verbatim), the ``####`` line removed and its
number (commas and ``$`` stripped) used as both ``problem.answer`` and ``final_answer``.
"""

from __future__ import annotations

from typing import Any, Iterable

from ...answers import extract_answer
from ...steps import split_steps
from ...types import Example, Problem, Solution
from ..io import NoOptions, Context, get

DESCRIPTION = "GSM8K: question, answer (reference steps with <<calc>> annotations, last line '#### x')"


Options = NoOptions


def sniff(raw: Any) -> bool:
    return (isinstance(raw, dict) and isinstance(raw.get("question"), str) and isinstance(raw.get("answer"), str)
            and "####" in raw["answer"] and "ground_truth" not in raw)


def parse(raw: Any, ctx: Context) -> Iterable[Example]:
    question = get(raw, "question", str, ctx)
    answer_text = get(raw, "answer", str, ctx)
    body, sep, tail = answer_text.rpartition("####")
    if not sep:
        raise ctx.error("no '#### <answer>' line", "answer")
    final = extract_answer(sep + tail, style="gsm8k")
    if final is None:
        raise ctx.error("the '####' line holds no answer", "answer")
    problem = Problem(f"gsm8k-{ctx.subset}-{ctx.line}", question, final, metadata={"subset": ctx.subset})
    steps = split_steps(body, separator="\n")
    yield Example(problem, Solution(steps, final, metadata={"source": "reference"}), correct=True)
