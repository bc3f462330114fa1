"""PRM-guided search: prmkit's strategies vs Red Hat's its_hub, on the same policy, PRM, problems and seeds.

For each method (best-of-n, beam, particle-filtering) and budget N (1, 2, 4, 8, 16) both libraries search the
quickstart's held-out search problems (``world_examples(K, source="injected", seed=103)``: the first K, default 40,
of the 60 in ``make demo``'s ``search-problems.jsonl``); problem ``i`` is searched with seed ``100 + 1000 * i`` on both sides.
The answer each library picks (the PRM's argmax: prmkit's ``SearchResult.pick("prm")``, its_hub's ``the_one``) is
graded with ``prmkit.answers.grade``. Printed per (method, N): accuracy with its 95% bootstrap interval over
problems (``prmkit.metrics.bootstrap_ci``), search wall time (model loading excluded), PRM tokens read and
policy tokens written, for both, and the ratios prmkit / its_hub.

* **prmkit**: ``prmkit.search.SEARCHERS`` with the options and per-method aggregation ``prmkit search`` uses
  (``pipelines.search._options``: beam width 4, refilled beams; particle filtering with log-odds weights,
  systematic resampling at every step), the bundled policy through ``StepPolicy``, and the quickstart
  PRM (``load_scorer``) with incremental scoring on, as ``pipelines/search.py`` sets it: each step's tokens are
  read once, on top of the cached prefix. Best-of-N samples ``--batch-problems`` problems in one ``generate`` call
  (``best_of_n_batch``; default ``prmkit search``'s 64, so all of them), each with its own seed, so it draws
  exactly the samples one call per problem draws; ``--batch-problems 1`` searches one problem per call.
* **its_hub** (``its-hub[lm]``, pinned below, in its own venv made by this script): ``BestOfN``, ``BeamSearch``
  and ``ParticleFiltering`` with its_hub's ``StepGeneration`` (step token ``"\\n"``, stop token ``"The answer
  is"``, the world's answer line, temperature 0.8), in a subprocess running ``benchmarks/_its_hub_side.py``.
  The policy and the PRM are the same prmkit objects behind its_hub's own interfaces: an ``AbstractLanguageModel``
  that calls prmkit's ``HFGenerator`` in process, one batched ``generate`` per its_hub call (and an orchestrator
  that passes ``BestOfN``'s batch through whole, where its_hub's default sends one request per candidate for a
  server to batch), and an ``AbstractProcessRewardModel`` / ``AbstractOutcomeRewardModel`` over the same PRM.
  its_hub hands the PRM whole responses, so every call re-reads every prefix (``incremental=False``), and each
  response is read in full, the question too, as reward_hub's batched HF PRM reads them (``share_prefix=False``;
  prmkit's scorer reads the question one call's candidates share once); the PRM tokens counted are that scorer's
  ``report["tokens"]``, and the PRM seconds the time in its ``score`` calls, as on the prmkit side.

Why in-process and not ``transformers serve`` with its_hub's ``OpenAICompatibleLanguageModel``: the policy is a
raw completion model whose prompt is ``question + "\\n" + steps``, while the OpenAI path sends chat messages, so a
server would wrap them in a chat template and would not continue a partial assistant turn; the prompts (and so the
policy) would differ between the sides, and HTTP and one request per candidate would be timed too. In process,
both sides sample the same prompts from the same model in batched calls, and the search code is what differs.

The ``[experimental]`` extra (which BeamSearch and ParticleFiltering live under) is not installed: its only
addition beyond ``[lm]`` and transformers is ``reward-hub[prm]``, which needs vLLM (a CUDA torch older than 2.13)
and transformers <= 4.57.3, so pip cannot resolve it next to torch 2.13; the two algorithms import nothing from it
(only its vLLM PRM does, which is not used here).

Differences that remain, by each library's design (see ``--json`` for every candidate): its_hub's ``infer`` takes
one problem, so in process its Best-of-N makes one ``generate`` call per problem, where prmkit's takes many problems
in one (with a server such as vLLM, its_hub's concurrent requests would be batched by the server, which this
in-process comparison does not measure; prmkit's OpenAI-compatible and vLLM generators send a seed per prompt too);
its_hub's beam writes only
``N / kept`` candidates at the first step, and keeps finished paths in the beam where prmkit sets them aside;
both particle filters resample at every step, its_hub's multinomially (``ParticleFiltering`` does not pass its
``resampling_method`` on), prmkit's systematically; neither library's best-of-n scores when all N samples are one
solution, and both score a repeated sample once. Best-of-N's samples are the same on both sides (the same
seeded call); the script checks and prints it.

    .venv/bin/python benchmarks/search_vs_its_hub.py                       # 40 problems, all methods and budgets:
                                                                           # about 10 minutes on 2 cores (20 if busy)
    .venv/bin/python benchmarks/search_vs_its_hub.py --problems 5 --budgets 1,4 --json out.json
    .venv/bin/python benchmarks/search_vs_its_hub.py --methods best-of-n --repeats 5  # steadier wall times
    .venv/bin/python benchmarks/search_vs_its_hub.py --methods best-of-n --batch-problems 1  # one problem per call

The first run makes the venv (``--venv``, default ``.bench-venvs/its-hub-<version>``; reused when its pins
match): about a minute from the local wheels. Logs go to ``--work`` (``runs/bench-search-vs-its-hub``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SIDE = Path(__file__).resolve().parent / "_its_hub_side.py"
KNOWN_PRMS = [REPO / "runs" / "demo" / "quickstart", REPO / "runs" / "quickstart",
              REPO / "runs" / "search-memory" / "quickstart"]
SEED = 100  # QuickstartConfig.seed: its search problems are drawn with seed + 3 and searched with seed + 1000 * i
STOP_TOKEN = "The answer is"  # the world's answer line: its_hub's StepGeneration ends a path on it
METHODS = ("best-of-n", "beam", "particle-filtering")

ITS_HUB_VERSION = "1.2.0"
TORCH = "2.13.0"  # the local CPU build; installed first, then held by the constraint file
# what the its_hub venv installs by name; everything else is held to the repo's constraints.txt (the versions
# prmkit's own venv runs) plus the few its_hub[lm] pulls in that prmkit does not have
PINS = {"its_hub": ITS_HUB_VERSION, "transformers": "5.24.0", "tokenizers": "0.23.3", "huggingface_hub": "2.4.0",
        "safetensors": "0.8.0", "numpy": "2.4.6", "openai": "3.57.0", "aiohttp": "3.14.5", "backoff": "2.2.1",
        "math-verify": "0.9.0", "PyYAML": "6.0.4"}
EXTRA_CONSTRAINTS = ["aiohappyeyeballs==2.7.1", "aiosignal==1.4.0", "frozenlist==1.8.0", "multidict==7.2.1",
                     "propcache==0.5.4", "yarl==1.25.1"]


# ----------------------------------------------------------------------------------------------------
# the its_hub venv


def sh(cmd: list, log: Path) -> None:
    cmd = ["nice", "-n", "5", *map(str, cmd)]
    with open(log, "w") as f:
        code = subprocess.run(cmd, check=False, stdout=f, stderr=subprocess.STDOUT).returncode
    if code:
        tail = log.read_text().splitlines()[-30:]
        sys.exit("\n".join([f"failed ({code}): {' '.join(cmd)}", *tail, f"(full log: {log})"]))


def venv_versions(python: Path) -> dict:
    names = ["torch", *PINS]
    probe = ("import importlib.metadata as m, json\nout = {}\n"
             f"for p in {names!r}:\n"
             "    try: out[p] = m.version(p).split('+')[0]\n    except m.PackageNotFoundError: out[p] = None\n"
             "print(json.dumps(out))")
    done = subprocess.run([str(python), "-c", probe], check=False, capture_output=True, text=True)
    return json.loads(done.stdout) if done.returncode == 0 else {}


def ensure_venv(venv: Path, work: Path) -> dict:
    """The its_hub venv: torch first (the CPU build, so pip never resolves a CUDA one), then its-hub[lm] and the
    pins, under a constraint file. prmkit is not installed there: the side puts ``src/`` on its path."""
    python = venv / "bin" / "python"
    wanted = {"torch": TORCH, **PINS}
    have = venv_versions(python) if python.exists() else {}
    pins = [f"its-hub[lm]=={ITS_HUB_VERSION}", *(f"{k}=={v}" for k, v in PINS.items() if k != "its_hub")]
    if have == wanted:
        print(f"its_hub venv {venv} (reused): torch=={TORCH} {' '.join(pins)}")
        return have
    if not python.exists():
        print(f"creating {venv}")
        sh([sys.executable, "-m", "venv", venv], work / "venv.log")
    constraints = work / "its_hub-constraints.txt"
    repo = [line for line in (REPO / "constraints.txt").read_text().splitlines()
            if line.strip() and not line.startswith("#") and not line.startswith("torch==")]
    constraints.write_text("\n".join([f"torch=={TORCH}", *repo, *EXTRA_CONSTRAINTS]) + "\n")
    print(f"installing into {venv}: torch=={TORCH}", flush=True)
    sh([python, "-m", "pip", "install", "-q", f"torch=={TORCH}"], work / "pip-torch.log")
    print(f"installing into {venv}: {' '.join(pins)} (constraints {constraints})", flush=True)
    sh([python, "-m", "pip", "install", "-q", "-c", constraints, *pins], work / "pip-its_hub.log")
    have = venv_versions(python)
    if have != wanted:
        sys.exit(f"{venv}: installed {have}, wanted {wanted}")
    return have


# ----------------------------------------------------------------------------------------------------
# the sides


def find_or_train_prm(model: str | None) -> Path:
    """A PRM folder: ``--model``, or the quickstart's (make demo, prmkit quickstart, search_memory.py's), or one
    trained now with the quickstart's own code (benchmarks/search_memory.py --train, a few minutes)."""
    if model:
        path = Path(model)
        return path / "prm" if (path / "prm" / "prmkit_spec.json").exists() else path
    for folder in KNOWN_PRMS:
        if (folder / "prm" / "prmkit_spec.json").exists():
            return folder / "prm"
    print(f"PRM: none in {', '.join(str(p) for p in KNOWN_PRMS)}; training the quickstart's into {KNOWN_PRMS[-1]}")
    subprocess.run([sys.executable, str(REPO / "benchmarks" / "search_memory.py"), "--train", str(KNOWN_PRMS[-1])],
                   check=True)
    return KNOWN_PRMS[-1] / "prm"


