"""`prmkit serve` under load: micro-batching vs one request at a time, at 1, 8 and 32 concurrent clients.

Two real servers on loopback, the same PRM (default: the bundled policy with a 2-way head, saved as a
prmkit PRM folder): one with micro-batching (``--max-batch-items 64 --max-wait-ms 5``), one that scores
each request alone (``--max-batch-items 1``). Each client sends OpenRLHF ``/get_reward`` requests (one
synthetic-world solution each, 3 to 6 steps) back to back; the script prints requests/s and p50/p99
latency per setting, and the throughput ratio at each concurrency, in one run.

    .venv/bin/python benchmarks/serve_load.py                    # about 2 minutes on 2 cores
    .venv/bin/python benchmarks/serve_load.py --model runs/prm   # any PRM folder
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import time
from pathlib import Path

import httpx

from prmkit.server import launch
from prmkit.world.export import world_examples


def default_prm(folder: Path) -> str:
    import torch
    import transformers

    from prmkit.backends.families import get_spec
    from prmkit.world.policy import BUNDLED_POLICY

    if not (folder / "prmkit_spec.json").exists():
        torch.manual_seed(0)
        spec = get_spec("prmkit")
        tok = transformers.AutoTokenizer.from_pretrained(str(BUNDLED_POLICY))
        tok.add_tokens([spec.step_tag.strip()])
        model = transformers.AutoModelForTokenClassification.from_pretrained(str(BUNDLED_POLICY), num_labels=2)
        model.resize_token_embeddings(len(tok))
        model.save_pretrained(folder)
        tok.save_pretrained(folder)
        spec.save(folder)
    return str(folder)


def start(model: str, batch: int) -> tuple[subprocess.Popen, str]:
    return launch("--model", model, "--max-batch-items", str(batch), timeout=120)


async def load(url: str, bodies: list[dict], clients: int, per_client: int) -> dict:
    latencies: list[float] = []

    async def client(k: int) -> None:
        async with httpx.AsyncClient(base_url=url, timeout=120) as c:
            for j in range(per_client):
                body = bodies[(k * per_client + j) % len(bodies)]
                t = time.perf_counter()
                r = await c.post("/get_reward", json=body)
                r.raise_for_status()
                latencies.append(time.perf_counter() - t)

    started = time.perf_counter()
    await asyncio.gather(*(client(k) for k in range(clients)))
    wall = time.perf_counter() - started
    latencies.sort()
    return {"requests": len(latencies), "seconds": wall, "rps": len(latencies) / wall,
            "p50_ms": 1000 * statistics.median(latencies), "p99_ms": 1000 * latencies[int(0.99 * (len(latencies) - 1))]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="a PRM folder (default: the bundled policy with a fresh head)")
    parser.add_argument("--clients", default="1,8,32")
    parser.add_argument("--requests", type=int, default=256, help="requests per setting (split among the clients)")
    parser.add_argument("--work", default="runs/bench-serve")
    args = parser.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    model = args.model or default_prm(work / "prm")
    bodies = [{"query": [ex.problem.question + "\n" + "\n".join(ex.solution.steps)],
               "prompts": [ex.problem.question + "\n"]} for ex in world_examples(64, source="injected", seed=3)]
    results: dict = {}
    for name, batch in (("micro-batching", 64), ("one at a time", 1)):
        proc, url = start(model, batch)
        try:
            asyncio.run(load(url, bodies, 4, 4))  # warm-up
            for clients in (int(c) for c in args.clients.split(",")):
                per_client = max(1, args.requests // clients)
                results.setdefault(name, {})[clients] = asyncio.run(load(url, bodies, clients, per_client))
        finally:
            proc.terminate()
            proc.wait(10)
    print(f"{'setting':<16} {'clients':>7} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8}")
    for name, rows in results.items():
        for clients, r in rows.items():
            print(f"{name:<16} {clients:>7} {r['rps']:>8.1f} {r['p50_ms']:>8.1f} {r['p99_ms']:>8.1f}")
    for clients in results["micro-batching"]:
        ratio = results["micro-batching"][clients]["rps"] / results["one at a time"][clients]["rps"]
        print(f"micro-batching / one at a time, {clients} clients: {ratio:.2f}x requests/s")
    (work / "results.json").write_text(json.dumps(results, indent=2))
    print(f"threads: {os.environ.get('OMP_NUM_THREADS', 'torch default')}; results: {work / 'results.json'}")


if __name__ == "__main__":
    main()
