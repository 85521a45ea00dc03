"""`lock`: the requirement ranges a model is known to load with and behave as saved, from the knowledge.

sentence-transformers: the newest covered release on which check's sentence-transformers rules find
nothing wrong, back to the oldest of the unbroken run of such releases that install without extra
pins (older ones that need pins, e.g. a huggingface_hub cap, are named in a comment: one file cannot
hold both). The other layers: the model's own floors (its model_type, safetensors-only weights, BPE
merges as pairs, pickled weights) intersected with the hull of what the allowed releases declare
(Requires-Dist), capped at the newest release the knowledge has seen. Each bound says why.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Iterable

from packaging.specifiers import SpecifierSet
from packaging.version import Version

from ..env.stack import Stack
from ..errors import ConvertError
from ..kb.pins import import_pins
from ..kb.query import Knowledge, StRelease, knowledge
from ..model.manifest import ModelManifest
from ..rules.engine import ST_LAYERS, findings_for
from ..vocab import Effect, MergesFormat, StackSource, WeightFormat

# Layers a lock file names, and the knowledge file that lists each one's scanned releases.
LOCKED = (("sentence-transformers", "sentence_transformers"), ("transformers", "transformers"),
          ("tokenizers", "tokenizers"), ("huggingface-hub", "huggingface_hub"), ("torch", None))


@dataclass(frozen=True)
class Bound:
    """One end of a range and why it is there."""

    version: Version
    """The version."""
    inclusive: bool
    """``>=``/``<=`` rather than ``>``/``<``."""
    why: str
    """Where it comes from, in words."""


@dataclass(frozen=True)
class Requirement:
    """One line of the lock file."""

    name: str
    """Distribution name."""
    lower: Bound | None = None
    """The oldest that works (None: no floor known)."""
    upper: Bound | None = None
    """The newest known good (None: no cap known)."""
    exact: Version | None = None
    """--exact: the version the model was saved with."""

    @property
    def specifier(self) -> str:
        """``>=4.41.0,<=5.24.0``, ``==2.2.2`` or empty."""
        if self.exact is not None:
            return f"=={self.exact}"
        parts = []
        if self.lower is not None:
            parts.append(f"{'>=' if self.lower.inclusive else '>'}{self.lower.version}")
        if self.upper is not None:
            parts.append(f"{'<=' if self.upper.inclusive else '<'}{self.upper.version}")
        return ",".join(parts)

    @property
    def line(self) -> str:
        """The requirement with its reasons as a trailing comment."""
        why = "; ".join(b.why for b in (self.lower, self.upper) if b is not None)
        text = f"{self.name}{self.specifier}"
        return f"{text:<40}  # {why}" if why else text


@dataclass(frozen=True)
class Lock:
    """What `lock` writes."""

    model: str
    """The model folder."""
    requirements: tuple[Requirement, ...]
    """One per layer that has a bound."""
    allowed: tuple[str, ...]
    """Every sentence-transformers release in the range, oldest first."""
    notes: tuple[str, ...] = ()
    """What the file cannot say (older releases that need extra pins, ...)."""
    extra: tuple[str, ...] = ()
    """--exact: the pins the saving release needs to import at all."""

    @property
    def ends(self) -> tuple[str, str]:
        """The oldest and the newest sentence-transformers release in the range."""
        return self.allowed[0], self.allowed[-1]

    def render(self, constraints: bool = False) -> str:
        """The file: a header, one requirement a line, then the notes as comments."""
        from .. import __version__

        kind = "constraints (pip install -c FILE)" if constraints else "requirements (pip install -r FILE)"
        lines = [f"# {kind} for {self.model}", f"# written by stcompat {__version__} lock from its knowledge base"]
        lines += [r.line for r in self.requirements]
        lines += list(self.extra)
        lines += [f"# {note}" for note in self.notes]
        return "\n".join(lines) + "\n"


def _ok_releases(manifest: ModelManifest, kb: Knowledge) -> list[StRelease]:
    """Releases on which check's sentence-transformers rules find nothing that fails, degrades or is unknown."""
    found = []
    for release in kb.st_releases:
        stack = Stack("lock", StackSource.TARGET, {"sentence-transformers": release.version})
        bad = [f for f in findings_for(manifest, stack, kb, ST_LAYERS, coverage=False)
               if f.effect in (Effect.FAILS, Effect.DEGRADED, Effect.UNKNOWN)]
        if not bad:
            found.append(release)
    return found


def _hull(specs: Iterable[str | None], name: str) -> tuple[Bound | None, Bound | None]:
    """The lowest floor and the highest cap among declared specifiers (None when any one has none)."""
    lowers: list[Version] = []
    uppers: list[tuple[Version, bool]] = []
    uncapped = unfloored = False
    for text in specs:
        spec = SpecifierSet(text or "")
        floors = [Version(s.version) for s in spec if s.operator in (">=", ">", "==", "~=")]
        caps = [(Version(s.version), s.operator in ("<=", "==")) for s in spec if s.operator in ("<", "<=", "==")]
        if floors:
            lowers.append(max(floors))
        else:
            unfloored = True
        if caps:
            uppers.append(min(caps))
        else:
            uncapped = True
    why = f"declared by the allowed sentence-transformers releases for {name}"
    lower = Bound(min(lowers), True, why) if lowers and not unfloored else None
    upper = Bound(*max(uppers), why) if uppers and not uncapped else None
    return lower, upper


def _higher(a: Bound | None, b: Bound | None) -> Bound | None:
    if a is None or b is None:
        return a or b
    return a if a.version >= b.version else b


