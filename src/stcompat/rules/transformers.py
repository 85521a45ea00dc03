"""STC122, STC201-STC203: the transformers layer: what sentence-transformers imports from it, and under the
Transformer module."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Iterator

from packaging.version import Version

from ..kb.query import parse_version
from ..model.manifest import TransformerInfo
from ..model.st_config import TRANSFORMER_KINDS
from ..vocab import WeightFormat
from .base import STAGE_ENV, STAGE_MODULES, SUB_TF_CONFIG, SUB_TF_WEIGHTS, Context, Effect, Finding, PredictedError, judged

# config.json dtype names (torch's) and safetensors dtype codes of the half-precision floats.
HALF_CONFIG_DTYPES = {"float16": "float16", "half": "float16", "bfloat16": "bfloat16"}
HALF_TENSOR_DTYPES = {"F16": "float16", "BF16": "bfloat16"}
FLOAT_TENSOR_DTYPES = frozenset({"F16", "BF16", "F32", "F64"})


def transformer_position(ctx: Context) -> int:
    """Index of the first Transformer module (0 for a bare transformers folder)."""
    return next((i for i, m in enumerate(ctx.manifest.modules) if m.kind in TRANSFORMER_KINDS), 0)


def passed_path(ctx: Context, folder: str) -> str | None:
    """The path the target's Transformer module hands to transformers (AutoConfig, AutoTokenizer), which their
    error messages name, as the release's module-loading loop builds it
    (kb missing_module_folder): 2.2 joins the model path and the module path, so the root becomes
    "<path>/"; 2.3-4.x pass the model path for the root and the joined path for a subfolder; 5.0+ pass
    the model path with a subfolder argument, which the message may or may not show (None: not claimed)."""
    behaviour = ((ctx.st.data.get("missing_module_folder") or {}).get("behaviour")) if ctx.st else None
    if behaviour == "open_config":
        return os.path.join(ctx.manifest.path, folder)
    if behaviour == "hub_download" or (behaviour == "empty_config" and not folder):
        return os.path.join(ctx.manifest.path, folder) if folder else ctx.manifest.path
    return None


def check_transformers(ctx: Context) -> Iterator[Finding]:
    """model_type known to the target transformers; remote code; what sentence-transformers imports from it."""
    yield from _st_imports(ctx)
    info = ctx.manifest.transformer
    if info is None:
        return
    position = transformer_position(ctx)
    version = ctx.stack.get("transformers")
    if info.auto_map:
        finding = _remote_code(ctx, info, version, position)
        yield finding
        if finding.effect is not Effect.INFO:
            return
    if version is not None:
        yield from _half_precision(ctx, info, version, position)
    if version is not None and not info.model_type:
        yield from _no_model_type(ctx, info, version, position)
    if version is None or not info.model_type:
        return
    known = ctx.kb.model_type_known(version, info.model_type)
    if known is False:
        first = ctx.kb.first_transformers_with(info.model_type)
        error = ctx.kb.unknown_model_type_error(version, info.model_type)  # None: the text is not known
        fix = None
        if first:
            major, minor = first.split(".")[:2]
            fix = f'transformers>={major}.{minor}'
        yield judged("STC201", Effect.FAILS,
                      f"model_type {info.model_type!r} is unknown to transformers {version}"
                      + (f" (first known in {first})" if first else " (no transformers release knows it)"),
                      info.config_file, "model_type", PredictedError(*error) if error else None, fix=fix,
                      order=(STAGE_MODULES, position, SUB_TF_CONFIG))


def _no_model_type(ctx: Context, info: TransformerInfo, version: Version, position: int) -> Iterator[Finding]:
    """STC026: the transformer's config.json has no ``model_type`` (a flattened copy whose config.json is the
    Pooling config, or another file's content): AutoConfig fails with "Unrecognized model in <path>", unless
    (4.x) a known type's name occurs in the path, which then decides the config class (unknown)."""
    if any(p.file == info.config_file and p.key == "model_type" for p in ctx.manifest.problems):
        return  # a model_type of another type than str (STC020): not absent, and not this mechanism
    folder = info.config_file.rsplit("/", 1)[0] if "/" in info.config_file else ""
    path = passed_path(ctx, folder)
    found = ctx.kb.missing_model_type_error(version, path or os.path.join(ctx.manifest.path, folder))
    what = f"{info.config_file} has no model_type"
    restore = f"; restore the transformers {info.config_file} from the original save"
    if isinstance(found, str):
        yield judged("STC026", Effect.UNKNOWN, f"{what}: transformers {version} takes the model type from "
                     f"{found!r} in the folder's path" + restore, info.config_file, "model_type",
                     order=(STAGE_MODULES, position, SUB_TF_CONFIG))
        return
    error = PredictedError(*found) if found is not None and path is not None else None
    yield judged("STC026", Effect.FAILS, f"{what}: not a transformers config, transformers {version} cannot "
                 "tell the architecture" + restore, info.config_file, "model_type", error,
                 order=(STAGE_MODULES, position, SUB_TF_CONFIG))


