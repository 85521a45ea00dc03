"""STC403: a pytorch_model.bin that holds more than tensors, under torch.load's weights-only default.

tests/fixtures/damaged/bin_numpy_object is st2.2.2/bert_plain with a numpy array added to its state dict
(tools/make_fixtures.py). Every release loads it with torch 2.13 in the truth table and fails; check
predicts the exception and message of each (test_check_vs_truth.py); here the mechanism's parts.
"""

from __future__ import annotations

from conftest import FIXTURES, fixture_path, truth_cells, truth_stacks
from stcompat.checker import check
from stcompat.kb.query import knowledge
from stcompat.model.inspect import inspect_model
from packaging.version import Version

STACKS = truth_stacks()
FOLDER = FIXTURES / "damaged" / "bin_numpy_object"


def one(release: str, target: str | None = None):
    (result,) = check(FOLDER, targets=[target or STACKS[release]], resolve=False)
    return result


def test_the_reader_lists_the_pickles_globals_without_unpickling():
    (weights,) = [w for w in inspect_model(FOLDER).weights if w.path == "pytorch_model.bin"]
    assert weights.pickle_globals[0] == "torch._utils._rebuild_tensor_v2"
    assert any(g.startswith("numpy.") for g in weights.pickle_globals)
    (plain,) = [w for w in inspect_model(fixture_path("2.2.2", "bert_plain")).weights if w.path == "pytorch_model.bin"]
    assert all(g.startswith("torch.") or g == "collections.OrderedDict" for g in plain.pickle_globals)


def test_torch_2_13_refuses_it_in_every_release_with_that_releases_words():
    for release in ("2.2.2", "4.1.0", "6.2.0"):
        result = one(release)
        assert result.verdict == "fails" and result.predicted_error is not None, release
        assert [f.code for f in result.findings if f.effect == "fails"] == ["STC403"], release
    assert one("2.2.2").predicted_error.type == "OSError"  # transformers 4.x wraps torch's error
    modern = one("6.2.0").predicted_error
    assert modern.type == "UnpicklingError" and "numpy._core.multiarray._reconstruct" in modern.message
    real = [c for c in truth_cells() if c["model"] == "damaged/bin_numpy_object" and c["release"] == "6.2.0"]
    assert real and real[0]["error"]["message"] == modern.message
    # No version of transformers or sentence-transformers clears it: the fix is the file.
    assert not any("==" in f for f in one("6.2.0").fix)


def test_an_older_torch_is_unknown_and_the_intact_save_is_fine():
    kb = knowledge()
    assert kb.weights_only(Version("2.5.1")).default is False and kb.weights_only(Version("2.6.0")).default is True
    old_torch = STACKS["6.2.0"].replace("torch==2.13.0", "torch==2.5.1")
    result = one("6.2.0", old_torch)
    finding = next(f for f in result.findings if f.code == "STC403")
    assert finding.effect == "unknown" and "weights_only=True" in finding.message
    (intact,) = check(fixture_path("2.2.2", "bert_plain"), targets=[STACKS["2.2.2"]], resolve=False)
    assert "STC403" not in [f.code for f in intact.findings]


def test_a_float8_tensor_is_unknown_under_a_torch_without_float8(copy_model):
    import torch
    from safetensors.torch import save_file

    folder = copy_model(fixture_path("6.2.0", "bert_plain"))
    save_file({"scale": torch.zeros(4, dtype=torch.float8_e4m3fn)}, str(folder / "extra.safetensors"))
    kb = knowledge()
    first = kb.first_torch_with_dtypes(("F8_E4M3",))
    assert first is not None and kb.torch_lacks_dtypes(Version(first), ("F8_E4M3",)) == ()
    older = max((r["version"] for r in kb._torch["releases"] if Version(r["version"]) < Version(first)), key=Version)
    stack = STACKS["6.2.0"].replace("torch==2.13.0", f"torch=={older}")
    (result,) = check(folder, targets=[stack], resolve=False)
    finding = next(f for f in result.findings if f.code == "STC404")
    assert finding.effect == "unknown" and "F8_E4M3" in finding.message and f"torch {first}" in finding.message
    (current,) = check(folder, targets=[STACKS["6.2.0"]], resolve=False)
    assert "STC404" not in [f.code for f in current.findings]


def test_a_torch_the_knowledge_lacks_is_unknown_for_a_foreign_global_only():
    newest = max((r["version"] for r in knowledge()._torch["releases"]), key=Version)
    future = Version(newest).major, Version(newest).minor + 5
    stack = STACKS["6.2.0"].replace("torch==2.13.0", f"torch=={future[0]}.{future[1]}.0")
    result = one("6.2.0", stack)
    assert next(f for f in result.findings if f.code == "STC403").effect == "unknown"
    (intact,) = check(fixture_path("2.2.2", "bert_plain"), targets=[stack], resolve=False)
    assert "STC403" not in [f.code for f in intact.findings]  # tensors and an OrderedDict: every list admits them
