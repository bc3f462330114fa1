"""The bundled policy: a small Llama-architecture LM trained from scratch on the world's gold solutions.

It is a real Hugging Face model (``AutoModelForCausalLM``/``AutoTokenizer`` load it) that makes real
mistakes, so that verifiers have something to verify. ``train_policy`` is seeded and resumable (a
checkpoint is written at every evaluation; rerunning the same command continues from it); it stops
once single-sample accuracy at temperature 0.8 on held-out 3-6-step problems reaches a target, so the
shipped model leaves room for verifiers. ``evaluate_policy`` measures accuracy, pass@k and the kinds
of errors with the exact checker.

Why Llama and a word-level tokenizer: transformers 5 reloads a tokenizer saved beside a ``qwen2``
config as ``Qwen2Tokenizer`` (its own digit-splitting pre-tokenizer), silently changing the ids; a
``llama`` folder keeps the saved tokenizer. Digits are single tokens so the model can learn arithmetic.
"""

from __future__ import annotations

import json
import math
import os
import random
import re
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Optional

import torch

from ..jobfolder import pause_point
from .checker import check
from .problems import ITEMS, NAMES, STEP_SEPARATOR, WorldConfig, WorldProblem, generate, gold_steps

__all__ = ["PolicyTrainConfig", "BUNDLED_POLICY", "prompt_of", "build_tokenizer", "train_policy", "evaluate_policy",
           "sample_solutions", "load_policy", "train_lm"]

BUNDLED_POLICY = Path(__file__).resolve().parent / "assets" / "policy"
_TOKEN = r" ?[A-Za-z]+| ?\d|\n| ?[^A-Za-z\d \n]| "  # a leading space joins the token: half the length
_SPECIALS = ["<pad>", "<unk>", "<bos>", "<eos>"]
CHAT_TEMPLATE = "{% for m in messages %}{% if m['role'] == 'user' %}{{ m['content'] }}\n{% else %}{{ m['content'] }}{% endif %}{% endfor %}"
EVAL_WORLD = WorldConfig(min_steps=3, max_steps=6)
EVAL_SEED = 10_007  # held-out problems: training uses seeds below this


def prompt_of(problem: WorldProblem | str) -> str:
    """The policy's prompt: the problem text and a newline; the completion is the steps, one per line."""
    return (problem if isinstance(problem, str) else problem.text) + "\n"


