"""Load a model with the installed sentence-transformers and encode texts with recorded settings.

This is the only module of the package that touches torch and sentence_transformers, always
lazily. It must run on old releases too (2.2.2 has no prompts, 2.7 added truncate_dim): every
keyword is checked against the installed ``encode`` signature, and what cannot be honoured is
returned as a note instead of failing, because verify's job is to show what this release does.
"""

from __future__ import annotations

import hashlib
import inspect
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InputError, ModelLoadError, RuntimeMissingError

PRECISIONS = ("float32", "float16", "bfloat16")
# Root files that change what the loader builds; module configs and tokenizer files come from the manifest.
_ROOT_CONFIGS = ("modules.json", "config_sentence_transformers.json", "sentence_bert_config.json",
                 "config.json", "router_config.json")
_TORCH_WEIGHTS = ("safetensors", "pickle")


@dataclass(frozen=True)
class EncodeSettings:
    """How the texts are encoded; a fingerprint records these and verify reuses them."""

    prompt_name: str | None = None
    """Prompt applied to every text (None: ST's default, i.e. default_prompt_name when the model sets one)."""
    normalize_embeddings: bool = False
    """``encode(normalize_embeddings=...)``."""
    precision: str = "float32"
    """Compute dtype of the model: float32, float16 or bfloat16 (outputs are widened to float32)."""
    batch_size: int = 32
    """``encode(batch_size=...)``; batch padding can move values at the 1e-7 level."""
    device: str = "cpu"
    """torch device the model runs on."""

    def as_dict(self) -> dict[str, Any]:
        """JSON form, as stored in the fingerprint header."""
        return {"prompt_name": self.prompt_name, "normalize_embeddings": self.normalize_embeddings,
                "precision": self.precision, "batch_size": self.batch_size, "device": self.device}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> "EncodeSettings":
        """Inverse of as_dict; unknown keys are ignored, missing ones take the defaults."""
        return cls(prompt_name=raw.get("prompt_name"), normalize_embeddings=bool(raw.get("normalize_embeddings", False)),
                   precision=raw.get("precision", "float32"), batch_size=int(raw.get("batch_size", 32)),
                   device=raw.get("device", "cpu"))


@dataclass
class LoadedModel:
    """A model loaded once, with what was learnt about it at load time (so encodes can be timed alone)."""

    path: str
    """Absolute model folder."""
    st: Any
    """The SentenceTransformer instance."""
    identity: dict[str, Any]
    """Files and hashes (see model_identity)."""
    pipeline: dict[str, Any]
    """What the loader built (see pipeline_summary)."""
    precision: str = "float32"
    """Compute dtype the model was cast to."""
    device: str = "cpu"
    """Device it runs on."""
    encode_params: frozenset[str] = field(default_factory=frozenset)
    """Keyword names the installed ``encode`` accepts."""


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def model_identity(path: str | Path) -> dict[str, Any]:
    """Hash the files a loader reads: torch weights, configs, tokenizer files (from `inspect`).

    README, ONNX and OpenVINO files are left out: they do not change what sentence-transformers
    computes with the torch backend.
    """
    from ..model.inspect import inspect_model

    manifest = inspect_model(str(path))
    root = Path(manifest.path)
    names: set[str] = {w.path for w in manifest.weights if w.format in _TORCH_WEIGHTS}
    names.update(m.config_file for m in manifest.modules if m.config_file)
    for tok in manifest.tokenizers:
        names.update(f"{tok.folder}/{f}".lstrip("/") for f in tok.files)
    for module in manifest.modules:
        for name in module.files:
            if name.endswith(".json"):
                names.add(f"{module.path}/{name}".lstrip("/"))
    names.update(n for n in _ROOT_CONFIGS if (root / n).is_file())
    files = {name: _sha256(root / name) for name in sorted(names) if (root / name).is_file()}
    combined = hashlib.sha256("".join(f"{n}\0{h}\n" for n, h in files.items()).encode()).hexdigest()
    return {
        "path": str(root), "sha256": combined, "files": files,
        "saved_with": dict(manifest.saved_with or {}), "generation": manifest.generation,
        "features": list(manifest.features),
    }


def st_version() -> tuple[int, ...]:
    """The installed sentence-transformers version as integers (``(2, 2, 2)``)."""
    import sentence_transformers

    parts = []
    for piece in sentence_transformers.__version__.split("+")[0].split(".")[:3]:
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits or 0))
    return tuple(parts)


