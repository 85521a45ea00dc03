#!/usr/bin/env python3
"""Build a corpus of hostile and broken model folders, each with the outcome stcompat must give.

Every folder starts as a copy of one real fixture (tests/fixtures/st3.0.1/bert_plain, saved by
sentence-transformers 3.0.1, which `check` judges "ok" with no finding against the stack that
saved it) and breaks it one way. Each case says what `inspect` must report (the exact set of
problem codes and the exit status) and what `check --target TARGET --no-resolve` must say (the
verdict and the exact set of finding codes). tests/model/test_hostile_folders.py builds the corpus
and runs the real CLI on it; fuzz/ and bench/ reuse the builder.

    python tools/make_hostile_folders.py DEST [--huge-tree]    # builds DEST/<case>/ and DEST/cases.json

Classes (``Case.klass``): json (every JSON file a loader reads, broken seven ways), types (wrong
JSON types where loaders expect others), special (a FIFO or a folder in a file's place),
permissions (chmod 000: a process that permission bits do not stop, e.g. root, must run these
without CAP_DAC_OVERRIDE / CAP_DAC_READ_SEARCH; see ``drop_read_override``), safetensors,
lfs (Git LFS pointers instead of content), symlinks, strings (NUL, surrogates, ESC/OSC, rich
markup in paths, names, versions, dtypes and keys), bounds, code (code in the folder that must
never run).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import stat
import struct
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

REPO = Path(__file__).resolve().parent.parent
SOURCE = REPO / "tests" / "fixtures" / "st3.0.1" / "bert_plain"
TARGET = ("sentence-transformers==3.0.1 transformers==4.41.2 tokenizers==0.19.1 huggingface-hub==0.23.4 "
          "torch==2.13.0 python==3.11")
"""The stack that saved SOURCE (tests/fixtures/truth.json): SOURCE itself is ok there, with no finding."""

PAYLOAD_MODULE = "stcompat_hostile_payload"
"""A module name that exists only as a .py file inside the `code` cases: importing it would be a bug."""
PAYLOAD_MARKER = "PAYLOAD_RAN"
"""The file the payload module (or an unpickled object) would create next to itself."""

# Codes whose catalogue severity is error (inspect exits 2 on them); kept here so the expectations do
# not depend on the code under test. tests/model/test_hostile_folders.py checks them against codes.py.
ERROR_CODES = frozenset({"STC005", "STC010", "STC014", "STC019", "STC021", "STC022"})
INFO_CODES = frozenset({"STC015"})
# Reading problems check leaves to other layers' rules (remote code: STC104 / STC202).
JUDGED_ELSEWHERE = frozenset({"STC016"})


@dataclass(frozen=True)
class Case:
    """One hostile folder and what stcompat must say about it."""

    name: str
    """Folder name under the corpus root (ASCII; the hostility is inside)."""
    klass: str
    """The class of hostility (see the module docstring)."""
    description: str
    """What was done to the copy, and why the expectation is right."""
    inspect_codes: frozenset[str]
    """Exactly the problem codes `inspect` reports (as a set)."""
    inspect_exit: int
    """`inspect`'s exit status on this folder alone: 2 when a problem has error severity, else 0."""
    check_verdict: str
    """`check`'s verdict against TARGET."""
    check_codes: frozenset[str]
    """Exactly the finding codes `check` reports against TARGET (as a set)."""
    skip: str | None = None
    """Why the folder could not be made hostile here (the test skips it); None when built."""
    unprivileged: bool = False
    """Its expectation holds for a process that permission bits stop (chmod 000): run it as a normal
    user, or as root with ``drop_read_override`` (root reads anything otherwise)."""

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (sets as sorted lists)."""
        data = asdict(self)
        data["inspect_codes"] = sorted(self.inspect_codes)
        data["check_codes"] = sorted(self.check_codes)
        return data


@dataclass(frozen=True)
class Spec:
    """How to build one case: a mutation of the copy, and the codes it must produce."""

    name: str
    """Folder name."""
    klass: str
    """Class of hostility."""
    description: str
    """What and why."""
    mutate: Callable[[Path], str | None]
    """Breaks the copy; returns a reason when it cannot be done here (the case is then skipped)."""
    codes: frozenset[str]
    """inspect's problem codes."""
    check_extra: frozenset[str] = frozenset()
    """Finding codes check adds from its own rules (besides the reading problems it carries)."""
    verdict: str | None = None
    """check's verdict when the rules decide more than the reading problems do."""
    inspect_exit: int | None = None
    """Override of the derived exit status (a code whose severity differs from the catalogue's here)."""
    needs: tuple[str, ...] = field(default=())
    """Capabilities the mutation needs ("fifo", "symlink", "unprivileged", "bytes-names")."""

    def case(self, skip: str | None) -> Case:
        """The Case, with check's side derived from the reading problems the way rules/input.py says:
        an error-severity problem fails the load, a warning makes it unknown, info changes nothing."""
        judged = {c for c in self.codes if c not in INFO_CODES and c not in JUDGED_ELSEWHERE}
        derived = "fails" if judged & ERROR_CODES else "unknown" if judged else "ok"
        return Case(
            name=self.name, klass=self.klass, description=self.description,
            inspect_codes=self.codes,
            inspect_exit=self.inspect_exit if self.inspect_exit is not None else (2 if self.codes & ERROR_CODES else 0),
            check_verdict=self.verdict or derived,
            check_codes=frozenset(judged) | self.check_extra,
            skip=skip,
            unprivileged="unprivileged" in self.needs,
        )


