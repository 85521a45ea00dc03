"""inspect on the real all-MiniLM-L6-v2 folder (saved by ST 2.0.0, legacy layout)."""

from __future__ import annotations

import json
import math

from safetensors import safe_open

from stcompat import inspect_model


def test_versions_recorded_at_save_time(minilm):
    manifest = inspect_model(minilm)
    assert manifest.saved_with == {"sentence_transformers": "2.0.0", "transformers": "4.6.1", "pytorch": "1.8.1"}
    assert manifest.st_config.keys == ("__version__",)


def test_pipeline_and_module_configs(minilm):
    manifest = inspect_model(minilm)
    assert manifest.generation == "legacy"
    assert manifest.model_kind == "SentenceTransformer"
    assert [(m.idx, m.path, m.type) for m in manifest.modules] == [
        (0, "", "sentence_transformers.models.Transformer"),
        (1, "1_Pooling", "sentence_transformers.models.Pooling"),
        (2, "2_Normalize", "sentence_transformers.models.Normalize"),
    ]
    transformer, pooling, normalize = manifest.modules
    assert transformer.config == {"max_seq_length": 256, "do_lower_case": False}
    assert transformer.config_file == "sentence_bert_config.json"
    assert pooling.config["word_embedding_dimension"] == 384
    assert manifest.pooling.modes == ("mean",)
    assert manifest.pooling.schema == "legacy-booleans"
    assert manifest.pooling.include_prompt is None
    # The package ships no 2_Normalize folder; Normalize needs none, so it is only an info.
    assert not normalize.folder_exists
    assert [(p.code, p.severity.value) for p in manifest.problems] == [("STC012", "info")]
    assert manifest.usable


def test_transformer_tokenizer_and_weights(minilm):
    manifest = inspect_model(minilm)
    t = manifest.transformer
    assert (t.model_type, t.architectures, t.transformers_version) == ("bert", ("BertModel",), "4.8.2")
    assert t.hidden_size == 384 and t.max_seq_length == 256 and t.auto_map == {}
    tok = manifest.tokenizer
    assert tok.kind == "WordPiece" and tok.merges_format is None and tok.vocab_size == 30522
    assert "vocab.txt" in tok.files and "tokenizer.json" in tok.files
    (weights,) = manifest.weights
    assert weights.path == "model.safetensors" and weights.header_ok
    # Cross-check the header reader against the safetensors library itself.
    with safe_open(str(minilm / "model.safetensors"), "np") as handle:
        shapes = [handle.get_slice(k).get_shape() for k in handle.keys()]
        dtypes = {handle.get_slice(k).get_dtype() for k in handle.keys()}
    assert weights.tensors == len(shapes)
    assert weights.parameters == sum(math.prod(s) for s in shapes)
    assert set(weights.dtypes) == dtypes
    assert manifest.features == ("transformer", "pooling", "normalize", "pooling_mean", "safetensors_weights")


def test_json_schema_fields(minilm):
    from stcompat.report.inspect_json import render

    document = json.loads(render([inspect_model(minilm)]))
    assert document["schema"] == "stcompat.inspect/1"
    assert document["saved_with"]["sentence_transformers"] == "2.0.0"
    assert [m["type"] for m in document["modules"]][0] == "sentence_transformers.models.Transformer"
    assert document["transformer"]["model_type"] == "bert"
    assert document["tokenizer"]["kind"] == "WordPiece"
    assert document["tokenizer"]["merges_format"] is None
    assert "pooling_mean" in document["features"]
    assert document["code_files"] == [] and document["unlisted_modules"] == []
    assert document["transformer"]["activations"] == {} and document["transformer"]["num_labels"] is None


def test_json_reports_a_cross_encoders_activation_and_a_copy_without_modules_json():
    from conftest import FIXTURES, fixture_path
    from stcompat.report.inspect_json import render

    document = json.loads(render([inspect_model(fixture_path("4.1.0", "cross_encoder_identity"))]))
    assert document["transformer"]["num_labels"] == 1
    assert document["transformer"]["activations"] == {
        "sentence_transformers.activation_fn": "torch.nn.modules.linear.Identity"}
    document = json.loads(render([inspect_model(FIXTURES / "damaged" / "no_modules_json")]))
    assert [m["kind"] for m in document["unlisted_modules"]] == ["Pooling", "Dense", "Normalize"]
