"""Read and write fingerprint files (format ``stcompat.fingerprint/1``, see docs/fingerprint-format.md).

A fingerprint is a zip archive (deflate) holding ``header.json`` (everything but the numbers) and
one raw little-endian matrix per embedding set under ``arrays/``. Raw arrays rather than ``.npy``
or pickles keep the file readable from any language and never run code when opened.

Files come from anywhere, so reading is bounded before anything is decompressed: the size of the
zip's central directory and its number of members, the header's declared size, and each array
member's declared size, which must equal what the header's shape and dtype need. Members are
then read in chunks that stop at that size, so a member that lies about its size cannot grow
memory either. header.py turns the header into typed records; everything wrong is
FingerprintError STC601 (STC603 for a newer format) with one line naming it.
"""

from __future__ import annotations

import json
import os
import struct
import zipfile
import zlib
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Iterator, Mapping

from ..errors import FingerprintError, InputError
from .corpus import Corpus
from .header import (FORMAT, MAX_HEADER_BYTES, SET_NAMES, STORAGE_DTYPES, ArraySpec, Header, HeaderError, parse_header,
                     printable)

if TYPE_CHECKING:  # numpy is imported lazily: `import stcompat` must stay light.
    import numpy as np

__all__ = ["FORMAT", "MAX_DIRECTORY_BYTES", "MAX_HEADER_BYTES", "MAX_MEMBERS", "SET_NAMES", "STORAGE_DTYPES",
           "EmbeddingSet", "Fingerprint", "read_fingerprint", "write_fingerprint"]

HEADER_MEMBER = "header.json"
ARRAYS_FOLDER = "arrays/"
# A fingerprint has header.json and at most one member per set; the slack admits the folder entry
# ``arrays/`` that zip tools add when a fingerprint is unpacked and packed again.
MAX_MEMBERS = 8
# The central directory is parsed whole (one object per entry) before any member is looked at:
# bounding its size bounds that parse. Eight entries need well under 1 kB.
MAX_DIRECTORY_BYTES = 64 * 1024
# Members are decompressed this much at a time.
_CHUNK = 1 << 20
# Errors the zip module raises on a malformed central directory (its own, struct's, truncated reads).
_ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, struct.error, EOFError, OSError, ValueError,
               NotImplementedError, RuntimeError, OverflowError)
_LOCAL_HEADER = b"PK\x03\x04"
_END_RECORD = b"PK\x05\x06"
_ZIP64_LOCATOR = b"PK\x06\x07"
_ZIP64_END_RECORD = b"PK\x06\x06"


@dataclass(frozen=True)
class EmbeddingSet:
    """One matrix of embeddings and which corpus rows it covers."""

    name: str
    """``main`` (every text, encoded as ST does by default), ``prompted`` (texts with a prompt name,
    encoded with that prompt_name) or ``unprompted`` (the same texts with an empty prompt)."""
    rows: tuple[int, ...]
    """Corpus row of each matrix row."""
    values: "np.ndarray"
    """float32 matrix, one row per entry of ``rows`` (as read back: float16 storage is widened)."""
    prompts: tuple[str | None, ...] = ()
    """``prompted`` only: the prompt name used for each row."""


