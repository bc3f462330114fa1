"""``prmkit train target=chains``: supervised fine-tuning of a generative verifier on verification chains.

The ThinkPRM recipe's last stage: the chains come from ``prmkit annotate chains`` (sampled from a generator,
kept when their step verdicts agree with the labels), one JSON line each, ``{"prompt", "segments":
[[text, by_verifier], ...], "verifier_prompt"}``. The model is a causal LM trained with transformers' ``Trainer``
on the verifier's own text only: the prompt, the solution steps a guided chain is shown and the output of
code blocks are context, never targets. The saved folder carries ``prmkit_verifier.json`` (the verifier
prompt's name and scoring defaults), so ``prmkit score --model OUT`` loads it as a ``GenerativeScorer``.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path
from typing import Any

from ..data.io import iter_raw
from ..jobfolder import pause_point

__all__ = ["read_chains", "encode_chains", "train_chains", "VERIFIER_FILE"]

VERIFIER_FILE = "prmkit_verifier.json"


def read_chains(path: str) -> list[dict]:
    """Chain records from a JSONL file, each checked (a bad one: ``DataError`` naming file, line and field)."""
    from ..errors import DataError

    records = []
    for ctx, rec in iter_raw(path):
        if isinstance(rec, DataError):
            raise rec
        if not isinstance(rec, dict) or not isinstance(rec.get("prompt"), str):
            raise ctx.error("expected a string", "prompt")
        segs = rec.get("segments")
        if not isinstance(segs, list) or not segs or not all(
                isinstance(s, list) and len(s) == 2 and isinstance(s[0], str) and isinstance(s[1], bool) for s in segs):
            raise ctx.error("expected a non-empty list of [text, by_verifier] pairs", "segments")
        records.append(rec)
    return records


def encode_chains(records: list[dict], tokenizer: Any, max_length: int, report: Counter) -> list[dict]:
    """Token ids and labels (-100 on context) of each chain; chains longer than ``max_length`` are counted
    and left out whole (a cut chain would teach the verifier to stop mid-verdict)."""
    eos = tokenizer.eos_token_id
    unk = getattr(tokenizer, "unk_token_id", None)
    features = []
    for rec in records:
        # the whole text is tokenized at once, as the verifier reads it when it scores; a token is a target
        # when it starts inside the verifier's own text (segments tokenized apart would split differently)
        prompt = tokenizer(rec["prompt"], add_special_tokens=True)["input_ids"]
        chain = "".join(text for text, _ in rec["segments"])
        enc = tokenizer(chain, add_special_tokens=False, return_offsets_mapping=True)
        mine, at = [False] * len(chain), 0
        for text, by_verifier in rec["segments"]:
            mine[at: at + len(text)] = [by_verifier] * len(text)
            at += len(text)
        ids = prompt + enc["input_ids"]
        labels = [-100] * len(prompt) + [t if start < len(mine) and mine[start] else -100
                                         for t, (start, _) in zip(enc["input_ids"], enc["offset_mapping"])]
        if eos is not None:
            ids.append(eos)
            labels.append(eos)
        if unk is not None and unk in ids:
            report["chains with unknown tokens (extend the tokenizer)"] += 1
        if len(ids) > max_length:
            report["chains longer than max_length (left out)"] += 1
            continue
        features.append({"input_ids": ids, "labels": labels})
    report["chains trained on"] += len(features)
    return features


def _collate(pad_id: int):
    import torch

    def collate(batch: list[dict]) -> dict:
        width = max(len(f["input_ids"]) for f in batch)
        ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
        labels = torch.full((len(batch), width), -100, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for b, f in enumerate(batch):
            n = len(f["input_ids"])
            ids[b, :n], labels[b, :n], mask[b, :n] = torch.tensor(f["input_ids"]), torch.tensor(f["labels"]), 1
        return {"input_ids": ids, "labels": labels, "attention_mask": mask}

    return collate


def train_chains(config: Any, out: Path, log: Any, progress: Any = None) -> dict:
    """SFT of ``config.model`` (a causal LM folder or hub id) on the chains in ``config.data``; see the module."""
    import torch
    import transformers

    from ..backends import model_path
    from ..logs import verbose
    from .train import _complete_checkpoints, _report_callback, _silent, is_main_process, training_arguments

    transformers.set_seed(config.seed)
    if not is_main_process():  # the main process logs and writes for all (docs/training.md)
        log, progress = _silent, None
    records = read_chains(config.data)[: config.limit]
    if not records:
        raise ValueError(f"{config.data}: no chains to train on")
    prompts = Counter(r.get("verifier_prompt") for r in records)
    if len(prompts) > 1:
        raise ValueError(f"{config.data}: chains of several verifier prompts {sorted(map(str, prompts))}; train one at a time")
    source = model_path(config.model)
    tokenizer = transformers.AutoTokenizer.from_pretrained(source)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = transformers.AutoModelForCausalLM.from_pretrained(source, dtype=torch.float32)
    report: Counter = Counter()
    features = encode_chains(records, tokenizer, config.max_length, report)
    if not features:
        raise ValueError(f"{config.data}: every chain is longer than max_length={config.max_length}")

    class ChainTrainer(transformers.Trainer):
        def save_model(self, output_dir=None, _internal_call=False):  # noqa: ANN001
            super().save_model(output_dir, _internal_call)
            if _internal_call:
                pause_point("save")

    args = training_arguments(config, out)
    trainer = ChainTrainer(model=model, args=args, train_dataset=features, data_collator=_collate(tokenizer.pad_token_id),
                           callbacks=[_report_callback(transformers, log, progress)])
    if not verbose():
        trainer.remove_callback(transformers.PrinterCallback)
    checkpoints = _complete_checkpoints(out)
    result = trainer.train(resume_from_checkpoint=str(checkpoints[-1]) if checkpoints else None)
    model.generation_config.do_sample = False
    verifier = {"prompt": next(iter(prompts)) or "thinkprm", **(records[0].get("scorer") or {})}
    summary = {"target": "chains", "chains": len(features), "report": dict(report), "verifier": verifier,
               "train_loss": result.training_loss, "steps": result.global_step,
               "train_seconds": result.metrics.get("train_runtime"),
               "tokens": sum(len(f["input_ids"]) for f in features) * config.epochs,
               "resumed_from": checkpoints[-1].name if checkpoints else None, "processes": args.world_size}
    if is_main_process():
        trainer.model.save_pretrained(out)
        tokenizer.save_pretrained(out)
        (out / VERIFIER_FILE).write_text(json.dumps(verifier, indent=2))
        (out / "prmkit_train.json").write_text(json.dumps(summary, indent=2, default=str))
    if not math.isfinite(result.training_loss):
        raise RuntimeError(f"training diverged (loss {result.training_loss}); lower the learning rate")
    log(f"trained a generative verifier on {len(features)} chains (loss {result.training_loss:.3f}) -> {out}")
    return summary
