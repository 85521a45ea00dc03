"""The committed transformers and tokenizers knowledge: consistent files, and known facts answered through kb/query.

No network: these read the JSON written by stcompat/kbbuild/transformers_facts.py and
stcompat/kbbuild/tokenizers_facts.py.
Lookups go through kb/query (``model_type_known``, ``first_transformers_with``, ``transformers_requires``,
``torch_load_floor``, ``reads_merges_pairs``, ...); the raw files are read only for their own consistency and
for facts kb/query does not serve (rows are then looked up by their exact version).
"""

from __future__ import annotations

import json
import re

import pytest
from packaging.version import Version

from stcompat.kb.query import DATA, knowledge

SHA256 = re.compile(r"^[0-9a-f]{64}$")


@pytest.fixture(scope="module")
def transformers() -> dict:
    return json.loads((DATA / "transformers.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def tokenizers() -> dict:
    return json.loads((DATA / "tokenizers.json").read_text(encoding="utf-8"))


def _row(document: dict, version: str) -> dict:
    """The row of one scanned release, by its exact version."""
    return next(row for row in document["releases"] if row["version"] == version)


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


def test_transformers_range() -> None:
    coverage = knowledge().coverage()["transformers"]
    assert coverage["oldest"] == "4.6.1"
    assert knowledge().model_type_known(Version("4.57.6"), "bert") is True
    assert knowledge().model_type_known(Version("4.5.0"), "bert") is None  # older than the data


def test_rows_agree_with_the_answers(transformers: dict) -> None:
    """Each row's count and added/removed lists match what kb/query answers for that release."""
    kb = knowledge()
    every = transformers["first_release_with_model_type"]
    previous: set[str] = set()
    for row in transformers["releases"]:
        current = {t for t in every if kb.model_type_known(Version(row["version"]), t)}
        assert len(current) == row["model_type_count"], row["version"]
        assert sorted(current - previous) == row["model_types_added"], row["version"]
        assert sorted(previous - current) == row["model_types_removed"], row["version"]
        previous = current
    assert "note" in transformers and "last patch" in transformers["note"]


def test_first_release_with_model_type() -> None:
    kb = knowledge()
    for model_type in ("bert", "xlm-roberta", "mpnet"):
        assert kb.first_transformers_with(model_type) == "4.6.1"
    assert kb.first_transformers_with("modernbert") == "4.48.3"
    assert kb.first_transformers_with("gemma3_text") == "4.50.3"
    assert kb.first_transformers_with("qwen3") == "4.51.3"
    assert not kb.model_type_known(Version("4.47.1"), "modernbert")
    assert kb.model_type_known(Version("4.48.0"), "modernbert")  # answered by the 4.48 series' last patch
    assert kb.first_transformers_with("no-such-type") is None


def test_requires_dist(transformers: dict) -> None:
    for row in transformers["releases"]:
        assert set(row["requires_dist"]) == {"tokenizers", "huggingface-hub", "safetensors", "torch", "numpy"}
        assert row["requires_dist"]["tokenizers"], row["version"]
        assert row["requires_python"].startswith(">="), row["version"]
    kb = knowledge()
    assert kb.transformers_requires(Version("4.6.1"))["tokenizers"] == "<0.11,>=0.10.1"
    # transformers that accept tokenizers 0.20 are the ones that can meet pair-written merges
    assert kb.transformers_requires(Version("4.44.2"))["tokenizers"] == "<0.20,>=0.19"
    assert kb.transformers_requires(Version("4.45.0"))["tokenizers"] == "<0.21,>=0.20"
    assert kb.first_transformers_requiring_safetensors() == "4.30.2"


def test_torch_load_refusal(transformers: dict) -> None:
    kb = knowledge()
    assert kb.torch_load_floor(Version("4.30.2")) == (None, None)
    floor, error = kb.torch_load_floor(Version("4.57.1"))
    assert floor == "2.6"
    assert error.startswith(
        "Due to a serious vulnerability issue in `torch.load`, even with `weights_only=True`, we now require users "
        "to upgrade torch to at least v2.6 in order to use the function. This version restriction does not apply "
        "when loading files with safetensors.")
    assert "transformers.modeling_utils" in _row(transformers, "4.57.6")["torch_load_check_callers"]
    assert transformers["first_release_refusing_torch_load"] == "4.52.1"
    assert kb.torch_load_floor(Version("4.51.3"))[0] is None
    # once in, never gone again (in the scanned releases)
    flags = [kb.torch_load_floor(Version(row["version"]))[0] is not None for row in transformers["releases"]]
    assert flags == sorted(flags)


def test_unknown_model_type_error(transformers: dict) -> None:
    kb = knowledge()
    assert kb.unknown_model_type_error(Version("4.30.2"), "modernbert") == ("KeyError", "'modernbert'")
    assert kb.unknown_model_type_error(Version("4.57.6"), "modernbert")[1].startswith(
        "The checkpoint you are trying to load has model type `modernbert` but Transformers does not recognize "
        "this architecture.")
    assert _row(transformers, "4.30.2")["unknown_model_type_error"]["missing_model_type"].startswith(
        "Unrecognized model in {pretrained_model_name_or_path}.")


def test_tokenizers_merges(tokenizers: dict) -> None:
    kb = knowledge()
    assert kb.reads_merges_pairs(Version("0.10.3")) is False
    assert kb.reads_merges_pairs(Version("0.19.1")) is False
    assert kb.reads_merges_pairs(Version("0.20.0")) is True  # answered by the 0.20 series' last patch
    assert kb.reads_merges_pairs(Version("0.9.4")) is None  # older than the data
    assert kb.first_tokenizers_reading_pairs() == "0.20.0"
    assert _row(tokenizers, "0.19.1")["writes_merges_pairs"] is False
    assert _row(tokenizers, "0.20.3")["writes_merges_pairs"] is True
    for row in tokenizers["releases"]:
        assert row["reads_merges_strings"] is True, row["version"]  # legacy strings are always readable
        # reading pairs comes with (or before) writing them, and stays
        assert kb.reads_merges_pairs(Version(row["version"])) or not row["writes_merges_pairs"], row["version"]
        assert kb.reads_merges_pairs(Version(row["version"])) == (Version(row["version"]) >= Version("0.20")), \
            row["version"]
    assert kb.pairs_error() == "data did not match any variant of untagged enum ModelWrapper"
    assert "serde" in tokenizers["pairs_error_source"]
