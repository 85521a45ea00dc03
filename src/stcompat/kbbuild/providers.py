"""Which distribution provides an imported top-level module, read from release artifacts on PyPI.

``import sentence_transformers`` imports some modules that none of the dependencies it declares holds
itself: ST <= 2.2 imports ``PIL``, which came with ``torchvision`` (whose Requires-Dist names pillow).
For each such module this finds the distribution, among the declared dependencies' own Requires-Dist,
whose wheel holds it, and which declared dependencies bring that distribution in.

Versions are those of the release's period: for each dependency, the newest release that satisfies
the specifier and was uploaded before the sentence-transformers artifact (so a rerun picks the same
files). Wheels are read with HTTP range requests, the zip's central directory and METADATA only (a torch
wheel is ~800 MB and only its file list is needed); sdists are downloaded whole (sha256-checked). What
a file holds is cached next to the downloads as ``<filename>.contents.json``. Nothing is imported.
"""

from __future__ import annotations

import io
import json
import urllib.request
import zipfile
from dataclasses import dataclass
from datetime import datetime
from email.parser import Parser
from functools import lru_cache
from typing import Iterable, Mapping

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

from . import pypi

_BLOCK = 1 << 18  # range requests fetch whole 256 KiB blocks: zipfile reads in small pieces


@dataclass(frozen=True)
class Contents:
    """What one release artifact of a dependency holds."""

    filename: str
    """The artifact read."""
    top_level: tuple[str, ...]
    """Top-level importable names it installs (packages, modules, extension modules)."""
    requires: tuple[str, ...]
    """Its base Requires-Dist (extras left out), as written."""


@dataclass(frozen=True)
class Provider:
    """Who provides one imported module that no declared dependency holds itself."""

    distribution: str | None
    """The distribution whose artifact holds the module; None when no declared dependency requires one."""
    required_by: tuple[str, ...]
    """The declared dependencies whose Requires-Dist names it, sorted."""
    found_in: str | None
    """The artifact file where the module was found."""

    def record(self) -> dict[str, object]:
        """As stored in the knowledge base."""
        return {"distribution": self.distribution, "required_by": list(self.required_by), "found_in": self.found_in}


class _RangeReader(io.RawIOBase):
    """A read-only, seekable view of a remote file, fetched block by block with HTTP range requests."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.position = 0
        self.blocks: dict[int, bytes] = {}
        tail, total = self._fetch(-65536)
        self.size = total
        start = total - len(tail)
        # keep the tail (the zip's end records) as the blocks it covers
        for index in range(start // _BLOCK, (total - 1) // _BLOCK + 1):
            low, high = index * _BLOCK, min((index + 1) * _BLOCK, total)
            if low >= start:
                self.blocks[index] = tail[low - start:high - start]

    def _fetch(self, first: int, last: int | None = None) -> tuple[bytes, int]:
        spec = f"bytes={first}" if last is None else f"bytes={first}-{last}"
        request = urllib.request.Request(self.url, headers={"Range": spec})
        with urllib.request.urlopen(request, timeout=120) as response:
            if response.status != 206:
                raise RuntimeError(f"{self.url}: no range support (HTTP {response.status})")
            total = int(response.headers["Content-Range"].rsplit("/", 1)[1])
            return response.read(), total

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.position, io.SEEK_END: self.size}[whence]
        self.position = max(0, base + offset)
        return self.position

    def readinto(self, buffer) -> int:
        end = min(self.position + len(buffer), self.size)
        if end <= self.position:
            return 0
        first, last = self.position // _BLOCK, (end - 1) // _BLOCK
        missing = [i for i in range(first, last + 1) if i not in self.blocks]
        if missing:
            low, high = missing[0] * _BLOCK, min((missing[-1] + 1) * _BLOCK, self.size) - 1
            data, _ = self._fetch(low, high)
            for index in range(missing[0], missing[-1] + 1):
                offset = index * _BLOCK - low
                self.blocks[index] = data[offset:offset + _BLOCK]
        joined = b"".join(self.blocks[i] for i in range(first, last + 1))
        start = self.position - first * _BLOCK
        chunk = joined[start:start + end - self.position]
        buffer[:len(chunk)] = chunk
        self.position += len(chunk)
        return len(chunk)


def _top_level(names: Iterable[str]) -> tuple[str, ...]:
    """Importable top-level names from a wheel's file list (``x/...``, ``x.py``, ``x.cpython-311-....so``)."""
    found: set[str] = set()
    for name in names:
        parts = name.split("/")
        if parts[0].endswith(".dist-info"):
            continue
        if parts[0].endswith(".data"):  # <name>.data/purelib/<module>/...
            if len(parts) < 3 or parts[1] not in ("purelib", "platlib"):
                continue
            parts = parts[2:]
        if len(parts) > 1:
            if parts[0].isidentifier():
                found.add(parts[0])
        elif parts[0].endswith((".py", ".so", ".pyd")):
            stem = parts[0].split(".", 1)[0]
            if stem.isidentifier():
                found.add(stem)
    return tuple(sorted(found))


def _base_requires(metadata: str) -> tuple[str, ...]:
    """Requires-Dist lines without an extra marker."""
    lines = Parser().parsestr(metadata).get_all("Requires-Dist") or []
    kept = []
    for line in lines:
        try:
            requirement = Requirement(line)
        except InvalidRequirement:
            continue
        if requirement.marker is None or "extra" not in str(requirement.marker):
            kept.append(line.strip())
    return tuple(kept)


