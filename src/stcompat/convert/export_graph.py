"""Write the exported graph of a model's Transformer module with the field's own exporters.

ONNX: ``torch.onnx.export`` of the Hugging Face model's forward (tokenizer outputs in, last_hidden_state
out, batch and sequence axes dynamic); int8 is onnxruntime's dynamic quantization, its settings chosen
for the instruction set of this CPU. OpenVINO: OpenVINO's own converter reads that ONNX graph; int8 is
NNCF's weight compression (data-free: no calibration set that could overlap the probe corpus the export
is judged on). Nothing here decides whether an export is good enough: export.py measures that.
"""

from __future__ import annotations

import contextlib
import tempfile

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConvertError
from .export_runtime import GRAPH_OUTPUT, TOKEN_INPUTS, exportable_transformer

ONNX_OPSET = 17
_EXAMPLE_TEXTS = ["an example", "a longer example text, so that the batch is padded"]


@dataclass(frozen=True)
class Graph:
    """A graph written into an export folder."""

    path: Path
    """The graph file (for OpenVINO the .xml; its .bin lies beside it)."""
    inputs: tuple[str, ...]
    """Its inputs, named as the tokenizer names them."""
    method: str
    """Exporter and quantizer, with their settings, for the manifest."""
    extra: dict[str, Any]
    """E.g. the instruction set an int8 graph was made for."""


def instruction_set() -> str:
    """The CPU's widest integer instruction set onnxruntime's int8 kernels use: avx512_vnni, avx512, avx2 or
    the machine name (arm64 and others)."""
    import platform

    machine = platform.machine().lower()
    if machine not in ("x86_64", "amd64"):
        return machine
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            flags = set(next((line.split(":", 1)[1].split() for line in fh if line.startswith("flags")), []))
    except OSError:  # not Linux: assume the common baseline
        return "avx2"
    if "avx512_vnni" in flags:
        return "avx512_vnni"
    if "avx512f" in flags:
        return "avx512"
    return "avx2"


def _features(st: Any) -> Any:
    # ST >= 5 names it preprocess (tokenize is deprecated there); older releases have tokenize only.
    return st.preprocess(_EXAMPLE_TEXTS) if hasattr(st, "preprocess") else st.tokenize(_EXAMPLE_TEXTS)


class _Forward:
    """torch.nn.Module factory kept lazy: torch is imported only when exporting."""

    @staticmethod
    def build(hf_model: Any, inputs: tuple[str, ...]) -> Any:
        import torch

        class TransformerForward(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.model = hf_model

            def forward(self, *tensors: Any) -> Any:
                out = self.model(**dict(zip(inputs, tensors)), return_dict=True)
                return out[GRAPH_OUTPUT]

        return TransformerForward().eval()


def export_onnx(st: Any, path: Path) -> Graph:
    """``torch.onnx.export`` of the Transformer module's model into ``path`` (fp32)."""
    module = exportable_transformer(st)
    features = _features(st)
    inputs = tuple(name for name in TOKEN_INPUTS if name in features)
    example = tuple(features[name] for name in inputs)
    wrapper = _Forward.build(module.model, inputs)
    axes = {name: {0: "batch", 1: "sequence"} for name in (*inputs, GRAPH_OUTPUT)}
    return Graph(path, inputs, _trace(wrapper, example, path, inputs, axes, "forward"), {})


def _trace(wrapper: Any, example: tuple[Any, ...], path: Path, inputs: tuple[str, ...],
           axes: dict[str, dict[int, str]], what: str) -> str:
    """``torch.onnx.export`` of ``wrapper`` into ``path`` (TorchScript exporter); returns the method line.
    An exporter failure is STC763, one line: this architecture does not export here."""
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with warnings.catch_warnings(), torch.inference_mode():
            # The tracer warns about Python booleans in transformers' mask code; admission measures the result.
            warnings.simplefilter("ignore")
            torch.onnx.export(wrapper, example, str(path), input_names=list(inputs), output_names=[GRAPH_OUTPUT],
                              dynamic_axes=axes, opset_version=ONNX_OPSET, dynamo=False)
    except Exception as exc:  # noqa: BLE001 - whatever the tracer raises, the user gets one line
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConvertError("STC763", f"torch.onnx.export of the {what} failed: {type(exc).__name__}: "
                                     f"{first[:300]}") from None
    return f"torch.onnx.export (torch {torch.__version__}, TorchScript exporter, opset {ONNX_OPSET})"


def export_packed_onnx(st: Any, path: Path) -> Graph | None:
    """``torch.onnx.export`` of the model's forward on packed rows (packing.py) into ``path`` (fp32): inputs ids,
    token types (where the model takes them), positions and the 4D additive mask, rows and width dynamic.
    None where the model cannot be run packed (packing.py's ``PackedTransformer.of`` declines it)."""
    from .packing import PackedTransformer

    packer = PackedTransformer.of(st)
    if packer is None:
        return None
    features = _features(st)
    kwargs, _ = packer.inputs(features, packer.rows_for(features))
    inputs = packer.input_names()
    example = tuple(kwargs[name] for name in inputs)
    wrapper = _Forward.build(packer.model, inputs)
    axes = {name: {0: "rows", 1: "width"} for name in (*inputs, GRAPH_OUTPUT) if name != "attention_mask"}
    axes["attention_mask"] = {0: "rows", 2: "width", 3: "width"}
    method = _trace(wrapper, example, path, inputs, axes, "packed forward")
    return Graph(path, inputs, f"{method}, packed rows", {})


def quantize_onnx(fp32: Graph, path: Path) -> Graph:
    """onnxruntime dynamic int8 quantization of ``fp32`` into ``path``, for this CPU's instruction set."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    isa = instruction_set()
    # Without VNNI, u8 x s8 products can saturate; onnxruntime's advice is 7-bit weights (reduce_range) there.
    reduce_range = isa != "avx512_vnni"
    path.parent.mkdir(parents=True, exist_ok=True)
    source, target = fp32.path.resolve(), path.resolve()
    # onnxruntime's quantizer writes scratch files (a shape-inference model, external tensor data of ~90 MB for
    # MiniLM) into the working directory: run it inside a scratch folder beside the output, removed after.
    with tempfile.TemporaryDirectory(prefix=".quantize-", dir=target.parent) as scratch, contextlib.chdir(scratch):
        quantize_dynamic(str(source), str(target), weight_type=QuantType.QInt8, per_channel=True,
                         reduce_range=reduce_range)
    method = (f"{fp32.method} + onnxruntime.quantization.quantize_dynamic(weight_type=QInt8, per_channel=True, "
              f"reduce_range={reduce_range})")
    return Graph(path, fp32.inputs, method, {"instruction_set": isa})


def export_openvino(onnx: Graph, path: Path, quantize: str | None) -> Graph:
    """OpenVINO's converter over the ONNX graph, saved as fp32 IR (int8: NNCF weight compression) into ``path``."""
    import openvino as ov

    model = ov.convert_model(str(onnx.path))
    method = f"{onnx.method} + openvino.convert_model (openvino {ov.__version__.split('-')[0]}, fp32 IR)"
    if quantize == "int8":
        import logging

        import nncf

        nncf.set_log_level(logging.ERROR)  # its statistics table would land in convert's stdout

        model = nncf.compress_weights(model, mode=nncf.CompressWeightsMode.INT8_ASYM)
        method += f" + nncf.compress_weights(INT8_ASYM) (nncf {nncf.__version__})"
    path.parent.mkdir(parents=True, exist_ok=True)
    ov.save_model(model, str(path), compress_to_fp16=False)
    return Graph(path, onnx.inputs, method, {})
