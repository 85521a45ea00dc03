"""STC023: without modules.json every release builds its fallback pipeline (the kb's ``no_modules_fallback``,
extracted from each release's source) and leaves the folder's module folders unused.

damaged/no_modules_json is st2.2.2/bert_dense without modules.json: its truth cells (compared with the
intact save) are degraded in every release; the copies below vary what the folder holds.
"""

from __future__ import annotations

import json
import shutil

import pytest

from conftest import FIXTURES, truth_stacks
from stcompat.checker import check
from stcompat.kb.query import knowledge

STACKS = truth_stacks()


def _stc023(model, release: str):
    (result,) = check(model, targets=[STACKS[release]], resolve=False)
    return result, [f for f in result.findings if f.code == "STC023"]


def test_every_covered_release_knows_its_fallback():
    for release in knowledge().st_releases:
        fallback = release.data.get("no_modules_fallback")
        assert fallback and fallback["builds"][:2] == ["Transformer", "Pooling"], release.version
        assert "mean" in fallback["pooling_modes"], release.version


@pytest.mark.parametrize("release", sorted(STACKS))
def test_dense_and_normalize_left_unused_are_named(release):
    result, (finding,) = _stc023(FIXTURES / "damaged" / "no_modules_json", release)
    assert result.verdict == "degraded" and finding.file == "modules.json"
    # 1_Pooling holds mean pooling, which is what the fallback builds: not a loss.
    assert "2_Dense, 3_Normalize unused" in finding.message and "1_Pooling" not in finding.message


def _without_modules_json(copy_model, source, edit=None):
    model = copy_model(source)
    (model / "modules.json").unlink()
    if edit:
        edit(model)
    return model


def test_only_a_mean_pooling_folder_changes_nothing(copy_model):
    def keep_pooling_only(model):
        shutil.rmtree(model / "2_Normalize", ignore_errors=True)

    model = _without_modules_json(copy_model, FIXTURES / "st2.2.2" / "bert_plain", keep_pooling_only)
    for release in STACKS:
        assert _stc023(model, release)[1] == [], release


def test_a_pooling_of_another_mode_is_named(copy_model):
    def cls_pooling(model):
        shutil.rmtree(model / "2_Normalize", ignore_errors=True)
        config = json.loads((model / "1_Pooling" / "config.json").read_text())
        config.update(pooling_mode_mean_tokens=False, pooling_mode_cls_token=True)
        (model / "1_Pooling" / "config.json").write_text(json.dumps(config))

    model = _without_modules_json(copy_model, FIXTURES / "st2.2.2" / "bert_plain", cls_pooling)
    _, (finding,) = _stc023(model, "6.2.0")
    assert "1_Pooling unused" in finding.message


def test_a_causal_lm_gets_last_token_pooling_where_the_release_says_so(copy_model):
    # 5.4+ build lasttoken pooling for an architecture ending in ForCausalLM (kb: pooling_modes holds it);
    # older releases build mean pooling whatever the architecture.
    def causal_lasttoken(model):
        shutil.rmtree(model / "2_Normalize", ignore_errors=True)
        config = json.loads((model / "config.json").read_text())
        config["architectures"] = ["BertForCausalLM"]
        (model / "config.json").write_text(json.dumps(config))
        pooling = json.loads((model / "1_Pooling" / "config.json").read_text())
        pooling.update(pooling_mode_mean_tokens=False, pooling_mode_lasttoken=True)
        (model / "1_Pooling" / "config.json").write_text(json.dumps(pooling))

    model = _without_modules_json(copy_model, FIXTURES / "st2.2.2" / "bert_plain", causal_lasttoken)
    kb = knowledge()
    seen = set()
    for release in STACKS:
        builds_lasttoken = "lasttoken" in kb.st(release).data["no_modules_fallback"]["pooling_modes"]
        seen.add(builds_lasttoken)
        assert bool(_stc023(model, release)[1]) is not builds_lasttoken, release
    assert seen == {True, False}


def test_the_extractor_reads_the_fallback_function():
    import ast

    from stcompat.kbbuild.st_facts import Release, _no_modules_fallback

    source = b'''
class SentenceTransformer:
    def _load_default_modules(self, path):
        transformer = Transformer(path)
        mode = "lasttoken" if causal else "mean"
        return [transformer, Pooling(transformer.dim, mode)]
'''
    found = _no_modules_fallback(Release({"sentence_transformers.model": (source, False)}))
    assert found == {"function": "_load_default_modules", "module": "sentence_transformers.model",
                     "builds": ["Transformer", "Pooling"], "pooling_modes": ["lasttoken", "mean"]}
    assert ast.parse(source)  # the snippet is real Python
