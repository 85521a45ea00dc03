"""Copies people make by hand: weights that are Git LFS pointers (STC021) or cut short (STC022), or a folder
without modules.json whose module folders nothing reads.

The damaged folders are tests/fixtures/damaged/* (tools/make_fixtures.py DAMAGES: real saves, then one
file replaced by its LFS pointer or its first half); what real releases raise on them is in truth.json.
"""

from __future__ import annotations

import pytest

from conftest import FIXTURES, fixture_entries, fixture_manifest
from stcompat import inspect_model

ALL_DAMAGED = fixture_manifest().get("damaged", [])
CODES = {"lfs": "STC021", "truncate": "STC022"}
DAMAGED = [d for d in ALL_DAMAGED if d["damage"].split(":")[0] in CODES]


def _damaged(name: str) -> dict:
    return next(d for d in ALL_DAMAGED if d["path"] == f"damaged/{name}")


def test_every_damage_kind_has_a_fixture():
    assert {d["damage"].split(":")[0] for d in ALL_DAMAGED} == set(CODES) | {"delete", "retype", "flatten", "copy",
                                                                             "pickle_numpy", "remote_code"}
    assert {d["damage"].split(":")[1] for d in DAMAGED} >= {"pytorch_model.bin", "model.safetensors"}


def test_without_modules_json_the_module_folders_are_listed_as_unlisted():
    entry = _damaged("no_modules_json")
    source = inspect_model(FIXTURES / entry["derived_from"])
    manifest = inspect_model(FIXTURES / entry["path"])
    assert manifest.modules == () and source.unlisted_modules == ()
    # Every module folder of the save, with its class from the folder name and the Pooling mode it holds.
    saved = [(m.path, m.kind) for m in source.modules if m.path]
    assert [(m.path, m.kind) for m in manifest.unlisted_modules] == saved
    pooling = next(m for m in manifest.unlisted_modules if m.kind == "Pooling")
    assert pooling.pooling_modes == source.pooling.modes


@pytest.mark.parametrize("entry", DAMAGED, ids=lambda d: d["path"])
def test_the_damaged_file_is_named_with_its_own_code(entry):
    action, damaged_file = entry["damage"].split(":", 1)
    manifest = inspect_model(FIXTURES / entry["path"])
    named = [(p.code, p.file) for p in manifest.problems if p.code in CODES.values()]
    assert named == [(CODES[action], damaged_file)]
    assert not manifest.usable
    # The same folder as saved has neither finding: the damage, not the model, is what is reported.
    source = inspect_model(FIXTURES / entry["derived_from"])
    assert not [p for p in source.problems if p.code in CODES.values()]


def test_no_saved_fixture_reads_as_truncated():
    for entry in fixture_entries():
        manifest = inspect_model(FIXTURES / entry["path"])
        assert not [p for p in manifest.problems if p.code in ("STC021", "STC022")], entry["path"]
        assert all(w.header_ok is not False for w in manifest.weights), entry["path"]


@pytest.mark.parametrize("cut", [22, 1000, 0.5, 0.9])
def test_a_torch_zip_cut_anywhere_before_its_end_record_is_truncated(copy_model, cut):
    model = copy_model(FIXTURES / "st2.2.2" / "bert_plain")
    weights = model / "pytorch_model.bin"
    raw = weights.read_bytes()
    keep = len(raw) - cut if isinstance(cut, int) else int(len(raw) * cut)
    weights.unlink()
    weights.write_bytes(raw[:keep])
    manifest = inspect_model(model)
    assert [p.code for p in manifest.problems if p.file == "pytorch_model.bin"] == ["STC022"]


@pytest.mark.parametrize("keep", [12, 100, 0.5, -1])
def test_a_safetensors_file_cut_anywhere_after_its_length_is_truncated(copy_model, keep):
    model = copy_model(FIXTURES / "st2.3.1" / "bert_plain")
    weights = model / "model.safetensors"
    raw = weights.read_bytes()
    size = keep if isinstance(keep, int) and keep > 0 else len(raw) + keep if isinstance(keep, int) \
        else int(len(raw) * keep)
    weights.unlink()
    weights.write_bytes(raw[:size])
    manifest = inspect_model(model)
    assert [p.code for p in manifest.problems if p.file == "model.safetensors"] == ["STC022"]
