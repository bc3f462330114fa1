"""Issue 6's acceptance run: PRMs trained on Monte-Carlo labels of the synthetic world, in one table.

From one set of MC-labelled policy samples (``prmkit annotate mc``, made here if missing), train
with ``prmkit.pipelines.train`` and compare on held-out problems:

* **soft**: the bundled policy + a 2-way head, on the soft MC labels (the share of successful rollouts);
* **hard**: the same, labels thresholded at 0.5;
* **outcome**: the outcome-model baseline, last step only, final-answer labels;
* **implicit**: an implicit PRM (beta * log pi/pi_ref), trained on the outcome labels only;
* **implicit-mc**: the implicit parameterisation trained on the soft MC labels at every step (sigmoid of the
  cumulative log-ratio is a Q-value, which is what an MC label estimates);
* optional extra variants: ``words`` (LM-head `` +``/`` -``), ``value`` (scalar head), ``lora``, ``minilm``
  (the pretrained MiniLM-L6 encoder as backbone).

Each model gets: training wall time; ProcessBench first-error F1 (the paper's average over subsets, here
the 3..6-step subsets) on held-out policy samples, at the fixed 0.5 threshold and at a threshold calibrated
on a separate calibration set; Best-of-16 accuracy on 16 policy samples per held-out problem. Problems
are drawn with different seeds: training 11, benchmark 7, calibration 8, Best-of-N 9 (the policy was
trained on seed 0).

    .venv/bin/python benchmarks/world_prm_table.py                       # ~1 hour on 2 cores with labelling
    .venv/bin/python benchmarks/world_prm_table.py --variants soft,hard --train runs/i6/mc/mc.jsonl
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

from prmkit.data import write
from prmkit.pipelines import evaluate, train
from prmkit.world.export import world_examples

VARIANTS = {
    "soft": dict(spec="prmkit", labels="soft"),
    "hard": dict(spec="prmkit", labels="hard"),
    "outcome": dict(spec="prmkit", labels="hard", target="outcome"),
    "implicit": dict(spec="prmkit-implicit", labels="hard", lr=1e-4, beta=0.5),
    "implicit-mc": dict(spec="prmkit-implicit", target="steps", labels="soft", lr=1e-4, beta=0.5),
    "words": dict(spec="prmkit-words", labels="soft"),
    "value": dict(spec="prmkit-value", labels="soft"),
    "lora": dict(spec="prmkit", labels="soft", lora_r=16, lora_alpha=32, lr=3e-3),
    "minilm": dict(model="minilm", spec="prmkit", labels="soft", lr=1e-4),
}
AGGREGATE = {"outcome": "last", "implicit": "last"}  # the step PRMs: min


def make_data(work: Path, args: argparse.Namespace) -> dict[str, Path]:
    """Held-out benchmark, calibration and Best-of-N files (and MC training labels if none are given)."""
    files = {"bench": work / "bench.json", "cal": work / "calibration.json", "bon": work / "bon.jsonl"}
    if not files["bench"].exists():
        write(world_examples(args.bench, seed=7), files["bench"], "processbench")
    if not files["cal"].exists():
        write(world_examples(args.bench // 2, seed=8), files["cal"], "processbench")
    if not files["bon"].exists():  # one candidate set per problem: ids grouped by the world problem
        samples = world_examples(args.bon_problems, samples=16, seed=9)
        write([dataclasses.replace(ex, problem=dataclasses.replace(ex.problem, id=ex.problem.metadata["world_id"]))
               for ex in samples], files["bon"], "prmkit")
    files["train"] = Path(args.train) if args.train else work / "mc" / "mc.jsonl"
    if not files["train"].exists():
        from prmkit.pipelines import annotate
        from prmkit.world.policy import BUNDLED_POLICY

        pool = work / "train-solutions.jsonl"
        write(world_examples(args.train_n, seed=11), pool, "prmkit")
        annotate.run(annotate.AnnotateConfig(data=str(pool), out=str(work / "mc"), methods=("mc",),
                                             generator=str(BUNDLED_POLICY), k=8, max_tokens=160, chunk_size=64))
    return files


def evaluate_model(name: str, model: Path, files: dict[str, Path]) -> dict:
    pb = evaluate.run(evaluate.EvalConfig("processbench", data=str(files["bench"]), model=str(model),
                                          threshold_policy="calibrated", calibrate_on=str(files["cal"])))
    bon = {agg: evaluate.run(evaluate.EvalConfig("bon", data=str(files["bon"]), model=str(model), aggregate=agg,
                                                 n=(1, 4, 16), bootstrap=200))
           for agg in ("min", "last")}
    return {"pb_f1@0.5": pb["threshold"]["average_f1_at_fixed"], "pb_f1_calibrated": pb["average_f1"],
            "threshold": pb["threshold"]["threshold"], "bon": {a: r["n"] for a, r in bon.items()},
            "aggregate": AGGREGATE.get(name, "min")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", default="runs/world-prm-table")
    parser.add_argument("--train", help="MC-labelled training solutions (default: made in --work)")
    parser.add_argument("--train-n", type=int, default=2000, help="problems to label when --train is absent")
    parser.add_argument("--bench", type=int, default=500, help="held-out benchmark problems")
    parser.add_argument("--bon-problems", type=int, default=200)
    parser.add_argument("--variants", default="soft,hard,outcome,implicit,implicit-mc")
    parser.add_argument("--epochs", type=float, default=3)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--batch-size", type=int, default=16)
    args = parser.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    files = make_data(work, args)
    rows = {}
    for name in args.variants.split(","):
        cfg = dict(model="bundled-policy", data=str(files["train"]), out=str(work / name), epochs=args.epochs,
                   lr=args.lr, batch_size=args.batch_size, max_length=512, save_steps=10**6, seed=0)
        cfg.update(VARIANTS[name])
        started = time.time()
        summary = train.run(train.TrainConfig(**cfg), log=print)
        rows[name] = {"train_wall_s": time.time() - started, "train_s": summary["train_seconds"],
                      "steps_trained": summary["report"].get("trained steps"), "solutions": summary["solutions"],
                      "config": cfg, **evaluate_model(name, work / name, files)}
        (work / "table.json").write_text(json.dumps(rows, indent=2))
    bon_any = next(iter(rows.values()))["bon"]["min"]
    print(f"\ntraining data: {files['train']} ({next(iter(rows.values()))['solutions']} solutions); "
          f"held-out: {args.bench} problems (ProcessBench), {args.bon_problems} x 16 samples (Best-of-N)")
    print(f"Best-of-16 baselines: pass@1 {bon_any['1']['pass']['value']:.3f}, maj@16 {bon_any['16']['maj']['value']:.3f}, "
          f"pass@16 {bon_any['16']['pass']['value']:.3f}")
    print(f"{'model':<10} {'train s':>8} {'PB F1@0.5':>10} {'PB F1 cal':>10} {'thr':>5} {'BoN@16':>7} {'agg':>5} "
          f"{'BoN@16 min':>11} {'BoN@16 last':>12}")
    for name, r in rows.items():
        print(f"{name:<10} {r['train_wall_s']:>8.0f} {r['pb_f1@0.5'] or 0:>10.3f} {r['pb_f1_calibrated'] or 0:>10.3f} "
              f"{r['threshold']:>5.2f} {r['bon'][r['aggregate']]['16']['rm']['value']:>7.3f} {r['aggregate']:>5} "
              f"{r['bon']['min']['16']['rm']['value']:>11.3f} {r['bon']['last']['16']['rm']['value']:>12.3f}")
    print(f"results: {work / 'table.json'}")


if __name__ == "__main__":
    main()
