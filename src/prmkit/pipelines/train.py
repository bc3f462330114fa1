"""Train a discriminative PRM on step labels with transformers' ``Trainer``, through the spec that scores it.

``run(TrainConfig(...))`` reads in order: read labelled solutions -> load the backbone with the
spec's head (a causal LM such as the bundled policy gets a fresh 2-way token-classification head;
the spec's step tag is added to the vocabulary if it is not one token) -> encode every solution with
the scorer's own ``HFStepScorer.encode`` (so training reads exactly the positions scoring reads) ->
train with the loss only at step-tag positions -> save the model, tokenizer and ``prmkit_spec.json``,
so ``prmkit score --model OUT`` needs nothing else.

Soft labels stay floats end to end: the target at a step is the probability that it is correct, and
the loss is the cross-entropy against that distribution (for 0/1 labels, the usual cross-entropy;
TRL's ``PRMTrainer`` casts them to 0/1 instead). Steps past ``max_length`` are counted, never dropped
silently; unlabelled steps after a first error count as wrong (``StepLabels.propagated``), others are
left out of the loss.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Optional

from ..data import read
from ..types import Example

__all__ = ["TrainConfig", "run", "encode_examples", "step_loss", "IGNORE"]

IGNORE = -100.0  # target of a token that is not a step tag


@dataclass
class TrainConfig:
    """A PRM training run.

    Args:
        model: the backbone: a model folder or hub id (a causal LM, an encoder, or a PRM to fine-tune);
            ``bundled-policy`` names the synthetic world's policy.
        data: labelled solutions in any readable format (hard or soft step labels).
        out: where checkpoints and the final model go; a rerun resumes from the last checkpoint.
        spec: the PRM family (``prmkit ls scorers``); ``prmkit`` reads a 2-way head at a `` ки`` tag.
        labels: ``soft`` (train on the stored values) or ``hard`` (threshold them at 0.5 first).
        target: ``steps`` (a PRM: every labelled step) or ``outcome`` (the outcome-model baseline: the last
            step only, labelled with the solution's final-answer correctness; read it with ``last`` aggregation).
        data_format: the data's format, detected when omitted.
        epochs / lr / batch_size / weight_decay / warmup_ratio: optimisation (AdamW, linear decay).
        max_length: tokens per solution at most; steps beyond are counted in the report.
        save_steps: checkpoint every this many optimiser steps.
        seed: seeds initialisation of the head and data order.
        limit: train on the first ``limit`` solutions only.
    """

    model: str
    data: str
    out: str
    spec: str = "prmkit"
    labels: str = "soft"
    target: str = "steps"
    data_format: Optional[str] = None
    epochs: float = 1.0
    lr: float = 1e-4
    batch_size: int = 8
    weight_decay: float = 0.0
    warmup_ratio: float = 0.05
    max_length: int = 1024
    save_steps: int = 200
    seed: int = 0
    limit: Optional[int] = None

    def __post_init__(self) -> None:
        if self.labels not in ("soft", "hard"):
            raise ValueError(f"labels must be 'soft' or 'hard', not {self.labels!r}")
        if self.target not in ("steps", "outcome"):
            raise ValueError(f"target must be 'steps' or 'outcome', not {self.target!r}")


def step_loss(logits: Any, targets: Any, positive_index: int = 1) -> Any:
    """Cross-entropy of a 2-way head against soft targets at step positions (``targets != IGNORE``).

    ``targets`` holds, per token, the probability that the step ending there is correct; with 0/1
    targets this is the usual cross-entropy.
    """
    import torch

    mask = targets != IGNORE
    if not mask.any():
        return logits.sum() * 0.0
    logp = torch.log_softmax(logits[mask].float(), dim=-1)
    p = targets[mask].float()
    return -(p * logp[:, positive_index] + (1 - p) * logp[:, 1 - positive_index]).mean()


def encode_examples(examples: list[Example], encoder: Any, labels: str, report: Counter,
                    target: str = "steps") -> list[dict]:
    """Token ids and per-token targets of each labelled example, at the positions ``encoder`` reads.

    With ``target="outcome"`` only the last step is a target: the solution's correctness (``correct``,
    else its last step label)."""
    features = []
    for ex in examples:
        if target == "outcome":
            last = ex.correct if ex.correct is not None else (ex.labels.propagated().values[-1] if ex.labels else None)
            if last is None:
                report["solutions without an outcome label"] += 1
                continue
            values: tuple = (None,) * (len(ex.solution.steps) - 1) + (float(last),)
        elif ex.labels is None:
            report["solutions without labels"] += 1
            continue
        else:
            values = ex.labels.propagated().values
        if labels == "hard":
            values = tuple(None if v is None else float(v >= 0.5) for v in values)
        enc = encoder.encode(ex.problem, ex.solution.steps)
        targets = [IGNORE] * len(enc.input_ids)
        for pos, v in zip(enc.read_positions, values):
            if v is None:
                report["unlabelled steps (not trained on)"] += target == "steps"
            elif pos is None:
                report["labelled steps past max_length (not trained on)"] += 1
            else:
                targets[pos] = v
                report["trained steps"] += 1
        features.append({"input_ids": enc.input_ids, "step_targets": targets})
    return features


def _collate(pad_id: int):
    import torch

    def collate(batch: list[dict]) -> dict:
        width = max(len(f["input_ids"]) for f in batch)
        ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        targets = torch.full((len(batch), width), IGNORE, dtype=torch.float32)
        for b, f in enumerate(batch):
            n = len(f["input_ids"])
            ids[b, :n] = torch.tensor(f["input_ids"])
            mask[b, :n] = 1
            targets[b, :n] = torch.tensor(f["step_targets"], dtype=torch.float32)
        return {"input_ids": ids, "attention_mask": mask, "step_targets": targets}

    return collate


def _load(config: TrainConfig) -> tuple[Any, Any, Any]:
    """(model with the spec's head, tokenizer with the step tag as one token, spec)."""
    import transformers

    from ..backends.families import get_spec

    path = config.model
    if path == "bundled-policy":
        from ..world.policy import BUNDLED_POLICY

        path = str(BUNDLED_POLICY)
    spec = get_spec(config.spec, path)
    if spec.head != "token_cls":
        raise ValueError(f"spec {spec.name!r} has a {spec.head!r} head; this trainer trains token_cls heads")
    tokenizer = transformers.AutoTokenizer.from_pretrained(path)
    tag = spec.step_tag.strip()
    added = tokenizer.add_tokens([tag]) if len(tokenizer(tag, add_special_tokens=False)["input_ids"]) != 1 else 0
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = transformers.AutoModelForTokenClassification.from_pretrained(path, num_labels=2)
    if added:
        model.resize_token_embeddings(len(tokenizer))
    model.config.pad_token_id = tokenizer.pad_token_id
    return model, tokenizer, spec


def _complete_checkpoints(out: Path) -> list[Path]:
    """``checkpoint-N`` folders that were fully written, oldest first. ``Trainer`` writes a checkpoint's
    ``trainer_state.json`` last, so a folder without a readable one was cut short by a kill."""
    complete = []
    for folder in out.glob("checkpoint-*"):
        try:
            json.loads((folder / "trainer_state.json").read_text())
        except (OSError, ValueError):
            continue
        complete.append(folder)
    return sorted(complete, key=lambda p: int(p.name.split("-")[1]))


def run(config: TrainConfig, log: Any = print) -> dict:
    """Train (or resume) and save; returns the report (also written to ``OUT/prmkit_train.json``)."""
    import torch
    import transformers

    from ..backends.hf_transformers import HFStepScorer

    transformers.set_seed(config.seed)
    out = Path(config.out)
    examples = list(read(config.data, config.data_format))[: config.limit]
    model, tokenizer, spec = _load(config)
    report: Counter = Counter()
    encoder = HFStepScorer(model, tokenizer, spec, max_length=config.max_length)
    features = encode_examples(examples, encoder, config.labels, report, config.target)
    report.update({f"solutions {k}": v for k, v in encoder.report.items()})
    if not features:
        raise ValueError(f"{config.data}: no labelled solutions to train on")
    model.train()

    class StepTrainer(transformers.Trainer):
        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):  # noqa: ANN001
            targets = inputs.pop("step_targets")
            outputs = model(**inputs)
            loss = step_loss(outputs.logits, targets, spec.positive_index)
            return (loss, outputs) if return_outputs else loss

    args = transformers.TrainingArguments(
        output_dir=str(out), per_device_train_batch_size=config.batch_size, num_train_epochs=config.epochs,
        learning_rate=config.lr, weight_decay=config.weight_decay, warmup_steps=config.warmup_ratio,
        lr_scheduler_type="linear", save_steps=config.save_steps, save_total_limit=2, logging_steps=10,
        seed=config.seed, report_to=[], remove_unused_columns=False,
        dataloader_num_workers=0, dataloader_pin_memory=torch.cuda.is_available(), disable_tqdm=False)
    trainer = StepTrainer(model=model, args=args, train_dataset=features, data_collator=_collate(tokenizer.pad_token_id))
    checkpoints = _complete_checkpoints(out)
    result = trainer.train(resume_from_checkpoint=str(checkpoints[-1]) if checkpoints else None)
    trainer.save_model(str(out))
    tokenizer.save_pretrained(out)
    spec.save(out)
    summary = {"config": asdict(config), "spec": spec.name, "solutions": len(features), "report": dict(report),
               "train_loss": result.training_loss, "steps": result.global_step,
               "resumed_from": checkpoints[-1].name if checkpoints else None}
    (out / "prmkit_train.json").write_text(json.dumps(summary, indent=2))
    if not math.isfinite(result.training_loss):
        raise RuntimeError(f"training diverged (loss {result.training_loss}); lower the learning rate")
    log(f"trained {spec.name} PRM on {len(features)} solutions ({report['trained steps']} steps) -> {out}")
    return summary