class ItsHubSide:
    """``_its_hub_side.py`` under the its_hub venv's python: one config line, then one job per (method, N)."""

    def __init__(self, python: Path, cfg: dict, log: Path, threads: int):
        env = {**os.environ, "PRMKIT_SRC": str(REPO / "src"), "OMP_NUM_THREADS": str(threads),
               "MKL_NUM_THREADS": str(threads), "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
               "TRANSFORMERS_VERBOSITY": "error", "PYTHONWARNINGS": "ignore"}
        self.log = open(log, "w")
        self.proc = subprocess.Popen([str(python), str(SIDE)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.log, text=True, env=env, cwd=REPO)
        self.send(cfg)

    def send(self, obj: dict) -> None:
        self.proc.stdin.write(json.dumps(obj) + "\n")
        self.proc.stdin.flush()

    def receive(self) -> dict:
        line = self.proc.stdout.readline()
        if not line:
            self.log.flush()
            tail = Path(self.log.name).read_text().splitlines()[-30:]
            sys.exit("\n".join(["the its_hub side died:", *tail, f"(full log: {self.log.name})"]))
        return json.loads(line)

    def run(self, job: dict) -> list[dict]:
        self.send(job)
        return self.receive()["records"]

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait()
        self.log.close()


def prmkit_side(prm: Path, seed: int):
    """prmkit's policy, scorer and per-method searches, as ``pipelines.search.run`` builds and runs them (problem
    ``i`` seeded ``seed + 1000 * i``)."""
    from dataclasses import replace

    from prmkit.backends import load_generator, load_scorer
    from prmkit.pipelines.search import SearchConfig, _searches
    from prmkit.search.primitives import StepPolicy

    config = SearchConfig(data="-", model=str(prm), seed=seed)
    policy = StepPolicy(load_generator(config.generator), template=config.template, separator=config.separator,
                        temperature=config.temperature, max_step_tokens=config.max_step_tokens,
                        max_steps=config.max_steps, answer_style=config.answer_style)
    scorer = load_scorer(str(prm))
    if hasattr(scorer, "incremental"):  # as pipelines/search.py: read only each candidate's new step
        scorer.incremental = True

    def run(method: str, n: int, problems: list, batch: int) -> list[dict]:
        """One record per problem. ``batch`` > 1: a ``BATCHED`` strategy (best-of-n) searches that many problems at
        a time, as ``prmkit search`` does; each problem's seconds are its share of the shared generate call plus its
        own scoring (``best_of_n_batch``), so they still sum to the wall time."""
        records = []
        for problem, _, result in _searches(replace(config, batch_problems=batch), method, problems, policy, scorer,
                                            [n]):
            c = result.compute
            records.append({"id": problem.id, "answer": result.pick("prm"),
                            "candidates": ["\n".join(node.steps) for node in result.candidates],
                            "scores": [node.value(result.aggregate) for node in result.candidates],
                            "seconds": c.seconds, "prm_seconds": c.prm_seconds, "prm_tokens": c.prm_tokens,
                            "generated_tokens": c.generated_tokens,
                            "generate_calls": c.generate_calls, "score_calls": c.score_calls})
        return records

    return config, policy, run


def normalised(text: str) -> str:
    """A candidate as prmkit's StepPolicy keeps it: stripped non-empty lines, up to the first answer line."""
    from prmkit.answers import marked_answer

    kept = []
    for line in text.split("\n"):
        if line.strip():
            kept.append(line.strip())
            if marked_answer(line.strip()) is not None:
                break
    return "\n".join(kept)


# ----------------------------------------------------------------------------------------------------
# driver


def summarise(records: list[dict], correct: list[bool]) -> dict:
    from prmkit.metrics import bootstrap_ci

    values = [float(c) for c in correct]
    return {"accuracy": sum(values) / len(values), "ci": list(bootstrap_ci(values)),
            **{k: sum(r[k] for r in records) for k in ("seconds", "prm_seconds", "prm_tokens", "generated_tokens")}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", type=int, default=40,
                        help="the first K quickstart search problems (make demo has 60); every method and budget "
                             "takes about 14 s a problem on 2 cores at load 2.5 (10 minutes in all), twice that at 3.5")
    parser.add_argument("--budgets", default="1,2,4,8,16", help="the budgets N")
    parser.add_argument("--methods", default=",".join(METHODS), help=f"of {', '.join(METHODS)}")
    parser.add_argument("--model", help="a PRM folder or a quickstart's output folder (default: the quickstart's)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads of each side (they run in turn)")
    parser.add_argument("--seed", type=int, default=SEED, help="problem i is searched with seed + 1000 * i")
    parser.add_argument("--venv", type=Path, help=f"the its_hub venv (default .bench-venvs/its-hub-{ITS_HUB_VERSION})")
    parser.add_argument("--work", type=Path, default=REPO / "runs" / "bench-search-vs-its-hub", help="logs")
    parser.add_argument("--repeats", type=int, default=1,
                        help="run every (method, N) this many times on each side, alternating, and keep each "
                             "problem's fastest run: less machine noise in the wall times (the searches are seeded: "
                             "the answers must repeat, and the script checks it)")
    parser.add_argument("--batch-problems", type=int,
                        help="prmkit's best-of-n samples this many problems in one generate call, as prmkit search "
                             "does (default: its default, SearchConfig.batch_problems); 1: one call per problem, as "
                             "its_hub's infer takes one problem")
    parser.add_argument("--json", type=Path, help="write every result (and every candidate) here")
    args = parser.parse_args()
    budgets = sorted({int(b) for b in args.budgets.split(",")})
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = [m for m in methods if m not in METHODS]
    if unknown or not budgets or min(budgets) < 1:
        sys.exit(f"--methods: of {', '.join(METHODS)}; --budgets: positive integers (got {args.methods!r}, {args.budgets!r})")
    if "beam" in methods:  # its_hub's BeamSearch needs N divisible by its beam_width (the beams kept)
        bad = [n for n in budgets if n % max(1, n // min(4, n))]
        if bad:
            sys.exit(f"beam: its_hub needs N divisible by N // 4; not {bad}")

    from prmkit.search import SEARCHERS

    missing = [m for m in methods if m not in SEARCHERS]
    if missing:
        print(f"prmkit has no {', '.join(missing)} (prmkit.search.SEARCHERS): left out")
        methods = [m for m in methods if m in SEARCHERS]

    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    os.environ.update({"HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "TRANSFORMERS_VERBOSITY": "error"})
    venv = (args.venv or REPO / ".bench-venvs" / f"its-hub-{ITS_HUB_VERSION}").resolve()
    versions = ensure_venv(venv, work)
    prm = find_or_train_prm(args.model)

    import warnings

    import torch

    warnings.filterwarnings("ignore", category=FutureWarning)  # transformers' past_key_values notice, every call
    torch.set_num_threads(args.threads)
    from prmkit.answers import grade
    from prmkit.pipelines.search import DEFAULT_AGGREGATE
    from prmkit.world.export import world_examples

    problems = [ex.problem for ex in world_examples(args.problems, source="injected", seed=SEED + 3)]
    seeds = [args.seed + 1000 * i for i in range(len(problems))]
    config, policy, prmkit_run = prmkit_side(prm, args.seed)
    if args.batch_problems is None:
        args.batch_problems = config.batch_problems
    side = ItsHubSide(venv / "bin" / "python", {
        "prm": str(prm), "generator": config.generator, "template": config.template, "separator": config.separator,
        "temperature": config.temperature, "max_step_tokens": config.max_step_tokens, "max_steps": config.max_steps,
        "stop_token": STOP_TOKEN, "beam_width": config.beam_width, "threads": args.threads}, work / "its_hub-side.log",
        args.threads)
    ready = side.receive()
    print(f"{len(problems)} problems, N = {','.join(map(str, budgets))}, methods {', '.join(methods)}; PRM {prm}; "
          f"policy: the bundled one, in process on both sides; torch threads {args.threads} each, the sides in turn; "
          f"prmkit's best-of-n samples {args.batch_problems} problem(s) per generate call, its_hub's one")
    print(f"its_hub {ready['versions']['its_hub']} (its-hub[lm]; venv {venv}), transformers "
          f"{ready['versions']['transformers']}, torch {ready['versions']['torch']}", flush=True)

    # one untimed search on each side first: the first forward passes of a process are slower
    prmkit_run("best-of-n", 1, problems[:1], 1)
    side.run({"method": "best-of-n", "n": 1, "aggregate": "min",
              "problems": [{"id": problems[0].id, "question": problems[0].question, "seed": seeds[0]}]})
    started, cells, results = time.perf_counter(), 0, {}
    by_id = {p.id: p for p in problems}
    for method in methods:
        for n in budgets:
            job = {"method": method, "n": n, "aggregate": DEFAULT_AGGREGATE.get(method, "min"),
                   "problems": [{"id": p.id, "question": p.question, "seed": s} for p, s in zip(problems, seeds)]}
            got: dict[str, list] = {}
            for _ in range(max(1, args.repeats)):
                order = ("prmkit", "its_hub") if cells % 2 == 0 else ("its_hub", "prmkit")  # neither side always first
                cells += 1
                for name in order:
                    records = prmkit_run(method, n, problems, args.batch_problems) if name == "prmkit" \
                        else side.run(job)
                    for kept, again in zip(got.setdefault(name, records), records):
                        if again["candidates"] != kept["candidates"]:
                            sys.exit(f"{name} {method} N={n}: problem {kept['id']} searched twice with one seed gave "
                                     "other candidates; --repeats needs deterministic searches")
                        kept["seconds"] = min(kept["seconds"], again["seconds"])
                        kept["prm_seconds"] = min(kept["prm_seconds"], again["prm_seconds"])
            pk = [r["answer"] is not None and grade(r["answer"], by_id[r["id"]].answer) for r in got["prmkit"]]
            ih = [bool(r["text"].strip()) and grade(r["text"], by_id[r["id"]].answer) for r in got["its_hub"]]
            row = {"prmkit": summarise(got["prmkit"], pk), "its_hub": summarise(got["its_hub"], ih)}
            if method == "best-of-n":
                row["same_candidates"] = sum(a["candidates"] == [normalised(t) for t in b["candidates"]]
                                             for a, b in zip(got["prmkit"], got["its_hub"]))
            results[method, n] = {**row, "records": got}
            a, b = row["prmkit"], row["its_hub"]
            print(f"  {method} N={n}: prmkit {a['accuracy']:.3f} in {a['seconds']:.1f} s, its_hub {b['accuracy']:.3f} "
                  f"in {b['seconds']:.1f} s ({time.perf_counter() - started:.0f} s so far)", flush=True)
    side.close()
    total = time.perf_counter() - started

    def ratio(x: float, y: float) -> str:
        return f"{x / y:.2f}" if y else "-"

    def acc(s: dict) -> str:
        return f"{s['accuracy']:.3f} [{s['ci'][0]:.2f},{s['ci'][1]:.2f}]"

    head = (f"{'method':<18} {'N':>3}  {'accuracy prmkit':>21} {'accuracy its_hub':>21}  {'s prmkit':>8} "
            f"{'s its_hub':>9} {'s ratio':>7}  {'PRM s ratio':>11}  {'PRM tok prmkit':>14} {'PRM tok its_hub':>15} "
            f"{'tok ratio':>9}  {'gen tok prmkit':>14} {'gen tok its_hub':>15}")
    print(f"\naccuracy with 95% bootstrap interval over {len(problems)} problems; wall seconds (each problem's "
          f"fastest of {max(1, args.repeats)} run(s)), PRM scoring seconds and tokens summed over them; "
          f"ratios prmkit / its_hub")
    print(head)
    print("-" * len(head))
    for (method, n), r in results.items():
        a, b = r["prmkit"], r["its_hub"]
        print(f"{method:<18} {n:>3}  {acc(a):>21} {acc(b):>21}  {a['seconds']:>8.1f} {b['seconds']:>9.1f} "
              f"{ratio(a['seconds'], b['seconds']):>7}  {ratio(a['prm_seconds'], b['prm_seconds']):>11}  "
              f"{a['prm_tokens']:>14,} {b['prm_tokens']:>15,} "
              f"{ratio(a['prm_tokens'], b['prm_tokens']):>9}  {a['generated_tokens']:>14,} {b['generated_tokens']:>15,}")
    same = [(n, r["same_candidates"]) for (m, n), r in results.items() if m == "best-of-n"]
    if same:
        print("best-of-n, problems whose N samples are the same on both sides: "
              + ", ".join(f"N={n}: {k}/{len(problems)}" for n, k in same))
    print(f"wall time of the searches: {total:.0f} s ({total / 60:.1f} min)")
    if args.json:
        out = {"args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}, "prm": str(prm),
               "its_hub_venv": str(venv), "its_hub_venv_versions": versions, "side_versions": ready["versions"],
               "problems": [p.id for p in problems], "seeds": seeds, "seconds": total, "load_average": os.getloadavg(),
               "results": {f"{m}@{n}": r for (m, n), r in results.items()}}
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, indent=2, default=str) + "\n")
        print(f"results written to {args.json}")


if __name__ == "__main__":
    main()
