"""Validate a fingerprint's ``header.json`` into typed, frozen records (see docs/fingerprint-format.md).

Fingerprint files come from anywhere and CI trusts the exit code, so the header is checked once,
here, and nothing downstream (verdict, verify, the reports) ever meets a value of the wrong type:
every field is converted by a small pure function that either returns the typed value or raises
``HeaderError`` naming the field and what is wrong with it. The bounds (sizes, counts, depth) are
module constants, documented in docs/fingerprint-format.md.

Pure standard library (no numpy): verify runs inside old environments, and the rules must be
testable without any array.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field, fields
from typing import Any, Callable, Mapping, Sequence, TypeVar

from .corpus import CorpusEntry, corpus_hash

FORMAT = "stcompat.fingerprint/1"
FORMAT_PREFIX = "stcompat.fingerprint/"
# Storage dtypes: name -> numpy dtype string (always little-endian on disk).
STORAGE_DTYPES = {"float32": "<f4", "float16": "<f2"}
ITEM_SIZES = {"<f4": 4, "<f2": 2}
# Embedding sets a fingerprint may hold (see fileformat.EmbeddingSet.name).
SET_NAMES = ("main", "prompted", "unprompted")
PRECISIONS = ("float32", "float16", "bfloat16")

# --- bounds (docs/fingerprint-format.md, "Limits") --------------------------------------------------
# Parsed JSON costs more than its text: a 5-byte string or number item ("ab",) becomes a ~60-byte
# object. 8 MiB keeps the worst header near 200 MB of RSS while leaving room for MAX_ENTRIES texts
# of ~4,000 characters; the built-in corpus needs 35 kB.
MAX_HEADER_BYTES = 8 * 1024 * 1024
# An empty object or list is 3 bytes of text ("{},") and ~80 bytes parsed: their number is bounded
# before parsing by counting "{" and "[" bytes (in texts too: a crude but safe over-count). A real
# header needs two per corpus entry.
MAX_CONTAINERS = 1 << 18
# Nesting a real header needs: environment.blas[i].key is 3 deep. 32 leaves room for unknown keys
# and stays far below the parser's recursion limit.
MAX_DEPTH = 32
# Integers longer than this are refused before conversion (int() of a long digit string is slow).
MAX_INT_DIGITS = 20
# Texts per corpus (20x the built-in corpus). compare's metrics hold every pairwise similarity,
# ~80 bytes per pair of texts: 2,048 texts peak at ~335 MB, 10,000 would at 6.7 GB, from a file of
# a few hundred kB. A file is small where its numbers compress, so its size bounds nothing.
MAX_ENTRIES = 2048
# Embedding width: the widest embedding models are 4096 to 8192.
MAX_COLUMNS = 16_384
# Values in all sets together: 64 MiB as float32; compare works on float64 copies, ~32 bytes per
# value in all (2,048 texts x 8,192 dimensions, or all three sets at 2,730).
MAX_VALUES = 16 * 1024 * 1024
# verify encodes with the recorded batch size (--batch-size overrides it): a hostile one must not
# make it pad thousands of long texts into one batch.
MAX_BATCH_SIZE = 4096
MAX_SEQ_LENGTH = 1 << 24

_DEVICE = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,31}(:[0-9]{1,4})?")
_SURROGATE = re.compile("[\ud800-\udfff]")

Check = Callable[[Any, str], Any]
"""A field check: (raw JSON value, where it is) -> the typed value, or HeaderError."""


class HeaderError(Exception):
    """A header that cannot be used: ``code`` (STC601, or STC603 for a newer format) and one line."""

    def __init__(self, why: str, code: str = "STC601") -> None:
        super().__init__(why)
        self.why = why
        """What is wrong, naming the field (one line, printable)."""
        self.code = code
        """STC601 (malformed) or STC603 (a format version this reader does not know)."""


# --- describing values in one printable line ---------------------------------------------------------


def printable(text: str, limit: int = 60) -> str:
    """``text`` as is when short and printable, else its ascii() form, cut at ``limit`` characters.

    Messages must stay one printable line: header strings may hold newlines, escapes, NULs or
    lone surrogates, and a file path may too.
    """
    shown = text if text.isprintable() else ascii(text)[1:-1]
    return shown if len(shown) <= limit else shown[: limit - 3] + "..."


def kind(value: Any) -> str:
    """What a JSON value is, for a message: ``a string``, ``a number (3.5)``, ``a list of 3 items``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return f"a number ({printable(repr(value), 24)})"
    if isinstance(value, str):
        return f"a string ({printable(repr(value), 40)})"
    if isinstance(value, list):
        return f"a list of {len(value)} item{'' if len(value) == 1 else 's'}"
    return f"an object of {len(value)} key{'' if len(value) == 1 else 's'}"


