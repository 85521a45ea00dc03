"""The knowledge a user's `stcompat kb update` added: read from the stcompat cache, checked, merged over kb/data.

`stcompat kb update` (stcompat/kbbuild/update.py) runs the same extractors as tools/build_kb.py for releases
newer than the bundled data and writes, per part, only what differs from the bundled document: the rows it
added or changed, the bundled rows it replaced (a minor's newer last patch), and the facts that span
releases, recomputed over the merged rows. The bundled files are never touched.

A cached update that cannot be trusted (unreadable, not JSON, cut short, another schema, rows without the
fields the bundled rows have, or made for other bundled data) is not used: the bundled data answers alone
and the problem is reported once, as one line with code STC904. Nothing here raises on a bad cache file.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from packaging.version import InvalidVersion, Version

SCHEMA = "stcompat.kb.update/1"
UNUSABLE = "STC904"

# Top-level keys of a knowledge document that are not facts: where a document came from, not what it says.
META_KEYS = frozenset({"schema", "built", "package", "note", "releases"})


def update_dir() -> Path:
    """Where `stcompat kb update` keeps its documents: <stcompat cache>/kb (STCOMPAT_CACHE, else
    ~/.cache/stcompat); STCOMPAT_KB_UPDATES names another folder (an empty one switches updates off)."""
    chosen = os.environ.get("STCOMPAT_KB_UPDATES")
    if chosen is not None:
        return Path(chosen)
    return Path(os.environ.get("STCOMPAT_CACHE") or Path.home() / ".cache" / "stcompat") / "kb"


@dataclass(frozen=True)
class UpdateInfo:
    """What one part's cached update says about itself (shown by `stcompat kb`)."""

    part: str
    """Knowledge part, e.g. ``transformers`` (the bundled file's stem)."""
    path: str
    """The cached update document."""
    updated: str
    """When `stcompat kb update` wrote it (ISO 8601)."""
    source: str
    """The registry index it listed releases from."""
    index_fetched: str | None
    """When that index was fetched (an offline update reuses an older one)."""
    offline: bool
    """Whether the update ran with --offline."""
    until: str | None
    """The publication cut-off it was asked for, if any."""
    added: tuple[str, ...]
    """Versions the update added or changed, oldest first."""
    newest: str | None
    """The newest release of the merged knowledge."""


@dataclass(frozen=True)
class UpdateProblem:
    """A cached update that is not used, and why (one line, code STC904)."""

    part: str
    path: str
    reason: str

    @property
    def code(self) -> str:
        return UNUSABLE

    def line(self) -> str:
        """The one line a user sees."""
        return (f"{self.path}: {self.reason}; the bundled knowledge is used without it "
                "(run `stcompat kb update` again to rebuild it)")


def based_on(bundled: Mapping[str, Any]) -> dict[str, Any]:
    """What identifies the bundled document an update was made over (an update over other data is stale)."""
    rows = bundled.get("releases") or []
    return {"built": bundled.get("built"), "releases": len(rows), "newest": rows[-1]["version"] if rows else None}


def _version(text: Any) -> Version | None:
    if not isinstance(text, str):
        return None
    try:
        return Version(text)
    except InvalidVersion:
        return None


def _check(document: Any, part: str, bundled: Mapping[str, Any]) -> str | None:
    """Why ``document`` cannot be merged over ``bundled``; None when it can."""
    if not isinstance(document, dict):
        return "not a JSON object"
    if document.get("schema") != SCHEMA:
        return f"schema {document.get('schema')!r} is not {SCHEMA!r}"
    if document.get("part") != part:
        return f"holds part {document.get('part')!r}, not {part!r}"
    if document.get("based_on") != based_on(bundled):
        return ("made over other bundled data (stcompat was upgraded or reinstalled since): "
                f"{document.get('based_on')!r}, now {based_on(bundled)!r}")
    rows, replaces, summary = document.get("releases"), document.get("replaces"), document.get("summary")
    if not isinstance(rows, list) or not isinstance(replaces, list) or not isinstance(summary, dict):
        return "releases, replaces or summary missing or of the wrong type (a partial write?)"
    bundled_rows = bundled.get("releases") or []
    needed = set(bundled_rows[-1]) if bundled_rows else {"version"}
    for row in rows:
        if not isinstance(row, dict) or _version(row.get("version")) is None:
            return "a release row without a valid version"
        missing = needed - set(row)
        if missing:
            return f"release {row['version']} lacks {sorted(missing)} (cut short, or written by another stcompat)"
    known = {row["version"] for row in bundled_rows}
    if any(version not in known for version in replaces):
        return "replaces a release the bundled data does not hold"
    wanted = set(bundled) - META_KEYS
    if not wanted <= set(summary):
        return f"summary lacks {sorted(wanted - set(summary))}"
    for key in ("updated", "source"):
        if not isinstance(document.get(key), str):
            return f"no {key!r}"
    return None


def merge(bundled: Mapping[str, Any], document: Mapping[str, Any]) -> dict[str, Any]:
    """The bundled document with a checked update over it: rows by version (the update's win, replaced ones
    go), oldest first; the spanning facts from the update's summary."""
    rows = {row["version"]: row for row in bundled.get("releases", ()) if row["version"] not in document["replaces"]}
    rows.update({row["version"]: row for row in document["releases"]})
    merged = dict(bundled)
    merged.update({key: value for key, value in document["summary"].items() if key in set(bundled) - META_KEYS})
    merged["releases"] = [rows[version] for version in sorted(rows, key=Version)]
    return merged


def load(part: str, bundled: Mapping[str, Any], folder: Path | None = None
         ) -> tuple[dict[str, Any] | None, UpdateInfo | None, UpdateProblem | None]:
    """(the update document, what it says about itself, why it is not used) for one part; (None, None, None)
    when there is no update. Never raises for what is in the file."""
    path = (update_dir() if folder is None else folder) / f"{part}.json"
    try:
        if not path.is_file():
            return None, None, None
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return None, None, UpdateProblem(part, str(path), f"unreadable ({type(exc).__name__}: {exc})")
    try:
        document = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        return None, None, UpdateProblem(part, str(path), f"not valid JSON ({exc.__class__.__name__} at "
                                                          f"character {getattr(exc, 'pos', '?')}; cut short?)")
    reason = _check(document, part, bundled)
    if reason is not None:
        return None, None, UpdateProblem(part, str(path), reason)
    rows = merge(bundled, document)["releases"]
    info = UpdateInfo(part, str(path), document["updated"], document["source"], document.get("index_fetched"),
                      bool(document.get("offline")), document.get("until"),
                      tuple(row["version"] for row in document["releases"]), rows[-1]["version"] if rows else None)
    return document, info, None
