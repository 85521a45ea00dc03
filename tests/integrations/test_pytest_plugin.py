"""The pytest plugin, driven by pytest's own pytester: marker, fixture, --stcompat-update, start-up cost.

The models are tiny fixtures saved by ST 6.2.0, fingerprinted in the test with stcompat's own
fingerprint(); the broken ones are copies with one edit a deployment could make by accident.
"""

from __future__ import annotations

import json
import shutil
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from integration_support import FIXTURES, copy_model
from stcompat.fingerprint import Corpus, fingerprint, load_corpus, load_fingerprint

pytest_plugins = ["pytester"]

MODEL = FIXTURES / "st6.2.0" / "bert_plain"  # Transformer, mean Pooling, Normalize


@pytest.fixture(scope="module")
def short_corpus() -> Corpus:
    """24 probe texts, prompted ones included: enough for every band, quick to embed."""
    return Corpus(load_corpus().entries[:24], "builtin-first-24")


def _edit(path: Path, edit) -> None:
    data = json.loads(path.read_text())
    path.write_text(json.dumps(edit(data) or data, indent=2))


@pytest.fixture(scope="module")
def model_fp(tmp_path_factory, short_corpus) -> Path:
    """The model's fingerprint, made once, before any pytester run.

    Also the warm-up the in-process runs need: pytester removes the modules a run imported when the
    test ends, and torch cannot be imported twice in one process; everything a verify imports is
    imported here first, so it stays.
    """
    path = tmp_path_factory.mktemp("fp") / "model.fp"
    fingerprint(MODEL, path, corpus=short_corpus, progress=False)
    return path


@pytest.fixture()
def project(pytester: pytest.Pytester, model_fp):
    """A user's project: the model, two broken copies, and the committed fingerprint of the model."""
    copy_model(MODEL, pytester.path / "models" / "good")
    no_normalize = copy_model(MODEL, pytester.path / "models" / "no_normalize")
    _edit(no_normalize / "modules.json", lambda modules: [m for m in modules if m["path"] != "2_Normalize"])
    cls_pooling = copy_model(MODEL, pytester.path / "models" / "cls_pooling")
    _edit(cls_pooling / "1_Pooling" / "config.json", lambda c: {**c, "pooling_mode": "cls"})
    (pytester.path / "fps").mkdir()
    shutil.copy2(model_fp, pytester.path / "fps" / "model.fp")
    return pytester


def test_the_plugin_is_registered_as_a_pytest11_entry_point():
    found = {ep.name: ep.value for ep in entry_points(group="pytest11")}
    assert found.get("stcompat") == "stcompat.integrations.pytest_plugin"


def test_marker_and_fixture_pass_on_the_model_as_pinned(project):
    project.makepyfile(test_pinned="""
        import pytest

        @pytest.mark.stcompat_verify("models/good", "fps/model.fp")
        def test_marked():
            pass

        def test_by_hand(stcompat_verify):
            report = stcompat_verify("models/good", "fps/model.fp")
            assert report.verdict == "identical" and report.exit_status == 0
    """)
    result = project.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*stcompat fingerprints*", "identical*models/good vs fps/model.fp"])


def test_a_broken_model_fails_with_its_band_and_diagnosis(project):
    project.makepyfile(test_broken="""
        import pytest

        @pytest.mark.stcompat_verify("models/no_normalize", "fps/model.fp")
        def test_normalize_dropped():
            raise AssertionError("the test body must not run when the verify fails")

        def test_pooling_changed(stcompat_verify):
            stcompat_verify("models/cls_pooling", "fps/model.fp")

        @pytest.mark.stcompat_verify("models/good")
        def test_marker_missing_its_fingerprint():
            pass
    """)
    result = project.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=3)
    out = result.stdout.str()
    assert "stcompat verify: models/no_normalize vs fps/model.fp: BROKEN" in out
    assert "cause (normalize)" in out and "Normalize" in out
    assert "stcompat verify: models/cls_pooling vs fps/model.fp: BROKEN" in out
    assert "cause (pooling)" in out
    assert "pytest --stcompat-update" in out
    assert "the test body must not run" not in out
    assert "Traceback" not in out  # one clear message, not the plugin's internals
    assert "@pytest.mark.stcompat_verify takes (model, fingerprint), got 1 arguments" in out


def test_update_rewrites_the_fingerprint_deliberately(project, short_corpus):
    # The model changed on purpose (CLS pooling now): verify fails, --stcompat-update accepts it,
    # keeping the corpus the old file recorded, and then the new embeddings verify.
    project.makepyfile(test_update="""
        import pytest

        @pytest.mark.stcompat_verify("models/cls_pooling", "fps/model.fp")
        def test_marked():
            pass

        def test_new_file(stcompat_verify):
            stcompat_verify("models/cls_pooling", "fps/new/cls.fp")
    """)
    fp_file = project.path / "fps" / "model.fp"
    before = fp_file.read_bytes()
    result = project.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(["*no fingerprint at fps/new/cls.fp; create it with pytest --stcompat-update*"])

    result = project.runpytest("-p", "no:cacheprovider", "--stcompat-update")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["rewritten*models/cls_pooling vs fps/model.fp"])
    assert fp_file.read_bytes() != before
    rewritten = load_fingerprint(fp_file)
    assert rewritten.corpus.entries == short_corpus.entries
    assert rewritten.pipeline.get("pooling_mode") == "cls"
    assert len(load_fingerprint(project.path / "fps" / "new" / "cls.fp").corpus.entries) > len(short_corpus.entries)

    result = project.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)


def test_plugin_start_up_imports_no_torch(pytester: pytest.Pytester):
    # A fresh interpreter, the plugin loaded from its entry point, a test collected and run.
    pytester.makepyfile(test_light="""
        import sys

        def test_light(request):
            assert request.config.pluginmanager.has_plugin("stcompat")
            heavy = sorted({m.split(".")[0] for m in sys.modules} & {"torch", "numpy", "sentence_transformers"})
            assert heavy == []
    """)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
