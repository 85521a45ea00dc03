"""STC201-STC202: the transformers layer under the Transformer module."""

from __future__ import annotations

from typing import Iterator

from .base import STAGE_MODULES, SUB_TF_CONFIG, Context, Effect, Finding, PredictedError, judged
from ..model.st_config import TRANSFORMER_KINDS


def transformer_position(ctx: Context) -> int:
    """Index of the first Transformer module (0 for a bare transformers folder)."""
    return next((i for i, m in enumerate(ctx.manifest.modules) if m.kind in TRANSFORMER_KINDS), 0)


def check_transformers(ctx: Context) -> Iterator[Finding]:
    """model_type known to the target transformers; remote code."""
    info = ctx.manifest.transformer
    if info is None:
        return
    position = transformer_position(ctx)
    if info.auto_map:
        yield judged("STC202", Effect.UNKNOWN, f"{info.config_file} auto_map runs code from the model folder",
                      info.config_file, "auto_map", order=(STAGE_MODULES, position, SUB_TF_CONFIG))
        return
    version = ctx.stack.get("transformers")
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
