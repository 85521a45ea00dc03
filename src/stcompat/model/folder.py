"""Safe file access inside one model folder, model discovery, and Hugging Face cache look-up.

Every read of a model goes through :class:`ModelFolder`, which refuses any path (``..`` or a
symlink) that resolves outside its boundary. The boundary is the model folder itself, or, for a
Hugging Face cache snapshot, the repo's cache folder (snapshot files are symlinks into ``blobs/``).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from ..errors import InputError, ModelReadError
from ..findings import Finding

# Files that make a folder a model: ST writes the first two from 2.0 on; a bare transformers
# folder (config.json + weights) is also loadable by SentenceTransformer (it adds mean pooling).
ST_MARKERS = ("modules.json", "config_sentence_transformers.json")
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".onnx")
_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")
_MAX_JSON_BYTES = 256 * 1024 * 1024  # a tokenizer.json of a large vocabulary is tens of MB


def problem(code: str, message: str, file: str | None = None, key: str | None = None) -> Finding:
    """A reading problem with the catalogue's default severity for ``code``."""
    return Finding(code, message, file, key)


MISSING: Any = object()
"""Returned by :meth:`ModelFolder.load_json` for a file that does not exist."""


@dataclass(frozen=True)
class ModelFolder:
    """One model folder; all reads stay inside ``boundary``."""

    root: Path
    """The model folder, absolute (not symlink-resolved, so messages show the user's path)."""
    boundary: Path
    """Reads must resolve inside this folder (resolved)."""

    @classmethod
    def open(cls, root: Path, boundary: Path | None = None) -> "ModelFolder":
        """A folder whose boundary defaults to itself."""
        root = Path(os.path.abspath(root))
        return cls(root, Path(os.path.realpath(boundary if boundary is not None else root)))

    def _inside(self, target: Path) -> bool:
        real = Path(os.path.realpath(target))
        return real == self.boundary or self.boundary in real.parents

    def locate(self, rel: str) -> Path:
        """The absolute path of ``rel``; raises ModelReadError(STC011) when it escapes the boundary."""
        target = self.root / rel if rel else self.root
        if not self._inside(target):
            raise ModelReadError(problem(
                "STC011", f"{rel or '.'} resolves outside the model folder; not followed", rel or "."))
        return target

    def exists(self, rel: str) -> bool:
        """Whether ``rel`` exists inside the boundary (an escaping path counts as absent)."""
        try:
            return self.locate(rel).exists()
        except ModelReadError:
            return False

    def is_dir(self, rel: str) -> bool:
        """Whether ``rel`` is a folder inside the boundary."""
        try:
            return self.locate(rel).is_dir()
        except ModelReadError:
            return False

    def listdir(self, rel: str = "") -> tuple[str, ...]:
        """Names in folder ``rel``, sorted; empty when it is absent."""
        try:
            target = self.locate(rel)
        except ModelReadError:
            return ()
        if not target.is_dir():
            return ()
        return tuple(sorted(os.listdir(target)))

    def size(self, rel: str) -> int:
        """Size in bytes of file ``rel``."""
        return self.locate(rel).stat().st_size

    def read_bytes(self, rel: str, start: int = 0, length: int | None = None) -> bytes:
        """Bytes of ``rel`` (a slice when ``length`` is given); never more than asked."""
        with open(self.locate(rel), "rb") as handle:
            handle.seek(start)
            return handle.read() if length is None else handle.read(length)

    def load_json(self, rel: str) -> Any:
        """Parsed JSON of ``rel``, :data:`MISSING` when absent; ModelReadError(STC010/011) when unusable."""
        target = self.locate(rel)
        if not target.is_file():
            return MISSING
        try:
            if target.stat().st_size > _MAX_JSON_BYTES:
                raise ValueError(f"larger than {_MAX_JSON_BYTES} bytes")
            with open(target, "rb") as handle:
                return json.loads(handle.read())
        except (ValueError, UnicodeDecodeError, OSError) as exc:
            detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise ModelReadError(problem("STC010", f"{rel} is not valid JSON ({detail})", rel)) from None

    def walk_files(self) -> Iterator[str]:
        """Relative paths of every regular file under the root, without following any symlinked
        folder; files that are symlinks escaping the boundary are skipped (see escaping_links)."""
        for dirpath, dirnames, filenames in os.walk(self.root, followlinks=False):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for name in sorted(filenames):
                full = Path(dirpath) / name
                if self._inside(full) and full.is_file():
                    yield full.relative_to(self.root).as_posix()

    def escaping_links(self) -> tuple[str, ...]:
        """Symlinks under the root (files or folders) that resolve outside the boundary."""
        found = []
        for dirpath, dirnames, filenames in os.walk(self.root, followlinks=False):
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
            for name in list(dirnames) + filenames:
                full = Path(dirpath) / name
                if full.is_symlink() and not self._inside(full):
                    found.append(full.relative_to(self.root).as_posix())
        return tuple(sorted(found))


