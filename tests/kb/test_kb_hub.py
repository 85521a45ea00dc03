"""The committed huggingface_hub knowledge: a consistent file, and known facts answered through kb/query.

No network: this reads the JSON written by src/stcompat/kbbuild/hub_facts.py. Lookups go through ``Knowledge.hub_exports``
and ``Knowledge.hub_first_release_without``; the raw file is read only for its own consistency and for facts
kb/query does not serve (rows are then looked up by their exact version).
"""

from __future__ import annotations

import json
import re

import pytest
from packaging.version import Version

from stcompat.kb.query import DATA, knowledge

PATH = DATA / "huggingface_hub.json"
SHA256 = re.compile(r"^[0-9a-f]{64}$")


@pytest.fixture(scope="module")
def hub() -> dict:
    return json.loads(PATH.read_text(encoding="utf-8"))


def _order(document: dict) -> list[str]:
    return [row["version"] for row in document["releases"]]


def _row(document: dict, version: str) -> dict:
    """The row of one scanned release, by its exact version."""
    return next(row for row in document["releases"] if row["version"] == version)


def exported(version: str, name: str) -> bool:
    return bool(knowledge().hub_exports(Version(version), name))


def _listed(document: dict, version: str) -> frozenset[str]:
    """What a release's top level lists (its lazy table): what imports, plus names listed but not bound."""
    cache = document.setdefault("_listed", {})
    if version not in cache:
        cache[version] = frozenset({n for n in document["first_release_exporting"] if exported(version, n)}
                                   | set(_row(document, version)["unresolved_exports"]))
    return cache[version]


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
    assert _row(hub, "0.4.0")["requires_python"] == ">=3.6.0"
    assert _row(hub, "0.25.2")["requires_python"] == ">=3.8.0"
    assert _row(hub, "1.0.1")["requires_python"] == ">=3.9.0"


def test_any_patch_is_answered_by_its_minor_series() -> None:
    assert exported("0.25.0", "cached_download") and exported("0.25.2", "cached_download")
    assert not exported("0.26.0", "cached_download")
    assert knowledge().hub_exports(Version("0.3.0"), "HfApi") is None  # older than the data


def test_rows_agree_with_the_answers(hub: dict) -> None:
    """Each row's counts and added/removed lists match what kb/query answers for that release."""
    previous: set[str] = set()
    for row in hub["releases"]:
        current = _listed(hub, row["version"])
        assert len(current) == row["export_count"], row["version"]
        assert sorted(current - previous) == row["exports_added"], row["version"]
        assert sorted(previous - current) == row["exports_removed"], row["version"]
        previous = current
    first, last = hub["first_release_exporting"], hub["last_release_exporting"]
    assert set(last) <= set(first)
    assert set(last) == set(first) - previous, "last_release_exporting lists exactly the names gone in the end"


def test_every_removal_and_return_is_a_gap(hub: dict) -> None:
    order = _order(hub)
    for name in hub["first_release_exporting"]:
        present = [name in _listed(hub, version) for version in order]
        runs = sum(1 for i, p in enumerate(present) if p and (i == 0 or not present[i - 1]))
        assert runs == 1 + len(hub["gaps"].get(name, [])), name


def test_login_was_dropped_in_0_10_and_came_back_in_0_11(hub: dict) -> None:
    # dropped with the deprecated HfApi.login, re-added from huggingface_hub._login
    for name in ("login", "logout"):
        assert exported("0.7.0", name) and not exported("0.10.1", name) and exported("0.11.1", name)
        assert hub["gaps"][name] == [["0.10.1", "0.11.1"]]


def test_cached_download() -> None:
    assert exported("0.4.0", "cached_download") and exported("0.25.2", "cached_download")
    assert not exported("0.26.5", "cached_download") and not exported("1.0.1", "cached_download")
    assert knowledge().hub_first_release_without("cached_download") == "0.26.5"


def test_sentence_transformers_2_2_2_imports() -> None:
    """All five names import up to 0.25; from 0.26 on the import fails (cached_download first)."""
    names = knowledge().st("2.2.2").hub_imports
    assert set(names) == {"HfApi", "HfFolder", "Repository", "hf_hub_url", "cached_download"}
    for release in ("0.4.0", "0.16.4", "0.25.2"):
        assert all(exported(release, name) for name in names), release
    for release in ("0.26.5", "0.36.2", "1.0.1", "2.4.0"):
        assert not exported(release, "cached_download"), release


def test_hffolder_and_repository_removed_in_1_0() -> None:
    for name in ("HfFolder", "Repository", "InferenceApi"):
        assert exported("0.4.0", name) and exported("0.36.2", name) and not exported("1.0.1", name), name
        assert knowledge().hub_first_release_without(name) == "1.0.1"


def test_download_functions_exported_throughout(hub: dict) -> None:
    for name in ("snapshot_download", "hf_hub_download", "hf_hub_url", "HfApi"):
        assert knowledge().hub_first_release_without(name) is None
        for version in _order(hub):
            assert exported(version, name), (name, version)


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
    """0.8/0.9 list login/logout in the lazy table, but hf_api no longer binds them: the import fails."""
    flagged = {row["version"]: row["unresolved_exports"] for row in hub["releases"] if row["unresolved_exports"]}
    assert flagged == {"0.8.1": ["login", "logout"], "0.9.1": ["login", "logout"]}
    assert not exported("0.8.1", "login") and not exported("0.9.1", "logout")
