"""The JSON types loaders expect for the keys they use: another type is a finding (STC020), not a crash.

Only keys whose type every release agrees on are listed, and each with every type a real save
writes (``null`` where releases write it). A value of another type is passed on by the loader and
fails later or silently (Pooling ``pooling_mode: 5`` -> ``'int' object has no attribute 'lower'``),
so the reader reports it and keeps the value out of what it reports as a size or a name.
"""

from __future__ import annotations

import math
from typing import Any, Iterator, Mapping

from ..findings import Finding

# JSON type names, as messages print them.
_INT, _NUMBER, _STR, _BOOL, _LIST, _DICT, _NULL = "integer", "number", "string", "boolean", "list", "object", "null"

MODULE_ENTRY: Mapping[str, tuple[str, ...]] = {
    "idx": (_INT,), "name": (_STR,), "path": (_STR,), "type": (_STR,), "kwargs": (_LIST,),
}
"""A modules.json entry (``path`` and ``type`` have their own findings, STC010)."""
ST_CONFIG: Mapping[str, tuple[str, ...]] = {
    "__version__": (_DICT, _STR), "prompts": (_DICT,), "default_prompt_name": (_STR, _NULL),
    "similarity_fn_name": (_STR, _NULL), "truncate_dim": (_INT, _NULL), "model_type": (_STR,),
    "requirements": (_DICT, _NULL),
}
"""config_sentence_transformers.json."""
HF_CONFIG: Mapping[str, tuple[str, ...]] = {
    "model_type": (_STR,), "architectures": (_LIST, _NULL), "auto_map": (_DICT,), "transformers_version": (_STR,),
    "torch_dtype": (_STR, _NULL), "dtype": (_STR, _NULL), "hidden_size": (_INT,),
    "max_position_embeddings": (_INT,),
}
"""The transformer's config.json (transformers keeps any other key as an attribute)."""
SBERT_CONFIG: Mapping[str, tuple[str, ...]] = {"max_seq_length": (_INT, _NULL), "do_lower_case": (_BOOL,)}
"""sentence_bert_config.json (and its older per-architecture names)."""
TOKENIZER_CONFIG: Mapping[str, tuple[str, ...]] = {
    "model_max_length": (_NUMBER,), "tokenizer_class": (_STR, _NULL), "do_lower_case": (_BOOL,),
}
"""tokenizer_config.json (model_max_length: an int, or the 1e30 sentinel some saves write)."""
_POOLING_FLAGS = ("pooling_mode_cls_token", "pooling_mode_mean_tokens", "pooling_mode_max_tokens",
                  "pooling_mode_mean_sqrt_len_tokens", "pooling_mode_weightedmean_tokens", "pooling_mode_lasttoken")
MODULE_CONFIGS: Mapping[str, Mapping[str, tuple[str, ...]]] = {
    "Pooling": {"word_embedding_dimension": (_INT,), "embedding_dimension": (_INT,),
                "pooling_mode": (_STR, _LIST, _NULL), "include_prompt": (_BOOL,),
                **{flag: (_BOOL,) for flag in _POOLING_FLAGS}},
    "Dense": {"in_features": (_INT,), "out_features": (_INT,), "bias": (_BOOL,),
              "activation_function": (_STR, _NULL)},
}
"""Module configs by module class (transformer modules use SBERT_CONFIG)."""


def json_type(value: Any) -> str:
    """The JSON type name of a parsed value (a bool is a boolean, not an integer)."""
    if value is None:
        return _NULL
    if isinstance(value, bool):
        return _BOOL
    if isinstance(value, int):
        return _INT
    if isinstance(value, float):
        return _NUMBER
    if isinstance(value, str):
        return _STR
    return _LIST if isinstance(value, list) else _DICT if isinstance(value, dict) else type(value).__name__


def _fits(value: Any, expected: tuple[str, ...]) -> bool:
    kind = json_type(value)
    return kind in expected or (kind == _INT and _NUMBER in expected)


def wrong_types(data: Mapping[str, Any], schema: Mapping[str, tuple[str, ...]]) -> Iterator[tuple[str, str, str]]:
    """(key, found type, expected types) for every key of ``schema`` that ``data`` holds with another type.

    Non-finite floats are left to the file's own finding (one STC020 per file, from the reader).
    """
    for key, expected in schema.items():
        if key not in data:
            continue
        value = data[key]
        if isinstance(value, float) and not math.isfinite(value):
            continue
        if not _fits(value, expected):
            yield key, json_type(value), ", ".join(expected[:-1]) + (" or " if len(expected) > 1 else "") + expected[-1]


def type_findings(data: Mapping[str, Any], schema: Mapping[str, tuple[str, ...]], rel: str,
                  prefix: str = "") -> list[Finding]:
    """One STC020 per key of ``schema`` that ``data`` (read from ``rel``) holds with a wrong type."""
    return [Finding("STC020", f"{rel} {prefix}{key} is {_a(found)}, where the loader expects {_a(expected)}",
                    rel, f"{prefix}{key}")
            for key, found, expected in wrong_types(data, schema)]


def _a(noun: str) -> str:
    return f"an {noun}" if noun[:1] in "aeiou" else f"a {noun}"
