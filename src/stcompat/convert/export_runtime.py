"""Run an exported transformer graph inside the model's own sentence-transformers pipeline.

Only the Transformer module's forward pass is exported (``convert --to onnx|openvino``). Everything
around it, the tokenizer, prompts, Pooling, Dense, Normalize and truncate_dim, stays the code of the
installed sentence-transformers reading the saved folder: the exported model is the folder loaded by
``SentenceTransformer`` with its first module's forward answered by onnxruntime or OpenVINO. So every
saved setting is applied exactly as ``encode`` applies it, and the fingerprint machinery (which calls
``encode``) measures the exported model with no special case.

An export folder is a full sentence-transformers folder plus the graph (ST's own layout: ``onnx/``,
``openvino/``), the same forward on packed rows beside it (``*_packed``: packing.py's layout, which the
runtime runs its forward batches through where the export has it), and ``stcompat-export.json``: what was
exported, from what, how, and the admission figures.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping

from ..errors import InputError

if TYPE_CHECKING:
    from ..fingerprint.embed import LoadedModel
    from .packing import PackedTransformer

MANIFEST_NAME = "stcompat-export.json"
MANIFEST_FORMAT = "stcompat.export/1"
RUNTIMES = ("onnx", "openvino")
QUANTIZATIONS = (None, "int8")
TOKEN_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
"""Tokenizer outputs a text Transformer graph may take, in this order."""
GRAPH_OUTPUT = "last_hidden_state"
# What each runtime needs installed, for the one-line error that names the extra.
_RUNTIME_MODULES = {"onnx": ("onnxruntime",), "openvino": ("openvino",)}


@dataclass(frozen=True)
class AdmissionFigures:
    """The exported model's embeddings of the probe corpus against the torch model's, and the decision."""

    threshold: float
    """Least top-k neighbour agreement admitted (default 0.99)."""
    admitted: bool
    """topk_agreement >= threshold."""
    top_k: int
    """k of the neighbour test (10)."""
    topk_agreement: float
    """Mean share of each probe text's k nearest neighbours kept (1.0: the same neighbours)."""
    max_abs_diff: float | None
    """Largest absolute difference of any embedding value."""
    min_cosine: float | None
    """Smallest cosine between a text's torch and exported embedding."""
    mean_cosine: float | None
    """Mean of those cosines."""
    band: str
    """verify's band for the same comparison (identical, noise, drift, broken)."""
    rows: int
    """Probe texts compared."""

    def as_dict(self) -> dict[str, Any]:
        """JSON form (manifest, /info, --format json)."""
        return asdict(self)

    def line(self) -> str:
        """One line for people: the figures a refusal prints."""
        cos = "n/a" if self.min_cosine is None else (
            f"1-{1 - self.min_cosine:.2g}" if self.min_cosine > 0.9999 else f"{self.min_cosine:.6f}")
        diff = "n/a" if self.max_abs_diff is None else f"{self.max_abs_diff:.2g}"
        return (f"top-{self.top_k} agreement {self.topk_agreement:.3f} (threshold {self.threshold}), "
                f"min cosine {cos}, max |diff| {diff}, band {self.band}, {self.rows} probe texts")

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> "AdmissionFigures":
        """Inverse of as_dict."""
        return cls(**{k: raw[k] for k in cls.__dataclass_fields__})


@dataclass(frozen=True)
class ExportManifest:
    """``stcompat-export.json``: what an export folder holds."""

    runtime: str
    """``onnx`` or ``openvino``."""
    quantize: str | None
    """None (fp32) or ``int8``."""
    graph: str
    """The graph file, relative to the folder (``onnx/model.onnx``, ``openvino/openvino_model.xml``)."""
    inputs: tuple[str, ...]
    """Graph inputs, named as the tokenizer names its outputs."""
    method: str
    """Which exporter and quantizer made the graph, with their settings."""
    source: Mapping[str, Any]
    """The model exported: path and the sha256 of the files its torch pipeline reads."""
    exported_with: Mapping[str, str]
    """Package versions that exported it."""
    admission: AdmissionFigures
    """The figures against the torch model at export time."""
    created: str = ""
    """UTC time of the export."""
    extra: Mapping[str, Any] = field(default_factory=dict)
    """Anything else the exporter recorded (the instruction set an int8 graph was made for)."""
    packed_graph: str | None = None
    """The graph of the same forward on packed rows (packing.py), relative to the folder; the runtime runs its
    forward batches through it. None: the model could not be exported packed (or an older export)."""
    packed_inputs: tuple[str, ...] = ()
    """That graph's inputs (ids, token types, positions, the 4D mask)."""

    def as_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"format": MANIFEST_FORMAT, "runtime": self.runtime, "quantize": self.quantize, "graph": self.graph,
                "inputs": list(self.inputs), "output": GRAPH_OUTPUT, "packed_graph": self.packed_graph,
                "packed_inputs": list(self.packed_inputs), "method": self.method, "source": dict(self.source),
                "exported_with": dict(self.exported_with), "admission": self.admission.as_dict(),
                "created": self.created, "extra": dict(self.extra)}


