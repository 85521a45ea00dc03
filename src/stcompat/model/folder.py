"""Safe file access inside one model folder, model discovery, and Hugging Face cache look-up.

Every read of a model goes through :class:`ModelFolder`, which refuses any path (``..`` or a
symlink) that resolves outside its boundary. The boundary is the model folder itself, or, for a
Hugging Face cache snapshot, the repo's cache folder (snapshot files are symlinks into ``blobs/``).
"""

from __future__ import annotations

import gc
import json
import math
import os
import re
import stat
from contextlib import contextmanager
from functools import cached_property
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


def problem(code: str, message: str, file: str | None = None, key: str | None = None) -> Finding:
    """A reading problem with the catalogue's default severity for ``code``."""
    return Finding(code, message, file, key)


MISSING: Any = object()
"""Returned by :meth:`ModelFolder.load_json` for a file that does not exist."""

# Bounds on what one folder may make stcompat do (docs/rules.md STC019): every read stays linear
# in the input and bounded in memory, whatever a hostile folder holds.
MAX_JSON_BYTES = 256 * 1024 * 1024
"""A tokenizer.json of a large vocabulary is tens of MB; nothing a loader reads is bigger."""
MAX_JSON_DEPTH = 64
"""Real configs nest a few levels; deeper input only serves to exhaust a recursive reader."""
MAX_FILES = 100_000
"""Files listed in one model folder tree."""