# ---- small helpers -----------------------------------------------------------------------------

def _put(folder: Path, rel: str, data: bytes) -> None:
    """Replace ``rel`` with ``data`` (unlinking first: never write through a link into the source)."""
    path = folder / rel
    if path.is_symlink() or path.exists():
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _load(folder: Path, rel: str) -> Any:
    return json.loads((folder / rel).read_text(encoding="utf-8"))


def _dump(folder: Path, rel: str, value: Any) -> None:
    _put(folder, rel, json.dumps(value, indent=2).encode("utf-8"))  # NaN/Infinity written as Python does


def _edit(rel: str, change: Callable[[Any], Any]) -> Callable[[Path], None]:
    """A mutation that loads ``rel``, applies ``change`` (which may edit in place or return a new value)."""
    def mutate(folder: Path) -> None:
        value = _load(folder, rel)
        result = change(value)
        _dump(folder, rel, value if result is None else result)
    return mutate


def _huge_int(digits: int = 5000) -> str:
    """A JSON integer literal longer than Python's int-parsing limit (4300 digits)."""
    return "9" * digits


def _with_raw(folder: Path, rel: str, path: tuple[Any, ...], literal: str) -> None:
    """Set the value at ``path`` to a raw JSON literal (one json.dumps cannot write, e.g. 5000 digits)."""
    value = _load(folder, rel)
    marker = "__STCOMPAT_RAW__"
    node = value
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = marker
    _put(folder, rel, json.dumps(value, indent=2).replace(f'"{marker}"', literal).encode("utf-8"))


def _set(folder: Path, rel: str, path: tuple[Any, ...], new: Any) -> None:
    value = _load(folder, rel)
    node = value
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = new
    _dump(folder, rel, value)


def reads_unreadable(probe_dir: Path) -> bool:
    """Whether this process reads a chmod-000 file anyway (root, CAP_DAC_OVERRIDE)."""
    probe = probe_dir / ".stcompat-permission-probe"
    probe.write_bytes(b"x")
    probe.chmod(0)
    try:
        with open(probe, "rb"):
            return True
    except PermissionError:
        return False
    finally:
        probe.chmod(0o600)
        probe.unlink()


def _safetensors(header: Any, data: bytes = b"", raw_header: bytes | None = None) -> bytes:
    body = raw_header if raw_header is not None else json.dumps(header).encode("utf-8")
    return struct.pack("<Q", len(body)) + body + data


LFS_POINTER = (b"version https://git-lfs.github.com/spec/v1\n"
               b"oid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\n"
               b"size 90868376\n")

# ---- class: json -------------------------------------------------------------------------------

# Every JSON file a loader of SOURCE reads, the key where a size or name is expected (for the
# non-finite and huge-number variants), and who reads it: Python's json (accepts NaN/Infinity) or
# Rust's serde_json (tokenizers: rejects them).
JSON_FILES: dict[str, tuple[tuple[Any, ...], str]] = {
    "modules.json": ((0, "idx"), "python"),
    "config_sentence_transformers.json": (("truncate_dim",), "python"),
    "config.json": (("hidden_size",), "python"),
    "sentence_bert_config.json": (("max_seq_length",), "python"),
    "1_Pooling/config.json": (("word_embedding_dimension",), "python"),
    "tokenizer.json": (("truncation",), "rust"),
    "tokenizer_config.json": (("model_max_length",), "python"),
}


def _slug(rel: str) -> str:
    return rel.replace("/", "_").replace(".json", "").replace("config_sentence_transformers", "cst")


def _insert_bad_byte(raw: bytes) -> bytes:
    """The file with one byte that is not UTF-8 inside its first string."""
    quote = raw.index(b'"')
    return raw[: quote + 1] + b"\xff" + raw[quote + 1:]


def _nonfinite(rel: str, key: tuple[Any, ...]) -> Callable[[Path], None]:
    def mutate(folder: Path) -> None:
        value = _load(folder, rel)
        node = value
        for step in key[:-1]:
            node = node[step]
        node[key[-1]] = float("nan")
        holder = value[0] if isinstance(value, list) else value
        holder["stcompat_probe"] = [float("inf"), float("-inf")]
        text = json.dumps(value, indent=2).replace('"stcompat_probe": [', '"stcompat_probe": [1e999, ')
        _put(folder, rel, text.encode("utf-8"))
    return mutate


