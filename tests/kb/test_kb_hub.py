"""The committed huggingface_hub knowledge base file: consistent, and agreeing with known facts.

No network: this reads the JSON written by tools/kb/hub_facts.py.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from packaging.version import Version

DATA = Path(__file__).resolve().parents[2] / "src" / "stcompat" / "kb" / "data"
PATH = DATA / "huggingface_hub.json"
SHA256 = re.compile(r"^[0-9a-f]{64}$")

ST_222_IMPORTS = ("HfApi", "HfFolder", "Repository", "hf_hub_url", "cached_download")
"""sentence-transformers 2.2.2: ``from huggingface_hub import HfApi, HfFolder, Repository, hf_hub_url,
cached_download``."""


@pytest.fixture(scope="module")
def hub() -> dict:
    return json.loads(PATH.read_text(encoding="utf-8"))


def _order(document: dict) -> list[str]:
    return [row["version"] for row in document["releases"]]


def _release(document: dict, minor: str) -> dict:
    """The scanned release of a minor version ("0.25" -> the 0.25.x row)."""
    rows = [row for row in document["releases"] if Version(row["version"]).release[:2] == Version(minor).release[:2]]
    assert len(rows) == 1, f"{minor}: {[row['version'] for row in rows]}"
    return rows[0]


def _exports(document: dict, version: str) -> set[str]:
    """A scanned release's exports, rebuilt from first/last/gaps as the note describes (cached per document)."""
    cache = document.setdefault("_exports_cache", {})
    if version not in cache:
        cache[version] = frozenset(_rebuild(document, version))
    return cache[version]


def _rebuild(document: dict, version: str) -> set[str]:
    order = _order(document)
    index = order.index(version)
    last = document["last_release_exporting"]
    gaps = document["gaps"]
    return {name for name, first in document["first_release_exporting"].items()
            if order.index(first) <= index
            and (name not in last or index <= order.index(last[name]))
            and not any(order.index(start) <= index < order.index(end) for start, end in gaps.get(name, []))}


def _exported(document: dict, name: str, minor: str) -> bool:
    return name in _exports(document, _release(document, minor)["version"])


def test_header_versions_and_artifacts(hub: dict) -> None:
    assert hub["schema"] == "stcompat.kb.huggingface_hub/1"
    assert hub["package"] == "huggingface_hub"
    assert re.match(r"^\d{4}-\d{2}-\d{2}$", hub["built"])
    assert "last patch" in hub["note"] and "gaps" in hub["note"]
    assert PATH.stat().st_size < 200_000
    parsed = [Version(v) for v in _order(hub)]
    assert parsed == sorted(parsed) and len(set(parsed)) == len(parsed)
    assert not any(v.is_prerelease for v in parsed)
    minors = [v.release[:2] for v in parsed]
    assert len(set(minors)) == len(minors), "one release per minor version"
    assert minors[0] == (0, 4)
    assert {(0, 25), (0, 26), (0, 36), (1, 0)} <= set(minors)
    for row in hub["releases"]:
        artifact = row["artifact"]
        assert SHA256.match(artifact["sha256"]), row["version"]
        assert artifact["filename"].startswith(f"huggingface_hub-{row['version']}-")
        assert artifact["filename"].endswith(".whl") and artifact["upload_time"]
        assert row["requires_python"].startswith(">="), row["version"]


def test_requires_python(hub: dict) -> None:
    assert _release(hub, "0.4")["requires_python"] == ">=3.6.0"
    assert _release(hub, "0.25")["requires_python"] == ">=3.8.0"
    assert _release(hub, "1.0")["requires_python"] == ">=3.9.0"


def test_spans_match_rows(hub: dict) -> None:
    previous: set[str] = set()
    for row in hub["releases"]:
        current = _exports(hub, row["version"])
        assert len(current) == row["export_count"], row["version"]
        assert sorted(current - previous) == row["exports_added"], row["version"]
        assert sorted(previous - current) == row["exports_removed"], row["version"]
        previous = current
    first, last = hub["first_release_exporting"], hub["last_release_exporting"]
    newest = _exports(hub, _order(hub)[-1])
    assert set(last) <= set(first)
    assert set(last) == set(first) - newest, "last_release_exporting lists exactly the names gone in the end"


