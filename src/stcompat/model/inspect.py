"""Assemble a ModelManifest from one model folder: the `inspect` pipeline stage."""

from __future__ import annotations

import re
from pathlib import Path

from ..errors import InputError
from .folder import ModelFolder, Target, problem, targets_for
from .manifest import ModelManifest, ModuleEntry, PoolingInfo, Problem, StConfig, TokenizerInfo
from .st_config import (
    TRANSFORMER_KINDS, is_modular_transformer_config, pooling_info, read_modules, read_st_config,
)
from .tokenizer import read_tokenizer
from .transformer import read_transformer
from .weights import read_weights

# Feature ids are documented in docs/inspect-schema.md; keep the two in step.
_SPARSE_KINDS = frozenset({"SpladePooling", "MLMTransformer", "SparseAutoEncoder", "SparseStaticEmbedding"})


def _snake(name: str) -> str:
    """StaticEmbedding -> static_embedding, MLMTransformer -> mlm_transformer."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name).lower()


def _generation(modules: tuple[ModuleEntry, ...] | None, pooling: PoolingInfo | None) -> str:
    if modules is None:
        return "plain-transformers"
    evidence = set()
    for module in modules:
        if module.namespace in ("legacy", "modular"):
            evidence.add(module.namespace)
        if module.kind in TRANSFORMER_KINDS and module.config:
            evidence.add("modular" if is_modular_transformer_config(module.config) else "legacy")
    if pooling is not None:
        evidence.add("modular" if pooling.schema == "modular" else "legacy")
    if len(evidence) == 2:
        return "mixed"
    return evidence.pop() if evidence else "unknown"


def _model_kind(st_config: StConfig, modules: tuple[ModuleEntry, ...] | None, hf_config_has_st: bool,
                architectures: tuple[str, ...]) -> str:
    written = st_config.get("model_type")
    if isinstance(written, str) and written:
        return written
    kinds = {m.kind for m in modules or ()}
    if kinds & _SPARSE_KINDS:
        return "SparseEncoder"
    # CrossEncoder saves before 5.4 are plain transformers folders: 4.0+ marks config.json with a
    # "sentence_transformers" block; older ones are known by their sequence-classification head.
    if modules is None and (hf_config_has_st or any(a.endswith("ForSequenceClassification") for a in architectures)):
        return "CrossEncoder"
    return "SentenceTransformer"


def _features(st_config: StConfig, modules: tuple[ModuleEntry, ...], pooling: PoolingInfo | None,
              tokenizers: tuple[TokenizerInfo, ...], weights, auto_map: bool) -> tuple[str, ...]:
    found: list[str] = []
    prompts = st_config.get("prompts")
    if isinstance(prompts, dict) and any(isinstance(v, str) and v for v in prompts.values()):
        found.append("prompts")
    if st_config.get("default_prompt_name"):
        found.append("default_prompt_name")
    if st_config.get("similarity_fn_name") not in (None, "cosine"):
        found.append("similarity_fn_name")
    if st_config.get("truncate_dim") is not None:
        found.append("truncate_dim")
    if st_config.get("requirements"):
        found.append("requirements")
    for module in modules:
        found.append(_snake(module.kind) if module.namespace != "custom" else "custom_module")
        if module.kwargs:
            found.append("module_kwargs")
        routes = module.config.get("types") if module.kind == "Router" else None
        if isinstance(routes, dict):  # the modules behind each route (router_config.json "types")
            found.extend(_snake(t.rsplit(".", 1)[-1]) for t in routes.values() if isinstance(t, str))
    if pooling is not None:
        found.extend(f"pooling_{mode}" for mode in pooling.modes)
        if pooling.include_prompt is False:
            found.append("include_prompt_false")
    if any(t.merges_format == "pairs" for t in tokenizers):
        found.append("bpe_merges_pairs")
    formats = {w.format for w in weights}
    if "safetensors" in formats:
        found.append("safetensors_weights")
    if "pickle" in formats:
        found.append("pickle_weights")
    if auto_map:
        found.append("remote_code")
    return tuple(dict.fromkeys(found))


def read_model(target: Target) -> ModelManifest:
    """Read one model folder into a ModelManifest (never raises for content problems)."""
    folder = ModelFolder.open(target.root, target.boundary)
    problems: list[Problem] = []
    for link in folder.escaping_links():
        problems.append(problem("STC011", f"symlink {link} points outside the model folder; not followed", link))
    st_config = read_st_config(folder, problems)
    modules = read_modules(folder, problems)
    pipeline = modules or ()
    for module in pipeline:
        if module.namespace == "custom":
            problems.append(problem("STC016", f"module {module.name} type {module.type} is code outside "
                                    "sentence_transformers", "modules.json", module.type))

    pooling_module = next((m for m in pipeline if m.kind == "Pooling"), None)
    pooling = pooling_info(pooling_module.config) if pooling_module and pooling_module.config else None

    transformer_module = next((m for m in pipeline if m.kind in TRANSFORMER_KINDS and m.folder_exists), None)
    if modules is None:  # a bare transformers folder: ST wraps it in Transformer + mean Pooling
        transformer = read_transformer(folder, "", {}, problems)
    elif transformer_module is not None:
        transformer = read_transformer(folder, transformer_module.path, transformer_module.config, problems)
    else:
        transformer = None

    module_paths = [""] + [m.path for m in pipeline if m.folder_exists and m.path]
    tokenizers = tuple(t for t in (read_tokenizer(folder, p, problems) for p in dict.fromkeys(module_paths))
                       if t is not None)
    weights = read_weights(folder, list(folder.walk_files()), problems)

    hf_config_has_st = False
    if modules is None and transformer is not None:
        # CrossEncoder 4.0-5.3 keeps {version, activation_fn} under config.json "sentence_transformers".
        try:
            raw = folder.load_json(transformer.config_file)
            hf_config_has_st = isinstance(raw, dict) and isinstance(raw.get("sentence_transformers"), dict)
        except Exception:  # already reported by read_transformer
            pass
    return ModelManifest(
        path=str(folder.root),
        source="hf-cache" if target.repo_id else "folder",
        repo_id=target.repo_id,
        revision=target.revision,
        generation=_generation(modules, pooling),
        model_kind=_model_kind(st_config, modules, hf_config_has_st, transformer.architectures if transformer else ()),
        st_config=st_config,
        modules=pipeline,
        pooling=pooling,
        transformer=transformer,
        tokenizers=tokenizers,
        weights=weights,
        features=_features(st_config, pipeline, pooling, tokenizers, weights,
                           bool(transformer and transformer.auto_map)),
        problems=tuple(problems),
    )


def inspect_models(*paths: str | Path, cache_dir: str | None = None,
                   revision: str | None = None) -> list[ModelManifest]:
    """Manifests of every model the arguments name (folders, folders of models, cached repo ids).

    Raises InputError (STC001-STC003) when an argument names no model.
    """
    manifests = []
    for arg in paths:
        for target in targets_for(str(arg), cache_dir, revision):
            manifests.append(read_model(target))
    return manifests


def inspect_model(path: str | Path, cache_dir: str | None = None, revision: str | None = None) -> ModelManifest:
    """The manifest of exactly one model folder (or cached repo id).

    Raises InputError when ``path`` names no model, or several (use inspect_models for a folder of models).
    """
    manifests = inspect_models(path, cache_dir=cache_dir, revision=revision)
    if len(manifests) != 1:
        raise InputError("STC004", f"{path} holds {len(manifests)} models; use inspect_models() for a folder of models")
    return manifests[0]
