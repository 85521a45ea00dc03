"""The rich console human formats draw on, captured into text so every renderer returns a string."""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from rich.console import Console


def make_console(stderr: bool = False) -> "Console":
    """A console for this terminal, or 120 columns wide when output is not a terminal."""
    # rich is imported on first use: `stcompat --help` and JSON output stay light.
    from rich.console import Console

    # No markup, highlighting or emoji codes: strings from a model folder are data ("[/]" in a version
    # must print as typed); styles are applied with Text objects, and data passes report/safe.py.
    options = {"stderr": stderr, "markup": False, "highlight": False, "emoji": False}
    console = Console(**options)
    if not console.is_terminal:
        console = Console(width=120, **options)
    return console


def capture(draw: Callable[["Console"], None]) -> str:
    """What ``draw`` prints, as text (styled with ANSI codes when writing to a terminal)."""
    console = make_console()
    with console.capture() as captured:
        draw(console)
    return captured.get()
