"""check against the facts measured on real releases (issue 3), on fixtures saved by those releases.

Targets pin every layer so no resolver runs; the stacks are those the releases really ran in
when the truth table was measured (tests/fixtures/truth.json).
"""

from __future__ import annotations

import json

import pytest
from packaging.version import Version

from conftest import check_in, codes, fixture_entries, fixture_path, truth_stacks
from stcompat.checker import check

# The stacks each release really ran in (truth.json, written by real loads): nothing typed here.
STACKS = truth_stacks()


def test_22_rejects_23_pooling_keys():
    result = check_in(fixture_path("2.3.1", "bert_plain"), "2.2.2")
    assert result.verdict == "fails"
    assert (result.predicted_error.type, result.predicted_error.message) == (
        "TypeError", "Pooling.__init__() got an unexpected keyword argument 'pooling_mode_weightedmean_tokens'")
    # the oldest release that reads the keys, and the transformers its Requires-Dist (>=4.32.0) asks for
    assert result.fix == ("sentence-transformers==2.3.0", "transformers==4.32.1")
    assert "transformers 4.30.2 -> 4.32.1: sentence-transformers 2.3.0 requires transformers<5.0.0,>=4.32.0" \
        in result.fix_notes


def test_23_rejects_include_prompt():
    result = check_in(fixture_path("2.7.0", "bert_plain"), "2.3.1")
    assert result.predicted_error.message == "Pooling.__init__() got an unexpected keyword argument 'include_prompt'"
    failing = [f for f in result.findings if f.code == "STC102"][0]
    assert (failing.file, failing.key) == ("1_Pooling/config.json", "include_prompt")
    assert result.fix == ("sentence-transformers==2.4.0",)


@pytest.mark.parametrize("old", ["3.0.1", "4.1.0", "5.3.0"])
def test_54_save_on_53_or_older(old):
    result = check_in(fixture_path("5.7.0", "bert_plain"), old)
    assert result.verdict == "fails"
    assert result.predicted_error.type == "ModuleNotFoundError"
    assert result.predicted_error.message == "No module named 'sentence_transformers.base'"
    assert result.fix == ("sentence-transformers==5.4.0",)  # its transformers<6.0.0,>=4.41.0 admits the target's
    assert f"sentence-transformers {old} -> 5.4.0: clears STC101" in result.fix_notes


def test_6x_normalize_on_5x():
    result = check_in(fixture_path("6.2.0", "bert_plain"), "5.7.0")
    assert result.verdict == "fails"
    assert result.predicted_error.message == "No module named 'sentence_transformers.base.modules.normalize'"
    # 6.0.0 and 6.1.0 cap huggingface-hub below 2.0 (the target has 2.4.0): 6.2.0 alone moves one package
    assert result.fix == ("sentence-transformers==6.2.0",)


def test_static_embedding_before_32():
    result = check_in(fixture_path("3.4.1", "static"), "3.0.1")
    assert result.predicted_error.type == "ImportError"
    assert result.predicted_error.message == \
        'Module "sentence_transformers.models" does not define a "StaticEmbedding" attribute/class'


def test_router_before_50():
    result = check_in(fixture_path("5.1.2", "router"), "4.1.0")
    assert result.predicted_error.type == "ImportError"
    assert 'does not define a "Router" attribute/class' in result.predicted_error.message


def test_bpe_pairs_on_old_tokenizers_but_not_wordpiece():
    bpe = check_in(fixture_path("3.4.1", "roberta_plain"), "3.0.1")
    assert "STC301" in codes(bpe) and bpe.verdict == "fails"
    assert bpe.predicted_error.type == "Exception"
    assert bpe.predicted_error.message.startswith(
        "data did not match any variant of untagged enum ModelWrapper at line ")
    # tokenizers 0.20 reads pairs, and transformers 4.41.2 caps tokenizers below 0.20: both move
    assert bpe.fix == ("transformers==4.45.2", "tokenizers==0.20.3")
    wordpiece = check_in(fixture_path("3.4.1", "bert_plain"), "3.0.1")
    assert "STC301" not in codes(wordpiece)
    strings = check_in(fixture_path("3.0.1", "roberta_plain"), "3.0.1")
    assert "STC301" not in codes(strings)


