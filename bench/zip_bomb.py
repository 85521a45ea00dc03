"""Peak memory of ``stcompat compare`` on fingerprint zip bombs (goal: < 200 MB each).

Builds, in a temporary folder, a valid fingerprint (tools/make_hostile_fingerprints.py) and:

- ``lying-array``: arrays/main.bin declares the 192 bytes its shape needs (CRC forged for that
  prefix) but inflates to 1 GiB;
- ``honest-array``: arrays/main.bin holds 1 GiB of float32 and says so: its header shape
  [6, 44739243] asks for exactly that (compared with the valid file, and with itself);
- ``declared-array``: arrays/main.bin declares and holds 1 GiB, while the shape needs 192 bytes;
- ``lying-header``: header.json declares its real size but inflates to 1 GiB.

Each ``compare`` runs in a fresh measuring process that starts it and prints
``resource.getrusage(RUSAGE_CHILDREN).ru_maxrss``, so each figure is that one compare's peak RSS.
The baseline is a compare of the valid file with itself, in the same run.

Run: ``.venv/bin/python bench/zip_bomb.py [--src PATH]``; ``--src`` runs the compares against
another source tree (e.g. an older checkout's ``src``) to measure a reader before a change.
Exit status 1 when a hostile file's compare peaks at or above the goal.
"""

from __future__ import annotations

import argparse
import copy
import importlib.util
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GIB = 1 << 30
GOAL_MB = 200.0
# Runs in the measuring process: start the compare, wait, report the child's peak RSS (kB on Linux).
_MEASURE = ("import resource, subprocess, sys, json\n"
            "done = subprocess.run(sys.argv[1:], capture_output=True, text=True, errors='replace')\n"
            "print(json.dumps({'rc': done.returncode, 'stderr': done.stderr[-400:], 'stdout': done.stdout[:200],\n"
            "                  'maxrss_kb': resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))\n")


def _tool():
    spec = importlib.util.spec_from_file_location("make_hostile_fingerprints",
                                                  ROOT / "tools" / "make_hostile_fingerprints.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def build(folder: Path) -> dict[str, Path]:
    """The valid file and the three bombs, written into ``folder``."""
    tool = _tool()
    good = tool.write_fingerprint(tool.good_fingerprint(), folder / "good.fp")
    base = tool.read_base(good)
    files = {"good": good}
    files["lying-array"] = folder / "lying-array.fp"
    files["lying-array"].write_bytes(tool.bomb_member(base, "arrays/main.bin", GIB))
    # Honest: the header's shape asks for >= 1 GiB, and the member declares and holds exactly that.
    columns = -(-GIB // (4 * 6))
    header = copy.deepcopy(base.header)
    header["arrays"]["main"]["shape"] = [6, columns]
    raw = json.dumps(header).encode()
    honest = tool.Base(base.with_header(raw), {**base.members, "header.json": raw}, header)
    files["honest-array"] = folder / "honest-array.fp"
    files["honest-array"].write_bytes(tool.bomb_member(honest, "arrays/main.bin", 6 * columns * 4,
                                                       declared=6 * columns * 4))
    # Declares 1 GiB (and holds it) while the header's shape needs 192 bytes.
    files["declared-array"] = folder / "declared-array.fp"
    files["declared-array"].write_bytes(tool.bomb_member(base, "arrays/main.bin", GIB, declared=GIB))
    files["lying-header"] = folder / "lying-header.fp"
    files["lying-header"].write_bytes(tool.bomb_member(base, "header.json", GIB))
    return files


def measure(a: Path, b: Path, src: str | None, timeout: float) -> dict:
    """One ``compare A B`` in a fresh measuring process: exit status, stderr tail, peak RSS, seconds."""
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    if src:
        env["PYTHONPATH"] = src
    command = [sys.executable, "-c", _MEASURE, sys.executable, "-m", "stcompat.cli", "compare", str(a), str(b)]
    start = time.perf_counter()
    try:
        done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=timeout)
        result = json.loads(done.stdout)
    except subprocess.TimeoutExpired:
        result = {"rc": None, "stderr": f"timed out after {timeout:.0f} s", "stdout": "", "maxrss_kb": 0}
    result["seconds"] = time.perf_counter() - start
    result["peak_mb"] = result["maxrss_kb"] / 1024
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", help="source tree to run stcompat from (PYTHONPATH), default: the installed one")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per compare")
    args = parser.parse_args()
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        files = build(Path(tmp))
        built = time.perf_counter() - start
        sizes = {name: path.stat().st_size for name, path in files.items()}
        print(f"built in {built:.1f} s (file sizes: " + ", ".join(f"{k} {v:,} B" for k, v in sizes.items()) + ")")
        good = files["good"]
        runs = [("baseline: good vs good", good, good),
                ("lying-array (declares 192 B, inflates to 1 GiB)", good, files["lying-array"]),
                ("honest-array (declares and holds 1 GiB)", good, files["honest-array"]),
                ("honest-array vs itself", files["honest-array"], files["honest-array"]),
                ("declared-array (declares 1 GiB, shape needs 192 B)", good, files["declared-array"]),
                ("lying-header (declares 2.7 kB, inflates to 1 GiB)", good, files["lying-header"])]
        results = [(label, measure(a, b, args.src, args.timeout)) for label, a, b in runs]
    baseline = results[0][1]["peak_mb"]
    print(f"stcompat from: {args.src or 'the installed package'}; python {sys.version.split()[0]}; "
          f"bench process peak {own:.0f} MB")
    print(f"{'compare':52} {'exit':>4} {'peak RSS':>10} {'vs baseline':>12} {'time':>7}  first line of stderr")
    worst = 0.0
    for label, r in results:
        said = r["stderr"].strip() or r["stdout"].strip()
        line = said.splitlines()[0] if said else ""
        print(f"{label:52} {str(r['rc']):>4} {r['peak_mb']:8.1f} MB {r['peak_mb'] - baseline:+9.1f} MB "
              f"{r['seconds']:6.2f}s  {line[:150]}")
        if label != runs[0][0]:
            worst = max(worst, r["peak_mb"])
    met = worst < GOAL_MB
    print(f"worst hostile compare: {worst:.1f} MB; goal < {GOAL_MB:.0f} MB: {'met' if met else 'NOT met'}")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
