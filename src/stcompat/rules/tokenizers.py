"""STC301: BPE merges stored as pairs, read by a tokenizers release that only knows strings."""

from __future__ import annotations

import json
from json.decoder import scanstring
from pathlib import Path
from typing import Iterator

from ..model.folder import ModelFolder, ReadProblem, boundary_of
from .base import STAGE_MODULES, SUB_TOKENIZER, Context, Effect, Finding, PredictedError
from .transformers import transformer_position

_WS = " \t\n\r"


def model_value_end(text: str) -> tuple[int, int] | None:
    """(line, column) where serde_json stands after reading tokenizer.json's ``model`` value.

    The old reader buffers the whole value before trying each variant of its untagged enum, so
    its error names the position just past the value's closing brace (1-based line, and the
    column counted as characters consumed on that line).
    """
    decoder = json.JSONDecoder()
    i = 0
    n = len(text)
    while i < n and text[i] in _WS:
        i += 1
    if i >= n or text[i] != "{":
        return None
    i += 1
    while i < n:
        while i < n and text[i] in _WS + ",":
            i += 1
        if i >= n or text[i] == "}":
            return None
        key, i = scanstring(text, i + 1)
        while i < n and text[i] in _WS + ":":
            i += 1
        _, end = decoder.raw_decode(text, i)
        if key == "model":
            line = text.count("\n", 0, end) + 1
            column = end - (text.rfind("\n", 0, end) + 1)
            return line, column
        i = end
    return None


def check_tokenizers(ctx: Context) -> Iterator[Finding]:
    """Pairs-format merges vs the target tokenizers."""
    version = ctx.stack.get("tokenizers")
    for tokenizer in ctx.manifest.tokenizers:
        if tokenizer.merges_format != "pairs" or version is None:
            continue
        if ctx.kb.reads_merges_pairs(version) is not False:
            continue
        rel = f"{tokenizer.folder}/tokenizer.json" if tokenizer.folder else "tokenizer.json"
        position = ""
        try:
            folder = ModelFolder.open(Path(ctx.manifest.path), boundary_of(Path(ctx.manifest.path)))
            where = model_value_end(folder.read_bytes(rel).decode("utf-8"))
            if where:
                position = f" at line {where[0]} column {where[1]}"
        except (ReadProblem, OSError, ValueError):
            pass
        first = ctx.kb.first_tokenizers_reading_pairs()
        fix = f"tokenizers>={'.'.join(first.split('.')[:2])}" if first else None
        yield Finding("STC301", Effect.FAILS,
                      f"{rel} stores BPE merges as pairs; tokenizers {version} reads only strings",
                      rel, "model.merges", PredictedError("Exception", ctx.kb.pairs_error() + position), fix=fix,
                      order=(STAGE_MODULES, transformer_position(ctx), SUB_TOKENIZER))