@dataclass(frozen=True)
class PrecisionChange:
    """A half-precision checkpoint computed in another dtype by the target than by the stack that saved it."""

    dtype: str
    """The checkpoint's half dtype (``float16`` or ``bfloat16``)."""
    saved_computes: str
    """The dtype the saving transformers computed in (``float32``, or ``dtype`` itself)."""
    target_computes: str
    """The dtype the target transformers computes in."""
    file: str | None
    """Where the dtype is read: config.json, or the safetensors file when config.json declares none."""
    key: str | None
    """config.json's ``dtype``/``torch_dtype``, or None when the tensors say it."""
    evidence: str
    """One clause: what declares or stores the dtype."""


def precision_change(kb, manifest, info: TransformerInfo, version: Version) -> PrecisionChange | None:
    """A checkpoint in float16/bfloat16 is computed in that dtype by a transformers that loads the checkpoint's
    own dtype (``default_dtype == "auto"``: config.json's dtype, else the first floating tensor's), and in
    float32 by one that loads torch's default. Behaviour as saved is the saving transformers' (config.json
    ``transformers_version``; unknown: taken as float32, the older behaviour). Both directions change the
    embeddings: a 4.x save loaded by 5.x, and a 5.x save loaded (after a backport) by 4.x."""
    target_auto = kb.default_dtype(version) == "auto"
    saved_with = parse_version(info.transformers_version)
    saved_auto = saved_with is not None and kb.default_dtype(saved_with) == "auto"
    if target_auto == saved_auto:
        return None  # both compute in the same dtype
    if info.dtype is not None:
        dtype = HALF_CONFIG_DTYPES.get(info.dtype)
        file, key = info.config_file, info.dtype_key
        evidence = f"{info.config_file} declares {info.dtype_key}={info.dtype!r}"
    else:
        folder = info.config_file.rsplit("/", 1)[0] if "/" in info.config_file else ""
        stored = [w for w in manifest.weights if w.format is WeightFormat.SAFETENSORS and w.header_ok
                  and (w.path.rsplit("/", 1)[0] if "/" in w.path else "") == folder]
        floats = {d for w in stored for d in w.dtypes if d in FLOAT_TENSOR_DTYPES}
        # Every floating tensor in one half dtype: the first one transformers looks at is in it.
        dtype = HALF_TENSOR_DTYPES.get(next(iter(floats))) if len(floats) == 1 else None
        file, key = (stored[0].path if stored else None), None
        evidence = f"config.json declares no dtype and {file} stores {', '.join(sorted(floats))} tensors"
    if dtype is None:
        return None
    return PrecisionChange(dtype, dtype if saved_auto else "float32", dtype if target_auto else "float32",
                           file, key, evidence)


def _half_precision(ctx: Context, info: TransformerInfo, version: Version, position: int) -> Iterator[Finding]:
    change = precision_change(ctx.kb, ctx.manifest, info, version)
    if change is None:
        return
    first = ctx.kb.first_transformers_with_auto_dtype()
    bound = ".".join(first.split(".")[:2]) if first else None
    if change.target_computes == change.dtype:  # a float32-era save, a checkpoint-dtype target
        pin = f"transformers<{bound}" if bound else None
        message = (f"{change.evidence}: transformers {version} computes in {change.dtype} (the checkpoint's "
                   f"dtype), older releases{f' (<{bound})' if bound else ''} in float32, as when it was saved; "
                   f'load with model_kwargs={{"dtype": torch.float32}}' + (f" or pin {pin}" if pin else ""))
    else:  # saved by a checkpoint-dtype transformers, loaded by one that computes in float32
        pin = f"transformers>={bound}" if bound else None
        message = (f"{change.evidence}: transformers {version} computes in float32, the transformers that saved "
                   f"it ({info.transformers_version}) in {change.dtype}; load with "
                   f'model_kwargs={{"torch_dtype": torch.{change.dtype}}}' + (f" or pin {pin}" if pin else ""))
    yield judged("STC203", Effect.DEGRADED, message, change.file, change.key, fix=pin,
                 order=(STAGE_MODULES, position, SUB_TF_WEIGHTS))


