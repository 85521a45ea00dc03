"""Weight files, described from headers and magic bytes; nothing is ever deserialised.

safetensors: the file starts with an 8-byte little-endian header length, then a JSON header
mapping each tensor to ``{dtype, shape, data_offsets}``. We read only that header. (The
``safetensors`` package's ``safe_open`` imports numpy, ~100 ms, which would triple the cost of
``inspect``; the header format is the published spec, and the tests cross-check this reader
against ``safe_open`` on every fixture.)

Pickles (pytorch_model.bin and friends) are identified by their first bytes and never opened:
unpickling runs code.
"""

from __future__ import annotations

import io
import math
import pickletools
import struct
import zipfile
from typing import Any

from ..findings import Finding
from ..vocab import WeightFormat
from .folder import (
    MAX_JSON_DEPTH, ModelFolder, ModelReadError, is_lfs_pointer, lfs_problem, loads_json, problem,
)
from .manifest import WeightFile

# Bits per element of every dtype safetensors knows (0.8: the sub-byte F4/F6 types, the FNUZ fp8s and
# C64 included). A dtype outside this table is refused by every release ("unknown variant"), so it is
# an invalid header here too, not a dtype to skip.
DTYPE_BITS = {
    "F4": 4, "F6_E2M3": 6, "F6_E3M2": 6,
    "BOOL": 8, "U8": 8, "I8": 8, "F8_E4M3": 8, "F8_E5M2": 8, "F8_E8M0": 8, "F8_E4M3FNUZ": 8, "F8_E5M2FNUZ": 8,
    "I16": 16, "U16": 16, "F16": 16, "BF16": 16,
    "I32": 32, "U32": 32, "F32": 32,
    "I64": 64, "U64": 64, "F64": 64, "C64": 64,
}
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl")
_MAX_HEADER = 100 * 1024 * 1024  # the spec's own limit


_USIZE = 2**64
"""safetensors reads shapes and offsets as 64-bit unsigned integers, and sizes them with checked
arithmetic: a value, or an intermediate product, at or past this is an error there."""


class TruncatedWeights(ValueError):
    """The file holds fewer bytes than its own header or index says: a copy or download cut short."""

    def __init__(self, message: str, where: str) -> None:
        super().__init__(message)
        self.where = where
        """``header`` or ``data``: which part the end of the file falls in."""


