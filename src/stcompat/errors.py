"""Errors that stop a command. Each carries a stable code (see rules/registry.py) and one line.

The CLI prints ``error[CODE]: message`` and exits 2; it never shows a traceback for these.
"""

from __future__ import annotations


class StcompatError(Exception):
    """Root of every error stcompat raises on purpose.

    Attributes:
        code: stable identifier documented in ``docs/rules.md`` (e.g. ``STC001``).
        message: one line, meant for a human, naming the file or value at fault.
    """

    exit_status = 2

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class InputError(StcompatError):
    """The input cannot be used at all: a missing path, no model in a folder, a bad argument."""
