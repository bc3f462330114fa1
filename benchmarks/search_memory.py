"""Peak memory of PRM beam search as the number of problems grows: the byte-bounded, released prefix cache.

Each run is ``prmkit search --method beam --n 16`` on the first K of the quickstart's 60 search problems
(the same loop: the bundled policy, beam width 4, problem ``i`` seeded ``100 + 1000 * i``), with the
quickstart PRM, in a fresh subprocess; its peak RSS is read from the kernel for that child alone
(``os.wait4``). The runs:

* **bounded** (what ``prmkit search`` does now): ``HFStepScorer(incremental=True)`` with its default byte
  budget, each problem's states released when its search ends; at every size.
* **full**: full re-scoring (``incremental=False``), the reference the picks must equal; at the largest size.
* **kept** (with ``--kept``; the cache as it was): an unlimited budget and a scorer without ``release``, so
  every state is kept to the end; at every size.

The script prints peak RSS per run, the largest/smallest ratio of the bounded runs, and whether every
run chose the same answers with the same accuracy (and the largest step-score difference to full
re-scoring).

    .venv/bin/python benchmarks/search_memory.py                      # about 4 minutes on 2 cores
    .venv/bin/python benchmarks/search_memory.py --model runs/demo/quickstart   # a quickstart's folder

Without ``--model`` it uses the PRM of ``make demo`` (runs/demo/quickstart) or of ``prmkit quickstart``
(runs/quickstart) when there is one, and otherwise trains it once with the quickstart's own code into
runs/search-memory/quickstart (a few minutes; the quickstart's search stage there is cut to one problem).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
KNOWN_PRMS = [REPO / "runs" / "demo" / "quickstart", REPO / "runs" / "quickstart"]
TRAINED_HERE = REPO / "runs" / "search-memory" / "quickstart"
SEED = 100  # QuickstartConfig.seed: the search problems are drawn with seed + 3


def prm_folder(path: Path) -> Path:
    """A PRM folder, given it or a quickstart's output folder (which holds it under prm/)."""
    return path / "prm" if (path / "prm" / "prmkit_spec.json").exists() else path


def find_or_train_prm(model: str | None) -> Path:
    if model:
        return prm_folder(Path(model))
    for folder in KNOWN_PRMS + [TRAINED_HERE]:
        if (folder / "prm" / "prmkit_spec.json").exists():
            print(f"PRM: {folder / 'prm'}")
            return folder / "prm"
    print(f"PRM: none found in {', '.join(str(p) for p in KNOWN_PRMS)}; training the quickstart's into {TRAINED_HERE}")
    subprocess.run([sys.executable, __file__, "--train", str(TRAINED_HERE)], check=True)
    return TRAINED_HERE / "prm"


def train(out: str) -> None:
    """The quickstart's stages as they are (sample, MC labels, train, evaluate), its search cut to one problem."""
    from prmkit.pipelines.quickstart import QuickstartConfig, run

    run(QuickstartConfig(out=out, bench_problems=20, search_problems=1, n=(1,), seed=SEED))


class Watched:
    """The scorer as the search sees it, noting the most bytes its cache held after any call; ``release``
    is passed on only when ``release`` is true (without it, states outlive their problem, as they used to)."""

    def __init__(self, scorer, release: bool):
        self.scorer, self.report, self.peak_cached = scorer, scorer.report, 0
        if release and hasattr(scorer, "release"):
            self.release = scorer.release

    def score(self, problems, solutions):
        out = self.scorer.score(problems, solutions)
        self.peak_cached = max(self.peak_cached, getattr(self.scorer, "cached_bytes", 0))
        return out


