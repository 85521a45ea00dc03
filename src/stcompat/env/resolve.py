"""Complete a partly pinned target with a real resolver (``uv pip compile``), never installing anything.

Old releases need pins to import at all (e.g. ST < 2.3 imports huggingface_hub.cached_download,
removed in hub 0.26); those come from the same knowledge the matrix uses, and are reported.
Results are cached by the hash of the request, so a repeated check costs nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from .stack import LAYERS, Stack

_WANTED = ("sentence-transformers", "transformers", "tokenizers", "torch", "huggingface-hub")


def _cache_dir() -> Path:
    root = os.environ.get("STCOMPAT_CACHE") or Path.home() / ".cache" / "stcompat"
    return Path(root) / "resolve"


def _uv() -> str | None:
    found = shutil.which("uv")
    if found:
        return found
    try:
        from uv import find_uv_bin  # the uv wheel ships its binary

        return find_uv_bin()
    except (ImportError, FileNotFoundError):
        return None


def _name(requirement: str) -> str:
    return canonicalize_name(Requirement(requirement).name)


def release_on_registry(name: str, version: str, timeout: float = 60) -> bool | None:
    """Whether the package registry (the index uv is configured with) has ``name==version``;
    None when that cannot be asked (no uv, no network)."""
    uv = _uv()
    if uv is None:
        return None
    try:
        result = subprocess.run([uv, "pip", "compile", "-", "--no-deps", "--no-header", "--quiet"],
                                input=f"{name}=={version}", capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if result.returncode == 0:
        return True
    # uv's own words for "there is no such version"; anything else (offline, index down) is not an answer.
    return False if "no version of" in result.stderr.lower() or "not found" in result.stderr.lower() else None


def needs_resolving(stack: Stack) -> bool:
    """Whether any layer check reasons about is missing or only given as a range."""
    return bool(stack.ranges) or any(layer not in stack.versions for layer in _WANTED)


def complete(stack: Stack, python: str | None = None, timeout: float = 120) -> Stack:
    """The stack with unpinned layers filled in by ``uv pip compile``; unchanged when that cannot run."""
    st = stack.get("sentence-transformers")
    if st is None and "sentence-transformers" not in stack.ranges:
        return stack
    py = python or (str(stack.get("python")) if stack.get("python") else None) or "3.11"
    py = ".".join(py.split(".")[:2])
    requirements = [f"{name}=={version}" for name, version in stack.versions.items() if name != "python"]
    requirements += [f"{name}{spec}" for name, spec in stack.ranges.items() if name != "python"]
    added: list[str] = []
    held_back: list[str] = []
    if st is not None:
        from ..kb.pins import import_pins  # the same pins the matrix installs, from the knowledge

        pins = import_pins(str(st))
        given = {_name(r) for r in requirements}
        for pin in pins.requirements:
            name = _name(pin)
            if name not in given and name in LAYERS:
                requirements.append(pin)
                added.append(pin)
        if pins.no_deps:  # installed without dependencies: resolve the rest without it
            held_back = [r for r in requirements if _name(r) == "sentence-transformers"]
            requirements = [r for r in requirements if r not in held_back]
    key = hashlib.sha256(json.dumps([py, sorted(requirements)]).encode()).hexdigest()[:20]
    cache = _cache_dir() / f"{key}.json"
    pinned: dict[str, str] | None = None
    if cache.is_file():
        pinned = json.loads(cache.read_text())
    else:
        uv = _uv()
        if uv is None:
            return stack
        try:
            result = subprocess.run(
                [uv, "pip", "compile", "-", "--python-version", py, "--no-header", "--no-annotate", "--quiet"],
                input="\n".join(requirements), capture_output=True, text=True, timeout=timeout)
        except (OSError, subprocess.TimeoutExpired):
            return stack
        if result.returncode != 0:
            return stack
        pinned = {}
        for line in result.stdout.splitlines():
            if "==" in line and not line.lstrip().startswith("#"):
                name, _, version = line.strip().partition("==")
                pinned[canonicalize_name(name)] = version.split(";")[0].strip()
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_text(json.dumps(pinned))
    versions = dict(stack.versions)
    for name, version in pinned.items():
        if name in LAYERS and name not in versions:
            try:
                versions[name] = Version(version)
            except InvalidVersion:
                continue
    versions.setdefault("python", Version(py))
    ranges = {name: spec for name, spec in stack.ranges.items() if name not in versions}
    return Stack(description=stack.description, source=stack.source, versions=versions, ranges=ranges,
                 pins_added=tuple(added), resolved_by="uv pip compile")