@dataclass(frozen=True)
class Fingerprint:
    """A fingerprint in memory: header fields plus the embedding sets."""

    model: Mapping[str, Any]
    """Model identity: path, ``sha256`` (of the per-file hashes), ``files`` (relative path -> sha256),
    saved_with, generation, features."""
    pipeline: Mapping[str, Any]
    """What the loader built: module classes, pooling mode, normalize, dimension, truncate_dim,
    prompts, default_prompt_name, max_seq_length (see embed.pipeline_summary)."""
    environment: Mapping[str, Any]
    """Versions, BLAS, device, threads (see environment.describe_environment)."""
    settings: Mapping[str, Any]
    """Encode settings: prompt_name, normalize_embeddings, precision, batch_size, device."""
    corpus: Corpus
    """The texts embedded (stored in full, so verify needs no corpus file)."""
    sets: Mapping[str, EmbeddingSet]
    """Embedding sets by name; ``main`` is always there."""
    storage: str = "float32"
    """Dtype the matrices are stored in: ``float32`` (lossless) or ``float16``."""
    storage_max_abs_error: float = 0.0
    """The largest absolute change storage made to any value (0 for float32), measured on write."""
    created: str | None = None
    """UTC time of creation, ISO 8601."""
    notes: tuple[str, ...] = ()
    """What the encoder could not do as asked (e.g. a prompt this release does not support)."""
    extra: Mapping[str, Any] = field(default_factory=dict)
    """Header keys this reader does not know (kept for round trips)."""

    @property
    def main(self) -> "np.ndarray":
        """The main embedding matrix (every corpus text)."""
        return self.sets["main"].values


def _quantise(values: "np.ndarray", storage: str) -> tuple["np.ndarray", float]:
    """The matrix in the storage dtype, and the largest rounding error storing it made (finite values)."""
    import numpy as np

    with np.errstate(over="ignore"):  # an overflow is detected just below, and refused
        stored = np.ascontiguousarray(values, dtype=STORAGE_DTYPES[storage])
    finite = np.isfinite(values)
    if not np.array_equal(np.isfinite(stored), finite):
        # float16 tops out at 65504: an overflow would be stored as infinity with an infinite "error".
        largest = float(np.max(np.abs(values[finite])))
        raise InputError("STC004", f"storage {storage} cannot hold these embeddings (largest |value| "
                                   f"{largest:.6g}): use float32 storage")
    if not finite.any():
        return stored, 0.0
    # NaN embeddings (degenerate models) are data; only finite values have a rounding error.
    error = np.abs(stored.astype(np.float32) - values)[finite]
    return stored, float(np.max(error))


def write_fingerprint(fp: Fingerprint, path: str | Path) -> Path:
    """Write ``fp`` to ``path`` (a zip archive); returns the path. ``fp.storage`` picks the dtype.

    The header is checked with the reader's own rules before anything is written: a file this
    stcompat writes is a file it reads (InputError STC004 names what the reader would refuse).
    """
    if fp.storage not in STORAGE_DTYPES:
        raise InputError("STC004", f"storage dtype {fp.storage!r}: use one of {', '.join(STORAGE_DTYPES)}")
    arrays: dict[str, Any] = {}
    blobs: dict[str, bytes] = {}
    widened: dict[str, "np.ndarray"] = {}
    # Values read from a float16 file are already rounded: their stated loss carries over, so a
    # fingerprint written again still says how far it is from what was embedded.
    max_error = 0.0
    for name, es in fp.sets.items():
        stored, error = _quantise(es.values, fp.storage)
        max_error = max(max_error, error)
        member = f"{ARRAYS_FOLDER}{name}.bin"
        blobs[member] = stored.tobytes()
        widened[name] = stored.astype("<f4", copy=False)
        arrays[name] = {"file": member, "dtype": STORAGE_DTYPES[fp.storage], "shape": list(stored.shape),
                        "rows": list(es.rows)}
        if es.prompts:
            arrays[name]["prompts"] = list(es.prompts)
    header = {
        "format": FORMAT,
        **dict(fp.extra),
        "created": fp.created,
        "model": dict(fp.model),
        "pipeline": dict(fp.pipeline),
        "environment": dict(fp.environment),
        "settings": dict(fp.settings),
        "corpus": {
            "source": fp.corpus.source,
            "sha256": fp.corpus.sha256,
            "entries": [{"text": e.text, "tags": list(e.tags), **({"prompt": e.prompt} if e.prompt else {})}
                        for e in fp.corpus.entries],
        },
        "storage": {"dtype": fp.storage, "max_abs_error": fp.storage_max_abs_error + max_error},
        "arrays": arrays,
        "notes": list(fp.notes),
    }
    target = Path(path)
    try:
        raw = json.dumps(header, ensure_ascii=False, indent=1, sort_keys=False).encode("utf-8")
        _check_storage_error(parse_header(raw), widened)
    except UnicodeEncodeError:
        raise InputError("STC004", f"cannot write {printable(str(target), 200)}: a text holds a lone surrogate "
                                   "(not Unicode text)", str(target)) from None
    except HeaderError as exc:
        raise InputError("STC004", f"cannot write {printable(str(target), 200)}: the reader would refuse it: "
                                   f"{exc.why}", str(target)) from None
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        zf.writestr(HEADER_MEMBER, raw)
        for member, blob in blobs.items():
            zf.writestr(member, blob)
    return target


