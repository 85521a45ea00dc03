"""The committed sentence-transformers knowledge loads, is consistent, and reproduces measured facts."""

from __future__ import annotations

import re

from packaging.version import Version

from stcompat.kb.query import knowledge


def test_every_release_since_200_with_its_artifact():
    releases = knowledge().st_releases
    versions = [r.version for r in releases]
    assert versions == sorted(set(versions)) and versions[0] == Version("2.0.0")
    assert {"2.2.2", "3.0.1", "5.4.0", "6.2.0"} <= {str(v) for v in versions}
    for release in releases:
        assert re.fullmatch(r"[0-9a-f]{64}", release.data["artifact"]["sha256"])
        assert release.data["artifact"]["filename"].startswith(("sentence-transformers", "sentence_transformers"))


def test_config_keys_read_appear_when_measured():
    kb = knowledge()
    first = {}
    for key in ("prompts", "similarity_fn_name", "truncate_dim", "requirements"):
        first[key] = str(next(r.version for r in kb.st_releases if r.reads_config_key(key)))
    assert first == {"prompts": "2.4.0", "similarity_fn_name": "3.0.0", "truncate_dim": "5.4.0",
                     "requirements": "6.0.0"}
    # Once read, never dropped again.
    for key in first:
        reads = [r.reads_config_key(key) for r in kb.st_releases]
        assert reads == sorted(reads)


def test_version_warning_texts_per_generation():
    kb = knowledge()
    assert kb.st("3.4.1").version_warning("4.0.0").startswith("You try to use a model that was created with version 4.0.0")
    assert kb.st("4.1.0").version_warning("5.0.0").startswith(
        "You are trying to use a model that was created with Sentence Transformers version 5.0.0")
    assert kb.st("5.7.0").version_warning("6.0.0") == (
        "This model was created with Sentence Transformers version 6.0.0, but you're using version 5.7.0. "
        "Consider updating to the latest version to avoid potential issues.")
    assert kb.st("6.2.0").version_warning("2.0.0") is None
    # <= 3.4.1 compares plain strings: "10.0.0" sorts before "3.4.1", so no warning there.
    assert kb.st("3.4.1").version_warning("10.0.0") is None


def test_loader_facts():
    kb = knowledge()
    pooling_23 = kb.st("2.3.1").loader(kb.st("2.3.1").resolve_class("sentence_transformers.models.Pooling").origin)
    assert pooling_23.mode == "splat" and not pooling_23.accepts("include_prompt")
    assert pooling_23.accepts("pooling_mode_weightedmean_tokens")
    modular = kb.st("5.7.0")
    pooling_57 = modular.loader(modular.resolve_class("sentence_transformers.models.Pooling").origin)
    assert pooling_57.accepts("word_embedding_dimension") and pooling_57.accepts("pooling_mode_mean_tokens")
    dense_30 = kb.st("3.0.0").loader("sentence_transformers.models.Dense:Dense")
    dense_301 = kb.st("3.0.1").loader("sentence_transformers.models.Dense:Dense")
    assert dense_30.weight_files == ("pytorch_model.bin",)
    assert "model.safetensors" in dense_301.weight_files


def test_requires_dist_floors():
    kb = knowledge()
    assert kb.st("2.2.2").requires_dist["transformers"] == "<5.0.0,>=4.6.0"
    assert kb.st("6.0.0").checks_requirements and not kb.st("5.7.0").checks_requirements


def test_import_time_imports_leave_type_checking_blocks_out():
    kb = knowledge()
    # 6.2.0 imports faiss and usearch only under ``if TYPE_CHECKING:`` (util/quantization.py)
    assert not {"faiss", "usearch"} & set(kb.st("6.2.0").third_party_imports)
    assert "PIL" in kb.st("2.2.2").third_party_imports and "cached_download" in kb.st("2.2.2").hub_imports
