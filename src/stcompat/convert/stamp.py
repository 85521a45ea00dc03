"""`stamp`: write the ``requirements`` block sentence-transformers 6.0+ enforces into
config_sentence_transformers.json, inferred from what the model uses, each entry with its reason.

A 6.0+ loader compares every entry (a PEP 440 specifier, or ``{specifier, reason}``) with the
installed packages before it builds any module, and raises ImportError naming what is unmet; older
releases ignore the key. Entries the file already has are kept as written. Nothing but that one key
of that one file changes; the previous file is kept as a backup.
"""

from __future__ import annotations

import difflib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from packaging.version import Version

from ..env.stack import Stack
from ..errors import ConvertError
from ..kb.query import Knowledge, knowledge
from ..model.manifest import ModelManifest
from ..rules.engine import ST_LAYERS, findings_for
from ..vocab import Effect, MergesFormat, StackSource, WeightFormat
from .lock import _ok_releases

CST = "config_sentence_transformers.json"
BACKUP_SUFFIX = ".bak"


@dataclass(frozen=True)
class Stamp:
    """What stamp writes (or, with --dry-run, would write)."""

    path: str
    """config_sentence_transformers.json of the model."""
    requirements: Mapping[str, Any]
    """The whole block after stamping: earlier entries as written, then the inferred ones."""
    added: tuple[str, ...]
    """Names added by this stamp."""
    before: str
    """The file's text before."""
    after: str
    """The file's text after."""
    stale: tuple[str, ...] = ()
    """Names already stamped whose specifier is not what the knowledge infers now (kept as written)."""
    inferred: Mapping[str, Any] = field(default_factory=dict)
    """What the knowledge infers, whether or not it was written."""

    @property
    def diff(self) -> str:
        """Unified diff of the file."""
        return "".join(difflib.unified_diff(self.before.splitlines(keepends=True), self.after.splitlines(keepends=True),
                                            f"a/{CST}", f"b/{CST}"))


def _first_problem(manifest: ModelManifest, kb: Knowledge, version: Version) -> str:
    """What goes wrong on one release (the first finding that fails or degrades), for a reason text."""
    stack = Stack("stamp", StackSource.TARGET, {"sentence-transformers": version})
    found = [f for f in findings_for(manifest, stack, kb, ST_LAYERS, coverage=False)
             if f.effect in (Effect.FAILS, Effect.DEGRADED)]
    return found[0].message if found else "not covered"


def _guaranteed(releases: list, name: str, floor: str) -> bool:
    """Whether every release in ``releases`` already declares ``name`` at ``floor`` or newer (Requires-Dist)."""
    from packaging.specifiers import SpecifierSet

    for release in releases:
        spec = SpecifierSet(release.requires_dist.get(name) or "")
        declared = [Version(s.version) for s in spec if s.operator in (">=", ">", "==", "~=")]
        if not declared or max(declared) < Version(floor):
            return False
    return True


