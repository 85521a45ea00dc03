"""Release artifacts from PyPI's JSON API, downloaded once, checked against their sha256, never installed.

Nothing here imports or runs a downloaded file: callers read members with zipfile/tarfile and ast.
"""

from __future__ import annotations

import hashlib
import json
import os
import tarfile
import threading
import urllib.request
import zipfile
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Iterator
from urllib.parse import urljoin

from packaging.version import InvalidVersion, Version

INDEX = os.environ.get("STCOMPAT_PYPI_JSON", "https://pypi.org/pypi/{name}/json")
CACHE = Path(os.environ.get("STCOMPAT_CACHE", Path.home() / ".cache" / "stcompat")) / "artifacts"
INDEX_CACHE = CACHE.parent / "index"
"""Each project's JSON document as last fetched: what an offline run lists releases from."""

# Process-wide, not thread-local: the extractors fan out over thread pools.
_OFFLINE_ALL = False
_FETCHED: dict[str, tuple[str, str]] = {}


class OfflineMiss(LookupError):
    """Offline, and the index document or artifact asked for is not in the cache."""


@contextmanager
def offline(enabled: bool = True):
    """Within the block (this thread and the extractors' worker threads), use only the cache: no request."""
    global _OFFLINE_ALL
    saved, _OFFLINE_ALL = _OFFLINE_ALL, enabled
    try:
        yield
    finally:
        _OFFLINE_ALL = saved


def is_offline() -> bool:
    """Whether requests are switched off (see ``offline``)."""
    return _OFFLINE_ALL


@dataclass(frozen=True)
class Artifact:
    """One file of one release on PyPI."""

    name: str
    """Project name as asked."""
    version: str
    """Release version."""
    filename: str
    """File name on PyPI (wheel or sdist)."""
    url: str
    """Absolute download URL."""
    sha256: str
    """Digest published by PyPI; downloads are checked against it."""
    upload_time: str
    """ISO 8601 upload time."""
    packagetype: str
    """``bdist_wheel`` or ``sdist``."""
    requires_python: str | None
    """Requires-Python as published."""

    def record(self) -> dict[str, str]:
        """What the knowledge base stores about where a fact came from."""
        return {"filename": self.filename, "sha256": self.sha256, "upload_time": self.upload_time}


def project(name: str) -> dict:
    """The project's JSON document (all releases); kept in the cache, which is all an offline run reads."""
    url = INDEX.format(name=name)
    cached = INDEX_CACHE / f"{name}.json"
    if is_offline():
        if not cached.is_file():
            raise OfflineMiss(f"offline, and no index of {name!r} is cached ({cached}); run once without --offline")
        document = json.loads(cached.read_text(encoding="utf-8"))
        document["_url"] = url
        document["_fetched"] = datetime.fromtimestamp(cached.stat().st_mtime).astimezone().isoformat()
        _FETCHED[name] = (url, document["_fetched"])
        return document
    with urllib.request.urlopen(url, timeout=60) as response:
        raw = response.read()
    document = json.loads(raw)
    cached.parent.mkdir(parents=True, exist_ok=True)
    partial = cached.with_suffix(f".{os.getpid()}.{threading.get_ident()}.part")
    partial.write_bytes(raw)
    partial.replace(cached)
    document["_url"] = url
    document["_fetched"] = datetime.now().astimezone().isoformat()
    _FETCHED[name] = (url, document["_fetched"])
    return document


def index_read(name: str) -> tuple[str, str] | None:
    """(url, when it was fetched) of the index ``project(name)`` last read in this process."""
    return _FETCHED.get(name)


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def published(artifacts: list[Artifact]) -> datetime:
    """When a release appeared: its first file's upload time."""
    return min(_time(a.upload_time) for a in artifacts)


def releases(name: str, include_prereleases: bool = False, until: datetime | None = None) -> dict[str, list[Artifact]]:
    """Version -> artifacts, sorted by version; yanked files and empty releases are left out, and so are
    releases first published after ``until`` (the knowledge as it could have been built then)."""
    document = project(name)
    found: dict[str, list[Artifact]] = {}
    for version, files in document["releases"].items():
        try:
            parsed = Version(version)
        except InvalidVersion:
            continue
        if parsed.is_prerelease and not include_prereleases:
            continue
        artifacts = [
            Artifact(name, version, f["filename"], urljoin(document["_url"], f["url"]), f["digests"]["sha256"],
                     f.get("upload_time_iso_8601") or f.get("upload_time", ""), f["packagetype"],
                     f.get("requires_python"))
            for f in files if not f.get("yanked")
        ]
        if artifacts and (until is None or published(artifacts) <= until):
            found[version] = artifacts
    return dict(sorted(found.items(), key=lambda item: Version(item[0])))


