"""inspect on every fixture saved by a real release: the values read, per on-disk generation.

Expectations come from the manifest (which release and dependency versions saved each fixture)
and from what each generation writes (research/releases.md section 1).
"""

from __future__ import annotations

import math

import pytest
from packaging.version import Version
from safetensors import safe_open

from conftest import FIXTURES, fixture_entries
from stcompat import inspect_model

OTHER_KINDS = ("cross_encoder", "cross_encoder_identity", "sparse")
ST_ENTRIES = [e for e in fixture_entries() if e["variant"] not in OTHER_KINDS]


def _release(entry) -> Version:
    return Version(entry["release"])


@pytest.mark.parametrize("entry", ST_ENTRIES, ids=lambda e: e["path"])
def test_saved_versions_and_generation(entry):
    manifest = inspect_model(FIXTURES / entry["path"])
    assert manifest.usable
    assert manifest.saved_with["sentence_transformers"] == entry["release"]
    assert manifest.saved_with["transformers"] == entry["versions"]["transformers"]
    assert manifest.saved_with["pytorch"] == entry["versions"]["torch"]
    modular = _release(entry) >= Version("5.4")
    assert manifest.generation == ("modular" if modular else "legacy")
    namespaces = {m.namespace for m in manifest.modules}
    assert namespaces == {"modular" if modular else "legacy"}
    if _release(entry) >= Version("5.0"):
        assert manifest.st_config.get("model_type") == "SentenceTransformer"
    assert manifest.model_kind == "SentenceTransformer"


@pytest.mark.parametrize("entry", [e for e in ST_ENTRIES if e["variant"] not in ("static", "router")],
                         ids=lambda e: e["path"])
def test_transformer_tokenizer_and_pooling(entry):
    manifest = inspect_model(FIXTURES / entry["path"])
    t = manifest.transformer
    bpe = entry["variant"].startswith("roberta")
    assert t.model_type == ("roberta" if bpe else "bert")
    assert t.max_seq_length == 64 and t.hidden_size == 32
    assert t.transformers_version == entry["versions"]["transformers"]
    tok = manifest.tokenizer
    assert tok.kind == ("BPE" if bpe else "WordPiece")
    if bpe:
        pairs = Version(entry["versions"]["tokenizers"]) >= Version("0.20")
        assert tok.merges_format == ("pairs" if pairs else "strings")
        assert ("bpe_merges_pairs" in manifest.features) == pairs
    else:
        assert tok.merges_format is None
    pooling = manifest.pooling
    assert pooling.modes == ("mean",) and pooling.dimension == 32
    assert pooling.schema == ("modular" if _release(entry) >= Version("5.4") else "legacy-booleans")
    # max_seq_length lives in sentence_bert_config (legacy) or tokenizer_config (modular)
    transformer_module = manifest.modules[0]
    assert ("max_seq_length" in transformer_module.config) == (_release(entry) < Version("5.4"))


@pytest.mark.parametrize("entry", ST_ENTRIES, ids=lambda e: e["path"])
def test_features_per_variant(entry):
    manifest = inspect_model(FIXTURES / entry["path"])
    features = set(manifest.features)
    variant = entry["variant"]
    expected = {
        "bert_prompts": {"prompts", "default_prompt_name"},
        "bert_inclprompt": {"prompts", "include_prompt_false"},
        "bert_simfn": {"similarity_fn_name"},
        "bert_dense": {"dense"},
        "static": {"static_embedding"},
        "router": {"router", "static_embedding"},
    }.get(variant, set())
    assert expected <= features
    # truncate_dim is accepted from 2.7 but written to the config only from 5.4
    assert ("truncate_dim" in features) == (variant == "bert_trunc" and _release(entry) >= Version("5.4"))
    if variant == "bert_plain":
        assert not features & {"prompts", "similarity_fn_name", "truncate_dim", "dense"}


@pytest.mark.parametrize("entry", ST_ENTRIES, ids=lambda e: e["path"])
def test_weights_headers_match_the_safetensors_library(entry):
    folder = FIXTURES / entry["path"]
    manifest = inspect_model(folder)
    formats = {w.format for w in manifest.weights}
    if _release(entry) < Version("2.3"):
        assert "pickle" in formats and "STC015" in [p.code for p in manifest.problems]
    for weights in manifest.weights:
        if weights.format != "safetensors":
            continue
        assert weights.header_ok
        with safe_open(str(folder / weights.path), "np") as handle:
            shapes = [handle.get_slice(k).get_shape() for k in handle.keys()]
            dtypes = {handle.get_slice(k).get_dtype() for k in handle.keys()}
        assert weights.tensors == len(shapes)
        assert weights.parameters == sum(math.prod(s) for s in shapes)
        assert set(weights.dtypes) == dtypes


@pytest.mark.parametrize("entry", [e for e in fixture_entries() if e["variant"] in OTHER_KINDS],
                         ids=lambda e: e["path"])
def test_cross_and_sparse_encoders_are_named(entry):
    manifest = inspect_model(FIXTURES / entry["path"])
    cross = entry["variant"].startswith("cross_encoder")
    assert manifest.model_kind == ("CrossEncoder" if cross else "SparseEncoder")
    if cross:
        assert manifest.transformer.num_labels == 1
    if cross and _release(entry) < Version("5.4"):
        assert manifest.generation == "plain-transformers" and manifest.modules == ()
        assert manifest.transformer.architectures[0].endswith("ForSequenceClassification")