def test_prompts_ignored_before_24_once_the_rest_loads(copy_model):
    model = copy_model(fixture_path("2.7.0", "bert_prompts"))
    pooling = model / "1_Pooling" / "config.json"
    config = json.loads(pooling.read_text())
    del config["include_prompt"]
    pooling.write_text(json.dumps(config))
    result = check_in(model, "2.3.1")
    assert result.verdict == "degraded" and result.predicted_error is None
    assert [f.code for f in result.findings if f.effect.value == "degraded"] == ["STC110"]


def test_similarity_fn_ignored_before_30():
    result = check_in(fixture_path("3.0.1", "bert_simfn"), "2.7.0")
    assert result.verdict == "degraded"
    assert "STC111" in codes(result)
    assert result.fix == ("sentence-transformers==3.0.0",)


def test_truncate_dim_saved_from_54_and_ignored_before():
    saved_54 = check_in(fixture_path("5.7.0", "bert_trunc"), "5.3.0")
    assert "STC112" in codes(saved_54)
    saved_34 = check_in(fixture_path("3.4.1", "bert_trunc"), "3.0.1")  # 3.4.1 did not write truncate_dim
    assert "STC112" not in codes(saved_34)
    assert check_in(fixture_path("5.7.0", "bert_trunc"), "5.7.0").verdict == "ok"


def test_unknown_config_keys_are_ignored(copy_model):
    model = copy_model(fixture_path("2.7.0", "bert_plain"))
    cst = model / "config_sentence_transformers.json"
    config = json.loads(cst.read_text())
    config["some_future_key"] = {"x": 1}
    cst.write_text(json.dumps(config))
    assert check_in(model, "2.7.0").verdict == "ok"


def test_minilm_ok_here_and_on_222(minilm):
    assert check_in(minilm, "2.2.2").verdict == "ok"
    (here,) = check(minilm)
    assert here.verdict == "ok" and here.target.description == "current environment"


ST_ENTRIES = [e for e in fixture_entries() if e["variant"] not in ("cross_encoder", "sparse")]


@pytest.mark.parametrize("entry", ST_ENTRIES, ids=lambda e: e["path"])
def test_every_fixture_is_ok_on_the_release_that_saved_it(entry):
    versions = entry["versions"]
    target = " ".join(f"{name}=={versions[name].split('+')[0]}" for name in
                      ("sentence-transformers", "transformers", "tokenizers", "torch") if name in versions)
    (result,) = check(fixture_path(entry["release"], entry["variant"]), targets=[target], resolve=False)
    assert result.verdict == "ok", [(f.code, f.message) for f in result.findings]


@pytest.mark.parametrize("entry", ST_ENTRIES, ids=lambda e: e["path"])
def test_every_fixture_loads_on_the_newest_release(entry):
    result = check_in(fixture_path(entry["release"], entry["variant"]), "6.2.0")
    findings = [(f.code, f.message) for f in result.findings]
    if entry["variant"] in ("bert_fp16", "bert_bf16") and Version(entry["versions"]["transformers"]).major < 5:
        # Loads, but transformers 5 computes a half-precision save of transformers 4 in half precision
        # (tests/rules/test_half_precision.py); nothing else may be found.
        assert result.verdict == "degraded" and {code for code, _ in findings} == {"STC203"}, findings
        return
    assert result.verdict == "ok", findings


def test_safetensors_only_weights_on_a_transformers_that_cannot_read_them(minilm):
    old = "sentence-transformers==2.2.2 transformers==4.18.0 tokenizers==0.12.1 torch==2.13.0 python==3.11"
    (result,) = check(minilm, targets=[old], resolve=False)
    assert result.verdict == "fails" and "STC402" in codes(result)
    assert result.predicted_error.type in ("OSError", "EnvironmentError")
    assert result.predicted_error.message.startswith(
        f"Error no file named pytorch_model.bin, tf_model.h5, model.ckpt.index or flax_model.msgpack found in "
        f"directory {minilm}")
    assert result.fix == ("transformers==4.30.2",)  # the rule's own bound: reads them and depends on safetensors
    assert "STC402" not in codes(check_in(minilm, "2.2.2"))  # 4.30.2 reads it and depends on safetensors