def json_specs() -> Iterator[Spec]:
    """Seven ways to break each JSON file a loader reads."""
    for rel, (key, reader) in JSON_FILES.items():
        slug = _slug(rel)
        raw_of: Callable[[Path], bytes] = lambda folder, rel=rel: (folder / rel).read_bytes()
        yield Spec(f"json-empty-{slug}", "json", f"{rel} is empty: json.load raises", 
                   lambda f, rel=rel: _put(f, rel, b""), frozenset({"STC010"}))
        yield Spec(f"json-garbage-{slug}", "json", f"{rel} is binary garbage",
                   lambda f, rel=rel: _put(f, rel, b"\x00\x9f\x1b[2J{{ not json ]]"), frozenset({"STC010"}))
        yield Spec(f"json-nonutf8-{slug}", "json", f"{rel} has a byte that is not UTF-8 (loaders read UTF-8 text)",
                   lambda f, rel=rel, raw_of=raw_of: _put(f, rel, _insert_bad_byte(raw_of(f))), frozenset({"STC010"}))
        yield Spec(f"json-bom-{slug}", "json", f"{rel} starts with a UTF-8 BOM: Python's json.loads raises "
                   "'Unexpected UTF-8 BOM' on text read as UTF-8, serde_json rejects it too",
                   lambda f, rel=rel, raw_of=raw_of: _put(f, rel, b"\xef\xbb\xbf" + raw_of(f)), frozenset({"STC010"}))
        yield Spec(f"json-huge-{slug}", "json", f"{rel} holds a 5000-digit integer where a number is expected: "
                   "Python's json raises ValueError (int digits limit)",
                   lambda f, rel=rel, key=key: _with_raw(f, rel, key, _huge_int()), frozenset({"STC010"}))
        yield Spec(f"json-deep-{slug}", "json", f"{rel} nests 1000 levels: over the depth bound",
                   lambda f, rel=rel: _put(f, rel, b"[" * 1000 + b"]" * 1000), frozenset({"STC019"}))
        if reader == "rust":
            yield Spec(f"json-nonfinite-{slug}", "json", f"{rel} holds NaN/Infinity/1e999: serde_json (tokenizers) "
                       "rejects them", _nonfinite(rel, key), frozenset({"STC010"}))
        else:
            # Python's json reads NaN and Infinity: the load goes on with a value no save writes. Where the
            # probe key lands in a module config, the constructor rejects it (TypeError): check says so.
            extra, verdict = {
                "config_sentence_transformers.json": ({"STC112"}, "degraded"),  # truncate_dim NaN is saved
                "sentence_bert_config.json": ({"STC102"}, "fails"),
                "1_Pooling/config.json": ({"STC102"}, "fails"),
            }.get(rel, (set(), None))
            yield Spec(f"json-nonfinite-{slug}", "json", f"{rel} holds NaN/Infinity/1e999 where a size is expected "
                       "(not standard JSON; Python reads it and goes on with it)", _nonfinite(rel, key),
                       frozenset({"STC020"}), check_extra=frozenset(extra), verdict=verdict)


# ---- class: types ------------------------------------------------------------------------------

def type_specs() -> Iterator[Spec]:
    """Numbers where strings, lists or objects are expected, and the reverse."""
    yield Spec("types-modules-object", "types", "modules.json is an object, not a list",
               _edit("modules.json", lambda v: {"0": v[0]}), frozenset({"STC010"}))
    yield Spec("types-modules-entries", "types", "modules.json entries are a number, a string, null and a list",
               lambda f: _dump(f, "modules.json", [5, "x", None, [1]]), frozenset({"STC010"}))
    yield Spec("types-modules-type-number", "types", "a modules.json type is a number",
               lambda f: _set(f, "modules.json", (1, "type"), 5), frozenset({"STC010"}))

    def odd_fields(value: Any) -> None:
        value[1].update(idx="one", name=["1"], kwargs=7)
    yield Spec("types-modules-fields", "types", "modules.json idx/name/kwargs of the wrong types",
               _edit("modules.json", odd_fields), frozenset({"STC020"}))

    def odd_cst(value: Any) -> None:
        value.update({"__version__": [3, 0, 1], "prompts": "query: ", "default_prompt_name": ["query"],
                      "similarity_fn_name": 5, "truncate_dim": "16"})
    # truncate_dim "16" is saved (a value) and 3.0.1 does not read it: STC112 as for any truncate_dim.
    yield Spec("types-cst-values", "types", "config_sentence_transformers.json values of the wrong types",
               _edit("config_sentence_transformers.json", odd_cst), frozenset({"STC020"}),
               check_extra=frozenset({"STC112"}), verdict="degraded")
    yield Spec("types-cst-list", "types", "config_sentence_transformers.json is a list",
               lambda f: _dump(f, "config_sentence_transformers.json", [1, 2]), frozenset({"STC010"}))

    def odd_config(value: Any) -> None:
        value.update(model_type=5, architectures="BertModel", hidden_size="32", auto_map="modeling.X",
                     transformers_version={"v": 4}, torch_dtype=[32])
    yield Spec("types-config-values", "types", "config.json model_type, architectures, sizes of the wrong types",
               _edit("config.json", odd_config), frozenset({"STC020"}))
    yield Spec("types-config-null", "types", "config.json is null",
               lambda f: _dump(f, "config.json", None), frozenset({"STC010"}))
    yield Spec("types-sbert-values", "types", "sentence_bert_config.json max_seq_length and do_lower_case as strings",
               _edit("sentence_bert_config.json", lambda v: v.update(max_seq_length="64", do_lower_case="no")),
               frozenset({"STC020"}))
    yield Spec("types-sbert-number", "types", "sentence_bert_config.json is a number",
               lambda f: _dump(f, "sentence_bert_config.json", 5), frozenset({"STC010"}))
    yield Spec("types-pooling-mode-number", "types", "Pooling pooling_mode is a number (3.0.1 calls .lower() on it)",
               _edit("1_Pooling/config.json", lambda v: v.update(pooling_mode=5)), frozenset({"STC020"}))
    yield Spec("types-pooling-values", "types", "Pooling dimension a string, a mode flag a string",
               _edit("1_Pooling/config.json", lambda v: v.update(word_embedding_dimension="32",
                                                                 pooling_mode_mean_tokens="yes")),
               frozenset({"STC020"}))
    yield Spec("types-pooling-string", "types", "1_Pooling/config.json is a string",
               lambda f: _dump(f, "1_Pooling/config.json", "mean"), frozenset({"STC010"}))
    yield Spec("types-tokenizer-model-values", "types", "tokenizer.json model type/vocab/merges of the wrong types "
               "(serde_json rejects the model section)",
               _edit("tokenizer.json", lambda v: v.update(model={"type": 5, "vocab": 7, "merges": "a b"})),
               frozenset({"STC017"}))
    yield Spec("types-tokenizer-list", "types", "tokenizer.json is a list",
               lambda f: _dump(f, "tokenizer.json", []), frozenset({"STC017"}))
    yield Spec("types-tokconfig-values", "types", "tokenizer_config.json model_max_length a string, "
               "tokenizer_class a number",
               _edit("tokenizer_config.json", lambda v: v.update(model_max_length="512", tokenizer_class=5)),
               frozenset({"STC020"}))
    yield Spec("types-tokconfig-null", "types", "tokenizer_config.json is null (transformers calls .pop on it)",
               lambda f: _dump(f, "tokenizer_config.json", None), frozenset({"STC010"}))


