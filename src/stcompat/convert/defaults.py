"""What a module's constructor does with a key that is not given: the "default" a backport may drop.

A 5.4+ config holds keys an older module rejects (``include_prompt``, ``module_output_name``,
``modality_config``, ...). Dropping one is safe only when the saved value is what the newer module
would do without it, because that is what the older module always does. The defaults are facts of
the knowledge base (kbbuild/st_reader.py reads each release's ``__init__``: ``init_defaults``,
``init_falls_back``), so the answer is the same whatever sentence-transformers is installed, or none;
what the source cannot say (values inferred at load time) is measured and kept here (LEGACY_INFERENCE).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Callable, Mapping

from ..kb.query import Knowledge, knowledge

_ABSENT = object()


@dataclass(frozen=True)
class ConstructorDefaults:
    """What one class's ``__init__`` uses for each parameter left out."""

    origin: str
    """``module:Class`` the defaults were read for."""
    literal: Mapping[str, Any] = field(default_factory=dict)
    """Parameter -> its default, for defaults that are JSON literals (``True``, ``"mean"``, ``None``): the
    knowledge's ``init_defaults``."""
    falls_back: Mapping[str, str] = field(default_factory=dict)
    """Parameter whose ``None`` default means "the value of another parameter" (``module_output_name``
    -> ``module_input_name``), read from ``x if x is not None else y`` in ``__init__`` (``init_falls_back``)."""
    inferred: Mapping[str, Any] = field(default_factory=dict)
    """Parameters whose ``None`` default is inferred from the model at load time, with the value the
    inference gives a model that the older releases can load at all (see LEGACY_INFERENCE)."""

    def holds_default(self, key: str, value: Any, config: Mapping[str, Any]) -> bool:
        """Whether ``value`` for ``key`` does what leaving ``key`` out does."""
        if key in self.inferred:
            return value == self.inferred[key]
        default = self.literal.get(key, _ABSENT)
        if default is _ABSENT:
            return False
        if value == default:
            return True
        if default is None and key in self.falls_back:
            other = self.falls_back[key]
            return value == config.get(other, self.literal.get(other, _ABSENT))
        # A None default that the constructor tests for truth treats an empty container the same.
        return default is None and value in ({}, [], ())


DefaultsFn = Callable[[str], "ConstructorDefaults | None"]
"""origin (``module:Class``) -> its constructor's defaults, or None when they cannot be known."""

# What a Transformer module of 5.4+ infers, when its config leaves modality_config and
# module_output_name out, for a text model loaded with AutoModel: the forward pass, its
# last_hidden_state, as token_embeddings. Every Transformer before 5.4 computes exactly this (text
# only), and 5.4+ writes these values when it saves such a model (research/releases.md section 1:
# the 6.2.0 sentence_bert_config.json). The knowledge base has no field for inferred values yet.
LEGACY_INFERENCE: Mapping[str, Mapping[str, Any]] = {
    "Transformer": {
        "modality_config": {"text": {"method": "forward", "method_output_name": "last_hidden_state"}},
        "module_output_name": "token_embeddings",
    },
}


def defaults_in(kb: Knowledge, origin: str) -> ConstructorDefaults | None:
    """Defaults of ``origin``'s constructor as ``kb`` records them; None when it does not.

    They come from the newest release whose loader for ``origin`` records them (the plan asks with the
    newest release's origins: a key is dropped only when it holds what the newest constructor does without
    it). Rows built before the field existed (an older `stcompat kb update` cache) record nothing and
    give way to the release before. Nothing of the installed sentence-transformers is read.
    """
    for release in reversed(kb.st_releases):
        loader = release.loader(origin)
        if loader is not None and loader.init_defaults is not None:
            return ConstructorDefaults(origin, dict(loader.init_defaults), dict(loader.init_falls_back or {}),
                                       LEGACY_INFERENCE.get(loader.class_name, {}))
    return None


@lru_cache(maxsize=None)
def knowledge_defaults(origin: str) -> ConstructorDefaults | None:
    """``defaults_in`` the knowledge base (bundled, with the user's `stcompat kb update` merged): the
    plan's DefaultsFn."""
    return defaults_in(knowledge(), origin)
