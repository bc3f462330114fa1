"""PRM800K (Lightman et al., 2023), raw phase 1 and 2 lines: one labelled trajectory per line.

Each line becomes one ``Example`` whose steps follow the labeler's path: the chosen completion of
each step, else the human-written one, else (the labeler rejected every completion) the first
completion rated -1 as the erroneous last step. Ratings 1/-1 map to 1.0/0.0, 0 (neutral) per the
``neutral`` option; every alternative completion and all other fields are kept in metadata.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Optional

from ...types import Example, Problem, Solution, StepLabels
from ..io import Context, text_id, get, get_list

DESCRIPTION = "PRM800K raw phase 1/2: question, label.steps[].completions[] rated -1/0/1 (read-only)"

_NEUTRAL = ("positive", "negative")
# question fields describing the labelled (pre-generated) solution rather than the problem
_SOLUTION_QUESTION_KEYS = ("pre_generated_steps", "pre_generated_answer", "pre_generated_verifier_score")


@dataclass(frozen=True)
class Options:
    """Reader options.

    Args:
        neutral: label for rating 0: ``"positive"`` (1.0, as Qwen and OpenAI do) or
            ``"negative"`` (0.0, as TRL does).
    """

    neutral: str = "positive"

    def __post_init__(self) -> None:
        if self.neutral not in _NEUTRAL:
            raise ValueError(f"prm800k option neutral must be one of {_NEUTRAL}, got {self.neutral!r}")




def sniff(raw: Any) -> bool:
    """Whether ``raw`` looks like a raw PRM800K line (``question`` object, ``label.steps`` list)."""
    return (isinstance(raw, dict) and isinstance(raw.get("question"), dict)
            and isinstance(raw.get("label"), dict) and "steps" in raw["label"])


def _rating(value: Optional[int], neutral: str) -> Optional[float]:
    if value is None:
        return None
    if value == 0:
        return 1.0 if neutral == "positive" else 0.0
    return 1.0 if value == 1 else 0.0


def _completions(step: dict, path: str, ctx: Context) -> list:
    completions = get_list(step, "completions", dict, ctx, path=path, optional=True) or []
    for j, c in enumerate(completions):
        where = f"{path}.completions[{j}]"
        get(c, "text", str, ctx, path=where)
        rating = get(c, "rating", int, ctx, path=where, optional=True)
        if rating not in (None, -1, 0, 1):
            raise ctx.error(f"rating must be -1, 0, 1 or null, got {rating}", f"{where}.rating")
        get(c, "flagged", bool, ctx, path=where, optional=True)
    return completions


def parse(raw: Any, ctx: Context) -> Iterable[Example]:
    """Map one PRM800K line to one ``Example``.

    Args:
        raw: the decoded line.
        ctx: where it came from, and the ``Options``.

    Returns:
        A one-element list with the labelled trajectory.
    """
    opts = ctx.options if isinstance(ctx.options, Options) else Options()
    question = get(raw, "question", dict, ctx)
    label = get(raw, "label", dict, ctx)
    raw_steps = get_list(label, "steps", dict, ctx, path="label")
    finish = get(label, "finish_reason", str, ctx, path="label", optional=True)

    steps: list[str] = []
    values: list[Optional[float]] = []
    alternatives = []
    stopped = False
    for i, step in enumerate(raw_steps):
        path = f"label.steps[{i}]"
        completions = _completions(step, path, ctx)
        chosen = get(step, "chosen_completion", int, ctx, path=path, optional=True)
        human = get(step, "human_completion", dict, ctx, path=path, optional=True)
        if chosen is not None and not 0 <= chosen < len(completions):
            raise ctx.error(f"index {chosen} is outside the {len(completions)} completions", f"{path}.chosen_completion")
        if human is not None:
            get(human, "text", str, ctx, path=f"{path}.human_completion")
            get(human, "rating", int, ctx, path=f"{path}.human_completion", optional=True)
        alternatives.append({"chosen": chosen, "completions": step.get("completions"), "human_completion": human})
        if stopped:
            continue
        if chosen is not None:
            taken, value = completions[chosen], _rating(completions[chosen].get("rating"), opts.neutral)
        elif human is not None:
            # a labeler writes a step only when every completion is wrong: theirs is right by design
            taken = human
            value = 1.0 if human.get("rating") is None else _rating(human["rating"], opts.neutral)
        else:
            stopped = True
            bad = next((c for c in completions if c.get("rating") == -1), None)
            if bad is None:
                ctx.note("prm800k: trajectory ends at a step with no chosen, human or -1 completion")
                continue
            taken, value = bad, 0.0
        steps.append(taken["text"])
        values.append(value)

    labels = StepLabels(tuple(values), "hard")
    correct = False if labels.first_error is not None else (True if finish == "solution" else None)
    text = get(question, "problem", str, ctx, path="question")
    answer = get(question, "ground_truth_answer", str, ctx, path="question", optional=True)
    problem_meta, solution_meta = {}, {"source_record": ctx.record_id}
    for key, value in question.items():
        if key not in ("problem", "ground_truth_answer"):
            (solution_meta if key in _SOLUTION_QUESTION_KEYS else problem_meta)[key] = value
    solution_meta.update((k, v) for k, v in label.items() if k != "steps")
    solution_meta.update((k, v) for k, v in raw.items() if k not in ("question", "label"))
    solution_meta["alternatives"] = alternatives
    final = None
    if steps and "# Answer" in steps[-1]:
        final = steps[-1].split("# Answer", 1)[1].strip() or None
    yield Example(Problem(text_id("prm800k", text), text, answer, problem_meta),
                  Solution(tuple(steps), final, solution_meta), labels, correct=correct)
