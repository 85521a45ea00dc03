"""Which model folders a set of changed files touches (the file names pre-commit passes).

A changed file belongs to the nearest folder above it (or the folder itself) that holds
``modules.json`` or ``config_sentence_transformers.json``: a module subfolder such as
``1_Pooling/config.json`` then counts for its model, and a file outside any model for none.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

# What marks a Sentence Transformers model folder (the same files its loaders look for first).
MARKERS = ("modules.json", "config_sentence_transformers.json")


def is_model_folder(folder: Path) -> bool:
    """Whether ``folder`` holds one of the marker files."""
    return any((folder / marker).is_file() for marker in MARKERS)


def model_folder_of(changed: str | Path, root: Path) -> Path | None:
    """The model folder (relative to ``root``) that ``changed`` lies in, or None.

    The walk stops at ``root``: a folder above the repository is never a model of this commit.
    """
    path = Path(changed)
    if path.is_absolute():
        try:
            path = path.relative_to(root)
        except ValueError:
            return None
    candidates = [path, *path.parents] if (root / path).is_dir() else list(path.parents)
    for folder in candidates:
        if is_model_folder(root / folder):
            return folder
    return None


def model_folders(changed: Iterable[str | Path], root: Path | None = None) -> list[Path]:
    """The distinct model folders the changed files touch, in first-seen order, relative to ``root``."""
    base = Path.cwd() if root is None else root
    found = (model_folder_of(name, base) for name in changed)
    return list(dict.fromkeys(folder for folder in found if folder is not None))
