"""Error texts come from the data only: every covered release has them, and they render as the release prints."""

from __future__ import annotations

import ast
import json
import re

import pytest
from packaging.version import Version

from stcompat.kb.query import DATA, knowledge

TRANSFORMERS_ROWS = json.loads((DATA / "transformers.json").read_text(encoding="utf-8"))["releases"]
TRANSFORMERS = [row["version"] for row in TRANSFORMERS_ROWS]


@pytest.mark.parametrize("release", knowledge().st_releases, ids=lambda r: str(r.version))
def test_every_st_release_has_its_import_error_text(release) -> None:
    resolution = release.resolve_class("sentence_transformers.models.NoSuchModule")
    assert resolution.error_type == "ImportError"
    assert resolution.error_message == \
        'Module "sentence_transformers.models" does not define a "NoSuchModule" attribute/class'


@pytest.mark.parametrize("version", TRANSFORMERS)
def test_every_transformers_release_has_its_error_texts(version: str) -> None:
    kb = knowledge()
    unknown = kb.unknown_model_type_error(Version(version), "modernbert")
    assert unknown is not None and unknown[0] in ("KeyError", "ValueError")
    no_weights = kb.no_weights_error(Version(version), "/models/m")
    assert no_weights is not None and no_weights[0] in ("EnvironmentError", "OSError")
    # every field is rendered from the release's own constants: none is left as {expr}
    assert "{" not in no_weights[1] and "/models/m" in no_weights[1]


def test_unknown_model_type_error_per_generation() -> None:
    kb = knowledge()
    assert kb.unknown_model_type_error(Version("4.30.2"), "modernbert") == ("KeyError", "'modernbert'")
    exception, message = kb.unknown_model_type_error(Version("4.57.1"), "modernbert")
    assert exception == "ValueError" and message.startswith(
        "The checkpoint you are trying to load has model type `modernbert` but Transformers does not recognize "
        "this architecture.")
    assert kb.unknown_model_type_error(Version("3.5.0"), "bert") is None  # not covered


@pytest.mark.parametrize("version,expected", [
    ("4.6.1", ("EnvironmentError", "Error no file named ['pytorch_model.bin', 'tf_model.h5', 'model.ckpt.index', "
                                   "'flax_model.msgpack'] found in directory /m or `from_tf` and `from_flax` set to "
                                   "False.")),
    ("4.18.0", ("EnvironmentError", "Error no file named pytorch_model.bin, tf_model.h5, model.ckpt.index or "
                                    "flax_model.msgpack found in directory /m.")),
    ("4.30.2", ("EnvironmentError", "Error no file named pytorch_model.bin, tf_model.h5, model.ckpt.index or "
                                    "flax_model.msgpack found in directory /m.")),
    ("5.24.0", ("OSError", "Error no file named model.safetensors found in directory /m.")),
])
def test_no_weights_error_text(version: str, expected: tuple[str, str]) -> None:
    assert knowledge().no_weights_error(Version(version), "/m") == expected
    assert knowledge().no_weights_error(Version("3.0.0"), "/m") is None


def test_weight_file_names_are_the_release_constants() -> None:
    """The names transformers' templates use, as its modeling_utils imports them (utils/__init__ or file_utils)."""
    rows = {row["version"]: row["no_weights_error"] for row in TRANSFORMERS_ROWS}
    assert rows["4.6.1"]["constants"] == {"FLAX_WEIGHTS_NAME": "flax_model.msgpack", "TF2_WEIGHTS_NAME": "tf_model.h5",
                                          "TF_WEIGHTS_NAME": "model.ckpt", "WEIGHTS_NAME": "pytorch_model.bin"}
    assert rows["5.24.0"]["constants"] == {"SAFE_WEIGHTS_NAME": "model.safetensors"}
    for version, error in rows.items():
        fields = re.findall(r"\{([^{}]+)\}", error["message"])
        named = {n.id for f in fields for n in ast.walk(ast.parse(f, mode="eval")) if isinstance(n, ast.Name)}
        constants = {n for n in named if n.isupper()}
        assert constants == set(error["constants"]), version


def test_pairs_error() -> None:
    assert knowledge().pairs_error() == "data did not match any variant of untagged enum ModelWrapper"


def test_requirements_error_as_6x_prints_it() -> None:
    """check_version_requirements of 6.0-6.2; the rule's hand-typed text put "pip install" on the same line."""
    release = knowledge().st("6.2.0")
    unmet = [("transformers", ">=5.30", "5.24.0", "It needs the new tokenizer."), ("pytorch", ">=3.0", None, None),
             ("python", ">=3.14", "3.11.7", None)]
    assert release.requirements_error("/models/m", unmet) == (
        "The model '/models/m' requires:\n"
        "- transformers>=5.30, but transformers==5.24.0 is installed. It needs the new tokenizer.\n"
        "- torch>=3.0, but it is not installed.\n"
        "- python>=3.14, but python==3.11.7 is installed.\n"
        "Install compatible versions with:\n"
        '    pip install -U "transformers>=5.30" "torch>=3.0"')
    assert release.requirements_error(None, unmet[2:]) == (
        "This model requires:\n- python>=3.14, but python==3.11.7 is installed.")
    assert release.requirements_error_type == "ImportError"
    assert release.requirement_aliases == {"pytorch": "torch"}
    assert release.requirements_error("/models/m", []) is None


def test_requirements_error_only_where_checked() -> None:
    for release in knowledge().st_releases:
        covered = release.requirements_error("/m", [("torch", ">=9", "2.13.0", None)]) is not None
        assert covered == release.checks_requirements == (release.version >= Version("6.0.0")), release.version
