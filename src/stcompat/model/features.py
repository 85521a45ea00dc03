"""The feature ids inspect reports: the one registry docs/inspect-schema.md and its test read.

A feature is something a model folder uses that some releases do not understand. Fixed ids are
listed in FEATURES; two families are built from what the folder holds: one id per module class
(``module_feature``) and one per pooling mode (``pooling_feature``).
"""

from __future__ import annotations

import re

from .settings import BEHAVIOUR_KEYS

FEATURES: dict[str, str] = {
    "prompts": "`prompts` has a non-empty prompt",
    "default_prompt_name": "`default_prompt_name` is set",
    "similarity_fn_name": "`similarity_fn_name` is set and not `cosine` (the default)",
    "truncate_dim": "`truncate_dim` is saved (ST 5.4+ writes it)",
    "requirements": "the model declares `requirements` (read by ST 6.0+)",
    "custom_module": "a module type outside `sentence_transformers`",
    "module_kwargs": "a modules.json entry has `kwargs` (ST 3.1+)",
    "include_prompt_false": "Pooling `include_prompt` is false",
    "bpe_merges_pairs": "a tokenizer.json stores BPE merges as pairs (needs tokenizers >= 0.20)",
    "safetensors_weights": "some weights are safetensors",
    "pickle_weights": "some weights are pickles",
    "remote_code": "config.json has `auto_map`",
}
"""Fixed feature id -> when it is set."""

assert set(BEHAVIOUR_KEYS) <= set(FEATURES), "every behaviour-changing setting is a feature"


def module_feature(kind: str) -> str:
    """The id of a module class: StaticEmbedding -> static_embedding, MLMTransformer -> mlm_transformer."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", kind).lower()


def pooling_feature(mode: str) -> str:
    """The id of a pooling mode in use: mean -> pooling_mean."""
    return f"pooling_{mode}"
