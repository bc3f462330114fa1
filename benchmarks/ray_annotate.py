"""MC labelling throughput on Ray with 1 and 2 workers, against the single-process path, in one run.

The same job (exhaustive MC, ``k`` rollouts per prefix, the bundled world policy, the default chunk of 16
solutions) runs three times on the same solutions, each in a fresh job folder:

* **local**: ``prmkit annotate mc`` as it runs today, chunk after chunk in this process (torch's default
  thread count, printed);
* **ray x1** / **ray x2**: ``--executor ray --workers 1|2``. Each worker is an actor with one CPU, so one
  torch thread (Ray sets ``OMP_NUM_THREADS=1``). The runtime is one local runtime on 127.0.0.1, started once.

Printed per run: wall seconds, solutions and rollouts per second, and, for Ray, the actors' start-up and
Ray's overhead per chunk. Overhead is a chunk's round trip (scheduling, sending the chunk and its cache,
the results back) minus the seconds its labeller worked. Rates are over the wall time of the whole job,
actor start-up included. The labels of the three runs are checked to be equal, byte for byte.

    .venv/bin/python benchmarks/ray_annotate.py                # about 4 minutes on 2 cores
    .venv/bin/python benchmarks/ray_annotate.py --solutions 64 --k 4   # a quicker look
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--solutions", type=int, default=128)
    parser.add_argument("--k", type=int, default=8, help="rollouts per prefix")
    parser.add_argument("--chunk-size", type=int, default=16, help="the default of prmkit annotate")
    parser.add_argument("--work", type=Path, default=None, help="job folders here (default: a temp folder)")
    parser.add_argument("--json", type=Path, default=None, help="also write the numbers here")
    args = parser.parse_args()

    import torch

    from prmkit.cluster import ray_runtime
    from prmkit.data import write
    from prmkit.pipelines.annotate import AnnotateConfig, run
    from prmkit.world.export import world_examples
    from prmkit.world.policy import BUNDLED_POLICY

    work = args.work or Path(tempfile.mkdtemp(prefix="ray-annotate-"))
    data = work / "world.jsonl"
    write(world_examples(args.solutions, seed=11), data, "prmkit")
    base = dict(data=str(data), methods=("mc",), generator=str(BUNDLED_POLICY), k=args.k, chunk_size=args.chunk_size,
                max_tokens=160)

    def job(name: str, **kw) -> dict:
        t0 = time.perf_counter()
        report = run(AnnotateConfig(out=str(work / name), **base, **kw))
        wall = time.perf_counter() - t0
        mc = report["methods"]["mc"]
        row = {"run": name, "wall_s": wall, "solutions_per_s": mc["labelled"] / wall,
               "rollouts_per_s": mc["rollouts"] / wall, "rollouts": mc["rollouts"]}
        if "ray" in report:
            r = report["ray"]
            chunks = r["chunks"] + r["reruns"]
            row.update(start_s=r["start_seconds"], chunks=r["chunks"], reruns=r["reruns"],
                       work_per_chunk_s=r["work_seconds"] / chunks, overhead_per_chunk_s=r["overhead_seconds"] / chunks,
                       overhead_share=r["overhead_seconds"] / r["work_seconds"])
        print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()}), flush=True)
        return row

    print(f"{args.solutions} solutions, k={args.k}, chunks of {args.chunk_size}; torch threads in this process: "
          f"{torch.get_num_threads()}", flush=True)
    rows = [job("local")]
    with ray_runtime(num_cpus=2):
        rows += [job("ray-1", executor="ray", workers=1), job("ray-2", executor="ray", workers=2)]
    same = len({(work / r["run"] / "mc.jsonl").read_bytes() for r in rows}) == 1
    local, one, two = rows
    summary = {"ray2_over_ray1": two["solutions_per_s"] / one["solutions_per_s"],
               "ray2_over_local": two["solutions_per_s"] / local["solutions_per_s"],
               "ray1_over_local": one["solutions_per_s"] / local["solutions_per_s"],
               "overhead_share_per_chunk_ray1": one["overhead_share"],
               "overhead_per_chunk_s_ray1": one["overhead_per_chunk_s"],
               "per_worker_solutions_per_s": one["solutions_per_s"], "labels_identical": same}
    print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in summary.items()}), flush=True)
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "summary": summary}, indent=2))
    if not same:
        raise SystemExit("the three runs' labels differ")


if __name__ == "__main__":
    main()