# --- reading: every step bounded ------------------------------------------------------------------


@contextmanager
def _zip_errors(what: str) -> Iterator[None]:
    """Turn the zip module's failures on a malformed archive into HeaderError naming ``what``."""
    try:
        yield
    except _ZIP_ERRORS as exc:
        detail = printable(str(exc) or type(exc).__name__, 120)
        raise HeaderError(f"{what}: unreadable ({type(exc).__name__}: {detail})") from None


def _read_at(handle: IO[bytes], offset: int, size: int) -> bytes:
    handle.seek(offset)
    return handle.read(size)


def _directory_bounds(handle: IO[bytes]) -> tuple[int, int]:
    """(entries, bytes) of the zip's central directory, from its end record (zip64 too)."""
    end = handle.seek(0, os.SEEK_END)
    tail_size = min(end, 22 + 0xFFFF)  # the end record, then a comment of at most 64 KiB
    tail = _read_at(handle, end - tail_size, tail_size)
    at = tail.rfind(_END_RECORD)  # the zip module finds the record the same way
    if at < 0 or tail_size - at < 22:
        raise HeaderError("not a zip archive (no end-of-archive record)")
    entries, size = struct.unpack("<HI", tail[at + 10:at + 16])
    if entries != 0xFFFF and size != 0xFFFFFFFF:
        return entries, size
    record = end - tail_size + at
    locator = _read_at(handle, max(record - 20, 0), 20)
    if record < 20 or locator[:4] != _ZIP64_LOCATOR:
        raise HeaderError("zip64 archive without its zip64 end record")
    (offset,) = struct.unpack("<Q", locator[8:16])
    zip64 = _read_at(handle, offset, 56) if offset < end else b""
    if len(zip64) < 56 or zip64[:4] != _ZIP64_END_RECORD:
        raise HeaderError("zip64 archive without its zip64 end record")
    entries64, size64 = struct.unpack("<QQ", zip64[32:48])
    return entries64, size64


def _check_directory(handle: IO[bytes]) -> None:
    """Refuse an archive whose central directory is too large to parse before parsing it."""
    entries, size = _directory_bounds(handle)
    if entries > MAX_MEMBERS:
        raise HeaderError(f"the zip archive declares {entries:,} members (a fingerprint has at most {MAX_MEMBERS})")
    if size > MAX_DIRECTORY_BYTES:
        raise HeaderError(f"the zip archive's directory is {size:,} bytes (at most {MAX_DIRECTORY_BYTES:,})")


def _members(zf: zipfile.ZipFile) -> dict[str, zipfile.ZipInfo]:
    """Members by name: a bounded count, distinct names, plain or deflated, unencrypted."""
    infos = zf.infolist()
    if len(infos) > MAX_MEMBERS:
        raise HeaderError(f"the zip archive has {len(infos):,} members (a fingerprint has at most {MAX_MEMBERS})")
    members: dict[str, zipfile.ZipInfo] = {}
    for info in infos:
        name = printable(info.filename)
        if info.filename in members:
            raise HeaderError(f"the zip archive holds {name} twice")
        if info.flag_bits & 0x1:
            raise HeaderError(f"{name} is encrypted")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise HeaderError(f"{name} uses compression method {info.compress_type} (stored or deflate only)")
        members[info.filename] = info
    return members


