"""The whole pipeline on the synthetic world, in one command: ``prmkit quickstart`` (``make demo``).

``run(QuickstartConfig(...))`` reads in order: sample policy solutions to unseen problems -> label their
steps with Monte-Carlo rollouts (and measure the labels against the world's exact ones) -> train a PRM
initialised from the policy on those labels -> evaluate it on a held-out ProcessBench-format set ->
compare majority vote, self-certainty Best-of-N (no PRM), PRM Best-of-N, beam search and particle filtering
at N = 1..16 -> score the same held-out
solutions with the bundled generative verifiers -> write ``OUT/report.html`` (accuracy vs N and vs
compute, label quality, first-error F1, the PRM against the generative verifiers with the tokens each
spent, solutions with every step coloured by its score). Every stage writes into ``OUT`` and a rerun reuses what is there.

The PRM is the implicit parameterisation (``prmkit-implicit``) trained on the soft MC labels: on this
world it is the one that finds first errors (see docs/training.md for the comparison of heads).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Callable

from ..data import read, write

__all__ = ["QuickstartConfig", "run"]


@dataclass
class QuickstartConfig:
    """Sizes of the quickstart; the defaults finish in under 10 minutes on 2 CPU cores.

    Args:
        out: where everything goes (``report.html`` among it).
        train_problems: problems whose policy solutions are MC-labelled and trained on.
        bench_problems: held-out problems for the ProcessBench-format evaluation (and as many again to
            calibrate its threshold).
        search_problems: held-out problems searched at every N.
        n: the budgets N.
        k: MC rollouts per step prefix.
        epochs / lr / beta: PRM training.
        verifier_problems / verifier_ks / code_verifier_ks: the comparison of the bundled generative verifiers
            (plain and code-checking, at these K chains) with the trained PRM, on the first held-out solutions
            (first-error F1 and the tokens each verifier read and wrote per solution). The code-checking one runs
            only where ``prmkit.sandbox`` works on this machine.
        seed: problems are drawn with seeds derived from it (the policy was trained on seed 0).
    """

    out: str = "runs/quickstart"
    train_problems: int = 400
    bench_problems: int = 300
    search_problems: int = 60
    n: tuple[int, ...] = (1, 2, 4, 8, 16)
    k: int = 8
    epochs: float = 4
    lr: float = 3e-4
    beta: float = 0.5
    verifier_problems: int = 100
    verifier_ks: tuple[int, ...] = (1, 4)
    code_verifier_ks: tuple[int, ...] = (1, 8)
    seed: int = 100


def run(config: QuickstartConfig, log: Callable[[str], Any] = print, progress: Any = None) -> dict:
    """Run (or resume) every stage; returns the summary written to ``OUT/summary.json``.

    ``progress`` (*optional*) has the stages' bars: ``annotate`` (as ``pipelines.annotate.run`` takes), ``search``
    and ``train`` (``start(description, total) -> advance``, as ``pipelines.search.run`` and ``train.run`` take)."""
    from . import annotate, evaluate, search, train
    from ..world.export import world_examples
    from ..world.policy import BUNDLED_POLICY

    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}

    def stage(name: str) -> Callable[[], None]:
        started = time.perf_counter()
        log(f"[{len(timings) + 1}/6] {name}")
        return lambda: timings.__setitem__(name, time.perf_counter() - started)

    files = {"train": out / "solutions.jsonl", "bench": out / "bench.json", "cal": out / "calibration.json",
             "search": out / "search-problems.jsonl"}
    done = stage("sample policy solutions to unseen problems")
    if not all(p.exists() for p in files.values()):
        write(world_examples(config.train_problems, seed=config.seed), files["train"], "prmkit")
        write(world_examples(config.bench_problems, seed=config.seed + 1), files["bench"], "processbench")
        write(world_examples(config.bench_problems, seed=config.seed + 2), files["cal"], "processbench")
        write(world_examples(config.search_problems, source="injected", seed=config.seed + 3), files["search"], "prmkit")
    done()

    done = stage(f"label steps with Monte-Carlo rollouts (k={config.k})")
    labels = annotate.run(annotate.AnnotateConfig(data=str(files["train"]), out=str(out / "annotate"), methods=("mc",),
                                                  generator=str(BUNDLED_POLICY), k=config.k, max_tokens=160,
                                                  chunk_size=32), progress=progress and progress.annotate)
    done()

    done = stage("train the PRM (implicit, initialised from the policy) on the soft labels")
    prm = out / "prm"
    trained = train.run(train.TrainConfig(model="bundled-policy", data=str(out / "annotate" / "mc.jsonl"), out=str(prm),
                                          spec="prmkit-implicit", target="steps", labels="soft", epochs=config.epochs,
                                          lr=config.lr, beta=config.beta, batch_size=16, max_length=512,
                                          save_steps=10**6, seed=config.seed), log=log,
                        progress=progress and getattr(progress, "train", None))
    done()

    done = stage("evaluate first-error detection on held-out solutions")
    pb = evaluate.run(evaluate.EvalConfig("processbench", data=str(files["bench"]), model=str(prm),
                                          threshold_policy="calibrated", calibrate_on=str(files["cal"])))
    done()

    done = stage("search: majority vote, self-certainty, PRM Best-of-N, beam search and particle filtering at "
                 f"N={','.join(map(str, config.n))}")
    found = search.run(search.SearchConfig(data=str(files["search"]), model=str(prm), out=str(out / "search"),
                                           methods=("best-of-n", "beam", "particle-filtering"), n=config.n,
                                           logprobs=True, seed=config.seed),
                       progress=progress and progress.search)
    done()

    done = stage("compare the bundled generative verifiers with the PRM")
    verifiers = _compare_verifiers(prm, files["bench"], config, log)
    done()

    summary = {"config": asdict(config), "seconds": timings, "labels": labels["methods"]["mc"],
               "training": {k: trained[k] for k in ("solutions", "steps", "train_seconds", "train_loss")},
               "processbench": {"f1_at_0.5": pb["threshold"]["average_f1_at_fixed"], "f1_calibrated": pb["average_f1"],
                                "threshold": pb["threshold"]["threshold"]},
               "search": found["accuracy"], "verifiers": verifiers}
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    from .report import write_report

    scored = _scored_examples(prm, files["bench"])
    write_report(out / "report.html", summary, scored)
    return summary


def _compare_verifiers(prm: Path, bench: Path, config: QuickstartConfig, log: Callable[[str], Any]) -> dict:
    """First-error F1 at 0.5 and verifier tokens (read + written) per solution: the PRM and the generative verifiers."""
    from ..backends import load_scorer
    from ..sandbox import available
    from ..scoring import score_examples
    from .evaluate import first_error_f1

    examples = list(read(bench))[: config.verifier_problems]
    scorer = load_scorer(str(prm))
    scored = list(score_examples(scorer, examples))
    rows = {"trained PRM (implicit)": {**first_error_f1(scored),
                                       "tokens_per_solution": scorer.report["tokens"] / len(examples),
                                       "unscored_steps": sum(v is None for e in scored for v in e.scores.values)}}
    verifiers = [("generative verifier", "bundled-verifier", config.verifier_ks)]
    if config.code_verifier_ks and available() is not None:
        log(f"  (the code-checking verifier is left out: {available()})")
    elif config.code_verifier_ks:
        verifiers.append(("code-checking verifier", "bundled-code-verifier", config.code_verifier_ks))
    for name, model, ks in verifiers:  # K = max(ks) chains once; the first k of them give the row at k
        if not ks:
            continue
        verifier = load_scorer(model, spec=f"generative,k={max(ks)}")
        chains = verifier.chains([e.problem for e in examples], [e.solution for e in examples])
        for k in ks:
            scored = [replace(e, scores=verifier.step_scores(c[:k], len(e.solution.steps)))
                      for e, c in zip(examples, chains)]
            tokens = sum(ch.tokens + ch.read_tokens for c in chains for ch in c[:k])
            rows[f"{name}, K={k}"] = {**first_error_f1(scored), "tokens_per_solution": tokens / len(examples),
                                      "unscored_steps": sum(v is None for e in scored for v in e.scores.values)}
    return rows


def _scored_examples(prm: Path, bench: Path, count: int = 6) -> list:
    """A few held-out solutions with the PRM's step scores: the first ones with and without an error."""
    from ..backends import load_scorer

    examples = list(read(bench))
    wrong = [e for e in examples if e.labels.first_error is not None][: count // 2]
    right = [e for e in examples if e.labels.first_error is None][: count - len(wrong)]
    chosen = wrong + right
    scores = load_scorer(str(prm)).score([e.problem for e in chosen], [e.solution for e in chosen])
    return [(e, s) for e, s in zip(chosen, scores)]
