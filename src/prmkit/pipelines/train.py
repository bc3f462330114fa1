"""Train a PRM with transformers' ``Trainer``, through the spec that scores it.

``run(TrainConfig(...))`` reads in order: read labelled solutions -> load the backbone with the
spec's head (token classification, LM-head label words, a scalar value head, or an implicit PRM and
its frozen reference; LoRA through PEFT on request; the step tag is added to the vocabulary if it is
not one token) -> encode every solution with the scorer's own ``HFStepScorer.encode`` -> (implicit
PRMs) cache the reference's log-probs on disk -> train with the loss only at read positions, on
``HFStepScorer.step_logits``, the very logits scoring reads -> save the model, tokenizer and
``prmkit_spec.json`` (and the reference), so ``prmkit score --model OUT`` needs nothing else.

Soft labels stay floats end to end: the target at a step is the probability that it is correct, and
the loss is the cross-entropy against that distribution (for 0/1 labels, the usual cross-entropy;
TRL's ``PRMTrainer`` casts them to 0/1 instead). Steps past ``max_length`` are counted, never dropped
silently; unlabelled steps after a first error count as wrong (``StepLabels.propagated``), others are
left out of the loss. An implicit PRM (Yuan et al. 2024) is the same loss on one target per
solution, its outcome, read at the last step: ``sigmoid(beta * Σ log pi/pi_ref)``.

A run holds its folder's lock (``prmkit.jobfolder``), so a second run into the same ``out`` refuses at
once; kill tests stop it at a known checkpoint with ``PRMKIT_PAUSE_AT`` (``save:N``, ``checkpoint:N``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
from collections import Counter
from contextlib import nullcontext
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Optional

from ..backends import model_path
from ..data import read
from ..jobfolder import lock, pause_point
from ..types import Example

__all__ = ["TrainConfig", "run", "encode_examples", "step_loss", "IGNORE"]

IGNORE = -100.0  # target of a token that is not a step tag


@dataclass
class TrainConfig:
    """A PRM training run.

    Args:
        model: the backbone: a model folder or hub id (a causal LM, an encoder, or a PRM to fine-tune), or
            a name from ``prmkit.backends.LOCAL_MODELS`` (``bundled-policy``; ``minilm``, the pretrained
            MiniLM-L6 encoder).
        data: labelled solutions in any readable format (hard or soft step labels).
        out: where checkpoints and the final model go; a rerun resumes from the last checkpoint.
        spec: the PRM family (``prmkit ls scorers``), which fixes the head: ``prmkit`` (2-way token
            classification at a `` ки`` tag), ``prmkit-words`` (LM logits of `` +``/`` -``), ``prmkit-value``
            (a scalar head), ``prmkit-implicit`` (an implicit PRM on outcome labels).
        labels: ``soft`` (train on the stored values) or ``hard`` (threshold them at 0.5 first).
        target: ``steps`` (a PRM: every labelled step) or ``outcome`` (the last step only, labelled with the
            solution's final-answer correctness: the outcome-model baseline, read with ``last`` aggregation,
            and what implicit PRMs train on), or ``chains`` (a generative verifier: causal-LM fine-tuning on the
            verifier's text of ``prmkit annotate chains`` output, ``spec`` unused; pipelines/train_chains.py).
            Defaults to ``outcome`` for implicit specs, else ``steps``.
        beta: the implicit PRM's reward scale (defaults to the spec's).
        data_format: the data's format, detected when omitted; options follow after commas, e.g.
            ``fields,problem=question,steps=chain,first_error=first_wrong`` (docs/data_formats.md).
        epochs / lr / batch_size / weight_decay / warmup_ratio: optimisation (AdamW, linear decay).
        max_length: tokens per solution at most; steps beyond are counted in the report.
        lora_r / lora_alpha / lora_dropout: LoRA adapters on every linear layer (PEFT) when ``lora_r > 0``;
            the new head and any added token embedding are trained in full; merged into the saved model.
        gradient_checkpointing: trade compute for activation memory.
        group_by_length: batch solutions of similar length together (less padding; see benchmarks/).
        eval_data / eval_steps: a ProcessBench-format file scored every ``eval_steps`` optimiser steps and at
            the end (first-error F1 at threshold 0.5, and at the best threshold, marked as an upper bound).
        save_steps: checkpoint every this many optimiser steps.
        bf16: train in bfloat16 mixed precision (GPUs).
        seed: seeds initialisation of the head and data order.
        limit: train on the first ``limit`` solutions only.
    """

    model: str
    data: str
    out: str
    spec: str = "prmkit"
    labels: str = "soft"
    target: Optional[str] = None
    beta: Optional[float] = None
    data_format: Optional[str] = None
    epochs: float = 1.0
    lr: float = 1e-4
    batch_size: int = 8
    weight_decay: float = 0.0
    warmup_ratio: float = 0.05
    max_length: int = 1024
    lora_r: int = 0
    lora_alpha: int = 16
    lora_dropout: float = 0.0
    gradient_checkpointing: bool = False
    group_by_length: bool = True
    eval_data: Optional[str] = None
    eval_steps: int = 200
    save_steps: int = 200
    bf16: bool = False
    seed: int = 0
    limit: Optional[int] = None

    def __post_init__(self) -> None:
        if self.labels not in ("soft", "hard"):
            raise ValueError(f"labels must be 'soft' or 'hard', not {self.labels!r}")
        if self.target not in (None, "steps", "outcome", "chains"):
            raise ValueError(f"target must be 'steps', 'outcome' or 'chains', not {self.target!r}")
        if self.lora_r < 0:
            raise ValueError(f"lora_r must be >= 0 (0 trains every weight), not {self.lora_r}")


def step_loss(logits: Any, targets: Any) -> Any:
    """Mean cross-entropy of ``[N, 2]`` (wrong, correct) logits against soft targets ``[N]`` in [0, 1].

    With 0/1 targets this is the usual cross-entropy; a target of 0.7 is the distribution (0.3, 0.7).
    """
    import torch

    if targets.numel() == 0:
        return logits.sum() * 0.0
    logp = torch.log_softmax(logits.float(), dim=-1)
    p = targets.float()
    return -(p * logp[:, 1] + (1 - p) * logp[:, 0]).mean()


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
        features.append({"input_ids": enc.input_ids, "step_targets": targets, "start": enc.start})
    return features


def _collate(pad_id: int):
    import torch

    def collate(batch: list[dict]) -> dict:
        width = max(len(f["input_ids"]) for f in batch)
        ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        targets = torch.full((len(batch), width), IGNORE, dtype=torch.float32)
        refs = torch.zeros((len(batch), width), dtype=torch.float32) if "ref_logprobs" in batch[0] else None
        for b, f in enumerate(batch):
            n = len(f["input_ids"])
            ids[b, :n] = torch.tensor(f["input_ids"])
            mask[b, :n] = 1
            targets[b, :n] = torch.tensor(f["step_targets"], dtype=torch.float32)
            if refs is not None:
                refs[b, :n] = f["ref_logprobs"]
        out = {"input_ids": ids, "attention_mask": mask, "step_targets": targets,
               "starts": torch.tensor([f.get("start", 0) for f in batch], dtype=torch.long)}
        return out if refs is None else {**out, "ref_logprobs": refs}

    return collate


def _load(config: TrainConfig) -> tuple[Any, Any, Any, Any]:
    """(model with the spec's head, tokenizer with the step tag as one token, spec, reference or None)."""
    import transformers

    from ..backends.families import get_spec

    path = model_path(config.model)
    spec = get_spec(config.spec, path)
    if config.beta is not None:
        spec = dataclasses.replace(spec, beta=config.beta)
    if spec.head == "value" and spec.value_activation != "sigmoid":
        raise ValueError(f"spec {spec.name!r}: only sigmoid value heads can be trained on step labels")
    tokenizer = transformers.AutoTokenizer.from_pretrained(path)
    tag = spec.step_tag.strip()
    added = tokenizer.add_tokens([tag]) if tag and len(tokenizer(tag, add_special_tokens=False)["input_ids"]) != 1 else 0
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    auto = getattr(transformers, spec.auto_class)
    kwargs = {"num_labels": 1 if spec.head == "value" else 2} if spec.head in ("token_cls", "value") else {}
    model = auto.from_pretrained(path, **kwargs)
    if added:
        model.resize_token_embeddings(len(tokenizer))
    model.config.pad_token_id = tokenizer.pad_token_id
    reference = None
    if spec.head == "implicit":
        reference = auto.from_pretrained(path).eval().requires_grad_(False)
    if config.lora_r:
        import peft

        embeddings = [n for n, m in model.named_modules() if m is model.get_input_embeddings()] if added else []
        model = peft.get_peft_model(model, peft.LoraConfig(
            task_type="TOKEN_CLS" if spec.head in ("token_cls", "value") else "CAUSAL_LM", r=config.lora_r,
            lora_alpha=config.lora_alpha, lora_dropout=config.lora_dropout, target_modules="all-linear",
            exclude_modules=["score", "classifier"],  # the new heads, trained in full (PEFT's TOKEN_CLS default)
            modules_to_save=embeddings[-1:] or None))
    return model, tokenizer, spec, reference


def _silent(*_: Any) -> None:
    """The log of a process other than the main one: the main process speaks for all."""


def _cache_reference_logprobs(features: list[dict], scorer: Any, path: Path, log: Any) -> None:
    """Attach the reference's per-token log-probs to every feature, computing only those not yet in
    ``path`` (keyed by a hash of the token ids), so reruns and resumed runs skip the reference pass."""
    import torch

    from ..backends.hf_transformers import token_logprobs

    cache = torch.load(path) if path.exists() else {}
    keys = [hashlib.sha1(json.dumps(f["input_ids"]).encode()).hexdigest() for f in features]
    todo = sorted({k: i for i, k in enumerate(keys) if k not in cache}.values(), key=lambda i: len(features[i]["input_ids"]))
    collate = _collate(scorer.pad_id)
    with torch.inference_mode():
        for at in range(0, len(todo), 16):
            chunk = todo[at: at + 16]
            batch = collate([features[i] for i in chunk])
            logprobs = token_logprobs(scorer.reference, batch["input_ids"], batch["attention_mask"])
            for b, i in enumerate(chunk):
                cache[keys[i]] = logprobs[b, : len(features[i]["input_ids"])].clone()
    if todo:
        torch.save(cache, path)
        log(f"cached reference log-probs of {len(todo)} solutions in {path}")
    for key, f in zip(keys, features):
        f["ref_logprobs"] = cache[key]


def _evaluate(scorer: Any, examples: list[Example]) -> dict:
    """ProcessBench first-error F1 of the model being trained, at 0.5 and at the best threshold."""
    from .. import metrics
    from .evaluate import _processbench_splits

    scores = scorer.score([ex.problem for ex in examples], [ex.solution for ex in examples])
    splits = _processbench_splits([dataclasses.replace(ex, scores=s) for ex, s in zip(examples, scores)])
    best, best_f1 = metrics.best_threshold(splits)
    return {"pb_f1": metrics.processbench_report(splits)["average_f1"], "pb_f1_best_threshold": best_f1,
            "pb_best_threshold": best}


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


def run(config: TrainConfig, log: Any = print, progress: Any = None) -> dict:
    """Train (or resume) and save; returns the report (also written to ``OUT/prmkit_train.json``).

    Args:
        config: the run.
        log: called with each line for the user (evaluations, the result).
        progress: *optional*, ``progress(description, total)`` returns a function called once per optimiser
            step (a rich bar in the CLI). The Trainer's own tqdm bar and dict logs show only when
            ``prmkit.logs.verbose()``.

    Raises ``prmkit.jobfolder.JobInUseError`` at once if another process is training into ``out``.

    Under ``accelerate launch`` / ``torchrun`` (several processes, ``RANK`` set) the main process holds the lock
    and writes every file; ``batch_size`` is per process (the global batch is ``batch_size`` x processes)."""
    out = Path(config.out)
    with lock(out) if is_main_process() else nullcontext():
        if config.target == "chains":  # a generative verifier (pipelines/train_chains.py)
            from .train_chains import train_chains

            return train_chains(config, out, log, progress)
        return _train(config, out, log, progress)


def training_arguments(config: TrainConfig, out: Path, **extra: Any) -> Any:
    """transformers' ``TrainingArguments`` of a run (every ``prmkit train`` target), plus ``extra``."""
    import torch
    import transformers

    from ..logs import verbose

    return transformers.TrainingArguments(
        output_dir=str(out), per_device_train_batch_size=config.batch_size, num_train_epochs=config.epochs,
        learning_rate=config.lr, weight_decay=config.weight_decay, warmup_steps=config.warmup_ratio,
        lr_scheduler_type="linear", save_steps=config.save_steps, save_total_limit=2, logging_steps=10,
        seed=config.seed, report_to=[], remove_unused_columns=False, bf16=config.bf16,
        train_sampling_strategy="group_by_length" if config.group_by_length else "random",
        dataloader_num_workers=0, dataloader_pin_memory=torch.cuda.is_available(), disable_tqdm=not verbose(),
        use_cpu=not torch.cuda.is_available(), **extra)  # use_cpu: so that several CPU processes join one gloo group


def is_main_process() -> bool:
    """Rank 0 of a multi-process launch (``RANK``, set by torchrun and accelerate), or the only process."""
    return int(os.environ.get("RANK", "0")) == 0


def _report_callback(transformers: Any, log: Any, progress: Any) -> Any:
    """prmkit's view of the training loop: a bar advanced per optimiser step and one line per evaluation."""

    class Report(transformers.TrainerCallback):
        advance, done = None, 0

        def on_train_begin(self, args, state, control, **kwargs):  # noqa: ANN001
            if progress is not None and self.advance is None:
                self.advance = progress("training", state.max_steps)

        def on_step_end(self, args, state, control, **kwargs):  # noqa: ANN001
            while self.advance is not None and self.done < state.global_step:  # a resumed run starts past 0
                self.advance()
                self.done += 1

        def on_evaluate(self, args, state, control, metrics=None, **kwargs):  # noqa: ANN001
            if metrics and metrics.get("eval_pb_f1") is not None:
                log(f"step {state.global_step}: ProcessBench F1 {metrics['eval_pb_f1']:.3f} at 0.5, "
                    f"{metrics['eval_pb_f1_best_threshold']:.3f} at the best threshold (an upper bound)")

    return Report()


def _train(config: TrainConfig, out: Path, log: Any, progress: Any = None) -> dict:
    import transformers

    from ..backends.hf_transformers import HFStepScorer
    from ..logs import verbose

    transformers.set_seed(config.seed)
    examples = list(read(config.data, config.data_format))[: config.limit]
    model, tokenizer, spec, reference = _load(config)
    target = config.target or ("outcome" if spec.head == "implicit" else "steps")
    report: Counter = Counter()
    scorer = HFStepScorer(model, tokenizer, spec, max_length=config.max_length, reference=reference)
    features = encode_examples(examples, scorer, config.labels, report, target)
    report.update({f"solutions {k}": v for k, v in scorer.report.items()})
    if not features:
        raise ValueError(f"{config.data}: no labelled solutions to train on")
    eval_examples = list(read(config.eval_data)) if config.eval_data else None
    if not is_main_process():
        log, progress = _silent, None
    args = training_arguments(config, out, activation_checkpointing=config.gradient_checkpointing,
                              eval_strategy="steps" if eval_examples else "no", eval_steps=config.eval_steps)
    if reference is not None:  # built once, by the main process; the others read its file
        with args.main_process_first(desc="reference log-probs"):
            _cache_reference_logprobs(features, scorer, out / "reference_logprobs.pt", log)

    class StepTrainer(transformers.Trainer):
        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):  # noqa: ANN001
            targets = inputs.pop("step_targets")
            rows, cols = (targets != IGNORE).nonzero(as_tuple=True)
            logits = scorer.step_logits(inputs["input_ids"], inputs["attention_mask"], rows, cols, model=model,
                                        starts=inputs["starts"], ref_logprobs=inputs.get("ref_logprobs"))
            loss = step_loss(logits, targets[rows, cols])
            return (loss, logits) if return_outputs else loss

        def evaluate(self, eval_dataset=None, ignore_keys=None, metric_key_prefix="eval"):  # noqa: ANN001
            metrics = {f"{metric_key_prefix}_{k}": v for k, v in _evaluate(scorer, eval_examples).items()}
            self.model.train()  # the scorer put it in eval mode
            self.log(metrics)
            self.control = self.callback_handler.on_evaluate(self.args, self.state, self.control, metrics)
            return metrics

        def save_model(self, output_dir=None, _internal_call=False):  # noqa: ANN001
            super().save_model(output_dir, _internal_call)
            if _internal_call:  # a checkpoint's weights are written, its trainer_state.json not yet
                pause_point("save")

    class PausePoint(transformers.TrainerCallback):
        def on_save(self, args, state, control, **kwargs):  # noqa: ANN001
            pause_point("checkpoint")  # the checkpoint is complete (and older ones rotated out)

    trainer = StepTrainer(model=model, args=args, train_dataset=features, eval_dataset=eval_examples,
                          data_collator=_collate(tokenizer.pad_token_id),
                          callbacks=[PausePoint(), _report_callback(transformers, log, progress)])
    if not verbose():  # disable_tqdm swapped the bar for a callback that prints every log dict: drop it too
        trainer.remove_callback(transformers.PrinterCallback)
    checkpoints = _complete_checkpoints(out)
    model.train()
    result = trainer.train(resume_from_checkpoint=str(checkpoints[-1]) if checkpoints else None)
    history = [h for h in trainer.state.log_history if "eval_pb_f1" in h]
    final = {}
    if eval_examples:  # the loop evaluates at its last step too, unless nothing was left to train
        final = history[-1] if history and history[-1]["step"] == trainer.state.global_step else trainer.evaluate()
    trained = trainer.model.merge_and_unload() if config.lora_r else trainer.model
    tokens = sum(len(f["input_ids"]) for f in features) * config.epochs
    summary = {"config": asdict(config), "spec": spec.name, "target": target, "solutions": len(features),
               "report": dict(report), "train_loss": result.training_loss, "steps": result.global_step,
               "train_seconds": result.metrics.get("train_runtime"), "tokens": tokens, "eval": final,
               "resumed_from": checkpoints[-1].name if checkpoints else None,
               "eval_history": history, "processes": args.world_size}
    if is_main_process():  # one copy of every file
        trained.save_pretrained(out)
        tokenizer.save_pretrained(out)
        if reference is not None:
            reference.save_pretrained(out / spec.reference)
        spec.save(out)
        (out / "prmkit_train.json").write_text(json.dumps(summary, indent=2))
    if not math.isfinite(result.training_loss):
        raise RuntimeError(f"training diverged (loss {result.training_loss}); lower the learning rate")
    log(f"trained {spec.name} PRM on {len(features)} solutions ({report['trained steps']} steps, loss "
        f"{result.training_loss:.3f}) -> {out}"
        + (f"; ProcessBench F1 {final['eval_pb_f1']:.3f} on {config.eval_data}" if final.get("eval_pb_f1") is not None
           else ""))
    return summary
