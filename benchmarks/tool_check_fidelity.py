"""Issue 14, part 1: how well the arithmetic tool check finds first errors, on three sets of solutions.

* **world**: synthetic problems (3-6 steps), half gold solutions, half with one injected arithmetic error at a
  random step (``prmkit.world.inject_error``); exact first-error labels.
* **gsm8k**: OpenAI's GSM8K example model solutions (4 systems x 1,319 problems), ``is_correct`` only, so a
  solution counts as found when any step is flagged and its answer is wrong.
* **processbench**: real chain-of-thought traces with human first-error labels (4 subsets, 3,400 solutions).

For each: first-error F1 as ProcessBench defines it (harmonic mean of the accuracy on wrong solutions, the first
flagged step must be the labelled one, and on correct solutions, nothing may be flagged; on gsm8k the solution
level: any flag on a wrong answer, no flag on a right one), and **flag precision**: the share of flagged
solutions whose first flag is right (at the labelled first error; on gsm8k, on a wrong-answer solution).
ProcessBench also gets a random scorer (uniform step scores) with its threshold tuned on the same data, the
baseline the checker used to lose to. It measures the code as it is; docs/annotation.md keeps the numbers
of earlier versions.

    .venv/bin/python benchmarks/tool_check_fidelity.py                    # about a minute on 2 cores
    .venv/bin/python benchmarks/tool_check_fidelity.py --json out.json --data ../shared/data
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

from prmkit.annotate.tool_check import tool_labels
from prmkit.data import read
from prmkit.metrics import best_threshold, predicted_first_error, processbench_f1
from prmkit.world import generate, gold_steps, inject_error
from prmkit.world.problems import WorldConfig

SUBSETS = ("gsm8k", "math", "olympiadbench", "omnimath")


def _first_flag(values) -> int:
    """Index of the first flagged step (label 0.0), -1 if none; unchecked steps (None) are skipped."""
    return predicted_first_error(values, 0.5)


def _summary(predicted: list[int], gold: list[int], checkable: int, steps: int, flagged: int) -> dict:
    r = processbench_f1(predicted, gold)
    flagged_solutions = [(p, g) for p, g in zip(predicted, gold) if p != -1]
    hits = sum(p == g for p, g in flagged_solutions)
    return {"solutions": len(gold), "wrong": r["n_error"], "steps": steps, "checkable": checkable,
            "flagged_steps": flagged, "flagged_solutions": len(flagged_solutions),
            "flagged_correct_solutions": sum(g == -1 for _, g in flagged_solutions),
            "error_acc": r["error_acc"], "correct_acc": r["correct_acc"], "f1": r["f1"],
            "flag_precision": hits / len(flagged_solutions) if flagged_solutions else None}


def _labelled(items) -> dict:
    """``items``: (steps, gold first error) pairs -> the summary of the tool check on them."""
    predicted, gold, checkable, steps, flagged = [], [], 0, 0, 0
    for s, g in items:
        values = tool_labels(s).values
        predicted.append(_first_flag(values))
        gold.append(g)
        steps += len(values)
        checkable += sum(v is not None for v in values)
        flagged += sum(v == 0.0 for v in values)
    return _summary(predicted, gold, checkable, steps, flagged)


def world(n: int, seed: int) -> dict:
    rng = random.Random(seed)
    items = []
    for p in generate(n, WorldConfig(min_steps=3, max_steps=6), seed=seed):
        if rng.random() < 0.5:
            items.append((gold_steps(p), -1))
        else:
            k = rng.randrange(len(p.events))
            items.append((inject_error(p, "arithmetic", k, rng), k))
    return _labelled(items)


def gsm8k(data: Path) -> dict:
    predicted, gold, checkable, steps, flagged = [], [], 0, 0, 0
    for ex in read(data / "gsm8k" / "example_model_solutions.jsonl.gz", "gsm8k-solutions"):
        values = tool_labels(ex.solution.steps).values
        # no step labels: a wrong answer is "found" by any flag, so both sides use the same index 0
        predicted.append(-1 if _first_flag(values) == -1 else 0)
        gold.append(-1 if ex.correct else 0)
        steps += len(values)
        checkable += sum(v is not None for v in values)
        flagged += sum(v == 0.0 for v in values)
    return _summary(predicted, gold, checkable, steps, flagged)


def processbench(data: Path, seed: int) -> dict:
    out, splits = {}, {}
    rng = random.Random(seed)
    for name in SUBSETS:
        examples = list(read(data / "processbench" / f"{name}.json.gz"))
        gold = [-1 if ex.first_error is None else ex.first_error for ex in examples]
        out[name] = _labelled((ex.solution.steps, g) for ex, g in zip(examples, gold))
        splits[name] = ([[rng.random() for _ in ex.solution.steps] for ex in examples], gold)
    f1s = [out[n]["f1"] for n in SUBSETS]
    flagged = sum(out[n]["flagged_solutions"] for n in SUBSETS)
    hits = sum(round(out[n]["flag_precision"] * out[n]["flagged_solutions"]) for n in SUBSETS
               if out[n]["flag_precision"] is not None)
    threshold, random_f1 = best_threshold(splits)
    return {"subsets": out, "average_f1": sum(f1s) / len(f1s),
            "flag_precision": hits / flagged if flagged else None,
            "random_tuned": {"threshold": threshold, "average_f1": random_f1}}


def _fmt(x) -> str:
    return "-" if x is None else f"{x:.3f}" if isinstance(x, float) else f"{x:,}"


def _row(name: str, r: dict) -> str:
    cols = ("solutions", "wrong", "steps", "checkable", "flagged_steps", "flagged_solutions",
            "flagged_correct_solutions", "error_acc", "correct_acc", "f1", "flag_precision")
    return "| " + " | ".join([name] + [_fmt(r[c]) for c in cols]) + " |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[1].parent / "shared" / "data")
    parser.add_argument("--world", type=int, default=2000, help="world problems (half get an arithmetic error)")
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--json", type=Path, help="also write the numbers here")
    args = parser.parse_args()

    t0 = time.perf_counter()
    results = {"world": world(args.world, args.seed), "gsm8k": gsm8k(args.data),
               "processbench": processbench(args.data, args.seed)}
    print("| set | solutions | wrong | steps | checkable | flagged steps | flagged solutions | flagged correct "
          "| error acc | correct acc | F1 | flag precision |")
    print("| --- " * 12 + "|")
    print(_row("world (arithmetic)", results["world"]))
    print(_row("gsm8k solutions (solution level)", results["gsm8k"]))
    for name, r in results["processbench"]["subsets"].items():
        print(_row(f"processbench {name}", r))
    pb = results["processbench"]
    print(f"processbench: average F1 {_fmt(pb['average_f1'])}, flag precision {_fmt(pb['flag_precision'])}; "
          f"random scores with a tuned threshold ({pb['random_tuned']['threshold']:.3f}): "
          f"average F1 {_fmt(pb['random_tuned']['average_f1'])}")
    print(f"({time.perf_counter() - t0:.1f} s)")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