def _at(where: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{where}[{key}]"
    return f"{where}.{printable(key, 40)}" if where else printable(key, 40)


# --- JSON text -> JSON value (bounded) -------------------------------------------------------------


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # Duplicate keys are legal JSON but readers disagree on which one wins: refuse them.
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        duplicate = next(k for k, _ in pairs if k in seen or seen.add(k))
        raise HeaderError(f"header.json repeats the key {printable(duplicate, 40)!r} in one object")
    return out


def _no_constant(name: str) -> Any:
    raise HeaderError(f"header.json holds {name}, which is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise HeaderError(f"header.json holds the number {printable(text, 24)}, which overflows a float")
    return value


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise HeaderError(f"header.json holds an integer of {len(text.lstrip('-'))} digits "
                          f"(at most {MAX_INT_DIGITS})")
    return int(text)


def _text_may_hold_nul(path: Sequence[str | int]) -> bool:
    # Corpus texts are data (a user's corpus may hold any character); everything else is a name.
    return len(path) == 4 and path[0] == "corpus" and path[1] == "entries" and path[3] == "text"


def _where(path: Sequence[str | int]) -> str:
    where = ""
    for key in path:
        where = _at(where, key)
    return where or "the header"


def _check_string(text: str, path: list[str | int]) -> None:
    if _SURROGATE.search(text):
        raise HeaderError(f"header.json: {_where(path)} holds a lone surrogate (not Unicode text)")
    if "\x00" in text and not _text_may_hold_nul(path):
        raise HeaderError(f"header.json: {_where(path)} holds a NUL character")


def _check_tree(value: Any, path: list[str | int]) -> None:
    """Depth and string content of every value; recursion is bounded by MAX_DEPTH itself."""
    if len(path) > MAX_DEPTH:
        raise HeaderError(f"header.json is nested deeper than {MAX_DEPTH} levels (at {_where(path[:4])}...)")
    if isinstance(value, str):
        _check_string(value, path)
    elif isinstance(value, dict):
        for key, item in value.items():
            path.append(key)
            _check_string(key, path)
            _check_tree(item, path)
            path.pop()
    elif isinstance(value, list):
        for index, item in enumerate(value):
            path.append(index)
            _check_tree(item, path)
            path.pop()


def load_json(raw: bytes) -> Any:
    """Parse header.json's bytes (strict UTF-8 JSON) into plain values, or raise HeaderError.

    Refused: more than MAX_CONTAINERS objects and lists (counted before parsing), invalid UTF-8,
    NaN/Infinity and overflowing numbers, integers longer than
    MAX_INT_DIGITS, repeated keys, nesting beyond MAX_DEPTH, lone surrogates anywhere and NUL
    characters outside corpus texts.
    """
    if len(raw) > MAX_HEADER_BYTES:
        raise HeaderError(f"header.json is {len(raw):,} bytes (at most {MAX_HEADER_BYTES:,})")
    containers = raw.count(b"{") + raw.count(b"[")
    if containers > MAX_CONTAINERS:
        raise HeaderError(f"header.json holds {containers:,} '{{' and '[' (at most {MAX_CONTAINERS:,})")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise HeaderError(f"header.json is not UTF-8 (byte {exc.start})") from None
    try:
        value = json.loads(text, object_pairs_hook=_unique_keys, parse_constant=_no_constant,
                           parse_float=_finite_float, parse_int=_bounded_int)
    except RecursionError:
        raise HeaderError(f"header.json is nested deeper than {MAX_DEPTH} levels") from None
    except json.JSONDecodeError as exc:
        raise HeaderError(f"header.json is not valid JSON ({exc.msg} at line {exc.lineno} "
                          f"column {exc.colno})") from None
    except ValueError as exc:  # a number the float/int constructors refuse
        raise HeaderError(f"header.json holds an unreadable number ({printable(str(exc), 80)})") from None
    _check_tree(value, [])
    return value


# --- field checks: (raw, where) -> typed ----------------------------------------------------------


def _fail(where: str, expected: str, value: Any) -> HeaderError:
    return HeaderError(f"header.json: {where} must be {expected}, not {kind(value)}")


def as_object(value: Any, where: str) -> dict[str, Any]:
    """A JSON object."""
    if not isinstance(value, dict):
        raise _fail(where, "an object", value)
    return value


def as_list(value: Any, where: str) -> list[Any]:
    """A JSON list."""
    if not isinstance(value, list):
        raise _fail(where, "a list", value)
    return value


def as_text(value: Any, where: str) -> str:
    """A JSON string (content already checked by load_json)."""
    if not isinstance(value, str):
        raise _fail(where, "a string", value)
    return value


def as_bool(value: Any, where: str) -> bool:
    """true or false."""
    if not isinstance(value, bool):
        raise _fail(where, "true or false", value)
    return value


def int_in(low: int, high: int) -> Check:
    """An integer (not a boolean, not 3.0) within [low, high]."""

    def check(value: Any, where: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _fail(where, "an integer", value)
        if not low <= value <= high:
            raise HeaderError(f"header.json: {where} is {value}, outside {low}..{high}")
        return value

    return check


def as_error_bound(value: Any, where: str) -> float:
    """A finite number >= 0 (a rounding error)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _fail(where, "a number", value)
    if value < 0:
        raise HeaderError(f"header.json: {where} is {value}, a rounding error cannot be negative")
    return float(value)


def one_of(choices: Sequence[str]) -> Check:
    """One of a fixed set of strings."""

    def check(value: Any, where: str) -> str:
        if not isinstance(value, str) or value not in choices:
            raise _fail(where, "one of " + ", ".join(choices), value)
        return value

    return check


def as_device(value: Any, where: str) -> str:
    """A torch device name such as ``cpu``, ``cuda`` or ``cuda:1``."""
    if not isinstance(value, str) or not _DEVICE.fullmatch(value):
        raise _fail(where, "a device name such as cpu or cuda:0", value)
    return value


def optional(check: Check) -> Check:
    """``check``, or null."""

    def maybe(value: Any, where: str) -> Any:
        return None if value is None else check(value, where)

    return maybe


def list_of(check: Check, max_items: int | None = None) -> Check:
    """A list whose every item passes ``check``; returned as a tuple."""

    def many(value: Any, where: str) -> tuple[Any, ...]:
        items = as_list(value, where)
        if max_items is not None and len(items) > max_items:
            raise HeaderError(f"header.json: {where} has {len(items):,} items (at most {max_items:,})")
        return tuple(check(item, _at(where, i)) for i, item in enumerate(items))

    return many


def map_of(check: Check) -> Check:
    """An object whose every value passes ``check`` (keys are strings by JSON's rules)."""

    def mapping(value: Any, where: str) -> dict[str, Any]:
        return {key: check(item, _at(where, key)) for key, item in as_object(value, where).items()}

    return mapping


def as_scalar(value: Any, where: str) -> str | int | float | bool | None:
    """A string, number, boolean or null (a BLAS description field)."""
    if isinstance(value, (dict, list)):
        raise _fail(where, "a string, number, boolean or null", value)
    return value


# --- records ---------------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    """A record value back as JSON-ready plain values (tuples -> lists, mappings -> dicts)."""
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    return value


@dataclass(frozen=True)
class Section:
    """A header object with known, typed keys (the subclass's fields) and unknown keys kept as read."""

    order: tuple[str, ...] = ()
    """Every key the file stated, in file order (a known key stated as null included), so a
    record written back says what it read."""
    extra: Mapping[str, Any] = field(default_factory=dict)
    """Keys this reader does not know, as read (bounded by load_json)."""

    def as_dict(self) -> dict[str, Any]:
        """The section as plain JSON values: the keys the file stated, in its order."""
        return {key: self.extra[key] if key in self.extra else _plain(getattr(self, key)) for key in self.order}


S = TypeVar("S", bound=Section)


def parse_section(cls: type[S], checks: Mapping[str, Check], value: Any, where: str) -> S:
    """Check each known key of the object ``value`` and build the record ``cls`` (missing keys: defaults)."""
    raw = as_object(value, where)
    known = {key: checks[key](item, _at(where, key)) for key, item in raw.items() if key in checks}
    extra = {key: item for key, item in raw.items() if key not in checks}
    return cls(order=tuple(raw), extra=extra, **known)


def section_checks_match(cls: type[Section], checks: Mapping[str, Check]) -> bool:
    """Whether ``checks`` covers exactly the record's typed fields (a test keeps the two in step)."""
    base = {f.name for f in fields(Section)}
    return {f.name for f in fields(cls)} - base == set(checks)


_TEXT = as_text
_OPT_TEXT = optional(as_text)
_TEXTS = list_of(as_text)


@dataclass(frozen=True)
class ModelRecord(Section):
    """The model fingerprinted: where it was, and the hash of every file its loader reads."""

    path: str | None = None
    """Model folder when fingerprinted."""
    sha256: str | None = None
    """Hash of the per-file hash list."""
    files: Mapping[str, str] | None = None
    """Relative path -> sha256 of each file the torch loader reads."""
    saved_with: Mapping[str, str | None] | None = None
    """Versions recorded in the model's config (``stcompat inspect``)."""
    generation: str | None = None
    """Layout generation (``stcompat inspect``)."""
    features: tuple[str, ...] | None = None
    """Feature ids (``stcompat inspect``)."""


MODEL_CHECKS: dict[str, Check] = {
    "path": _OPT_TEXT, "sha256": _OPT_TEXT, "files": optional(map_of(as_text)),
    "saved_with": optional(map_of(_OPT_TEXT)), "generation": _OPT_TEXT, "features": optional(_TEXTS),
}


@dataclass(frozen=True)
class PipelineRecord(Section):
    """What the loader built, read from the live objects (embed.pipeline_summary)."""

    modules: tuple[str, ...] | None = None
    """Module class names, in order."""
    pooling_mode: str | None = None
    """Pooling mode (``mean``, ``cls`` ...)."""
    include_prompt: bool | None = None
    """Pooling's include_prompt (null before 2.4)."""
    normalize: bool | None = None
    """Whether a Normalize module is in the pipeline."""
    dimension: int | None = None
    """Embedding dimension the model reports."""
    truncate_dim: int | None = None
    """truncate_dim the loader applied."""
    prompts: Mapping[str, str] | None = None
    """Prompt name -> prompt text (non-empty prompts only)."""
    default_prompt_name: str | None = None
    """Prompt applied when none is named."""
    max_seq_length: int | None = None
    """Tokens kept per text."""
    similarity_fn_name: str | None = None
    """Similarity function name (null where the release has no such concept)."""


PIPELINE_CHECKS: dict[str, Check] = {
    "modules": optional(_TEXTS), "pooling_mode": _OPT_TEXT, "include_prompt": optional(as_bool),
    "normalize": optional(as_bool), "dimension": optional(int_in(0, MAX_COLUMNS)),
    "truncate_dim": optional(int_in(0, MAX_COLUMNS)), "prompts": optional(map_of(as_text)),
    "default_prompt_name": _OPT_TEXT, "max_seq_length": optional(int_in(0, MAX_SEQ_LENGTH)),
    "similarity_fn_name": _OPT_TEXT,
}


@dataclass(frozen=True)
class EnvironmentRecord(Section):
    """The environment the embeddings were computed in (environment.describe_environment)."""

    python: str | None = None
    """Python version."""
    implementation: str | None = None
    """``cpython`` ..."""
    platform: str | None = None
    """platform.platform(terse=True)."""
    machine: str | None = None
    """``x86_64`` ..."""
    packages: Mapping[str, str | None] | None = None
    """Distribution -> version (null: not installed)."""
    device: str | None = None
    """Device the model ran on."""
    blas: tuple[Mapping[str, str | int | float | bool | None], ...] | None = None
    """threadpoolctl's description of each loaded BLAS/OpenMP library."""
    torch_threads: int | None = None
    """torch.get_num_threads()."""
    torch_mkl: bool | None = None
    """Whether torch has MKL."""
    cuda: str | None = None
    """CUDA version, on GPU."""
    gpu: str | None = None
    """GPU name, on GPU."""


ENVIRONMENT_CHECKS: dict[str, Check] = {
    "python": _OPT_TEXT, "implementation": _OPT_TEXT, "platform": _OPT_TEXT, "machine": _OPT_TEXT,
    "packages": optional(map_of(_OPT_TEXT)), "device": _OPT_TEXT,
    "blas": optional(list_of(map_of(as_scalar))), "torch_threads": optional(int_in(0, 1 << 20)),
    "torch_mkl": optional(as_bool), "cuda": _OPT_TEXT, "gpu": _OPT_TEXT,
}


@dataclass(frozen=True)
class SettingsRecord(Section):
    """The encode settings verify reuses (embed.EncodeSettings)."""

    prompt_name: str | None = None
    """Prompt applied to every text (null: the model's default)."""
    normalize_embeddings: bool | None = None
    """encode(normalize_embeddings=...)."""
    precision: str | None = None
    """Compute dtype: float32, float16 or bfloat16."""
    batch_size: int | None = None
    """encode(batch_size=...)."""
    device: str | None = None
    """torch device."""


SETTINGS_CHECKS: dict[str, Check] = {
    "prompt_name": _OPT_TEXT, "normalize_embeddings": optional(as_bool), "precision": optional(one_of(PRECISIONS)),
    "batch_size": optional(int_in(1, MAX_BATCH_SIZE)), "device": optional(as_device),
}


@dataclass(frozen=True)
class StorageRecord(Section):
    """How the matrices are stored."""

    dtype: str = "float32"
    """``float32`` (lossless) or ``float16``."""
    max_abs_error: float = 0.0
    """Largest absolute rounding error storage made (measured on write)."""


STORAGE_CHECKS: dict[str, Check] = {"dtype": one_of(tuple(STORAGE_DTYPES)), "max_abs_error": as_error_bound}


@dataclass(frozen=True)
class CorpusRecord:
    """The probe texts, checked against their stored hash."""

    source: str
    """``builtin`` or the corpus file given."""
    sha256: str
    """corpus.corpus_hash of the entries (verified on read)."""
    entries: tuple[CorpusEntry, ...]
    """The texts, in embedding order."""


@dataclass(frozen=True)
class ArraySpec:
    """One embedding set as the header declares it; fileformat reads exactly this many bytes."""

    name: str
    """``main``, ``prompted`` or ``unprompted``."""
    file: str
    """Zip member holding the matrix: always ``arrays/<name>.bin``."""
    dtype: str
    """``<f4`` or ``<f2`` (matches the storage dtype)."""
    rows: tuple[int, ...]
    """Corpus row of each matrix row (distinct, within the corpus)."""
    columns: int
    """Embedding width."""
    prompts: tuple[str, ...] = ()
    """``prompted`` only: the prompt name used for each row."""

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, columns) of the matrix."""
        return (len(self.rows), self.columns)

    @property
    def nbytes(self) -> int:
        """Bytes the member must hold: rows x columns x item size."""
        return len(self.rows) * self.columns * ITEM_SIZES[self.dtype]


@dataclass(frozen=True)
class Header:
    """A validated ``header.json``: every field typed, every cross-reference checked."""

    created: str | None
    """UTC time of creation, ISO 8601."""
    model: ModelRecord
    """Model identity."""
    pipeline: PipelineRecord
    """What the loader built."""
    environment: EnvironmentRecord
    """Where the embeddings were computed."""
    settings: SettingsRecord
    """Encode settings."""
    corpus: CorpusRecord
    """The texts embedded."""
    storage: StorageRecord
    """On-disk dtype and its stated loss."""
    arrays: tuple[ArraySpec, ...]
    """The embedding sets, ``main`` first."""
    notes: tuple[str, ...] = ()
    """What the encoder could not honour."""
    extra: Mapping[str, Any] = field(default_factory=dict)
    """Top-level keys this reader does not know (``stcompat``, the writer's version, among them)."""

    @property
    def values(self) -> int:
        """Number of values in all sets together."""
        return sum(len(a.rows) * a.columns for a in self.arrays)


KNOWN_KEYS = ("format", "created", "model", "pipeline", "environment", "settings", "corpus", "storage",
              "arrays", "notes")


# --- the corpus and the arrays ------------------------------------------------------------------


def parse_entry(value: Any, where: str) -> CorpusEntry:
    """One corpus entry: {"text": str, "tags": [str], "prompt": str|null}; other keys are ignored."""
    raw = as_object(value, where)
    if "text" not in raw:
        raise HeaderError(f"header.json: {where} has no \"text\"")
    return CorpusEntry(as_text(raw["text"], _at(where, "text")), _TEXTS(raw.get("tags", []), _at(where, "tags")),
                       _OPT_TEXT(raw.get("prompt"), _at(where, "prompt")))


def parse_corpus_record(value: Any) -> CorpusRecord:
    """The corpus section, its entries bounded by MAX_ENTRIES and checked against their hash."""
    raw = as_object(value, "corpus")
    for key in ("sha256", "entries"):
        if key not in raw:
            raise HeaderError(f"header.json: corpus has no \"{key}\"")
    sha256 = as_text(raw["sha256"], "corpus.sha256")
    entries = list_of(parse_entry, MAX_ENTRIES)(raw["entries"], "corpus.entries")
    if not entries:
        raise HeaderError("header.json: corpus.entries is empty")
    if corpus_hash(entries) != sha256:
        raise HeaderError("corpus hash does not match its texts (file edited or corrupted)")
    return CorpusRecord(as_text(raw.get("source", "?"), "corpus.source"), sha256, entries)


def _distinct_rows(rows: tuple[int, ...], where: str) -> None:
    if len(set(rows)) != len(rows):
        seen: set[int] = set()
        repeated = next(r for r in rows if r in seen or seen.add(r))
        raise HeaderError(f"header.json: {where} lists corpus row {repeated} twice")


def parse_array(name: str, value: Any, entries: int, dtype: str) -> ArraySpec:
    """One set's declaration: file, dtype, shape, rows (and prompts), checked against the corpus."""
    where = _at("arrays", name)
    if name not in SET_NAMES:
        raise HeaderError(f"header.json: {where}: unknown embedding set (known: {', '.join(SET_NAMES)})")
    raw = as_object(value, where)
    for key in ("file", "dtype", "shape", "rows"):
        if key not in raw:
            raise HeaderError(f"header.json: {where} has no \"{key}\"")
    member = f"arrays/{name}.bin"
    if as_text(raw["file"], _at(where, "file")) != member:
        raise HeaderError(f"header.json: {where}.file is {printable(raw['file'])!r}, must be {member!r}")
    if as_text(raw["dtype"], _at(where, "dtype")) != dtype:
        raise HeaderError(f"header.json: {where}.dtype is {printable(raw['dtype'])!r}, but the storage "
                          f"dtype needs {dtype!r}")
    shape = as_list(raw["shape"], _at(where, "shape"))
    if len(shape) != 2:
        raise HeaderError(f"header.json: {where}.shape must be [rows, columns], not {len(shape)} numbers")
    n_rows = int_in(1, entries)(shape[0], f"{where}.shape[0]")
    columns = int_in(1, MAX_COLUMNS)(shape[1], f"{where}.shape[1]")
    rows = list_of(int_in(0, entries - 1), entries)(raw["rows"], _at(where, "rows"))
    if len(rows) != n_rows:
        raise HeaderError(f"header.json: {where}: {n_rows} rows but {len(rows)} row indices")
    _distinct_rows(rows, f"{where}.rows")
    if name == "main" and rows != tuple(range(entries)):
        raise HeaderError(f"header.json: {where}.rows must be every corpus row in order (0..{entries - 1})")
    prompts = list_of(as_text, entries)(raw.get("prompts", []), _at(where, "prompts"))
    if prompts and len(prompts) != len(rows):
        raise HeaderError(f"header.json: {where}: {len(rows)} rows but {len(prompts)} prompt names")
    return ArraySpec(name, member, dtype, rows, columns, prompts)


def parse_arrays(value: Any, entries: int, storage: StorageRecord) -> tuple[ArraySpec, ...]:
    """Every set: main present, every width equal to main's, MAX_VALUES in all."""
    raw = as_object(value, "arrays")
    dtype = STORAGE_DTYPES[storage.dtype]
    specs = {name: parse_array(name, spec, entries, dtype) for name, spec in raw.items()}
    if "main" not in specs:
        raise HeaderError("no main embedding set")
    main = specs["main"]
    for spec in specs.values():
        if spec.columns != main.columns:
            raise HeaderError(f"header.json: arrays.{spec.name} has {spec.columns} columns, main has {main.columns}")
    total = sum(len(s.rows) * s.columns for s in specs.values())
    if total > MAX_VALUES:
        raise HeaderError(f"header.json: the arrays declare {total:,} values (at most {MAX_VALUES:,})")
    return tuple(specs[name] for name in SET_NAMES if name in specs)


# --- the whole header ------------------------------------------------------------------------------


def check_format(header: dict[str, Any]) -> None:
    """STC601 unless a stcompat fingerprint; STC603 for a version this reader does not know."""
    fmt = header.get("format")
    if not isinstance(fmt, str) or not fmt.startswith(FORMAT_PREFIX):
        shown = printable(fmt) if isinstance(fmt, str) else kind(fmt)
        raise HeaderError(f"not a stcompat fingerprint (format {shown})")
    if fmt != FORMAT:
        raise HeaderError(f"format {printable(fmt)} is not supported by this stcompat (reads {FORMAT})", "STC603")


def parse_header(raw: bytes) -> Header:
    """header.json's bytes -> a validated Header, or HeaderError (STC601, STC603) naming the field."""
    header = load_json(raw)
    if not isinstance(header, dict):
        raise HeaderError(f"header.json must be a JSON object, not {kind(header)}")
    check_format(header)
    for key in ("corpus", "arrays"):
        if key not in header:
            raise HeaderError(f"header.json has no \"{key}\"")
    corpus = parse_corpus_record(header["corpus"])
    storage = parse_section(StorageRecord, STORAGE_CHECKS, header.get("storage", {}), "storage")
    return Header(
        created=_OPT_TEXT(header.get("created"), "created"),
        model=parse_section(ModelRecord, MODEL_CHECKS, header.get("model", {}), "model"),
        pipeline=parse_section(PipelineRecord, PIPELINE_CHECKS, header.get("pipeline", {}), "pipeline"),
        environment=parse_section(EnvironmentRecord, ENVIRONMENT_CHECKS, header.get("environment", {}), "environment"),
        settings=parse_section(SettingsRecord, SETTINGS_CHECKS, header.get("settings", {}), "settings"),
        corpus=corpus, storage=storage,
        arrays=parse_arrays(header["arrays"], len(corpus.entries), storage),
        notes=_TEXTS(header.get("notes", []), "notes"),
        extra={k: v for k, v in header.items() if k not in KNOWN_KEYS},
    )