@pytest.mark.parametrize("variant", ["cross_encoder", "sparse"])
def test_cross_and_sparse_encoders_are_judged_as_sentence_transformer_loads(variant):
    # From 5.0, SentenceTransformer(path) loads another kind's folder as a plain transformer:
    # its modules.json (new paths) is never imported, so 5.1.2 loads a 6.2.0 save.
    result = check_in(fixture_path("6.2.0", variant), "5.3.0", "sentence-transformer")
    assert result.verdict == "ok" and "STC903" in codes(result) and "STC101" not in codes(result)
    # Before 5.0 there is no such gate: the modular modules.json is imported and fails.
    failed = check_in(fixture_path("6.2.0", variant), "4.1.0", "sentence-transformer")
    assert failed.predicted_error.type == "ModuleNotFoundError"


def test_saved_settings_of_another_kind_are_not_applied():
    result = check_in(fixture_path("5.1.2", "sparse"), "6.2.0", "sentence-transformer")  # saved similarity_fn_name "dot"
    assert result.verdict == "degraded" and "STC111" in codes(result)


def test_st_222_cannot_import_with_hub_026(minilm):
    broken = "sentence-transformers==2.2.2 transformers==4.30.2 tokenizers==0.13.3 huggingface-hub==0.26.0 torch==2.13.0"
    (result,) = check(minilm, targets=[broken], resolve=False)
    assert result.verdict == "fails" and codes(result)[0] == "STC120"
    assert (result.predicted_error.type, result.predicted_error.message) == (
        "ImportError", "cannot import name 'cached_download' from 'huggingface_hub'")
    # The hub cap alone: STC120 is about the environment layer, and ST 2.2.2 "upgraded" to itself is no
    # fix (0.1 read the code's digits as an ST-layer problem and printed sentence-transformers>=2.2.2).
    assert result.fix == ("huggingface-hub==0.25.2",)
    assert result.fix_notes == ("huggingface-hub 0.26.0 -> 0.25.2: clears STC120",)
    assert "STC120" not in codes(check_in(minilm, "2.2.2"))  # hub 0.16.4
    assert "STC120" not in codes(check_in(minilm, "2.3.1"))  # 2.3 no longer imports it


def test_stack_outside_published_ranges_is_noted(minilm):
    (result,) = check(minilm, targets=["sentence-transformers==6.2.0 transformers==4.40.0 python==3.9"], resolve=False)
    notes = [f.message for f in result.findings if f.code == "STC121"]
    assert any("requires Python >=3.10" in n for n in notes)
    assert any("transformers<6.0.0,>=5.0.0" in n for n in notes)


def test_unmet_requirements_predicted_word_for_word_by_a_real_6x_load(copy_model):
    # The model's 6.0 requirements block, judged against this environment (ST 6.2.0): the predicted
    # ImportError must be the one the installed release really raises, message and all.
    import subprocess
    import sys

    model = copy_model(fixture_path("6.2.0", "bert_plain"))
    config_file = model / "config_sentence_transformers.json"
    config = json.loads(config_file.read_text())
    config["requirements"] = {"torch": ">=99.0", "transformers": {"specifier": "<5.0", "reason": "needs v4"},
                              "sentence-transformers": ">=6.0"}
    config_file.write_text(json.dumps(config))
    (result,) = check(model)  # the current environment
    assert result.verdict == "fails" and codes(result)[0] == "STC113"
    finding = result.findings[0]
    assert (finding.file, finding.key) == ("config_sentence_transformers.json", "requirements")
    assert result.fix == ('pip install -U "torch>=99.0" "transformers<5.0"',)
    probe = ("import sys\nfrom sentence_transformers import SentenceTransformer\n"
             "try:\n    SentenceTransformer(sys.argv[1])\nexcept Exception as exc:\n"
             "    print(type(exc).__name__); print(str(exc), end='')\n")
    real = subprocess.run([sys.executable, "-c", probe, str(model)], capture_output=True, text=True, timeout=300,
                          env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"})
    error_type, _, message = real.stdout.partition("\n")
    assert (result.predicted_error.type, result.predicted_error.message) == (error_type, message), real.stderr[-2000:]
