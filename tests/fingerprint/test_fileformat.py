"""Fingerprint files: round trips, float16 storage loss, and the errors for unusable files."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest

from stcompat.errors import FingerprintError
from stcompat.fingerprint.corpus import Corpus, CorpusEntry
from stcompat.fingerprint.fileformat import FORMAT, EmbeddingSet, Fingerprint, read_fingerprint, write_fingerprint


def _fp(storage: str = "float32") -> Fingerprint:
    rng = np.random.default_rng(0)
    values = rng.normal(size=(3, 4)).astype(np.float32)
    corpus = Corpus((CorpusEntry("a"), CorpusEntry("b", ("t",), "query"), CorpusEntry("c")), "builtin")
    return Fingerprint(model={"sha256": "x"}, pipeline={"dimension": 4}, environment={"python": "3.11"},
                       settings={"precision": "float32"}, corpus=corpus,
                       sets={"main": EmbeddingSet("main", (0, 1, 2), values),
                             "prompted": EmbeddingSet("prompted", (1,), values[1:2] * 2, ("query",))},
                       storage=storage)


def test_float32_round_trip_is_exact(tmp_path):
    fp = _fp()
    back = read_fingerprint(write_fingerprint(fp, tmp_path / "a.fp"))
    assert np.array_equal(back.main, fp.main)
    assert back.sets["prompted"].rows == (1,) and back.sets["prompted"].prompts == ("query",)
    assert back.corpus.entries == fp.corpus.entries
    assert back.storage_max_abs_error == 0.0
    with zipfile.ZipFile(tmp_path / "a.fp") as zf:
        header = json.loads(zf.read("header.json"))
    assert header["format"] == FORMAT and header["arrays"]["main"]["dtype"] == "<f4"


def test_float16_storage_states_its_loss(tmp_path):
    fp = _fp("float16")
    back = read_fingerprint(write_fingerprint(fp, tmp_path / "a.fp"))
    err = float(np.max(np.abs(back.main - fp.main)))
    assert 0 < err <= back.storage_max_abs_error + 1e-12
    assert back.storage_max_abs_error < 2e-3


def test_not_a_fingerprint_is_stc601(tmp_path):
    bad = tmp_path / "bad.fp"
    bad.write_text("hello")
    with pytest.raises(FingerprintError) as info:
        read_fingerprint(bad)
    assert info.value.code == "STC601" and info.value.path == str(bad)


def test_newer_format_is_stc603(tmp_path):
    path = write_fingerprint(_fp(), tmp_path / "a.fp")
    with zipfile.ZipFile(path) as zf:
        header = json.loads(zf.read("header.json"))
        members = {n: zf.read(n) for n in zf.namelist()}
    header["format"] = "stcompat.fingerprint/2"
    members["header.json"] = json.dumps(header).encode()
    with zipfile.ZipFile(path, "w") as zf:
        for name, blob in members.items():
            zf.writestr(name, blob)
    with pytest.raises(FingerprintError) as info:
        read_fingerprint(path)
    assert info.value.code == "STC603" and info.value.path == str(path)


def test_edited_corpus_or_truncated_array_is_stc601(tmp_path):
    path = write_fingerprint(_fp(), tmp_path / "a.fp")
    with zipfile.ZipFile(path) as zf:
        header = json.loads(zf.read("header.json"))
        members = {n: zf.read(n) for n in zf.namelist()}
    for edit in ("corpus", "array"):
        h, m = json.loads(json.dumps(header)), dict(members)
        if edit == "corpus":
            h["corpus"]["entries"][0]["text"] = "changed"
        else:
            m["arrays/main.bin"] = m["arrays/main.bin"][:-4]
        m["header.json"] = json.dumps(h).encode()
        target = tmp_path / f"{edit}.fp"
        with zipfile.ZipFile(target, "w") as zf:
            for name, blob in m.items():
                zf.writestr(name, blob)
        with pytest.raises(FingerprintError) as info:
            read_fingerprint(target)
        assert info.value.code == "STC601", edit