def _lower_of(a: Bound | None, b: Bound | None) -> Bound | None:
    if a is None or b is None:
        return a or b
    return a if a.version <= b.version else b


def _model_floors(manifest: ModelManifest, kb: Knowledge, allowed: list[StRelease]) -> dict[str, Bound]:
    """What the model itself needs from each layer below sentence-transformers."""
    floors: dict[str, Bound] = {}
    info = manifest.transformer
    if info is not None and info.model_type:
        first = kb.first_transformers_with(info.model_type)
        if first:
            floors["transformers"] = Bound(Version(first), True, f"first release that knows model_type "
                                                                 f"{info.model_type!r}")
    formats = {w.format for w in manifest.weights}
    if info is not None and formats == {WeightFormat.SAFETENSORS}:
        first = kb.first_transformers_requiring_safetensors()
        if first and Version(first) > floors.get("transformers", Bound(Version("0"), True, "")).version:
            floors["transformers"] = Bound(Version(first), True, "weights are model.safetensors only: first "
                                                                 "release that reads them and requires safetensors")
    if any(t.merges_format is MergesFormat.PAIRS for t in manifest.tokenizers):
        first = kb.first_tokenizers_reading_pairs()
        if first:
            floors["tokenizers"] = Bound(Version(first), True, "tokenizer.json stores BPE merges as pairs")
    if WeightFormat.PICKLE in formats and WeightFormat.SAFETENSORS not in formats:
        newest_tf = max((_declared_cap(r, "transformers") for r in allowed), default=None)
        floor, _ = kb.torch_load_floor(newest_tf) if newest_tf else (None, None)
        if floor:
            floors["torch"] = Bound(Version(floor), True, f"weights are pickles: transformers {newest_tf} refuses "
                                                          f"torch.load below torch {floor}")
    return floors


def _declared_cap(release: StRelease, name: str) -> Version | None:
    spec = SpecifierSet(release.requires_dist.get(name) or "")
    caps = [Version(s.version) for s in spec if s.operator in ("<", "<=", "==")]
    return min(caps) if caps else None


def lock(manifest: ModelManifest, kb: Knowledge | None = None, exact: bool = False) -> Lock:
    """The ranges ``manifest`` is known to load with and behave as saved (``exact``: what saved it)."""
    kb = kb or knowledge()
    if exact:
        return _exact(manifest, kb)
    ok = _ok_releases(manifest, kb)
    if not ok:
        raise ConvertError("STC759", "no covered sentence-transformers release loads the model as saved "
                                     f"(`stcompat check {manifest.path}` says why)", model=manifest.path)
    # The unbroken run of good releases that ends at the newest good one, without releases needing pins.
    order = list(kb.st_releases)
    allowed = [ok[-1]]
    for release in reversed(order[:order.index(ok[-1])]):
        if release not in ok or import_pins(str(release.version)).requirements:
            break
        allowed.insert(0, release)
    notes = []
    older = [r for r in ok if r.version < allowed[0].version]
    if older:
        pins = import_pins(str(older[-1].version))
        notes.append(f"sentence-transformers {older[0].version} to {older[-1].version} load it too, with extra pins "
                     f"({', '.join(pins.requirements[:2]) or 'none'}: {pins.reason or 'not contiguous'}); "
                     "this file leaves them out")
    coverage = kb.coverage()
    st_name = "sentence-transformers"
    reqs = [Requirement(st_name, Bound(allowed[0].version, True, "oldest release that loads it as saved"
                                        + (" without extra pins" if older else "")),
                        Bound(allowed[-1].version, True, "newest known good"))]
    floors = _model_floors(manifest, kb, allowed)
    for name, data_name in LOCKED[1:]:
        lower, upper = _hull((r.requires_dist.get(name) for r in allowed), name)
        lower = _higher(lower, floors.get(name))
        newest = coverage.get(data_name or "", {}).get("newest")
        if newest and newest != "-":
            upper = _lower_of(upper, Bound(Version(newest), True, "newest release the knowledge covers"))
        if lower is None and upper is None:
            continue
        if lower is not None and upper is not None and upper.version < lower.version:
            raise ConvertError("STC759", f"{name}: the model needs {lower.version} ({lower.why}) but the allowed "
                                         f"releases cap it at {upper.version}", model=manifest.path)
        reqs.append(Requirement(name, lower, upper))
    return Lock(manifest.path, tuple(reqs), tuple(str(r.version) for r in allowed), tuple(notes))


def _exact(manifest: ModelManifest, kb: Knowledge) -> Lock:
    saved = manifest.saved_with or {}
    version = saved.get("sentence_transformers")
    if not version:
        raise ConvertError("STC759", "the model records no sentence-transformers version "
                                     "(config_sentence_transformers.json __version__)", model=manifest.path)
    why = "what config_sentence_transformers.json says saved it"
    reqs = [Requirement("sentence-transformers", exact=Version(version), lower=Bound(Version(version), True, why))]
    for key, name in (("transformers", "transformers"), ("pytorch", "torch")):
        if saved.get(key):
            reqs.append(Requirement(name, exact=Version(saved[key].split("+")[0]),
                                    lower=Bound(Version(saved[key].split("+")[0]), True, why)))
    pins = import_pins(version)
    extra = tuple(f"{pin:<40}  # {pins.reason}" for pin in pins.requirements if pin.split("<")[0].split(">")[0]
                  .split("=")[0].replace("_", "-").lower() in ("huggingface-hub", "numpy"))
    return replace(Lock(manifest.path, tuple(reqs), (version,)), extra=extra)