def _finite_length(value: Any) -> int | None:
    """A sequence limit as an int, or None when there is none (absent, infinite, not a number)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return int(value) if math.isfinite(value) else None


def pipeline_summary(st: Any) -> dict[str, Any]:
    """What the loader built, read from the live objects (works on 2.x to 6.x)."""
    modules = [type(m).__name__ for m in st]
    pooling = next((m for m in st if type(m).__name__ == "Pooling"), None)
    mode = None
    if pooling is not None:
        if hasattr(pooling, "get_pooling_mode_str"):
            mode = pooling.get_pooling_mode_str()
        else:
            raw = getattr(pooling, "pooling_mode", None)
            mode = "+".join(raw) if isinstance(raw, (list, tuple)) else (str(raw) if raw is not None else None)
    dim_fn = getattr(st, "get_embedding_dimension", None) or st.get_sentence_embedding_dimension
    # ST 6 fills unset prompts with "" (a no-op); only prompts that change the text count.
    prompts = {k: v for k, v in (getattr(st, "prompts", None) or {}).items() if v}
    return {
        "modules": modules,
        "pooling_mode": mode,
        "include_prompt": getattr(pooling, "include_prompt", None) if pooling is not None else None,
        "normalize": any(name == "Normalize" for name in modules),
        "dimension": dim_fn(),
        "truncate_dim": getattr(st, "truncate_dim", None),
        "prompts": prompts,
        "default_prompt_name": getattr(st, "default_prompt_name", None),
        # StaticEmbedding reports an unbounded length as float("inf"): no limit, which JSON cannot hold.
        "max_seq_length": _finite_length(getattr(st, "max_seq_length", None)),
        "similarity_fn_name": getattr(st, "_similarity_fn_name", None) or getattr(st, "similarity_fn_name", None),
    }


def load_model(path: str | Path, *, device: str = "cpu", precision: str = "float32") -> LoadedModel:
    """Hash the folder, load it with the installed sentence-transformers and cast it to ``precision``."""
    if precision not in PRECISIONS:
        raise InputError("STC004", f"precision {precision!r}: use one of {', '.join(PRECISIONS)}")
    identity = model_identity(path)
    try:
        import torch
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:
        raise RuntimeMissingError(f"cannot embed: {exc.name or exc} is not installed "
                                  "(pip install 'stcompat[runtime]')", str(exc.name or exc)) from None
    try:
        st = SentenceTransformer(identity["path"], device=device)
    except Exception as exc:  # any loader failure is one line: the model does not load here
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise ModelLoadError(f"{identity['path']}: the installed sentence-transformers cannot load "
                             f"the model ({type(exc).__name__}: {first[:300]})", identity["path"],
                             type(exc).__name__) from None
    if precision == "float16":
        st = st.half()
    elif precision == "bfloat16":
        st = st.to(torch.bfloat16)
    st.eval()
    params = frozenset(inspect.signature(st.encode).parameters)
    return LoadedModel(identity["path"], st, identity, pipeline_summary(st), precision, device, params)


def encode(model: LoadedModel, texts: list[str], settings: EncodeSettings, *, prompt_name: str | None = None,
           prompt: str | None = None, progress: bool = False) -> tuple["Any", list[str]]:
    """Encode ``texts``; returns (float32 numpy matrix, notes about what could not be honoured).

    ``prompt_name``/``prompt`` override the settings' prompt for this call (``prompt=""`` encodes
    the bare texts even when the model has a default prompt). Where the installed release cannot
    apply a prompt, the texts are encoded without it and a note says so: that is what this release
    does to a caller that relies on the model's prompts.
    """
    import torch

    notes: list[str] = []
    kwargs: dict[str, Any] = {"batch_size": settings.batch_size, "show_progress_bar": progress,
                              "convert_to_tensor": True}
    if settings.normalize_embeddings:
        kwargs["normalize_embeddings"] = True
    name = prompt_name if prompt_name is not None else (settings.prompt_name if prompt is None else None)
    if prompt is not None:
        if "prompt" in model.encode_params:
            kwargs["prompt"] = prompt
        elif prompt:
            notes.append("this sentence-transformers release has no prompts (added in 2.4): texts encoded bare")
    elif name is not None:
        known = model.pipeline.get("prompts") or {}
        if "prompt_name" not in model.encode_params:
            notes.append(f"prompt_name {name!r} ignored: this sentence-transformers release has no prompts (2.4+)")
        elif name not in known:
            # ST 6 answers unknown names with "" or a ValueError: either way the text goes in bare.
            notes.append(f"prompt_name {name!r} ignored: the loaded model has no such prompt (texts encoded bare)")
            if "prompt" in model.encode_params:
                kwargs["prompt"] = ""
        else:
            kwargs["prompt_name"] = name
    with torch.inference_mode():
        out = model.st.encode(texts, **kwargs)
    if isinstance(out, list):  # old releases return a list for some inputs
        out = torch.stack(out)
    return out.float().cpu().numpy(), notes
