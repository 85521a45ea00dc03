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


def current_stack() -> Stack:
    """This interpreter's environment (importlib.metadata; nothing is imported)."""
    versions = _versions()
    versions["python"] = Version(platform.python_version())
    return Stack(description="current environment", source=StackSource.CURRENT, versions=versions)


def interpreter_stack(python: str) -> Stack:
    """Another interpreter's environment: its sys.path is asked for, its packages' metadata read here.

    The interpreter runs with -I -S -c to print its version and path; no package of it is imported.
    """
    executable = Path(python)
    if not executable.exists():
        raise InputError("STC001", f"{python} does not exist")
    probe = "import sys, site, json; print(json.dumps([sys.version.split()[0], sys.path + site.getsitepackages()]))"
    try:
        # -I: ignore PYTHONPATH and user site; 'site' is imported only to list site-packages.
        output = subprocess.run([str(executable), "-I", "-c", probe], capture_output=True, text=True,
                                timeout=30, check=True).stdout
        version, paths = json.loads(output)
    except (OSError, subprocess.SubprocessError, ValueError) as exc:
        raise InputError("STC004", f"{python} is not a working Python interpreter ({type(exc).__name__})") from None
    versions = _versions([p for p in paths if p])
    versions["python"] = Version(version)
    return Stack(description=f"--python {python}", source=StackSource.INTERPRETER, versions=versions)
