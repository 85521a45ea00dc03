"""Sentence Transformers' own files: config_sentence_transformers.json, modules.json, module configs.

Both on-disk generations are read: *legacy* (ST 2.0-5.3: ``sentence_transformers.models.*`` types,
sentence_bert_config ``{max_seq_length, do_lower_case}``, Pooling ``pooling_mode_*`` booleans) and
*modular* (5.4+: ``sentence_transformers.{base,sentence_transformer,...}.modules.*`` types,
Pooling ``{embedding_dimension, pooling_mode, include_prompt}``).
"""

from __future__ import annotations

import re
from typing import Any, Mapping

from ..findings import Finding
from ..kb.query import knowledge
from ..vocab import Namespace, PoolingSchema, Severity
from .folder import MISSING, ModelFolder, ModelReadError, problem
from .manifest import ModuleEntry, PoolingInfo, StConfig
from .values import MODULE_CONFIGS, MODULE_ENTRY, SBERT_CONFIG, ST_CONFIG, type_findings

CST_FILE = "config_sentence_transformers.json"
MAX_MODULES = 1000
"""modules.json entries read (real pipelines have a handful; see docs/rules.md STC019)."""
MODULES_FILE = "modules.json"

_LEGACY_TYPE = re.compile(r"^sentence_transformers\.(models|sparse_encoder\.models|cross_encoder\.models)\.")
_MODULAR_TYPE = re.compile(
    r"^sentence_transformers\.(base|sentence_transformer|sparse_encoder|cross_encoder|multi_vector_encoder)"
    r"\.modules\.")

# What each module class reads, from the knowledge (kb/data/reader_facts.json, generated from every
# release's loaders): never a table typed here.
_FACTS = knowledge().reader_facts()
SBERT_CONFIG_NAMES: tuple[str, ...] = _FACTS.sbert_config_names
"""Names the Transformer module's own config has had; ST tries them in this order."""
TRANSFORMER_KINDS: frozenset[str] = _FACTS.transformer_kinds
"""Classes that wrap a Hugging Face transformer and read a sentence_bert_config."""
CONFIG_REQUIRED_KINDS: frozenset[str] = _FACTS.config_required_kinds
"""Modules whose loader fails without its config file in some release."""
FILELESS_KINDS: frozenset[str] = _FACTS.fileless_kinds
"""Modules that need no files at all: a missing folder is harmless."""
LEGACY_POOLING_FLAGS: Mapping[str, str] = _FACTS.legacy_pooling_modes
"""Legacy Pooling booleans and the mode name each became in 5.4, in ST's order."""
SPARSE_KINDS: frozenset[str] = _FACTS.sparse_kinds
"""Modules only a SparseEncoder has."""


def read_st_config(folder: ModelFolder, problems: list[Finding]) -> StConfig:
    """config_sentence_transformers.json; absent before ST 2.0 and in plain transformers folders."""
    try:
        raw = folder.load_json(CST_FILE, problems=problems)
    except ModelReadError as exc:
        problems.append(exc.finding)
        return StConfig(present=True, raw={}, saved_with=None)
    if raw is MISSING:
        return StConfig(present=False, raw={}, saved_with=None)
    if not isinstance(raw, dict):
        problems.append(problem("STC010", f"{CST_FILE} is not a JSON object", CST_FILE))
        return StConfig(present=True, raw={}, saved_with=None)
    problems.extend(type_findings(raw, ST_CONFIG, CST_FILE))
    version = raw.get("__version__")
    saved_with = None
    if isinstance(version, dict):
        saved_with = {str(k): str(v) for k, v in version.items()}
    elif isinstance(version, str):  # some hand-edited or very old configs store a bare string
        saved_with = {"sentence_transformers": version}
    return StConfig(present=True, raw=raw, saved_with=saved_with)


def namespace_of(type_path: str) -> Namespace:
    """Where a modules.json ``type`` lives."""
    if _MODULAR_TYPE.match(type_path):
        return Namespace.MODULAR
    if _LEGACY_TYPE.match(type_path):
        return Namespace.LEGACY
    if type_path.startswith("sentence_transformers."):
        return Namespace.OTHER_ST
    return Namespace.CUSTOM


def _module_config(folder: ModelFolder, kind: str, path: str,
                   problems: list[Finding]) -> tuple[str | None, Mapping[str, Any], str | None]:
    """The config file a module's loader would read, its content, and the code of the problem that kept
    it from being read (None when it was read or is absent)."""
    if kind in TRANSFORMER_KINDS:
        candidates: tuple[str, ...] = SBERT_CONFIG_NAMES
    else:
        # The names the class's loaders open (CNN: cnn_config.json; Router: router_config.json, then
        # config.json); a class the knowledge does not know is assumed to use ST's usual config.json.
        candidates = _FACTS.config_file_names.get(kind, ("config.json",))
        if path == "":
            # At the root, config.json belongs to the transformer; modules stored there (e.g.
            # StaticEmbedding in 5.x) keep no config.json of their own (a Router keeps router_config.json).
            candidates = tuple(name for name in candidates if name != "config.json")
    for name in candidates:
        rel = f"{path}/{name}" if path else name
        try:
            data = folder.load_json(rel, problems=problems)
        except ModelReadError as exc:
            problems.append(exc.finding)
            return rel, {}, exc.finding.code
        if data is MISSING:
            continue
        if not isinstance(data, dict):
            problems.append(problem("STC010", f"{rel} is not a JSON object", rel))
            return rel, {}, "STC010"
        schema = SBERT_CONFIG if kind in TRANSFORMER_KINDS else MODULE_CONFIGS.get(kind, {})
        problems.extend(type_findings(data, schema, rel))
        return rel, data, None
    if kind in CONFIG_REQUIRED_KINDS and folder.is_dir(path) and candidates:
        rel = f"{path}/{candidates[0]}" if path else candidates[0]
        problems.append(problem("STC013", f"{kind} module has no {rel}", rel))
    return None, {}, None