def test_gaps_are_real_and_recorded(hub: dict) -> None:
    order = _order(hub)
    first, last = hub["first_release_exporting"], hub["last_release_exporting"]
    for name, gaps in hub["gaps"].items():
        assert gaps, name
        for start, end in gaps:
            assert order.index(first[name]) < order.index(start) < order.index(end), name
            if name in last:
                assert order.index(end) <= order.index(last[name]), name
            assert name in _exports(hub, order[order.index(start) - 1]), name
            assert name not in _exports(hub, start) and name in _exports(hub, end), name
    # every removal followed by a re-addition is in gaps, not hidden in first/last
    for name in first:
        present = [name in _exports(hub, version) for version in order]
        runs = sum(1 for i, p in enumerate(present) if p and (i == 0 or not present[i - 1]))
        assert runs == 1 + len(hub["gaps"].get(name, [])), name
    # login/logout were dropped in 0.10 (deprecated HfApi.login) and came back in 0.11 (huggingface_hub._login)
    for name in ("login", "logout"):
        assert _exported(hub, name, "0.9") and not _exported(hub, name, "0.10") and _exported(hub, name, "0.11")
        assert hub["gaps"][name] == [[_release(hub, "0.10")["version"], _release(hub, "0.11")["version"]]]


def test_cached_download(hub: dict) -> None:
    assert hub["first_release_exporting"]["cached_download"] == _release(hub, "0.4")["version"]
    assert hub["last_release_exporting"]["cached_download"] == _release(hub, "0.25")["version"]
    assert "cached_download" not in hub["gaps"]
    assert _exported(hub, "cached_download", "0.25") and not _exported(hub, "cached_download", "0.26")
    assert "cached_download" in _release(hub, "0.26")["exports_removed"]


def test_sentence_transformers_2_2_2_imports(hub: dict) -> None:
    """All five names import up to 0.25; from 0.26 on the import fails (cached_download first)."""
    for row in hub["releases"]:
        missing = [name for name in ST_222_IMPORTS if name not in _exports(hub, row["version"])]
        if Version(row["version"]) < Version("0.26"):
            assert missing == [], row["version"]
        else:
            assert "cached_download" in missing, row["version"]


def test_hffolder_and_repository_removed_in_1_0(hub: dict) -> None:
    for name in ("HfFolder", "Repository", "InferenceApi"):
        assert hub["first_release_exporting"][name] == _release(hub, "0.4")["version"]
        assert hub["last_release_exporting"][name] == _release(hub, "0.36")["version"], name
        assert name not in hub["gaps"]
        assert _exported(hub, name, "0.36") and not _exported(hub, name, "1.0")


def test_download_functions_exported_throughout(hub: dict) -> None:
    for name in ("snapshot_download", "hf_hub_download", "hf_hub_url", "HfApi"):
        assert hub["first_release_exporting"][name] == _order(hub)[0]
        assert name not in hub["last_release_exporting"] and name not in hub["gaps"]
        for row in hub["releases"]:
            assert name in _exports(hub, row["version"]), (name, row["version"])
            assert name not in row["unresolved_exports"], (name, row["version"])


def test_module_getattr(hub: dict) -> None:
    for row in hub["releases"]:
        lazy = Version(row["version"]) >= Version("0.8")
        assert row["has_module_getattr"] is lazy, row["version"]
        assert row["getattr_serves_only_table"] is (True if lazy else None), row["version"]
        if lazy:  # the lazy table plus __version__
            assert row["lazy_table_size"] == row["export_count"] - 1, row["version"]
        else:
            assert row["lazy_table_size"] == 0, row["version"]


def test_unresolved_exports(hub: dict) -> None:
    """0.8/0.9 list login/logout in the lazy table, but hf_api no longer binds them."""
    flagged = {row["version"]: row["unresolved_exports"] for row in hub["releases"] if row["unresolved_exports"]}
    assert flagged == {_release(hub, "0.8")["version"]: ["login", "logout"],
                       _release(hub, "0.9")["version"]: ["login", "logout"]}