def write_manifest(folder: Path, manifest: ExportManifest) -> None:
    """Write ``stcompat-export.json`` into ``folder``."""
    (folder / MANIFEST_NAME).write_text(json.dumps(manifest.as_dict(), indent=2) + "\n", encoding="utf-8")


def read_manifest(folder: str | Path) -> ExportManifest | None:
    """The export manifest of ``folder``, None when it is not an export; STC004 when it is unreadable."""
    path = Path(folder) / MANIFEST_NAME
    if not path.is_file():
        return None
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        if raw.get("format") != MANIFEST_FORMAT or raw.get("runtime") not in RUNTIMES:
            raise ValueError(f"format {raw.get('format')!r}, runtime {raw.get('runtime')!r}")
        graph = _inside(str(raw["graph"]))
        packed = raw.get("packed_graph")
        return ExportManifest(runtime=raw["runtime"], quantize=raw.get("quantize"), graph=graph,
                              inputs=tuple(raw["inputs"]), method=str(raw.get("method", "")),
                              source=dict(raw.get("source") or {}), exported_with=dict(raw.get("exported_with") or {}),
                              admission=AdmissionFigures.from_dict(raw["admission"]),
                              created=str(raw.get("created", "")), extra=dict(raw.get("extra") or {}),
                              packed_graph=None if packed is None else _inside(str(packed)),
                              packed_inputs=tuple(raw.get("packed_inputs") or ()))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError("STC004", f"{path}: not a usable export manifest ({exc})", str(path)) from None


def _inside(graph: str) -> str:
    """``graph`` when it names a path inside the export folder (ValueError otherwise: a manifest is input)."""
    if Path(graph).is_absolute() or ".." in Path(graph).parts:
        raise ValueError(f"graph {graph!r} is outside the folder")
    return graph


def need_runtime(runtime: str) -> None:
    """STC760 when the runtime's package is not installed."""
    import importlib.util

    for module in _RUNTIME_MODULES[runtime]:
        if importlib.util.find_spec(module) is None:
            from ..errors import ConvertError

            raise ConvertError("STC760", f"the {runtime} backend needs {module}: pip install 'stcompat[export]'")


class _OnnxSession:
    """One onnxruntime session (one per model instance: a serve worker thread owns it)."""

    def __init__(self, graph: Path, threads: int | None) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        self._session = ort.InferenceSession(str(graph), options, providers=["CPUExecutionProvider"])
        self.inputs = tuple(i.name for i in self._session.get_inputs())
        self.describe = {"runtime": "onnxruntime", "onnxruntime": ort.__version__, "threads": threads,
                         "providers": self._session.get_providers()}

    def __call__(self, feeds: dict[str, Any]) -> Any:
        return self._session.run([GRAPH_OUTPUT], feeds)[0]


PRECISIONS = ("fp32", "bf16")
"""Compute precisions an fp32 graph can be run in: fp32, or bf16 (OpenVINO only, on a CPU with native bf16)."""


def bf16_unsupported() -> str | None:
    """Why this machine cannot run OpenVINO in bf16 (None: it can: the CPU plugin lists native BF16)."""
    import openvino as ov

    capabilities = ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    if "BF16" in capabilities:
        return None
    return (f"this CPU has no native bf16 (OpenVINO's CPU capabilities: {', '.join(capabilities)}); bf16 needs "
            "AMX or AVX512-BF16")


def _type_name(value: Any) -> str:
    """OpenVINO's element type as its short name (``bf16``, ``f32``)."""
    to_string = getattr(value, "to_string", None)
    return to_string() if callable(to_string) else str(value)


