"""REPORT: one module per output format. Formatting only; nothing here decides a finding."""

from __future__ import annotations

import os


def shown_path(path: str) -> str:
    """A model path as a human wants to read it: relative to the working folder when inside it."""
    relative = os.path.relpath(path)
    return path if relative.startswith("..") else relative
