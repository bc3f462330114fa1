"""PRM time inside beam search: incremental step scoring vs full re-scoring, in one run.

Beam search asks the PRM for the scores of every candidate after every step. Full re-scoring reads each
candidate's whole solution again (the question and all earlier steps); incremental scoring
(``HFStepScorer(incremental=True)``) keeps each scored solution's KV cache and reads only the new step.
Both runs search the same synthetic-world problems, with 8 to 10 steps, with the bundled policy, the
same seeds and the same PRM, so they write the same candidates; the script checks that both chose the
same answers and that the scores agree to 1e-4, and prints the PRM's seconds and tokens read in each.

    .venv/bin/python benchmarks/incremental_scoring.py                  # about 2 minutes on 2 cores
    .venv/bin/python benchmarks/incremental_scoring.py --prm runs/prm   # any trained PRM folder
"""

from __future__ import annotations

import argparse
import json

import torch
import transformers

from prmkit.backends import load_generator
from prmkit.backends.families import get_spec
from prmkit.backends.hf_transformers import HFStepScorer
from prmkit.search.primitives import StepPolicy
from prmkit.search.strategies import beam_search
from prmkit.world.export import world_examples
from prmkit.world.policy import BUNDLED_POLICY
from prmkit.world.problems import WorldConfig


def scorers(prm: str | None) -> tuple[HFStepScorer, HFStepScorer]:
    if prm:
        return HFStepScorer.from_pretrained(prm), HFStepScorer.from_pretrained(prm, incremental=True)
    # no PRM given: the bundled policy with a fresh head (speed does not depend on the head's weights)
    torch.manual_seed(0)
    spec = get_spec("prmkit")
    tok = transformers.AutoTokenizer.from_pretrained(str(BUNDLED_POLICY))
    tok.add_tokens([spec.step_tag.strip()])
    model = transformers.AutoModelForTokenClassification.from_pretrained(str(BUNDLED_POLICY), num_labels=2).eval()
    model.resize_token_embeddings(len(tok))
    return HFStepScorer(model, tok, spec), HFStepScorer(model, tok, spec, incremental=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prm", help="a PRM folder (default: the bundled policy with a fresh 2-way head)")
    parser.add_argument("--problems", type=int, default=20)
    parser.add_argument("--n", type=int, default=16)
    parser.add_argument("--beam-width", type=int, default=4)
    parser.add_argument("--steps", default="8-10", help="steps per problem")
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args()
    lo, hi = (int(x) for x in args.steps.split("-"))
    problems = [ex.problem for ex in world_examples(args.problems, WorldConfig(min_steps=lo, max_steps=hi),
                                                    source="injected", seed=12)]
    policy = StepPolicy(load_generator("bundled-policy"), max_steps=hi + 4)
    results = {}
    for name, scorer in zip(("full", "incremental"), scorers(args.prm)):
        runs = [beam_search(p, policy, scorer, args.n, beam_width=args.beam_width, seed=i) for i, p in enumerate(problems)]
        results[name] = {"prm_seconds": sum(r.compute.prm_seconds for r in runs),
                         "prm_tokens": sum(r.compute.prm_tokens for r in runs),
                         "search_seconds": sum(r.compute.seconds for r in runs),
                         "steps": [max(len(c.steps) for c in r.candidates) for r in runs],
                         "answers": [r.pick("prm") for r in runs],
                         "scores": [[list(c.scores) for c in r.candidates] for r in runs]}
    full, inc = results["full"], results["incremental"]
    worst = max((abs(a - b) for fa, ia in zip(full["scores"], inc["scores"]) for fc, ic in zip(fa, ia)
                 for a, b in zip(fc, ic)), default=0.0)
    print(f"{args.problems} problems, beam search N={args.n} width {args.beam_width}, "
          f"solutions of {min(full['steps'])}-{max(full['steps'])} steps")
    print(f"{'scoring':<12} {'PRM s':>8} {'PRM tokens':>11} {'search s':>9}")
    for name, r in results.items():
        print(f"{name:<12} {r['prm_seconds']:>8.2f} {r['prm_tokens']:>11,} {r['search_seconds']:>9.2f}")
    print(f"incremental/full PRM time: {full['prm_seconds'] / inc['prm_seconds']:.2f}x faster; "
          f"PRM tokens {full['prm_tokens'] / inc['prm_tokens']:.2f}x fewer")
    print(f"same answers: {full['answers'] == inc['answers']}; largest score difference: {worst:.2e}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({k: {x: y for x, y in v.items() if x != "scores"} for k, v in results.items()}
                      | {"max_score_difference": worst}, f, indent=2)


if __name__ == "__main__":
    main()