class _OpenVinoRequest:
    """One compiled OpenVINO model and its infer request."""

    def __init__(self, graph: Path, threads: int | None, precision: str = "fp32") -> None:
        import openvino as ov

        # The precision is always set: on CPUs with bf16 support OpenVINO otherwise runs fp32 IR in bf16 (max
        # |diff| ~2e-3 on all-MiniLM-L6-v2, measured here), which an fp32 export must not silently do. bf16 is
        # only ever asked for (--precision bf16), and then admitted by measure like any export.
        config: dict[str, Any] = {"PERFORMANCE_HINT": "LATENCY",
                                  "INFERENCE_PRECISION_HINT": "bf16" if precision == "bf16" else "f32"}
        if threads:
            config["INFERENCE_NUM_THREADS"] = threads
        compiled = ov.Core().compile_model(str(graph), "CPU", config)
        self._request = compiled.create_infer_request()
        self._output = compiled.output(GRAPH_OUTPUT)
        self.inputs = tuple(i.get_any_name() for i in compiled.inputs)
        self.describe = {"runtime": "openvino", "openvino": ov.__version__.split("-")[0], "threads": threads,
                         "device": "CPU", "inference_precision": _type_name(compiled.get_property("INFERENCE_PRECISION_HINT"))}

    def __call__(self, feeds: dict[str, Any]) -> Any:
        result = self._request.infer(feeds)
        return result[self._output].copy()  # the request reuses its output buffer on the next call