def _wheel_contents(artifact: pypi.Artifact) -> Contents:
    with zipfile.ZipFile(io.BufferedReader(_RangeReader(artifact.url), buffer_size=_BLOCK)) as archive:
        names = archive.namelist()
        metadata = next(n for n in names if n.count("/") == 1 and n.endswith(".dist-info/METADATA"))
        text = archive.read(metadata).decode("utf-8", "replace")
    return Contents(artifact.filename, _top_level(names), _base_requires(text))


def _sdist_contents(artifact: pypi.Artifact) -> Contents:
    """An sdist's egg-info top_level.txt and requires.txt (base section), downloaded whole."""
    path = pypi.download(artifact)
    top: list[str] = []
    requires: list[str] = []
    members = dict(pypi.members(path, ("top_level.txt", "requires.txt")))
    for name, data in sorted(members.items()):
        if name.count("/") != 1 or ".egg-info/" not in name:
            continue
        lines = data.decode("utf-8", "replace").splitlines()
        if name.endswith("top_level.txt"):
            top = [line.strip() for line in lines if line.strip()]
        else:
            for line in lines:
                if line.startswith("["):
                    break  # extras and markers sections follow the base requirements
                if line.strip():
                    requires.append(line.strip())
    return Contents(artifact.filename, tuple(sorted(top)), tuple(requires))


def contents(artifact: pypi.Artifact) -> Contents:
    """What an artifact holds, cached as JSON beside the downloads."""
    cache = pypi.CACHE / artifact.name / f"{artifact.filename}.contents.json"
    if cache.is_file():
        raw = json.loads(cache.read_text())
        return Contents(raw["filename"], tuple(raw["top_level"]), tuple(raw["requires"]))
    if pypi.is_offline() and artifact.filename.endswith(".whl"):  # an sdist goes through pypi.download's check
        raise pypi.OfflineMiss(f"offline, and what {artifact.filename} holds is not in the cache ({cache.parent})")
    found = _wheel_contents(artifact) if artifact.filename.endswith(".whl") else _sdist_contents(artifact)
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps({"filename": found.filename, "top_level": list(found.top_level),
                                 "requires": list(found.requires)}))
    return found


@lru_cache(maxsize=None)
def _releases(name: str) -> Mapping[str, list[pypi.Artifact]]:
    return pypi.releases(name)


def _uploaded(artifacts: list[pypi.Artifact]) -> datetime:
    return min(datetime.fromisoformat(a.upload_time.replace("Z", "+00:00")) for a in artifacts)


def _pick(artifacts: list[pypi.Artifact]) -> pypi.Artifact:
    """A pure wheel, else a manylinux x86_64 wheel, else any wheel, else the sdist (by file name)."""
    ordered = sorted(artifacts, key=lambda a: a.filename)
    for accept in (lambda f: f.endswith("-none-any.whl"),
                   lambda f: f.endswith(".whl") and "manylinux" in f and "x86_64" in f,
                   lambda f: f.endswith(".whl")):
        chosen = [a for a in ordered if accept(a.filename)]
        if chosen:
            return chosen[0]
    return ordered[0]


def contemporary(name: str, specifier: SpecifierSet, before: datetime) -> pypi.Artifact | None:
    """The artifact of ``name``'s newest release that ``specifier`` admits, uploaded before ``before``."""
    try:
        releases = _releases(name)
    except OSError:
        return None
    chosen = [v for v, files in releases.items()
              if specifier.contains(Version(v)) and _uploaded(files) < before]
    if not chosen:
        return None
    return _pick(releases[max(chosen, key=Version)])


def _requirement(line: str) -> Requirement | None:
    try:
        return Requirement(line)
    except InvalidRequirement:
        return None


def find(declared: Iterable[str], modules: Iterable[str], uploaded: str) -> dict[str, Provider]:
    """For each of ``modules`` that no ``declared`` requirement's artifact holds, who provides it.

    ``declared`` is the release's base Requires-Dist, ``uploaded`` the ISO time of its artifact.
    """
    before = datetime.fromisoformat(uploaded.replace("Z", "+00:00"))
    direct: dict[str, Contents] = {}
    for line in declared:
        requirement = _requirement(line)
        if requirement is None:
            continue
        artifact = contemporary(canonicalize_name(requirement.name), requirement.specifier, before)
        if artifact is not None:
            direct[canonicalize_name(requirement.name)] = contents(artifact)
    held = {module for found in direct.values() for module in found.top_level}
    # second level: what the declared dependencies require, with every specifier on it
    wanted: dict[str, list[str]] = {}
    specifiers: dict[str, SpecifierSet] = {}
    for dependency, found in sorted(direct.items()):
        for line in found.requires:
            requirement = _requirement(line)
            if requirement is None:
                continue
            name = canonicalize_name(requirement.name)
            wanted.setdefault(name, []).append(dependency)
            specifiers[name] = specifiers.get(name, SpecifierSet()) & requirement.specifier
    providers: dict[str, Provider] = {}
    for module in sorted(set(modules) - held):
        # a distribution named like the module is the likely one: read it first
        candidates = sorted(wanted, key=lambda n: (n != canonicalize_name(module), n))
        providers[module] = Provider(None, (), None)
        for name in candidates:
            if name in direct:
                continue
            artifact = contemporary(name, specifiers[name], before) or contemporary(name, SpecifierSet(), before)
            if artifact is None:
                continue
            found = contents(artifact)
            if module in found.top_level:
                providers[module] = Provider(name, tuple(sorted(set(wanted[name]))), found.filename)
                break
    return providers
