"""Isolated, cached virtual environments for running real Sentence Transformers releases.

The ``stcompat matrix`` command and ``tools/make_fixtures.py`` need many side-by-side
environments (one per Sentence Transformers release). This module builds them with
``uv`` so that they are cheap (uv's cache hardlinks packages) and reproducible.

Design points:

* An environment is described by an immutable :class:`EnvSpec`. Its :meth:`EnvSpec.key`
  is a short hash of the normalised spec; the venv lives at ``<cache_dir>/<key>/``.
* Torch is installed first, on its own, and then pinned with a uv *override* for every
  later install. Without that, a resolver that sees e.g. ``torchvision`` happily swaps
  a CPU torch for a multi-GB CUDA build.
* A venv is only reused when it carries the marker file, which is written last. A build
  that died half-way has no marker and is rebuilt from scratch.
* Builds happen in a temporary sibling directory (``uv venv --relocatable``) that is
  renamed into place at the end, under a per-key lock file, so concurrent builders of the
  same key never see or corrupt each other's half-built venv.

This module deliberately does not import torch, transformers or sentence_transformers:
it only drives ``uv`` in subprocesses.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Mapping, Optional, Sequence

from ..errors import EnvBuildError
from ..kb.pins import import_pins, period_pins

__all__ = [
    "CACHE_ENV_VAR",
    "MARKER_NAME",
    "EnvBuildError",
    "EnvSpec",
    "default_cache_dir",
    "ensure_env",
    "env_dir",
    "release_spec",
]

#: Environment variable that overrides the default cache directory.
CACHE_ENV_VAR = "STCOMPAT_CACHE"
#: File written inside a venv only after it was built completely.
MARKER_NAME = ".stcompat-env.json"
#: Bump when the layout or build procedure changes, so old cached envs are not reused.
_FORMAT = 1

LogFn = Callable[[str], None]


# --------------------------------------------------------------------------------------
# Spec
# --------------------------------------------------------------------------------------


def _req_name(req: str) -> str:
    """Normalised project name of a requirement string (PEP 503), e.g. ``Huggingface_Hub``."""
    m = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", req)
    if not m:
        raise ValueError(f"cannot parse requirement {req!r}")
    return re.sub(r"[-_.]+", "-", m.group(1)).lower()


def _is_wheel_path(torch: str) -> bool:
    return torch.endswith(".whl") and "@" not in torch


@dataclass(frozen=True)
class EnvSpec:
    """What goes into one environment.

    Attributes:
        python: Interpreter path or version string understood by ``uv venv --python``.
        requirements: Requirement strings installed (with dependencies) after torch.
        no_deps: Requirement strings installed last with ``--no-deps`` (used for old
            releases whose declared dependencies would pull an incompatible stack).
        torch: Requirement string (``"torch==2.13.0"``) or path to a torch wheel. It is
            installed first and kept fixed for all later installs. Note that on Linux a
            bare ``torch==X`` from PyPI is the CUDA build; pass a CPU wheel path to avoid it.
    """

    python: str
    requirements: tuple[str, ...] = ()
    no_deps: tuple[str, ...] = ()
    torch: str = "torch"

    def _normalised(self) -> dict[str, object]:
        python = self.python
        if os.sep in python or python.startswith("."):
            # A path: two spellings of the same interpreter should share one env.
            python = os.path.realpath(python)
        torch = self.torch
        if _is_wheel_path(torch):
            # Key on the wheel's file name (version + local tag), not on where it lies.
            torch = os.path.basename(torch)
        return {
            "format": _FORMAT,
            "python": python,
            # Install order of requirements does not matter to the resolver; sort them.
            "requirements": sorted(self.requirements),
            "no_deps": list(self.no_deps),
            "torch": torch,
        }

    def key(self) -> str:
        """Stable 16-hex-digit hash of the normalised spec; the env's directory name."""
        blob = json.dumps(self._normalised(), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


def release_spec(
    st_version: str,
    *,
    python: str,
    torch: str,
    period: bool = True,
    extra: Sequence[str] = (),
) -> EnvSpec:
    """Spec for one ST release: import pins, plus the exact period stack if ``period``.

    Where a period pin and an import pin name the same project, the period pin wins
    (it is the more specific, measured one). Releases without measured period pins get
    only their import pins.
    """
    base = import_pins(st_version)  # knowledge: kb/pins.py, from kb data alone
    reqs: dict[str, str] = {_req_name(r): r for r in base.requirements}
    if period:
        for r in period_pins(st_version) or ():
            reqs[_req_name(r)] = r
    for r in extra:
        reqs[_req_name(r)] = r
    no_deps = base.no_deps
    if not any(_req_name(r) == "sentence-transformers" for r in no_deps):
        reqs["sentence-transformers"] = f"sentence-transformers=={st_version}"
    return EnvSpec(python=python, requirements=tuple(reqs.values()), no_deps=no_deps, torch=torch)


# --------------------------------------------------------------------------------------
# Building
# --------------------------------------------------------------------------------------


def default_cache_dir() -> Path:
    """``$STCOMPAT_CACHE`` if set, else ``~/.cache/stcompat/envs``."""
    env = os.environ.get(CACHE_ENV_VAR)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "stcompat" / "envs"


def _venv_python(venv: Path) -> Path:
    if os.name == "nt":
        return venv / "Scripts" / "python.exe"
    return venv / "bin" / "python"


def env_dir(spec: EnvSpec, cache_dir: Optional[Path] = None) -> Path:
    """Directory an env for ``spec`` lives in (whether or not it is built yet)."""
    return Path(cache_dir or default_cache_dir()) / spec.key()


def _uv_cmd() -> list[str]:
    exe = shutil.which("uv")
    # Fall back to the uv that ``pip install uv`` put next to this interpreter.
    return [exe] if exe else [sys.executable, "-m", "uv"]


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Exclusive inter-process lock on ``path`` (POSIX flock; no-op elsewhere).

    Without a lock, a second builder still cannot corrupt the first (builds are renamed
    into place), it would only duplicate the work.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    with open(path, "a+") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def _tail(text: str, lines: int = 6) -> str:
    """Last non-empty lines of ``text`` joined into one line (for one-line errors)."""
    kept = [ln.strip() for ln in text.strip().splitlines() if ln.strip()][-lines:]
    return " | ".join(kept) or "(no output)"


def _run(cmd: list[str], step: str, key: str, cwd: Path, log: Optional[LogFn]) -> str:
    if log:
        log(f"[{key}] $ {' '.join(cmd)}")
    # UV_NO_CONFIG: ignore any uv.toml / [tool.uv] of whatever project we run next to.
    env = dict(os.environ, UV_NO_CONFIG="1")
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise EnvBuildError(
            f"env {key}: {step} failed (exit {proc.returncode}): {_tail(proc.stderr or proc.stdout)}", key, step
        )
    return proc.stdout


_LIST_DISTS = (
    "import importlib.metadata as m, json;"
    "print(json.dumps({d.metadata['Name']: d.version for d in m.distributions()}, sort_keys=True))"
)


def _torch_expectation(torch: str) -> tuple[str, str]:
    """(requirement used as uv override, version prefix the installed torch must have)."""
    if _is_wheel_path(torch):
        path = Path(torch).resolve()
        if not path.is_file():
            raise EnvBuildError(f"torch wheel not found: {path}", step="torch install")
        version = path.name.split("-")[1]  # torch-<version>-<tags>.whl
        return f"torch @ {path.as_uri()}", version
    m = re.search(r"==\s*([^\s,;]+)", torch)
    return torch, (m.group(1) if m else "")


def _build(spec: EnvSpec, tmp: Path, key: str, offline: bool, log: Optional[LogFn]) -> dict[str, str]:
    uv = _uv_cmd()
    off = ["--offline"] if offline else []
    # --relocatable: the venv is built under a temporary name and renamed into place.
    _run(uv + ["venv", "--relocatable", "--python", spec.python, *off, str(tmp)], "uv venv", key, tmp.parent, log)
    py = str(_venv_python(tmp))
    pip = uv + ["pip", "install", "--python", py, *off]

    torch_req, torch_version = _torch_expectation(spec.torch)
    # Step 1: torch alone (a wheel path is installed as-is, no index lookup for it).
    _run(pip + [spec.torch if _is_wheel_path(spec.torch) else torch_req], "torch install", key, tmp, log)

    # Step 2+: everything else, with torch overridden to exactly what step 1 installed,
    # so no dependency (torchvision, accelerate, ...) can swap it for another build.
    override = tmp / ".stcompat-overrides.txt"
    override.write_text(torch_req + "\n")
    if spec.requirements:
        _run(pip + ["--overrides", str(override), *spec.requirements], "install requirements", key, tmp, log)
    if spec.no_deps:
        _run(pip + ["--no-deps", *spec.no_deps], "install --no-deps", key, tmp, log)
    override.unlink()

    dists = json.loads(_run([py, "-c", _LIST_DISTS], "list packages", key, tmp, None))
    got = dists.get("torch", "")
    if torch_version and got.split("+")[0] != torch_version.split("+")[0]:
        raise EnvBuildError(f"env {key}: torch was replaced: expected {torch_version}, found {got or 'none'}",
                            key, "torch check")
    return dists


def ensure_env(
    spec: EnvSpec,
    cache_dir: Optional[Path] = None,
    offline: bool = False,
    log: Optional[LogFn] = None,
) -> Path:
    """Return the python of a fully built venv for ``spec``, building it if needed.

    Args:
        spec: What to install.
        cache_dir: Parent of all envs; defaults to :func:`default_cache_dir`.
        offline: Pass ``--offline`` to uv (only its cache is used; no network).
        log: Optional callable receiving progress lines (commands run).

    Raises:
        EnvBuildError: uv failed (message ends with uv's stderr tail) or torch was replaced.
    """
    root = Path(cache_dir or default_cache_dir())
    root.mkdir(parents=True, exist_ok=True)
    key = spec.key()
    final = root / key
    if (final / MARKER_NAME).is_file():
        return _venv_python(final)

    with _locked(root / f"{key}.lock"):
        # Another process may have finished the same build while we waited for the lock.
        if (final / MARKER_NAME).is_file():
            return _venv_python(final)
        if log:
            log(f"[{key}] building env: {json.dumps(spec._normalised(), sort_keys=True)}")
        tmp = Path(tempfile.mkdtemp(prefix=f".build-{key}-", dir=root))
        tmp.rmdir()  # uv venv wants to create the directory itself
        try:
            dists = _build(spec, tmp, key, offline, log)
            # Marker last: its presence means "complete". Written before the rename so the
            # final directory never exists without it (except for leftovers, see below).
            marker = {"spec": spec._normalised(), "key": key, "packages": dists}
            (tmp / MARKER_NAME).write_text(json.dumps(marker, indent=1, sort_keys=True) + "\n")
            if final.exists():
                # A leftover without a marker (e.g. from an older, non-atomic build).
                shutil.rmtree(final)
            os.replace(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            # A failed build leaves nothing behind, not even its lock file (a waiter holds the inode).
            with contextlib.suppress(OSError):
                (root / f"{key}.lock").unlink()
            raise
    return _venv_python(final)
