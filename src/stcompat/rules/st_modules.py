"""STC101-STC107: can the target's sentence-transformers import and build each module?"""

from __future__ import annotations

import os
import re
from typing import Any, Iterator, Mapping

from packaging.utils import canonicalize_name

from ..model.manifest import ModuleEntry
from ..vocab import Namespace
from ..model.st_config import TRANSFORMER_KINDS
from .base import (
    STAGE_MODULES, SUB_CONSTRUCT, SUB_IMPORT, SUB_MODULE_WEIGHTS, Context, Effect, Finding, PredictedError, judged,
)


def _module_types(module: ModuleEntry) -> Iterator[tuple[str, str, str]]:
    """(type, file, key) for the module and, for a Router, every route's module type."""
    yield module.type, "modules.json", f"[{module.idx}].type" if module.idx is not None else "type"
    if module.kind == "Router":
        types = module.config.get("types")
        if isinstance(types, dict):
            for name, type_path in types.items():
                if isinstance(type_path, str):
                    yield type_path, module.config_file or "router_config.json", f"types.{name}"


def _constructor_config(module: ModuleEntry) -> Mapping[str, Any]:
    """The dict the loader splats into the constructor (a Router splats its ``parameters``)."""
    if module.kind == "Router":
        parameters = module.config.get("parameters")
        return parameters if isinstance(parameters, dict) else {}
    return module.config


def _type_error(class_name: str, message: str, python: Any) -> str:
    # Python 3.10 added the class name to these messages.
    if python is not None and (python.major, python.minor) < (3, 10):
        return f"__init__() {message}"
    return f"{class_name}.__init__() {message}"


def check_modules(ctx: Context) -> Iterator[Finding]:
    """Import each module type in the target release, then bind its config to the constructor."""
    st = ctx.st
    if st is None or ctx.skips_modules:  # modules.json is not read at all then
        return
    python = ctx.stack.get("python")
    for position, module in enumerate(ctx.manifest.modules):
        if module.namespace is Namespace.CUSTOM:
            yield _custom_module(ctx, position, module)
            continue
        failed = False
        origin = None
        for type_path, file, key in _module_types(module):
            resolution = st.resolve_class(type_path)
            if resolution.origin is None:
                yield judged(
                    "STC101", Effect.FAILS,
                    f"{type_path} cannot be imported by sentence-transformers {st.version}",
                    file, key, PredictedError(resolution.error_type or "ImportError", resolution.error_message or ""),
                    order=(STAGE_MODULES, position, SUB_IMPORT))
                failed = True
                break
            if type_path == module.type:
                origin = resolution.origin
        if failed or origin is None:
            continue
        # Absent, as the reader found (STC012): not a folder it refused to follow (a link out of the model).
        if module.path and any(p.code == "STC012" and p.file == module.path for p in ctx.manifest.problems):
            missing = _missing_folder(ctx, position, module, st.loader(origin), python)
            if missing is not None:
                yield missing
                continue
        if module.config_problem:
            # Its config (or folder) could not be read: the load stops there, as the input finding says,
            # and what the constructor would do with the real content is unknowable.
            continue
        loader = st.loader(origin)
        if loader is None:
            continue
        root = st.root_construction
        if module.path == "" and module.kind not in TRANSFORMER_KINDS and root and root.get("any_class"):
            # 3.2-4.x build any root module as module_class(model_path, cache_dir=..., **kwargs).
            passed = list(root.get("keywords", ()))
            rejected_kw = next((k for k in passed if not loader.accepts(k)), None)
            if rejected_kw is None:
                error = loader.init_raises[0] if loader.init_raises else None
                yield judged(
                    "STC105", Effect.FAILS if error else Effect.UNKNOWN,
                    f"{loader.class_name} stored at the model folder's root is constructed from the folder path by "
                    f"sentence-transformers {st.version}", "modules.json", f"[{position}].path",
                    PredictedError(*error) if error else None, order=(STAGE_MODULES, position, SUB_CONSTRUCT))
                continue
            if not root.get("typeerror_fallback"):
                yield judged(
                    "STC105", Effect.FAILS,
                    f"{loader.class_name} stored at the root is constructed with {rejected_kw!r}, which it does not "
                    f"accept, by sentence-transformers {st.version}", "modules.json", f"[{position}].path",
                    PredictedError("TypeError", _type_error(
                        loader.class_name, f"got an unexpected keyword argument '{rejected_kw}'", python)),
                    order=(STAGE_MODULES, position, SUB_CONSTRUCT))
                continue
        if loader.mode != "splat":
            continue
        config = _constructor_config(module)
        if module.kind in TRANSFORMER_KINDS and not module.config_file:
            continue
        rejected = next((k for k in config if not loader.accepts(k)), None)
        if rejected is not None:
            yield judged(
                "STC102", Effect.FAILS,
                f"{module.config_file} key {rejected!r} is not accepted by {loader.class_name} in "
                f"sentence-transformers {st.version}",
                module.config_file, rejected,
                PredictedError("TypeError", _type_error(loader.class_name,
                                                        f"got an unexpected keyword argument '{rejected}'", python)),
                order=(STAGE_MODULES, position, SUB_CONSTRUCT))
            continue
        if not module.path and not module.config_file:
            continue  # stored at the root (a flattened copy) and its config not read: what it holds is unknown
        missing = loader.missing_required(config)
        if missing and module.kind not in TRANSFORMER_KINDS:
            names = " and ".join(f"'{m}'" for m in missing)
            plural = "s" if len(missing) > 1 else ""
            yield judged(
                "STC102", Effect.FAILS,
                f"{module.config_file or module.path} lacks {names}, required by {loader.class_name} in "
                f"sentence-transformers {st.version}",
                module.config_file, missing[0],
                PredictedError("TypeError", _type_error(
                    loader.class_name, f"missing {len(missing)} required positional argument{plural}: {names}", python)),
                order=(STAGE_MODULES, position, SUB_CONSTRUCT))
            continue
        if loader.weight_files and module.path and module.kind not in TRANSFORMER_KINDS:
            present = [name for name in module.files if name.endswith((".bin", ".safetensors"))]
            if present and not any(name in present for name in loader.weight_files):
                wanted = loader.weight_files[-1]
                yield judged(
                    "STC103", Effect.FAILS,
                    f"{module.path} holds {', '.join(present)}; {loader.class_name} in sentence-transformers "
                    f"{st.version} opens only {', '.join(loader.weight_files)}",
                    f"{module.path}/{present[0]}", None,
                    PredictedError("FileNotFoundError", "[Errno 2] No such file or directory: "
                                   f"'{os.path.join(ctx.manifest.path, module.path, wanted)}'"),
                    order=(STAGE_MODULES, position, SUB_MODULE_WEIGHTS))


