"""Knowledge.reader_facts(): what the model reader knows about module classes, read from the ST sources.

The hand tables below are the ones src/stcompat/model/st_config.py typed before the facts moved to the
knowledge base; the generated facts hold all of them, except where the sources show a table was wrong.
"""

from __future__ import annotations

from stcompat.kb.query import ReaderFacts, knowledge

HAND_SBERT_CONFIG_NAMES = (
    "sentence_bert_config.json", "sentence_roberta_config.json", "sentence_distilbert_config.json",
    "sentence_camembert_config.json", "sentence_albert_config.json", "sentence_xlm-roberta_config.json",
    "sentence_xlnet_config.json",
)
HAND_TRANSFORMER_KINDS = frozenset({"Transformer", "MLMTransformer"})
HAND_CONFIG_REQUIRED_KINDS = frozenset({
    "Pooling", "Dense", "Router", "Asym", "LayerNorm", "WordWeights", "CNN", "LSTM",
    "WeightedLayerPooling", "Dropout", "SpladePooling", "SparseAutoEncoder", "WordEmbeddings", "BoW",
})
HAND_FILELESS_KINDS = frozenset({"Normalize"})
HAND_LEGACY_POOLING_FLAGS = {
    "pooling_mode_cls_token": "cls",
    "pooling_mode_mean_tokens": "mean",
    "pooling_mode_max_tokens": "max",
    "pooling_mode_mean_sqrt_len_tokens": "mean_sqrt_len_tokens",
    "pooling_mode_weightedmean_tokens": "weightedmean",
    "pooling_mode_lasttoken": "lasttoken",
}


def facts() -> ReaderFacts:
    return knowledge().reader_facts()


def test_sbert_config_names_in_load_order() -> None:
    assert facts().sbert_config_names == HAND_SBERT_CONFIG_NAMES


def test_transformer_kinds() -> None:
    # CLIPModel is a Transformer subclass (reads sentence_bert_config) from 5.4 on.
    assert facts().transformer_kinds == HAND_TRANSFORMER_KINDS | {"CLIPModel"}
    clip = knowledge().st("5.4.0").loader("sentence_transformers.sentence_transformer.modules.clip_model:CLIPModel")
    assert clip.tries_config_names == HAND_SBERT_CONFIG_NAMES
    assert not knowledge().st("5.3.0").loader("sentence_transformers.models.CLIPModel:CLIPModel").tries_config_names


def test_config_required_kinds() -> None:
    required = facts().config_required_kinds
    # SpladePooling (5.0+) loads through Module.load: load_config returns {} without the file and every
    # __init__ parameter has a default, so it needs no file at all.
    assert HAND_CONFIG_REQUIRED_KINDS - {"SpladePooling"} <= required
    assert "SpladePooling" not in required and "SpladePooling" in facts().fileless_kinds
    # the sources add: T5 (2.0-2.1, sentence_T5_config.json), the tokenizers BoW/WordEmbeddings load, ...
    assert {"T5", "WhitespaceTokenizer", "PhraseTokenizer"} <= required
    # disjoint from the transformer kinds, though 2.0.0's CLIPModel opened config.json and failed without it
    assert not required & facts().transformer_kinds
    assert knowledge().st("2.0.0").loader("sentence_transformers.models.CLIPModel:CLIPModel").fails_without_config


def test_fileless_kinds() -> None:
    fileless = facts().fileless_kinds
    assert HAND_FILELESS_KINDS <= fileless
    assert not fileless & facts().config_required_kinds
    # Dropout needs no file from 5.0 on but opened config.json before: not fileless everywhere
    assert "Dropout" not in fileless and "Dropout" in facts().config_required_kinds


def test_legacy_pooling_modes() -> None:
    modes = facts().legacy_pooling_modes
    assert dict(modes) == HAND_LEGACY_POOLING_FLAGS
    # ST's order (the order 5.4+ Pooling concatenates modes in) puts max before mean
    assert list(modes)[:3] == ["pooling_mode_cls_token", "pooling_mode_max_tokens", "pooling_mode_mean_tokens"]
    assert knowledge().st("5.4.0").data["legacy_pooling_modes"] == dict(modes)
    assert knowledge().st("5.3.0").data["legacy_pooling_modes"] == {}


def test_config_file_names() -> None:
    files = facts().config_file_names
    assert files["Pooling"] == ("config.json",)
    assert files["Router"] == ("router_config.json", "config.json")
    # not config.json: the names these loaders open
    assert files["CNN"] == ("cnn_config.json",) and files["LSTM"] == ("lstm_config.json",)
    assert files["WordEmbeddings"] == ("wordembedding_config.json",)
    assert files["Transformer"] == HAND_SBERT_CONFIG_NAMES


def test_the_reader_summary_is_what_the_release_data_says():
    # kb/data/reader_facts.json is written by tools/build_kb.py from sentence_transformers.json, so the
    # reader need not walk every loader of every release on each inspect; the two must agree.
    from stcompat.kb.query import ReaderFacts, knowledge, reader_facts

    derived = reader_facts(knowledge().st_releases)
    stored = knowledge().reader_facts()
    assert stored.as_dict() == derived.as_dict()
    assert ReaderFacts.from_dict(derived.as_dict()).as_dict() == derived.as_dict()
    assert {"SpladePooling", "MLMTransformer", "SparseAutoEncoder", "SparseStaticEmbedding"} <= stored.sparse_kinds
