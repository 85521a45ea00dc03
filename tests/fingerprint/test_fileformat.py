"""Fingerprint files: round trips, float16 storage loss, and the errors for unusable files.

Property tests (hypothesis): any JSON value in any header field is a HeaderError or a typed
header, never another exception; such a file reads or fails with STC601/603 and, when it reads,
compares and renders cleanly; valid fingerprints round-trip.
"""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from stcompat.errors import FingerprintError, StcompatError
from stcompat.fingerprint.corpus import Corpus, CorpusEntry
from stcompat.fingerprint.fileformat import FORMAT, EmbeddingSet, Fingerprint, read_fingerprint, write_fingerprint
from stcompat.fingerprint.header import HeaderError, parse_header


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


# --- compatibility: a file written before header validation existed -----------------------------

# Written by the stcompat.fingerprint/1 writer as it was before issue 12 (float16 storage, all three
# sets, a NUL inside a corpus text): it must read, unchanged, forever.
_OLD_FILE = (
    "UEsDBBQAAAAIAHibe13ixal6TwIAAJ8FAAALAAAAaGVhZGVyLmpzb26tVN1umzAYvecpkG/XUdsEQqo9xu66CBnzpfEGhhrTNa3y"
    "Zrvbi+3zTyHqWlWTFhESfI7Pd74f/Jyk5DCYXlhyk5LJyqEfhc0OSt+BGY3S9pqRq2SFHI1mLKN+VRoQFlq3yCkvPlOG11dKb/z1"
    "yd89sR9a6JD2nKSodRS8KN2mRweiA9XBFNGUiOz7NGgfiBJcOSfp2WmMaoROaXiRaVUPelKeuvE6o0GPdlW6n8GcnNA9fp2SZ1kz"
    "a4m2axRAUM9dFyOAflBm0ChrX4KMJ3sMZvKMsWB3FPKHuLtwbAcjj74IGVvjNJ1wlFtH8byU6Lmv7RGL1jqEX4XVBzAxjeDFp5zu"
    "o6kJrMV2TIsjn2StRQ9xh4+mXRc79QQ19A20bdxyEN0EsTggVYxDDt0gbM5DPo2w8lhPuBeh3LsiLTwo6Z6JHGcSrcjBjPNiZBpm"
    "EyjNrDr0GNTW7m42u00DheRQAG15SbksCsH4VlKoylLkvNpy2rYla9tdKeAATcF22y2tuKBUVEEPm2EUvK6khUc/i4LEIlrh873d"
    "+/pdvUFtXlP9Ez4S/2cf0VBfPzV+fN7V+/3r20zxI9/RfTpG4b86ivOC87PMsT2NsDSFlSHtXjzWoplqMGYwiNIMQ+22RUmrCutb"
    "5cUur6KgMEaclr70QullNN2r5evkKdcOy5rYqovQXw48LmH7/FLIIg+pbZKlQMQMP9csacBZ+OFJTPd88Tr64+FNMy/4vxhiHxhi"
    "F8B6HATsoqGryVl/ZHNl/H+jF8ebHuwy5USjy31y/gNQSwMEFAAAAAgAeJt7XZhS5aMbAAAAGAAAAA8AAABhcnJheXMvbWFpbi5i"
    "aW4TdZA9uNGse4fd9mebuA7kbH6za6mTlfGSrQBQSwMEFAAAAAgAeJt7XStc2+0KAAAACAAAABMAAABhcnJheXMvcHJvbXB0ZWQu"
    "Ymlus9v9bBvXkZztAFBLAwQUAAAACAB4m3tdWvyf3woAAAAIAAAAFQAAAGFycmF5cy91bnByb21wdGVkLmJpbrPb/mwT14GczQBQ"
    "SwECFAMUAAAACAB4m3td4sWpek8CAACfBQAACwAAAAAAAAAAAAAAgAEAAAAAaGVhZGVyLmpzb25QSwECFAMUAAAACAB4m3tdmFLl"
    "oxsAAAAYAAAADwAAAAAAAAAAAAAAgAF4AgAAYXJyYXlzL21haW4uYmluUEsBAhQDFAAAAAgAeJt7XStc2+0KAAAACAAAABMAAAAA"
    "AAAAAAAAAIABwAIAAGFycmF5cy9wcm9tcHRlZC5iaW5QSwECFAMUAAAACAB4m3tdWvyf3woAAAAIAAAAFQAAAAAAAAAAAAAAgAH7"
    "AgAAYXJyYXlzL3VucHJvbXB0ZWQuYmluUEsFBgAAAAAEAAQA+gAAADgDAAAAAA=="
)
_OLD_MAIN = [[2.040919065475464, -2.5556650161743164, 0.4180988371372223, -0.5677695870399475],
             [-0.4526492953300476, -0.21559716761112213, -2.019986152648926, -0.2319323718547821],
             [-0.8652130961418152, 3.3229994773864746, 0.22578661143779755, -0.3526307940483093]]


