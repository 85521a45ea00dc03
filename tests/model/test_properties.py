"""Property-based tests (hypothesis) of every reader and renderer on arbitrary input.

- any JSON value, any bytes, deep nesting, NaN, huge numbers and weird strings written into any JSON
  file of a real fixture: inspect, check and every inspect/check renderer never raise, JSON output is
  standard JSON, and a folder inspect finds an error in is never "ok";
- arbitrary bytes and structured headers for ``parse_safetensors_header``: only ValueError, and it
  accepts exactly what the real safetensors package accepts;
- arbitrary requirement-spec text for ``stack_from_target``: a Stack or InputError (STC004), nothing else.

CI runs a modest number of examples (profile ``stcompat-ci``); STCOMPAT_HYPOTHESIS_PROFILE=stcompat-long
runs 50 times more.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import struct
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stcompat.env.stack import Stack, stack_from_target
from stcompat.errors import InputError, StcompatError
from stcompat.model.folder import Target
from stcompat.model.inspect import read_model
from stcompat.model.weights import DTYPE_BITS, parse_safetensors_header
from stcompat.report.formats import names, render
from stcompat.rules.engine import check_one
from stcompat.vocab import Verdict

from conftest import fixture_path, truth_stacks

_QUIET = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example]
settings.register_profile("stcompat-ci", max_examples=40, deadline=None, suppress_health_check=_QUIET)
settings.register_profile("stcompat-long", max_examples=2000, deadline=None, suppress_health_check=_QUIET)
PROFILE = settings.get_profile(os.environ.get("STCOMPAT_HYPOTHESIS_PROFILE", "stcompat-ci"))
"""Applied per test (not loaded globally: other test modules keep their own settings)."""

BASES = (("3.0.1", "bert_plain"), ("6.2.0", "bert_dense"), ("5.1.2", "router"))
"""Legacy and modular layouts, with Pooling, Dense, Normalize and Router configs between them."""
STACKS = tuple(stack_from_target(truth_stacks()[release]) for release in ("2.2.2", "3.0.1", "6.2.0"))


# ---- strategies ----------------------------------------------------------------------------------

# Strings a folder may hold: any code point, lone surrogates, controls, markup, NUL included.
weird_text = st.one_of(
    st.text(st.characters(exclude_categories=()), max_size=20),
    st.sampled_from(["", "[/]", "[bold red]x[/]", "\x1b]0;t\x07\x1b[2J", "\x00", "\ud800", "\udcff", "..", "/etc",
                     "../x", "sentence_transformers.models.Pooling", "mean", "BPE", "3.0.1", "\u202e", "\x9b"]),
)
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(min_value=2**63 - 2, max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True), weird_text,
)
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(weird_text, children, max_size=4),
    max_leaves=12,
)


def _nested(depth: int, leaf: str = "0") -> str:
    return "[" * depth + leaf + "]" * depth


def _dumps(value: Any) -> bytes:
    # Python writes NaN/Infinity and escapes surrogates as \ud800: both are what a hand edit produces.
    return json.dumps(value).encode("utf-8")


raw_json_text = st.one_of(
    st.integers(1, 1500).map(lambda d: _nested(d).encode()),
    st.integers(1, 1500).map(lambda d: ('{"a":' * d + "1" + "}" * d).encode()),
    st.integers(300, 6000).map(lambda n: ("1" + "0" * n).encode()),        # over Python's int digits limit
    st.sampled_from([b"1e999", b"-1e400", b"NaN", b"[Infinity]", b'{"a": -Infinity}', b"\xef\xbb\xbf{}",
                     b"", b"\x00", b"\xff\xfe{\x00}\x00", b"version https://git-lfs.github.com/spec/v1\n"]),
    st.binary(max_size=200),
)


def mutated(original: Any) -> st.SearchStrategy[bytes]:
    """The original document with a few values replaced (keys it has, or new ones)."""
    if isinstance(original, dict) and original:
        keys = st.sampled_from(sorted(original)) | weird_text
        return st.dictionaries(keys, json_values, min_size=1, max_size=3).map(lambda c: _dumps({**original, **c}))
    if isinstance(original, list) and original:
        def apply(change: tuple[int, str, Any]) -> bytes:
            position, key, value = change
            copy = json.loads(json.dumps(original))
            if isinstance(copy[position], dict):
                copy[position][key] = value
            else:
                copy[position] = value
            return _dumps(copy)
        keys = st.sampled_from(["idx", "name", "path", "type", "kwargs"]) | weird_text
        return st.tuples(st.integers(0, len(original) - 1), keys, json_values).map(apply)
    return json_values.map(_dumps)


def file_contents(original: Any) -> st.SearchStrategy[bytes]:
    return st.one_of(mutated(original), json_values.map(_dumps), raw_json_text)


# ---- the folder readers, check and renderers -----------------------------------------------------

@pytest.fixture(scope="module")
def bases(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, list[str]]]:
    """Copies of the base fixtures (module scope: examples rewrite one file and restore it)."""
    copies = {}
    for release, variant in BASES:
        target = tmp_path_factory.mktemp("props") / f"{variant}-{release}"
        shutil.copytree(fixture_path(release, variant), target)
        files = sorted(p.relative_to(target).as_posix() for p in target.rglob("*.json"))
        copies[f"{release}/{variant}"] = (target, files)
    return copies


def standard_json(text: str) -> Any:
    def refuse(name: str) -> Any:
        raise AssertionError(f"bare {name} in JSON output")

    value = json.loads(text, parse_constant=refuse)
    json.dumps(value, ensure_ascii=False).encode("utf-8")  # no lone surrogate survived
    return value


def assert_everything_survives(root: Path) -> None:
    """Read, judge against every stack and render in every format: nothing may raise but StcompatError."""
    manifest = read_model(Target(root, root))
    for fmt in names("inspect"):
        text = render("inspect", fmt, [manifest])
        if fmt == "json":
            standard_json(text)
        text.encode("utf-8")
    results = [check_one(manifest, stack) for stack in STACKS]
    for result in results:
        if not manifest.usable:  # what the reader found wrong reaches the verdict
            assert result.verdict in (Verdict.FAILS, Verdict.UNKNOWN), (result.verdict, manifest.problems)
    for fmt in names("check"):
        text = render("check", fmt, results)
        if fmt in ("json", "sarif"):
            standard_json(text)
        text.encode("utf-8")


@settings(PROFILE)
@given(data=st.data())
def test_any_content_in_any_json_file(bases, data):
    key = data.draw(st.sampled_from(sorted(bases)), label="base")
    root, files = bases[key]
    rel = data.draw(st.sampled_from(files), label="file")
    path = root / rel
    original = path.read_bytes()
    content = data.draw(file_contents(json.loads(original)), label="content")
    try:
        path.write_bytes(content)
        assert_everything_survives(root)
    finally:
        path.write_bytes(original)


@settings(PROFILE)
@given(data=st.data())
def test_any_bytes_as_weights(bases, data):
    root, _ = bases["3.0.1/bert_plain"]
    path = root / "model.safetensors"
    original = path.read_bytes()
    content = data.draw(st.one_of(st.binary(max_size=300), safetensors_files, st.integers(0, len(original)).map(
        lambda n: original[:n])), label="weights")
    try:
        path.write_bytes(content)
        assert_everything_survives(root)
    finally:
        path.write_bytes(original)


# ---- the safetensors header ----------------------------------------------------------------------

dims = st.one_of(st.integers(0, 6), st.integers(-2, 2**65), json_values)
tensors = st.fixed_dictionaries(
    {"dtype": st.one_of(st.sampled_from(sorted(DTYPE_BITS)), weird_text),
     "shape": st.one_of(st.lists(st.integers(0, 6), max_size=3), st.lists(dims, max_size=3), json_values),
     "data_offsets": st.one_of(st.lists(st.integers(0, 64), min_size=2, max_size=2), st.lists(dims, max_size=3),
                               json_values)},
)
headers = st.dictionaries(
    st.one_of(st.sampled_from(["w", "b", "__metadata__"]), weird_text),
    st.one_of(tensors, json_values, st.dictionaries(weird_text, weird_text, max_size=2)),
    max_size=4,
)


@st.composite
def _safetensors_file(draw: Any) -> bytes:
    header = draw(headers)
    body = json.dumps(header).encode("utf-8") + b" " * draw(st.integers(0, 3))
    data = b"\0" * draw(st.integers(0, 72))
    length = draw(st.one_of(st.just(len(body)), st.integers(0, 2**64 - 1)))
    return struct.pack("<Q", length) + body + data


@st.composite
def _near_valid_safetensors(draw: Any) -> bytes:
    """A valid file (tensors laid out back to back in any order, optional string metadata), then perhaps
    one small change: the cases where a reader and safetensors are most likely to disagree."""
    count = draw(st.integers(0, 4))
    names = draw(st.lists(st.text(max_size=6), min_size=count, max_size=count, unique=True))
    infos, sizes = {}, []
    for name in names:
        dtype = draw(st.sampled_from(sorted(DTYPE_BITS)))
        shape = draw(st.lists(st.integers(0, 4), max_size=3))
        bits = math.prod(shape) * DTYPE_BITS[dtype]
        if bits % 8:  # sub-byte dtypes need whole bytes
            shape = [*shape, 2] if DTYPE_BITS[dtype] == 4 else [*shape, 4]
            bits = math.prod(shape) * DTYPE_BITS[dtype]
        infos[name] = {"dtype": dtype, "shape": shape}
        sizes.append((name, bits // 8))
    order = draw(st.permutations(sizes))
    cursor = 0
    for name, size in order:
        infos[name]["data_offsets"] = [cursor, cursor + size]
        cursor += size
    header: dict[str, Any] = dict(infos)
    if draw(st.booleans()):
        header["__metadata__"] = draw(st.dictionaries(st.text(max_size=4), st.text(max_size=4), max_size=2))
    data_size = cursor
    change = draw(st.sampled_from(["none", "none", "dtype", "shape", "offset", "data", "metadata", "length", "pad"]))
    if change == "dtype" and infos:
        infos[draw(st.sampled_from(sorted(infos)))]["dtype"] = draw(weird_text | st.sampled_from(sorted(DTYPE_BITS)))
    elif change == "shape" and infos:
        infos[draw(st.sampled_from(sorted(infos)))]["shape"] = draw(st.lists(dims, max_size=3))
    elif change == "offset" and infos:
        target = infos[draw(st.sampled_from(sorted(infos)))]["data_offsets"]
        target[draw(st.integers(0, 1))] += draw(st.integers(-2, 2))
    elif change == "data":
        data_size = max(0, data_size + draw(st.integers(-2, 2)))
    elif change == "metadata":
        header["__metadata__"] = draw(json_values)
    body = json.dumps(header).encode("utf-8")
    if change == "pad":
        body += b" " * draw(st.integers(1, 8))
    length = len(body) + (draw(st.integers(-2, 2)) if change == "length" else 0)
    return struct.pack("<Q", max(0, length)) + body + b"\0" * data_size


safetensors_files = st.one_of(_safetensors_file(), _near_valid_safetensors())


def _ours(raw: bytes) -> bool:
    try:
        parse_safetensors_header(raw[:8], len(raw), lambda n: raw[8:8 + n])
        return True
    except ValueError:
        return False


@settings(PROFILE)
@given(st.one_of(st.binary(max_size=64), safetensors_files))
def test_safetensors_header_raises_only_value_error(raw):
    _ours(raw)


@settings(PROFILE)
@given(safetensors_files)
def test_safetensors_header_accepts_what_safetensors_accepts(raw):
    safetensors = pytest.importorskip("safetensors")
    try:
        safetensors.deserialize(raw)
        theirs = True
    except Exception:  # noqa: BLE001 - SafetensorError, and whatever the binding raises on odd input
        theirs = False
    assert _ours(raw) == theirs, raw[:300]


# ---- requirement specs ---------------------------------------------------------------------------

spec_pieces = st.sampled_from([
    "sentence-transformers", "transformers", "torch", "python", "==", ">=", "<", "~=", "!=", "===", "2.2.2",
    "4.30.2", "1.0.0rc1", "*", " ", ",", ";", "[", "]", "@", "python_version<'3.8'", "extra", "\x00", "\ud800",
    "https://x/y.whl", "-r", "#", "\n", "1e999", "0" * 50,
])
spec_texts = st.one_of(st.lists(spec_pieces, max_size=12).map("".join), st.text(st.characters(exclude_categories=())))


@settings(PROFILE)
@given(spec_texts)
def test_target_specs_give_a_stack_or_stc004(text):
    try:
        stack = stack_from_target(text)
    except InputError as exc:
        assert exc.code == "STC004"
        return
    assert isinstance(stack, Stack)
    stack.label()
    for version in stack.versions.values():
        assert not math.isnan(float(version.release[0]))


@settings(PROFILE)
@given(spec_texts)
def test_target_specs_reach_a_verdict(bases, text):
    """A stack that parses is judged like any other: check never raises on what --target accepted."""
    try:
        stack = stack_from_target(text)
    except StcompatError:
        return
    root, _ = bases["3.0.1/bert_plain"]
    manifest = read_model(Target(root, root))
    result = check_one(manifest, stack)
    for fmt in names("check"):
        render("check", fmt, [result]).encode("utf-8")
