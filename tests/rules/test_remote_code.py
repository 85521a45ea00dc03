"""STC202: a config.json whose auto_map points at code in the folder, with a model_type transformers does not
know (tests/fixtures/damaged/remote_code). Every release refuses it; the words depend on whether the loader
class passes trust_remote_code=False (ST 2.3+) or nothing (2.2: transformers asks on stdin) and on the
transformers release (kbbuild/remote_code_facts.py). The truth table holds the real loads of every release
(test_check_vs_truth.py); here the mechanism's parts."""

from __future__ import annotations

import json

from packaging.version import Version

from conftest import FIXTURES, fixture_path, truth_cells, truth_stacks
from stcompat.checker import check
from stcompat.kb.query import knowledge
from stcompat.kbbuild.remote_code_facts import remote_code_facts

STACKS = truth_stacks()
FOLDER = FIXTURES / "damaged" / "remote_code"


def one(folder, release: str):
    (result,) = check(folder, targets=[STACKS[release]], resolve=False)
    return result


def test_each_generation_of_the_refusal_matches_the_real_load():
    real = {c["release"]: c["error"] for c in truth_cells() if c["model"] == "damaged/remote_code"}
    for release, kind in (("2.2.2", "EOFError"), ("2.3.1", "ValueError"), ("6.2.0", "ValueError")):
        result = one(FOLDER, release)
        assert result.verdict == "fails" and "STC202" in [f.code for f in result.findings], release
        assert (result.predicted_error.type, result.predicted_error.message) == (real[release]["type"],
                                                                                 real[release]["message"]), release
        assert result.predicted_error.type == kind
    assert "STC201" not in [f.code for f in one(FOLDER, "6.2.0").findings]  # the refusal comes first


def test_a_known_model_type_ignores_auto_map(copy_model):
    folder = copy_model(FIXTURES / "damaged" / "remote_code")
    config = json.loads((folder / "config.json").read_text())
    config["model_type"] = "bert"
    (folder / "config.json").write_text(json.dumps(config))
    result = one(folder, "6.2.0")
    assert result.verdict == "ok"
    assert next(f for f in result.findings if f.code == "STC202").effect == "info"


def test_the_facts_read_from_transformers_and_sentence_transformers():
    kb = knowledge()
    old, caught = kb.remote_code(Version("4.30.2")), kb.remote_code(Version("4.40.2"))
    assert old["prompts"] and not old["prompt_failure_caught"] and caught["prompt_failure_caught"]
    assert kb.st("2.2.2").data["loader_classes"]["trust_remote_code"]["SentenceTransformer"] is None
    assert kb.st("2.3.1").data["loader_classes"]["trust_remote_code"]["SentenceTransformer"] is False
    source = '''
def resolve_trust_remote_code(trust_remote_code, model_name, has_local_code, has_remote_code):
    if trust_remote_code is None:
        try:
            answer = input("run it? ")
        except Exception:
            raise ValueError(f"Loading {model_name} needs trust")
    if has_remote_code and not has_local_code and not trust_remote_code:
        raise ValueError(f"Loading {model_name} needs trust")
'''
    assert remote_code_facts(source) == {"prompts": True, "prompt_failure_caught": True,
                                         "refusal": {"exception": "ValueError", "message": "Loading {model_name} needs trust"}}
    assert remote_code_facts("def other():\n    pass\n") is None


def test_the_intact_save_has_no_auto_map():
    assert "STC202" not in [f.code for f in one(fixture_path("2.2.2", "bert_plain"), "6.2.0").findings]