def test_a_file_written_before_validation_still_reads(tmp_path):
    import base64

    path = tmp_path / "old.fp"
    path.write_bytes(base64.b64decode("".join(_OLD_FILE)))
    fp = read_fingerprint(path)
    assert fp.storage == "float16" and 0 < fp.storage_max_abs_error < 2e-3
    assert set(fp.sets) == {"main", "prompted", "unprompted"} and fp.sets["prompted"].prompts == ("query",)
    assert np.array_equal(fp.main, np.asarray(_OLD_MAIN, dtype=np.float16).astype(np.float32))
    assert fp.corpus.entries[2].text == "ü\x00c" and fp.pipeline["prompts"] == {"query": "q: "}
    assert fp.settings["prompt_name"] is None and fp.extra == {"stcompat": "0.1.0"}
    again = read_fingerprint(write_fingerprint(fp, tmp_path / "again.fp"))
    assert np.array_equal(again.main, fp.main) and again.storage_max_abs_error == fp.storage_max_abs_error


# --- header validation: every record's checks cover its fields; writes are validated ------------


def test_every_record_has_a_check_per_field():
    from stcompat.fingerprint import header as h

    for record, checks in ((h.ModelRecord, h.MODEL_CHECKS), (h.PipelineRecord, h.PIPELINE_CHECKS),
                           (h.EnvironmentRecord, h.ENVIRONMENT_CHECKS), (h.SettingsRecord, h.SETTINGS_CHECKS),
                           (h.StorageRecord, h.STORAGE_CHECKS)):
        assert h.section_checks_match(record, checks), record.__name__


def test_the_writer_refuses_what_the_reader_would_refuse(tmp_path):
    from stcompat.errors import InputError

    bad = Fingerprint(**{**_fp().__dict__, "settings": {"batch_size": "32"}})
    with pytest.raises(InputError) as info:
        write_fingerprint(bad, tmp_path / "a.fp")
    assert info.value.code == "STC004" and "settings.batch_size" in info.value.message
    assert not (tmp_path / "a.fp").exists()
    fp = _fp("float16")
    huge = Fingerprint(**{**fp.__dict__, "sets": {"main": EmbeddingSet("main", (0, 1, 2), fp.main * 1e5)}})
    with pytest.raises(InputError, match="use float32 storage"):
        write_fingerprint(huge, tmp_path / "b.fp")


def test_nan_embeddings_store_a_finite_error(tmp_path):
    fp = _fp("float16")
    values = fp.main.copy()
    values[1] = np.nan
    fp = Fingerprint(**{**fp.__dict__, "sets": {"main": EmbeddingSet("main", (0, 1, 2), values)}})
    back = read_fingerprint(write_fingerprint(fp, tmp_path / "a.fp"))
    assert np.isnan(back.main[1]).all() and 0 < back.storage_max_abs_error < 2e-3


