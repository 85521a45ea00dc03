"""STC301: BPE merges stored as pairs, read by a tokenizers release that only knows strings."""

from __future__ import annotations

from typing import Iterator

from ..vocab import MergesFormat
from .base import STAGE_MODULES, SUB_TOKENIZER, Context, Effect, Finding, PredictedError, judged
from .transformers import transformer_position


def check_tokenizers(ctx: Context) -> Iterator[Finding]:
    """Pairs-format merges vs the target tokenizers."""
    version = ctx.stack.get("tokenizers")
    for tokenizer in ctx.manifest.tokenizers:
        if tokenizer.merges_format is not MergesFormat.PAIRS or version is None:
            continue
        if ctx.kb.reads_merges_pairs(version) is not False:
            continue
        rel = f"{tokenizer.folder}/tokenizer.json" if tokenizer.folder else "tokenizer.json"
        where = tokenizer.merges_error_position  # computed by the reader: rules never open files
        position = f" at line {where[0]} column {where[1]}" if where else ""
        first = ctx.kb.first_tokenizers_reading_pairs()
        fix = f"tokenizers>={'.'.join(first.split('.')[:2])}" if first else None
        error = ctx.kb.pairs_error()
        yield judged("STC301", Effect.FAILS,
                     f"{rel} stores BPE merges as pairs; tokenizers {version} reads only strings",
                     rel, "model.merges", PredictedError("Exception", error + position) if error else None, fix=fix,
                     order=(STAGE_MODULES, transformer_position(ctx), SUB_TOKENIZER))
