"""The pins a sentence-transformers release needs to install and import at all, from knowledge-base data alone.

Nothing here looks at the interpreter that runs it: every name and version comes from kb/data
(sentence_transformers.json and huggingface_hub.json, generated from release artifacts; period_stacks.json,
copied from the fixture manifest; install_facts.json, measured by hand, each fact with its provenance).
The matrix (matrix/envs.py) installs these pins, and env/resolve.py adds them when completing a target.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Mapping

from .query import DATA, StRelease, knowledge


@dataclass(frozen=True)
class ImportPins:
    """Extra pins an ST release needs to be installed on a modern resolver and imported."""

    requirements: tuple[str, ...] = ()
    """Extra requirement strings installed with their dependencies."""
    no_deps: tuple[str, ...] = ()
    """Requirement strings installed with ``--no-deps`` (the release itself, when a declared dependency
    must not be resolved)."""
    reason: str = ""
    """Why these pins are needed (shown in logs and manifests)."""


@lru_cache(maxsize=None)
def _data(name: str) -> Mapping[str, Any]:
    path = DATA / name
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def _facts(key: str) -> Mapping[str, Any]:
    """One measured install fact (install_facts.json); empty when the file lacks it."""
    return _data("install_facts.json").get(key) or {}


def _normal(name: str) -> str:
    return name.lower().replace("_", "-")


def _mentions(requirements: list[str], name: str) -> bool:
    """Whether a requirement for ``name`` (either spelling of - and _) is already in the list."""
    return any(r.lower().startswith((name.lower(), name.lower().replace("-", "_"))) for r in requirements)


def _hub_cap(release: StRelease) -> tuple[str, str] | None:
    """(name, major.minor) of the first hub release lacking a name the release imports from the hub at import
    time (ST <= 2.2 takes ``cached_download``, gone in 0.26); the earliest such cap wins."""
    kb = knowledge()
    caps = [(name, kb.hub_first_release_without(name)) for name in release.hub_imports]
    found = [(name, version) for name, version in caps if version]
    if not found:
        return None
    name, version = min(found, key=lambda item: tuple(int(p) for p in item[1].split(".")[:2]))
    return name, ".".join(version.split(".")[:2])


def import_pins(st_version: str) -> ImportPins:
    """Minimal extra pins / no-deps installs that ``st_version`` needs to import at all:

    * a release that imports a name huggingface_hub later removed caps huggingface_hub below the first
      release without it, with the measured companions of that cap ("numpy<2");
    * a release that declares a dependency whose resolution breaks the environment (torchvision swaps
      the shared CPU torch for a CUDA build) is installed with --no-deps, beside its other declared
      dependencies, the distributions that provided what it imports only through the skipped dependency
      (PIL: pillow, required by torchvision alone) and the measured companions (tokenizers, safetensors).

    Releases that need none of these (2.3 and later) get no pins; a release the data does not cover, too.
    """
    kb = knowledge()
    release = kb.st(st_version)
    if release is None:
        return ImportPins()
    requirements: list[str] = []
    no_deps: tuple[str, ...] = ()
    reasons: list[str] = []
    hub = kb.distribution("huggingface_hub")
    cap = _hub_cap(release)
    if cap is not None and hub:
        name, version = cap
        requirements += [f"{hub}<{version}", *_facts("hub_cap_companions").get("requirements", ())]
        reasons.append(f"imports {name} from {hub}, removed in {version}")
    declared = release.requires_dist
    skipped = {dep: why for dep, why in (_facts("no_deps_dependencies").get("dependencies") or {}).items()
               if dep in declared}
    if skipped:
        shared = set(_facts("installed_separately").get("distributions", ()))
        no_deps = (f"{kb.distribution('sentence_transformers')}=={st_version}",)
        for dependency, spec in declared.items():
            if dependency in skipped or dependency in shared or _mentions(requirements, dependency):
                continue
            requirements.append(f"{dependency}{spec}")
        # what the release imports that only the skipped (or separately installed) dependencies brought in
        declared_names = {_normal(d) for d in declared}
        for provider in release.import_providers.values():
            name = provider.distribution
            if name and set(provider.required_by) <= set(skipped) | shared and _normal(name) not in declared_names \
                    and not _mentions(requirements, name):
                requirements.append(name)
        requirements += [r for r in _facts("no_deps_companions").get("requirements", ())
                         if not _mentions(requirements, r)]
        reasons += [f"declares {dependency}, {why}" for dependency, why in skipped.items()]
    return ImportPins(requirements=tuple(requirements), no_deps=no_deps, reason="; ".join(reasons))


def period_stack(st_version: str) -> Mapping[str, str] | None:
    """The measured period-correct stack of a release (layer -> version, in pin order); None if not measured."""
    row = next((r for r in _data("period_stacks.json").get("releases", ()) if r["version"] == st_version), None)
    return dict(row["stack"]) if row else None


def period_pins(st_version: str) -> tuple[str, ...] | None:
    """Exact ``name==version`` pins for a measured release, or ``None`` if unknown."""
    stack = period_stack(st_version)
    if stack is None:
        return None
    return tuple(f"{name}=={version}" for name, version in stack.items())