# ---- class: special files ----------------------------------------------------------------------

def _fifo(rel: str) -> Callable[[Path], str | None]:
    def mutate(folder: Path) -> str | None:
        if not hasattr(os, "mkfifo"):
            return "no FIFOs on this platform"
        (folder / rel).unlink()
        os.mkfifo(folder / rel)
        return None
    return mutate


def _folder_instead(rel: str) -> Callable[[Path], None]:
    def mutate(folder: Path) -> None:
        (folder / rel).unlink()
        (folder / rel).mkdir()
        (folder / rel / "inside.txt").write_text("a folder where a file should be\n")
    return mutate


def special_specs() -> Iterator[Spec]:
    """A FIFO (opening it would block) or a folder where a file should be."""
    for rel in ("config.json", "modules.json", "model.safetensors"):
        slug = rel.split(".")[0]
        yield Spec(f"special-fifo-{slug}", "special", f"{rel} is a FIFO: opening it would block forever",
                   _fifo(rel), frozenset({"STC005"}), needs=("fifo",))
        yield Spec(f"special-folder-{slug}", "special", f"{rel} is a folder: loaders cannot open it",
                   _folder_instead(rel), frozenset({"STC005"}))


# ---- class: permissions ------------------------------------------------------------------------

def _unreadable(rel: str) -> Callable[[Path], None]:
    def mutate(folder: Path) -> None:
        (folder / rel).chmod(0)
    return mutate


