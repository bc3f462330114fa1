"""Train a world generative verifier by the ThinkPRM recipe: teacher chains, filtered by the labels, then SFT.

``run(WorldVerifierConfig(out=...))``: sample the bundled policy's solutions to unseen problems and label
them exactly (the checker) -> the ``Teacher`` (prmkit.world.verifier) writes ``k`` chains per solution ->
keep the chains whose verdicts agree with the labels (``prmkit.annotate.chains``) -> fine-tune a model
initialised from the policy on them (``prmkit train target=chains``). Each stage's output is kept in
``out/`` (``solutions.jsonl``, ``chains.jsonl``, ``init/``), so a rerun resumes where it stopped.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Optional

from ..data import read, write
from ..data.io import write_records

__all__ = ["WorldVerifierConfig", "run"]


@dataclass(frozen=True)
class WorldVerifierConfig:
    """The recipe's settings (the defaults made the bundled verifiers).

    Args:
        out: the run folder; the trained verifier is ``out/verifier``.
        code: train the code-checking variant (``world-code`` prompt).
        init: a model folder or ``LOCAL_MODELS`` name to start from (``bundled-verifier`` for the code variant;
            embeddings are matched by token string); default: the bundled policy.
        problems / samples / seed: policy solutions to train on (seed 21: no overlap with evaluation seeds).
        injected: as many more solutions with one injected error each (seed + 1), so that "wrong" verdicts are not
            rare in training (the policy's own solutions give one every ~15 steps).
        k / keep / temperature: teacher chains per solution, agreeing chains kept per solution, sampling.
        epochs / lr / batch_size: fine-tuning.
    """

    out: str
    code: bool = False
    init: Optional[str] = None
    problems: int = 3000
    samples: int = 1
    seed: int = 21
    injected: int = 2000
    k: int = 4
    keep: int = 2
    temperature: float = 0.8
    epochs: float = 3.0
    lr: float = 2e-3
    batch_size: int = 32


def _injected(n: int, seed: int) -> list:
    """``n`` exactly labelled solutions, each with one injected error (every kind, at a random step)."""
    from ..world.export import label_solutions
    from ..world.export import injected_solutions
    from ..world.problems import WorldConfig, generate

    problems = generate(n, WorldConfig(min_steps=3, max_steps=6), seed=seed, prefix="injected")
    return label_solutions(problems, injected_solutions(problems, error_rate=1.0, seed=seed), generator="injected")


def run(config: WorldVerifierConfig, log: Callable[[str], Any] = print) -> dict:
    from ..annotate.chains import chain_records
    from ..backends import model_path
    from ..backends.generative import GenerativeScorer
    from ..world.export import world_examples
    from ..world.verifier import Teacher, init_from_policy
    from .train import TrainConfig
    from .train import run as train

    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    solutions, chains, init = out / "solutions.jsonl", out / "chains.jsonl", out / "init"
    if not solutions.exists():
        log(f"sampling {config.problems} x {config.samples} policy solutions (seed {config.seed}) and "
            f"{config.injected} with an injected error")
        examples = world_examples(config.problems, samples=config.samples, seed=config.seed)
        if config.injected:
            examples += _injected(config.injected, config.seed + 1)
        write(examples, solutions, "prmkit")
    report: Counter = Counter()
    if not chains.exists():
        examples = list(read(solutions, "prmkit"))
        log(f"teacher: {config.k} chains per solution for {len(examples)} solutions")
        scorer = GenerativeScorer(Teacher(code=config.code), "world-code" if config.code else "world", k=config.k,
                                  temperature=config.temperature, scores="votes", seed=config.seed)
        write_records(chain_records(examples, scorer, keep=config.keep, report=report), chains)
        (out / "chains_report.json").write_text(json.dumps({**report, "teacher": scorer.report}, indent=2))
        log(f"kept {report['chains kept']} of {report['chains sampled']} chains")
    if not (init / "config.json").exists():  # the source's weights under the verifier's tokenizer
        init_from_policy(init, **({"policy": model_path(config.init)} if config.init else {}))
    summary = train(TrainConfig(model=str(init), data=str(chains), out=str(out / "verifier"), target="chains",
                                epochs=config.epochs, lr=config.lr, batch_size=config.batch_size, save_steps=200,
                                max_length=512), log=log)
    summary["recipe"] = asdict(config)
    (out / "verifier" / "prmkit_recipe.json").write_text(json.dumps(summary, indent=2, default=str))
    return summary
