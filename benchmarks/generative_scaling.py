"""Generative verifiers on the world: first-error F1 and PRM-weighted Best-of-16 against verifier tokens, in one run.

Rows: the bundled generative verifier at K = 1, 2, 4, 8 chains (sequential rounds 0, 1, 2 at K = 1), the
code-checking variant, the bundled judge's label-only majority vote at the same K, and an implicit PRM
trained on the same kind of labelled policy samples. Columns: ProcessBench first-error F1 (average over
the 3..6-step subsets) at the fixed 0.5 threshold and at a threshold calibrated on a separate set, Best-of-16
(PRM argmax and PRM-weighted vote, ``min`` aggregation) and the verifier tokens (read + written) per solution.
K chains are sampled once at K = 8; the score at k uses the first k chains of each solution and the tokens of
those chains. Last, on injected arithmetic errors: how many each verifier catches, and how many the
code-checking one catches that the plain one misses.

    .venv/bin/python benchmarks/generative_scaling.py                  # ~20 min on 2 cores
    .venv/bin/python benchmarks/generative_scaling.py --bench 100 --bon-problems 30 --ks 1,8
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import random
import time
from pathlib import Path

from prmkit import metrics
from prmkit.aggregate import aggregate
from prmkit.backends import load_scorer
from prmkit.data import read, write
from prmkit.pipelines.evaluate import first_error_f1
from prmkit.types import Example, StepScores
from prmkit.world.export import label_solutions, world_examples
from prmkit.world.problems import WorldConfig, generate, inject_error


def make_sets(work: Path, args: argparse.Namespace) -> dict[str, list[Example]]:
    """Held-out policy samples (bench seed 7, calibration seed 8, Best-of-16 seed 9) and injected arithmetic errors."""
    files = {"bench": work / "bench.jsonl", "cal": work / "cal.jsonl", "bon": work / "bon.jsonl",
             "arith": work / "arith.jsonl", "prm_train": work / "prm_train.jsonl"}
    makers = {
        "bench": lambda: world_examples(args.bench, seed=7),
        "cal": lambda: world_examples(args.bench // 2, seed=8),
        "bon": lambda: [dataclasses.replace(ex, problem=dataclasses.replace(ex.problem, id=ex.problem.metadata["world_id"]))
                        for ex in world_examples(args.bon_problems, samples=16, seed=9)],
        "arith": lambda: arithmetic_errors(args.bench),
        "prm_train": lambda: world_examples(args.prm_train, seed=11),
    }
    for name, path in files.items():
        if not path.exists():
            write(makers[name](), path, "prmkit")
    return {name: list(read(path, "prmkit")) for name, path in files.items()}


def arithmetic_errors(n: int) -> list[Example]:
    """One injected arithmetic error (a wrong result) per problem, at a random equation step."""
    rng = random.Random(3)
    problems = generate(n, WorldConfig(min_steps=3, max_steps=6), seed=13)
    texts = [["\n".join(inject_error(p, "arithmetic", rng.randrange(len(p.events)), rng))] for p in problems]
    return label_solutions(problems, texts, generator="injected-arithmetic")


def f1(examples: list[Example], scores: list[StepScores], cal: list[Example], cal_scores: list[StepScores]) -> dict:
    return first_error_f1([dataclasses.replace(e, scores=s) for e, s in zip(examples, scores)],
                          [dataclasses.replace(e, scores=s) for e, s in zip(cal, cal_scores)])


def best_of_16(examples: list[Example], scores: list[StepScores]) -> dict:
    from prmkit.data import group_by_problem

    scored = [dataclasses.replace(e, scores=s) for e, s in zip(examples, scores)]
    sets = []
    for cands in group_by_problem(scored).values():
        answers = [c.solution.final_answer for c in cands]
        sets.append(([bool(c.correct) for c in cands], [aggregate(c.scores.values, "min") for c in cands],
                     metrics.cluster_answers(answers, lambda a, b: a == b)))
    table = metrics.best_of_n(sets, [16], resamples=200)[16]
    return {"rm@16": table["rm"]["value"], "weighted@16": table["weighted"]["value"], "maj@16": table["maj"]["value"],
            "pass@16": table["pass"]["value"]}


def chains_of(scorer, examples: list[Example]) -> list:
    out = []
    for start in range(0, len(examples), 256):
        part = examples[start: start + 256]
        out += scorer.chains([e.problem for e in part], [e.solution for e in part])
    return out


def generative_rows(name: str, model: str, sets: dict, ks: list[int], args: argparse.Namespace, bon: bool = True) -> dict:
    """Rows at every k from one K = max(ks) sample (bench, calibration and, with ``bon``, Best-of-16 sets)."""
    scorer = load_scorer(model, spec=f"generative,k={max(ks)},temperature={args.temperature}")
    started = time.perf_counter()
    chains = {s: chains_of(scorer, sets[s]) for s in ("bench", "cal", "bon")[: 3 if bon else 2]}
    seconds = time.perf_counter() - started
    rows = {}
    for k in ks:
        score = {s: [scorer.step_scores(c[:k], len(e.solution.steps)) for e, c in zip(sets[s], chains[s])] for s in chains}
        tokens = sum(ch.tokens + ch.read_tokens for c in chains["bench"] for ch in c[:k]) / len(sets["bench"])
        rows[f"{name} K={k}"] = {**f1(sets["bench"], score["bench"], sets["cal"], score["cal"]),
                                 **(best_of_16(sets["bon"], score["bon"]) if bon else {}), "tokens_per_solution": tokens,
                                 "unscored_steps": sum(v is None for s in score["bench"] for v in s.values)}
    rows[f"{name} K={max(ks)}"]["seconds_all_k"] = seconds
    return rows


def rounds_rows(name: str, model: str, sets: dict, rounds: list[int], args: argparse.Namespace) -> dict:
    rows = {}
    for r in rounds:
        if r == 0:
            continue
        scorer = load_scorer(model, spec=f"generative,k=1,rounds={r},temperature={args.temperature}")
        score = {s: [scorer.step_scores(c, len(e.solution.steps)) for e, c in zip(sets[s], chains_of(scorer, sets[s]))]
                 for s in ("bench", "cal")}
        rows[f"{name} K=1 rounds={r}"] = {**f1(sets["bench"], score["bench"], sets["cal"], score["cal"]),
                                          "tokens_per_solution": scorer.report["tokens"] / (len(sets["bench"]) + len(sets["cal"]))}
    return rows


def judge_rows(sets: dict, ks: list[int], args: argparse.Namespace) -> dict:
    """The bundled judge, label-only: the majority verdict of k critiques as the predicted first error."""
    from prmkit.annotate.judge import judge_labels
    from prmkit.backends import load_generator

    judge = load_generator("bundled-judge", max_batch_size=256)
    results = judge_labels(sets["bench"], judge, prompt="world", n=max(ks), temperature=args.temperature, max_tokens=128)
    rows = {}
    from prmkit.annotate.judge import vote

    for k in ks:
        preds: dict[str, tuple[list, list]] = {}
        for ex, res in zip(sets["bench"], results):
            verdict = vote(res["info"]["verdicts"][:k])
            p, g = preds.setdefault(str(ex.problem.metadata.get("subset") or "all"), ([], []))
            p.append(-2 if verdict is None else verdict)  # no verdict: never right
            g.append(-1 if ex.labels.first_error is None else ex.labels.first_error)
        f1s = [metrics.processbench_f1(p, g)["f1"] for p, g in preds.values()]
        rows[f"judge (votes) K={k}"] = {"f1@0.5": sum(f1s) / len(f1s),
                                       "tokens_per_solution": sum(r["tokens"] for r in results) * k / max(ks) / len(results)}
    return rows


def prm_rows(sets: dict, work: Path, args: argparse.Namespace) -> dict:
    from prmkit.pipelines import train

    prm = Path(args.prm) if args.prm else work / "implicit-prm"
    if not args.prm and not (prm / "prmkit_spec.json").exists():
        train.run(train.TrainConfig(model="bundled-policy", data=str(work / "prm_train.jsonl"), out=str(prm),
                                    spec="prmkit-implicit", target="steps", labels="soft", lr=1e-4, beta=0.5,
                                    epochs=3, batch_size=16, max_length=512, save_steps=10**6))
    scorer = load_scorer(str(prm))
    score = {s: scorer.score([e.problem for e in sets[s]], [e.solution for e in sets[s]]) for s in ("bench", "cal", "bon")}
    tokens = sum(len(scorer.tokenizer(e.problem.question + "\n".join(e.solution.steps))["input_ids"]) for e in sets["bench"])
    return {"implicit PRM": {**f1(sets["bench"], score["bench"], sets["cal"], score["cal"]),
                             **best_of_16(sets["bon"], score["bon"]), "tokens_per_solution": tokens / len(sets["bench"])}}


def arithmetic_rows(sets: dict, args: argparse.Namespace) -> dict:
    """Injected arithmetic errors caught (predicted first error == the injected step, at 0.5), K = 1."""
    caught = {}
    for name, model in (("plain", args.verifier), ("code", args.code_verifier)):
        scorer = load_scorer(model, spec=f"generative,k=1,temperature={args.temperature}")
        scores = scorer.score([e.problem for e in sets["arith"]], [e.solution for e in sets["arith"]])
        caught[name] = [metrics.predicted_first_error(s.values) == e.labels.first_error for e, s in zip(sets["arith"], scores)]
    both = list(zip(caught["plain"], caught["code"]))
    return {"arithmetic errors": len(both), "caught by plain": sum(caught["plain"]), "caught by code": sum(caught["code"]),
            "caught by code, missed by plain": sum(c and not p for p, c in both),
            "caught by plain, missed by code": sum(p and not c for p, c in both)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", default="runs/generative-scaling")
    parser.add_argument("--bench", type=int, default=200, help="held-out policy solutions for first-error F1")
    parser.add_argument("--bon-problems", type=int, default=30, help="problems x 16 policy samples for Best-of-16")
    parser.add_argument("--prm-train", type=int, default=2000, help="labelled policy samples the implicit PRM trains on")
    parser.add_argument("--ks", default="1,2,4,8")
    parser.add_argument("--rounds", default="0,1,2")
    parser.add_argument("--temperature", type=float, default=0.7)
    parser.add_argument("--verifier", default="bundled-verifier")
    parser.add_argument("--code-verifier", default="bundled-code-verifier")
    parser.add_argument("--prm", help="an implicit PRM folder (default: trained here on --prm-train solutions)")
    parser.add_argument("--code-ks", default="1,2,4,8", help="K for the code-checking verifier")
    parser.add_argument("--code-bon", action="store_true", help="Best-of-16 for the code-checking verifier too (slow: "
                        "a sandbox run per new block)")
    parser.add_argument("--skip", default="", help="comma-separated parts to skip: verifier,rounds,code,judge,prm,arith")
    args = parser.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    sets = make_sets(work, args)
    ks = [int(k) for k in args.ks.split(",")]
    code_ks = [int(k) for k in args.code_ks.split(",")]
    skip = set(filter(None, args.skip.split(",")))
    results: dict = {"rows": {}, "sets": {k: len(v) for k, v in sets.items()}, "args": vars(args)}
    if (work / "results.json").exists():  # a rerun of some parts keeps the rows of the others
        results["rows"] = json.loads((work / "results.json").read_text())["rows"]
    parts = [("verifier", lambda: generative_rows("verifier", args.verifier, sets, ks, args)),
             ("rounds", lambda: rounds_rows("verifier", args.verifier, sets, [int(r) for r in args.rounds.split(",")], args)),
             ("code", lambda: generative_rows("code verifier", args.code_verifier, sets, code_ks, args, bon=args.code_bon)),
             ("judge", lambda: judge_rows(sets, ks, args)),
             ("prm", lambda: prm_rows(sets, work, args))]
    for name, part in parts:
        if name in skip:
            continue
        started = time.perf_counter()
        results["rows"].update(part())
        print(f"{name}: {time.perf_counter() - started:.0f} s", flush=True)
        (work / "results.json").write_text(json.dumps(results, indent=2))
    if "arith" not in skip and "code" not in skip:
        results["arithmetic"] = arithmetic_rows(sets, args)
    (work / "results.json").write_text(json.dumps(results, indent=2))
    print(f"\n{'row':<28} {'F1@0.5':>7} {'F1 cal':>7} {'RM@16':>6} {'wtd@16':>7} {'tokens/sol':>11}")
    for name, r in results["rows"].items():
        cells = [r.get("f1@0.5"), r.get("f1_calibrated"), r.get("rm@16"), r.get("weighted@16")]
        print(f"{name:<28} " + " ".join(f"{c:>7.3f}" if c is not None else f"{'-':>7}" for c in cells)
              + f" {r['tokens_per_solution']:>11.0f}")
    bon = next((r for r in results["rows"].values() if "maj@16" in r), None)
    if bon:
        print(f"Best-of-16 baselines: maj@16 {bon['maj@16']:.3f}, pass@16 {bon['pass@16']:.3f}")
    if "arithmetic" in results:
        print("injected arithmetic errors:", results["arithmetic"])
    print(f"results: {work / 'results.json'}")


if __name__ == "__main__":
    main()