def json_depth_exceeds(value: Any, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether ``value`` nests deeper than ``limit`` (iterative: a hostile depth cannot recurse).

    Level by level, keeping only containers: a 100 MB vocabulary of scalars is scanned once, in C-speed
    comprehensions, and never held twice.
    """
    level = [value] if isinstance(value, (dict, list)) else []
    depth = 0
    while level:
        depth += 1
        if depth > limit:
            return True
        below: list[Any] = []
        for item in level:
            below.extend([child for child in (item.values() if isinstance(item, dict) else item)
                          if isinstance(child, (dict, list))])
        level = below
    return False


LFS_POINTER_PREFIX = b"version https://git-lfs.github.com/spec/"
"""How every Git LFS pointer file starts (the LFS spec); the file is ~130 bytes of text."""


def is_lfs_pointer(head: bytes) -> bool:
    """Whether a file starting with ``head`` is a Git LFS pointer instead of its content."""
    return head.startswith(LFS_POINTER_PREFIX)


def lfs_problem(rel: str) -> Finding:
    """STC021 for ``rel``."""
    return problem("STC021", f"{rel} is a Git LFS pointer, not the file's content (cloned without Git LFS)", rel)


@contextmanager
def no_gc() -> Iterator[None]:
    """The cyclic garbage collector paused: parsed JSON holds no cycles, and a collection every few
    hundred new objects makes parsing a 100 MB file quadratic (each pass walks the whole growing heap)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not standard JSON")


def loads_json(raw: bytes, strict: bool) -> tuple[Any, str | None]:
    """(value, the first non-finite number seen or None) of JSON bytes, read as the loaders read them.

    Pure: ValueError when they are not JSON (or, ``strict``, not what serde_json accepts: no
    NaN/Infinity, no number beyond a double's range), RecursionError or ValueError when they nest
    deeper than MAX_JSON_DEPTH. Shared by every JSON file of a folder and the safetensors header.
    """
    seen: list[str] = []

    def constant(name: str) -> float:
        seen.append(name)
        return float(name)

    def number(text: str) -> float:
        value = float(text)
        if not math.isfinite(value):  # 1e999: Python reads infinity, serde_json "number out of range"
            if strict:
                raise ValueError(f"number {text[:40]} is out of range")
            seen.append(text[:40])
        return value

    # Loaders open these files as UTF-8 text: no BOM sniffing, no UTF-16 (json.loads(bytes) would).
    text = raw.decode("utf-8")
    with no_gc():
        value = json.loads(text, parse_constant=_reject_constant if strict else constant, parse_float=number)
    if json_depth_exceeds(value):
        raise RecursionError(f"nests deeper than {MAX_JSON_DEPTH} levels")
    return value, seen[0] if seen else None


def parse_json(raw: bytes, rel: str, strict: bool) -> tuple[Any, str | None]:
    """:func:`loads_json` for file ``rel`` of a model folder.

    ModelReadError STC010 when a loader could not parse it, STC019 when it nests too deep.
    """
    try:
        return loads_json(raw, strict)
    except RecursionError:
        raise ModelReadError(problem("STC019", f"{rel} nests deeper than {MAX_JSON_DEPTH} levels", rel)) from None
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, int digits limit, rejected constants
        detail = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise ModelReadError(problem("STC010", f"{rel} is not valid JSON ({detail})", rel)) from None


def _kind_of(mode: int) -> str | None:
    """What a non-regular file is, for messages; None for a regular file."""
    if stat.S_ISREG(mode):
        return None
    for test, name in ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device")):
        if test(mode):
            return name
    return "not a regular file"


@dataclass(frozen=True)
class ModelFolder:
    """One model folder; all reads stay inside ``boundary`` (and, for a cache snapshot, its blobs)."""

    root: Path
    """The model folder, absolute (not symlink-resolved, so messages show the user's path)."""
    boundary: Path
    """Reads must resolve inside this folder (resolved)."""
    blobs: Path | None = None
    """For a Hugging Face cache snapshot: the repo's blobs/ folder, where the snapshot's links point.
    A link may resolve to a file directly in it, and nowhere else outside the boundary."""

    @classmethod
    def open(cls, root: Path, boundary: Path | None = None, blobs: Path | None = None) -> "ModelFolder":
        """A folder whose boundary defaults to itself."""
        root = Path(os.path.abspath(root))
        return cls(root, Path(os.path.realpath(boundary if boundary is not None else root)),
                   Path(os.path.realpath(blobs)) if blobs is not None else None)

    def _inside(self, target: Path) -> bool:
        try:
            real = Path(os.path.realpath(target))
        except (ValueError, OSError):  # NUL in a name, a symlink loop
            return False
        # String prefixes, not Path.parents: this runs for every link and every file read.
        text, boundary = str(real), str(self.boundary)
        if text == boundary or text.startswith(boundary.rstrip(os.sep) + os.sep):
            return True
        return self.blobs is not None and real.parent == self.blobs

    def locate(self, rel: str) -> Path:
        """The absolute path of ``rel``; ModelReadError STC018 for an unusable name, STC011 when it escapes."""
        if "\x00" in rel:
            raise ModelReadError(problem("STC018", f"path {rel!r} contains a NUL character", rel))
        try:
            # A lone surrogate outside surrogateescape's range (e.g. "\ud800" from JSON) has no bytes
            # on any file system; "\udcff" does (byte 0xff), and loaders open it like stcompat does.
            os.fsencode(rel)
        except UnicodeError:
            raise ModelReadError(problem("STC018", f"path {rel!r} cannot be encoded as a file name", rel)) from None
        target = self.root / rel if rel else self.root
        if not self._inside(target):
            raise ModelReadError(problem(
                "STC011", f"{rel or '.'} resolves outside the model folder; not followed", rel or "."))
        return target

    def _stat(self, rel: str) -> os.stat_result | None:
        """stat of ``rel`` following links inside the boundary; None when absent."""
        try:
            return os.stat(self.locate(rel))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise ModelReadError(problem("STC005", f"{rel}: {getattr(exc, 'strerror', None) or exc}", rel)) from None

    def exists(self, rel: str) -> bool:
        """Whether ``rel`` exists inside the boundary (an escaping path counts as absent)."""
        try:
            return self._stat(rel) is not None
        except ModelReadError:
            return False

    def is_dir(self, rel: str) -> bool:
        """Whether ``rel`` is a folder inside the boundary."""
        try:
            found = self._stat(rel)
        except ModelReadError:
            return False
        return found is not None and stat.S_ISDIR(found.st_mode)

    def listdir(self, rel: str = "") -> tuple[str, ...]:
        """Names in folder ``rel``, sorted; empty when it is absent or unreadable."""
        if not self.is_dir(rel):
            return ()
        try:
            return tuple(sorted(os.listdir(self.locate(rel))))
        except OSError:
            return ()

    def regular_file(self, rel: str) -> os.stat_result | None:
        """stat of ``rel`` when it is a regular file; None when absent; ModelReadError STC005 when something
        else (a folder, a FIFO: opening a FIFO would block) stands where a file should be."""
        found = self._stat(rel)
        if found is None:
            return None
        kind = _kind_of(found.st_mode)
        if kind is not None:
            raise ModelReadError(problem("STC005", f"{rel} is {kind}, not a file", rel))
        return found

    def size(self, rel: str) -> int:
        """Size in bytes of regular file ``rel`` (ModelReadError when it is not one)."""
        found = self.regular_file(rel)
        if found is None:
            raise ModelReadError(problem("STC005", f"{rel}: no such file", rel))
        return found.st_size

    def read_bytes(self, rel: str, start: int = 0, length: int | None = None) -> bytes:
        """Bytes of regular file ``rel`` (a slice when ``length`` is given); never more than asked."""
        self.size(rel)  # refuses a FIFO or a folder with a clear message
        try:
            # O_NONBLOCK: should a FIFO replace the file between the stat above and this open, the open
            # returns at once instead of blocking; fstat of the opened file then refuses it.
            fd = os.open(self.locate(rel), os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
        except OSError as exc:
            raise ModelReadError(problem("STC005", f"{rel}: {exc.strerror or exc}", rel)) from None
        try:
            kind = _kind_of(os.fstat(fd).st_mode)
            if kind is not None:
                raise ModelReadError(problem("STC005", f"{rel} is {kind}, not a file", rel))
            with os.fdopen(fd, "rb", closefd=False) as handle:
                handle.seek(start)
                return handle.read() if length is None else handle.read(length)
        except OSError as exc:
            raise ModelReadError(problem("STC005", f"{rel}: {exc.strerror or exc}", rel)) from None
        finally:
            os.close(fd)

    def load_json(self, rel: str, *, strict: bool = False, problems: list[Finding] | None = None) -> Any:
        """Parsed JSON of ``rel``, :data:`MISSING` when absent, read the way its loader reads it.

        Loaders read UTF-8 text: a byte order mark or a byte that is not UTF-8 fails there and here.
        ``strict`` is for files Rust's serde_json reads (tokenizer.json): NaN, Infinity and numbers out
        of a double's range are errors. Otherwise (Python's json) they parse, and each file that holds
        them adds one STC020 finding to ``problems`` when it is given.

        ModelReadError: STC005 (not a readable regular file), STC010 (not JSON), STC011 (escapes),
        STC019 (larger or deeper than the bounds), STC021 (a Git LFS pointer).
        """
        found = self.regular_file(rel)
        if found is None:
            return MISSING
        if found.st_size > MAX_JSON_BYTES:
            raise ModelReadError(problem("STC019", f"{rel} is {found.st_size} bytes, over the "
                                         f"{MAX_JSON_BYTES}-byte bound for a JSON file", rel))
        raw = self.read_bytes(rel)
        if is_lfs_pointer(raw):
            raise ModelReadError(lfs_problem(rel))
        value, nonfinite = parse_json(raw, rel, strict)
        if nonfinite and problems is not None:
            problems.append(problem("STC020", f"{rel} holds {nonfinite} (not standard JSON; Python's json "
                                    "reads it and the loader goes on with it)", rel))
        return value

    @cached_property
    def _survey(self) -> tuple[tuple["Entry", ...], bool]:
        """Every entry under the root, walked once (no symlinked folder followed), and whether the walk
        stopped at MAX_FILES. Only links need their real path checked: anything else os.walk reaches
        without following a link lies inside the root."""
        entries: list[Entry] = []
        for dirpath, dirnames, filenames in os.walk(self.root, followlinks=False):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            # Linked folders are entries to judge (they may escape); so are folders named like weights,
            # which stand where a loader expects a file.
            odd_dirs = [d for d in dirnames if os.path.islink(os.path.join(dirpath, d)) or d.endswith(WEIGHT_SUFFIXES)]
            for name in sorted(filenames) + odd_dirs:
                if len(entries) >= MAX_FILES:
                    return tuple(entries), True
                full = os.path.join(dirpath, name)
                entries.append(_entry(full, os.path.relpath(full, self.root).replace(os.sep, "/")))
        return tuple(entries), False

    def walk_files(self) -> Iterator[str]:
        """Relative paths of every regular file under the root, without following any symlinked
        folder; files that are symlinks escaping the boundary are skipped (see escaping_links)."""
        for entry in self._survey[0]:
            if entry.mode is not None and stat.S_ISREG(entry.mode) and (
                    not entry.link or self._inside(self.root / entry.rel)):
                yield entry.rel

    def odd_entries(self) -> tuple[tuple[str, str], ...]:
        """(relative path, what it is) for entries that are neither regular files nor folders (FIFOs,
        sockets, devices, broken links), folders named like weights files, and a note when the tree
        holds more than MAX_FILES entries."""
        entries, truncated = self._survey
        found = []
        for entry in entries:
            if entry.mode is None:
                found.append((entry.rel, "a broken link" if entry.link else "unreadable"))
            elif stat.S_ISDIR(entry.mode):
                if entry.rel.endswith(WEIGHT_SUFFIXES) and not entry.link:
                    found.append((entry.rel, "a folder where a weights file is expected"))
            elif _kind_of(entry.mode) is not None and (not entry.link or self._inside(self.root / entry.rel)):
                found.append((entry.rel, _kind_of(entry.mode) or "not a regular file"))
        if truncated:
            found.append((".", f"over {MAX_FILES} entries; the rest were not read"))
        return tuple(found)

    def escaping_links(self) -> tuple[str, ...]:
        """Symlinks under the root (files or folders) that resolve outside the boundary."""
        return tuple(sorted(e.rel for e in self._survey[0] if e.link and not self._inside(self.root / e.rel)))


@dataclass(frozen=True)
class Entry:
    """One entry of a model folder's tree, as the walk found it."""

    rel: str
    """Relative to the model folder, POSIX separators."""
    mode: int | None
    """st_mode through a link; None for a broken link, a loop or an unreadable entry (only the mode is
    kept: a tree of 100,000 entries must stay small)."""
    link: bool
    """Whether the entry itself is a symlink."""


def _entry(full: str, rel: str) -> Entry:
    try:
        own = os.lstat(full)
    except (OSError, ValueError):
        return Entry(rel, None, False)
    if not stat.S_ISLNK(own.st_mode):
        return Entry(rel, own.st_mode, False)
    try:
        return Entry(rel, os.stat(full).st_mode, True)
    except (OSError, ValueError):
        return Entry(rel, None, True)


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
    blobs: Path | None = None
    """For a cache snapshot: the repo's blobs/ folder its links point into (see ModelFolder.blobs)."""


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
    return Target(snapshot, snapshot, repo_id, snapshot.name, blobs_of(snapshot))


def blobs_of(model: Path) -> Path | None:
    """The repo's blobs/ folder when ``model`` is a Hugging Face cache snapshot; None otherwise."""
    if model.parent.name == "snapshots" and model.parent.parent.name.startswith("models--"):
        return model.parent.parent / "blobs"
    return None


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
        return [Target(model, model, blobs=blobs_of(model)) for model in models]
    if _REPO_ID.match(arg) and not arg.startswith((".", "/")):
        return [resolve_hf_cache(arg, cache_dir, revision)]
    raise InputError("STC001", f"{arg} does not exist")