@dataclass(frozen=True)
class ShapeBuckets:
    """Input shapes rounded up before the runtime sees them, so that a server meets a bounded set of shapes.

    OpenVINO's CPU plugin keeps what it prepared for every input shape it has run (bench/openvino_shapes.py,
    all-MiniLM-L6-v2, 4,000 requests in server-like batches after a full-size warm-up: +14% resident memory in
    fp32, +27% in bf16, not given back by a heap trim). Rounding the rows from 8 up to multiples of 8 (extra
    rows copy the first, a real input; fewer rows, a lone request's, run as they come) and, in bf16, the
    sequence up to a multiple of 8 (extra columns are masked padding) bounds that: +6.0% in fp32, +4.1% in bf16,
    in the same run (2026-12-07). Masked columns and extra rows leave the real rows' vectors as they were (the
    runtime's output is cut back); what they cost is compute: 1.04-1.05x the throughput without them (fewer
    shapes to prepare), but 0.93x for fp32 with the columns rounded too, which is why fp32 leaves them as they
    come. The admission measures the export through these same shapes.

    Packed rows (packing.py) are 32 tokens wide for short texts, so their shapes differ mostly in the number of
    rows; from ``batch`` rows on, those are rounded up to a multiple of 4 (``packed_rows``), fewer run as they
    come (a lone request's): a forward of 32 short texts fills ~12 rows, and rounding that to 16 cost 0.90x the
    throughput in fp32, 0.94x in bf16, against 4 (in-process, all-MiniLM-L6-v2, 2026-12-07)."""

    batch: int = 1
    """Rows from this many on are rounded up to a multiple of it; fewer run as they come (1: all as they come)."""
    packed_rows: int = 1
    """The same for packed rows."""
    sequence: int = 1
    """Columns are rounded up to a multiple of this, never past ``max_length`` (1: as they come)."""
    max_length: int | None = None
    """Longest sequence the model reads (positions past it may not exist)."""
    pad_id: int = 0
    """The tokenizer's padding token: what a padding column holds in input_ids."""

    @classmethod
    def for_runtime(cls, runtime: str, precision: str, st: Any) -> "ShapeBuckets":
        """The buckets a runtime runs with: none for onnxruntime (its memory stays flat), OpenVINO's above."""
        if runtime != "openvino":
            return cls()
        tokenizer = getattr(st, "tokenizer", None)
        pad_id = getattr(tokenizer, "pad_token_id", None)
        return cls(batch=8, sequence=8 if precision == "bf16" else 1, packed_rows=4,
                   max_length=getattr(st, "max_seq_length", None), pad_id=int(pad_id or 0))

    def as_dict(self) -> dict[str, int]:
        """For /info."""
        return {"batch": self.batch, "sequence": self.sequence, "packed_rows": self.packed_rows}

    def rows_for(self, rows: int, step: int | None = None) -> int:
        """The bucket of a batch of ``rows``: as it comes below ``batch`` (a lone request is a batch of its own: at
        concurrency 1 every padded row is latency; 5 rows of 16 tokens took 4.4 ms in bf16 here, 8 rows 5.6 ms),
        a multiple of ``step`` (default ``batch``) from there."""
        step = self.batch if step is None else step
        if rows >= self.batch:
            return -(-rows // step) * step
        return rows

    def pad(self, feeds: dict[str, Any]) -> tuple[dict[str, Any], int, int]:
        """Feeds rounded up to the buckets, and the real (rows, columns) to cut the output back to."""
        import numpy as np

        rows, columns = next(iter(feeds.values())).shape
        to_rows = self.rows_for(rows)
        to_columns = -(-columns // self.sequence) * self.sequence
        if self.max_length is not None and to_columns > max(self.max_length, columns):
            to_columns = columns
        if (to_rows, to_columns) == (rows, columns):
            return feeds, rows, columns
        out = {}
        for name, value in feeds.items():
            fill = self.pad_id if name == "input_ids" else 0
            grown = np.full((to_rows, to_columns), fill, dtype=value.dtype)
            grown[:rows, :columns] = value
            grown[rows:, :columns] = value[0]  # extra rows: a real input, so no row is all padding
            out[name] = grown
        return out, rows, columns


class _Deferred:
    """A runner made on first use: an export's padded graph, which only features packing cannot lay out need
    (its compiled weights would otherwise double an instance's memory for nothing)."""

    def __init__(self, make: Callable[[], Any]) -> None:
        import threading

        self._make = make
        self._runner: Any = None
        self._failed: BaseException | None = None
        self._lock = threading.Lock()

    def _made(self) -> Any:
        with self._lock:  # one compile, whichever thread asks first
            if self._failed is not None:  # a graph that did not compile is not compiled again on every batch
                raise self._failed
            if self._runner is None:
                try:
                    self._runner = self._make()
                except Exception as exc:
                    self._failed = exc
                    raise
            return self._runner

    @property
    def inputs(self) -> tuple[str, ...]:
        return self._made().inputs

    def __call__(self, feeds: dict[str, Any]) -> Any:
        return self._made()(feeds)


class RuntimeForward:
    """Replaces the Transformer module's forward: tokenizer features in, token embeddings out.

    With a packed graph (``packed``), a forward batch's texts are laid end to end in rows (packing.py) and run
    through it, the rows rounded up by the same buckets; otherwise the padded graph runs the padded batch."""

    def __init__(self, runner: Any, output_key: str, buckets: ShapeBuckets = ShapeBuckets(),
                 packed: "tuple[Any, PackedTransformer] | None" = None) -> None:
        self._runner = runner
        self._output_key = output_key
        self.buckets = buckets
        """The shapes the runtime is given (bench/openvino_shapes.py turns them off to measure what they save)."""
        self._packed = packed

    def __call__(self, features: dict[str, Any], **_: Any) -> dict[str, Any]:
        import numpy as np
        import torch

        if self._packed is not None and self._packed[1].packable(features):
            features[self._output_key] = self._run_packed(features, *self._packed)
            return features
        feeds = {name: np.ascontiguousarray(features[name].cpu().numpy(), dtype=np.int64)
                 for name in self._runner.inputs}
        feeds, rows, columns = self.buckets.pad(feeds)
        out = np.asarray(self._runner(feeds), dtype=np.float32)[:rows, :columns]
        features[self._output_key] = torch.from_numpy(np.ascontiguousarray(out))
        return features

    def _run_packed(self, features: dict[str, Any], runner: Any, packer: "PackedTransformer") -> Any:
        """The batch's token embeddings, computed by the packed graph."""
        import numpy as np
        import torch

        feeds, destination = packed_feeds(features, packer, self.buckets, runner.inputs)
        hidden = torch.from_numpy(np.asarray(runner(feeds), dtype=np.float32))
        return packer.unpack(features, hidden, destination)


def packed_feeds(features: Mapping[str, Any], packer: "PackedTransformer", buckets: ShapeBuckets,
                 names: tuple[str, ...]) -> tuple[dict[str, Any], Any]:
    """A packed graph's inputs ``names`` for a batch's ``features``, and where each real token went: rows of
    MIN_WIDTH tokens (or the longest text, rounded up to the sequence bucket), their number rounded up to the
    packed row bucket (extra rows are unused slots, each attending to itself only)."""
    placed = packer.rows_for(features, buckets.sequence)
    placed = replace(placed, rows=buckets.rows_for(placed.rows, buckets.packed_rows))
    arrays, destination = packer.feeds(features, placed)
    return {name: arrays[name] for name in names}, destination


def exportable_transformer(st: Any) -> Any:
    """The model's first module when it is a text Transformer whose forward the exporter can take, else STC762."""
    from ..errors import ConvertError

    first = st[0] if len(st) else None
    if type(first).__name__ != "Transformer" or not hasattr(first, "model"):
        name = type(first).__name__ if first is not None else "nothing"
        raise ConvertError("STC762", f"the model's first module is {name}: only a Transformer module's forward "
                                     "pass can be exported")
    config = getattr(first, "modality_config", None) or {"text": {"method": "forward",
                                                                 "method_output_name": GRAPH_OUTPUT}}
    text = config.get("text") or {}
    if set(config) != {"text"} or text.get("method") != "forward" or text.get("method_output_name") != GRAPH_OUTPUT:
        raise ConvertError("STC762", f"the Transformer module reads {sorted(config)} through "
                                     f"{text.get('method')!r} -> {text.get('method_output_name')!r}: only a text "
                                     f"model's forward -> {GRAPH_OUTPUT} is exported")
    return first


def attach(st: Any, graph: Path, runtime: str, threads: int | None = None, precision: str = "fp32",
           packed: Path | None = None) -> dict[str, Any]:
    """Make ``st``'s Transformer run ``graph`` with ``runtime`` (in ``precision``: fp32, or bf16 with OpenVINO),
    its forward batches through the ``packed`` graph where there is one; returns what /info shows of the
    runtime."""
    from .packing import PackedTransformer

    need_runtime(runtime)
    if precision not in PRECISIONS or (precision == "bf16" and runtime != "openvino"):
        raise InputError("STC004", f"precision {precision!r} with {runtime}: {runtime} runs fp32"
                         + (" (bf16 is an OpenVINO precision: --backend openvino)" if precision == "bf16" else ""),
                         precision)
    module = exportable_transformer(st)

    def runner_of(path: Path, allowed: tuple[str, ...]) -> Any:
        made = _OnnxSession(path, threads) if runtime == "onnx" else _OpenVinoRequest(path, threads, precision)
        missing = [name for name in made.inputs if name not in allowed]
        if missing:
            raise InputError("STC004", f"{path}: graph input {missing[0]!r} is not one this runtime feeds", str(path))
        return made

    # Read before the forward is replaced: packing declines a module whose forward is not its own.
    packer = PackedTransformer.of(st) if packed is not None else None
    buckets = ShapeBuckets.for_runtime(runtime, precision, st)
    if packer is not None:
        packed_runner = runner_of(packed, packer.input_names())
        runner: Any = _Deferred(lambda: runner_of(graph, TOKEN_INPUTS))
        describe = {**packed_runner.describe, "rows": "packed"}
    else:
        runner = runner_of(graph, TOKEN_INPUTS)
        describe = {**runner.describe, "rows": "padded"}
    output_key = getattr(module, "module_output_name", None) or "token_embeddings"
    # An instance attribute wins over the class's forward: nn.Module.__call__ looks up self.forward.
    module.forward = RuntimeForward(runner, output_key, buckets,
                                    None if packer is None else (packed_runner, packer))
    return {**describe, "shape_buckets": buckets.as_dict()}


def load_exported(folder: str | Path, graph: str, runtime: str, *, device: str = "cpu",
                  threads: int | None = None, packed: str | None = None) -> tuple["LoadedModel", dict[str, Any]]:
    """Load an export folder: its sentence-transformers pipeline with ``graph`` (and ``packed``, the packed
    graph, where the export has one) as the Transformer's forward.

    Returns the LoadedModel (what fingerprint/verify and serve's embedder take; its ``st`` runs the graph)
    and the runtime's description.
    """
    from ..fingerprint.embed import load_model

    if device != "cpu":
        raise InputError("STC004", f"exported backends run on the CPU here, not {device!r}", device)
    path = Path(folder) / graph
    if not path.is_file():
        raise InputError("STC004", f"{path}: the export manifest names a graph that is not there", str(path))
    packed_path = None if packed is None else Path(folder) / packed
    if packed_path is not None and not packed_path.is_file():
        raise InputError("STC004", f"{packed_path}: the export manifest names a graph that is not there",
                         str(packed_path))
    loaded = load_model(folder, device=device)
    return loaded, attach(loaded.st, path, runtime, threads, packed=packed_path)


def installed_versions(names: tuple[str, ...]) -> dict[str, str]:
    """Versions of the named distributions that are installed (metadata only)."""
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in names:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            continue
    return out