# --- properties (hypothesis) ---------------------------------------------------------------------

# Any character, lone surrogates and NUL included, plus the strings that broke readers before.
_ANY_TEXT = st.one_of(st.text(st.characters(exclude_categories=()), max_size=12),
                      st.sampled_from(["\ud800", "\x00", "NaN", "[/]", "\x1b[31m", "cuda:0", "float16", "<f4",
                                       "arrays/main.bin", "main", "query", "stcompat.fingerprint/2"]))
_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.integers(-3, 10), st.floats(), _ANY_TEXT)
JSON_VALUES = st.recursive(_SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                             st.dictionaries(_ANY_TEXT, inner, max_size=4)),
                           max_leaves=12)


def _paths(value, prefix=()):
    """Every place in a header: each key of each object, each list's first and last items."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield prefix + (key,)
            yield from _paths(item, prefix + (key,))
        yield prefix + ("x-new",)
    elif isinstance(value, list) and value:
        for index in {0, len(value) - 1}:
            yield prefix + (index,)
            yield from _paths(value[index], prefix + (index,))


@pytest.fixture(scope="module")
def good_header(tmp_path_factory):
    path = write_fingerprint(_fp(), tmp_path_factory.mktemp("prop") / "good.fp")
    with zipfile.ZipFile(path) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    header = json.loads(members["header.json"])
    return path, members, header, sorted(set(_paths(header)), key=repr)


def _substituted(header, path, value):
    out = json.loads(json.dumps(header))
    node = out
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return json.dumps(out, ensure_ascii=True).encode("utf-8")  # NaN/Infinity written as Python does


@settings(database=None, max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), value=JSON_VALUES)
def test_any_json_value_in_any_header_field_is_a_header_error_or_a_header(good_header, data, value):
    _, _, header, paths = good_header
    path = data.draw(st.sampled_from(paths), label="path")
    try:
        parsed = parse_header(_substituted(header, path, value))
    except HeaderError as exc:
        assert exc.code in ("STC601", "STC603") and exc.why.isprintable()
    else:  # what validation lets through is typed: sections rebuild as plain JSON objects
        for section in (parsed.model, parsed.pipeline, parsed.environment, parsed.settings, parsed.storage):
            assert isinstance(section.as_dict(), dict)


@settings(database=None, max_examples=150, deadline=None)
@given(raw=st.one_of(st.binary(max_size=200), JSON_VALUES.map(lambda v: json.dumps(v).encode())))
def test_any_bytes_as_header_are_a_header_error(raw):
    with pytest.raises(HeaderError):
        parse_header(raw)


@settings(database=None, max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), value=JSON_VALUES)
def test_a_file_with_any_field_replaced_reads_or_fails_with_stc601_and_compares_cleanly(good_header, tmp_path, data,
                                                                                         value):
    from stcompat.fingerprint import compare
    from stcompat.report.verify_report import render_json, render_table

    good, members, header, paths = good_header
    path = data.draw(st.sampled_from(paths), label="path")
    target = tmp_path / "x.fp"
    with zipfile.ZipFile(target, "w") as zf:
        for name, blob in members.items():
            zf.writestr(name, _substituted(header, path, value) if name == "header.json" else blob)
    try:
        fp = read_fingerprint(target)
    except FingerprintError as exc:
        assert exc.code in ("STC601", "STC603")
        return
    try:  # nothing downstream meets a wrong type: judge, diagnose and render it
        for report in (compare(good, fp), compare(fp, good)):
            json.loads(render_json(report), parse_constant=lambda name: pytest.fail(name))
            render_table(report)
    except StcompatError:
        pass  # e.g. STC606: a corpus edited consistently is another corpus


_NAME = st.text(st.characters(exclude_categories=("Cs", "Cc")), min_size=1, max_size=8)
_ENTRY = st.builds(CorpusEntry, st.text(st.characters(exclude_categories=("Cs",)), max_size=20),
                   st.lists(_NAME, max_size=2).map(tuple), st.one_of(st.none(), st.just("query"), _NAME))


@st.composite
def fingerprints(draw):
    entries = tuple(draw(st.lists(_ENTRY, min_size=1, max_size=6)))
    n, columns = len(entries), draw(st.integers(1, 6))
    storage = draw(st.sampled_from(["float32", "float16"]))
    values = draw(arrays(np.float32, (n, columns), elements=st.floats(-1000, 1000, width=32, allow_nan=False)))
    sets = {"main": EmbeddingSet("main", tuple(range(n)), values)}
    rows = draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=n, unique=True))
    if draw(st.booleans()):
        sets["prompted"] = EmbeddingSet("prompted", tuple(rows), values[rows] * 2, tuple("query" for _ in rows))
        sets["unprompted"] = EmbeddingSet("unprompted", tuple(rows), values[rows] / 2)
    return Fingerprint(
        model={"path": draw(_NAME), "sha256": "x", "files": draw(st.dictionaries(_NAME, _NAME, max_size=3))},
        pipeline={"dimension": columns, "prompts": draw(st.dictionaries(_NAME, _NAME, max_size=2)),
                  "truncate_dim": draw(st.one_of(st.none(), st.integers(1, columns))),
                  "normalize": draw(st.booleans())},
        environment={"python": "3.11",
                     "packages": draw(st.dictionaries(_NAME, st.one_of(st.none(), _NAME), max_size=3))},
        settings={"prompt_name": draw(st.one_of(st.none(), _NAME)), "normalize_embeddings": draw(st.booleans()),
                  "precision": draw(st.sampled_from(["float32", "float16", "bfloat16"])),
                  "batch_size": draw(st.integers(1, 512)), "device": draw(st.sampled_from(["cpu", "cuda:1", "mps"]))},
        corpus=Corpus(entries, draw(st.sampled_from(["builtin", "my corpus.jsonl"]))), sets=sets, storage=storage,
        created=draw(st.one_of(st.none(), _NAME)), notes=tuple(draw(st.lists(_NAME, max_size=2))),
        extra={"stcompat": "0.1.0",
               "x-new": draw(st.one_of(st.none(), st.lists(st.integers(-(2 ** 63), 2 ** 64 - 1), max_size=3)))},
    )


@settings(database=None, max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(fp=fingerprints())
def test_valid_fingerprints_round_trip(tmp_path, fp):
    back = read_fingerprint(write_fingerprint(fp, tmp_path / "a.fp"))
    dtype = np.float16 if fp.storage == "float16" else np.float32
    for name, es in fp.sets.items():
        got = back.sets[name]
        assert got.rows == es.rows and got.prompts == es.prompts
        assert np.array_equal(got.values, es.values.astype(dtype).astype(np.float32))
    assert back.corpus == fp.corpus and back.notes == fp.notes and back.created == fp.created
    for section in ("model", "pipeline", "environment", "settings"):
        assert dict(getattr(back, section)) == json.loads(json.dumps(dict(getattr(fp, section)))), section
    assert back.extra == fp.extra and back.storage == fp.storage
    again = read_fingerprint(write_fingerprint(back, tmp_path / "b.fp"))  # idempotent once stored
    assert all(np.array_equal(again.sets[n].values, back.sets[n].values) for n in back.sets)
    assert again.storage_max_abs_error == back.storage_max_abs_error and again.pipeline == back.pipeline


def test_the_writer_refuses_a_stated_loss_storage_cannot_make(tmp_path):
    from stcompat.errors import InputError

    fp = Fingerprint(**{**_fp("float16").__dict__, "storage_max_abs_error": 0.5})
    with pytest.raises(InputError, match="max_abs_error"):
        write_fingerprint(fp, tmp_path / "a.fp")