def child(mode: str, prm: str, problems: int, n: int) -> None:
    """One run (in its own process): beam search on the first ``problems`` problems; prints one JSON line."""
    from prmkit.answers import grade
    from prmkit.backends import load_generator
    from prmkit.backends.hf_transformers import HFStepScorer
    from prmkit.search.primitives import StepPolicy
    from prmkit.search.strategies import PICKS, beam_search
    from prmkit.world.export import world_examples

    if mode == "full":
        scorer = HFStepScorer.from_pretrained(prm)
    elif mode == "kept":
        scorer = HFStepScorer.from_pretrained(prm, incremental=True, max_cache_bytes=2**62)
    else:
        scorer = HFStepScorer.from_pretrained(prm, incremental=True)
    searched = Watched(scorer, release=mode != "kept")
    policy = StepPolicy(load_generator("bundled-policy"))  # SearchConfig's defaults
    chosen, correct, scores = [], {p: 0 for p in PICKS}, []
    for i, ex in enumerate(world_examples(problems, source="injected", seed=SEED + 3)):
        result = beam_search(ex.problem, policy, searched, n, beam_width=4, aggregate="last", seed=SEED + 1000 * i)
        picks = {p: result.pick(p) for p in PICKS}
        chosen.append(picks)
        for p, answer in picks.items():
            correct[p] += answer is not None and grade(answer, ex.problem.answer)
        scores.append([list(c.scores) for c in result.candidates])
    print(json.dumps({"picks": chosen, "accuracy": {p: k / problems for p, k in correct.items()}, "scores": scores,
                      "peak_cached_bytes": searched.peak_cached, "budget": getattr(scorer, "max_cache_bytes", None),
                      "evicted": scorer.report.get("prefix states evicted", 0), "tokens": scorer.report["tokens"]}))


def measure(mode: str, prm: Path, problems: int, n: int) -> dict:
    """Run ``child`` in a fresh process; its result and its own peak RSS (bytes)."""
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, __file__, "--child", mode, "--model", str(prm), "--problems",
                             str(problems), "--n", str(n)], stdout=subprocess.PIPE, env=env, text=True)
    output = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)  # this child's rusage, not every child's so far
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{mode} run on {problems} problems failed (exit {proc.returncode})")
    result = json.loads(output.strip().splitlines()[-1])
    result["peak_rss"] = usage.ru_maxrss * 1024  # kilobytes on Linux
    result["seconds"] = time.perf_counter() - started
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="a quickstart output folder or a PRM folder (default: see the docstring)")
    parser.add_argument("--sizes", default="5,20,60", help="numbers of problems")
    parser.add_argument("--n", type=int, default=16)
    parser.add_argument("--kept", action="store_true", help="also the kept run (no budget, no release) at every size")
    parser.add_argument("--json", help="write the results here")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--problems", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--train", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.train:
        return train(args.train)
    if args.child:
        return child(args.child, args.model, args.problems, args.n)
    prm = find_or_train_prm(args.model)
    sizes = sorted(int(k) for k in args.sizes.split(","))
    largest = sizes[-1]
    plan = [("bounded", k) for k in sizes] + [("full", largest)] + [("kept", k) for k in sizes if args.kept]
    runs = {}
    print(f"beam search N={args.n}, width 4, quickstart PRM {prm}; peak RSS of each run's own process")
    print(f"{'run':<8} {'problems':>8} {'peak RSS GB':>12} {'PRM pick':>9} {'weighted':>9} {'majority':>9} "
          f"{'cache GB':>9} {'PRM tokens':>11} {'s':>6}")
    for mode, k in plan:
        r = runs[mode, k] = measure(mode, prm, k, args.n)
        acc = r["accuracy"]
        print(f"{mode:<8} {k:>8} {r['peak_rss'] / 1e9:>12.3f} {acc['prm']:>9.3f} {acc['weighted']:>9.3f} "
              f"{acc['majority']:>9.3f} {r['peak_cached_bytes'] / 1e9:>9.3f} {r['tokens']:>11,} {r['seconds']:>6.0f}",
              flush=True)
    bounded = [runs["bounded", k] for k in sizes]
    ratio = bounded[-1]["peak_rss"] / bounded[0]["peak_rss"]
    print(f"bounded peak RSS, {largest} problems / {sizes[0]}: {ratio:.2f}")
    full = runs["full", largest]
    same = all(r["picks"] == full["picks"][: len(r["picks"])] for r in runs.values())
    worst = max(abs(a - b) for r in runs.values() for got, want in zip(r["scores"], full["scores"])
                for gc, wc in zip(got, want) for a, b in zip(gc, wc) if a is not None and b is not None)
    print(f"same picks as full re-scoring in every run: {same}; largest step-score difference: {worst:.1e}")
    if args.json:
        out = {f"{m}@{k}": {x: y for x, y in r.items() if x != "scores"} for (m, k), r in runs.items()}
        Path(args.json).write_text(json.dumps({"ratio": ratio, "same_picks": same, "max_score_difference": worst,
                                               "runs": out}, indent=2) + "\n")


if __name__ == "__main__":
    main()
