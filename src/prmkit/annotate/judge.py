"""LLM-as-judge: a critique prompt with tagged steps, the earliest wrong step parsed from each sample.

A ``JudgePrompt`` is data: the template, how each step is tagged, and the pattern the verdict is
read from. ``processbench`` is the prompt of the ProcessBench paper (paragraphs tagged
``<paragraph_i>``, verdict in ``\\boxed{}``, ``-1`` for "no error"); ``world`` is the compact prompt
the bundled world judge was trained on. The judge samples ``n`` critiques per solution, parses the
*last* verdict of each (critiques often quote indices before concluding), and takes the majority;
a critique without a verdict, or with an index outside the solution, is counted as unparseable and
never guessed. Ties go to the earliest error (the conservative choice: more steps left unlabelled).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import Any, Optional, Sequence

from ..types import Example, StepLabels

__all__ = ["JudgePrompt", "PROMPTS", "render", "parse_verdict", "vote", "labels_from_verdict", "judge_labels"]


@dataclass(frozen=True)
class JudgePrompt:
    """How a judge is asked and answered.

    Args:
        template: the prompt, with ``{problem}`` and ``{steps}`` placeholders.
        step_format: each step, with ``{i}`` (0-based index) and ``{step}``.
        step_joiner: between rendered steps.
        verdict: a regex whose group 1 is the index of the earliest wrong step (``-1``: none).
    """

    template: str
    step_format: str
    step_joiner: str = "\n"
    verdict: str = r"\\boxed\{\s*(-?\d+)\s*\}"


PROMPTS: dict[str, JudgePrompt] = {
    "processbench": JudgePrompt(
        template=(
            "The following is a math problem and a solution (split into paragraphs, enclosed with tags and "
            "indexed from 0):\n\n[Math Problem]\n\n{problem}\n\n[Solution]\n\n{steps}\n\n"
            "Your task is to review and critique the solution paragraph by paragraph. Once you identify an "
            "error in a paragraph, return the index of the paragraph where the earliest error occurs. "
            "Otherwise, return the index of -1 (which typically denotes \"not found\").\n\n"
            "Please put your final answer (i.e., the index) in \\boxed{{}}."),
        step_format="<paragraph_{i}>\n{step}\n</paragraph_{i}>",
        step_joiner="\n\n"),
    "world": JudgePrompt(template="{problem}\nSolution:\n{steps}\nCritique:\n", step_format="Step {i}: {step}"),
}


def render(prompt: JudgePrompt, problem: str, steps: Sequence[str]) -> str:
    """The judge's prompt for one solution.

    Example:
        >>> render(PROMPTS["world"], "Mia has 2 pens. She buys 3 more pens. How many?", ["2 + 3 = 5", "The answer is 5."])
        'Mia has 2 pens. She buys 3 more pens. How many?\\nSolution:\\nStep 0: 2 + 3 = 5\\nStep 1: The answer is 5.\\nCritique:\\n'
    """
    body = prompt.step_joiner.join(prompt.step_format.format(i=i, step=s) for i, s in enumerate(steps))
    return prompt.template.format(problem=problem, steps=body)


def parse_verdict(prompt: JudgePrompt, critique: str, n_steps: int) -> Optional[int]:
    """The earliest wrong step a critique names (``-1``: no error), or None when it names no valid index.

    Example:
        >>> p = PROMPTS["processbench"]
        >>> parse_verdict(p, "Paragraph 2 is fine... so \\\\boxed{3}", 5), parse_verdict(p, "\\\\boxed{-1}", 5)
        (3, -1)
        >>> parse_verdict(p, "I think it is wrong", 5), parse_verdict(p, "\\\\boxed{7}", 5)
        (None, None)
    """
    found = re.findall(prompt.verdict, critique)
    if not found:
        return None
    k = int(found[-1])
    return k if -1 <= k < n_steps else None


def vote(verdicts: Sequence[Optional[int]]) -> Optional[int]:
    """Majority over the parsed verdicts (None entries ignored); ties go to the earliest error; None if none parsed.

    Example:
        >>> vote([2, 2, -1, None]), vote([3, -1]), vote([None, None])
        (2, 3, None)
    """
    counts = Counter(v for v in verdicts if v is not None)
    if not counts:
        return None
    top = max(counts.values())
    tied = [v for v, c in counts.items() if c == top]
    errors = [v for v in tied if v >= 0]
    return min(errors) if errors else -1


def labels_from_verdict(n_steps: int, verdict: Optional[int]) -> StepLabels:
    """Hard labels from a verdict: before the error 1, the error 0, after it unknown; all unknown if no verdict."""
    if verdict is None:
        return StepLabels((None,) * n_steps, "hard")
    return StepLabels.from_first_error(n_steps, None if verdict < 0 else verdict)


def judge_labels(examples: Sequence[Example], generator: Any, *, prompt: JudgePrompt | str = "processbench", n: int = 1,
                 temperature: float = 0.0, max_tokens: int = 1024, seed: int = 0) -> list[dict]:
    """Ask ``generator`` to critique each solution ``n`` times; labels from the majority verdict.

    Returns one result per example: ``{"labels", "kind": "hard", "info": {"verdicts", "unparseable", "verdict"},
    "rollouts": 0, "tokens"}``; ``verdicts`` holds each sample's parsed index (None: unparseable).
    """
    from .rollouts import count_tokens_with

    spec = PROMPTS[prompt] if isinstance(prompt, str) else prompt
    prompts = [render(spec, ex.problem.question, ex.solution.steps) for ex in examples]
    critiques = generator.generate(prompts, n=n, temperature=temperature, max_tokens=max_tokens, seed=seed)
    count = count_tokens_with(generator)
    results = []
    for ex, texts in zip(examples, critiques):
        verdicts = [parse_verdict(spec, t, len(ex.solution.steps)) for t in texts]
        verdict = vote(verdicts)
        results.append({"labels": list(labels_from_verdict(len(ex.solution.steps), verdict).values), "kind": "hard",
                        "rollouts": 0, "tokens": sum(count(t) for t in texts),
                        "info": {"verdict": verdict, "verdicts": verdicts, "unparseable": verdicts.count(None)}})
    return results
