"""Tokenizer files: which exist, and what tokenizer.json's model section says.

BPE merges are the one format break that matters across releases: tokenizers < 0.20 reads only
``"a b"`` strings; 0.20+ writes ``["a", "b"]`` pairs, which older releases reject with
"data did not match any variant of untagged enum ModelWrapper".
"""

from __future__ import annotations

from typing import Any

import json
import math
from json.decoder import scanstring

from ..findings import Finding
from ..vocab import MergesFormat
from .folder import MISSING, ModelFolder, ModelReadError, problem
from .manifest import TokenizerInfo
from .values import TOKENIZER_CONFIG, json_type, type_findings

TOKENIZER_FILES = (
    "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json",
    "vocab.txt", "vocab.json", "merges.txt", "spiece.model", "sentencepiece.bpe.model",
    "tokenizer.model", "sentencepiece.model",
)


def merges_format(merges: Any) -> MergesFormat | None:
    """strings or pairs, from the first merge entry; None for no merges."""
    if not isinstance(merges, list) or not merges:
        return None
    first = merges[0]
    if isinstance(first, str):
        return MergesFormat.STRINGS
    if isinstance(first, list):
        return MergesFormat.PAIRS
    return None


_WS = " \t\n\r"


def model_value_end(text: str) -> tuple[int, int] | None:
    """(line, column) where serde_json stands after reading tokenizer.json's ``model`` value.

    Tokenizers releases that read only string merges buffer the whole value before trying each
    variant of their untagged enum, so their error names the position just past the value's
    closing brace (1-based line, and the column counted as characters consumed on that line).
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


def _merges_error_position(folder: ModelFolder, rel: str) -> tuple[int, int] | None:
    """Where an old tokenizers release reports the pairs-format merges of ``rel``; None when unknown."""
    try:
        return model_value_end(folder.read_bytes(rel).decode("utf-8"))
    except (ModelReadError, OSError, ValueError):
        return None


def _length(value: Any) -> int | None:
    """tokenizer_config ``model_max_length`` as a length; None for what names none: NaN, +-Infinity,
    absurd sentinels (1e30, or a 4000-digit integer, compared as an int: a float of it would overflow)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return int(value) if -2**63 < value < 2**63 else None


def _model_section_types(model: dict[str, Any]) -> str | None:
    """Why tokenizers cannot deserialise this ``model`` section (a field of the wrong JSON type); None
    when its fields have types some model variant accepts."""
    checks = (("type", (str,)), ("vocab", (dict, list)), ("merges", (list,)))
    for key, types in checks:
        if key in model and not isinstance(model[key], types):
            found = json_type(model[key])
            return f"{key} is {'an' if found[:1] in 'aeiou' else 'a'} {found}"
    return None


def read_tokenizer(folder: ModelFolder, path: str, problems: list[Finding]) -> TokenizerInfo | None:
    """Tokenizer files in folder ``path``; None when there are none."""
    names = set(folder.listdir(path))
    present = tuple(name for name in TOKENIZER_FILES if name in names)
    if not present:
        return None
    prefix = f"{path}/" if path else ""
    kind = fmt = vocab_size = None
    if "tokenizer.json" in names:
        try:
            data = folder.load_json(prefix + "tokenizer.json", strict=True)  # serde_json reads it
        except ModelReadError as exc:
            problems.append(exc.finding)
            data = MISSING
        model = data.get("model") if isinstance(data, dict) else None
        wrong = _model_section_types(model) if isinstance(model, dict) else None
        if wrong:
            problems.append(problem("STC017", f"{prefix}tokenizer.json model {wrong}", prefix + "tokenizer.json",
                                    "model"))
        elif isinstance(model, dict):
            kind = model.get("type") if isinstance(model.get("type"), str) else None
            if kind is None and "merges" in model:  # very old files omit the type tag
                kind = "BPE"
            if kind == "BPE":
                fmt = merges_format(model.get("merges"))
            vocab = model.get("vocab")
            vocab_size = len(vocab) if isinstance(vocab, (dict, list)) else None
        elif data is not MISSING:
            problems.append(problem("STC017", f"{prefix}tokenizer.json has no model section",
                                    prefix + "tokenizer.json", "model"))
    tokenizer_class = model_max_length = None
    if "tokenizer_config.json" in names:
        try:
            config = folder.load_json(prefix + "tokenizer_config.json", problems=problems)
        except ModelReadError as exc:
            problems.append(exc.finding)
            config = MISSING
        if config is not MISSING and not isinstance(config, dict):
            problems.append(problem("STC010", f"{prefix}tokenizer_config.json is not a JSON object",
                                    prefix + "tokenizer_config.json"))
        if isinstance(config, dict):
            problems.extend(type_findings(config, TOKENIZER_CONFIG, prefix + "tokenizer_config.json"))
            if isinstance(config.get("tokenizer_class"), str):
                tokenizer_class = config["tokenizer_class"]
            model_max_length = _length(config.get("model_max_length"))
    position = _merges_error_position(folder, prefix + "tokenizer.json") if fmt is MergesFormat.PAIRS else None
    return TokenizerInfo(
        folder=path,
        files=present,
        kind=kind,
        merges_format=fmt,
        vocab_size=vocab_size,
        tokenizer_class=tokenizer_class,
        model_max_length=model_max_length,
        merges_error_position=position,
    )