def is_model_dir(path: Path) -> bool:
    """Whether ``path`` looks like a model folder (read from file names only)."""
    if any((path / marker).is_file() for marker in ST_MARKERS):
        return True
    if not (path / "config.json").is_file():
        return False
    return any(name.endswith(WEIGHT_SUFFIXES) for name in os.listdir(path))


def discover(path: Path) -> list[Path]:
    """Model folders at or below ``path``; a model's own subfolders are not searched."""
    if is_model_dir(path):
        return [path]
    found: list[Path] = []
    for dirpath, dirnames, _ in os.walk(path, followlinks=False):
        here = Path(dirpath)
        if here != path and is_model_dir(here):
            found.append(here)
            dirnames[:] = []
            continue
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
    return sorted(found)


@dataclass(frozen=True)
class Target:
    """A model folder to read and the boundary its reads must stay in."""

    root: Path
    """The model folder."""
    boundary: Path
    """Folder that bounds every read (the argument given, or the repo's cache folder)."""
    repo_id: str | None = None
    """Set when resolved from the Hugging Face cache."""
    revision: str | None = None
    """The snapshot's commit hash when resolved from the cache."""


def resolve_hf_cache(repo_id: str, cache_dir: str | None = None, revision: str | None = None) -> Target:
    """The cached snapshot of ``repo_id``, found offline with huggingface_hub's own cache functions."""
    # Imported here: huggingface_hub costs ~20 ms and most calls name a folder.
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        snapshot = Path(snapshot_download(
            repo_id, revision=revision, cache_dir=cache_dir, local_files_only=True))
    except (LocalEntryNotFoundError, FileNotFoundError, ValueError) as exc:
        raise InputError("STC003", f"{repo_id} is not a path and not in the local Hugging Face cache "
                         f"({type(exc).__name__})") from None
    # <cache>/models--org--name/snapshots/<hash>: files there are symlinks into ../../blobs.
    repo_folder = snapshot.parent.parent
    return Target(snapshot, repo_folder, repo_id, snapshot.name)


def boundary_of(model: Path) -> Path:
    """A model's own folder, or its repo folder when it is a Hugging Face cache snapshot."""
    if model.parent.name == "snapshots" and model.parent.parent.name.startswith("models--"):
        return model.parent.parent
    return model


def targets_for(arg: str, cache_dir: str | None = None, revision: str | None = None) -> list[Target]:
    """Every model an argument names: a model folder, a folder of models, or a cached repo id."""
    path = Path(arg)
    if path.exists():
        if not path.is_dir():
            raise InputError("STC002", f"{arg} is a file; give the model folder that holds it")
        root = Path(os.path.abspath(path))
        models = discover(root)
        if not models:
            raise InputError("STC002", f"no model found in {arg} (no modules.json, "
                             "config_sentence_transformers.json, or config.json with weights)")
        return [Target(model, boundary_of(model)) for model in models]
    if _REPO_ID.match(arg) and not arg.startswith((".", "/")):
        return [resolve_hf_cache(arg, cache_dir, revision)]
    raise InputError("STC001", f"{arg} does not exist")