def build_tokenizer(extra_words: tuple[str, ...] = (), extra_symbols: str = "") -> Any:
    """Word-level tokenizer over the world's vocabulary: each word, digit or symbol, with or without a
    leading space, is one token (so numbers are read digit by digit). ``extra_words``/``extra_symbols``
    extend it (the judge's critique words); with none it is exactly the policy's tokenizer."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    words: set[str] = set(NAMES) | set(ITEMS)
    for p in generate(400, WorldConfig(), seed=1):
        words.update(re.findall(r"[A-Za-z]+", p.text + " ".join(gold_steps(p))))
    words.update(extra_words)
    symbols = list("0123456789") + list(".,?!:;+-*/=()'$%") + [c for c in extra_symbols if c not in ".,?!:;+-*/=()'$%"]
    pieces = symbols + sorted(words)
    vocab = {t: i for i, t in enumerate(_SPECIALS + [" ", "\n"] + pieces + [" " + x for x in pieces])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Split(Regex(_TOKEN), behavior="isolated")
    tok.decoder = decoders.Fuse()
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", unk_token="<unk>", bos_token="<bos>",
                                   eos_token="<eos>", model_max_length=512)
    fast.chat_template = CHAT_TEMPLATE
    return fast


@dataclass(frozen=True)
class PolicyTrainConfig:
    """Training of the bundled policy (defaults are what shipped).

    Args:
        train_problems: gold solutions to train on (2..8 steps, seeds 0..).
        hidden / layers / heads: model size (Llama architecture, tied embeddings).
        batch_size, lr, max_steps, warmup: optimisation (AdamW, cosine decay).
        eval_every: steps between evaluations (and checkpoints).
        eval_every_near / near_accuracy: once quick-eval accuracy passes ``near_accuracy``, evaluate every
            ``eval_every_near`` steps: accuracy rises sharply (0.26 to 0.84 within 200 steps was seen), and
            the target must not be overshot.
        eval_problems, eval_samples, eval_max_tokens: the quick evaluation (held-out 3-6-step problems,
            temperature 0.8).
        target_accuracy: stop once quick-eval accuracy reaches it (None: train max_steps).
        seed: seeds data order, initialisation and sampling.
    """

    train_problems: int = 20000
    hidden: int = 128
    layers: int = 3
    heads: int = 4
    batch_size: int = 32
    lr: float = 3e-3
    max_steps: int = 4000
    warmup: int = 50
    eval_every: int = 200
    eval_every_near: int = 25
    near_accuracy: float = 0.1
    eval_problems: int = 60
    eval_samples: int = 4
    eval_max_tokens: int = 160
    target_accuracy: Optional[float] = 0.5
    seed: int = 0


def _model(tokenizer: Any, cfg: PolicyTrainConfig) -> Any:
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=cfg.hidden, intermediate_size=4 * cfg.hidden,
                         num_hidden_layers=cfg.layers, num_attention_heads=cfg.heads, num_key_value_heads=cfg.heads,
                         max_position_embeddings=512, tie_word_embeddings=True, pad_token_id=tokenizer.pad_token_id,
                         bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id)
    torch.manual_seed(cfg.seed)
    return LlamaForCausalLM(config)


def _encode(tokenizer: Any, problems: list[WorldProblem]) -> list[tuple[list[int], int]]:
    """(ids, prompt length) per problem: prompt + gold steps + EOS."""
    out = []
    for p in problems:
        prompt = tokenizer(prompt_of(p), add_special_tokens=False)["input_ids"]
        completion = tokenizer(STEP_SEPARATOR.join(gold_steps(p)), add_special_tokens=False)["input_ids"]
        out.append((prompt + completion + [tokenizer.eos_token_id], len(prompt)))
    return out


def _batch(items: list[tuple[list[int], int]], pad: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    width = max(len(ids) for ids, _ in items)
    ids = torch.full((len(items), width), pad)
    labels = torch.full((len(items), width), -100)  # loss on the completion only
    mask = torch.zeros((len(items), width), dtype=torch.long)
    for b, (seq, n_prompt) in enumerate(items):
        ids[b, : len(seq)] = torch.tensor(seq)
        labels[b, n_prompt: len(seq)] = torch.tensor(seq[n_prompt:])
        mask[b, : len(seq)] = 1
    return ids, labels, mask


def sample_solutions(model: Any, tokenizer: Any, problems: list[WorldProblem], *, n: int, temperature: float,
                     seed: int, max_new_tokens: int = 160) -> list[list[str]]:
    """``n`` sampled solutions per problem, through the local ``HFGenerator`` (batched, KV cache)."""
    from ..backends.hf_generate import HFGenerator

    return HFGenerator(model, tokenizer).generate([prompt_of(p) for p in problems], n=n, temperature=temperature,
                                                  seed=seed, max_tokens=max_new_tokens)


def evaluate_policy(model: Any, tokenizer: Any, *, problems: int = 200, samples: int = 16, temperature: float = 0.8,
                    seed: int = EVAL_SEED, world: WorldConfig = EVAL_WORLD, max_new_tokens: int = 160) -> dict:
    """Accuracy (mean over samples), pass@k (any sample right), and first-error kinds, on held-out problems.

    Returns:
        ``{"accuracy", "pass_at_k", "k", "greedy_accuracy"?, "error_kinds": {kind: count}, "by_steps": {n: acc}, ...}``
    """
    model.eval()
    held_out = generate(problems, world, seed=seed, prefix="eval")
    texts = sample_solutions(model, tokenizer, held_out, n=samples, temperature=temperature, seed=seed,
                             max_new_tokens=max_new_tokens)
    kinds: Counter = Counter()
    per_problem, by_steps = [], {}
    for p, sols in zip(held_out, texts):
        results = [check(p, s) for s in sols]
        right = [r.final_correct for r in results]
        per_problem.append(right)
        by_steps.setdefault(len(p.events), []).extend(right)
        kinds.update(r.error_kind for r in results if not r.final_correct and r.error_kind)
    flat = [x for row in per_problem for x in row]
    return {"problems": problems, "k": samples, "temperature": temperature,
            "accuracy": sum(flat) / len(flat), "pass_at_k": sum(any(row) for row in per_problem) / len(per_problem),
            "by_steps": {str(k): sum(v) / len(v) for k, v in sorted(by_steps.items())},
            "error_kinds": dict(kinds.most_common())}


def load_policy(path: str | Path = BUNDLED_POLICY) -> tuple[Any, Any]:
    """(model, tokenizer) of a policy folder, the bundled one by default."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    return AutoModelForCausalLM.from_pretrained(path).eval(), AutoTokenizer.from_pretrained(path)


