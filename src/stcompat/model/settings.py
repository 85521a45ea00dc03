"""Which saved settings change what a model returns: the one definition inspect, check and matrix share.

Each is a key of config_sentence_transformers.json that a loader applies to every ``encode`` (or
``similarity``) call. A release that does not read the key loads the model fine and silently
returns something else, which is why they matter more than any other key.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

# key -> whether the value, as written, changes behaviour (a value equal to the loader's default does not).
_CHANGES_BEHAVIOUR: dict[str, Callable[[Any], bool]] = {
    # 5.x writes {"query": "", "document": ""} by default: empty prompts change nothing.
    "prompts": lambda value: isinstance(value, dict) and any(isinstance(v, str) and v for v in value.values()),
    "default_prompt_name": lambda value: bool(value),
    # cosine is the default since 3.0, and what every older release computes.
    "similarity_fn_name": lambda value: value not in (None, "cosine"),
    "truncate_dim": lambda value: value is not None,
}
BEHAVIOUR_KEYS: tuple[str, ...] = tuple(_CHANGES_BEHAVIOUR)
"""The keys, in the order they are reported."""


def behaviour_settings(config: Mapping[str, Any]) -> dict[str, Any]:
    """The behaviour-changing settings ``config`` (config_sentence_transformers.json) sets, as written."""
    return {key: config[key] for key, changes in _CHANGES_BEHAVIOUR.items() if key in config and changes(config[key])}


def lost_settings(saved: Mapping[str, Any], effective: Mapping[str, Any]) -> list[str]:
    """The saved settings a loaded model does not apply (``effective``: what the loader reports having)."""
    lost = []
    for key, value in saved.items():
        if key == "prompts":
            got = effective.get("prompts") or {}
            if any(got.get(name) != text for name, text in value.items() if text):
                lost.append("prompts ignored")
        elif effective.get(key) != value:
            lost.append(f"{key} ignored" if key == "default_prompt_name" else
                        f"{key} {value!r} ignored" if isinstance(value, str) else f"{key} {value} ignored")
    return lost
