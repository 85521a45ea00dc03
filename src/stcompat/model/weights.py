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

import json
import math
import struct
from typing import Any

from ..findings import Finding
from ..vocab import WeightFormat
from .folder import MAX_JSON_DEPTH, ModelFolder, ModelReadError, json_depth_exceeds, problem
from .manifest import WeightFile

# Bytes per element, from the safetensors spec; unknown dtypes skip the size check.
DTYPE_BYTES = {
    "BOOL": 1, "U8": 1, "I8": 1, "F8_E4M3": 1, "F8_E5M2": 1, "F8_E8M0": 1,
    "I16": 2, "U16": 2, "F16": 2, "BF16": 2,
    "I32": 4, "U32": 4, "F32": 4,
    "I64": 8, "U64": 8, "F64": 8,
}
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl")
_MAX_HEADER = 100 * 1024 * 1024  # the spec's own limit


def _count(value: Any) -> bool:
    """A JSON integer >= 0 (not a bool, which Python counts as an int)."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def parse_safetensors_header(prefix: bytes, file_size: int, read_header: Any) -> dict[str, Any]:
    """The parsed header of a safetensors file, validated against the file size.

    ``prefix`` is the first 8 bytes; ``read_header(n)`` returns the n header bytes that follow.
    Raises ValueError with a one-line reason when the header is unusable.
    """
    if len(prefix) < 8:
        raise ValueError("file shorter than the 8-byte header length")
    (length,) = struct.unpack("<Q", prefix)
    if length > _MAX_HEADER or length > file_size - 8:
        raise ValueError(f"header length {length} exceeds the file size {file_size}")
    try:
        header = json.loads(read_header(length))
    except RecursionError:
        raise ValueError("header nests too deeply") from None
    if not isinstance(header, dict):
        raise ValueError("header is not a JSON object")
    if json_depth_exceeds(header):
        raise ValueError(f"header nests deeper than {MAX_JSON_DEPTH} levels")
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
        begin, end = offsets
        expected = DTYPE_BYTES.get(dtype)
        if expected is not None and end - begin != math.prod(shape) * expected:
            raise ValueError(f"tensor {name!r} spans {end - begin} bytes, its shape needs "
                             f"{math.prod(shape) * expected}")
        spans.append((begin, end))
    spans.sort()
    cursor = 0
    for begin, end in spans:
        if begin != cursor:
            raise ValueError(f"tensor data is not contiguous at byte {cursor}")
        cursor = end
    data_size = file_size - 8 - length
    if cursor != data_size:
        raise ValueError(f"tensors cover {cursor} bytes but the file holds {data_size} after the header")
    return header


def describe_safetensors(folder: ModelFolder, rel: str, problems: list[Finding]) -> WeightFile:
    """A WeightFile from a safetensors header; STC014 when it is unusable."""
    size = folder.size(rel)
    try:
        header = parse_safetensors_header(
            folder.read_bytes(rel, 0, 8), size, lambda n: folder.read_bytes(rel, 8, n))
    except (ValueError, TypeError, UnicodeDecodeError) as exc:
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
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
    """A pickle/ONNX/OpenVINO file recognised by name and magic bytes; None if not weights."""
    size = folder.size(rel)
    name = rel.rsplit("/", 1)[-1]
    if name.endswith(".onnx"):
        return WeightFile(rel, WeightFormat.ONNX, size)
    if name.startswith("openvino") and name.endswith(".bin"):
        return WeightFile(rel, WeightFormat.OPENVINO, size)
    if not name.endswith(PICKLE_SUFFIXES):
        return None
    magic = folder.read_bytes(rel, 0, 4)
    # torch.save writes a zip (PK\x03\x04) holding data.pkl since torch 1.6; older files are a raw
    # pickle stream starting with the PROTO opcode 0x80.
    if magic.startswith(b"PK\x03\x04") or magic[:1] == b"\x80":
        problems.append(problem("STC015", f"{rel} is a pickle; listed, never unpickled", rel))
        return WeightFile(rel, WeightFormat.PICKLE, size)
    return None


def read_weights(folder: ModelFolder, files: list[str], problems: list[Finding]) -> tuple[WeightFile, ...]:
    """Every weights file among ``files`` (relative paths)."""
    found = []
    for rel in files:
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
