"""Cells per minute: the local executor vs the Ray executor on a local Ray instance, same machine, same run.

The same matrix (fixture folders x releases, warm cached environments) runs on both executors with the
same parallelism: local with --jobs N, Ray with a local instance of N CPUs and one CPU per cell, in
alternating order over --rounds rounds (medians). Ray's start-up is given apart (a cluster is usually up
already). The cells
of both runs are also compared (outcomes, errors, differences), so a fast wrong answer cannot pass.

    python bench/matrix_executors.py [--releases 2.7.0,6.2.0] [--models 4] [--jobs 2] [--rounds 2]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from dataclasses import asdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from stcompat.matrix.ray_executor import RayExecutor, require_ray  # noqa: E402
from stcompat.matrix.runner import run_matrix  # noqa: E402

FIXTURES = ROOT / "tests" / "fixtures"
MODELS = ("st2.7.0/bert_prompts", "st6.2.0/bert_plain", "st3.4.1/roberta_plain", "st5.1.2/bert_trunc",
          "st2.2.2/bert_plain", "st4.1.0/bert_plain", "st5.7.0/bert_plain", "st3.0.1/bert_plain")


def _same(a, b) -> bool:
    def strip(cell):
        item = asdict(cell)
        item.pop("seconds")
        return item

    return [strip(c) for c in a.cells] == [strip(c) for c in b.cells]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--releases", default="2.7.0,6.2.0")
    parser.add_argument("--models", type=int, default=4, help=f"how many fixture folders (at most {len(MODELS)})")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    ray = require_ray()
    releases = args.releases.split(",")
    models = [FIXTURES / m for m in MODELS[: args.models] if (FIXTURES / m).is_dir()]
    # Warm-up: every environment built and cached, so both runs measure cells, not builds.
    run_matrix(models[:1], releases, jobs=args.jobs, timeout=600)

    started = time.perf_counter()
    ray.init(num_cpus=args.jobs, include_dashboard=False, logging_level="WARNING")
    up_s = time.perf_counter() - started
    # Rounds alternate the order (local first, then Ray first): on a shared machine the load drifts.
    times: dict[str, list[float]] = {"local": [], "ray": []}
    results = {}
    for round_ in range(args.rounds):
        for name in (("local", "ray") if round_ % 2 == 0 else ("ray", "local")):
            started = time.perf_counter()
            results[name] = run_matrix(models, releases, jobs=args.jobs, timeout=600,
                                       executor=RayExecutor(cpus_per_cell=1) if name == "ray" else None)
            times[name].append(time.perf_counter() - started)
    ray.shutdown()
    local, remote = results["local"], results["ray"]
    local_s, ray_s = statistics.median(times["local"]), statistics.median(times["ray"])

    cells = len(local.cells)
    print(f"{len(models)} models x {len(local.releases)} columns ({', '.join(local.releases)}) = {cells} cells, "
          f"{args.jobs} at a time, {os.cpu_count()} CPUs, median of {args.rounds} rounds (order alternated)")
    print(f"local executor          {local_s:7.1f} s   {cells / local_s * 60:6.1f} cells/min   "
          f"(rounds: {', '.join(f'{t:.1f}' for t in times['local'])} s)")
    print(f"ray, local instance     {ray_s:7.1f} s   {cells / ray_s * 60:6.1f} cells/min   "
          f"(rounds: {', '.join(f'{t:.1f}' for t in times['ray'])} s): {local_s / ray_s:.2f}x the local rate")
    print(f"ray start-up (ray.init, once) {up_s:.1f} s: with it, one Ray round {cells / (ray_s + up_s) * 60:.1f} "
          f"cells/min, {local_s / (ray_s + up_s):.2f}x the local rate")
    print(f"same cells on both executors: {'yes' if _same(local, remote) else 'NO'}")


if __name__ == "__main__":
    main()
