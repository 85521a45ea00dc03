"""The one registry of output formats: (subject, format name) -> renderer, like pip-audit's _format/.

Every renderer takes the subject's result and returns the text to print (human tables are drawn
with rich and captured, so a table and JSON are used the same way). Renderer modules are imported
only when chosen: JSON output never pays for rich.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module
from typing import Any, Callable

from ..errors import InputError


@dataclass(frozen=True)
class Format:
    """One output format of one subject."""

    name: str
    """What users type after --format."""
    module: str
    """The report/ module that renders it."""
    function: str = "render"
    """The function in that module: ``render(result) -> str``."""
    description: str = ""
    """One line for --help."""


FORMATS: dict[str, tuple[Format, ...]] = {
    "inspect": (
        Format("table", "inspect_table", description="for people"),
        Format("json", "inspect_json", description="stcompat.inspect/1"),
    ),
    "check": (
        Format("table", "check_table", description="for people"),
        Format("json", "check_json", description="stcompat.check/1"),
        Format("markdown", "check_markdown", description="for pull requests and job summaries"),
        Format("sarif", "check_sarif", description="SARIF 2.1.0 for code scanning"),
    ),
    "matrix": (
        Format("table", "matrix_report", "render_table", "for people"),
        Format("json", "matrix_report", "render_json", "stcompat.matrix/1"),
        Format("html", "matrix_html", description="a self-contained page"),
    ),
    "verify": (
        Format("table", "verify_report", "render_table", "for people"),
        Format("json", "verify_report", "render_json", "stcompat.verify/1"),
    ),
    "kb": (
        Format("table", "kb_report", "render_table", "for people"),
        Format("json", "kb_report", "render_json", "the coverage as JSON"),
    ),
    "kb-update": (
        Format("table", "kb_report", "render_update_table", "for people"),
        Format("json", "kb_report", "render_update_json", "stcompat.kb-update/1"),
    ),
}
"""Formats by subject (a command's result type)."""


def names(subject: str, *, exclude: tuple[str, ...] = ()) -> list[str]:
    """The format names a subject offers (for the CLI's choices)."""
    return [f.name for f in FORMATS[subject] if f.name not in exclude]


def renderer(subject: str, name: str) -> Callable[[Any], str]:
    """The function that renders ``subject`` results as ``name``; InputError (STC004) when there is none."""
    for entry in FORMATS.get(subject, ()):
        if entry.name == name:
            return getattr(import_module(f"{__package__}.{entry.module}"), entry.function)
    raise InputError("STC004", f"no {name!r} format for {subject}; choose from {', '.join(names(subject))}", name)


def render(subject: str, name: str, result: Any) -> str:
    """``result`` rendered as ``name``, ending with a newline."""
    text = renderer(subject, name)(result)
    return text if text.endswith("\n") else text + "\n"
