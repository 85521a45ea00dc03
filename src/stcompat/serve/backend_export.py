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


def default_cache_dir() -> Path:
    """``$STCOMPAT_EXPORT_CACHE`` if set, else ``~/.cache/stcompat/exports``."""
    env = os.environ.get(CACHE_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "stcompat" / "exports"


def cache_key(model_sha256: str, runtime: str) -> str:
    """Same model files, runtime and exporting packages -> the same export."""
    from .. import __version__
    from ..convert.export_runtime import installed_versions

    versions = installed_versions(_KEY_PACKAGES)
    text = "\n".join([model_sha256, runtime, __version__, *(f"{k}={v}" for k, v in sorted(versions.items()))])
    return f"{runtime}-{hashlib.sha256(text.encode()).hexdigest()[:16]}"


class ExportedEmbedder(TorchEmbedder):
    """The model's sentence-transformers pipeline with the Transformer's forward run by onnxruntime/OpenVINO."""

    def __init__(self, loaded: "LoadedModel", truncatable: str | None, runtime: str, info: dict[str, Any],
                 manifest: ExportManifest, folder: Path, figures: AdmissionFigures, on_the_fly: bool) -> None:
        super().__init__(loaded, truncatable)
        self.name = runtime
        self._info = info
        self._manifest = manifest
        self._folder = folder
        self._figures = figures
        self._on_the_fly = on_the_fly

    @property
    def admission(self) -> AdmissionFigures:
        """The figures this backend was admitted on (measured at start-up)."""
        return self._figures

    def describe(self) -> dict[str, Any]:
        m = self._manifest
        return {"backend": self.name, "device": "cpu", "dtype": "int8" if m.quantize == "int8" else "float32",
                **self._info, "export": {"folder": str(self._folder), "graph": m.graph, "method": m.method,
                                         "exported_on_the_fly": self._on_the_fly, "created": m.created,
                                         "admission_at_export": m.admission.as_dict()},
                "admission": self._figures.as_dict()}


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
    admitted: dict[str, tuple[Path, ExportManifest, bool, AdmissionFigures]] = {}

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
        if path not in admitted:
            folder, manifest, on_the_fly = _export_folder(path, runtime, options, log)
            model = load_model(folder)
            reference = reference_fingerprint(model)  # the folder's own torch pipeline, before the graph replaces it
            info = attach(model.st, folder / manifest.graph, runtime, options.threads)
            figures, _ = admit(reference, model, options.min_agreement)
            if not figures.admitted:
                raise ServeRefused(BACKEND_REFUSED, f"the {runtime} export of {path} ({folder / manifest.graph}) is "
                                   f"not admitted: {figures.line()} (serve it with --backend torch, or re-export "
                                   "without --quantize)", path, (figures.line(),))
            log(f"{path}: {runtime} backend ({manifest.graph}) admitted against torch: {figures.line()}")
            admitted[path] = (folder, manifest, on_the_fly, figures)
            return ExportedEmbedder(model, truncatable, runtime, info, manifest, folder, figures, on_the_fly)
        folder, manifest, on_the_fly, figures = admitted[path]
        model = load_model(folder)
        info = attach(model.st, folder / manifest.graph, runtime, options.threads)
        return ExportedEmbedder(model, truncatable, runtime, info, manifest, folder, figures, on_the_fly)

    return load
