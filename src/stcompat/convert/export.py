"""``stcompat convert MODEL -o OUT --to onnx|openvino [--quantize int8]``: export, measure, admit, write.

source (never written to) -> load with torch, fingerprint the probe corpus in memory -> copy the folder
and write the graph into a hidden work folder beside OUT -> load that folder with the graph as the
Transformer's forward and verify it against the torch fingerprint -> refuse (STC761, nothing written)
when top-10 neighbour agreement is below the threshold, unless ``allow_loss`` (then written, and marked
not admitted in its manifest, which serve refuses) -> rename into place. The work folder goes on any
failure or interruption, the same mechanism as the backport (backport.py).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from ..errors import ConvertError, InputError
from ..vocab import ModelKind
from .backport import _claim, _copy_tree, _put_in_place, _source_and_output, _staging
from .export_admit import DEFAULT_MIN_AGREEMENT, admit, check_threshold, reference_fingerprint
from .export_runtime import (
    QUANTIZATIONS,
    RUNTIMES,
    AdmissionFigures,
    ExportManifest,
    installed_versions,
    load_exported,
    write_manifest,
)

if TYPE_CHECKING:
    from .export_graph import Graph

Log = Callable[[str], None]
# Packages the export needs, by step: the exporter, the runtime that is measured, the int8 quantizer.
_NEEDS = {("onnx", None): ("onnx", "onnxruntime"), ("onnx", "int8"): ("onnx", "onnxruntime"),
          ("openvino", None): ("onnx", "openvino"), ("openvino", "int8"): ("onnx", "openvino", "nncf")}
_VERSIONS = ("torch", "transformers", "sentence-transformers", "onnx", "onnxruntime", "openvino", "nncf")


@dataclass(frozen=True)
class ExportResult:
    """What an export did."""

    source: str
    """The model exported (unchanged), as given."""
    output: str
    """The folder written, as given."""
    manifest: ExportManifest
    """What was written into OUT/stcompat-export.json, admission figures included."""

    @property
    def admission(self) -> AdmissionFigures:
        """The figures against the torch model."""
        return self.manifest.admission


def _need(runtime: str, quantize: str | None) -> None:
    import importlib.util

    missing = [m for m in _NEEDS[(runtime, quantize)] if importlib.util.find_spec(m) is None]
    if missing:
        raise ConvertError("STC760", f"--to {runtime}{' --quantize ' + quantize if quantize else ''} needs "
                                     f"{', '.join(missing)}: pip install 'stcompat[export]'")


def graph_name(runtime: str, quantize: str | None, packed: bool = False) -> str:
    """Where the graph lies in the folder: sentence-transformers' own backend layout and file names (the packed
    graph beside it, ``_packed`` after the model's name)."""
    from .export_graph import instruction_set

    stem = "model" if runtime == "onnx" else "openvino_model"
    stem += "_packed" if packed else ""
    if runtime == "onnx":
        return f"onnx/{stem}.onnx" if quantize is None else f"onnx/{stem}_qint8_{instruction_set()}.onnx"
    return f"openvino/{stem}.xml" if quantize is None else f"openvino/{stem}_int8.xml"


def _write_graph(st: object, built: Path, scratch: Path, runtime: str, quantize: str | None, say: Log,
                 packed: bool = False) -> "Graph | None":
    """Export, quantize and convert one graph (the padded one, or with ``packed`` the packed one: None where the
    model cannot be run packed)."""
    from .export_graph import export_onnx, export_openvino, export_packed_onnx, quantize_onnx
    from .packing import PackedTransformer

    if packed and PackedTransformer.of(st) is None:
        return None
    target = built / graph_name(runtime, quantize, packed)
    direct = runtime == "onnx" and quantize is None
    kind = "packed rows" if packed else "padded batches"
    say(f"exporting the Transformer's forward pass on {kind} to ONNX{'' if direct else ' (intermediate)'}")
    intermediate = scratch / ("model_packed.onnx" if packed else "model.onnx")
    onnx = (export_packed_onnx if packed else export_onnx)(st, target if direct else intermediate)
    if onnx is None:
        return None
    if runtime == "onnx" and quantize == "int8":
        say(f"quantizing the {kind} graph to int8 (onnxruntime dynamic quantization)")
        return quantize_onnx(onnx, target)
    if runtime == "openvino":
        say(f"converting the {kind} graph to OpenVINO IR" + (" with int8 weight compression (NNCF)" if quantize else ""))
        return export_openvino(onnx, target, quantize)
    return onnx


