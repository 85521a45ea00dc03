"""STC401-STC402: the transformer's weight files vs what the target transformers + torch can read."""

from __future__ import annotations

from typing import Iterator

from packaging.version import Version

from ..vocab import WeightFormat

from .base import STAGE_MODULES, SUB_TF_WEIGHTS, Context, Effect, Finding, PredictedError, judged
from .transformers import transformer_position


def check_weights(ctx: Context) -> Iterator[Finding]:
    """The transformer folder's weights against the target transformers + torch."""
    info = ctx.manifest.transformer
    transformers, torch = ctx.stack.get("transformers"), ctx.stack.get("torch")
    if info is None or transformers is None or torch is None:
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
