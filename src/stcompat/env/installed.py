"""The installed versions of this or another interpreter's environment, read from metadata only."""

from __future__ import annotations

import importlib.metadata as metadata
import json
import platform
import subprocess
from pathlib import Path

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from ..errors import InputError
from ..vocab import StackSource
from .stack import LAYERS, Stack


def _versions(paths: list[str] | None = None) -> dict[str, Version]:
    """The layers' versions, looked up by name (parsing every METADATA of a big env costs ~0.2 s)."""
    found: dict[str, Version] = {}
    for layer in LAYERS:
        if layer == "python":
            continue
        kwargs = {"name": layer} if paths is None else {"name": layer, "path": paths}
        for dist in metadata.distributions(**kwargs):  # the first on sys.path wins, as for import
            try:
                found[canonicalize_name(layer)] = Version(dist.version)
            except (InvalidVersion, TypeError):
                continue
            break
    return found


def importable_names(paths: list[str]) -> frozenset[str] | None:
    """Top-level names an interpreter with this sys.path can import from files: every folder (a package, or
    a namespace package), ``.py`` module and extension module of each entry. None when an entry that exists
    is not a folder (a zip on sys.path: its content is not listed here)."""
    names: set[str] = set()
    for entry in paths:
        folder = Path(entry or ".")
        if not folder.exists():
            continue
        if not folder.is_dir():
            return None
        try:
            listed = list(folder.iterdir())
        except OSError:
            return None
        for item in listed:
            name = item.name
            if item.is_dir():
                if name.isidentifier():
                    names.add(name)
            elif name.endswith((".py", ".pyc", ".so", ".pyd")):
                names.add(name.split(".", 1)[0])
    return frozenset(names)


def current_stack() -> Stack:
    """This interpreter's environment (importlib.metadata; nothing is imported)."""
    import sys

    versions = _versions()
    versions["python"] = Version(platform.python_version())
    importable = importable_names([p for p in sys.path if p])
    if importable is not None:
        importable |= frozenset(sys.builtin_module_names)
    return Stack(description="current environment", source=StackSource.CURRENT, versions=versions,
                 importable=importable)


def interpreter_stack(python: str) -> Stack:
    """Another interpreter's environment: its sys.path is asked for, its packages' metadata read here.

    The interpreter runs with -I -S -c to print its version and path; no package of it is imported.
    """
    executable = Path(python)
    if not executable.exists():
        raise InputError("STC001", f"{python} does not exist")
    probe = ("import sys, site, json; print(json.dumps([sys.version.split()[0], sys.path + site.getsitepackages(), "
             "list(sys.builtin_module_names)]))")
    try:
        # -I: ignore PYTHONPATH and user site; 'site' is imported only to list site-packages.
        output = subprocess.run([str(executable), "-I", "-c", probe], capture_output=True, text=True,
                                timeout=30, check=True).stdout
        version, paths, builtin = json.loads(output)
    except (OSError, subprocess.SubprocessError, ValueError) as exc:
        raise InputError("STC004", f"{python} is not a working Python interpreter ({type(exc).__name__})") from None
    versions = _versions([p for p in paths if p])
    versions["python"] = Version(version)
    importable = importable_names([p for p in paths if p])
    if importable is not None:
        importable |= frozenset(builtin)
    return Stack(description=f"--python {python}", source=StackSource.INTERPRETER, versions=versions,
                 importable=importable)
