"""The committed transformers and tokenizers knowledge base files: consistent, and agreeing with known facts.

No network: these read the JSON written by tools/kb/transformers_facts.py and tools/kb/tokenizers_facts.py.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from packaging.version import Version

DATA = Path(__file__).resolve().parents[2] / "src" / "stcompat" / "kb" / "data"
SHA256 = re.compile(r"^[0-9a-f]{64}$")


@pytest.fixture(scope="module")
def transformers() -> dict:
    return json.loads((DATA / "transformers.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def tokenizers() -> dict:
    return json.loads((DATA / "tokenizers.json").read_text(encoding="utf-8"))


def _release(document: dict, minor: str) -> dict:
    """The scanned release of a minor version ("4.30" -> the 4.30.x row)."""
    rows = [row for row in document["releases"] if Version(row["version"]).release[:2] == Version(minor).release[:2]]
    assert len(rows) == 1, f"{minor}: {[row['version'] for row in rows]}"
    return rows[0]


def _model_types(document: dict, version: str) -> set[str]:
    """A scanned release's model_types, rebuilt from the first/last spans as the note describes."""
    order = [row["version"] for row in document["releases"]]
    index = order.index(version)
    last = document["last_release_with_model_type"]
    return {t for t, first in document["first_release_with_model_type"].items()
            if order.index(first) <= index and (t not in last or index <= order.index(last[t]))}


@pytest.mark.parametrize("name,schema", [("transformers", "stcompat.kb.transformers/1"),
                                         ("tokenizers", "stcompat.kb.tokenizers/1")])
def test_header_versions_and_artifacts(name: str, schema: str, request) -> None:
    document = request.getfixturevalue(name)
    assert document["schema"] == schema
    assert document["package"] == name
    assert (DATA / f"{name}.json").stat().st_size < 300_000
    versions = [row["version"] for row in document["releases"]]
    parsed = [Version(v) for v in versions]
    assert parsed == sorted(parsed) and len(set(parsed)) == len(parsed)
    assert not any(v.is_prerelease for v in parsed)
    minors = [v.release[:2] for v in parsed]
    assert len(set(minors)) == len(minors), "one release per minor version"
    for row in document["releases"]:
        artifact = row["artifact"]
        assert SHA256.match(artifact["sha256"]), row["version"]
        assert row["version"] in artifact["filename"] and artifact["upload_time"]


def test_transformers_range(transformers: dict) -> None:
    versions = [Version(row["version"]) for row in transformers["releases"]]
    assert versions[0].release[:2] == (4, 6)
    assert (4, 57) in {v.release[:2] for v in versions}


def test_model_type_spans_match_rows(transformers: dict) -> None:
    previous: set[str] = set()
    for row in transformers["releases"]:
        current = _model_types(transformers, row["version"])
        assert len(current) == row["model_type_count"], row["version"]
        assert sorted(current - previous) == row["model_types_added"], row["version"]
        assert sorted(previous - current) == row["model_types_removed"], row["version"]
        previous = current


def test_first_release_with_model_type(transformers: dict) -> None:
    first = transformers["first_release_with_model_type"]
    oldest = transformers["releases"][0]["version"]
    assert first["bert"] == oldest
    assert first["xlm-roberta"] == oldest and first["mpnet"] == oldest
    assert Version(first["modernbert"]).release[:2] == (4, 48)
    assert Version(first["qwen3"]).release[:2] == (4, 51)
    assert Version(first["gemma3_text"]).release[:2] == (4, 50)
    assert "modernbert" not in _model_types(transformers, _release(transformers, "4.47")["version"])
    assert "note" in transformers and "last patch" in transformers["note"]


def test_requires_dist(transformers: dict) -> None:
    for row in transformers["releases"]:
        assert set(row["requires_dist"]) == {"tokenizers", "huggingface-hub", "safetensors", "torch", "numpy"}
        assert row["requires_dist"]["tokenizers"], row["version"]
        assert row["requires_python"].startswith(">="), row["version"]
    assert _release(transformers, "4.6")["requires_dist"]["tokenizers"] == "<0.11,>=0.10.1"
    # transformers that accept tokenizers 0.20 are the ones that can meet pair-written merges
    assert _release(transformers, "4.44")["requires_dist"]["tokenizers"] == "<0.20,>=0.19"
    assert _release(transformers, "4.45")["requires_dist"]["tokenizers"] == "<0.21,>=0.20"


def test_torch_load_refusal(transformers: dict) -> None:
    assert _release(transformers, "4.30")["refuses_torch_load_below"] is None
    assert _release(transformers, "4.30")["torch_load_error"] is None
    newest_4 = [row for row in transformers["releases"] if Version(row["version"]).major == 4][-1]
    assert newest_4["refuses_torch_load_below"] == "2.6"
    assert newest_4["torch_load_error"].startswith(
        "Due to a serious vulnerability issue in `torch.load`, even with `weights_only=True`, we now require users "
        "to upgrade torch to at least v2.6 in order to use the function. This version restriction does not apply "
        "when loading files with safetensors.")
    assert "transformers.modeling_utils" in newest_4["torch_load_check_callers"]
    first = transformers["first_release_refusing_torch_load"]
    assert Version(first).release[:2] == (4, 52)
    # once in, never gone again (in the scanned releases)
    flags = [row["refuses_torch_load_below"] is not None for row in transformers["releases"]]
    assert flags == sorted(flags)


def test_unknown_model_type_error(transformers: dict) -> None:
    message = transformers["unknown_model_type_error"]
    assert message.startswith("The checkpoint you are trying to load has model type `{config_dict['model_type']}` "
                              "but Transformers does not recognize this architecture.")
    old = _release(transformers, "4.30")["unknown_model_type_error"]
    assert old["exception"] == "KeyError"
    assert old["missing_model_type"].startswith("Unrecognized model in {pretrained_model_name_or_path}.")
    for row in transformers["releases"]:
        error = row["unknown_model_type_error"]
        assert error["exception"] in ("KeyError", "ValueError"), row["version"]
        assert error["message"], row["version"]


def test_tokenizers_merges(tokenizers: dict) -> None:
    assert Version(tokenizers["releases"][0]["version"]).release[:2] == (0, 10)
    assert _release(tokenizers, "0.19")["reads_merges_pairs"] is False
    assert _release(tokenizers, "0.19")["writes_merges_pairs"] is False
    assert _release(tokenizers, "0.20")["reads_merges_pairs"] is True
    assert _release(tokenizers, "0.20")["writes_merges_pairs"] is True
    assert Version(tokenizers["first_release_reading_pairs"]).release[:2] == (0, 20)
    for row in tokenizers["releases"]:
        assert row["reads_merges_strings"] is True, row["version"]  # legacy strings are always readable
        # reading pairs comes with (or before) writing them, and stays
        assert row["reads_merges_pairs"] or not row["writes_merges_pairs"], row["version"]
        assert row["reads_merges_pairs"] == (Version(row["version"]) >= Version("0.20")), row["version"]
    assert tokenizers["pairs_error"] == "data did not match any variant of untagged enum ModelWrapper"
    assert "serde" in tokenizers["pairs_error_source"]
