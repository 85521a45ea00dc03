"""STC021/STC022 in check: the transformer's weights file is a Git LFS pointer or cut short. Every release fails;
the error is transformers' own where its load_state_dict replaces torch.load's (extracted from its source), else
torch's or safetensors' (kb/data/load_errors.json, measured). The fix is the real file, never a version.

The exact type and message per release are graded against real loads by test_check_vs_truth.py.
"""

from __future__ import annotations

import json

import pytest
from packaging.version import Version

from conftest import FIXTURES, fixture_manifest, truth_stacks
from stcompat.checker import check
from stcompat.kb.query import knowledge

# The measured stacks, with the safetensors each ran (what it raises for a damaged file is its own text).
_SAFETENSORS = {c["release"]: c["versions"]["safetensors"] for c in json.loads((FIXTURES / "truth.json").read_text())
                ["cells"] if "safetensors" in c["versions"]}
STACKS = {release: f"{stack} safetensors=={_SAFETENSORS[release]}" for release, stack in truth_stacks().items()}
DAMAGED = [d for d in fixture_manifest().get("damaged", []) if d["damage"].split(":")[0] in ("lfs", "truncate")]


@pytest.mark.parametrize("entry", DAMAGED, ids=lambda d: d["path"])
def test_the_file_is_named_and_no_version_is_suggested(entry):
    action, damaged_file = entry["damage"].split(":", 1)
    for release, stack in STACKS.items():
        (result,) = check(FIXTURES / entry["path"], targets=[stack], resolve=False)
        assert result.verdict == "fails"
        (finding,) = [f for f in result.findings if f.code in ("STC021", "STC022")]
        assert finding.code == ("STC021" if action == "lfs" else "STC022") and finding.file == damaged_file
        assert "git lfs pull" in finding.message and finding.fix is None
        assert result.predicted_error == finding.error is not None
        # No version change is proposed while the file is damaged (the intact save's own upgrade, if it
        # needs one, is judged once the file is repaired): the note says to repair first.
        assert result.fix == (), (release, result.fix)
        assert any(note.startswith("repair the files first") and damaged_file in note for note in result.fix_notes)


def test_transformers_4_replaces_torch_load_errors_and_5_does_not():
    kb = knowledge()
    rows = [(Version(r["version"]), r.get("pickle_load_errors")) for r in kb.document("transformers")["releases"]]
    wrapping = [v for v, errors in rows if errors]
    assert wrapping and all(v.major == 4 for v in wrapping)
    assert all(errors is None for v, errors in rows if v.major >= 5)
    for _, errors in rows:
        if errors:
            assert "git lfs pull" in errors["lfs_pointer"]["message"]
            assert "{checkpoint_file}" in errors["unreadable"]["message"]


def test_a_safetensors_file_cut_inside_its_header_fails_without_a_guessed_message(copy_model):
    model = copy_model(FIXTURES / "st2.3.1" / "bert_plain")
    weights = model / "model.safetensors"
    raw = weights.read_bytes()
    weights.unlink()
    weights.write_bytes(raw[:100])  # the 8-byte length, then part of the JSON header
    (result,) = check(model, targets=[STACKS["6.2.0"]], resolve=False)
    (finding,) = [f for f in result.findings if f.code == "STC022"]
    assert result.verdict == "fails" and finding.file == "model.safetensors"
    assert finding.error is None  # no release was measured on this cut: check does not invent the text


def test_an_unmeasured_torch_gives_no_message(copy_model):
    # transformers 5 lets torch.load's error through; its text is known only for the torch measured.
    stack = STACKS["6.2.0"].replace("torch==2.13.0", "torch==2.6.0")
    (result,) = check(FIXTURES / "damaged" / "bin_lfs", targets=[stack], resolve=False)
    assert result.verdict == "fails" and result.predicted_error is None