PACKED_TOLERANCE = 1e-5
"""Largest |diff| an fp32 packed graph may show against the padded graph of the same export (same weights, same
runtime: what remains is summation order). int8 graphs quantize their activations per batch, so theirs must
keep the padded graph's neighbours instead (top-10 agreement >= the admission threshold)."""


def _run_or_stc763(step: Callable[[], Any], graph: str) -> Any:
    """``step()``, with any failure of the runtime on the written graph as STC763 in one line."""
    try:
        return step()
    except (ConvertError, InputError):
        raise
    except Exception as exc:  # noqa: BLE001 - the runtime's own errors (onnxruntime, OpenVINO) are many and long
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConvertError("STC763", f"the exported graph {graph} does not run: {type(exc).__name__}: "
                                     f"{first[:300]}") from None


def _judge_packed(padded_model: Any, built: Path, rel: str, packed_rel: str, runtime: str, quantize: str | None,
                  reference: Any, min_agreement: float) -> tuple[AdmissionFigures | None, str | None]:
    """The packed graph's admission figures against torch, and None; or None and why it is not kept: it did not
    run, or it did not give what the padded graph gives (max |diff| <= PACKED_TOLERANCE in fp32, the same top-10
    neighbours in int8)."""
    try:
        padded_fingerprint = reference_fingerprint(padded_model)
        packed_model, _ = load_exported(built, rel, runtime, packed=packed_rel)
        same, _ = admit(padded_fingerprint, packed_model, min_agreement)
        if quantize is None and (same.max_abs_diff is None or same.max_abs_diff > PACKED_TOLERANCE):
            return None, (f"packed rows gave max |diff| {same.max_abs_diff:.2g} against the padded graph "
                          f"(tolerance {PACKED_TOLERANCE:g})")
        if not same.admitted:
            return None, (f"packed rows kept top-10 agreement {same.topk_agreement:.3f} with the padded graph "
                          f"(threshold {min_agreement})")
        return admit(reference, packed_model, min_agreement)[0], None
    except Exception as exc:  # noqa: BLE001 - an optimisation that fails is dropped, whatever the runtime raised
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return None, f"it did not run: {type(exc).__name__}: {first[:200]}"


def _remove_graph(path: Path) -> None:
    """Delete a written graph (an OpenVINO .xml has its weights in the .bin beside it)."""
    path.unlink(missing_ok=True)
    if path.suffix == ".xml":
        path.with_suffix(".bin").unlink(missing_ok=True)