def inferred_requirements(manifest: ModelManifest, kb: Knowledge | None = None) -> dict[str, dict[str, str]]:
    """Name -> {specifier, reason} for what the model needs, from the knowledge."""
    kb = kb or knowledge()
    found: dict[str, dict[str, str]] = {}
    ok = _ok_releases(manifest, kb)
    if not ok:
        raise ConvertError("STC759", "no covered sentence-transformers release loads the model as saved "
                                     f"(`stcompat check {manifest.path}` says why)", model=manifest.path)
    releases = list(kb.st_releases)
    floor = ok[-1]
    for release in reversed(releases[:releases.index(ok[-1])]):
        if release not in ok:
            break
        floor = release
    if floor is not releases[0]:
        below = releases[releases.index(floor) - 1]
        found["sentence-transformers"] = {
            "specifier": f">={floor.version}",
            "reason": f"Loads as saved from sentence-transformers {floor.version}; on {below.version}: "
                      f"{_first_problem(manifest, kb, below.version)}."}
    oldest_tf = kb.coverage().get("transformers", {}).get("oldest")
    info = manifest.transformer
    if info is not None and info.model_type:
        first = kb.first_transformers_with(info.model_type)
        if first and first != oldest_tf:  # a type older than the knowledge's history needs no floor
            found["transformers"] = {"specifier": f">={first}",
                                     "reason": f"model_type {info.model_type!r} is unknown to older transformers."}
    formats = {w.format for w in manifest.weights}
    if info is not None and formats == {WeightFormat.SAFETENSORS}:
        first = kb.first_transformers_requiring_safetensors()
        current = found.get("transformers", {}).get("specifier", ">=0")[2:]
        if first and first != oldest_tf and Version(first) > Version(current):
            found["transformers"] = {"specifier": f">={first}", "reason": "The weights are model.safetensors only."}
    if any(t.merges_format is MergesFormat.PAIRS for t in manifest.tokenizers):
        first = kb.first_tokenizers_reading_pairs()
        if first:
            found["tokenizers"] = {"specifier": f">={first}",
                                   "reason": "tokenizer.json stores BPE merges as pairs, which older tokenizers "
                                             "cannot read."}
    if WeightFormat.PICKLE in formats and WeightFormat.SAFETENSORS not in formats:
        newest_tf = kb.coverage().get("transformers", {}).get("newest")
        floor_torch, _ = kb.torch_load_floor(Version(newest_tf)) if newest_tf else (None, None)
        if floor_torch:
            found["torch"] = {"specifier": f">={floor_torch}",
                              "reason": f"The weights are pickles; transformers refuses torch.load below "
                                        f"torch {floor_torch}."}
    # A floor every release that loads the model already declares can never be unmet: leave it out.
    window = ok[ok.index(floor):]
    return {name: entry for name, entry in found.items()
            if name == "sentence-transformers" or not _guaranteed(window, name, entry["specifier"][2:])}


def stamp(manifest: ModelManifest, kb: Knowledge | None = None) -> Stamp:
    """The stamped file's content, not yet written."""
    path = Path(manifest.path) / CST
    if not manifest.st_config.present or not path.is_file():
        raise ConvertError("STC750", f"{CST} is absent: nothing for sentence-transformers to read the "
                                     "requirements from (save the model with sentence-transformers first)",
                           model=manifest.path)
    before = path.read_text(encoding="utf-8")
    config = json.loads(before)
    existing = config.get("requirements") if isinstance(config.get("requirements"), dict) else {}
    inferred = inferred_requirements(manifest, kb)
    added = tuple(name for name in inferred if name not in existing)
    stale = tuple(name for name in inferred if name in existing and _specifier(existing[name])
                  != inferred[name]["specifier"])
    block = {**existing, **{name: inferred[name] for name in added}}
    if not added:
        return Stamp(str(path), block, added, before, before, stale, inferred)
    config["requirements"] = block
    # The file as sentence-transformers writes it (indent 2), its final newline as it was.
    after = json.dumps(config, indent=2, ensure_ascii=False) + ("\n" if before.endswith("\n") else "")
    return Stamp(str(path), block, added, before, after, stale, inferred)


def _specifier(entry: Any) -> str:
    """The specifier of a requirements entry (a string, or ``{specifier, reason}``)."""
    return str(entry.get("specifier", "")) if isinstance(entry, dict) else str(entry)


def write_stamp(result: Stamp, force: bool = False) -> Path:
    """Write the stamped file, keeping the previous one beside it (``.bak``); returns the backup."""
    path = Path(result.path)
    backup = path.with_name(path.name + BACKUP_SUFFIX)
    if backup.exists() and not force:
        raise ConvertError("STC755", f"{backup} exists; remove it or pass --force", output=str(backup))
    backup.write_text(result.before, encoding="utf-8")
    partial = path.with_name(path.name + ".partial")
    partial.write_text(result.after, encoding="utf-8")
    os.replace(partial, path)
    return backup
