"""`inspect --format json`: the ``stcompat.inspect/1`` schema (documented in docs/inspect-schema.md)."""

from __future__ import annotations

import dataclasses
from enum import Enum
from typing import Any, Sequence

from ..model.manifest import ModelManifest
from .safe import dumps

SCHEMA = "stcompat.inspect/1"


def _plain(value: Any) -> Any:
    """Dataclasses, enums, tuples and mappings as JSON-ready values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dict) or hasattr(value, "items"):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def manifest_dict(manifest: ModelManifest) -> dict[str, Any]:
    """One model as a ``stcompat.inspect/1`` object."""
    st = manifest.st_config
    return {
        "schema": SCHEMA,
        "path": manifest.path,
        "source": manifest.source,
        "repo_id": manifest.repo_id,
        "revision": manifest.revision,
        "generation": manifest.generation,
        "model_kind": manifest.model_kind,
        "saved_with": _plain(manifest.saved_with),
        "config_sentence_transformers": {
            "present": st.present,
            "keys": list(st.keys),
            "prompts": _plain(st.get("prompts")),
            "default_prompt_name": st.get("default_prompt_name"),
            "similarity_fn_name": st.get("similarity_fn_name"),
            "truncate_dim": st.get("truncate_dim"),
            "model_type": st.get("model_type"),
            "requirements": _plain(st.get("requirements")),
            "raw": _plain(st.raw),
        },
        "modules": _plain(manifest.modules),
        "pooling": _plain(manifest.pooling),
        "transformer": _plain(manifest.transformer),
        "tokenizer": _plain(manifest.tokenizer),
        "tokenizers": _plain(manifest.tokenizers),
        "weights": _plain(manifest.weights),
        "features": list(manifest.features),
        "code_files": list(manifest.code_files),
        "unlisted_modules": _plain(manifest.unlisted_modules),
        # A reading problem keeps the five fields of stcompat.inspect/1 (a Finding carries more for check).
        "problems": [{"code": p.code, "severity": _plain(p.severity), "message": p.message, "file": p.file,
                      "key": p.key} for p in manifest.problems],
    }


def render(manifests: Sequence[ModelManifest]) -> str:
    """One model: its object. Several: ``{"schema", "models": [...]}``."""
    if len(manifests) == 1:
        document: dict[str, Any] = manifest_dict(manifests[0])
    else:
        document = {"schema": SCHEMA, "models": [manifest_dict(m) for m in manifests]}
    return dumps(document)