def _missing_folder(ctx: Context, position: int, module: ModuleEntry, loader: Any, python: Any) -> Finding | None:
    """STC024: the module's folder is absent. What fails, and how, is the release's module-loading loop
    (kb: missing_module_folder, read from its source): 2.2 opens the config file in the folder, 2.3-4.x ask
    the Hub for the folder with the local path as repo id, 5.0+ read an absent config as {} and construct
    the module without it. A module that needs no file (Normalize) is left to the other rules."""
    if loader is None or loader.needs_no_files or not loader.config_files:
        return None
    known = ctx.st.data.get("missing_module_folder") or {}
    behaviour = known.get("behaviour")
    files = ", ".join(f"{module.path}/{name}" for name in loader.config_files)
    error: tuple[str, str] | None = None
    if behaviour == "open_config":
        error = ("FileNotFoundError", "[Errno 2] No such file or directory: "
                 f"'{os.path.join(ctx.manifest.path, module.path, loader.config_files[0])}'")
        how = f"opens {module.path}/{loader.config_files[0]}"
    elif behaviour == "hub_download":
        error = ctx.kb.repo_id_error(ctx.stack.get("huggingface-hub"), ctx.manifest.path)
        how = "looks for the folder on the Hub with the model's local path as repo id"
    elif behaviour == "empty_config":
        required = loader.missing_required({})
        if required:
            names = " and ".join(f"'{m}'" for m in required)
            plural = "s" if len(required) > 1 else ""
            error = ("TypeError", _type_error(loader.class_name, f"missing {len(required)} required positional "
                                              f"argument{plural}: {names}", python))
        how = f"reads the absent config as empty and constructs {loader.class_name} without it"
    else:
        return None
    return judged("STC024", Effect.FAILS,
                  f"module {module.name} ({module.kind}) folder {module.path!r} is missing: sentence-transformers "
                  f"{ctx.st.version} {how}; restore {files} from the original save",
                  module.path, None, PredictedError(*error) if error else None,
                  order=(STAGE_MODULES, position, SUB_CONSTRUCT))


def _custom_module(ctx: Context, position: int, module: ModuleEntry) -> Finding:
    """A type outside sentence_transformers: ModuleNotFoundError where the target, given as requirements, does
    not name its package and the folder ships no code file of that name; unknown otherwise (the package's own
    code decides, or an installed environment's other packages are not read)."""
    gate = ctx.st.data.get("custom_class_gate") if ctx.st is not None else None
    if gate:
        # 6.0+: refused before any import unless trust_remote_code=True (the probe, like a user, passes none).
        # For a local folder the message's location is the folder's absolute path.
        values = {"model_name_or_path": ctx.manifest.path, "class_ref!r": repr(module.type),
                  "location": ctx.manifest.path}
        message = re.sub(r"\{([^{}]+)\}", lambda m: values.get(m.group(1), m.group(0)), gate["message"])
        return judged("STC107", Effect.FAILS,
                      f"module {module.name} is {module.type}: sentence-transformers {ctx.st.version} imports it "
                      "only with trust_remote_code=True", "modules.json", f"[{position}].type",
                      PredictedError(gate["exception"], message), order=(STAGE_MODULES, position, SUB_IMPORT))
    top = module.type.split(".", 1)[0]
    named = canonicalize_name(top) in set(ctx.stack.versions) | set(ctx.stack.ranges)
    shipped = f"{top}.py" in ctx.manifest.code_files
    resolution = ctx.st.resolve_class(module.type) if ctx.st is not None else None
    where = ("modules.json", f"[{position}].type")
    # Given as requirements: the package must be named. Installed: its top-level name must be on the
    # environment's sys.path (listed from its folders; an unlistable entry leaves it unknown).
    if ctx.stack.source.installed:
        missing = ctx.stack.importable is not None and top not in ctx.stack.importable
    else:
        missing = not named
    if (missing and not shipped and resolution is not None
            and resolution.origin is None and resolution.error_type):
        return judged("STC106", Effect.FAILS,
                      f"module {module.name} is {module.type}: no package of the target provides {top!r} "
                      "(install the one that does)", *where,
                      PredictedError(resolution.error_type, resolution.error_message or ""),
                      order=(STAGE_MODULES, position, SUB_IMPORT))
    return judged("STC104", Effect.UNKNOWN, f"module {module.name} is {module.type}, code outside "
                  "sentence_transformers", *where, order=(STAGE_MODULES, position, SUB_IMPORT))

