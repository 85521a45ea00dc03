"""STC026: the transformer's config.json is not a transformers config (no ``model_type``).

damaged/flattened is st2.2.2/bert_plain with every module folder's files copied into the root (modules.json
paths "", the Pooling config overwriting config.json); damaged/config_not_transformers has the ST config
copied over config.json. Every release fails with ValueError "Unrecognized model in <path>": 4.x list the
types they know (transformers.json: model_type spans, unknown_model_type_error.missing_model_type), 5.x do
not; 2.2 pass the root as "<path>/" (its module loop joins the module path "").
"""

from __future__ import annotations

import json

import pytest
from packaging.version import Version

from conftest import check_code, cell_target, FIXTURES, truth_stacks, truth_cells
from stcompat.kb.query import knowledge

STACKS = truth_stacks()
CELLS = [c for c in truth_cells()
         if c["model"] in ("damaged/flattened", "damaged/config_not_transformers")]


@pytest.mark.parametrize("cell", CELLS, ids=lambda c: f"{c['model'].split('/')[1]}@{c['release']}")
def test_the_exact_error_of_each_release(cell):
    result, (finding,) = check_code(FIXTURES / cell["model"], cell_target(cell), "STC026")
    assert finding.file == "config.json" and finding.key == "model_type"
    assert (result.verdict, result.predicted_error.type, result.predicted_error.message) == (
        "fails", cell["error"]["type"], cell["error"]["message"])
    assert "restore the transformers config.json" in finding.message and finding.fix is None


def test_no_version_fix_while_the_files_are_the_problem():
    cell = next(c for c in CELLS if c["model"] == "damaged/flattened" and c["release"] == "3.2.0")
    result, _ = check_code(FIXTURES / cell["model"], cell_target(cell), "STC026")
    assert result.fix == ()


def test_the_4x_message_lists_the_release_s_types_and_5x_does_not():
    kb = knowledge()
    old = kb.missing_model_type_error(Version("4.41.2"), "/m/x")
    new = kb.missing_model_type_error(Version("5.25.0"), "/m/x")
    assert "bert, bert-generation" in old[1] and "modernbert" not in old[1]  # modernbert came in 4.48
    assert "modernbert" in kb.missing_model_type_error(Version("4.48.2"), "/m/x")[1]
    assert new == ("ValueError", "Unrecognized model in /m/x. Should have a `model_type` key in its config.json.")


def test_a_type_name_in_the_path_makes_4x_pick_that_type(copy_model):
    # 4.x AutoConfig looks for a known type's name in the path before raising: that type's config class is
    # then built from the file, which check cannot judge; 5.x raise whatever the path.
    model = copy_model(FIXTURES / "damaged" / "flattened", "my-bert-copy")
    result, (finding,) = check_code(model, STACKS["4.1.0"], "STC026")
    assert finding.effect == "unknown" and "'bert'" in finding.message
    result, (finding,) = check_code(model, STACKS["6.2.0"], "STC026")
    assert finding.effect == "fails" and result.predicted_error.type == "ValueError"
