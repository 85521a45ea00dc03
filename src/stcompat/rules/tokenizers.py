"""STC301: BPE merges stored as pairs, read by a tokenizers release that only knows strings. STC025: no tokenizer
file at all next to the transformer, and what the target's AutoTokenizer does about it."""

from __future__ import annotations

from typing import Iterator

from packaging.utils import canonicalize_name

from ..vocab import MergesFormat
from .base import STAGE_MODULES, SUB_TOKENIZER, Context, Effect, Finding, PredictedError, judged
from .transformers import passed_path, transformer_position


def check_tokenizers(ctx: Context) -> Iterator[Finding]:
    """Pairs-format merges vs the target tokenizers."""
    yield from _no_tokenizer_files(ctx)
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


def _no_tokenizer_files(ctx: Context) -> Iterator[Finding]:
    """The transformer's folder holds no tokenizer file: the target's transformers raises (OSError: no
    vocabulary file resolved), converts a slow tokenizer and needs protobuf (ImportError unless sentencepiece
    or protobuf is installed), or builds a default vocabulary of special tokens (loads; every word is unknown)."""
    info, transformers = ctx.manifest.transformer, ctx.stack.get("transformers")
    if info is None or transformers is None or ctx.st is None or ctx.skips_modules:
        return
    folder = info.config_file.rsplit("/", 1)[0] if "/" in info.config_file else ""
    if any(t.folder == folder and t.files for t in ctx.manifest.tokenizers):
        return
    # A file the reader did not follow (a link out of the folder, STC011) may be a tokenizer file.
    unfollowed = [p.file or "" for p in ctx.manifest.problems if p.code == "STC011"]
    if any((f.rsplit("/", 1)[0] if "/" in f else "") == folder for f in unfollowed):
        return
    facts = ctx.kb.missing_tokenizer_files(transformers, info.model_type)
    if facts is None:
        return
    where = f"{folder}/" if folder else "the model folder"
    rel = f"{folder}/tokenizer.json" if folder else "tokenizer.json"
    # The fix is the files, never a version: said in the message (a finding's fix is a requirement).
    fix = (f"; restore the tokenizer files of {where} (tokenizer.json or the vocabulary files, tokenizer_config.json, "
           "special_tokens_map.json) from the original save")
    order = (STAGE_MODULES, transformer_position(ctx), SUB_TOKENIZER)
    behaviour = facts["behaviour"]
    if behaviour == "raises":
        path, cls = passed_path(ctx, folder), facts.get("fast_tokenizer")
        error = None
        if path is not None and cls is not None:
            error = PredictedError(facts["exception"], facts["message"].replace(
                "{pretrained_model_name_or_path}", path).replace("{cls.__name__}", cls))
        yield judged("STC025", Effect.FAILS, f"{where} has no tokenizer file: transformers {transformers} "
                     "finds no vocabulary file and raises" + fix, rel, None, error, order=order)
    elif behaviour == "converts":
        stack = ctx.stack
        named = set(stack.versions) | (set() if stack.source.installed else set(stack.ranges))
        escape = [p for p in facts.get("unless_installed", ()) if canonicalize_name(p) in named]
        # Neither transformers nor sentence-transformers requires them: absent unless the target names them.
        if escape:
            yield judged("STC025", Effect.UNKNOWN, f"{where} has no tokenizer file: transformers {transformers} "
                         f"converts a slow tokenizer, which {', '.join(escape)} in the target decides" + fix,
                         rel, None, order=order)
            return
        yield judged("STC025", Effect.FAILS, f"{where} has no tokenizer file: transformers {transformers} "
                     f"tries to convert a slow tokenizer and needs {' or '.join(facts['unless_installed'])}, "
                     "which the target lacks" + fix, rel, None, PredictedError(facts["exception"], facts["message"]),
                     order=order)
    elif behaviour == "default_vocab":
        if info.model_type in facts.get("model_types", ()):
            yield judged("STC025", Effect.DEGRADED, f"{where} has no tokenizer file: transformers {transformers} "
                         f"builds the {info.model_type} tokenizer with a default vocabulary of special tokens, "
                         "so every word maps to the unknown token" + fix, rel, None, order=order)
        else:
            yield judged("STC025", Effect.UNKNOWN, f"{where} has no tokenizer file: transformers {transformers} "
                         f"builds no default vocabulary for {info.model_type!r}" + fix, rel, None, order=order)