def train_lm(out: Path, cfg: Any, tokenizer: Any, data: list[tuple[list[int], int]], quick_eval: Callable[[Any], dict],
             log: Callable[[str], None], *, name: str, init: Optional[Callable[[Any], None]] = None) -> tuple[Any, dict, list]:
    """The seeded, resumable training loop of the world's small LMs (the policy and the judge).

    ``cfg`` is a frozen dataclass with the model size (``hidden``, ``layers``, ``heads``), optimisation
    (``batch_size``, ``lr``, ``max_steps``, ``warmup``), evaluation (``eval_every``, ``eval_every_near``,
    ``near_accuracy``, ``target_accuracy``) and ``seed``; ``data`` is (ids, prompt length) pairs (loss on
    the completion only); ``quick_eval(model)`` returns a dict with ``accuracy``; ``init(model)``, if given,
    sets the starting weights of a fresh run (e.g. from another model). A checkpoint is written
    atomically at every evaluation, so rerunning after a kill resumes from the last one (a test kills it
    at a known one: ``prmkit.jobfolder.pause_point``). Returns
    (model, last metrics, history); saving the model is the caller's.
    """
    out.mkdir(parents=True, exist_ok=True)
    model = _model(tokenizer, cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=0.01, betas=(0.9, 0.98))
    step, history = 0, []
    ckpt = out / "checkpoint.pt"
    if ckpt.exists():
        state = torch.load(ckpt, weights_only=False)
        if state["config"] != asdict(cfg):
            raise ValueError(f"{ckpt} was written with another config; remove it or use another --out")
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        step, history = state["step"], state["history"]
        log(f"resuming from step {step}")
    elif init is not None:
        init(model)
    per_epoch = len(data) // cfg.batch_size  # the last partial batch of each epoch is dropped
    order_rng = random.Random(cfg.seed)
    order: list[int] = []
    for _ in range(step // per_epoch + 1):  # replay the shuffles up to the resume point
        order = list(range(len(data)))
        order_rng.shuffle(order)
    pos = step % per_epoch * cfg.batch_size
    n_params = sum(p.numel() for p in model.parameters())
    log(f"{name}: {n_params / 1e6:.2f}M parameters, {len(data)} training sequences, vocab {len(tokenizer)}")
    t0, metrics = time.perf_counter(), history[-1] if history else {}
    reached = bool(history) and cfg.target_accuracy is not None and history[-1]["accuracy"] >= cfg.target_accuracy
    while step < cfg.max_steps and not reached:  # (reached: killed after the last evaluation, before saving)
        if pos + cfg.batch_size > per_epoch * cfg.batch_size:
            order = list(range(len(data)))
            order_rng.shuffle(order)
            pos = 0
        ids, labels, mask = _batch([data[i] for i in order[pos: pos + cfg.batch_size]], tokenizer.pad_token_id)
        pos += cfg.batch_size
        lr = cfg.lr * min(1.0, (step + 1) / cfg.warmup) * 0.5 * (1 + math.cos(math.pi * step / cfg.max_steps))
        for group in opt.param_groups:
            group["lr"] = lr
        model.train()
        loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        near = bool(history) and history[-1]["accuracy"] >= cfg.near_accuracy
        if step % (cfg.eval_every_near if near else cfg.eval_every) == 0 or step == cfg.max_steps:
            model.eval()
            metrics = quick_eval(model)
            metrics.update(step=step, loss=round(loss.item(), 4), seconds=round(time.perf_counter() - t0, 1))
            history.append(metrics)
            extra = f", pass@{metrics['k']} {metrics['pass_at_k']:.2f}" if "pass_at_k" in metrics else ""
            log(f"step {step}: loss {loss.item():.3f}, quick-eval accuracy {metrics['accuracy']:.2f}{extra} "
                f"({metrics['seconds']:.0f} s)")
            # atomic: a kill during the write leaves the previous checkpoint, never a truncated one
            torch.save({"config": asdict(cfg), "model": model.state_dict(), "optimizer": opt.state_dict(),
                        "step": step, "history": history}, ckpt.with_suffix(".tmp"))
            os.replace(ckpt.with_suffix(".tmp"), ckpt)
            pause_point("checkpoint")  # where a kill test stops the run (PRMKIT_PAUSE_AT=checkpoint:N)
            if cfg.target_accuracy is not None and metrics["accuracy"] >= cfg.target_accuracy:
                log(f"reached target accuracy {cfg.target_accuracy} at step {step}")
                break
    return model, metrics, history


def train_policy(out: str | Path, cfg: PolicyTrainConfig = PolicyTrainConfig(),
                 log: Callable[[str], None] = print) -> dict:
    """Train (or resume training) the policy into ``out``; returns the final quick-eval metrics.

    A checkpoint (``out/checkpoint.pt``: weights, optimizer, step, data order) is written at every
    evaluation, so a killed run resumes where its last evaluation left it.
    """
    out = Path(out)
    tokenizer = build_tokenizer()
    data = _encode(tokenizer, generate(cfg.train_problems, WorldConfig(), seed=cfg.seed))

    def quick_eval(model: Any) -> dict:
        return evaluate_policy(model, tokenizer, problems=cfg.eval_problems, samples=cfg.eval_samples,
                               seed=EVAL_SEED + 1, max_new_tokens=cfg.eval_max_tokens)

    model, metrics, history = train_lm(out, cfg, tokenizer, data, quick_eval, log, name="policy")
    # servers (`transformers serve`) follow generation_config: without do_sample they decode greedily
    model.generation_config.do_sample = True
    model.generation_config.temperature = 0.8
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    (out / "prmkit_policy.json").write_text(json.dumps({"train_config": asdict(cfg), "history": history}, indent=2))
    (out / "checkpoint.pt").unlink(missing_ok=True)
    return metrics