def _data_offset(handle: IO[bytes], info: zipfile.ZipInfo, end: int) -> int:
    """Where the member's (compressed) bytes start: after its local header, inside the file."""
    if not 0 <= info.header_offset < end:
        raise HeaderError(f"{printable(info.filename)}: local header offset {info.header_offset:,} is outside the file")
    local = _read_at(handle, info.header_offset, 30)
    if len(local) < 30 or local[:4] != _LOCAL_HEADER:
        raise HeaderError(f"{printable(info.filename)}: no local file header at offset {info.header_offset:,}")
    name_length, extra_length = struct.unpack("<HH", local[26:30])
    start = info.header_offset + 30 + name_length + extra_length
    if start + info.compress_size > end:
        raise HeaderError(f"{printable(info.filename)}: its {info.compress_size:,} compressed bytes run past the "
                          "end of the file")
    return start


def _read_exactly(handle: IO[bytes], info: zipfile.ZipInfo, size: int) -> bytearray:
    """The member's bytes, which must be exactly ``size``, into a buffer of that size.

    The member is inflated here, a chunk at a time, with zlib asked for at most one byte more than
    is still expected: whatever the member really decompresses to, memory stays at ``size``, and
    a member holding more than it declares is refused with the numbers (the zip module would
    silently cut it at its declared size).
    """
    name = printable(info.filename)
    end = handle.seek(0, os.SEEK_END)
    handle.seek(_data_offset(handle, info, end))
    deflated = info.compress_type == zipfile.ZIP_DEFLATED
    if not deflated and info.compress_size != info.file_size:
        raise HeaderError(f"{name} is stored uncompressed, yet its sizes differ ({info.compress_size:,} "
                          f"stored, {info.file_size:,} declared)")
    inflater = zlib.decompressobj(-zlib.MAX_WBITS) if deflated else None
    buffer = bytearray(size)
    got, crc, left = 0, 0, info.compress_size
    while inflater is None or not inflater.eof:
        pending = inflater.unconsumed_tail if inflater is not None else b""
        if not pending:
            if left == 0:
                break
            pending = handle.read(min(_CHUNK, left))
            if not pending:
                break
            left -= len(pending)
        try:
            out = inflater.decompress(pending, size - got + 1) if inflater is not None else pending
        except zlib.error as exc:
            raise HeaderError(f"{name}: corrupted deflate data ({printable(str(exc), 80)})") from None
        if got + len(out) > size:
            raise HeaderError(f"{name} decompresses to more than the {size:,} bytes it declares")
        buffer[got:got + len(out)] = out
        got += len(out)
        crc = zlib.crc32(out, crc)
    if inflater is not None and not inflater.eof:
        raise HeaderError(f"{name}: deflate data ends early ({got:,} of {size:,} bytes)")
    if got < size:
        raise HeaderError(f"{name} holds {got:,} bytes, fewer than the {size:,} it declares")
    if crc != info.CRC:
        raise HeaderError(f"{name}: CRC-32 {crc:08x} does not match the archive's {info.CRC:08x} (corrupted)")
    return buffer


def _read_header(handle: IO[bytes], members: Mapping[str, zipfile.ZipInfo]) -> Header:
    info = members.get(HEADER_MEMBER)
    if info is None:
        raise HeaderError(f"no {HEADER_MEMBER} (not a stcompat fingerprint)")
    if info.file_size > MAX_HEADER_BYTES:
        raise HeaderError(f"{HEADER_MEMBER} declares {info.file_size:,} bytes (at most {MAX_HEADER_BYTES:,})")
    return parse_header(bytes(_read_exactly(handle, info, info.file_size)))


