"""Build a corpus of hostile fingerprint files and the error each must produce (issue 12).

    python tools/make_hostile_fingerprints.py OUT_DIR

Every file starts from a valid fingerprint written by ``write_fingerprint`` (small numpy arrays),
then is edited at the zip or JSON level: broken archives, size bombs, malformed JSON, a wrong type
or value in every header section, lying sizes. ``OUT_DIR/expected.json`` lists each file, its
class and the code ``stcompat compare`` must print (``error[CODE]``, exit status 2); files whose
``code`` is null are hostile but valid (markup and escapes in strings, NaN embeddings) and must
compare with exit status 0 or 1, their output clean. tests/fingerprint/test_hostile_fingerprints.py
builds the corpus with :func:`build_corpus` and checks every file through the real CLI.
"""

from __future__ import annotations

import copy
import io
import json
import struct
import sys
import warnings
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from stcompat.fingerprint.corpus import Corpus, CorpusEntry, corpus_hash
from stcompat.fingerprint.fileformat import EmbeddingSet, Fingerprint, write_fingerprint
from stcompat.fingerprint.header import MAX_COLUMNS, MAX_ENTRIES

GOOD = "good.fp"
EXPECTED = "expected.json"
BOMB_BYTES = 64 * 1024 * 1024  # what the bomb members of this corpus really hold (bench/zip_bomb.py: 1 GiB)


# --- the valid starting point ---------------------------------------------------------------------


def good_fingerprint() -> Fingerprint:
    """Six texts, 8-d embeddings, with prompted and unprompted sets and every header section filled."""
    rng = np.random.default_rng(12)
    entries = (CorpusEntry("a short text", ("short",)), CorpusEntry("what is a cat?", ("prompt",), "query"),
               CorpusEntry("the cat sat on the mat", ()), CorpusEntry("def f(): return 1", ("code",)),
               CorpusEntry("一只猫坐在垫子上", ("zh",), "query"), CorpusEntry("long " * 40, ("long",)))
    main = rng.normal(size=(6, 8)).astype(np.float32)
    sets = {"main": EmbeddingSet("main", tuple(range(6)), main),
            "prompted": EmbeddingSet("prompted", (1, 4), main[[1, 4]] * 1.5, ("query", "query")),
            "unprompted": EmbeddingSet("unprompted", (1, 4), main[[1, 4]] * 0.5)}
    return Fingerprint(
        model={"path": "/models/mini", "sha256": "ab" * 32, "files": {"config.json": "cd" * 32},
               "saved_with": {"sentence_transformers": "3.0.1"}, "generation": "modular",
               "features": ["transformer", "pooling"]},
        pipeline={"modules": ["Transformer", "Pooling"], "pooling_mode": "mean", "include_prompt": True,
                  "normalize": False, "dimension": 8, "truncate_dim": None, "prompts": {"query": "query: "},
                  "default_prompt_name": None, "max_seq_length": 128, "similarity_fn_name": "cosine"},
        environment={"python": "3.11.7", "implementation": "cpython", "platform": "Linux", "machine": "x86_64",
                     "packages": {"torch": "2.13.0", "sentence-transformers": "3.0.1"}, "device": "cpu",
                     "blas": [{"user_api": "blas", "internal_api": "openblas", "num_threads": 2}],
                     "torch_threads": 2, "torch_mkl": True},
        settings={"prompt_name": None, "normalize_embeddings": False, "precision": "float32", "batch_size": 32,
                  "device": "cpu"},
        corpus=Corpus(entries, "builtin"), sets=sets, created="2026-01-01T00:00:00+00:00",
        notes=("a note",), extra={"stcompat": "0.1.0"},
    )


@dataclass(frozen=True)
class Base:
    """The valid file, as bytes and as its parts."""

    data: bytes
    """The whole fingerprint file."""
    members: dict[str, bytes]
    """Member name -> content, in archive order."""
    header: dict[str, Any]
    """header.json parsed."""

    def edited(self, edit: Callable[[dict[str, Any]], None], *, ascii_only: bool = False) -> bytes:
        """The file with ``edit`` applied to a copy of the header (NaN/Infinity written as Python does)."""
        header = copy.deepcopy(self.header)
        edit(header)
        return self.with_header(json.dumps(header, ensure_ascii=ascii_only, indent=1).encode("utf-8"))

    def with_header(self, raw: bytes) -> bytes:
        """The file with header.json replaced by ``raw``."""
        return zip_bytes([(name, raw if name == "header.json" else blob) for name, blob in self.members.items()])

    def header_text(self) -> str:
        """header.json as compact JSON text, for edits at the text level."""
        return json.dumps(self.header, ensure_ascii=False)


