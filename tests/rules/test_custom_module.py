"""STC106: a modules.json type from a package outside sentence_transformers fails with ModuleNotFoundError
where the target (given as requirements) does not provide it; STC104 (unknown) where it does, or where the
folder ships the code itself. STC107: from 6.0 the release refuses the import without trust_remote_code=True
(kb: custom_class_gate, extracted from its source), whatever is installed. damaged/custom_module (st2.2.2/bert_plain with its Pooling typed
InstructorEmbedding.INSTRUCTOR_Pooling) has truth cells in every release (test_check_vs_truth.py)."""

from __future__ import annotations

import pytest

from conftest import FIXTURES, truth_stacks
from stcompat.checker import check
from stcompat.kb.query import knowledge

STACKS = truth_stacks()
MODEL = FIXTURES / "damaged" / "custom_module"


def codes(result) -> set[str]:
    return {f.code for f in result.findings}


def _gated(release: str) -> bool:
    return bool(knowledge().st(release).data.get("custom_class_gate"))


UNGATED = sorted(r for r in STACKS if not _gated(r))
GATED = sorted(r for r in STACKS if _gated(r))


def test_both_sides_of_the_gate_are_covered():
    assert UNGATED and GATED


@pytest.mark.parametrize("release", UNGATED)
def test_not_installed_fails_on_import(release):
    (result,) = check(MODEL, targets=[STACKS[release]], resolve=False)
    assert result.verdict == "fails" and "STC106" in codes(result)
    assert (result.predicted_error.type, result.predicted_error.message) == (
        "ModuleNotFoundError", "No module named 'InstructorEmbedding'")
    assert not any("sentence-transformers" in fix for fix in result.fix)  # no ST release helps


@pytest.mark.parametrize("release", GATED)
def test_refused_without_trust_remote_code(release):
    # Installed or not: the release refuses before it imports.
    for extra in ("", " InstructorEmbedding==1.0.1"):
        (result,) = check(MODEL, targets=[STACKS[release] + extra], resolve=False)
        assert result.verdict == "fails" and codes(result) & {"STC106", "STC107", "STC104"} == {"STC107"}
        assert result.predicted_error.type == "ValueError"
        assert "'InstructorEmbedding.INSTRUCTOR_Pooling'" in result.predicted_error.message
        assert "trust_remote_code=True" in result.predicted_error.message and str(MODEL) in result.predicted_error.message


def test_named_in_the_target_it_is_its_own_code():
    (result,) = check(MODEL, targets=[STACKS[UNGATED[-1]] + " InstructorEmbedding==1.0.1"], resolve=False)
    assert result.verdict == "unknown" and "STC104" in codes(result) and "STC106" not in codes(result)


def test_shipped_as_a_code_file_in_the_folder_it_is_remote_code(copy_model):
    model = copy_model(MODEL)
    (model / "InstructorEmbedding.py").write_text("class INSTRUCTOR_Pooling: pass\n")
    (result,) = check(model, targets=[STACKS[UNGATED[-1]]], resolve=False)
    assert "STC106" not in codes(result) and "STC104" in codes(result)


def test_an_installed_environment_is_not_judged_from_layers_alone():
    # Only the stack's layers are read from an environment: whether it has the package is not known
    # (this environment's release may also refuse it outright: STC107).
    (result,) = check(MODEL)
    assert "STC106" not in codes(result) and codes(result) & {"STC104", "STC107"}


def test_an_installed_environment_lists_what_it_can_import_without_importing(tmp_path):
    from stcompat.env.installed import current_stack, importable_names

    stack = current_stack()
    assert {"numpy", "sentence_transformers", "stcompat", "json", "sys"} <= stack.importable
    assert "InstructorEmbedding" not in stack.importable
    (tmp_path / "pkg").mkdir()
    (tmp_path / "mod.py").write_text("")
    (tmp_path / "ext.cpython-311-x86_64-linux-gnu.so").write_bytes(b"")
    assert importable_names([str(tmp_path)]) == {"pkg", "mod", "ext"}
    zipped = tmp_path / "lib.zip"
    zipped.write_bytes(b"PK")
    assert importable_names([str(tmp_path), str(zipped)]) is None  # a zip's content is not listed: unknown


@pytest.mark.slow
def test_an_installed_release_without_the_package_fails_as_its_real_load_did():
    # A real 2.7.0 environment (the matrix machinery builds it) judged through --python: its sys.path has no
    # InstructorEmbedding, so the import fails, with the message the real load in 2.7.0 printed (truth.json).
    from conftest import truth_cells
    from stcompat.matrix import envs
    from stcompat.matrix.runner import default_torch

    import sys

    python = envs.ensure_env(envs.release_spec("2.7.0", python=sys.executable, torch=default_torch()))
    (result,) = check(MODEL, pythons=[str(python)])
    release = str(result.target.get("sentence-transformers"))
    assert result.target.importable is not None and "InstructorEmbedding" not in result.target.importable
    assert result.verdict == "fails" and "STC106" in codes(result)
    real = next(c for c in truth_cells() if c["model"] == "damaged/custom_module" and c["release"] == release)
    assert (result.predicted_error.type, result.predicted_error.message) == (real["error"]["type"],
                                                                             real["error"]["message"])
