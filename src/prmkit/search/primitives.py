"""The pieces every search strategy is built from: write one more step, score, select.

A ``Node`` is a partial solution (its steps, the PRM's score of each, whether it is finished). A
``StepPolicy`` turns any ``Generator`` into a step writer: the prompt is the question plus the steps so
far, and generation stops at the step separator. ``score_nodes`` asks any ``StepScorer`` for the scores
of steps not scored yet (an incremental scorer reuses the prefix it already read), and
``release_problem`` tells it when a problem's search ended. ``select_topk`` is the one selection rule.
Every call is counted in a ``Compute`` (generated tokens, PRM tokens, wall time), so strategies compare
at equal compute, not only at equal N.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import Any, Optional, Sequence

from ..aggregate import aggregate
from ..answers import extract_answer, marked_answer
from ..types import Problem, Solution

__all__ = ["Node", "Compute", "StepPolicy", "score_nodes", "release_problem", "select_topk", "node_answer"]


@dataclass(frozen=True)
class Node:
    """A partial or finished solution: its steps, the PRM's score of each step so far, and whether it ended.

    ``scores`` may be shorter than ``steps`` (steps not scored yet); ``value`` aggregates what is there.
    """

    steps: tuple[str, ...] = ()
    scores: tuple[Optional[float], ...] = ()
    done: bool = False

    def value(self, how: str = "min") -> Optional[float]:
        return aggregate(self.scores, how) if self.scores else None


@dataclass
class Compute:
    """What a search spent: tokens generated, tokens the PRM read, calls, and wall seconds (all, and the PRM's)."""

    generated_tokens: int = 0
    prm_tokens: int = 0
    generate_calls: int = 0
    score_calls: int = 0
    seconds: float = 0.0
    prm_seconds: float = 0.0
    _started: float = field(default_factory=time.perf_counter, repr=False)

    def stop(self) -> "Compute":
        self.seconds = time.perf_counter() - self._started
        return self

    def as_dict(self) -> dict:
        return {k: v for k, v in dataclasses.asdict(self).items() if not k.startswith("_")}


def select_topk(values: Sequence[Optional[float]], k: int) -> list[int]:
    """Indices of the ``k`` highest values, best first; ties go to the earlier index, None ranks last.

    Example:
        >>> select_topk([0.2, 0.9, None, 0.9, 0.5], 3)
        [1, 3, 4]
    """
    order = sorted(range(len(values)), key=lambda i: (values[i] is None, -(values[i] or 0.0), i))
    return order[: max(k, 0)]


def node_answer(node: Node, style: str = "auto") -> Optional[str]:
    """The final answer a (finished) node states, or None."""
    return extract_answer("\n".join(node.steps), style=style) if node.steps else None


@dataclass
class StepPolicy:
    """Any ``Generator`` as a writer of one step at a time.

    Args:
        generator: a ``Generator`` (HF model, OpenAI-compatible server, vLLM, or your own).
        template: the prompt before the steps (``{question}``); the world policy's is ``"{question}\\n"``.
        separator: ends every step; generation of a step stops there.
        temperature / max_step_tokens: sampling of one step.
        max_steps: a node with this many steps is finished.
        answer_style: how a final answer is recognised (``prmkit.answers.marked_answer``); a step that
            states one ends the solution.
    """

    generator: Any
    template: str = "{question}\n"
    separator: str = "\n"
    temperature: float = 0.8
    max_step_tokens: int = 64
    max_steps: int = 16
    answer_style: str = "auto"

    def __post_init__(self) -> None:
        from ..annotate.rollouts import count_tokens_with

        self.count_tokens = count_tokens_with(self.generator)

    def prompt(self, problem: Problem, steps: Sequence[str]) -> str:
        return self.template.format(question=problem.question) + "".join(s + self.separator for s in steps)

    def child(self, parent: Node, text: str) -> Node:
        step = text.strip()
        steps = parent.steps + (step,)
        final = not step or marked_answer(step, style=self.answer_style) is not None or len(steps) >= self.max_steps
        return Node(steps if step else parent.steps, parent.scores, done=final)

    def expand(self, problem: Problem, nodes: Sequence[Node], n: int, compute: Compute,
               seed: Optional[int] = None) -> list[list[Node]]:
        """``n`` one-step children of every node, in one ``generate`` call."""
        if not nodes:
            return []
        prompts = [self.prompt(problem, node.steps) for node in nodes]
        texts = self.generator.generate(prompts, n=n, stop=[self.separator], max_tokens=self.max_step_tokens,
                                        temperature=self.temperature, seed=seed)
        compute.generate_calls += 1
        compute.generated_tokens += sum(self.count_tokens(t) for group in texts for t in group)
        return [[self.child(node, t) for t in group] for node, group in zip(nodes, texts)]

    def complete(self, problem: Problem, nodes: Sequence[Node], n: int, compute: Compute,
                 seed: Optional[int] = None) -> list[list[Node]]:
        """``n`` completions of every node to the end (at most ``max_steps`` steps), in one ``generate`` call."""
        if not nodes:
            return []
        prompts = [self.prompt(problem, node.steps) for node in nodes]
        budget = self.max_step_tokens * max(1, self.max_steps - min(len(node.steps) for node in nodes))
        texts = self.generator.generate(prompts, n=n, max_tokens=budget, temperature=self.temperature, seed=seed)
        compute.generate_calls += 1
        compute.generated_tokens += sum(self.count_tokens(t) for group in texts for t in group)
        out = []
        for node, group in zip(nodes, texts):
            children = []
            for text in group:
                child = node
                for line in text.split(self.separator):
                    if child.done:
                        break
                    if line.strip():
                        child = self.child(child, line)
                children.append(dataclasses.replace(child, done=True))
            out.append(children)
        return out


def score_nodes(scorer: Any, problem: Problem, nodes: Sequence[Node], compute: Compute) -> list[Node]:
    """The nodes with every step scored (one ``score`` call for those with unscored steps). PRM tokens are
    counted from the scorer's ``report["tokens"]`` when it keeps one (``HFStepScorer`` does; its incremental
    mode reads only the steps it has not seen)."""
    todo = [i for i, node in enumerate(nodes) if len(node.scores) < len(node.steps)]
    if not todo:
        return list(nodes)
    before = getattr(scorer, "report", {}).get("tokens", 0)
    started = time.perf_counter()
    scores = scorer.score([problem] * len(todo), [Solution(nodes[i].steps) for i in todo])
    compute.prm_seconds += time.perf_counter() - started
    compute.score_calls += 1
    compute.prm_tokens += getattr(scorer, "report", {}).get("tokens", 0) - before
    out = list(nodes)
    for i, s in zip(todo, scores):
        out[i] = dataclasses.replace(nodes[i], scores=tuple(s.values))
    return out


def release_problem(scorer: Any, problem: Problem) -> None:
    """The search of ``problem`` ended: let the scorer free what it kept for it (``release``, optional in the
    ``StepScorer`` protocol; ``HFStepScorer`` drops the problem's cached prefix states). Every strategy calls it
    last."""
    release = getattr(scorer, "release", None)
    if callable(release):
        release(problem)
