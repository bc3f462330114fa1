"""PRM training: prmkit's trainer vs TRL's PRMTrainer on the same tiny model and data.

In one run, on the same backbone (the synthetic world's bundled policy, a small Llama, loaded with
``AutoModelForTokenClassification`` so both sides get a fresh 2-way head) and the same labelled steps:

* **prmkit**: ``prmkit.pipelines.train.run(TrainConfig(...))`` with its default settings apart from the
  shared ones below and ``spec="trl-prm"`` (a 2-way token head read at the ``\n`` that ends each step, the
  question followed by ``\n``: TRL's own rendering, so both sides train on nearly the same tokens and
  tokens/s compares like for like), in a subprocess of this venv. Its other defaults stay, length-grouped
  batches (``group_by_length=True``) among them;
* **TRL**: ``PRMTrainer`` / ``PRMConfig`` of the last TRL release that ships them, in its own venv made by
  this script (``.bench-venvs/trl-<version>``, reused when its pins match), with the same torch,
  transformers, datasets and accelerate as this venv (and peft and scipy, which transformers imports
  when present), so the trainers are the only difference.

Shared: epochs, learning rate, batch size, max_length, seed, warmup ratio (prmkit's 0.05), weight decay
(0), linear decay, fp32 and no gradient checkpointing (PRMConfig defaults to bf16 and gradient
checkpointing; ``--trl-defaults`` keeps those), torch threads (``--threads``), no evaluation and no
checkpoints during training. TRL: ``step_separator="\\n"``, ``train_on_last_step_only=False``.

Measured for each side, in the same harness (a ``TrainerCallback`` and a wrapper around the trainer's
own data collator, patched into ``transformers.Trainer``):

* tokens/s: real (non-padding) tokens of every batch the trainer processed, over ``train_runtime``,
  the Trainer's wall time of the training loop (model loading and tokenization excluded). Each side
  counts its own rendering: TRL's is BOS, prompt, then each step followed by ``\n``; prmkit's ``trl-prm``
  spec is question, ``\n``, then each step followed by ``\n`` (with the policy's tokenizer, which adds no
  BOS itself), so both sides have the same number of tokens per solution and differ in one token (TRL's
  leading BOS, prmkit's ``\n`` after the question); solutions/s is printed too, with the ratio of tokens
  per solution;
* padding: the share of padding tokens in those batches;
* peak memory: the training process's peak RSS (``ru_maxrss``; on CUDA ``max_memory_allocated``);
* first-error F1: ``prmkit eval processbench`` of each trained model on a held-out world set
  (prmkit's model through its saved spec, TRL's through ``--spec trl-prm``).

Data: ``prmkit world export`` (offline, exact labels): the training set in TRL's stepwise format
(``prompt``, ``completions``, ``labels``), which both trainers read, and a ProcessBench-format eval set,
both with ``--steps 2-12`` steps per problem by default (``--steps``). The broad range is deliberate:
real PRM training sets (Math-Shepherd, PRM800K) have a wide spread of solution lengths, while the world's
own default of 3-6 steps gives an unusually narrow one (about 56-124 tokens), which makes padding, and so
batching strategy, matter far less than it does on real data. With 2-12 steps the training solutions run
from about 40 to 270 tokens (median 125); the run prints the training set's length distribution (min / median / max
tokens, in TRL's rendering) and each side's padding share, so the effect of the spread is visible.

    .venv/bin/python benchmarks/train_vs_trl.py            # about 4 minutes on 2 cores (the first run: +2 for the venv)
    .venv/bin/python benchmarks/train_vs_trl.py --keep     # reuse the data sets of the last run if made with the same
                                                           # --n, --n-eval and --steps (else they are made again)

Everything (data, models, logs, ``results.json``) goes to ``--work`` (``runs/bench-train-vs-trl``).
"""

from __future__ import annotations

# Only the standard library at module level: the same file runs as the training harness under the
# TRL venv's python (``--side trl``), where prmkit is not installed.
import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MAIN_PYTHON = Path(sys.executable)