def read_base(path: Path) -> Base:
    """The valid file at ``path``, split into its parts."""
    data = path.read_bytes()
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        members = {name: zf.read(name) for name in zf.namelist()}
    return Base(data, members, json.loads(members["header.json"]))


# --- zip-level tools ------------------------------------------------------------------------------


def zip_bytes(members: list[tuple[str, bytes]], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    """A zip archive of ``members`` (names may repeat: the zip module only warns)."""
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with zipfile.ZipFile(buffer, "w", compression=method) as zf:
            for name, blob in members:
                zf.writestr(name, blob)
    return buffer.getvalue()


# Field offsets in a local file header and in a central directory entry (APPNOTE 4.3.7, 4.3.12).
_LOCAL = {"flag_bits": (6, "<H"), "method": (8, "<H"), "crc": (14, "<I"), "compress_size": (18, "<I"),
          "file_size": (22, "<I")}
_CENTRAL = {"flag_bits": (8, "<H"), "method": (10, "<H"), "crc": (16, "<I"), "compress_size": (20, "<I"),
            "file_size": (24, "<I"), "header_offset": (42, "<I")}


def patch_member(data: bytes, member: str, *, local: bool = True, **values: int) -> bytes:
    """``data`` with fields of ``member``'s central directory entry (and local header) overwritten."""
    out = bytearray(data)
    end = data.rfind(b"PK\x05\x06")
    directory_size, directory_start = struct.unpack("<II", data[end + 12:end + 20])
    at = directory_start
    while at < directory_start + directory_size:
        name_length, extra_length, comment_length = struct.unpack("<HHH", data[at + 28:at + 34])
        name = data[at + 46:at + 46 + name_length].decode("utf-8")
        (offset,) = struct.unpack("<I", data[at + 42:at + 46])
        if name == member:
            for key, value in values.items():
                where, fmt = _CENTRAL[key]
                struct.pack_into(fmt, out, at + where, value)
                if local and key in _LOCAL:
                    where, fmt = _LOCAL[key]
                    struct.pack_into(fmt, out, offset + where, value)
        at += 46 + name_length + extra_length + comment_length
    return bytes(out)


def member_info(data: bytes, member: str) -> zipfile.ZipInfo:
    """The central directory entry of ``member``."""
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return zf.getinfo(member)


def bomb_member(base: Base, member: str, real_bytes: int, *, declared: int | None = None) -> bytes:
    """``member`` replaced by ``real_bytes`` of zeros (deflated, streamed), then its declared size set to
    ``declared`` (default: its original size) and its CRC to that of the declared prefix, so only a
    reader that counts what it inflates sees the lie."""
    buffer = io.BytesIO()
    chunk = bytes(1 << 20)
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, blob in base.members.items():
            if name != member:
                zf.writestr(name, blob)
                continue
            with zf.open(name, "w") as out:
                left = real_bytes
                while left:
                    out.write(chunk[:min(len(chunk), left)])
                    left -= min(len(chunk), left)
    size = len(base.members[member]) if declared is None else declared
    return patch_member(buffer.getvalue(), member, file_size=size, crc=zeros_crc(size))


def zeros_crc(size: int) -> int:
    """CRC-32 of ``size`` zero bytes, a chunk at a time (1 GiB is not allocated)."""
    crc, chunk = 0, bytes(1 << 20)
    while size:
        step = min(size, len(chunk))
        crc = zlib.crc32(chunk[:step] if step < len(chunk) else chunk, crc)
        size -= step
    return crc


# --- header-level tools ---------------------------------------------------------------------------


def set_at(header: dict[str, Any], path: str, value: Any) -> None:
    """``header[a][b]... = value`` for ``path`` "a.b..." (digits index lists)."""
    *parents, last = path.split(".")
    node: Any = header
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node[key]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value


def _rehash(header: dict[str, Any]) -> None:
    entries = tuple(CorpusEntry(e["text"], tuple(e.get("tags", ())), e.get("prompt"))
                    for e in header["corpus"]["entries"])
    header["corpus"]["sha256"] = corpus_hash(entries)


def _big_corpus(rows: int, columns: int) -> Callable[[dict[str, Any]], None]:
    """A header edit: ``rows`` texts (hash kept right) and a main set declared [rows, columns]."""

    def edit(header: dict[str, Any]) -> None:
        header["corpus"]["entries"] = [{"text": f"t{i}", "tags": []} for i in range(rows)]
        _rehash(header)
        header["arrays"] = {"main": {"file": "arrays/main.bin", "dtype": "<f4", "shape": [rows, columns],
                                     "rows": list(range(rows))}}

    return edit


# --- the cases ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One hostile file: how to build it from the valid one, and what reading it must give."""

    name: str
    """File stem."""
    group: str
    """The class of defect (archive, size, json, format, types, values, valid)."""
    code: str | None
    """STC601, STC603, or None for a hostile but valid file."""
    why: str
    """What is wrong with it."""
    build: Callable[[Base], bytes]
    """Valid file -> hostile bytes."""


def _edit(name: str, group: str, why: str, edit: Callable[[dict[str, Any]], None], code: str | None = "STC601",
          ascii_only: bool = False) -> Case:
    return Case(name, group, code, why, lambda base: base.edited(edit, ascii_only=ascii_only))


def _replace(name: str, group: str, path: str, value: Any, why: str | None = None) -> Case:
    return _edit(name, group, why or f"{path} = {json.dumps(value)[:40]}", lambda h: set_at(h, path, value))


def _text(name: str, why: str, make: Callable[[str], str | bytes]) -> Case:
    def build(base: Base) -> bytes:
        text = base.header_text()
        made = make(text)
        if made == text:
            raise ValueError(f"case {name}: the edit did not apply")
        return base.with_header(made.encode("utf-8") if isinstance(made, str) else made)

    return Case(name, "json", "STC601", why, build)


def _sub(old: str, new: str, *, first: bool = False) -> Callable[[str], str]:
    """A text edit of header.json: ``old`` -> ``new`` (every occurrence, or the first)."""
    return lambda text: text.replace(old, new, 1 if first else -1)


def _pop(path: str) -> Callable[[dict[str, Any]], None]:
    def edit(header: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = header
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node[key]
        node.pop(last)

    return edit


def _archive_cases() -> list[Case]:
    def truncated(base: Base) -> bytes:
        return base.data[: len(base.data) // 2]

    def without_header(base: Base) -> bytes:
        return zip_bytes([(n, b) for n, b in base.members.items() if n != "header.json"])

    def duplicate(base: Base) -> bytes:
        return zip_bytes(list(base.members.items()) + [("arrays/main.bin", base.members["arrays/main.bin"])])

    def extra_member(base: Base) -> bytes:
        return zip_bytes(list(base.members.items()) + [("evil.sh", b"rm -rf /")])

    def many_members(base: Base) -> bytes:
        return zip_bytes(list(base.members.items()) + [(f"pad/{i}", b"") for i in range(5000)])

    def nine_members(base: Base) -> bytes:
        return zip_bytes(list(base.members.items()) + [(f"pad/{i}", b"") for i in range(5)])

    def encrypted(base: Base) -> bytes:
        return patch_member(base.data, "header.json", flag_bits=member_info(base.data, "header.json").flag_bits | 1)

    def method(number: int) -> Callable[[Base], bytes]:
        return lambda base: patch_member(base.data, "arrays/main.bin", method=number)

    def bzip2(base: Base) -> bytes:
        return zip_bytes(list(base.members.items()), method=zipfile.ZIP_BZIP2)

    def bad_crc(base: Base) -> bytes:
        return patch_member(base.data, "arrays/main.bin", crc=member_info(base.data, "arrays/main.bin").CRC ^ 1)

    def corrupt_deflate(base: Base) -> bytes:
        info = member_info(base.data, "arrays/main.bin")
        out = bytearray(base.data)
        start = info.header_offset + 30 + len(info.filename) + len(info.extra)
        for i in range(start, start + info.compress_size):
            out[i] ^= 0x5A
        return bytes(out)

    def offset_outside(base: Base) -> bytes:
        return patch_member(base.data, "arrays/main.bin", local=False, header_offset=len(base.data) + 100)

    def offset_wrong(base: Base) -> bytes:
        return patch_member(base.data, "arrays/main.bin", local=False, header_offset=3)

    def past_end(base: Base) -> bytes:
        return patch_member(base.data, "arrays/main.bin", compress_size=len(base.data) * 4)

    def stored_sizes_differ(base: Base) -> bytes:
        data = zip_bytes(list(base.members.items()), method=zipfile.ZIP_STORED)
        size = len(base.members["arrays/main.bin"])
        return patch_member(data, "arrays/main.bin", compress_size=size - 8)

    return [
        Case("not-a-zip", "archive", "STC601", "plain text", lambda base: b"hello, I am not a zip archive\n"),
        Case("empty-file", "archive", "STC601", "zero bytes", lambda base: b""),
        Case("truncated-zip", "archive", "STC601", "first half of a valid file", truncated),
        Case("no-header", "archive", "STC601", "no header.json member", without_header),
        Case("duplicate-member", "archive", "STC601", "arrays/main.bin twice", duplicate),
        Case("unexpected-member", "archive", "STC601", "an undeclared member", extra_member),
        Case("many-members", "archive", "STC601", "5000 members (directory beyond its bound)", many_members),
        Case("nine-members", "archive", "STC601", "9 members, directory small", nine_members),
        Case("encrypted", "archive", "STC601", "header.json flagged encrypted", encrypted),
        Case("method-99", "archive", "STC601", "unknown compression method 99", method(99)),
        Case("method-lzma", "archive", "STC601", "compression method 14 (lzma) patched in", method(14)),
        Case("bzip2", "archive", "STC601", "every member bzip2-compressed", bzip2),
        Case("bad-crc", "archive", "STC601", "CRC-32 of arrays/main.bin off by one bit", bad_crc),
        Case("corrupt-deflate", "archive", "STC601", "deflate stream of arrays/main.bin scrambled", corrupt_deflate),
        Case("offset-outside", "archive", "STC601", "local header offset past the end of the file", offset_outside),
        Case("offset-wrong", "archive", "STC601", "local header offset pointing into another header", offset_wrong),
        Case("compressed-past-end", "archive", "STC601", "compressed size runs past the end of the file", past_end),
        Case("stored-sizes-differ", "archive", "STC601", "stored member whose two sizes differ", stored_sizes_differ),
    ]


def _size_cases() -> list[Case]:
    def header_declared_huge(base: Base) -> bytes:
        return bomb_member(base, "header.json", 1 << 16, declared=9 * 1024 * 1024)

    def honest_big_header(base: Base) -> bytes:
        header = copy.deepcopy(base.header)
        header["padding"] = "x" * (9 * 1024 * 1024)
        return base.with_header(json.dumps(header).encode())

    def containers(base: Base) -> bytes:
        header = copy.deepcopy(base.header)
        header["x"] = [[] for _ in range(300_000)]
        return base.with_header(json.dumps(header, separators=(",", ":")).encode())

    def truncated_array(base: Base) -> bytes:
        return zip_bytes([(n, b[:-4] if n == "arrays/main.bin" else b) for n, b in base.members.items()])

    def longer_array(base: Base) -> bytes:
        return zip_bytes([(n, b + bytes(32) if n == "arrays/main.bin" else b) for n, b in base.members.items()])

    def declares_less_than_it_holds(base: Base) -> bytes:
        # Honest archive with a longer member, then its declared size set back to what the shape needs.
        size = len(base.members["arrays/main.bin"])
        return patch_member(longer_array(base), "arrays/main.bin", file_size=size)

    return [
        Case("bomb-array", "size", "STC601", f"arrays/main.bin declares 192 bytes, inflates to {BOMB_BYTES:,}",
             lambda base: bomb_member(base, "arrays/main.bin", BOMB_BYTES)),
        Case("bomb-header", "size", "STC601", f"header.json declares its size, inflates to {BOMB_BYTES:,}",
             lambda base: bomb_member(base, "header.json", BOMB_BYTES)),
        Case("bomb-header-declared", "size", "STC601", "header.json declares 9 MiB", header_declared_huge),
        Case("big-header", "size", "STC601", "an honest 9 MiB header.json", honest_big_header),
        Case("header-containers", "size", "STC601", "300,000 empty lists in an unknown key (900 kB)", containers),
        Case("array-declared-huge", "size", "STC601", "arrays/main.bin honestly declares 64 MiB, shape needs 192",
             lambda base: bomb_member(base, "arrays/main.bin", BOMB_BYTES, declared=BOMB_BYTES)),
        Case("array-truncated", "size", "STC601", "arrays/main.bin 4 bytes short", truncated_array),
        Case("array-longer", "size", "STC601", "arrays/main.bin 32 bytes longer than its shape", longer_array),
        Case("array-size-lies", "size", "STC601", "declared size matches the shape, data is longer",
             declares_less_than_it_holds),
        _edit("too-many-entries", "size", f"{MAX_ENTRIES + 1:,} corpus texts", _big_corpus(MAX_ENTRIES + 1, 4)),
        _edit("too-many-values", "size", f"shape [{MAX_ENTRIES}, {MAX_COLUMNS}]",
              _big_corpus(MAX_ENTRIES, MAX_COLUMNS)),
        _replace("too-many-columns", "size", "arrays.main.shape", [6, 1 << 30]),
        _replace("columns-2p64", "size", "arrays.main.shape", [6, 2 ** 64]),
    ]


def _json_cases() -> list[Case]:
    deep = "[" * 1000 + "]" * 1000
    deep_objects = '{"a":' * 1000 + "1" + "}" * 1000
    shallow_deep = "[" * 40 + "]" * 40
    error, shape, batch = '"max_abs_error": 0.0', '"shape": [6, 8]', '"batch_size": 32'
    return [
        _text("not-utf8", "header.json in latin-1",
              lambda t: t.replace("一只猫", "caf\u00e9").encode("latin-1", "replace")),
        _text("utf16", "header.json in UTF-16", lambda t: t.encode("utf-16")),
        _text("bom", "UTF-8 byte order mark first", lambda t: b"\xef\xbb\xbf" + t.encode()),
        _text("encoded-surrogate", "a surrogate encoded as 3 UTF-8 bytes",
              lambda t: t.encode().replace(b'"3.11.7"', b'"\xed\xa0\x80"')),
        _text("not-json", "garbage", lambda t: "this is { not json"),
        _text("truncated-json", "header cut in half", lambda t: t[: len(t) // 2]),
        _text("a-list", "header.json is a list", lambda t: "[" + t + "]"),
        _text("a-string", "header.json is a string", json.dumps),
        _text("deep-1000-lists", "1000 nested lists in an unknown key", _sub("{", '{"x": ' + deep + ",", first=True)),
        _text("deep-1000-objects", "1000 nested objects in pipeline.prompts",
              _sub('"prompts": {', '"prompts": {"deep": ' + deep_objects + ",")),
        _text("deep-40", "40 nested lists (parseable, beyond the bound)",
              _sub("{", '{"x": ' + shallow_deep + ",", first=True)),
        _text("nan-error", "storage.max_abs_error NaN", _sub(error, '"max_abs_error": NaN')),
        _text("infinity-shape", "Infinity in a shape", _sub(shape, '"shape": [6, Infinity]')),
        _text("minus-infinity", "-Infinity in settings", _sub(batch, '"batch_size": -Infinity')),
        _text("overflow-float", "1e999 as a rounding error", _sub(error, '"max_abs_error": 1e999')),
        _text("huge-int", "a 5000-digit row count", _sub(shape, '"shape": [' + "9" * 5000 + ", 8]")),
        _text("long-int", "a 25-digit integer", _sub(batch, '"batch_size": ' + "1" * 25)),
        _text("duplicate-key", "arrays stated twice", _sub("{", '{"arrays": 5, ', first=True)),
        _text("duplicate-nested-key", "settings.device stated twice",
              _sub('"device": "cpu"}', '"device": "cpu", "device": "cuda"}')),
        _text("surrogate-value", "lone surrogate in environment.python", _sub('"3.11.7"', '"\\ud800"')),
        _text("surrogate-key", "lone surrogate in a pipeline key", _sub('"pooling_mode"', '"pool\\udfffing"')),
        _text("surrogate-text", "lone surrogate in a corpus text", _sub('"a short text"', '"a \\udc80 text"')),
        _text("nul-path", "NUL in model.path", _sub('"/models/mini"', '"/models/mini\\u0000.sh"')),
        _text("nul-prompt", "NUL in a prompt name", _sub('"query": "query: "', '"qu\\u0000ery": "query: "')),
        _text("nul-set-name", "NUL in an unknown key", _sub("{", '{"x\\u0000": 1, ', first=True)),
    ]


def _format_cases() -> list[Case]:
    return [
        _edit("format-missing", "format", "no format key", _pop("format")),
        _replace("format-number", "format", "format", 1),
        _replace("format-null", "format", "format", None),
        _replace("format-list", "format", "format", ["stcompat.fingerprint/1"]),
        _replace("format-other", "format", "format", "other.tool/1"),
        _edit("format-v2", "format", "format stcompat.fingerprint/2",
              lambda h: set_at(h, "format", "stcompat.fingerprint/2"), code="STC603"),
        _edit("format-v10", "format", "format stcompat.fingerprint/10",
              lambda h: set_at(h, "format", "stcompat.fingerprint/10"), code="STC603"),
        _edit("format-v2-new-sections", "format", "format /2 with sections this reader does not know",
              lambda h: (set_at(h, "format", "stcompat.fingerprint/2"), set_at(h, "arrays", [1, 2])), code="STC603"),
    ]


# (path, bad value) pairs: a number where an object, list or string is expected, and the reverse.
_TYPES: list[tuple[str, Any]] = [
    ("arrays", 5), ("arrays", []), ("arrays.main", "main"), ("arrays.main", None),
    ("arrays.main.shape", "6x8"), ("arrays.main.shape", [6.0, 8]), ("arrays.main.shape", [True, 8]),
    ("arrays.main.shape", None), ("arrays.main.rows", "0-5"), ("arrays.main.rows", [0, 1, 2, 3, 4, "5"]),
    ("arrays.main.rows", [0, 1, 2, 3, 4, 5.0]), ("arrays.main.dtype", 4), ("arrays.main.file", 7),
    ("arrays.prompted.prompts", "query"), ("arrays.prompted.prompts", [1, 2]), ("arrays.prompted.prompts", [None, "q"]),
    ("storage", "float32"), ("storage.dtype", None), ("storage.max_abs_error", "0"), ("storage.max_abs_error", True),
    ("notes", "a note"), ("notes", [1]), ("notes", {"a": "b"}), ("created", 5),
    ("settings", []), ("settings.batch_size", "32"), ("settings.batch_size", 32.0), ("settings.precision", 32),
    ("settings.device", 5), ("settings.normalize_embeddings", "yes"), ("settings.prompt_name", ["query"]),
    ("pipeline", 7), ("pipeline.prompts", ["query"]), ("pipeline.prompts", {"query": 5}),
    ("pipeline.modules", "Transformer"), ("pipeline.modules", [1]), ("pipeline.dimension", "8"),
    ("pipeline.include_prompt", "true"), ("pipeline.max_seq_length", 1.5), ("pipeline.default_prompt_name", {}),
    ("environment", "linux"), ("environment.packages", "torch==2"), ("environment.packages", {"torch": 2}),
    ("environment.blas", "openblas"), ("environment.blas", [[1]]), ("environment.blas", [{"x": {"y": 1}}]),
    ("environment.torch_mkl", "yes"), ("environment.python", 3.11),
    ("model", []), ("model", "mini"), ("model.files", ["config.json"]), ("model.files", {"config.json": 1}),
    ("model.features", 5), ("model.sha256", 1), ("model.saved_with", [1]),
    ("corpus", []), ("corpus.entries", {}), ("corpus.entries", "text"), ("corpus.entries.0", 5),
    ("corpus.entries.0", ["a short text"]), ("corpus.entries.0.text", 5), ("corpus.entries.0.text", None),
    ("corpus.entries.0.tags", "short"), ("corpus.entries.0.tags", [1]), ("corpus.entries.1.prompt", 5),
    ("corpus.sha256", 5), ("corpus.sha256", None), ("corpus.source", 5),
]

# (path, bad value, why): the right type, a wrong value.
_VALUES: list[tuple[str, Any, str]] = [
    ("arrays.main.shape", [6], "1-D shape"), ("arrays.main.shape", [], "0-D shape"),
    ("arrays.main.shape", [6, 8, 1], "3-D shape"), ("arrays.main.shape", [0, 8], "zero rows"),
    ("arrays.main.shape", [6, 0], "zero columns"), ("arrays.main.shape", [-6, 8], "negative rows"),
    ("arrays.main.shape", [5, 8], "fewer rows than the corpus"), ("arrays.main.shape", [7, 8], "more rows than texts"),
    ("arrays.main.rows", [5, 4, 3, 2, 1, 0], "main rows permuted"),
    ("arrays.main.rows", [0, 1, 2, 3, 4], "one row index short"),
    ("arrays.prompted.rows", [1, 99], "row index past the corpus"), ("arrays.prompted.rows", [1, -1], "negative row"),
    ("arrays.prompted.rows", [4, 4], "duplicate row index"), ("arrays.prompted.rows", [], "row list empty"),
    ("arrays.prompted.shape", [0, 8], "zero-row set"), ("arrays.prompted.shape", [2, 9], "width differs from main"),
    ("arrays.prompted.prompts", ["query"], "one prompt name for two rows"),
    ("arrays.main.dtype", "<f8", "float64"), ("arrays.main.dtype", ">f4", "big-endian"),
    ("arrays.main.dtype", "<f2", "dtype disagrees with storage"), ("arrays.main.dtype", "|O", "object dtype"),
    ("arrays.main.file", "header.json", "array pointing at the header"),
    ("arrays.main.file", "../../etc/passwd", "path traversal"),
    ("arrays.unprompted.file", "arrays/main.bin", "shared member"),
    ("storage.dtype", "int8", "integer storage"), ("storage.max_abs_error", -1.0, "negative error"),
    ("storage.max_abs_error", 0.5, "error beyond float32 rounding (widens the noise band)"),
    ("storage.max_abs_error", 1e300, "huge error"),
    ("settings.batch_size", 0, "batch size 0"), ("settings.batch_size", 10 ** 15, "batch size 1e15"),
    ("settings.precision", "float64", "unknown precision"), ("settings.device", "cuda:0; rm -rf /", "device injection"),
    ("settings.device", "", "empty device"), ("pipeline.dimension", -1, "negative dimension"),
    ("pipeline.max_seq_length", 10 ** 12, "max_seq_length 1e12"), ("environment.torch_threads", -1, "negative threads"),
    ("corpus.entries", [], "zero texts"), ("corpus.entries.0", {"tags": []}, "entry without text"),
    ("corpus.sha256", "0" * 64, "hash does not match the texts"),
    ("corpus.entries.2.text", "edited", "text edited, hash kept"),
]


def _type_cases() -> list[Case]:
    cases = []
    for i, (path, value) in enumerate(_TYPES):
        label = type(value).__name__ if value is not None else "null"
        cases.append(_replace(f"type-{i:02d}-{path.replace('.', '-')}-{label}", "types", path, value))
    return cases


def _value_cases() -> list[Case]:
    cases = [_replace(f"value-{i:02d}-{path.replace('.', '-')}", "values", path, value, why)
             for i, (path, value, why) in enumerate(_VALUES)]

    def unknown_set(header: dict[str, Any]) -> None:
        header["arrays"]["evil"] = dict(header["arrays"]["main"], file="arrays/evil.bin")

    def prompted_wider(header: dict[str, Any]) -> None:
        header["arrays"]["prompted"]["shape"] = [1, 16]
        header["arrays"]["prompted"]["rows"] = [1]
        header["arrays"]["prompted"]["prompts"] = ["query"]

    cases += [
        _edit("value-no-main", "values", "only prompted and unprompted sets", _pop("arrays.main")),
        _edit("value-no-corpus", "values", "no corpus section", _pop("corpus")),
        _edit("value-no-arrays", "values", "no arrays section", _pop("arrays")),
        _edit("value-no-text-key", "values", "corpus entry without its text", _pop("corpus.entries.3.text")),
        _edit("value-unknown-set", "values", "a set named evil", unknown_set),
        _edit("value-prompted-wider", "values", "prompted set twice as wide as main (same bytes)", prompted_wider),
    ]
    return cases


def _valid_cases() -> list[Case]:
    """Hostile strings and degenerate numbers in a valid file: compare must answer, its output clean."""
    nasty = "\x1b[31mred\x1b[0m [bold]markup[/] [/] \x07 \u202e rtl \r\n"

    def strings(header: dict[str, Any]) -> None:
        header["environment"]["packages"]["torch"] = nasty
        header["pipeline"]["pooling_mode"] = nasty
        header["model"]["files"][nasty] = "00"
        header["notes"] = [nasty]
        header["environment"]["platform"] = "[link=file:///etc/passwd]x[/link]"

    def array(make: Callable[[np.ndarray], np.ndarray]) -> Callable[[Base], bytes]:
        def build(base: Base) -> bytes:
            main = np.frombuffer(base.members["arrays/main.bin"], dtype="<f4").reshape(6, 8)
            blob = np.ascontiguousarray(make(main.copy()), dtype="<f4").tobytes()
            return zip_bytes([(n, blob if n == "arrays/main.bin" else b) for n, b in base.members.items()])

        return build

    def nan_rows(m: np.ndarray) -> np.ndarray:
        m[2] = np.nan
        return m

    def inf_values(m: np.ndarray) -> np.ndarray:
        m[0, 0], m[3, 1] = np.inf, -np.inf
        return m

    def folder_entry(base: Base) -> bytes:
        return zip_bytes([("arrays/", b"")] + list(base.members.items()))

    def deep_extra(header: dict[str, Any]) -> None:
        value: Any = "leaf"
        for _ in range(10):
            value = {"k": [value]}
        header["x-extension"] = value

    return [
        _edit("valid-nasty-strings", "valid", "escapes, markup, bidi and newlines in header strings", strings,
              code=None),
        Case("valid-nan-embeddings", "valid", None, "one text embeds as NaN", array(nan_rows)),
        Case("valid-zero-embeddings", "valid", None, "every embedding is zero", array(lambda m: m * 0)),
        Case("valid-inf-embeddings", "valid", None, "two values are infinite", array(inf_values)),
        Case("valid-folder-entry", "valid", None, "an arrays/ folder entry, as zip tools add", folder_entry),
        _edit("valid-deep-extension", "valid", "an unknown key nested 21 deep", deep_extra, code=None),
        Case("valid-stored", "valid", None, "members stored, not deflated",
             lambda base: zip_bytes(list(base.members.items()), method=zipfile.ZIP_STORED)),
    ]


def cases() -> list[Case]:
    """Every case, in a stable order."""
    return _archive_cases() + _size_cases() + _json_cases() + _format_cases() + _type_cases() + _value_cases() \
        + _valid_cases()


def build_corpus(folder: str | Path) -> list[dict[str, Any]]:
    """Write the valid file, every hostile file and ``expected.json`` into ``folder``; returns its entries."""
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    good = write_fingerprint(good_fingerprint(), out / GOOD)
    base = read_base(good)
    entries = []
    names = set()
    for case in cases():
        if case.name in names:
            raise ValueError(f"two cases named {case.name}")
        names.add(case.name)
        file = f"{case.name}.fp"
        (out / file).write_bytes(case.build(base))
        entries.append({"file": file, "class": case.group, "code": case.code, "why": case.why})
    (out / EXPECTED).write_text(json.dumps({"good": GOOD, "cases": entries}, indent=1, ensure_ascii=False) + "\n")
    return entries


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__.strip().splitlines()[0], file=sys.stderr)
        print("usage: python tools/make_hostile_fingerprints.py OUT_DIR", file=sys.stderr)
        return 2
    entries = build_corpus(argv[0])
    by_class: dict[str, int] = {}
    for entry in entries:
        by_class[entry["class"]] = by_class.get(entry["class"], 0) + 1
    print(f"wrote {len(entries)} files to {argv[0]}: " + ", ".join(f"{k} {v}" for k, v in by_class.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