def _st_imports(ctx: Context) -> Iterator[Finding]:
    """STC122: names the target sentence-transformers takes from transformers submodules when it is imported.
    Judged with the transformers layer (its fix moves transformers), whatever the model holds."""
    st = ctx.st
    if st is None:
        return
    transformers = ctx.stack.get("transformers")
    lacking = ctx.kb.transformers_lacks(transformers, st.transformers_imports) if transformers is not None else None
    if lacking:
        module, name = lacking[0].split(":", 1)
        # One statement (`from module import a, b`) fails on its first missing name, in the order the release
        # writes them (the order the knowledge keeps); across modules, which import runs first is not known.
        single = len({pair.split(":", 1)[0] for pair in lacking}) == 1
        names = ", ".join(pair.replace(":", ".") for pair in lacking)
        yield judged(
            "STC122", Effect.FAILS,
            f"sentence-transformers {st.version} imports {names} at import time, which transformers "
            f"{transformers} does not have yet: `import sentence_transformers` itself fails",
            None, None, PredictedError("ImportError", f"cannot import name '{name}' from '{module}'") if single else None,
            order=(STAGE_ENV,))


_EOF_MESSAGE = "EOF when reading a line"
"""What Python's input() raises when stdin is at end of file (a service, a CI job: not a terminal)."""


def _remote_code(ctx: Context, info: TransformerInfo, version: Version | None, position: int) -> Finding:
    """STC202: config.json's auto_map names code in the folder. AutoConfig runs it only when trusted; the loader
    class passes trust_remote_code=False (ST 2.3+), or nothing (2.2: transformers then asks on stdin, and a
    stdin that is not a terminal ends the question with EOFError unless the release turns that into its
    refusal). A model_type the release knows is built from its own code, auto_map unused."""
    where = (info.config_file, "auto_map")
    order = (STAGE_MODULES, position, SUB_TF_CONFIG)
    if "AutoConfig" not in info.auto_map:
        return judged("STC202", Effect.UNKNOWN, f"{info.config_file} auto_map names code in the folder for "
                      f"{', '.join(sorted(info.auto_map))}", *where, order=order)
    known = ctx.kb.model_type_known(version, info.model_type) if version is not None and info.model_type else None
    if known:
        return judged("STC202", Effect.INFO, f"{info.config_file} auto_map is unused: transformers {version} "
                      f"knows model_type {info.model_type!r} and builds it from its own code", *where, order=order)
    facts = ctx.kb.remote_code(version) if version is not None else None
    trust = (ctx.st.data.get("loader_classes") or {}).get("trust_remote_code", {}) if ctx.st else {}
    if facts is None or known is None or ctx.loader_class not in trust:
        return judged("STC202", Effect.UNKNOWN, f"{info.config_file} auto_map runs code from the model folder "
                      f"(model_type {info.model_type!r})", *where, order=order)
    passed = trust[ctx.loader_class]
    folder = info.config_file.rsplit("/", 1)[0] if "/" in info.config_file else ""
    path = passed_path(ctx, folder) if ctx.loader == "sentence-transformer" else ctx.manifest.path
    if passed is None and facts["prompts"] and not facts["prompt_failure_caught"]:
        error = PredictedError("EOFError", _EOF_MESSAGE)
        how = (f"{ctx.loader_class} in sentence-transformers {ctx.st.version} passes no trust_remote_code, so "
               f"transformers {version} asks on stdin: not a terminal, input() raises EOFError (a terminal is "
               "asked for 15 s)")
    else:
        rendered = ctx.kb.remote_code_refusal(version, path) if path is not None else None
        error = PredictedError(*rendered) if rendered else None
        said = "passes trust_remote_code=False" if passed is False else "passes no trust_remote_code"
        how = (f"{ctx.loader_class} in sentence-transformers {ctx.st.version} {said}, and transformers {version} "
               "refuses to run it")
    return judged("STC202", Effect.FAILS,
                  f"{info.config_file} model_type {info.model_type!r} is not one transformers {version} knows and "
                  f"its auto_map points at code in the folder: {how}; load it with trust_remote_code=True only "
                  "after reading that code", *where, error, order=order)
