"""Assemble a ModelManifest from one model folder: the `inspect` pipeline stage."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Mapping

from ..errors import InputError
from ..findings import Finding
from ..vocab import Generation, MergesFormat, ModelKind, Namespace, PoolingSchema, WeightFormat
from .features import module_feature, pooling_feature
from .folder import ModelFolder, ModelReadError, Target, problem, targets_for
from .manifest import ModelManifest, ModuleEntry, PoolingInfo, StConfig, TokenizerInfo, UnlistedModule, WeightFile
from .settings import behaviour_settings
from .st_config import (
    SPARSE_KINDS, TRANSFORMER_KINDS, is_modular_transformer_config, pooling_info, read_modules, read_st_config,
)
from .tokenizer import read_tokenizer
from .transformer import read_transformer
from .weights import read_weights



def _generation(modules: tuple[ModuleEntry, ...] | None, pooling: PoolingInfo | None) -> Generation:
    if modules is None:
        return Generation.PLAIN_TRANSFORMERS
    evidence: set[Generation] = set()
    for module in modules:
        if module.namespace is Namespace.LEGACY:
            evidence.add(Generation.LEGACY)
        elif module.namespace is Namespace.MODULAR:
            evidence.add(Generation.MODULAR)
        if module.kind in TRANSFORMER_KINDS and module.config:
            evidence.add(Generation.MODULAR if is_modular_transformer_config(module.config) else Generation.LEGACY)
    if pooling is not None:
        evidence.add(Generation.MODULAR if pooling.schema is PoolingSchema.MODULAR else Generation.LEGACY)
    if len(evidence) == 2:
        return Generation.MIXED
    return evidence.pop() if evidence else Generation.UNKNOWN


def _model_kind(st_config: StConfig, modules: tuple[ModuleEntry, ...] | None, hf_config_has_st: bool,
                architectures: tuple[str, ...]) -> ModelKind:
    written = st_config.get("model_type")
    if isinstance(written, str) and written:
        try:
            return ModelKind(written)
        except ValueError:
            return ModelKind.OTHER
    kinds = {m.kind for m in modules or ()}
    if kinds & SPARSE_KINDS:
        return ModelKind.SPARSE_ENCODER
    # CrossEncoder saves before 5.4 are plain transformers folders: 4.0+ marks config.json with a
    # "sentence_transformers" block; older ones are known by their sequence-classification head.
    if modules is None and (hf_config_has_st or any(a.endswith("ForSequenceClassification") for a in architectures)):
        return ModelKind.CROSS_ENCODER
    return ModelKind.SENTENCE_TRANSFORMER


def _features(st_config: StConfig, saved: Mapping[str, Any], modules: tuple[ModuleEntry, ...],
              pooling: PoolingInfo | None, tokenizers: tuple[TokenizerInfo, ...], weights: tuple[WeightFile, ...],
              auto_map: bool) -> tuple[str, ...]:
    """Feature ids (model/features.py) in a stable order."""
    found: list[str] = list(saved)
    if st_config.get("requirements"):
        found.append("requirements")
    for module in modules:
        found.append(module_feature(module.kind) if module.namespace is not Namespace.CUSTOM else "custom_module")
        if module.kwargs:
            found.append("module_kwargs")
        routes = module.config.get("types") if module.kind == "Router" else None
        if isinstance(routes, dict):  # the modules behind each route (router_config.json "types")
            found.extend(module_feature(t.rsplit(".", 1)[-1]) for t in routes.values() if isinstance(t, str))
    if pooling is not None:
        found.extend(pooling_feature(mode) for mode in pooling.modes)
        if pooling.include_prompt is False:
            found.append("include_prompt_false")
    if any(t.merges_format is MergesFormat.PAIRS for t in tokenizers):
        found.append("bpe_merges_pairs")
    formats = {w.format for w in weights}
    if WeightFormat.SAFETENSORS in formats:
        found.append("safetensors_weights")
    if WeightFormat.PICKLE in formats:
        found.append("pickle_weights")
    if auto_map:
        found.append("remote_code")
    return tuple(dict.fromkeys(found))


_MODULE_FOLDER = re.compile(r"^(\d+)_([A-Za-z][A-Za-z0-9]*)$")
"""How sentence-transformers names a saved module's folder: its index and class name (``1_Pooling``)."""


def unlisted_modules(folder: ModelFolder) -> tuple[UnlistedModule, ...]:
    """The module folders at the top of a folder without modules.json, in index order."""
    found = []
    for name in folder.listdir(""):
        match = _MODULE_FOLDER.match(name)
        if match is None or not folder.is_dir(name):
            continue
        modes: tuple[str, ...] = ()
        if match.group(2) == "Pooling":
            try:
                config = folder.load_json(f"{name}/config.json")
            except ModelReadError:
                config = None
            modes = pooling_info(config).modes if isinstance(config, dict) else ()
        found.append((int(match.group(1)), UnlistedModule(name, match.group(2), modes)))
    return tuple(module for _, module in sorted(found, key=lambda item: (item[0], item[1].path)))


def read_model(target: Target) -> ModelManifest:
    """Read one model folder into a ModelManifest (never raises for content problems)."""
    folder = ModelFolder.open(target.root, target.boundary, target.blobs)
    problems: list[Finding] = []
    for link in folder.escaping_links():
        problems.append(problem("STC011", f"symlink {link} points outside the model folder; not followed", link))
    for rel, kind in folder.odd_entries():
        code = "STC019" if rel == "." else "STC005"
        problems.append(problem(code, f"{rel} is {kind}" if code == "STC005" else kind, rel))
    st_config = read_st_config(folder, problems)
    modules = read_modules(folder, problems)
    pipeline = modules or ()
    for module in pipeline:
        if module.namespace is Namespace.CUSTOM:
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
    files = list(folder.walk_files())
    weights = read_weights(folder, files, problems)

    hf_config_has_st = False
    if modules is None and transformer is not None:
        # CrossEncoder 4.0-5.3 keeps {version, activation_fn} under config.json "sentence_transformers".
        try:
            raw = folder.load_json(transformer.config_file)
            hf_config_has_st = isinstance(raw, dict) and isinstance(raw.get("sentence_transformers"), dict)
        except ModelReadError:  # already reported by read_transformer
            pass
    saved = behaviour_settings(st_config.raw)
    unlisted = unlisted_modules(folder) if modules is None else ()
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
        features=_features(st_config, saved, pipeline, pooling, tokenizers, weights,
                           bool(transformer and transformer.auto_map)),
        problems=tuple(problems),
        code_files=tuple(sorted(f for f in files if "/" not in f and f.endswith(".py"))),
        unlisted_modules=unlisted,
        saved_settings=saved,
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