# The last TRL release with PRMTrainer (trl.experimental.prm; 1.14.0 dropped it; up to 0.2x it was
# trl.PRMTrainer), and the rest of the stack pinned to what prmkit's venv runs, so only the trainer differs.
# peft and scipy too: transformers.Trainer imports them when they are installed (about 40 MB of RSS), and
# prmkit's venv has them.
TRL_VERSION = "1.13.0"
PINS = {"transformers": "5.23.0", "datasets": "5.2.0", "accelerate": "1.15.0", "tokenizers": "0.23.3",
        "huggingface_hub": "2.4.0", "safetensors": "0.8.0", "numpy": "2.4.6", "peft": "0.21.2", "scipy": "1.17.1"}
IGNORE = -100


# ----------------------------------------------------------------------------------------------------
# harness: runs inside each side's training process


def _rss_mb() -> float:
    """Current resident set size of this process, MB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _instrument(stats: dict) -> None:
    """Patch ``transformers.Trainer`` so every trainer built afterwards counts the tokens of the batches
    its collator makes and records the training loop's time and the memory high-water marks."""
    import torch
    import transformers

    class Probe(transformers.TrainerCallback):
        def on_train_begin(self, args, state, control, **kwargs):
            stats["rss_at_train_begin_mb"] = _rss_mb()
            stats["peak_rss_before_train_mb"] = _maxrss_mb()
            stats["_t0"] = time.perf_counter()

        def on_train_end(self, args, state, control, **kwargs):
            stats["callback_seconds"] = time.perf_counter() - stats.pop("_t0")
            stats["peak_rss_at_train_end_mb"] = _maxrss_mb()
            stats["optimizer_steps"] = state.global_step

        def on_log(self, args, state, control, logs=None, **kwargs):
            if logs and "train_runtime" in logs:
                stats["train_runtime"] = float(logs["train_runtime"])
                stats["train_loss"] = float(logs["train_loss"])

    def counting(collate):
        def wrapped(features):
            batch = collate(features)
            ids = batch["input_ids"]
            mask = batch.get("attention_mask")
            stats["tokens"] += int(mask.sum()) if mask is not None else ids.numel()
            stats["batch_tokens"] += ids.numel()  # padded
            stats["batches"] += 1
            targets = batch.get("labels", batch.get("step_targets"))
            if targets is not None:
                stats["trained_steps"] += int((targets != IGNORE).sum())
            return batch

        return wrapped

    stats.update(tokens=0, batch_tokens=0, batches=0, trained_steps=0)
    original = transformers.Trainer.__init__

    def init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        self.data_collator = counting(self.data_collator)
        self.add_callback(Probe())

    transformers.Trainer.__init__ = init
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()


def _finish(stats: dict, out: Path) -> None:
    import torch

    stats["peak_rss_mb"] = _maxrss_mb()
    if torch.cuda.is_available():
        stats["cuda_peak_allocated_mb"] = torch.cuda.max_memory_allocated() / 2**20
    stats["torch_threads"] = torch.get_num_threads()
    out.write_text(json.dumps(stats, indent=2))


def side_prmkit(cfg: dict) -> dict:
    """prmkit's trainer, its defaults except the shared settings and TRL's rendering (``spec="trl-prm"``).
    ``labels="hard"``: TRL trains on 0/1 labels; the world's labels are booleans, so it changes nothing."""
    import dataclasses

    from prmkit.pipelines.train import TrainConfig, run

    config = TrainConfig(model="bundled-policy", data=cfg["data"], out=cfg["out"], spec="trl-prm", labels="hard",
                         epochs=cfg["epochs"], lr=cfg["lr"], batch_size=cfg["batch_size"],
                         max_length=cfg["max_length"], seed=cfg["seed"], save_steps=10**9)
    summary = run(config)
    return {"config": dataclasses.asdict(config), "report": summary.get("report"),
            "reported_tokens": summary.get("tokens"), "reported_train_seconds": summary.get("train_seconds")}