def pick(artifacts: list[Artifact], prefer: str = "wheel") -> Artifact:
    """A pure-Python wheel when there is one (``prefer="wheel"``), else the sdist (or the reverse)."""
    wheels = [a for a in artifacts if a.packagetype == "bdist_wheel" and a.filename.endswith("-none-any.whl")]
    sdists = [a for a in artifacts if a.packagetype == "sdist"]
    order = (wheels, sdists) if prefer == "wheel" else (sdists, wheels)
    for group in order:
        if group:
            return group[0]
    return artifacts[0]


def download(artifact: Artifact) -> Path:
    """The artifact's file in the local cache, downloaded and sha256-checked if needed."""
    target = CACHE / artifact.name / artifact.filename
    if target.is_file() and _sha256(target) == artifact.sha256:
        return target
    if is_offline():
        raise OfflineMiss(f"offline, and {artifact.filename} is not in the cache ({target.parent})")
    target.parent.mkdir(parents=True, exist_ok=True)
    with urllib.request.urlopen(artifact.url, timeout=300) as response:
        data = response.read()
    digest = hashlib.sha256(data).hexdigest()
    if digest != artifact.sha256:
        raise RuntimeError(f"{artifact.filename}: sha256 {digest} does not match PyPI's {artifact.sha256}")
    partial = target.with_suffix(f"{target.suffix}.{os.getpid()}.{threading.get_ident()}.part")
    partial.write_bytes(data)
    partial.replace(target)
    return target


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def members(path: Path, suffixes: tuple[str, ...] = (".py",)) -> Iterator[tuple[str, bytes]]:
    """(member name without the sdist's top folder, bytes) for files ending in ``suffixes``."""
    if path.name.endswith(".whl") or path.suffix == ".zip":
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                if info.filename.endswith(suffixes):
                    name = info.filename
                    if path.suffix == ".zip":
                        name = name.split("/", 1)[-1]
                    yield name, archive.read(info)
        return
    with tarfile.open(path) as archive:
        for info in archive.getmembers():
            if info.isfile() and info.name.endswith(suffixes):
                handle = archive.extractfile(info)
                if handle is not None:
                    yield info.name.split("/", 1)[-1], handle.read()


def metadata_text(path: Path) -> str:
    """Core metadata: the wheel's METADATA, or the sdist's top-level PKG-INFO."""
    if path.name.endswith(".whl"):
        with zipfile.ZipFile(path) as archive:
            name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
            return archive.read(name).decode("utf-8", "replace")
    with tarfile.open(path) as archive:
        for info in archive.getmembers():
            if info.name.count("/") == 1 and info.name.endswith("/PKG-INFO"):
                handle = archive.extractfile(info)
                return handle.read().decode("utf-8", "replace") if handle else ""
    return ""


def read_member(path: Path, member: str) -> bytes | None:
    """One member's bytes (member named without the sdist's top folder), or None."""
    for name, data in members(path, (member.rsplit("/", 1)[-1],)):
        if name == member:
            return data
    return None


def last_patches(all_releases: dict[str, list[Artifact]], first: Version) -> dict[str, list[Artifact]]:
    """The newest release of every minor series from ``first`` on (pre-releases left out)."""
    last: dict[tuple[int, int], str] = {}
    for version in all_releases:
        parsed = Version(version)
        if parsed >= first and not parsed.is_prerelease:
            key = (parsed.major, parsed.minor)
            if key not in last or Version(last[key]) < parsed:
                last[key] = version
    return {version: all_releases[version] for version in sorted(last.values(), key=Version)}


def earlier_patches(all_releases: dict[str, list[Artifact]], last: str) -> list[str]:
    """The releases of ``last``'s minor series before it, oldest first (pre-releases left out)."""
    minor = Version(last).release[:2]
    return [v for v in sorted(all_releases, key=Version)
            if Version(v).release[:2] == minor and not Version(v).is_prerelease and Version(v) < Version(last)]


def requires_python(metadata: str) -> str | None:
    """Requires-Python from core metadata headers."""
    for line in metadata.splitlines():
        if not line.strip():
            break
        if line.startswith("Requires-Python:"):
            return line.split(":", 1)[1].strip() or None
    return None


def last_patch_wheels(name: str, first: Version, all_releases: dict[str, list[Artifact]] | None = None
                      ) -> dict[str, Artifact]:
    """The pure-Python wheel of every minor series' last patch from ``first`` on; ValueError if one lacks it."""
    chosen = last_patches(releases(name) if all_releases is None else all_releases, first)
    artifacts = {version: pick(files, prefer="wheel") for version, files in chosen.items()}
    for version, artifact in artifacts.items():
        if not artifact.filename.endswith(".whl"):
            raise ValueError(f"{name} {version}: no pure-Python wheel")
    return artifacts


__all__ = ["Artifact", "OfflineMiss", "download", "is_offline", "offline", "published", "earlier_patches", "last_patch_wheels", "last_patches", "members", "metadata_text", "pick", "project", "read_member",
           "releases", "requires_python"]