def export(model: str | Path, output: str | Path, runtime: str, *, quantize: str | None = None,
           min_agreement: float = DEFAULT_MIN_AGREEMENT, allow_loss: bool = False, force: bool = False,
           log: Log | None = None) -> ExportResult:
    """Export ``model``'s Transformer to ``runtime`` into ``output`` and admit it against the torch model.

    Raises ConvertError: STC760 (a package is missing), STC761 (top-10 agreement below ``min_agreement``,
    unless ``allow_loss``), STC762 (nothing exportable), STC763 (the exporter failed), STC755 (OUT exists);
    ``output`` is never left behind half-written.
    """
    say = log or (lambda _: None)
    if runtime not in RUNTIMES:
        raise InputError("STC004", f"--to {runtime}: use one of {', '.join(RUNTIMES)}", runtime)
    if quantize not in QUANTIZATIONS:
        raise InputError("STC004", f"--quantize {quantize}: use int8 (or leave it out for fp32)", str(quantize))
    check_threshold(min_agreement)
    _need(runtime, quantize)
    asked = str(output)
    folder, manifest, output = _source_and_output(model, output)
    source = Path(manifest.path)
    if manifest.model_kind is not ModelKind.SENTENCE_TRANSFORMER:
        raise ConvertError("STC762", f"{source} is a {manifest.model_kind}: --to exports SentenceTransformer "
                                     "models", model=str(source))
    _claim(output, force)
    from ..fingerprint.embed import load_model
    from .export_runtime import exportable_transformer

    say(f"loading {source} with torch and embedding the probe corpus (the reference)")
    torch_model = load_model(source)
    exportable_transformer(torch_model.st)  # STC762 before any file is written
    reference = reference_fingerprint(torch_model)
    work, built = _staging(output)
    try:
        say(f"copying {source}")
        _copy_tree(folder, manifest, built)
        graph = _write_graph(torch_model.st, built, work / "scratch", runtime, quantize, say)
        assert graph is not None
        extra = dict(graph.extra)
        try:
            packed = _write_graph(torch_model.st, built, work / "scratch", runtime, quantize, say, packed=True)
            if packed is None:
                extra["packed"] = "not exported: the model cannot run on packed rows (packing.py declines it)"
        except Exception as exc:  # noqa: BLE001 - tracing, quantizing or converting: the padded graph serves alone
            packed = None
            message = exc.message if isinstance(exc, ConvertError) else f"{type(exc).__name__}: {str(exc)[:200]}"
            _remove_graph(built / graph_name(runtime, quantize, packed=True))  # whatever was half written
            extra["packed"] = f"not exported: {message}"
            say(f"no packed graph: {message}")
        del torch_model
        rel = graph.path.relative_to(built).as_posix()
        packed_rel = None if packed is None else packed.path.relative_to(built).as_posix()
        say(f"loading the padded graph with {runtime} and verifying it against torch")
        padded_model = _run_or_stc763(lambda: load_exported(built, rel, runtime)[0], rel)
        figures, _report = _run_or_stc763(lambda: admit(reference, padded_model, min_agreement), rel)
        if packed is not None:
            say(f"loading the packed graph with {runtime} and verifying it against the padded one and torch")
            packed_figures, why = _judge_packed(padded_model, built, rel, packed_rel, runtime, quantize, reference,
                                                min_agreement)
            if why is None:
                extra["packed_method"] = packed.method
                extra["padded_admission"] = figures.as_dict()
                figures = packed_figures
            else:  # the padded graph serves alone: the packed one goes, and the manifest says why
                _remove_graph(packed.path)
                packed, packed_rel = None, None
                extra["packed"] = f"not kept: {why}"
                say(f"packed graph not kept: {why}")
        del padded_model
        say(f"admission: {figures.line()}")
        result = ExportManifest(
            runtime=runtime, quantize=quantize, graph=rel, inputs=graph.inputs, method=graph.method,
            source={"path": str(source), "sha256": reference.model.get("sha256")},
            exported_with=installed_versions(_VERSIONS), admission=figures,
            created=datetime.now(timezone.utc).isoformat(timespec="seconds"), extra=extra, packed_graph=packed_rel,
            packed_inputs=() if packed is None else packed.inputs)
        if not figures.admitted and not allow_loss:
            raise ConvertError("STC761", f"the {runtime}{' int8' if quantize else ''} export is not admitted: "
                                         f"{figures.line()}; nothing written (--allow-loss writes it, marked not "
                                         "admitted, and serve still refuses it)",
                               model=str(source), output=str(output), figures=figures.as_dict())
        write_manifest(built, result)
        shutil.rmtree(work / "scratch", ignore_errors=True)
        _put_in_place(built, output)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return ExportResult(str(model), asked, result)


def render(result: ExportResult, fmt: str) -> str:
    """The summary convert prints (text or json)."""
    import json

    m = result.manifest
    if fmt == "json":
        return json.dumps({"source": result.source, "output": result.output, **m.as_dict()}, indent=2) + "\n"
    verdict = "admitted" if m.admission.admitted else "NOT admitted (written because of --allow-loss)"
    kind = f"{m.runtime}{' ' + m.quantize if m.quantize else ' fp32'}"
    graphs = m.graph if m.packed_graph is None else f"{m.graph}, packed rows: {m.packed_graph}"
    return (f"exported {result.source} -> {result.output} ({kind}, {graphs})\n"
            f"  {m.method}\n"
            f"  vs torch: {m.admission.line()}\n"
            f"  {verdict}\n")