def side_trl(cfg: dict) -> dict:
    """TRL's PRMTrainer on the same backbone, data and shared settings."""
    import datasets
    import transformers

    try:
        from trl.experimental.prm import PRMConfig, PRMTrainer
    except ImportError:  # TRL before the move to experimental
        from trl import PRMConfig, PRMTrainer

    transformers.set_seed(cfg["seed"])
    tokenizer = transformers.AutoTokenizer.from_pretrained(cfg["model"])
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = transformers.AutoModelForTokenClassification.from_pretrained(cfg["model"], num_labels=2)
    model.config.pad_token_id = tokenizer.pad_token_id
    rows = [json.loads(line) for line in Path(cfg["data"]).read_text().splitlines() if line.strip()]
    dataset = datasets.Dataset.from_list(
        [{"prompt": r["prompt"], "completions": r["completions"], "labels": r["labels"]} for r in rows])
    import torch

    # PRMConfig defaults to bf16 (refused on a CPU unless use_cpu=True) and gradient checkpointing
    matched = ({} if torch.cuda.is_available() else {"use_cpu": True}) if cfg["trl_defaults"] else \
        {"bf16": False, "gradient_checkpointing": False}
    args = PRMConfig(
        output_dir=cfg["out"], num_train_epochs=cfg["epochs"], learning_rate=cfg["lr"],
        per_device_train_batch_size=cfg["batch_size"], max_length=cfg["max_length"], seed=cfg["seed"],
        warmup_steps=cfg["warmup_ratio"], weight_decay=0.0, lr_scheduler_type="linear",
        step_separator="\n", train_on_last_step_only=False, eval_strategy="no", save_strategy="no",
        report_to=[], dataloader_num_workers=0, **matched)
    trainer = PRMTrainer(model=model, args=args, train_dataset=dataset, processing_class=tokenizer)
    lengths = sorted(len(x) for x in trainer.train_dataset["input_ids"])
    trainer.train()
    trainer.save_model(cfg["out"])
    tokenizer.save_pretrained(cfg["out"])
    shown = ("num_train_epochs", "learning_rate", "per_device_train_batch_size", "max_length", "seed", "warmup_steps",
             "weight_decay", "lr_scheduler_type", "bf16", "gradient_checkpointing", "disable_dropout",
             "step_separator", "train_on_last_step_only", "max_completion_length", "train_sampling_strategy",
             "group_by_length")
    return {"config": {k: str(getattr(args, k)) for k in shown if hasattr(args, k)},
            "dataset_tokens": sum(lengths), "truncated_rows": sum(n >= cfg["max_length"] for n in lengths),
            "dataset_lengths": {"min": lengths[0], "median": lengths[len(lengths) // 2], "max": lengths[-1]}}


def run_side(side: str, config_path: Path) -> None:
    cfg = json.loads(config_path.read_text())
    import torch

    torch.set_num_threads(cfg["threads"])
    stats: dict = {"side": side}
    _instrument(stats)
    stats.update(side_prmkit(cfg) if side == "prmkit" else side_trl(cfg))
    import importlib.metadata as md

    stats["versions"] = {p: md.version(p) for p in ("torch", "transformers", "datasets", "accelerate",
                                                    "trl" if side == "trl" else "prmkit")}
    _finish(stats, Path(cfg["result"]))


# ----------------------------------------------------------------------------------------------------
# driver: runs in prmkit's venv


def sh(cmd: list, log: Path | None = None, env: dict | None = None) -> None:
    """Run ``cmd`` (niced); its output goes to ``log`` if given; on failure show the end of it and stop."""
    cmd = ["nice", "-n", "5", *map(str, cmd)]
    if log is None:
        subprocess.run(cmd, check=True, env=env)
        return
    with open(log, "w") as f:
        code = subprocess.run(cmd, check=False, stdout=f, stderr=subprocess.STDOUT, env=env).returncode
    if code:
        tail = log.read_text().splitlines()[-30:]
        sys.exit("\n".join([f"failed ({code}): {' '.join(cmd)}", *tail, f"(full log: {log})"]))


def venv_versions(python: Path) -> dict:
    probe = ("import importlib.metadata as m, json\nout = {}\n"
             f"for p in {['torch', 'trl', *PINS]!r}:\n"
             "    try: out[p] = m.version(p)\n    except m.PackageNotFoundError: out[p] = None\nprint(json.dumps(out))")
    done = subprocess.run([str(python), "-c", probe], check=False, capture_output=True, text=True)
    return json.loads(done.stdout) if done.returncode == 0 else {}


def ensure_trl_venv(venv: Path, trl_version: str, work: Path) -> dict:
    """The TRL venv with torch (this venv's build, installed first and then held by a constraint, so pip
    never resolves a CUDA torch) and ``trl==trl_version`` with the pinned stack. Reused if it matches."""
    import importlib.metadata as md

    torch_pin = f"torch=={md.version('torch')}"
    pins = [f"trl=={trl_version}", *(f"{k}=={v}" for k, v in PINS.items())]
    python = venv / "bin" / "python"
    wanted = {"torch": md.version("torch"), "trl": trl_version, **PINS}
    have = venv_versions(python) if python.exists() else {}
    if have == wanted:
        print(f"TRL venv {venv} (reused): {torch_pin} {' '.join(pins)}")
        return have
    if not python.exists():
        print(f"creating {venv}")
        sh([MAIN_PYTHON, "-m", "venv", venv])
    constraints = work / "constraints.txt"
    constraints.write_text(torch_pin + "\n")
    print(f"installing into {venv}: {torch_pin}")
    sh([python, "-m", "pip", "install", "-q", torch_pin], log=work / "pip-torch.log")
    print(f"installing into {venv}: {' '.join(pins)} (constraint {torch_pin})")
    sh([python, "-m", "pip", "install", "-q", "-c", constraints, *pins], log=work / "pip-trl.log")
    have = venv_versions(python)
    if have != wanted:
        sys.exit(f"{venv}: installed {have}, wanted {wanted}")
    return have


def f1(python_cli: Path, eval_file: Path, model: Path, out: Path, log: Path, env: dict, spec: str | None) -> float:
    cmd = [python_cli, "eval", "processbench", eval_file, "--model", model, "--json", out]
    sh(cmd + (["--spec", spec] if spec else []), log=log, env=env)
    return json.loads(out.read_text())["average_f1"]


def length_spread(data: Path, tokenizer_dir: Path) -> dict:
    """Token lengths of the training solutions in TRL's rendering (BOS, prompt, then each step's tokens
    followed by the separator's: ``PRMTrainer.tokenize_row``), before any truncation."""
    import statistics

    import transformers

    tokenizer = transformers.AutoTokenizer.from_pretrained(str(tokenizer_dir))
    sep = len(tokenizer.encode("\n", add_special_tokens=False))
    bos = int(tokenizer.bos_token_id is not None)
    rows = [json.loads(line) for line in data.read_text().splitlines() if line.strip()]
    lengths = sorted(bos + len(tokenizer(r["prompt"], add_special_tokens=False)["input_ids"])
                     + sum(len(tokenizer(c, add_special_tokens=False)["input_ids"]) + sep for c in r["completions"])
                     for r in rows)
    steps = sorted(len(r["completions"]) for r in rows)
    q = statistics.quantiles(lengths, n=10)
    return {"min": lengths[0], "p10": q[0], "median": statistics.median(lengths), "p90": q[-1], "max": lengths[-1],
            "mean": statistics.fmean(lengths), "steps_min": steps[0], "steps_max": steps[-1]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="training solutions (world problems, seed 21)")
    parser.add_argument("--n-eval", type=int, default=200, help="held-out ProcessBench-format solutions (seed 7)")
    parser.add_argument("--steps", default="2-12",
                        help="steps per problem of both data sets (prmkit world export --steps): broad, as real PRM "
                             "data's length spread is; the world's own default 3-6 gives a narrow one")
    parser.add_argument("--epochs", type=float, default=2.0)
    parser.add_argument("--lr", type=float, default=1e-3, help="a tiny model from a fresh head: higher than prmkit's 1e-4")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--max-length", type=int, default=512,
                        help="the policy's context; with --steps 2-12 solutions are ~40-270 tokens")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads of each side (1: two threads on a busy 2-core machine oversubscribe)")
    parser.add_argument("--trl-version", default=TRL_VERSION)
    parser.add_argument("--trl-venv", type=Path, help="default: .bench-venvs/trl-<version> (reused when it matches)")
    parser.add_argument("--trl-defaults", action="store_true",
                        help="keep PRMConfig's own bf16=True and gradient_checkpointing=True (with use_cpu=True on a CPU)")
    parser.add_argument("--work", type=Path, default=REPO / "runs" / "bench-train-vs-trl")
    parser.add_argument("--keep", action="store_true",
                        help="reuse the data sets already in --work if made with the same --n, --n-eval and --steps")
    parser.add_argument("--side", choices=["prmkit", "trl"], help=argparse.SUPPRESS)  # harness mode
    parser.add_argument("--side-config", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.side:
        run_side(args.side, args.side_config)
        return

    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    prmkit_cli = MAIN_PYTHON.parent / "prmkit"
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "MKL_NUM_THREADS": str(args.threads),
           "HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1", "TRL_EXPERIMENTAL_SILENCE": "1",
           "TOKENIZERS_PARALLELISM": "false"}

    import importlib.metadata as md

    differ = {k: md.version(k) for k in PINS if md.version(k) != PINS[k]}
    if differ:
        print(f"warning: this venv has {differ}, the TRL venv gets {PINS}: the stacks differ beyond the trainer")
    venv = (args.trl_venv or REPO / ".bench-venvs" / f"trl-{args.trl_version}").resolve()
    versions = ensure_trl_venv(venv, args.trl_version, work)

    data, eval_file = work / "train.trl-stepwise.jsonl", work / "eval.processbench.json"
    # what the data sets were made with: --keep reuses them only when it matches
    manifest, made_with = work / "data.json", {"n": args.n, "n_eval": args.n_eval, "steps": args.steps,
                                               "train_seed": 21, "eval_seed": 7}
    same = manifest.exists() and json.loads(manifest.read_text()) == made_with
    if args.keep and not same and (data.exists() or eval_file.exists()):
        print(f"--keep: the data in {work} was not made with {made_with}: making it again")
    reuse = args.keep and same
    if not (reuse and data.exists()):
        manifest.unlink(missing_ok=True)
        print(f"exporting {args.n} training solutions (--steps {args.steps}) ...", flush=True)
        sh([prmkit_cli, "world", "export", data, "--n", args.n, "--seed", 21, "--format", "trl-stepwise",
            "--source", "policy", "--steps", args.steps], log=work / "export-train.log", env=env)
    if not (reuse and eval_file.exists()):
        manifest.unlink(missing_ok=True)
        print(f"exporting {args.n_eval} eval solutions (--steps {args.steps}) ...", flush=True)
        sh([prmkit_cli, "world", "export", eval_file, "--n", args.n_eval, "--seed", 7, "--steps", args.steps],
           log=work / "export-eval.log", env=env)
    manifest.write_text(json.dumps(made_with))
    n_train = sum(1 for line in data.read_text().splitlines() if line.strip())
    from prmkit.world.policy import BUNDLED_POLICY

    spread = length_spread(data, BUNDLED_POLICY)
    print(f"training set: {n_train} solutions of {spread['steps_min']}-{spread['steps_max']} labelled steps (the answer "
          f"line included; the policy may add or drop steps); tokens (TRL's rendering) min {spread['min']} / median {spread['median']:g} / max {spread['max']} "
          f"(p10 {spread['p10']:g}, p90 {spread['p90']:g}, mean {spread['mean']:.1f})", flush=True)

    results = {}
    for side, python in (("prmkit", MAIN_PYTHON), ("trl", venv / "bin" / "python")):
        out = work / f"{side}-model"
        shutil.rmtree(out, ignore_errors=True)
        cfg = {"data": str(data), "out": str(out), "model": str(BUNDLED_POLICY), "epochs": args.epochs,
               "lr": args.lr, "batch_size": args.batch_size, "max_length": args.max_length, "seed": args.seed,
               "warmup_ratio": 0.05, "threads": args.threads, "trl_defaults": args.trl_defaults,
               "result": str(work / f"{side}-train.json")}
        (work / f"{side}-config.json").write_text(json.dumps(cfg, indent=2))
        print(f"training {side} on {n_train} solutions ({args.epochs:g} epoch(s), batch {args.batch_size}) ...",
              flush=True)
        start = time.perf_counter()
        sh([python, Path(__file__).resolve(), "--side", side, "--side-config", work / f"{side}-config.json"],
           log=work / f"{side}-train.log", env=env)
        stats = json.loads((work / f"{side}-train.json").read_text())
        stats["process_seconds"] = time.perf_counter() - start
        stats["pb_f1"] = f1(prmkit_cli, eval_file, out, work / f"{side}-eval.json", work / f"{side}-eval.log", env,
                            None if side == "prmkit" else "trl-prm")
        results[side] = stats

    cuda = "cuda_peak_allocated_mb" in results["prmkit"]
    mem_key = "cuda_peak_allocated_mb" if cuda else "peak_rss_mb"
    for s in results.values():
        s["tokens_per_s"] = s["tokens"] / s["train_runtime"]
        s["solutions_per_s"] = n_train * args.epochs / s["train_runtime"]
        s["padding_share"] = 1 - s["tokens"] / s["batch_tokens"]
        s["peak_mb"] = s[mem_key]
    pk, trl = results["prmkit"], results["trl"]
    ratio = {"tokens_per_s": pk["tokens_per_s"] / trl["tokens_per_s"], "peak_memory": pk["peak_mb"] / trl["peak_mb"],
             "solutions_per_s": pk["solutions_per_s"] / trl["solutions_per_s"], "tokens_per_solution": pk["tokens"] / trl["tokens"]}

    mem = "peak CUDA MB" if cuda else "peak RSS MB"
    print(f"\n{n_train} training solutions ({args.steps} steps; tokens min {spread['min']} / median "
          f"{spread['median']:g} / max {spread['max']}), {args.epochs:g} epoch(s), batch {args.batch_size}, lr {args.lr:g}, "
          f"max_length {args.max_length}, torch threads {args.threads}; eval: {args.n_eval} solutions; "
          f"TRL {versions['trl']} (PRMConfig {'defaults' if args.trl_defaults else 'fp32, no gradient checkpointing'})")
    head = (f"{'side':8} {'tokens':>8} {'train s':>8} {'tokens/s':>9} {'sol/s':>7} {mem:>12} {'PB F1':>6} {'pad %':>6} "
            f"{'steps':>6}")
    print(head)
    print("-" * len(head))
    for name, s in (("prmkit", pk), ("TRL", trl)):
        print(f"{name:8} {s['tokens']:8d} {s['train_runtime']:8.1f} {s['tokens_per_s']:9.0f} {s['solutions_per_s']:7.1f} "
              f"{s['peak_mb']:12.0f} {s['pb_f1']:6.3f} {100 * s['padding_share']:6.1f} {s['trained_steps']:6d}")
    print(f"prmkit/TRL tokens/s: {ratio['tokens_per_s']:.2f}x")
    print(f"prmkit/TRL peak memory: {ratio['peak_memory']:.2f}x")
    print(f"prmkit/TRL solutions/s: {ratio['solutions_per_s']:.2f}x (prmkit's rendering has "
          f"{ratio['tokens_per_solution']:.2f}x TRL's tokens per solution)")
    for name, s in (("prmkit", pk), ("TRL", trl)):
        print(f"  {name}: RSS {s['rss_at_train_begin_mb']:.0f} MB when training began, high-water "
              f"{s['peak_rss_at_train_end_mb']:.0f} MB when it ended; {s['batches']} batches, "
              f"{s['batch_tokens']} tokens with padding, loss {s['train_loss']:.4f}")
    passed = ratio["tokens_per_s"] >= 1.5 and ratio["peak_memory"] <= 1.0
    print(f"acceptance (prmkit >= 1.5x TRL's tokens/s at equal or lower peak memory): {'PASS' if passed else 'FAIL'}")

    everything = {"args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
                  "trl_venv": str(venv), "trl_venv_versions": versions, "pins": PINS, "train_solutions": n_train,
                  "train_lengths": spread,
                  "results": results, "ratio": ratio, "acceptance": passed, "load_average": os.getloadavg()}
    (work / "results.json").write_text(json.dumps(everything, indent=2, default=str))
    print(f"results written to {work / 'results.json'}")


if __name__ == "__main__":
    main()
