"""The synthetic world: seeded multi-step arithmetic word problems whose every step can be checked.

A problem is a story: someone starts with some items, then a sequence of events changes the count
(buys, gives away, doubles...), with distractor sentences about other people mixed in. The gold
solution has one equation step per event and a final answer step, one step per line::

    Mia has 12 apples. Leo has 4 pens. Mia buys 7 more apples. Mia gives away 5 apples. How many apples does Mia have now?
    12 + 7 = 19
    19 - 5 = 14
    The answer is 14.

Everything is stdlib and seeded: the same ``WorldConfig`` and seed give the same problems anywhere.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Optional

from ..types import Problem

__all__ = ["WorldConfig", "Event", "WorldProblem", "generate", "gold_steps", "inject_error", "ERROR_KINDS",
           "STEP_SEPARATOR", "NAMES", "ITEMS", "OPS"]

STEP_SEPARATOR = "\n"
NAMES = ("Mia", "Leo", "Ava", "Sam", "Zoe", "Max", "Ivy", "Ben", "Eli", "Noa", "Kai", "Lia")
ITEMS = ("apples", "pens", "books", "coins", "cards", "shells", "stamps", "marbles", "stickers", "cookies")
OPS = ("+", "-", "*")
_PHRASES = {
    "+": ("buys {b} more {item}", "finds {b} more {item}", "gets {b} more {item}"),
    "-": ("gives away {b} {item}", "sells {b} {item}", "loses {b} {item}"),
    "*": ("ends up with {b} times as many {item}",),
}
ERROR_KINDS = ("arithmetic", "wrong_operand", "wrong_operation", "skipped_step", "wrong_final_answer")


@dataclass(frozen=True)
class WorldConfig:
    """Knobs of the world.

    Args:
        min_steps / max_steps (`int`, defaults to 2 / 8): events per problem (solution steps minus the answer).
        max_start (`int`, defaults to 15): the starting count is drawn from 1..max_start.
        max_operand (`int`, defaults to 9): operands of + and - are drawn from 1..max_operand.
        max_factor (`int`, defaults to 3): factors of * are drawn from 2..max_factor.
        max_value (`int`, defaults to 99): no running total exceeds it (another operation is drawn instead).
        ops (`tuple[str, ...]`, defaults to `("+", "-", "*")`): allowed operations.
        max_distractors (`int`, defaults to 2): distractor sentences per problem, 0..max_distractors.
    """

    min_steps: int = 2
    max_steps: int = 8
    max_start: int = 15
    max_operand: int = 9
    max_factor: int = 3
    max_value: int = 99
    ops: tuple[str, ...] = OPS
    max_distractors: int = 2

    def __post_init__(self) -> None:
        if not 1 <= self.min_steps <= self.max_steps:
            raise ValueError(f"need 1 <= min_steps <= max_steps, got {self.min_steps}, {self.max_steps}")
        unknown = set(self.ops) - set(OPS)
        if unknown or not self.ops:
            raise ValueError(f"ops must be a non-empty subset of {OPS}, got {self.ops}")
        if self.max_start < 1 or self.max_operand < 1 or self.max_factor < 2:
            raise ValueError("max_start and max_operand must be >= 1, max_factor >= 2")


@dataclass(frozen=True)
class Event:
    """One change to the running count: ``value = value op operand``."""

    op: str
    operand: int
    sentence: str


@dataclass(frozen=True)
class WorldProblem:
    """A generated problem with everything needed to check a solution exactly."""

    id: str
    name: str
    item: str
    start: int
    events: tuple[Event, ...]
    text: str
    distractor_numbers: tuple[int, ...] = field(default=())

    @property
    def values(self) -> tuple[int, ...]:
        """Running totals after each event (the gold step results)."""
        out, v = [], self.start
        for e in self.events:
            v = _apply(v, e.op, e.operand)
            out.append(v)
        return tuple(out)

    @property
    def answer(self) -> int:
        return self.values[-1]

    def to_problem(self) -> Problem:
        """The core ``Problem`` (question text, answer, world metadata)."""
        return Problem(self.id, self.text, str(self.answer),
                       metadata={"world": True, "n_steps": len(self.events), "subset": f"{len(self.events)}-step"})


def _apply(a: int, op: str, b: int) -> int:
    return a + b if op == "+" else a - b if op == "-" else a * b


def _event(rng: random.Random, value: int, config: WorldConfig, name: str, item: str) -> Event:
    ops = list(config.ops)
    while True:
        op = rng.choice(ops)
        if op == "*":
            b = rng.randint(2, config.max_factor)
            if value * b > config.max_value or value == 0:
                continue
        elif op == "-":
            if value < 2:
                continue
            b = rng.randint(1, min(config.max_operand, value - 1))
        else:
            b = rng.randint(1, config.max_operand)
            if value + b > config.max_value:
                continue
        phrase = rng.choice(_PHRASES[op]).format(b=b, item=item)
        return Event(op, b, f"{name} {phrase}.")


def _one(rng: random.Random, config: WorldConfig, pid: str, n_steps: int) -> WorldProblem:
    name, other = rng.sample(NAMES, 2)
    item, other_item = rng.sample(ITEMS, 2)
    start = rng.randint(1, config.max_start)
    events, value = [], start
    for _ in range(n_steps):
        e = _event(rng, value, config, name, item)
        events.append(e)
        value = _apply(value, e.op, e.operand)
    sentences = [f"{name} has {start} {item}."] + [e.sentence for e in events]
    distractors = []
    for _ in range(rng.randint(0, config.max_distractors)):
        c = rng.randint(1, config.max_operand)
        distractors.append(c)
        sentences.insert(rng.randint(1, len(sentences)), f"{other} has {c} {other_item}.")
    text = " ".join(sentences) + f" How many {item} does {name} have now?"
    return WorldProblem(pid, name, item, start, tuple(events), text, tuple(distractors))


def generate(n: int, config: WorldConfig = WorldConfig(), *, seed: int = 0, prefix: str = "world") -> list[WorldProblem]:
    """``n`` problems with step counts spread evenly over ``min_steps..max_steps`` (seeded).

    Example:
        >>> p = generate(1, WorldConfig(min_steps=2, max_steps=2), seed=3)[0]
        >>> len(p.events), p.id
        (2, 'world-3-0')
    """
    rng = random.Random(seed)
    counts = list(range(config.min_steps, config.max_steps + 1))
    return [_one(rng, config, f"{prefix}-{seed}-{i}", counts[i % len(counts)]) for i in range(n)]


def gold_steps(problem: WorldProblem) -> tuple[str, ...]:
    """The gold solution: one ``a op b = c`` step per event, then ``The answer is c.``"""
    steps, value = [], problem.start
    for e in problem.events:
        new = _apply(value, e.op, e.operand)
        steps.append(f"{value} {e.op} {e.operand} = {new}")
        value = new
    return tuple(steps) + (f"The answer is {value}.",)


def inject_error(problem: WorldProblem, kind: str, step: int, rng: Optional[random.Random] = None) -> tuple[str, ...]:
    """The gold solution with one error of ``kind`` at ``step`` (0-based); later steps carry the wrong value.

    Kinds: ``arithmetic`` (wrong result), ``wrong_operand`` (a number not in the event, e.g. a
    distractor), ``wrong_operation`` (another operator), ``skipped_step`` (an event is left out),
    ``wrong_final_answer`` (only the answer step is wrong; ``step`` must be the last).
    """
    rng = rng or random.Random(0)
    if kind not in ERROR_KINDS:
        raise ValueError(f"unknown error kind {kind!r}; known: {', '.join(ERROR_KINDS)}")
    n = len(problem.events)
    if kind == "wrong_final_answer":
        if step != n:
            raise ValueError(f"wrong_final_answer goes on the answer step {n}, not {step}")
        return gold_steps(problem)[:-1] + (f"The answer is {problem.answer + rng.choice((-2, -1, 1, 2, 10))}.",)
    if not 0 <= step < n:
        raise ValueError(f"step {step} is not an equation step (0..{n - 1})")
    events = list(problem.events)
    steps, value = [], problem.start
    for k, e in enumerate(events):
        if k == step and kind == "skipped_step":
            continue
        op, b = e.op, e.operand
        if k == step and kind == "wrong_operand":
            b = rng.choice([x for x in (*problem.distractor_numbers, b + 1, b + 2, b - 1) if x not in (b, 0) and x > 0])
        if k == step and kind == "wrong_operation":
            op = rng.choice([o for o in ("+", "-") if o != e.op])
        new = _apply(value, op, b)
        if k == step and kind == "arithmetic":
            new += rng.choice((-3, -2, -1, 1, 2, 3, 10))
        steps.append(f"{value} {op} {b} = {new}")
        value = new
    return tuple(steps) + (f"The answer is {value}.",)
