"""STC401-STC402: the transformer's weight files vs what the target transformers + torch can read; STC021/STC022
there: the file transformers opens is a Git LFS pointer or cut short, and what the target raises for it."""

from __future__ import annotations

from typing import Iterator

from packaging.version import Version

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