def _check_members(members: Mapping[str, zipfile.ZipInfo], header: Header) -> None:
    """Every declared array is there with exactly the size its shape and dtype need; nothing else is."""
    declared = {spec.file: spec for spec in header.arrays}
    for name, info in members.items():
        folder = name == ARRAYS_FOLDER and info.file_size == 0
        if name != HEADER_MEMBER and name not in declared and not folder:
            raise HeaderError(f"unexpected member {printable(name)} (the header declares no such array)")
    for spec in header.arrays:
        info = members.get(spec.file)
        if info is None:
            raise HeaderError(f"no member {spec.file} for the {spec.name} embedding set")
        if info.file_size != spec.nbytes:
            rows, columns = spec.shape
            raise HeaderError(f"{spec.file} declares {info.file_size:,} bytes, but shape [{rows}, {columns}] of "
                              f"{spec.dtype} needs {spec.nbytes:,}")


def _read_array(handle: IO[bytes], info: zipfile.ZipInfo, spec: ArraySpec) -> "np.ndarray":
    """The set's matrix as float32 (float16 storage is widened), read in bounded chunks."""
    import numpy as np

    raw = np.frombuffer(_read_exactly(handle, info, spec.nbytes), dtype=spec.dtype).reshape(spec.shape)
    return raw.astype(np.float32, copy=False)


def _check_storage_error(header: Header, values: Mapping[str, "np.ndarray"]) -> None:
    """The stated rounding error widens the noise band, so it must be one storage can have made:
    at most one float16 unit in the last place of the largest stored value. (float16, whatever the
    storage now: values read from a float16 file and written again as float32 keep their loss.)"""
    import numpy as np

    stated = header.storage.max_abs_error
    if stated == 0.0:
        return
    info = np.finfo(np.float16)
    largest = 0.0
    for matrix in values.values():
        # fmax/fmin skip NaN (data from degenerate models) without copying the matrix.
        high, low = float(np.fmax.reduce(matrix, axis=None)), float(np.fmin.reduce(matrix, axis=None))
        largest = max([largest] + [abs(v) for v in (high, low) if v == v])
    bound = float(info.eps) * largest + float(info.tiny) * float(info.eps)
    if stated > bound:
        raise HeaderError(f"header.json: storage.max_abs_error {stated:.3g} is more than storage can lose on "
                          f"these values (at most {bound:.3g}, one float16 step of the largest)")


def _read_archive(handle: IO[bytes]) -> tuple[Header, dict[str, "np.ndarray"]]:
    _check_directory(handle)
    # The zip module parses the (bounded) central directory; members are read by _read_exactly.
    with _zip_errors("the zip archive"):
        with zipfile.ZipFile(handle) as zf:
            members = _members(zf)
    header = _read_header(handle, members)
    _check_members(members, header)
    values = {spec.name: _read_array(handle, members[spec.file], spec) for spec in header.arrays}
    _check_storage_error(header, values)
    return header, values


def _fingerprint(header: Header, values: Mapping[str, "np.ndarray"]) -> Fingerprint:
    """The in-memory Fingerprint: mappings rebuilt from the typed records, so they hold checked types only."""
    return Fingerprint(
        model=header.model.as_dict(), pipeline=header.pipeline.as_dict(),
        environment=header.environment.as_dict(), settings=header.settings.as_dict(),
        corpus=Corpus(header.corpus.entries, header.corpus.source),
        sets={spec.name: EmbeddingSet(spec.name, spec.rows, values[spec.name], spec.prompts) for spec in header.arrays},
        storage=header.storage.dtype, storage_max_abs_error=header.storage.max_abs_error,
        created=header.created, notes=header.notes, extra=dict(header.extra),
    )


def read_fingerprint(path: str | Path) -> Fingerprint:
    """Read a fingerprint file. Raises FingerprintError STC601 (unusable) or STC603 (newer format).

    A missing file is InputError STC001; an I/O error opening it propagates as OSError.
    """
    file = Path(path)
    if not file.is_file():
        raise InputError("STC001", f"{printable(str(file), 200)}: fingerprint file not found", str(file))
    with open(file, "rb") as handle:
        try:
            header, values = _read_archive(handle)
        except HeaderError as exc:
            raise FingerprintError(exc.code, f"{printable(str(file), 200)}: {exc.why}", str(file)) from None
    return _fingerprint(header, values)
