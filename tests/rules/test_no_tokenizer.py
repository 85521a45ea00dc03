"""STC025: no tokenizer file next to the transformer (a partial commit of weights and config).

What happens is the target transformers' AutoTokenizer, read from each release's source into the knowledge
(transformers.json ``missing_tokenizer_files``): ``raises`` (OSError, no vocabulary file resolved),
``converts`` (a slow-tokenizer conversion that needs protobuf or sentencepiece: ImportError without them),
``default_vocab`` (5.x: loads, every word is the unknown token). damaged/no_tokenizer is st2.2.2/bert_plain
without tokenizer.json, vocab.txt, tokenizer_config.json and special_tokens_map.json; its truth cells hold
the real outcomes (fails in 2.2.2-5.1.2, degraded with min cosine 0.77 from 5.3.0 on).
"""

from __future__ import annotations

import json

import pytest
from packaging.version import Version

from conftest import check_code, cell_target, FIXTURES, truth_stacks, truth_cells
from stcompat.kb.query import knowledge

STACKS = truth_stacks()
MODEL = FIXTURES / "damaged" / "no_tokenizer"
TRUTH = {c["release"]: c for c in truth_cells()
         if c["model"] == "damaged/no_tokenizer"}


def test_the_knowledge_has_the_three_behaviours_in_release_order():
    kb = knowledge()
    seen = [(kb.missing_tokenizer_files(Version(v), "bert") or {}).get("behaviour")
            for v in ("4.30.2", "4.37.2", "4.51.3", "4.52.4", "4.57.6", "5.0.0", "5.25.0")]
    assert seen == ["raises", "raises", "raises", "converts", "converts", "default_vocab", "default_vocab"]
    facts = kb.missing_tokenizer_files(Version("4.51.3"), "bert")
    assert facts["exception"] == "OSError" and facts["fast_tokenizer"] == "BertTokenizerFast"
    assert kb.missing_tokenizer_files(Version("4.51.3"), "roberta")["fast_tokenizer"] == "RobertaTokenizerFast"
    assert "bert" in kb.missing_tokenizer_files(Version("5.25.0"), "bert")["model_types"]


@pytest.mark.parametrize("release", sorted(TRUTH))
def test_each_release_does_what_the_real_load_did(release):
    cell = TRUTH[release]
    result, (finding,) = check_code(MODEL, cell_target(cell), "STC025")
    assert result.verdict == cell["outcome"]
    if cell["outcome"] == "fails":
        assert (result.predicted_error.type, result.predicted_error.message) == (
            cell["error"]["type"], cell["error"]["message"])
    # The fix is the files, in the message; never a version change.
    assert "restore the tokenizer files of the model folder" in finding.message and result.fix == ()


def test_protobuf_in_the_target_makes_the_conversion_unknown():
    # 4.57 converts a slow tokenizer; with protobuf (or sentencepiece) installed that path goes elsewhere.
    cell = TRUTH["5.1.2"]
    for extra in ("protobuf", "sentencepiece==0.2.0"):
        result, (finding,) = check_code(MODEL, f"{cell_target(cell)} {extra}", "STC025")
        assert finding.effect == "unknown" and result.verdict == "unknown", extra


def test_a_folder_with_any_tokenizer_file_is_not_reported(copy_model):
    model = copy_model(MODEL)
    (model / "vocab.txt").write_text((FIXTURES / "st2.2.2" / "bert_plain" / "vocab.txt").read_text())
    for release in ("2.2.2", "5.1.2", "6.2.0"):
        assert check_code(model, STACKS[release], "STC025")[1] == [], release


def test_a_type_without_a_default_vocabulary_is_unknown_in_5(copy_model):
    model = copy_model(MODEL)
    config = json.loads((model / "config.json").read_text())
    config["model_type"] = "gpt2"  # its 5.x tokenizer builds no default vocabulary from nothing
    (model / "config.json").write_text(json.dumps(config))
    facts = knowledge().missing_tokenizer_files(Version("5.25.0"), "gpt2")
    assert "gpt2" not in facts["model_types"]
    result, (finding,) = check_code(model, STACKS["6.2.0"], "STC025")
    assert finding.effect == "unknown"


def test_a_tokenizer_file_linked_from_outside_is_not_taken_for_absent(copy_model, tmp_path):
    # The reader does not follow a link out of the folder (STC011); the loader does, and finds a vocabulary.
    model = copy_model(MODEL)
    outside = tmp_path / "shared-vocab.txt"
    outside.write_text((FIXTURES / "st2.2.2" / "bert_plain" / "vocab.txt").read_text())
    (model / "vocab.txt").symlink_to(outside)
    result, found = check_code(model, STACKS["6.2.0"], "STC025")
    assert found == [] and "STC011" in {f.code for f in result.findings}
