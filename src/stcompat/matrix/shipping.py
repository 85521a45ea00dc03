"""Model folders for workers that do not share this machine's file system.

A folder is packed once (every regular file read through ModelFolder, so nothing outside the model's
boundary is read; a Hugging Face cache snapshot's links into blobs/ become plain files) and, on the
worker, written into a per-node cache keyed by its content digest, under the original folder name:
every cell of that model on that node loads the same copy. Folders larger than a limit travel by a
path the user declares shared instead. This module never imports Ray: ray_executor.py moves the
packed folder as a Ray object.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

from ..errors import ExecutorError
from ..model.folder import ModelFolder, Target
from .envs import default_cache_dir

#: Folders up to this size travel as Ray objects by default; larger ones need --shared-path.
OBJECT_LIMIT = 512 * 1024 * 1024
#: Written last into a materialised copy: its presence means "complete".
_COMPLETE = ".stcompat-shipped"


@dataclass(frozen=True)
class PackedFolder:
    """A model folder's files in memory, ready to be put in an object store."""

    name: str
    """The folder's own name (the copy keeps it: a loader may see it)."""
    origin: str
    """The folder as the driver sees it, absolute (paths in a worker's results are rewritten to it)."""
    digest: str
    """sha256 over the name, every relative path and content: the copy's cache key."""
    files: tuple[tuple[str, bytes], ...]
    """(relative POSIX path, content) of every regular file, sorted."""
    folders: tuple[str, ...]
    """Relative paths of every folder, empty ones included (ST saves some, e.g. 2_Normalize/)."""

    @property
    def size(self) -> int:
        """Bytes of file content."""
        return sum(len(content) for _, content in self.files)


@dataclass(frozen=True)
class Transfer:
    """How one model reaches the workers."""

    model: str
    """The folder, absolute."""
    size: int
    """Bytes of its regular files."""
    shared: bool
    """True: read in place through a declared shared path; False: sent as an object."""


def _tree(target: Target) -> tuple[ModelFolder, list[str], list[str]]:
    """The folder, its regular files (links followed only inside the boundary) and its folders."""
    folder = ModelFolder.open(target.root, target.boundary, target.blobs)
    files: list[str] = []
    folders: list[str] = []
    for dirpath, dirnames, filenames in os.walk(folder.root, followlinks=False):
        dirnames.sort()
        for name in dirnames:
            full = os.path.join(dirpath, name)
            if not os.path.islink(full):
                folders.append(os.path.relpath(full, folder.root).replace(os.sep, "/"))
        for name in sorted(filenames):
            rel = os.path.relpath(os.path.join(dirpath, name), folder.root).replace(os.sep, "/")
            with contextlib.suppress(Exception):  # escaping links, FIFOs, broken links: not shipped
                if folder.regular_file(rel) is not None:
                    files.append(rel)
    return folder, files, folders


def folder_size(target: Target) -> int:
    """Bytes of the regular files that would be shipped."""
    folder, files, _ = _tree(target)
    return sum(folder.size(rel) for rel in files)


def plan_transfers(targets: Sequence[Target], shared_paths: Sequence[str | Path],
                   limit: int = OBJECT_LIMIT) -> list[Transfer]:
    """Choose, by size, how each model travels; ExecutorError STC703 for a folder over ``limit`` that
    lies under no shared path (before anything starts)."""
    shared = [os.path.realpath(p) for p in shared_paths]
    found = []
    for target in targets:
        size = folder_size(target)
        real = os.path.realpath(target.root)
        under = any(real == p or real.startswith(p.rstrip(os.sep) + os.sep) for p in shared)
        if size > limit and not under:
            raise ExecutorError(
                "STC703", f"{target.root} is {_mib(size)}, over the {_mib(limit)} that travels as a Ray object; "
                "put it under a folder every node mounts at the same path and name that folder with --shared-path")
        found.append(Transfer(str(target.root), size, size > limit))
    return found


def _mib(size: int) -> str:
    return f"{size / 2**20:.1f} MiB"


def pack(target: Target) -> PackedFolder:
    """Read the folder into memory (within its boundary)."""
    folder, rels, folders = _tree(target)
    files = tuple((rel, folder.read_bytes(rel)) for rel in rels)
    name = Path(target.root).name
    digest = hashlib.sha256(b"name\0" + name.encode("utf-8", "surrogateescape"))
    for rel, content in files:
        digest.update(rel.encode("utf-8", "surrogateescape") + b"\0" + hashlib.sha256(content).digest())
    for rel in folders:
        digest.update(b"dir\0" + rel.encode("utf-8", "surrogateescape"))
    return PackedFolder(name, str(target.root), digest.hexdigest(), files, tuple(folders))


def _safe(rel: str) -> str:
    """A relative path that stays inside the copy (the packer never makes another; a check costs nothing)."""
    parts = rel.split("/")
    if not rel or rel.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"unsafe path in a shipped folder: {rel!r}")
    return os.path.join(*parts)


def materialise(packed: PackedFolder, root: Path) -> Path:
    """The folder written under ``root/<digest>/<name>`` (reused when a complete copy is there)."""
    home = root / packed.digest
    final = home / packed.name
    if (home / _COMPLETE).is_file():
        return final
    root.mkdir(parents=True, exist_ok=True)
    # Built beside the final place and renamed into it: two cells on one node never see half a copy.
    scratch = Path(tempfile.mkdtemp(prefix=f".{packed.digest[:16]}-", dir=root))
    try:
        copy = scratch / packed.name
        copy.mkdir()
        for rel in packed.folders:
            (copy / _safe(rel)).mkdir(parents=True, exist_ok=True)
        for rel, content in packed.files:
            path = copy / _safe(rel)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
        (scratch / _COMPLETE).write_text(packed.origin + "\n")
        try:
            os.replace(scratch, home)
        except OSError:  # another cell finished the same copy first
            if not (home / _COMPLETE).is_file():
                raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return final


def default_copies_dir() -> Path:
    """Where a worker keeps shipped folders: beside the environments' cache."""
    return default_cache_dir().parent / "models"


def rewrite_paths(value: Any, replacements: Mapping[str, str]) -> Any:
    """``value`` (a probe result) with every string's copy paths turned back into the driver's paths,
    so errors and warnings read as they would have locally."""
    if isinstance(value, str):
        for copy, origin in replacements.items():
            value = value.replace(copy, origin)
        return value
    if isinstance(value, Mapping):
        return {key: rewrite_paths(item, replacements) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(rewrite_paths(item, replacements) for item in value)
    return value
