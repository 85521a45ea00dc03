"""STC024: a module folder of modules.json is missing (a copy made by hand, a partial commit).

Every release fails, each with its own exception; why is read from each release's module-loading loop
into the knowledge (``missing_module_folder``: open_config, hub_download, empty_config). damaged/pooling_missing
is st2.2.2/bert_plain without 1_Pooling/; its truth cells (tests/fixtures/truth.json) hold the real errors.
"""

from __future__ import annotations

import json
import shutil

import pytest
from packaging.version import Version

from conftest import check_code, FIXTURES, truth_stacks, truth_cells
from stcompat.kb.query import knowledge
from stcompat.vocab import Layer

STACKS = truth_stacks()
MODEL = FIXTURES / "damaged" / "pooling_missing"
TRUTH = {c["release"]: c for c in truth_cells()
         if c["model"] == "damaged/pooling_missing"}


def test_every_covered_release_knows_what_its_loop_does():
    behaviours = {str(r.version): (r.data.get("missing_module_folder") or {}).get("behaviour")
                  for r in knowledge().st_releases}
    assert None not in behaviours.values()
    # Read from the source, the three behaviours fall in the release spans the real loads show.
    assert behaviours["2.2.2"] == "open_config"
    assert {behaviours[v] for v in ("2.3.1", "2.7.0", "3.0.1", "3.4.1", "4.1.0")} == {"hub_download"}
    assert {behaviours[v] for v in ("5.0.0", "5.4.1", "6.2.0")} == {"empty_config"}


@pytest.mark.parametrize("release", sorted(TRUTH))
def test_the_real_error_is_predicted_and_the_fix_names_the_files(release):
    cell = TRUTH[release]
    target = " ".join(f"{k}=={v.split('+')[0]}" for k, v in cell["versions"].items()
                      if k in ("sentence-transformers", "transformers", "tokenizers", "torch", "huggingface-hub"))
    result, (finding,) = check_code(MODEL, target, "STC024")
    assert result.verdict == "fails" and finding.file == "1_Pooling"
    assert (result.predicted_error.type, result.predicted_error.message) == (
        cell["error"]["type"], cell["error"]["message"])
    assert "restore 1_Pooling/config.json" in finding.message
    assert result.fix == ()  # the files are the fix, never a version change
    assert finding.layer is Layer.INPUT


def test_a_module_that_needs_no_file_is_not_reported(copy_model):
    # Normalize reads nothing from its folder (2_Normalize is empty in every save): its absence is no finding.
    model = copy_model(FIXTURES / "st2.2.2" / "bert_plain")
    shutil.rmtree(model / "2_Normalize", ignore_errors=True)
    for release in ("2.2.2", "4.1.0", "6.2.0"):
        result, found = check_code(model, STACKS[release], "STC024")
        assert found == [] and result.verdict == "ok", release


def test_the_hub_error_is_claimed_only_where_it_was_measured():
    # huggingface_hub rejects a repo id with more than one '/' outright (check passes the folder's absolute
    # path, as the truth loads did); a bare folder name passes that check and the hub then tries the network.
    kb = knowledge()
    assert kb.repo_id_error(Version("0.23.0"), "/models/pooling_missing")[0] == "HFValidationError"
    assert kb.repo_id_error(Version("0.23.0"), "pooling_missing") is None
    assert kb.repo_id_error(Version("0.5.0"), "/models/pooling_missing") is None  # never measured there
