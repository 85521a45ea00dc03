"""STC122: a sentence-transformers release that imports, when it is imported, a name its declared transformers
range admits but does not have (2.4.0 declares transformers>=4.32.0 and imports is_nltk_available, which
transformers has from 4.34). The facts are extracted (kb: transformers_imports per ST release, lacks_st_imports
per transformers release); the slow test loads it for real, before and after check's fix."""

from __future__ import annotations

import pytest
from packaging.version import Version

from conftest import FIXTURES
from stcompat.checker import check
from stcompat.kb.query import knowledge

MODEL = FIXTURES / "st2.2.2" / "bert_plain"
PINS = "sentence-transformers==2.4.0 transformers==4.32.1 tokenizers==0.13.3 huggingface-hub==0.16.4 numpy==1.26.4"


def _check(target: str):
    (result,) = check(MODEL, targets=[target + " torch==2.13.0"], resolve=False)
    return result


def test_the_import_error_is_predicted_and_the_fix_moves_transformers_to_a_release_that_has_the_name():
    result = _check(PINS)
    assert result.verdict == "fails" and [f.code for f in result.findings] == ["STC122"]
    assert (result.predicted_error.type, result.predicted_error.message) == (
        "ImportError", "cannot import name 'is_nltk_available' from 'transformers.utils.import_utils'")
    moved = dict(requirement.split("==") for requirement in result.fix)
    kb = knowledge()
    assert not kb.transformers_lacks(Version(moved["transformers"]), kb.st("2.4.0").transformers_imports)
    assert Version(moved["transformers"]) < Version("4.35")  # the nearest release that has it, not the newest
    fixed = " ".join(f"{name}=={moved.get(name, version)}" for name, version in (p.split("==") for p in PINS.split()))
    assert _check(fixed).verdict == "ok"


def test_releases_that_import_nothing_missing_are_not_flagged():
    # 2.3.1 imports nothing from transformers submodules at import time; 4.34+ has both names.
    assert _check(PINS.replace("2.4.0", "2.3.1")).verdict == "ok"
    assert "STC122" not in {f.code for f in _check(PINS.replace("4.32.1", "4.34.1").replace("0.13.3", "0.14.1")).findings}


@pytest.mark.slow
def test_a_real_load_raises_what_check_predicts_and_the_fix_loads():
    from stcompat.matrix.runner import run_matrix

    extra = [p for p in PINS.split() if not p.startswith("sentence-transformers")]
    (cell,) = run_matrix([str(MODEL)], ["2.4.0"], extra=extra, reference="2.4.0", batch=True, jobs=1).cells
    predicted = _check(PINS).predicted_error
    assert cell.outcome == "fails" and cell.error["type"] == predicted.type
    # Python appends the module's file to the message: the target's site-packages, which check cannot know.
    assert cell.error["message"].startswith(predicted.message + " (")
    fix = _check(PINS).fix
    fixed = [p for p in extra if p.split("==")[0] not in {f.split("==")[0] for f in fix}] + list(fix)
    (after,) = run_matrix([str(MODEL)], ["2.4.0"], extra=fixed, reference="2.4.0", batch=True, jobs=1).cells
    assert after.outcome == "ok", after.error
