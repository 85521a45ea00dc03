"""The fix for a failing or degraded result: which packages to move, and to which release.

A fix is a set of exact pins over the target. It must hold three ways, all judged from the knowledge:
- it clears every finding a version can clear (the whole rule set is run again on the fixed stack);
- pip can install it: every moved package's Requires-Dist (sentence-transformers' on transformers,
  huggingface-hub, tokenizers and torch; transformers' on tokenizers and huggingface-hub) admits the rest
  of the stack, and so do the Requires-Python of both (a fix `tokenizers>=0.20` under a transformers that
  caps tokenizers below 0.14 is not installable: the fix then moves transformers too);
- it is the smallest: the fewest packages moved, each by the fewest releases (the knowledge's list of
  releases: every sentence-transformers release, each minor's last patch of the others), the older
  release first when two moves are as small.

Search: the packages whose layers have findings are tried one after the other in every order; each step
moves one package to the nearest release that clears its own layers, then moves whatever that release's
requirements (or the requirements on it) rule out, to the nearest release that satisfies them. Every
complete candidate is judged whole, and the smallest one wins. Nothing here does I/O: tests/rules and
the slow proof (tests/rules/test_fixes_proven.py) install and load what this returns.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Callable, Iterable, Mapping, Sequence

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

from ..env.stack import Stack
from ..kb.query import Knowledge, specifier_allows
from ..vocab import Layer
from .base import Effect, Finding

PACKAGES = ("sentence-transformers", "transformers", "tokenizers", "huggingface-hub")
"""The packages a fix may move, in dependency order (torch and Python are the target's to choose)."""

# The layers each package's release decides (a finding in one of them is cleared by moving that package).
PACKAGE_LAYERS: dict[str, tuple[Layer, ...]] = {
    "sentence-transformers": (Layer.LOADER, Layer.ST_MODULES, Layer.ST_CONFIG, Layer.ENVIRONMENT),
    "transformers": (Layer.TRANSFORMERS, Layer.WEIGHTS),
    "tokenizers": (Layer.TOKENIZERS,),
    "huggingface-hub": (Layer.ENVIRONMENT,),
}
# Findings no release can clear (the input itself: damaged or missing files): their own fix stands.
UNVERSIONED = (Layer.INPUT,)
BLOCKING = (Effect.FAILS, Effect.DEGRADED)
_CLEARING_TRIED = 8
"""How many clearing releases of one package a step weighs (the nearest ones; a farther release that needs
fewer companions, e.g. a sentence-transformers that admits the target's huggingface-hub, is among them)."""

Judge = Callable[..., list[Finding]]
"""engine.findings_for: (manifest, stack, kb, layers, coverage=...) -> findings."""


@dataclass(frozen=True)
class Move:
    """One package moved by a fix, and why."""

    package: str
    before: Version | None
    """The target's release (None when the target did not say)."""
    after: Version
    reason: str
    """What needed it: the findings of its layers, or another release's requirement."""


@dataclass(frozen=True)
class Fix:
    """Exact pins over the target that the knowledge judges ok and pip can install."""

    moves: tuple[Move, ...]

    def requirements(self) -> tuple[str, ...]:
        """What to install, e.g. ``("sentence-transformers==5.4.0", "transformers==4.41.2")``."""
        return tuple(f"{m.package}=={m.after}" for m in self.moves)

    def notes(self) -> tuple[str, ...]:
        """One line per move: from, to, why."""
        return tuple(f"{m.package} {m.before or '(unpinned)'} -> {m.after}: {m.reason}" for m in self.moves)


def releases(kb: Knowledge, package: str) -> tuple[Version, ...]:
    """The releases of ``package`` the knowledge judges, oldest first."""
    if package == "sentence-transformers":
        return tuple(r.version for r in kb.st_releases)
    part = package.replace("-", "_")
    return tuple(sorted(Version(r["version"]) for r in kb.document(part).get("releases", ())))


def _position(scanned: Sequence[Version], version: Version | None) -> float:
    """Where ``version`` sits among the releases: its index, its minor's (the data keeps one patch of each
    minor of transformers, tokenizers and huggingface_hub), or between two; -1 when the target has none."""
    if version is None:
        return -1.0
    if version in scanned:
        return float(scanned.index(version))
    same_minor = [i for i, s in enumerate(scanned) if s.release[:2] == version.release[:2]]
    if same_minor:
        return float(same_minor[-1])
    return sum(1 for s in scanned if s < version) - 0.5


@lru_cache(maxsize=65536)
def _allows(spec: str, version: Version) -> bool:
    return specifier_allows(spec, version)


@lru_cache(maxsize=4096)
def _requirements(kb: Knowledge, package: str, version: Version) -> tuple[Mapping[str, str], str | None]:
    """(Requires-Dist on the other layers, Requires-Python) of one release, from the knowledge."""
    if package == "sentence-transformers":
        release = kb.st(version)
        return (release.requires_dist, release.requires_python) if release else ({}, None)
    if package == "transformers":
        return kb.transformers_requires(version), kb.transformers_requires_python(version)
    return {}, None


def conflicts(kb: Knowledge, versions: Mapping[str, Version]) -> list[tuple[str, str, str]]:
    """(requiring package, required package, specifier) for every requirement the stack breaks."""
    return _conflicts(lambda package, version: _requirements(kb, package, version), versions)


def _conflicts(requirements, versions: Mapping[str, Version]) -> list[tuple[str, str, str]]:
    found = []
    python = versions.get("python")
    for package in ("sentence-transformers", "transformers"):
        version = versions.get(package)
        if version is None:
            continue
        requires, requires_python = requirements(package, version)
        for name, spec in requires.items():
            if name in versions and spec and not _allows(spec, versions[name]):
                found.append((package, name, spec))
        if python is not None and requires_python and not _allows(requires_python, python):
            found.append((package, "python", requires_python))
    return found


def _blocking(findings: Iterable[Finding]) -> list[Finding]:
    return [f for f in findings if f.effect in BLOCKING and f.layer not in UNVERSIONED]


class _Search:
    """One model against one target: the judge, the releases, and what each trial stack costs."""

    def __init__(self, manifest, stack: Stack, kb: Knowledge, judge: Judge) -> None:
        self.manifest, self.stack, self.kb, self.judge = manifest, stack, kb, judge
        self.codes: frozenset[str] = frozenset()  # the codes blocking on the target itself
        self.scanned = {p: releases(kb, p) for p in PACKAGES}
        self.start = {p: stack.get(p) for p in PACKAGES}
        self.bounds: dict[str, SpecifierSet] = {}
        self.memo: dict[tuple, list[Finding]] = {}
        self.index = {p: {v: i for i, v in enumerate(self.scanned[p])} for p in PACKAGES}
        self.origin = {p: _position(self.scanned[p], self.start[p]) for p in PACKAGES}
        self.requires: dict[tuple[str, Version], tuple[Mapping[str, str], str | None]] = {}
        self.ordered: dict[str, list[Version]] = {}
        self.lacks: dict[tuple[Version, Version], tuple[str, ...]] = {}

    def requirements(self, package: str, version: Version) -> tuple[Mapping[str, str], str | None]:
        key = (package, version)
        if key not in self.requires:
            self.requires[key] = _requirements(self.kb, package, version)
        return self.requires[key]

    def lacking(self, st: Version, transformers: Version) -> tuple[str, ...]:
        """What that sentence-transformers imports from transformers submodules and that transformers lacks
        (2.4.0 declares transformers>=4.32.0 but imports is_nltk_available, added in 4.34)."""
        key = (st, transformers)
        if key not in self.lacks:
            release = self.kb.st(st)
            found = self.kb.transformers_lacks(transformers, release.transformers_imports) if release else None
            self.lacks[key] = found or ()
        return self.lacks[key]

    def conflicts(self, versions: Mapping[str, Version]) -> list[tuple[str, str, str]]:
        found = _conflicts(self.requirements, versions)
        st, transformers = versions.get("sentence-transformers"), versions.get("transformers")
        if st is not None and transformers is not None:
            found += [("sentence-transformers", "transformers", f" defining {pair.replace(':', '.')} (imported)")
                      for pair in self.lacking(st, transformers)[:1]]
        return found

    def bound_by(self, findings: Iterable[Finding]) -> None:
        """A finding's own fix on one package (``transformers>=4.30``: the first release that reads the
        weights *and* depends on safetensors) bounds that package's candidates: the rule knows more than
        whether the finding clears."""
        for finding in findings:
            try:
                requirement = Requirement(finding.fix or "")
            except InvalidRequirement:
                continue
            name = canonicalize_name(requirement.name)
            if name in PACKAGES and requirement.specifier:
                self.bounds[name] = self.bounds.get(name, SpecifierSet()) & requirement.specifier

    def trial(self, versions: Mapping[str, Version]) -> Stack:
        return replace(self.stack, versions={**self.stack.versions, **versions})

    def cost(self, package: str, version: Version) -> tuple[float, Version]:
        """Releases moved over (the knowledge's list), then the version: the older of two equal moves first."""
        return abs(self.index[package][version] - self.origin[package]), version

    def candidates(self, package: str) -> list[Version]:
        """The package's other releases, nearest first, within what the findings' own fixes ask of it."""
        if package not in self.ordered:
            current, bound = self.start[package], self.bounds.get(package)
            self.ordered[package] = sorted((v for v in self.scanned[package] if (current is None or v != current)
                                            and (bound is None or bound.contains(v, prereleases=True))),
                                           key=lambda v: self.cost(package, v))
        return self.ordered[package]

    def blocking(self, versions: Mapping[str, Version], layers: tuple[Layer, ...] | None) -> list[Finding]:
        """The blocking findings of ``layers`` (None: every rule) on the target with ``versions`` moved;
        judged once per distinct trial (the orders the search tries meet the same stacks)."""
        key = (layers, tuple(sorted((p, str(v)) for p, v in versions.items() if v != self.start[p])))
        if key not in self.memo:
            trial = self.trial(versions)
            found = (self.judge(self.manifest, trial, self.kb) if layers is None
                     else self.judge(self.manifest, trial, self.kb, layers, coverage=False))
            # A code that blocked on the target and is only unknown on the trial (a release the knowledge
            # covers less) is not cleared: a fix must be judged ok, not merely not judged.
            self.memo[key] = _blocking(found) + [f for f in found if f.effect is Effect.UNKNOWN
                                                 and f.code in self.codes and f.layer not in UNVERSIONED]
        return self.memo[key]

    def clears(self, versions: Mapping[str, Version], package: str) -> bool:
        return not self.blocking(versions, PACKAGE_LAYERS[package])

    def step(self, versions: dict[str, Version], package: str, reasons: dict[str, str], chosen: set[str],
             blocking: Sequence[Finding]) -> tuple[dict[str, Version], dict[str, str]] | None:
        """Move ``package`` to a release that clears its layers and settle the rest: of the first few releases
        that clear, the one whose settled stack moves the fewest packages by the fewest releases."""
        best = None
        tried = 0
        already = sum(1 for p, v in versions.items() if v != self.start[p])
        layers = tuple(layer for layer in PACKAGE_LAYERS[package] if any(f.layer is layer for f in blocking))
        for candidate in self.candidates(package):
            if tried >= _CLEARING_TRIED or (best is not None and best[0][0] == already + 1):
                break  # weighed enough, or found one that moves no companion: nothing farther does better
            trial = {**versions, package: candidate}
            # the layers at fault first (cheap), then all of the package's layers for a candidate that passes
            if self.blocking(trial, layers) or not self.clears(trial, package):
                continue
            tried += 1
            moved, why = {**versions, package: candidate}, dict(reasons)
            why[package] = f"clears {', '.join(sorted({f.code for f in blocking}))}"
            if not self.settle(moved, why, chosen | {package}):
                continue
            key = self.total({p: v for p, v in moved.items() if v != self.start[p]})
            if best is None or key < best[0]:
                best = (key, moved, why)
        return None if best is None else (best[1], best[2])

    def _fits(self, versions: Mapping[str, Version], package: str, version: Version, settled: set[str]) -> bool:
        """Whether ``package`` at ``version`` keeps every requirement between it and the ``settled`` packages
        (the ones that will not move again); the others are moved in later rounds if they must."""
        trial = {**self.stack.versions, **versions}
        requires, requires_python = self.requirements(package, version)
        for other in settled:
            held = trial.get(other)
            if held is None:
                continue
            if other == "python":
                if requires_python and not _allows(requires_python, held):
                    return False
                continue
            spec = requires.get(other)
            if spec and not _allows(spec, held):
                return False
            if other in ("sentence-transformers", "transformers"):
                theirs = self.requirements(other, held)[0].get(package)
                if theirs and not _allows(theirs, version):
                    return False
            pair = {package: version, other: held}
            if {"sentence-transformers", "transformers"} <= set(pair) and \
                    self.lacking(pair["sentence-transformers"], pair["transformers"]):
                return False
        return True

    def settle(self, versions: dict[str, Version], reasons: dict[str, str], chosen: set[str]) -> bool:
        """Make the stack installable: for each broken requirement, move the package that was not chosen to
        clear findings (the required one into the range, else the requirer to a release that admits the
        rest) to the nearest release that fits. False when nothing fits (e.g. Python or torch rule it out)."""
        for _ in range(2 * len(PACKAGES)):
            broken = self.conflicts({**self.stack.versions, **versions})
            if not broken:
                return True
            requirer, required, spec = broken[0]
            for movable in (required, requirer):
                if movable not in PACKAGES or movable in chosen:
                    continue
                # what must not move: torch, Python, the packages chosen to clear findings, and the other end
                settled = (set(self.stack.versions) - set(PACKAGES)) | chosen | {requirer, required} - {movable}
                fitting = next((v for v in self.candidates(movable) if self._fits(versions, movable, v, settled)),
                               None)
                if fitting is not None:
                    versions[movable] = fitting
                    other = requirer if movable == required else required
                    reasons[movable] = (f"{requirer} {versions.get(requirer) or self.stack.get(requirer)} requires "
                                        f"{required}{spec}" if movable == required else
                                        f"{other} {versions.get(other) or self.stack.get(other)} needs a "
                                        f"{movable} that admits it")
                    st, tf = versions.get("sentence-transformers") or self.stack.get("sentence-transformers"), \
                        versions.get("transformers") or self.stack.get("transformers")
                    nearer = [v for v in self.candidates(movable)[:self.candidates(movable).index(fitting)]
                              if movable == "transformers" and st is not None and self.lacking(st, v)]
                    if nearer and tf is not None:  # say why a nearer release that the ranges admit was passed over
                        reasons[movable] += (f"; {max(nearer)} lacks {self.lacking(st, max(nearer))[0].replace(':', '.')}"
                                             f", which sentence-transformers {st} imports")
                    break
            else:
                return False
        return False

    def path(self, order: Sequence[str]) -> tuple[dict[str, Version], dict[str, str]] | None:
        """Move the packages in ``order`` one after the other: (the moves, why each), or None."""
        versions: dict[str, Version] = {}
        reasons: dict[str, str] = {}
        chosen: set[str] = set()
        for package in order:
            blocking = self.blocking(versions, PACKAGE_LAYERS[package])
            if not blocking:
                continue
            stepped = self.step(versions, package, reasons, chosen, blocking)
            if stepped is None:
                return None
            versions, reasons = stepped
            chosen.add(package)
        if self.blocking(versions, None):  # every rule, on the whole stack
            return None
        return {p: v for p, v in versions.items() if v != self.start[p]}, reasons

    def total(self, versions: Mapping[str, Version]) -> tuple:
        return (len(versions), sum(self.cost(p, v)[0] for p, v in versions.items()),
                tuple(versions.get(p, Version("0")) for p in PACKAGES))


def find_fix(manifest, stack: Stack, kb: Knowledge, findings: Sequence[Finding], judge: Judge) -> Fix | None:
    """The smallest set of pins that clears every finding a version can clear; None when there is none."""
    blocking = _blocking(findings)
    if not blocking:
        return None
    # Damaged or incomplete files (a missing module folder, no tokenizer, a config.json that is not one) fail
    # or change the model in every release: the repair comes first, and no version move can be proven
    # before it, so none is proposed (the finding names the files to restore).
    if any(f.layer in UNVERSIONED and f.effect in BLOCKING for f in findings):
        return None
    involved = [p for p in PACKAGES if any(f.layer in PACKAGE_LAYERS[p] for f in blocking)]
    search = _Search(manifest, stack, kb, judge)
    search.codes = frozenset(f.code for f in blocking)
    search.bound_by(blocking)
    best: tuple[tuple, dict[str, Version], dict[str, str]] | None = None
    # each involved package first once, the rest in dependency order (the step after it sees its moves)
    orders = [(first, *[p for p in involved if p != first]) for first in involved]
    for order in orders:
        found = search.path(order)
        if found is None or not found[0]:
            continue
        key = search.total(found[0])
        if best is None or key < best[0]:
            best = (key, *found)
    if best is None:
        return None
    _, versions, reasons = best
    return Fix(tuple(Move(p, stack.get(p), versions[p], reasons.get(p, "")) for p in PACKAGES if p in versions))
