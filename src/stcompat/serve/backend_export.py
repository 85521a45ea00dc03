"""``serve --backend onnx|openvino``: an exported Transformer inside the model's own pipeline, admitted by measure.

The model is either an export folder written by ``stcompat convert --to onnx|openvino`` (its
``stcompat-export.json`` names the graph) or any SentenceTransformer folder, exported on the fly into a
cache folder keyed by the model's files, the runtime and the exporting packages' versions. Either way
the first instance is admitted only after its embeddings of the probe corpus kept top-10 neighbour
agreement >= the threshold against the same folder loaded with torch (convert's admission code, here,
now: the figures written at export time are not trusted); /info shows the figures.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..convert.export_admit import DEFAULT_MIN_AGREEMENT
from ..convert.export_runtime import AdmissionFigures, ExportManifest
from ..errors import ConvertError, InputError, ServeRefused
from ..vocab import ModelKind
from .backends import Backend, Loader, TorchEmbedder

if TYPE_CHECKING:
    from ..fingerprint.embed import LoadedModel

BACKEND_REFUSED = "STC854"
CACHE_ENV = "STCOMPAT_EXPORT_CACHE"
"""Environment variable naming the on-the-fly export cache (default ~/.cache/stcompat/exports)."""
_KEY_PACKAGES = ("torch", "transformers", "sentence-transformers", "onnx", "onnxruntime", "openvino")


@dataclass(frozen=True)
class ExportOptions:
    """How exported backends are found, made and admitted."""

    min_agreement: float = DEFAULT_MIN_AGREEMENT
    """Least top-10 neighbour agreement with the torch model admitted."""
    cache_dir: str | None = None
    """Where on-the-fly exports are kept (None: $STCOMPAT_EXPORT_CACHE, else ~/.cache/stcompat/exports)."""
    threads: int | None = None
    """Runtime intra-op threads per instance (None: the runtime's default)."""
    precision: str = "fp32"
    """Compute precision the runtime runs the fp32 graph in: ``fp32``, or ``bf16`` (OpenVINO, on a CPU with
    native bf16: AMX or AVX512-BF16); admitted by the same measure either way."""


def default_cache_dir() -> Path:
    """``$STCOMPAT_EXPORT_CACHE`` if set, else ``~/.cache/stcompat/exports``."""
    env = os.environ.get(CACHE_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "stcompat" / "exports"


def cache_key(model_sha256: str, runtime: str) -> str:
    """Same model files, runtime and exporting packages -> the same export."""
    from .. import __version__
    from ..convert.export_runtime import installed_versions

    versions = installed_versions(_KEY_PACKAGES)
    # "packed": exports made before the packed graph existed are not reused (they would run padded).
    text = "\n".join([model_sha256, runtime, __version__, "packed",
                      *(f"{k}={v}" for k, v in sorted(versions.items()))])
    return f"{runtime}-{hashlib.sha256(text.encode()).hexdigest()[:16]}"


@dataclass(frozen=True)
class AdmittedExport:
    """An export the guard admitted: everything a further instance needs to load it without re-measuring
    (picklable: a worker process builds its instance from it)."""

    runtime: str
    """``onnx`` or ``openvino``."""
    folder: Path
    """The export folder (the model's own, or the cache entry made on the fly)."""
    manifest: ExportManifest
    """Its ``stcompat-export.json``."""
    figures: AdmissionFigures
    """The figures it was admitted on, measured at this start-up."""
    on_the_fly: bool
    """Exported by this server (into the cache) rather than given as an export folder."""
    threads: int | None = None
    """Runtime intra-op threads per instance (None: the runtime's default)."""
    precision: str = "fp32"
    """Compute precision the runtime runs the fp32 graph in (``bf16``: OpenVINO on a CPU with native bf16)."""


class ExportedEmbedder(TorchEmbedder):
    """The model's sentence-transformers pipeline with the Transformer's forward run by onnxruntime/OpenVINO."""

    def __init__(self, loaded: "LoadedModel", truncatable: str | None, info: dict[str, Any],
                 export: AdmittedExport) -> None:
        super().__init__(loaded, truncatable)
        self.name = export.runtime
        self._info = info
        self._export = export

    @property
    def export(self) -> AdmittedExport:
        """The admitted export this instance runs."""
        return self._export

    @property
    def admission(self) -> AdmissionFigures:
        """The figures this backend was admitted on (measured at start-up)."""
        return self._export.figures

    def describe(self) -> dict[str, Any]:
        e = self._export
        m = e.manifest
        dtype = "int8" if m.quantize == "int8" else "bfloat16" if e.precision == "bf16" else "float32"
        return {"backend": self.name, "device": "cpu", "dtype": dtype, "precision": e.precision,
                "batches": self._batches(),
                **self._info, "export": {"folder": str(e.folder), "graph": m.graph, "packed_graph": m.packed_graph,
                                         "method": m.method,
                                         "exported_on_the_fly": e.on_the_fly, "created": m.created,
                                         "admission_at_export": m.admission.as_dict()},
                "admission": e.figures.as_dict()}


def load_admitted(path: str, truncatable: str | None, export: AdmittedExport) -> ExportedEmbedder:
    """One more instance of an export already admitted (no new measurement: the guard's figures stand)."""
    from ..convert.export_runtime import attach
    from ..fingerprint.embed import load_model

    del path  # the export folder holds the model's pipeline files; kept for the Loader signature's sake
    model = load_model(export.folder)
    info = attach(model.st, export.folder / export.manifest.graph, export.runtime, export.threads, export.precision,
                  _packed_path(export.folder, export.manifest))
    return ExportedEmbedder(model, truncatable, info, export)


def _packed_path(folder: Path, manifest: ExportManifest) -> Path | None:
    """The export's packed graph, None where it has none (STC004 where the manifest names a missing file)."""
    if manifest.packed_graph is None:
        return None
    path = folder / manifest.packed_graph
    if not path.is_file():
        raise InputError("STC004", f"{path}: the export manifest names a graph that is not there", str(path))
    return path


def _export_folder(path: str, runtime: str, options: ExportOptions, log: Any) -> tuple[Path, ExportManifest, bool]:
    """The export to serve: ``path`` itself when it is an export for ``runtime``, else one made into the cache."""
    from ..convert.export import export
    from ..convert.export_runtime import read_manifest
    from ..fingerprint.embed import model_identity

    manifest = read_manifest(path)
    if manifest is not None and manifest.runtime == runtime:
        return Path(path), manifest, False
    key = cache_key(model_identity(path)["sha256"], runtime)
    folder = Path(options.cache_dir).expanduser() if options.cache_dir else default_cache_dir()
    target = folder / key
    cached = read_manifest(target) if target.is_dir() else None
    if cached is None:
        log(f"{path}: no {runtime} export cached, exporting it into {target}")
        try:
            # allow_loss: a refused export is kept in the cache too, so a restart does not redo it; the
            # admission below refuses it again from fresh figures either way.
            cached = export(path, target, runtime, min_agreement=options.min_agreement, allow_loss=True,
                            force=target.exists(), log=log).manifest
        except ConvertError as exc:
            raise InputError(exc.code, f"cannot export {path} to {runtime}: {exc.message}", path) from None
    return target, cached, True


def exported_loader(runtime: str, options: ExportOptions, log: Any = lambda _: None) -> Loader:
    """A serve loader (backends.Loader) for ``runtime``; admits the first instance, reuses its figures after."""
    admitted: dict[str, AdmittedExport] = {}

    def load(path: str, kind: ModelKind, device: str, truncatable: str | None,
             loaded: "LoadedModel | None" = None) -> Backend:
        from ..convert.export_admit import admit, reference_fingerprint
        from ..convert.export_runtime import attach
        from ..fingerprint.embed import load_model

        if kind is not ModelKind.SENTENCE_TRANSFORMER:
            raise InputError("STC004", f"{path}: the {runtime} backend serves SentenceTransformer models; serve a "
                             f"{kind} with --backend torch", path)
        if device != "cpu":
            raise InputError("STC004", f"the {runtime} backend runs on the CPU here, not {device!r}", device)
        if path in admitted:
            return load_admitted(path, truncatable, admitted[path])
        if options.precision == "bf16":
            from ..convert.export_runtime import bf16_unsupported, need_runtime

            need_runtime(runtime)
            reason = bf16_unsupported() if runtime == "openvino" else f"{runtime} runs fp32 graphs in fp32"
            if reason:
                raise InputError("STC004", f"--precision bf16: {reason} (serve in fp32: --precision fp32)", "bf16")
        folder, manifest, on_the_fly = _export_folder(path, runtime, options, log)
        model = load_model(folder)
        reference = reference_fingerprint(model)  # the folder's own torch pipeline, before the graph replaces it
        info = attach(model.st, folder / manifest.graph, runtime, options.threads, options.precision,
                      _packed_path(folder, manifest))
        figures, _ = admit(reference, model, options.min_agreement)
        shown = f"{runtime} export of {path} ({folder / manifest.graph}"
        shown += f", packed rows: {manifest.packed_graph}" if manifest.packed_graph else ""
        shown += ", run in bf16)" if options.precision == "bf16" else ")"
        if not figures.admitted:
            hint = ("serve it in fp32 (without --precision bf16), or with --backend torch"
                    if options.precision == "bf16" else "serve it with --backend torch, or re-export without --quantize")
            raise ServeRefused(BACKEND_REFUSED, f"the {shown} is not admitted: {figures.line()} ({hint})",
                               path, (figures.line(),))
        graphs = manifest.graph + (f", packed rows: {manifest.packed_graph}" if manifest.packed_graph else "")
        log(f"{path}: {runtime} backend ({graphs}, {options.precision}) admitted against torch: "
            f"{figures.line()}")
        admitted[path] = AdmittedExport(runtime, folder, manifest, figures, on_the_fly, options.threads,
                                        options.precision)
        return ExportedEmbedder(model, truncatable, info, admitted[path])

    return load
