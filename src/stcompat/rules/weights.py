"""STC401-STC402: the transformer's weight files vs what the target transformers + torch can read; STC021/STC022
there: the file transformers opens is a Git LFS pointer or cut short, and what the target raises for it."""

from __future__ import annotations

from typing import Iterator

from packaging.version import Version

from ..model.manifest import WeightFile
from ..vocab import WeightFormat

from .base import STAGE_MODULES, SUB_TF_WEIGHTS, Context, Effect, Finding, PredictedError, judged
from .transformers import transformer_position


def _parent(path: str) -> str:
    return path.rsplit("/", 1)[0] if "/" in path else ""


def damaged_transformer_weights(ctx: Context, transformers: Version) -> tuple[str, str] | None:
    """(file, kind) of the weights file the transformer's from_pretrained opens when it is a Git LFS pointer or
    cut short: model.safetensors when the folder has it and the release reads it (it is then preferred), else
    pytorch_model.bin. ``kind`` as Knowledge.damaged_weights_error takes it (``...-truncated-header``: cut
    inside the safetensors header, an error no measurement gives)."""
    info = ctx.manifest.transformer
    if info is None:
        return None
    folder = _parent(info.config_file)
    lfs = {p.file for p in ctx.manifest.problems if p.code == "STC021"}
    truncated = {w.path: w.truncated for w in ctx.manifest.weights if w.truncated}
    present = {w.path for w in ctx.manifest.weights} | lfs
    candidates = (("pytorch_model.bin", "pickle"),)
    if ctx.kb.reads_safetensors(transformers) is not False:
        candidates = (("model.safetensors", "safetensors"),) + candidates
    for name, layer in candidates:
        path = f"{folder}/{name}".lstrip("/")
        if path in lfs:
            return path, f"{layer}-lfs-pointer"
        if truncated.get(path) == "header":
            return path, f"{layer}-truncated-header"
        if truncated.get(path):
            return path, f"{layer}-truncated"
        if path in present:
            return None  # intact, and the file that is opened
    return None


def _damaged(ctx: Context, transformers: Version, torch: Version | None) -> Iterator[Finding]:
    """The weights file transformers opens is an LFS pointer or truncated: every release fails on it; the
    fix is the real file, never a version."""
    found = damaged_transformer_weights(ctx, transformers)
    if found is None:
        return
    path, kind = found
    error = ctx.kb.damaged_weights_error(kind, transformers, torch, ctx.stack.get("safetensors"),
                                         f"{ctx.manifest.path}/{path}") if not kind.endswith("-header") else None
    lfs = kind.endswith("lfs-pointer")
    yield judged("STC021" if lfs else "STC022", Effect.FAILS,
                 f"{path} is {'a Git LFS pointer, not the weights' if lfs else 'truncated'}: transformers {transformers} "
                 "fails to load it; fetch the real file (git lfs pull)", path, None,
                 PredictedError(*error) if error else None,
                 # after STC401: transformers checks the torch version before it opens the file
                 order=(STAGE_MODULES, transformer_position(ctx), SUB_TF_WEIGHTS, 1))


def check_weights(ctx: Context) -> Iterator[Finding]:
    """The transformer folder's weights against the target transformers + torch."""
    info = ctx.manifest.transformer
    transformers, torch = ctx.stack.get("transformers"), ctx.stack.get("torch")
    if info is None or transformers is None:
        return
    yield from _damaged(ctx, transformers, torch)
    if torch is None:
        return
    yield from _not_weights_only(ctx, transformers, torch)
    yield from _dtypes_unknown_to_torch(ctx, torch)
    folder = info.config_file.rsplit("/", 1)[0] if "/" in info.config_file else ""
    here = [w for w in ctx.manifest.weights if (w.path.rsplit("/", 1)[0] if "/" in w.path else "") == folder]
    formats = {w.format for w in here}
    if formats == {WeightFormat.SAFETENSORS}:
        yield from _safetensors_only(ctx, transformers, folder)
        return
    if WeightFormat.PICKLE not in formats or WeightFormat.SAFETENSORS in formats:
        return
    floor, message = ctx.kb.torch_load_floor(transformers)
    if floor and Version(torch.base_version) < Version(floor):
        pickle = next(w.path for w in here if w.format is WeightFormat.PICKLE)
        yield judged("STC401", Effect.FAILS,
                      f"{pickle} is a pickle and transformers {transformers} refuses torch.load on torch {torch} "
                      f"(< {floor})", pickle, None,
                      PredictedError("ValueError", (message or "").strip()), fix=f"torch>={floor}",
                      order=(STAGE_MODULES, transformer_position(ctx), SUB_TF_WEIGHTS))


