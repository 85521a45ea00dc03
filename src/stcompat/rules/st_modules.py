"""STC101-STC104: can the target's sentence-transformers import and build each module?"""

from __future__ import annotations

import os
from typing import Any, Iterator, Mapping

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
    if st is None or ctx.loaded_as_other_kind:  # modules.json is not read at all then
        return
    python = ctx.stack.get("python")
    for position, module in enumerate(ctx.manifest.modules):
        if module.namespace is Namespace.CUSTOM:
            yield judged("STC104", Effect.UNKNOWN, f"module {module.name} is {module.type}, code outside "
                          "sentence_transformers", "modules.json", f"[{position}].type",
                          order=(STAGE_MODULES, position, SUB_IMPORT))
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