def _count(value: Any) -> bool:
    """A JSON integer that fits a 64-bit unsigned integer (not a bool, which Python counts as an int)."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < _USIZE


def _buffer_bits(shape: list[int], bits: int) -> int | None:
    """Bits a tensor's data takes, multiplied in the order safetensors does and stopped at the first
    overflow (None): a header of 10,000 huge dimensions costs no big-number arithmetic."""
    total = 1
    for dimension in shape:
        total *= dimension
        if total >= _USIZE:
            return None
    total *= bits
    return total if total < _USIZE else None


def parse_safetensors_header(prefix: bytes, file_size: int, read_header: Any) -> dict[str, Any]:
    """The parsed header of a safetensors file, validated against the file size.

    ``prefix`` is the first 8 bytes; ``read_header(n)`` returns the n header bytes that follow.
    Raises ValueError with a one-line reason when the header is unusable.
    """
    if len(prefix) < 8:
        raise ValueError("file shorter than the 8-byte header length")
    (length,) = struct.unpack("<Q", prefix[:8])
    if length > _MAX_HEADER:
        raise ValueError(f"header length {length} exceeds the file size {file_size}")
    if length > file_size - 8:
        raise TruncatedWeights(f"header length {length} exceeds the file size {file_size}", "header")
    header = _header_json(read_header(length))
    metadata = header.get("__metadata__")  # optional: absent or null
    if metadata is not None and (not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values())):
        raise ValueError("__metadata__ is not an object of strings")
    spans = []
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if not isinstance(info, dict) or not {"dtype", "shape", "data_offsets"} <= set(info):
            raise ValueError(f"tensor {name!r} lacks dtype/shape/data_offsets")
        dtype, shape, offsets = info["dtype"], info["shape"], info["data_offsets"]
        if not isinstance(dtype, str):
            raise ValueError(f"tensor {name!r} has a dtype that is not a string")
        if not isinstance(shape, list) or not all(_count(n) for n in shape):
            raise ValueError(f"tensor {name!r} has a shape that is not a list of non-negative integers")
        if not isinstance(offsets, list) or len(offsets) != 2 or not all(_count(n) for n in offsets) \
                or offsets[0] > offsets[1]:
            raise ValueError(f"tensor {name!r} has data_offsets that are not [begin, end] byte positions")
        bits = DTYPE_BITS.get(dtype)
        if bits is None:
            raise ValueError(f"tensor {name!r} has dtype {dtype[:40]!r}, which no safetensors release knows")
        begin, end = offsets
        needed = _buffer_bits(shape, bits)
        if needed is None:
            raise ValueError(f"tensor {name!r} has a shape whose size overflows 64 bits")
        if needed % 8 or end - begin != needed // 8:
            raise ValueError(f"tensor {name!r} spans {end - begin} bytes, its shape and dtype need {needed} bits")
        spans.append((begin, end))
    spans.sort()
    cursor = 0
    for begin, end in spans:
        if begin != cursor:
            raise ValueError(f"tensor data is not contiguous at byte {cursor}")
        cursor = end
    data_size = file_size - 8 - length
    if cursor > data_size:
        raise TruncatedWeights(f"the header places tensors up to byte {cursor} but the file holds {data_size} after "
                               "the header", "data")
    if cursor != data_size:
        raise ValueError(f"tensors cover {cursor} bytes but the file holds {data_size} after the header")
    return header


def _header_json(raw: bytes) -> dict[str, Any]:
    """The header as safetensors' serde_json reads it: UTF-8 without BOM, no NaN or Infinity, an object,
    nested no deeper than the bound. ValueError otherwise."""
    try:
        header, _ = loads_json(raw, strict=True)
    except RecursionError:
        raise ValueError(f"header nests deeper than {MAX_JSON_DEPTH} levels") from None
    if not isinstance(header, dict):
        raise ValueError("header is not a JSON object")
    return header


def describe_safetensors(folder: ModelFolder, rel: str, problems: list[Finding]) -> WeightFile:
    """A WeightFile from a safetensors header; STC014 when it is unusable, STC021 for an LFS pointer."""
    size = folder.size(rel)
    head = folder.read_bytes(rel, 0, 64)
    if is_lfs_pointer(head):
        problems.append(lfs_problem(rel))
        return WeightFile(rel, WeightFormat.SAFETENSORS, size, header_ok=False)
    try:
        header = parse_safetensors_header(head[:8], size, lambda n: folder.read_bytes(rel, 8, n))
    except TruncatedWeights as exc:
        problems.append(truncated_problem(rel, str(exc)))
        return WeightFile(rel, WeightFormat.SAFETENSORS, size, header_ok=False, truncated=exc.where)
    except ValueError as exc:  # UnicodeDecodeError and JSONDecodeError included
        detail = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        problems.append(problem("STC014", f"{rel}: {detail}", rel))
        return WeightFile(rel, WeightFormat.SAFETENSORS, size, header_ok=False)
    tensors = {k: v for k, v in header.items() if k != "__metadata__"}
    metadata = header.get("__metadata__") or {}
    return WeightFile(
        path=rel,
        format=WeightFormat.SAFETENSORS,
        size=size,
        dtypes=tuple(sorted({str(t["dtype"]) for t in tensors.values()})),
        tensors=len(tensors),
        parameters=sum(math.prod(t["shape"]) for t in tensors.values()),
        metadata={str(k): str(v) for k, v in metadata.items()} if isinstance(metadata, dict) else {},
        header_ok=True,
    )


def describe_binary(folder: ModelFolder, rel: str, problems: list[Finding]) -> WeightFile | None:
    """A pickle/ONNX/OpenVINO file recognised by name and magic bytes; None if not weights (or a Git LFS
    pointer in their place: STC021, its format unknowable)."""
    size = folder.size(rel)
    name = rel.rsplit("/", 1)[-1]
    known = name.endswith((".onnx", *PICKLE_SUFFIXES))
    magic = folder.read_bytes(rel, 0, 64) if known else b""
    if is_lfs_pointer(magic):
        problems.append(lfs_problem(rel))
        return None
    if name.endswith(".onnx"):
        return WeightFile(rel, WeightFormat.ONNX, size)
    if name.startswith("openvino") and name.endswith(".bin"):
        return WeightFile(rel, WeightFormat.OPENVINO, size)
    if not name.endswith(PICKLE_SUFFIXES):
        return None
    # torch.save writes a zip (PK\x03\x04) holding data.pkl since torch 1.6; older files are a raw
    # pickle stream starting with the PROTO opcode 0x80.
    if magic.startswith(b"PK\x03\x04") and not _zip_complete(folder, rel, size):
        problems.append(truncated_problem(rel, "the zip archive torch.save wrote has no end-of-central-directory "
                                               "record (its end is missing)"))
        return WeightFile(rel, WeightFormat.PICKLE, size, header_ok=False, truncated="zip")
    if magic.startswith(b"PK\x03\x04") or magic[:1] == b"\x80":
        problems.append(problem("STC015", f"{rel} is a pickle; listed, never unpickled", rel))
        found = pickle_globals(folder, rel, size) if magic.startswith(b"PK\x03\x04") else ()
        return WeightFile(rel, WeightFormat.PICKLE, size, pickle_globals=found)
    return None


_MAX_PICKLE = 64 << 20
"""A torch.save pickle holds the structure only (tensor bytes are separate zip members): a larger one is
not read (its globals are then unknown)."""


class _FolderFile(io.RawIOBase):
    """A read-only, seekable view of one file of the model folder, through its bounded reads."""

    def __init__(self, folder: ModelFolder, rel: str, size: int) -> None:
        self._folder, self._rel, self._size, self._pos = folder, rel, size, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = 0) -> int:
        self._pos = {0: offset, 1: self._pos + offset, 2: self._size + offset}[whence]
        return self._pos

    def readinto(self, buffer) -> int:  # noqa: ANN001 - memoryview
        data = self._folder.read_bytes(self._rel, self._pos, min(len(buffer), max(0, self._size - self._pos)))
        buffer[: len(data)] = data
        self._pos += len(data)
        return len(data)


_STRING_OPS = frozenset({"SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "UNICODE", "SHORT_BINSTRING",
                         "BINSTRING", "STRING"})


def pickle_globals(folder: ModelFolder, rel: str, size: int) -> tuple[str, ...]:
    """The globals (``module.name``) a torch.save zip's ``data.pkl`` references, in order, from its opcodes
    (pickletools parses; nothing is unpickled or imported). Empty when unreadable or too large."""
    try:
        with zipfile.ZipFile(io.BufferedReader(_FolderFile(folder, rel, size), 1 << 16)) as archive:
            member = next((i for i in archive.infolist() if i.filename.rsplit("/", 1)[-1] == "data.pkl"), None)
            if member is None or member.file_size > _MAX_PICKLE:
                return ()
            data = archive.read(member)
        found: list[str] = []
        strings: list[str] = []  # strings pushed so far (STACK_GLOBAL takes module and name from the stack)
        memo: dict[int, str] = {}  # memo slots holding a string
        memoized = 0  # MEMOIZE numbers its slots in order, whatever they hold
        last: str | None = None  # the string the previous opcode pushed, if it pushed one
        for opcode, arg, _ in pickletools.genops(data):
            name, pushed = opcode.name, None
            if name == "GLOBAL":
                module, _, attr = str(arg).partition(" ")
                found.append(f"{module}.{attr}")
            elif name in _STRING_OPS:
                pushed = arg if isinstance(arg, str) else str(arg)
            elif name in ("BINPUT", "LONG_BINPUT", "PUT"):
                if last is not None:
                    memo[int(arg)] = last
                pushed = last  # PUT leaves the stack as it was
            elif name == "MEMOIZE":
                if last is not None:
                    memo[memoized] = last
                memoized += 1
                pushed = last
            elif name in ("BINGET", "LONG_BINGET", "GET"):
                pushed = memo.get(int(arg))
            elif name == "STACK_GLOBAL" and len(strings) >= 2:
                found.append(f"{strings[-2]}.{strings[-1]}")
            if pushed is not None and name not in ("BINPUT", "LONG_BINPUT", "PUT", "MEMOIZE"):
                strings.append(pushed)
            last = pushed
        return tuple(dict.fromkeys(found))
    except (zipfile.BadZipFile, ValueError, EOFError, OSError, KeyError, RuntimeError, NotImplementedError):
        return ()


_EOCD = b"PK\x05\x06"
_EOCD_SPAN = 22 + 65535
"""A zip ends with its end-of-central-directory record (22 bytes) and a comment of at most 64 KiB."""


def _zip_complete(folder: ModelFolder, rel: str, size: int) -> bool:
    """Whether the zip's end-of-central-directory record is there: the last thing written, so a copy cut
    short lacks it (and torch.load then fails to find the central directory)."""
    start = max(0, size - _EOCD_SPAN)
    return _EOCD in folder.read_bytes(rel, start, size - start)


def truncated_problem(rel: str, detail: str) -> Finding:
    """STC022 for ``rel``."""
    return problem("STC022", f"{rel} is truncated: {detail}", rel)


def read_weights(folder: ModelFolder, files: list[str], problems: list[Finding]) -> tuple[WeightFile, ...]:
    """Every weights file among ``files`` (relative paths)."""
    found = []
    for rel in files:
        if not rel.endswith((".safetensors", ".onnx", *PICKLE_SUFFIXES)):
            continue  # nothing else is weights: no stat, no read (a tree of 100,000 files stays cheap)
        try:
            if rel.endswith(".safetensors"):
                found.append(describe_safetensors(folder, rel, problems))
            else:
                described = describe_binary(folder, rel, problems)
                if described is not None:
                    found.append(described)
        except ModelReadError as exc:
            problems.append(exc.finding)
        except OSError as exc:
            problems.append(problem("STC005", f"{rel}: {exc.strerror or exc}", rel))
    return tuple(found)