def _safetensors_only(ctx: Context, transformers: Version, folder: str) -> Iterator[Finding]:
    """Weights only as model.safetensors: readable only by a transformers that reads it, with safetensors."""
    reads = ctx.kb.reads_safetensors(transformers)
    if reads is None:
        return
    if reads:
        if ctx.kb.transformers_requires(transformers).get("safetensors"):
            return  # a dependency of that transformers: always installed with it
        if ctx.stack.get("safetensors") is not None or not ctx.stack.complete:
            return
        why = f"safetensors is not installed in the target (transformers {transformers} does not require it)"
    else:
        why = f"transformers {transformers} does not read model.safetensors"
    path = f"{ctx.manifest.path}/{folder}".rstrip("/")
    error = ctx.kb.no_weights_error(transformers, path)
    first = ctx.kb.first_transformers_requiring_safetensors()
    fix = f"transformers>={'.'.join(first.split('.')[:2])}" if first else None
    yield judged("STC402", Effect.FAILS, f"the transformer's weights are only model.safetensors and {why}",
                  f"{folder}/model.safetensors".lstrip("/"), None,
                  PredictedError(*error) if error else None, fix=fix,
                  order=(STAGE_MODULES, transformer_position(ctx), SUB_TF_WEIGHTS))


def _opened_pickle(ctx: Context, transformers: Version) -> WeightFile | None:
    """The transformer's pytorch_model.bin when it is the file from_pretrained opens (no model.safetensors
    the release reads beside it)."""
    info = ctx.manifest.transformer
    folder = _parent(info.config_file)
    here = {w.path: w for w in ctx.manifest.weights}
    if f"{folder}/model.safetensors".lstrip("/") in here and ctx.kb.reads_safetensors(transformers) is not False:
        return None
    found = here.get(f"{folder}/pytorch_model.bin".lstrip("/"))
    return found if found is not None and found.format is WeightFormat.PICKLE else None


def _not_weights_only(ctx: Context, transformers: Version, torch: Version) -> Iterator[Finding]:
    """STC403: the pickle references a global outside torch.load's weights-only allow-list (a numpy array,
    a training script's object). Refused where the load runs with weights_only=True: torch's own default
    from 2.6 (kb/data/torch.json, read from each wheel); whether older transformers pass it themselves is
    not in the knowledge, so an older torch gives unknown."""
    weights = _opened_pickle(ctx, transformers)
    if weights is None or not weights.pickle_globals:
        return
    policy = ctx.kb.weights_only(torch)
    allowed = policy.allowed_outside_torch if policy and policy.measured else ctx.kb.measured_weights_only_allowed()
    foreign = next((g for g in weights.pickle_globals if not g.startswith("torch.") and g not in allowed), None)
    if foreign is None:
        return
    order = (STAGE_MODULES, transformer_position(ctx), SUB_TF_WEIGHTS, 2)
    if policy is None:
        yield judged("STC403", Effect.UNKNOWN,
                     f"{weights.path} references {foreign}, outside torch.load's weights-only allow-list, and torch "
                     f"{torch} is not in the knowledge (stcompat kb update adds newer releases)", weights.path, None,
                     order=order)
        return
    if not policy.default:
        yield judged("STC403", Effect.UNKNOWN,
                     f"{weights.path} references {foreign}, outside torch.load's weights-only allow-list: torch "
                     f"{torch} loads it unless transformers {transformers} passes weights_only=True itself "
                     "(not in the knowledge)", weights.path, None, order=order)
        return
    error = ctx.kb.weights_only_error(transformers, torch, foreign, f"{ctx.manifest.path}/{weights.path}")
    yield judged("STC403", Effect.FAILS if policy.measured else Effect.UNKNOWN,
                 f"{weights.path} references {foreign}, outside torch.load's weights-only allow-list: torch {torch} "
                 "loads with weights_only=True by default (from 2.6) and refuses it; re-save the weights without "
                 "it (or as model.safetensors)", weights.path, None,
                 PredictedError(*error) if error and policy.measured else None, order=order)


def _dtypes_unknown_to_torch(ctx: Context, torch: Version) -> Iterator[Finding]:
    """STC404: a safetensors file stores a dtype the target torch does not define (float8 before 2.1, unsigned
    16-64 bit before 2.3; kb/data/torch.json, read from each wheel). No such torch installs here, so what
    safetensors then raises was never measured: unknown, naming the dtype and the first torch that has it."""
    for weights in ctx.manifest.weights:
        if weights.format is not WeightFormat.SAFETENSORS or not weights.dtypes:
            continue
        lacking = ctx.kb.torch_lacks_dtypes(torch, weights.dtypes)
        if lacking:
            first = ctx.kb.first_torch_with_dtypes(lacking)
            since = f" (torch {first} has them)" if first else ""
            yield judged("STC404", Effect.UNKNOWN,
                         f"{weights.path} stores {', '.join(lacking)} tensors, a dtype torch {torch} does not "
                         f"define{since}", weights.path, None,
                         fix=f"torch>={first}" if first else None,
                         order=(STAGE_MODULES, transformer_position(ctx), SUB_TF_WEIGHTS, 3))