def read_modules(folder: ModelFolder, problems: list[Finding]) -> tuple[ModuleEntry, ...] | None:
    """modules.json and each module's config; None when the file is absent."""
    try:
        raw = folder.load_json(MODULES_FILE, problems=problems)
    except ModelReadError as exc:
        problems.append(exc.finding)
        return ()
    if raw is MISSING:
        return None
    if not isinstance(raw, list):
        problems.append(problem("STC010", f"{MODULES_FILE} is not a JSON list", MODULES_FILE))
        return ()
    if len(raw) > MAX_MODULES:
        problems.append(problem("STC019", f"{MODULES_FILE} lists {len(raw)} modules, over the bound of "
                                f"{MAX_MODULES}; only the first {MAX_MODULES} were read", MODULES_FILE))
        raw = raw[:MAX_MODULES]
    entries = []
    for position, item in enumerate(raw):
        if not isinstance(item, dict) or not isinstance(item.get("type"), str):
            problems.append(problem("STC010", f"{MODULES_FILE} entry {position} has no string 'type'",
                                    MODULES_FILE, f"[{position}].type"))
            continue
        problems.extend(type_findings({k: v for k, v in item.items() if k not in ("path", "type")}, MODULE_ENTRY,
                                      MODULES_FILE, f"[{position}]."))
        entries.append(_read_module(folder, position, item, problems))
    return tuple(entries)


def _read_module(folder: ModelFolder, position: int, item: Mapping[str, Any],
                 problems: list[Finding]) -> ModuleEntry:
    type_path = item["type"]
    kind = type_path.rsplit(".", 1)[-1]
    path = item.get("path", "")
    if not isinstance(path, str):
        problems.append(problem("STC010", f"{MODULES_FILE} entry {position} has a non-string 'path'",
                                MODULES_FILE, f"[{position}].path"))
        path = ""
    path = path.rstrip("/")
    kwargs = item.get("kwargs") or ()
    unusable: str | None = None  # the code of the problem that keeps the path from being followed
    try:
        folder.locate(path)
    except ModelReadError as exc:
        unusable = exc.finding.code
        reason = "leaves the model folder; not followed" if unusable == "STC011" else "cannot name a file"
        problems.append(problem(unusable, f"module {position} path {path!r} {reason}", MODULES_FILE,
                                f"[{position}].path"))
    escapes = unusable is not None
    exists = not escapes and folder.is_dir(path)
    config_file, config, config_problem = (None, {}, unusable)
    files: tuple[str, ...] = ()
    if exists:
        config_file, config, config_problem = _module_config(folder, kind, path, problems)
        if path:
            files = folder.listdir(path)
    elif not escapes:
        severity = Severity.INFO if kind in FILELESS_KINDS else Severity.WARNING
        problems.append(Finding("STC012", f"{kind} module folder {path!r} does not exist", path,
                                severity=severity))
    return ModuleEntry(
        idx=item.get("idx") if isinstance(item.get("idx"), int) else None,
        name=str(item.get("name", position)),
        path=path,
        type=type_path,
        kind=kind,
        namespace=namespace_of(type_path),
        kwargs=tuple(str(k) for k in kwargs) if isinstance(kwargs, (list, tuple)) else (),
        config_file=config_file,
        config=config,
        folder_exists=exists,
        files=files,
        config_problem=config_problem,
    )


def pooling_info(config: Mapping[str, Any]) -> PoolingInfo:
    """A Pooling config in either schema, as modes and flags."""
    if "pooling_mode" in config:
        raw = config["pooling_mode"]
        # A hand-edited config may hold anything here; only a string or a list of strings names modes.
        if isinstance(raw, str):
            modes: tuple[str, ...] = (raw,)
        elif isinstance(raw, list):
            modes = tuple(m for m in raw if isinstance(m, str))
        else:
            modes = ()
        schema = PoolingSchema.MODULAR
        dimension = config.get("embedding_dimension", config.get("word_embedding_dimension"))
    else:
        modes = tuple(mode for flag, mode in LEGACY_POOLING_FLAGS.items() if config.get(flag))
        schema = PoolingSchema.LEGACY_BOOLEANS
        dimension = config.get("word_embedding_dimension", config.get("embedding_dimension"))
    include = config.get("include_prompt")
    return PoolingInfo(
        schema=schema,
        modes=modes,
        dimension=dimension if isinstance(dimension, int) and not isinstance(dimension, bool) else None,
        include_prompt=include if isinstance(include, bool) else None,
    )


def is_modular_transformer_config(config: Mapping[str, Any]) -> bool:
    """Whether a sentence_bert_config has the 5.4+ shape (modality_config, transformer_task)."""
    return "modality_config" in config or "transformer_task" in config
