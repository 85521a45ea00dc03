"""Stack: the versions of the layers below a model, and the parsing of target specifications."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from ..errors import InputError
from ..vocab import StackSource

# The layers check reasons about, by canonical distribution name ("python" is the interpreter).
LAYERS = ("sentence-transformers", "transformers", "tokenizers", "torch", "huggingface-hub", "safetensors",
          "numpy", "python")


@dataclass(frozen=True)
class Stack:
    """What one target environment holds, as far as it is known."""

    description: str
    """Where it came from, for humans: ``current environment``, the --target text, an interpreter path."""
    source: StackSource
    """Where it came from, for code: an installed environment, or specifiers."""
    versions: Mapping[str, Version]
    """Canonical layer name -> exact version, for the layers that are known."""
    ranges: Mapping[str, str] = field(default_factory=dict)
    """Layers asked for with a range (not an exact pin) and left unresolved: name -> specifier."""
    pins_added: tuple[str, ...] = ()
    """Pins added from the knowledge while completing the stack (e.g. huggingface_hub<0.26 for ST 2.2)."""
    resolved_by: str | None = None
    """The resolver that completed unpinned layers (``uv pip compile``), if one did."""
    importable: frozenset[str] | None = None
    """An installed environment: the top-level names its sys.path provides (packages, namespace folders,
    modules, extension modules; listed, never imported). None when not known (a target given as
    requirements, or a path entry that cannot be listed)."""

    @property
    def complete(self) -> bool:
        """Whether an absent layer is known to be absent (an installed env, or a resolver's answer)."""
        return self.resolved_by is not None or self.source.installed

    def get(self, layer: str) -> Version | None:
        """The exact version of a layer, or None when unknown."""
        return self.versions.get(canonicalize_name(layer) if layer != "python" else layer)

    def label(self) -> str:
        """A short name: ``sentence-transformers 2.2.2, transformers 4.30.2``."""
        st = self.get("sentence-transformers")
        tf = self.get("transformers")
        parts = [f"ST {st}" if st else "ST ?"]
        if tf:
            parts.append(f"transformers {tf}")
        return ", ".join(parts)


def _exact(requirement: Requirement) -> Version | None:
    specs = list(requirement.specifier)
    if len(specs) == 1 and specs[0].operator in ("==", "===") and "*" not in specs[0].version:
        try:
            return Version(specs[0].version)
        except InvalidVersion:
            return None
    return None


def parse_requirements(lines: list[str], source: str) -> list[Requirement]:
    """Requirement objects from specifier strings; InputError (STC004) names the bad one."""
    requirements = []
    for raw in lines:
        text = raw.split("#", 1)[0].strip()
        if not text or text.startswith("-"):  # comments and pip options (-e, --index-url, ...)
            continue
        try:
            requirements.append(Requirement(text))
        except InvalidRequirement as exc:
            raise InputError("STC004", f"{source}: cannot parse requirement {text!r} ({exc})") from None
    return requirements


def split_target(text: str) -> list[str]:
    """``"sentence-transformers==2.2.2 transformers==4.30.2"`` -> one string per requirement.

    Requirements are separated by whitespace or commas-between-names; a specifier's own spaces
    (``transformers >= 4.30``) are tolerated.
    """
    text = re.sub(r"\s*(==|!=|<=|>=|~=|<|>|===)\s*", r"\1", text.strip())
    text = re.sub(r",\s+", ",", text)
    return [part for part in text.split() if part]


def stack_from_requirements(requirements: list[Requirement], description: str,
                            source: StackSource = StackSource.TARGET) -> Stack:
    """Pins become versions; ranges are kept for the resolver."""
    versions: dict[str, Version] = {}
    ranges: dict[str, str] = {}
    for requirement in requirements:
        name = canonicalize_name(requirement.name)
        exact = _exact(requirement)
        if exact is not None:
            versions[name] = exact
        else:
            ranges[name] = str(requirement.specifier)
    return Stack(description=description, source=source, versions=versions, ranges=ranges)


def stack_from_target(text: str) -> Stack:
    """``--target "sentence-transformers==2.2.2 transformers==4.30.2 python==3.11"``."""
    parts = split_target(text)
    if not parts:
        raise InputError("STC004", "--target is empty", text)
    return stack_from_requirements(parse_requirements(parts, "--target"), text)


def stack_from_requirements_file(path: str) -> Stack:
    """``-r requirements.txt``: pins and ranges, as pip would read them (options ignored)."""
    file = Path(path)
    if not file.is_file():
        raise InputError("STC001", f"{path} does not exist", path)
    return stack_from_requirements(parse_requirements(file.read_text().splitlines(), path), f"-r {path}",
                                   StackSource.REQUIREMENTS_FILE)
