"""Label solution steps automatically, resumably, and measure the labels against gold when there is gold.

``run(AnnotateConfig(...))`` reads in order: read the solutions (any format with problems, steps
and reference answers) -> open the job store ``OUT/job.sqlite`` -> for each method, label the
solutions chunk by chunk (each chunk committed atomically; finished chunks of an earlier, killed run
are skipped; budgets are checked before each chunk) -> consensus between method pairs -> write each
method's labels in prmkit and TRL stepwise format -> when the input carries gold labels, the quality
report (``prmkit.metrics.label_quality`` plus rollouts, tokens and seconds) as ``OUT/report.json``.
The whole run holds the folder's lock (``prmkit.jobfolder``): a second copy of the job refuses at once.

Every chunk is seeded from (seed, method, chunk) and sees exactly the rollout cache of the chunks
before it, so a resumed job ends with the same labels as an uninterrupted one.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

from .. import metrics
from ..backends import mask_secrets
from ..annotate import LABELERS, ROLLOUT_METHODS
from ..annotate.chunks import Chunks, Labeller, local_chunks
from ..annotate.consensus import LEVELS, consensus, first_error_verdict
from ..annotate.judge import PROMPTS
from ..annotate.rollouts import derive_seed
from ..annotate.store import JobStore
from ..data import ReadReport, read, write
from ..jobfolder import lock, pause_point
from ..types import Example, StepLabels

__all__ = ["AnnotateConfig", "run", "run_consensus", "ROLLOUT_METHODS", "AT_LEAST", "EXECUTORS"]

# the least value of each numeric setting (None, where a field allows it, means no limit): a negative
# limit would slice from the end (-5: all but the last five), and 0 new tokens a rollout samples nothing
AT_LEAST = {"k": 1, "probe_size": 1, "max_probes": 1, "round_size": 1, "chunk_size": 1, "judge_samples": 1,
            "limit": 1, "max_tokens": 1, "judge_max_tokens": 1, "max_rollouts": 0, "max_tokens_budget": 0,
            "workers": 1}
EXECUTORS = ("local", "ray")
Progress = Callable[[str, int, int, dict], None]  # (method, solutions done, total, {"rollouts", "tokens"} spent)


@dataclass
class AnnotateConfig:
    """An annotation job.

    Args:
        data: solutions to label (file, folder or hub id); each needs a reference answer for rollouts.
        out: the job folder: ``job.sqlite`` (progress), ``<method>.jsonl`` (prmkit), ``<method>.trl.jsonl``
            (TRL stepwise), ``report.json``.
        methods: labelers to run, in order (names in ``prmkit.annotate.LABELERS`` or ``pkg.mod:fn``).
        data_format: the input's format, detected when omitted.
        limit: label only the first ``limit`` solutions.
        generator / generator_options: the rollout policy (``load_generator``: model folder, hub id, URL).
        template / separator: the rollout prompt before the steps (``{question}``) and between steps.
        temperature / max_tokens: rollout sampling.
        k: rollouts per prefix for ``mc``; ``early_stop``: hard MC that stops a prefix at its first success.
        probe_size / max_probes: rollouts per probe and probes per solution at most for ``binary-search``.
        round_size: rollouts per round for early-stopped MC and binary-search probes.
        judge / judge_options: the judge (``load_generator``); ``judge_prompt``: a name in
            ``prmkit.annotate.judge.PROMPTS``; ``judge_samples``: critiques per solution (majority vote);
            ``judge_temperature``: defaults to 0 for one sample and 0.7 for several; ``judge_max_tokens``.
        consensus: pairs of methods whose agreement to keep (``"mc+judge"``), at ``consensus_level``.
        chunk_size: solutions per committed unit of work.
        max_rollouts / max_tokens_budget: stop before a chunk once the job has generated this many
            rollouts / tokens (so a chunk may pass the budget; unlabelled solutions are reported).
        seed: seeds every generation call (per method and chunk).
        skip_invalid: skip malformed input records (counted in the report) instead of stopping.
        verifier / verifier_spec / verifier_options: the ``verifier`` method's scorer (``load_scorer``: a generative
            verifier such as ``bundled-code-verifier`` or ``--spec generative:PROMPT,k=4``, or a trained PRM).
        executor: ``"local"`` (chunks one after another here) or ``"ray"`` (chunks on ``workers`` Ray actors,
            ``gpus_per_worker`` each; ``ray_address``: a cluster to join, else a local runtime on 127.0.0.1).
            The labels are the same either way (``prmkit.annotate.ray_chunks``).
    """

    data: str
    out: str
    methods: tuple[str, ...] = ("mc",)
    data_format: Optional[str] = None
    limit: Optional[int] = None
    generator: Optional[str] = None
    generator_options: dict = field(default_factory=dict)
    template: str = "{question}\n"
    separator: str = "\n"
    temperature: float = 0.8
    max_tokens: int = 256
    k: int = 8
    early_stop: bool = False
    probe_size: int = 8
    max_probes: Optional[int] = None
    round_size: int = 2
    judge: Optional[str] = None
    judge_options: dict = field(default_factory=dict)
    judge_prompt: str = "processbench"
    judge_samples: int = 1
    judge_temperature: Optional[float] = None
    judge_max_tokens: int = 1024
    consensus: tuple[str, ...] = ()
    consensus_level: str = "solution"
    chunk_size: int = 16
    max_rollouts: Optional[int] = None
    max_tokens_budget: Optional[int] = None
    seed: int = 0
    skip_invalid: bool = False
    verifier: Optional[str] = None
    verifier_spec: Optional[str] = None
    verifier_options: dict = field(default_factory=dict)
    executor: str = "local"
    workers: int = 2
    ray_address: Optional[str] = None
    gpus_per_worker: float = 0.0

    def __post_init__(self) -> None:
        self.methods = tuple(self.methods)
        self.consensus = tuple(self.consensus)
        if not self.methods:
            raise ValueError("give at least one method")
        for m in self.methods:
            if m not in LABELERS and ":" not in m:
                raise ValueError(f"unknown method {m!r}; known: {', '.join(LABELERS)} (or pkg.mod:function)")
        if any(m in ROLLOUT_METHODS for m in self.methods) and not self.generator:
            raise ValueError("mc and binary-search need a rollout generator (a model folder, hub id or server URL)")
        if "judge" in self.methods and not self.judge:
            raise ValueError("the judge method needs a judge generator (a model folder, hub id or server URL)")
        for pair in self.consensus:
            a, plus, b = pair.partition("+")
            if not plus or a not in self.methods or b not in self.methods or a == b:
                raise ValueError(f"consensus {pair!r} must be two of the methods run, as 'a+b' (methods: "
                                 f"{', '.join(self.methods)})")
        if "verifier" in self.methods and not self.verifier:
            raise ValueError("the verifier method needs a verifier (a generative verifier, a PRM folder or hub id)")
        if "judge" in self.methods and self.judge_prompt not in PROMPTS:
            raise ValueError(f"unknown judge prompt {self.judge_prompt!r}; known: {', '.join(PROMPTS)}")
        if self.executor not in EXECUTORS:
            raise ValueError(f"executor must be one of {', '.join(EXECUTORS)}, not {self.executor!r}")
        if self.gpus_per_worker < 0:
            raise ValueError(f"gpus_per_worker must be at least 0, got {self.gpus_per_worker}")
        if self.consensus_level not in LEVELS:
            raise ValueError(f"consensus_level must be one of {LEVELS}, not {self.consensus_level!r}")
        for name, least in AT_LEAST.items():
            value = getattr(self, name)
            if value is not None and value < least:
                raise ValueError(f"{name} must be at least {least}, got {value}")

    def threshold(self, method: str) -> float:
        """Below this a method's label means "wrong": soft MC labels are read as Math-Shepherd's hard
        estimate (any rollout reached the answer), every other label at 0.5."""
        return 0.5 / self.k if method == "mc" and not self.early_stop else 0.5

    def method_settings(self, method: str) -> dict:
        """The settings that decide ``method``'s labels (checked when a job folder is reused; backend
        options count, since batch size or device can change the samples)."""
        rollout = {"generator": self.generator, "generator_options": mask_secrets(self.generator_options),
                   "template": self.template, "separator": self.separator,
                   "temperature": self.temperature, "max_tokens": self.max_tokens, "seed": self.seed,
                   "round_size": self.round_size, "chunk_size": self.chunk_size}
        if method == "mc":
            return {**rollout, "k": self.k, "early_stop": self.early_stop}
        if method == "binary-search":
            return {**rollout, "probe_size": self.probe_size, "max_probes": self.max_probes}
        if method == "judge":
            return {"judge": self.judge, "judge_options": mask_secrets(self.judge_options), "prompt": self.judge_prompt,
                    "samples": self.judge_samples,
                    "temperature": self.judge_temp, "max_tokens": self.judge_max_tokens, "seed": self.seed,
                    "chunk_size": self.chunk_size}
        if method == "verifier":
            return {"verifier": self.verifier, "verifier_spec": self.verifier_spec,
                    "verifier_options": mask_secrets(self.verifier_options), "seed": self.seed, "chunk_size": self.chunk_size}
        return {"seed": self.seed, "chunk_size": self.chunk_size}

    @property
    def judge_temp(self) -> float:
        if self.judge_temperature is not None:
            return self.judge_temperature
        return 0.0 if self.judge_samples == 1 else 0.7


def _fingerprint(examples: list[Example]) -> str:
    h = hashlib.sha256()
    for ex in examples:
        h.update(json.dumps([ex.problem.id, ex.problem.question, ex.problem.answer, list(ex.solution.steps)]).encode())
    return h.hexdigest()


def _labels(result: dict) -> StepLabels:
    return StepLabels(tuple(result["labels"]), result["kind"])


def _annotated(ex: Example, labels: Optional[StepLabels], annotation: dict) -> Example:
    meta = {**ex.problem.metadata, "annotation": annotation}
    if ex.labels is not None and "gold_labels" not in meta:  # the input's labels, kept for later comparisons
        meta["gold_labels"] = list(ex.labels.values)
    problem = type(ex.problem)(ex.problem.id, ex.problem.question, ex.problem.answer, meta)
    return Example(problem, ex.solution, labels, None, ex.correct)


def _write_outputs(out: Path, name: str, examples: list[Example]) -> dict:
    """``name.jsonl`` (prmkit) and ``name.trl.jsonl`` (the examples TRL can take: a label for every step)."""
    n = write(examples, out / f"{name}.jsonl", "prmkit")
    trl = [ex for ex in examples if ex.labels is not None and None not in ex.labels.propagated().values]
    write(trl, out / f"{name}.trl.jsonl", "trl-stepwise")
    return {"prmkit": str(out / f"{name}.jsonl"), "written": n, "trl": str(out / f"{name}.trl.jsonl"),
            "trl_written": len(trl), "trl_left_out": n - len(trl)}


def run(config: AnnotateConfig, progress: Optional[Progress] = None) -> dict:
    """Run (or resume) the job; returns the report (also written to ``OUT/report.json``).

    Raises ``prmkit.jobfolder.JobInUseError`` at once if another process is running a job in ``out``."""
    out = Path(config.out)
    with lock(out):
        return _run_locked(config, out, progress)


def _run_locked(config: AnnotateConfig, out: Path, progress: Optional[Progress]) -> dict:
    read_report = ReadReport()
    examples = list(read(config.data, config.data_format, report=read_report, skip_invalid=config.skip_invalid))
    if config.limit is not None:
        examples = examples[: config.limit]
    if not examples:
        raise ValueError(f"{config.data}: no solutions to label")
    store = JobStore(out / "job.sqlite")
    try:
        store.check_settings("input", {"solutions": len(examples), "fingerprint": _fingerprint(examples)})
        size, budget_hit, scale = config.chunk_size, None, {}
        uses_cache = any(m in ROLLOUT_METHODS for m in config.methods)  # only rollout methods read the cache
        with _chunk_runner(config, store.load_rollouts() if uses_cache else {}, scale) as chunks:
            for method in config.methods:
                store.check_settings(method, config.method_settings(method))
                done = store.done_chunks(method)
                todo = [c for c in range(math.ceil(len(examples) / size)) if c not in done]
                budget_hit = _budget_hit(config, store) if todo else None
                if budget_hit:
                    break

                def task(c: int, method: str = method) -> tuple[list[Example], int]:
                    return examples[c * size: (c + 1) * size], derive_seed(config.seed, method, c)

                for c, chunk in chunks(method, todo, task):
                    # tokens a judge or verifier wrote count for the budget; rollouts are counted apart
                    other = 0 if method in ROLLOUT_METHODS else sum(r["tokens"] for r in chunk.results)
                    store.commit_chunk(method, c, [(c * size + i, r) for i, r in enumerate(chunk.results)], chunk.new,
                                       chunk.seconds, other_tokens=other)
                    pause_point("chunk")  # a test's kill lands here (PRMKIT_PAUSE_AT=chunk:N), never mid-chunk
                    if progress:
                        rollouts, tokens = store.spent()
                        progress(method, store.count(method), len(examples), {"rollouts": rollouts, "tokens": tokens})
                    budget_hit = _budget_hit(config, store) if c != todo[-1] else None  # checked before a next chunk
                    if budget_hit:
                        break
                if budget_hit:
                    break
        report = _report(config, examples, store, read_report, budget_hit)
        if scale:
            report["ray"] = scale
    finally:
        store.close()
    tmp = out / f".report.json.{os.getpid()}.tmp"  # this process's own: a killed run's leftover is never reused
    tmp.write_text(json.dumps(report, indent=2))
    os.replace(tmp, out / "report.json")  # atomic: a reader never sees half a report
    return report


def _budget_hit(config: AnnotateConfig, store: JobStore) -> Optional[str]:
    """Why the job must stop before its next chunk, if a budget is spent."""
    rollouts, tokens = store.spent()
    if config.max_rollouts is not None and rollouts >= config.max_rollouts:
        return f"max_rollouts {config.max_rollouts} reached ({rollouts} generated)"
    if config.max_tokens_budget is not None and tokens >= config.max_tokens_budget:
        return f"max_tokens {config.max_tokens_budget} reached ({tokens} generated)"
    return None


@contextmanager
def _chunk_runner(config: AnnotateConfig, cache: dict, stats: dict) -> Iterator[Chunks]:
    """The chunks of the job, run here or on Ray actors (``stats`` gets Ray's chunk and rerun counts)."""
    if config.executor == "local":
        yield local_chunks(Labeller(config, cache))
        return
    from ..annotate.ray_chunks import ray_chunks
    from ..cluster import check_room, ray_runtime

    with ray_runtime(config.ray_address) as ray:
        check_room(ray, config.workers, config.gpus_per_worker)
        stats["workers"] = config.workers
        with ray_chunks(ray, config, cache, workers=config.workers, num_gpus=config.gpus_per_worker,
                        stats=stats) as chunks:
            yield chunks


def _redacted(config: dict) -> dict:
    return {**config, "generator_options": mask_secrets(config["generator_options"]),
            "judge_options": mask_secrets(config["judge_options"]),
            "verifier_options": mask_secrets(config["verifier_options"])}


def _by_outcome(examples: list[Example], labels: list[Optional[StepLabels]], threshold: float) -> dict:
    """Solutions flagged with a wrong step, among those whose final answer is right and those where it is
    wrong (when the input says): a labeler that flags right answers as often as wrong ones sees little."""
    out: dict[str, dict[str, int]] = {}
    for ex, lab in zip(examples, labels):
        if ex.correct is None or lab is None:
            continue
        row = out.setdefault("right_answer" if ex.correct else "wrong_answer", {"solutions": 0, "flagged": 0})
        row["solutions"] += 1
        verdict = first_error_verdict(lab, threshold)
        row["flagged"] += verdict is not None and verdict >= 0
    return out


def _report(config: AnnotateConfig, examples: list[Example], store: Any, read_report: ReadReport,
            budget_hit: Optional[str]) -> dict:
    out = Path(config.out)
    gold = [ex.labels for ex in examples]
    has_gold = all(g is not None for g in gold)
    report: dict[str, Any] = {"data": config.data, "solutions": len(examples), "steps": sum(len(e.solution.steps) for e in examples),
                              "gold": has_gold, "read": read_report.to_dict(), "stopped": budget_hit,
                              "config": _redacted(asdict(config)), "methods": {}}
    per_method: dict[str, list[Optional[StepLabels]]] = {}
    for method in config.methods:
        results = store.results(method)
        labels = [_labels(results[i]) if i in results else None for i in range(len(examples))]
        per_method[method] = labels
        annotated = [_annotated(ex, labels[i], {"method": method, "threshold": config.threshold(method),
                                                "rollouts": results[i]["rollouts"],
                                                "tokens": results[i]["tokens"], **results[i]["info"]})
                     for i, ex in enumerate(examples) if i in results]
        entry = {"labelled": len(results), "unlabelled": len(examples) - len(results),
                 "rollouts": sum(r["rollouts"] for r in results.values()),
                 "tokens": sum(r["tokens"] for r in results.values()),
                 "seconds": round(store.seconds(method), 2), "threshold": config.threshold(method),
                 "outputs": _write_outputs(out, method, annotated)}
        if method == "judge":
            entry["unparseable_critiques"] = sum(r["info"]["unparseable"] for r in results.values())
            entry["critiques"] = config.judge_samples * len(results)
            entry["no_verdict"] = sum(r["info"]["verdict"] is None for r in results.values())
        if method == "verifier":
            entry["unscored_steps"] = sum(r["info"]["unscored"] for r in results.values())
        if method == "tool":
            entry["checkable_steps"] = sum(r["info"]["checked"] for r in results.values())
            entry["flagged_steps"] = sum(r["info"]["flagged"] for r in results.values())
            entry["checkable_solutions"] = sum(r["info"]["checked"] > 0 for r in results.values())
        entry["by_outcome"] = _by_outcome(examples, labels, config.threshold(method))
        if has_gold:
            # a solution with nothing to check predicts "no error", so F1 is over all solutions, as for the others
            entry["quality"] = metrics.label_quality([None if p is None else p.values for p in labels],
                                                     [g.values for g in gold], config.threshold(method),
                                                     empty_means_no_error=method == "tool")
        report["methods"][method] = entry
    for pair in config.consensus:
        a, _, b = pair.partition("+")
        agreed = consensus(per_method[a], per_method[b], level=config.consensus_level,
                           thresholds=(config.threshold(a), config.threshold(b)))
        threshold = config.threshold(a) if config.consensus_level == "solution" else 0.5
        kept = [_annotated(ex, lab, {"method": f"consensus:{pair}", "level": config.consensus_level,
                                     "threshold": threshold})
                for ex, lab in zip(examples, agreed) if lab is not None]
        ma, mb = report["methods"][a], report["methods"][b]
        entry = {"labelled": len(kept), "unlabelled": len(examples) - len(kept),
                 "rollouts": ma["rollouts"] + mb["rollouts"], "tokens": ma["tokens"] + mb["tokens"],
                 "seconds": round(ma["seconds"] + mb["seconds"], 2), "threshold": threshold,
                 "outputs": _write_outputs(out, f"consensus-{a}-{b}", kept)}
        if has_gold:
            entry["quality"] = metrics.label_quality([None if p is None else p.values for p in agreed],
                                                     [g.values for g in gold], threshold)
        report["methods"][f"consensus:{pair}"] = entry
    return report


def run_consensus(primary: str, other: str, out: str, *, level: str = "solution") -> dict:
    """Consensus of two annotation outputs (``<method>.jsonl`` files, matched by problem id and steps).

    Each file's threshold is read from its examples' ``annotation.threshold`` (0.5 if absent); the
    kept examples carry ``primary``'s labels (or the agreed steps, at the ``step`` level) and are
    written to ``OUT/consensus.jsonl`` and ``OUT/consensus.trl.jsonl``. When the examples carry the
    input's gold labels (``gold_labels``), the report has the quality of each source and of the consensus.
    """
    sources = [list(read(primary, "prmkit")), list(read(other, "prmkit"))]
    index = {(ex.problem.id, ex.solution.steps): ex for ex in sources[1]}
    pairs = [(ex, index.get((ex.problem.id, ex.solution.steps))) for ex in sources[0]]
    unmatched = sum(b is None for _, b in pairs)
    thresholds = tuple(float(src[0].problem.metadata.get("annotation", {}).get("threshold", 0.5)) if src else 0.5
                       for src in sources)
    agreed = consensus([a.labels for a, _ in pairs], [None if b is None else b.labels for _, b in pairs],
                       level=level, thresholds=thresholds)  # type: ignore[arg-type]
    threshold = thresholds[0] if level == "solution" else 0.5
    kept = [_annotated(a, lab, {"method": "consensus", "level": level, "threshold": threshold, "sources": [primary, other]})
            for (a, _), lab in zip(pairs, agreed) if lab is not None]
    report: dict[str, Any] = {"primary": primary, "other": other, "level": level, "solutions": len(pairs),
                              "unmatched": unmatched, "kept": len(kept), "outputs": _write_outputs(Path(out), "consensus", kept)}
    gold = [a.problem.metadata.get("gold_labels") for a, _ in pairs]
    if all(g is not None for g in gold):
        report["quality"] = {
            "primary": metrics.label_quality([a.labels.values if a.labels else None for a, _ in pairs], gold, thresholds[0]),
            "other": metrics.label_quality([b.labels.values if b is not None and b.labels else None for _, b in pairs],
                                           gold, thresholds[1]),
            "consensus": metrics.label_quality([None if lab is None else lab.values for lab in agreed], gold, threshold)}
    return report
