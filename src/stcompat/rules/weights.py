"""STC401: pickle-only transformer weights vs transformers that refuse torch.load on old torch."""

from __future__ import annotations

from typing import Iterator

from packaging.version import Version

from .base import STAGE_MODULES, SUB_TF_WEIGHTS, Context, Effect, Finding, PredictedError
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
    if "pickle" not in formats or "safetensors" in formats:
        return
    floor, message = ctx.kb.torch_load_floor(transformers)
    if floor and Version(torch.base_version) < Version(floor):
        pickle = next(w.path for w in here if w.format == "pickle")
        yield Finding("STC401", Effect.FAILS,
                      f"{pickle} is a pickle and transformers {transformers} refuses torch.load on torch {torch} "
                      f"(< {floor})", pickle, None,
                      PredictedError("ValueError", (message or "").strip()), fix=f"torch>={floor}",
                      order=(STAGE_MODULES, transformer_position(ctx), SUB_TF_WEIGHTS))