def drop_read_override() -> None:
    """In a child process before exec (subprocess's preexec_fn): drop CAP_DAC_OVERRIDE and
    CAP_DAC_READ_SEARCH from the capability bounding set, so that even root obeys chmod 000 in the
    program it runs. OSError when the process may not (no CAP_SETPCAP, not Linux)."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    for capability in (1, 2):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH (linux/capability.h)
        if libc.prctl(24, capability, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP) refused")


def permission_specs() -> Iterator[Spec]:
    """Files and a folder nobody may read."""
    for rel in ("config.json", "modules.json", "model.safetensors", "tokenizer.json", "1_Pooling"):
        yield Spec(f"perm-{_slug(rel).replace('.', '-')}", "permissions", f"{rel} is chmod 000",
                   _unreadable(rel), frozenset({"STC005"}), needs=("unprivileged",))


# ---- class: safetensors ------------------------------------------------------------------------

def safetensors_specs() -> Iterator[Spec]:
    """Broken weights headers: safetensors refuses every one of them."""
    rel = "model.safetensors"
    bad = frozenset({"STC014"})

    def corrupt(folder: Path) -> None:
        size = (folder / rel).stat().st_size
        _put(folder, rel, random.Random(12).randbytes(size))

    def truncated(folder: Path) -> None:
        raw = (folder / rel).read_bytes()
        _put(folder, rel, raw[: len(raw) // 2])

    yield Spec("st-corrupt", "safetensors", "random bytes of the same size", corrupt, bad)
    yield Spec("st-tiny", "safetensors", "3 bytes: shorter than the length prefix",
               lambda f: _put(f, rel, b"\x01\x02\x03"), bad)
    # Cut short, the header still parses and places tensors past the end: a truncated copy (STC022).
    yield Spec("st-truncated", "safetensors", "the first half of the real file", truncated, frozenset({"STC022"}))
    yield Spec("st-empty", "safetensors", "0 bytes", lambda f: _put(f, rel, b""), bad)
    yield Spec("st-nonnumeric-shape", "safetensors", "a shape of strings with an unknown dtype",
               lambda f: _put(f, rel, _safetensors({"w": {"dtype": "X99", "shape": ["a", 2],
                                                             "data_offsets": [0, 8]}}, b"\0" * 8)), bad)
    yield Spec("st-unknown-dtype", "safetensors", "offsets consistent, dtype no safetensors release knows",
               lambda f: _put(f, rel, _safetensors({"w": {"dtype": "Q7", "shape": [2],
                                                             "data_offsets": [0, 8]}}, b"\0" * 8)), bad)
    deep = b'{"w": ' + b"[" * 1000 + b"]" * 1000 + b"}"
    yield Spec("st-deep-header", "safetensors", "a header nested 1000 levels",
               lambda f: _put(f, rel, _safetensors(None, b"", deep)), bad)
    yield Spec("st-huge-length", "safetensors", "a header length of 2**64-1",
               lambda f: _put(f, rel, b"\xff" * 8 + b"{}"), bad)
    yield Spec("st-nan-header", "safetensors", "NaN in the header (serde_json rejects it)",
               lambda f: _put(f, rel, _safetensors(None, b"\0" * 8, b'{"w": {"dtype": "F32", "shape": [2], '
                                                                 b'"data_offsets": [0, 8]}, "x": NaN}')), bad)
    yield Spec("st-bom-header", "safetensors", "a UTF-8 BOM before the header (serde_json rejects it)",
               lambda f: _put(f, rel, _safetensors(None, b"\0" * 8, b'\xef\xbb\xbf{"w": {"dtype": "F32", '
                                                                 b'"shape": [2], "data_offsets": [0, 8]}}')), bad)
    yield Spec("st-metadata-number", "safetensors", "__metadata__ maps a name to a number (must be strings)",
               lambda f: _put(f, rel, _safetensors({"__metadata__": {"format": 1},
                                                    "w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}},
                                                   b"\0" * 8)), bad)
    yield Spec("st-header-list", "safetensors", "the header is a JSON list",
               lambda f: _put(f, rel, _safetensors([1, 2], b"")), bad)
    yield Spec("st-overlap", "safetensors", "two tensors claim the same bytes",
               lambda f: _put(f, rel, _safetensors({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                                                    "b": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}},
                                                   b"\0" * 8)), bad)
    yield Spec("st-huge-shape", "safetensors", "a shape of 10**30 elements",
               lambda f: _put(f, rel, _safetensors({"w": {"dtype": "F32", "shape": [10**30],
                                                          "data_offsets": [0, 8]}}, b"\0" * 8)), bad)
    yield Spec("st-overflow-shape", "safetensors", "a shape whose element count overflows 64 bits before a 0 "
               "(safetensors multiplies left to right, checked)",
               lambda f: _put(f, rel, _safetensors({"w": {"dtype": "F32", "shape": [2**40, 2**40, 0],
                                                          "data_offsets": [0, 0]}}, b"")), bad)
    yield Spec("st-bool-shape", "safetensors", "a shape of booleans",
               lambda f: _put(f, rel, _safetensors({"w": {"dtype": "F32", "shape": [True, True],
                                                          "data_offsets": [0, 4]}}, b"\0" * 4)), bad)


# ---- class: lfs --------------------------------------------------------------------------------

def lfs_specs() -> Iterator[Spec]:
    """A clone without Git LFS: pointer files where the content should be."""
    yield Spec("lfs-safetensors", "lfs", "model.safetensors is a Git LFS pointer",
               lambda f: _put(f, "model.safetensors", LFS_POINTER), frozenset({"STC021"}))

    def bin_only(folder: Path) -> None:
        (folder / "model.safetensors").unlink()
        _put(folder, "pytorch_model.bin", LFS_POINTER)
    yield Spec("lfs-pytorch-bin", "lfs", "the only weights, pytorch_model.bin, are a Git LFS pointer "
               "(torch.load: invalid load key 'v')", bin_only, frozenset({"STC021"}))
    yield Spec("lfs-tokenizer", "lfs", "tokenizer.json is a Git LFS pointer",
               lambda f: _put(f, "tokenizer.json", LFS_POINTER), frozenset({"STC021"}))


# ---- class: symlinks ---------------------------------------------------------------------------

def _link(rel: str, target: str | Callable[[Path], str]) -> Callable[[Path], str | None]:
    def mutate(folder: Path) -> str | None:
        path = folder / rel
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.exists() or path.is_symlink():
            path.unlink()
        try:
            path.symlink_to(target(folder) if callable(target) else target)
        except OSError as exc:
            return f"cannot create symlinks here ({exc.strerror})"
        return None
    return mutate


def _sibling(folder: Path) -> str:
    """A folder beside the model (outside it) holding a valid Pooling config: following it reads outside."""
    other = folder.parent / ".outside"
    (other / "1_Pooling").mkdir(parents=True, exist_ok=True)
    shutil.copy(SOURCE / "1_Pooling" / "config.json", other / "1_Pooling" / "config.json")
    (other / "secret.json").write_text('{"model_type": "stolen"}')
    return os.path.relpath(other / "1_Pooling", folder)


def symlink_specs() -> Iterator[Spec]:
    """Links out of the folder, and loops."""
    escape = frozenset({"STC011"})
    yield Spec("link-config-passwd", "symlinks", "config.json -> /etc/passwd", _link("config.json", "/etc/passwd"),
               escape, needs=("symlink",))
    yield Spec("link-weights-passwd", "symlinks", "model.safetensors -> /etc/passwd",
               _link("model.safetensors", "/etc/passwd"), escape, needs=("symlink",))
    yield Spec("link-pooling-sibling", "symlinks", "1_Pooling -> ../.outside/1_Pooling (a valid config outside)",
               _link("1_Pooling", _sibling), escape, needs=("symlink",))
    yield Spec("link-dir-etc", "symlinks", "extra -> /etc (a folder outside; never walked)",
               _link("extra", "/etc"), escape, needs=("symlink",))
    yield Spec("link-tokenizer-secret", "symlinks", "tokenizer.json -> ../.outside/secret.json",
               _link("tokenizer.json", lambda f: (_sibling(f), "../.outside/secret.json")[1]), escape,
               needs=("symlink",))
    yield Spec("link-self-loop", "symlinks", "config.json -> config.json (ELOOP)",
               _link("config.json", "config.json"), frozenset({"STC005"}), needs=("symlink",))

    def pair_loop(folder: Path) -> str | None:
        (folder / "tokenizer.json").unlink()
        try:
            (folder / "tokenizer.json").symlink_to("loop-b")
            (folder / "loop-b").symlink_to("tokenizer.json")
        except OSError as exc:
            return f"cannot create symlinks here ({exc.strerror})"
        return None
    yield Spec("link-pair-loop", "symlinks", "tokenizer.json -> loop-b -> tokenizer.json",
               pair_loop, frozenset({"STC005"}), needs=("symlink",))
    yield Spec("link-dir-loop", "symlinks", "1_Pooling/up -> .. (a folder loop inside: harmless, never followed)",
               _link("1_Pooling/up", ".."), frozenset(), needs=("symlink",))

    def module_paths_out(value: Any) -> None:
        value[1]["path"] = "../.outside/1_Pooling"
        value[2]["path"] = "/etc"
    def paths_out(folder: Path) -> None:
        _sibling(folder)
        _edit("modules.json", module_paths_out)(folder)
    yield Spec("link-module-paths-out", "symlinks", "modules.json paths ../.outside/1_Pooling and /etc",
               paths_out, escape)


# ---- class: strings ----------------------------------------------------------------------------

ESC = "\x1b]0;pwned\x07\x1b[2J\x1b[31m"
MARKUP = "[/][bold red]boom[/bold red][link=http://x]"


def _strings_everywhere(text: str) -> Callable[[Path], None]:
    """``text`` in module names, versions, dtypes and keys (never in a path: those are their own cases)."""
    def mutate(folder: Path) -> None:
        modules = _load(folder, "modules.json")
        for entry in modules:
            entry["name"] = f"{entry['name']}{text}"
        _dump(folder, "modules.json", modules)
        cst = _load(folder, "config_sentence_transformers.json")
        cst["__version__"] = {"sentence_transformers": f"3.0.1{text}", "transformers": f"4.41.2{text}",
                              f"pytorch{text}": text}
        cst[f"key{text}"] = text
        _dump(folder, "config_sentence_transformers.json", cst)
        config = _load(folder, "config.json")
        config.update({"torch_dtype": text, "transformers_version": text, f"key{text}": 1})
        config["architectures"] = [f"BertModel{text}"]
        _dump(folder, "config.json", config)
        tok = _load(folder, "tokenizer_config.json")
        tok["tokenizer_class"] = f"BertTokenizer{text}"
        _dump(folder, "tokenizer_config.json", tok)
        raw = (folder / "model.safetensors").read_bytes()
        (length,) = struct.unpack("<Q", raw[:8])
        header = json.loads(raw[8:8 + length])
        header["__metadata__"] = {f"note{text}": text}
        _put(folder, "model.safetensors", _safetensors(header, raw[8 + length:]))
    return mutate


def string_specs() -> Iterator[Spec]:
    """Terminal control, rich markup, NUL and surrogates wherever a folder puts strings."""
    # The saved version "3.0.1<text>" sorts after "3.0.1": 3.0.1 compares version strings and logs its
    # newer-save warning (STC115, info), which carries the string into check's output too.
    logs = frozenset({"STC115"})
    yield Spec("strings-esc", "strings", "ESC/OSC sequences in names, versions, dtypes, keys",
               _strings_everywhere(ESC), frozenset(), check_extra=logs)
    yield Spec("strings-markup", "strings", "rich markup ([/], [bold red]) in names, versions, dtypes, keys",
               _strings_everywhere(MARKUP), frozenset(), check_extra=logs)
    yield Spec("strings-nul", "strings", "NUL characters in names, versions, dtypes, keys",
               _strings_everywhere("\x00nul"), frozenset(), check_extra=logs)
    yield Spec("strings-surrogate", "strings", "lone surrogates (\\ud800, \\udcff) in names, versions, dtypes, keys",
               _strings_everywhere("\ud800\udcff"), frozenset(), check_extra=logs)
    yield Spec("strings-bidi", "strings", "bidi overrides, zero-width and C1 controls in names, versions, keys",
               _strings_everywhere("\u202e\u200b\x9b31m\x85"), frozenset(), check_extra=logs)
    yield Spec("strings-dtype-markup", "strings", "a safetensors dtype of rich markup (no release knows it)",
               lambda f: _put(f, "model.safetensors", _safetensors({"w": {"dtype": "[/]\x1b[2J",
                                                                          "shape": [2], "data_offsets": [0, 8]}},
                                                                   b"\0" * 8)), frozenset({"STC014"}))
    yield Spec("strings-path-nul", "strings", "a modules.json path with a NUL character",
               lambda f: _set(f, "modules.json", (1, "path"), "1_Pool\x00ing"), frozenset({"STC018"}))
    yield Spec("strings-path-surrogate", "strings", "a modules.json path with a lone surrogate (no file can have it)",
               lambda f: _set(f, "modules.json", (1, "path"), "1_\ud800Pooling"), frozenset({"STC018"}))

    def esc_folder(folder: Path) -> None:
        name = f"1_{ESC}[bold red]boom[link=x]Pooling"  # no "/": a file name cannot hold one
        (folder / "1_Pooling").rename(folder / name)
        _set(folder, "modules.json", (1, "path"), name)
    yield Spec("strings-path-esc", "strings", "the Pooling folder's real name holds ESC/OSC and markup",
               esc_folder, frozenset())

    def bytes_names(folder: Path) -> str | None:
        try:
            os.rename(folder / "1_Pooling", os.fsencode(folder) + b"/1_\xff\xfePooling")
            os.symlink(b"nowhere", os.fsencode(folder) + b"/dangling\xff\x1b[2J")
            (folder / "notes.txt").write_text("x")
            os.rename(folder / "notes.txt", os.fsencode(folder) + b"/notes\xfe.txt")
        except (OSError, UnicodeError) as exc:
            return f"this file system refuses non-UTF-8 names ({exc})"
        # Python's json gives the loader "1_\udcff\udcfePooling", which os functions encode back to
        # the bytes on disk (surrogateescape): the loader finds the folder, and so must stcompat.
        _set(folder, "modules.json", (1, "path"), "1_\udcff\udcfePooling")
        return None
    yield Spec("strings-bytes-names", "strings", "non-UTF-8 file names: the Pooling folder (found through "
               "surrogateescape) and a dangling link with ESC in its name", bytes_names, frozenset({"STC005"}),
               needs=("bytes-names", "symlink"))

    def long_strings(folder: Path) -> None:
        _set(folder, "modules.json", (1, "name"), "n" * 200_000)
        cst = _load(folder, "config_sentence_transformers.json")
        cst["x" * 100_000] = "y" * 100_000
        _dump(folder, "config_sentence_transformers.json", cst)
    yield Spec("strings-long", "strings", "a 200,000-character module name and a 100,000-character key",
               long_strings, frozenset())


# ---- class: bounds -----------------------------------------------------------------------------

def bounds_specs(huge_tree: bool = False) -> Iterator[Spec]:
    """Input built to exhaust a reader: every one is cut at a documented bound (STC019)."""
    def many_modules(folder: Path) -> None:
        base = _load(folder, "modules.json")
        _dump(folder, "modules.json", [dict(base[i % 3], idx=i, name=str(i)) for i in range(20_000)])
    yield Spec("bounds-modules-20000", "bounds", "modules.json with 20,000 entries (1,000 are read)",
               many_modules, frozenset({"STC019"}))

    def sparse_json(folder: Path) -> None:
        path = folder / "tokenizer.json"
        path.unlink()
        with open(path, "wb") as handle:  # sparse: 300 MiB on paper, nothing on disk
            handle.truncate(300 * 1024 * 1024)
    yield Spec("bounds-json-300mib", "bounds", "tokenizer.json of 300 MiB (sparse): over the size bound, never read",
               sparse_json, frozenset({"STC019"}))

    def dotted_type(folder: Path) -> None:
        _set(folder, "modules.json", (1, "type"), "sentence_transformers." + "m." * 5000 + "Pooling")
    yield Spec("bounds-type-5000-dots", "bounds", "a module type of 5000 dotted parts (a recursive resolver "
               "would overflow); no release has that module", dotted_type, frozenset(),
               check_extra=frozenset({"STC101"}), verdict="fails")

    def huge_ints(folder: Path) -> None:
        big = "1" + "0" * 400  # valid JSON, under Python's 4300-digit limit; no float can hold it
        _with_raw(folder, "tokenizer_config.json", ("model_max_length",), big)
        _with_raw(folder, "config.json", ("hidden_size",), big)
        _with_raw(folder, "sentence_bert_config.json", ("max_seq_length",), big)
        _with_raw(folder, "1_Pooling/config.json", ("word_embedding_dimension",), big)
        _with_raw(folder, "config_sentence_transformers.json", ("truncate_dim",), big)
    # Found by fuzz/fuzz_folder.py: math.isfinite(10**400) raised OverflowError. Sizes are integers of the
    # right type here, so no finding; check reports the saved truncate_dim 3.0.1 ignores.
    yield Spec("bounds-huge-ints", "bounds", "401-digit integers where sizes are expected (valid JSON)",
               huge_ints, frozenset(), check_extra=frozenset({"STC112"}), verdict="degraded")

    def wide_json(folder: Path) -> None:
        config = _load(folder, "config.json")
        config.update({f"k{i}": i for i in range(200_000)})
        _dump(folder, "config.json", config)
    yield Spec("bounds-config-200000-keys", "bounds", "config.json with 200,000 extra keys (within the bounds; "
               "transformers keeps unknown keys)", wide_json, frozenset())
    if huge_tree:
        def tree(folder: Path) -> None:
            for i in range(101):
                sub = folder / "junk" / f"{i:03d}"
                sub.mkdir(parents=True)
                for j in range(1000):
                    (sub / f"{j}").touch()
        yield Spec("bounds-tree-101000", "bounds", "a folder tree of 101,000 files: the walk stops at 100,000",
                   tree, frozenset({"STC019"}))


# ---- class: code -------------------------------------------------------------------------------

PAYLOAD = f"""# If stcompat ever imports this, it leaves a mark.
from pathlib import Path
Path(__file__).with_name({PAYLOAD_MARKER!r}).write_text("imported")
class EvilModule: pass
class EvilModel: pass
"""


def code_specs() -> Iterator[Spec]:
    """Code shipped in the folder: a custom module type and an auto_map naming a .py file, and a pickle."""
    def remote_code(folder: Path) -> None:
        (folder / f"{PAYLOAD_MODULE}.py").write_text(PAYLOAD)
        (folder / "3_Evil").mkdir()
        (folder / "3_Evil" / f"{PAYLOAD_MODULE}.py").write_text(PAYLOAD)
        modules = _load(folder, "modules.json")
        modules.append({"idx": 3, "name": "3", "path": "3_Evil", "type": f"{PAYLOAD_MODULE}.EvilModule"})
        _dump(folder, "modules.json", modules)
        config = _load(folder, "config.json")
        config["auto_map"] = {"AutoModel": f"{PAYLOAD_MODULE}.EvilModel", "AutoConfig": f"{PAYLOAD_MODULE}.EvilModel"}
        _dump(folder, "config.json", config)
    yield Spec("code-remote", "code", f"modules.json type {PAYLOAD_MODULE}.EvilModule and config.json auto_map, "
               "both naming a .py file in the folder that writes a marker when imported", remote_code,
               frozenset({"STC016"}), check_extra=frozenset({"STC104", "STC202"}), verdict="unknown")

    def pickle_bomb(folder: Path) -> None:
        import pickle

        class Marker:
            """Unpickling this writes the marker file (os.system would do worse)."""
            def __reduce__(self) -> tuple[Any, ...]:
                return (Path.write_text, (folder / PAYLOAD_MARKER, "unpickled"))
        _put(folder, "pytorch_model.bin", pickle.dumps(Marker(), protocol=4))
    yield Spec("code-pickle", "code", "pytorch_model.bin is a pickle that writes a marker when unpickled "
               "(listed, never opened past its magic bytes)", pickle_bomb, frozenset({"STC015"}))


# ---- the corpus --------------------------------------------------------------------------------

def all_specs(huge_tree: bool = False) -> list[Spec]:
    """Every case, in class order."""
    return [*json_specs(), *type_specs(), *special_specs(), *permission_specs(), *safetensors_specs(),
            *lfs_specs(), *symlink_specs(), *string_specs(), *bounds_specs(huge_tree), *code_specs()]


def _fresh_copy(source: Path, folder: Path) -> None:
    shutil.copytree(source, folder, symlinks=True)
    # git keeps no empty folders; ST 3.0.1 wrote 2_Normalize/ empty (tests/conftest.py restores it too).
    (folder / "2_Normalize").mkdir(exist_ok=True)


def build_corpus(dest: Path, source: Path = SOURCE, huge_tree: bool = False,
                 only: Callable[[Spec], bool] | None = None) -> list[Case]:
    """Build every case under ``dest`` (which must not hold them yet) and return them.

    Cases whose mutation cannot be made here (no FIFOs, chmod ignored as root, no non-UTF-8 names)
    are returned with ``skip`` set and their folder removed. A case's folder is ``dest / case.name``;
    the ``symlinks`` cases also write ``dest/<case>/../.outside`` (i.e. ``dest/.outside``), which
    must stay unread.
    """
    dest.mkdir(parents=True, exist_ok=True)
    cases = []
    for spec in all_specs(huge_tree):
        if only is not None and not only(spec):
            continue
        folder = dest / spec.name
        _fresh_copy(source, folder)
        skip = spec.mutate(folder)
        if skip:
            _remove(folder)
        cases.append(spec.case(skip))
    return cases


def _remove(folder: Path) -> None:
    """Remove a case folder, chmod-000 entries included."""
    for dirpath, dirnames, filenames in os.walk(folder):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            if not os.path.islink(path):
                os.chmod(path, stat.S_IRWXU)
    shutil.rmtree(folder)


def restore_permissions(dest: Path) -> None:
    """Make every case folder removable again (the permissions cases chmod 000 their files)."""
    for path in dest.rglob("*"):
        if not path.is_symlink():
            try:
                path.chmod(stat.S_IRWXU)
            except OSError:
                pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dest", type=Path, help="folder to build the corpus in (created)")
    parser.add_argument("--huge-tree", action="store_true", help="add the 101,000-file tree case (slow)")
    args = parser.parse_args(argv)
    cases = build_corpus(args.dest, huge_tree=args.huge_tree)
    (args.dest / "cases.json").write_text(json.dumps([c.to_json() for c in cases], indent=2) + "\n")
    built = [c for c in cases if not c.skip]
    print(f"{len(built)} hostile folders in {args.dest} ({len(cases) - len(built)} skipped here); "
          f"check them against --target {TARGET!r} --no-resolve", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
