"""`stcompat kb update`: the facts of releases newer than the bundled knowledge, built on the user's machine.

Each part (sentence-transformers, transformers, tokenizers, huggingface_hub, torch) lists its releases on the package
registry, chooses them as tools/build_kb.py does (``select``), extracts only those the bundled data lacks
(``extract``: the same extractors), and recomputes the facts that span releases over the merged rows
(``assemble``). What differs from the bundled document is written to the stcompat cache (kb/updates.py reads
and merges it); the bundled files are never written. Downloads and registry indexes are cached, so a second
run, or one with ``offline=True``, reads only the cache.
"""

from __future__ import annotations

import json
import os
import urllib.error
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from types import ModuleType
from typing import Any, Callable

from packaging.version import Version

from ..errors import KbUpdateError
from ..kb import updates
from ..kb.query import DATA, PARTS
from . import hub_facts, pypi, st_facts, tokenizers_facts, torch_facts, transformers_facts


@dataclass(frozen=True)
class Part:
    """One knowledge part and the extractor module that builds it."""

    name: str
    """kb/data/<name>.json"""
    package: str
    """Distribution name on the registry."""
    module: ModuleType
    """Has select(all_releases), extract(artifacts), assemble(rows, all_releases)."""


EXTRACTORS: dict[str, Part] = {
    "sentence_transformers": Part("sentence_transformers", st_facts.PACKAGE, st_facts),
    "transformers": Part("transformers", transformers_facts.PACKAGE, transformers_facts),
    "tokenizers": Part("tokenizers", tokenizers_facts.PACKAGE, tokenizers_facts),
    "huggingface_hub": Part("huggingface_hub", hub_facts.PACKAGE, hub_facts),
    "torch": Part("torch", torch_facts.PACKAGE, torch_facts),
}
assert tuple(EXTRACTORS) == PARTS


@dataclass(frozen=True)
class PartUpdate:
    """What the update did for one part."""

    part: str
    bundled_newest: str | None
    """Newest release of the bundled data."""
    newest: str | None
    """Newest release of the merged knowledge."""
    added: tuple[str, ...]
    """Releases added or changed by this update, oldest first (empty: the bundled data was current)."""
    replaced: tuple[str, ...]
    """Bundled releases a newer patch of the same minor replaced."""
    path: str
    """The cached document written."""
    source: str
    """The registry index read."""
    index_fetched: str | None
    """When that index was fetched (offline: an earlier run's)."""


@dataclass(frozen=True)
class UpdateResult:
    """`stcompat kb update`'s answer."""

    parts: tuple[PartUpdate, ...]
    offline: bool
    """Whether only the cache was read."""
    until: str | None
    """The publication cut-off asked for."""
    folder: str
    """Where the update documents are."""


def _bundled_rows(part: Part, bundled: dict[str, Any]) -> list[dict[str, Any]]:
    """The bundled rows as ``extract`` gives them, which ``assemble`` takes: a part whose document stores
    spans instead of per-release lists (transformers' model_types, huggingface_hub's exports) rebuilds them
    with its ``rows_of``."""
    rows_of = getattr(part.module, "rows_of", None)
    if rows_of is not None:
        return rows_of(bundled)
    return [dict(row) for row in bundled.get("releases", ())]


def _minor(version: str) -> tuple[int, ...]:
    return Version(version).release[:2]


def build_part(part: Part, bundled: dict[str, Any], until: datetime | None,
               progress: Callable[[str], None]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the update document, the merged document) for one part, over ``bundled``."""
    all_releases = pypi.releases(part.package, until=until)
    source, fetched = pypi.index_read(part.package) or (pypi.INDEX.format(name=part.package), None)
    wanted = part.module.select(all_releases)
    have = {row["version"] for row in bundled.get("releases", ())}
    new = {version: artifact for version, artifact in wanted.items() if version not in have}
    by_minor = part.module is not st_facts  # the other parts keep each minor's last patch only
    replaced = sorted((v for v in have if by_minor and any(_minor(v) == _minor(n) for n in new)), key=Version)
    progress(f"{part.package}: {len(new)} release(s) newer than the bundled data"
             + (f" ({', '.join(new)})" if new else "") + (f", replacing {', '.join(replaced)}" if replaced else ""))
    rows = [row for row in _bundled_rows(part, bundled) if row["version"] not in replaced]
    rows += part.module.extract(new) if new else []
    rows.sort(key=lambda row: Version(row["version"]))
    merged = part.module.assemble(rows, all_releases)
    before = {row["version"]: row for row in bundled.get("releases", ())}
    summary = {key: value for key, value in merged.items() if key not in updates.META_KEYS}
    if part.module is st_facts:
        summary["reader_facts"] = st_facts.summary(merged)
    document = {
        "schema": updates.SCHEMA,
        "part": part.name,
        "package": part.package,
        "updated": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "until": until.isoformat() if until else None,
        "offline": pypi.is_offline(),
        "source": source,
        "index_fetched": fetched,
        "based_on": updates.based_on(bundled),
        # only what differs from the bundled document: rows added or changed, and the ones replaced
        "releases": [row for row in merged["releases"] if before.get(row["version"]) != row],
        "replaces": [v for v in sorted(before, key=Version) if v not in {r["version"] for r in merged["releases"]}],
        "summary": summary,
    }
    return document, merged


def _write(document: dict[str, Any], path: Path) -> None:
    """Whole or not at all: a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.part")
    partial.write_text(json.dumps(document, ensure_ascii=False, separators=(",", ":")) + "\n", encoding="utf-8")
    partial.replace(path)


def update(parts: tuple[str, ...] = PARTS, *, data: Path = DATA, folder: Path | None = None,
           until: datetime | None = None, offline: bool = False,
           progress: Callable[[str], None] = lambda line: None) -> UpdateResult:
    """Build and cache the facts of releases newer than the bundled data in ``data``; KbUpdateError (STC905)
    when it cannot. Each part is written only once it is complete."""
    folder = updates.update_dir() if folder is None else folder
    done = []
    with pypi.offline(offline):
        for name in parts:
            part = EXTRACTORS[name]
            bundled = json.loads((data / f"{name}.json").read_text(encoding="utf-8"))
            try:
                document, merged = build_part(part, bundled, until, progress)
            except pypi.OfflineMiss as exc:
                raise KbUpdateError(f"{part.package}: {exc}", name) from None
            except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
                reason = getattr(exc, "reason", exc)
                raise KbUpdateError(f"{part.package}: cannot reach the package registry ({reason})", name) from None
            except (ValueError, KeyError, SyntaxError, RuntimeError) as exc:
                raise KbUpdateError(f"{part.package}: the extractors could not read a release "
                                    f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})",
                                    name) from None
            path = folder / f"{name}.json"
            _write(document, path)
            rows = merged["releases"]
            bundled_rows = bundled.get("releases") or []
            done.append(PartUpdate(name, bundled_rows[-1]["version"] if bundled_rows else None,
                                   rows[-1]["version"] if rows else None,
                                   tuple(row["version"] for row in document["releases"]),
                                   tuple(document["replaces"]), str(path), document["source"],
                                   document["index_fetched"]))
    return UpdateResult(tuple(done), offline, until.isoformat() if until else None, str(folder))
