"""Text from a model folder is data, never markup or terminal control: the one place that makes it so.

Every human-readable output passes strings it did not write through :func:`printable`: rich markup
(``[bold]``, ``[/]``) is shown as typed, control characters (ESC, OSC, BEL, NUL, C1) are shown as
escapes instead of reaching the terminal, and lone surrogates (a non-UTF-8 file name, a ``\\ud800``
in JSON) are shown as escapes instead of failing to print. JSON output goes through
:func:`json_safe`: standard JSON only (no bare NaN or Infinity) and valid UTF-8.
"""

from __future__ import annotations

import math
import re
from typing import Any

# C0 controls except tab and newline, DEL, C1 controls, the bidi embeddings/overrides/isolates (which
# can reverse what a terminal shows), and the surrogate range.
_UNPRINTABLE = re.compile("[\\x00-\\x08\\x0b-\\x1f\\x7f-\\x9f\\u202a-\\u202e\\u2066-\\u2069\\ud800-\\udfff]")


def _escape(match: re.Match) -> str:
    code = ord(match.group(0))
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: Any) -> str:
    """``text`` as a str whose control characters and surrogates are visible escapes."""
    return _UNPRINTABLE.sub(_escape, str(text))


def one_line(text: Any) -> str:
    """:func:`printable`, with line breaks shown as ``\\n`` (for one-line messages)."""
    return printable(text).replace("\r", "\\r").replace("\n", "\\n")


def plain(text: Any) -> "Any":
    """A rich Text holding ``text`` verbatim (no markup interpreted), control characters escaped."""
    from rich.text import Text

    return Text(printable(text))


def json_safe(value: Any) -> Any:
    """``value`` with non-finite floats as strings ("NaN", "Infinity", "-Infinity") and strings made
    valid UTF-8 (surrogates escaped), iteratively: a deep value cannot exhaust the recursion limit."""
    root: list[Any] = [None]
    stack: list[tuple[Any, Any, Any]] = [(value, root, 0)]
    while stack:
        item, parent, key = stack.pop()
        if isinstance(item, float) and not math.isfinite(item):
            parent[key] = "NaN" if math.isnan(item) else ("Infinity" if item > 0 else "-Infinity")
        elif isinstance(item, str):
            parent[key] = _UNPRINTABLE.sub(_escape, item) if _has_surrogate(item) else item
        elif isinstance(item, dict):
            copy: dict[str, Any] = {}
            parent[key] = copy
            for k, v in item.items():
                name = str(k)
                name = _UNPRINTABLE.sub(_escape, name) if _has_surrogate(name) else name
                copy[name] = None
                stack.append((v, copy, name))
        elif isinstance(item, (list, tuple)):
            items: list[Any] = [None] * len(item)
            parent[key] = items
            stack.extend((v, items, i) for i, v in enumerate(item))
        else:
            parent[key] = item
    return root[0]


def _has_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
        return False
    except UnicodeEncodeError:
        return True


def dumps(value: Any, indent: int | None = 2) -> str:
    """Standard JSON text of ``value`` (see :func:`json_safe`)."""
    import json

    return json.dumps(json_safe(value), indent=indent, ensure_ascii=False, allow_nan=False, default=str)
