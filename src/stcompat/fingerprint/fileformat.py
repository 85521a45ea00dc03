"""Read and write fingerprint files (format ``stcompat.fingerprint/1``, see docs/fingerprint-format.md).

A fingerprint is a zip archive (deflate) holding ``header.json`` (everything but the numbers) and
one raw little-endian matrix per embedding set under ``arrays/``. Raw arrays rather than ``.npy``
or pickles keep the file readable from any language and never run code when opened.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from ..errors import FingerprintError, InputError
from .corpus import Corpus, CorpusEntry, corpus_hash

if TYPE_CHECKING:  # numpy is imported lazily: `import stcompat` must stay light.
    import numpy as np

FORMAT = "stcompat.fingerprint/1"
_FORMAT_PREFIX = "stcompat.fingerprint/"
_HEADER = "header.json"
# Storage dtypes: name -> numpy dtype string (always little-endian on disk).
STORAGE_DTYPES = {"float32": "<f4", "float16": "<f2"}
# Embedding sets a fingerprint may hold (see EmbeddingSet.name).
SET_NAMES = ("main", "prompted", "unprompted")


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
    import numpy as np

    stored = np.ascontiguousarray(values, dtype=STORAGE_DTYPES[storage])
    error = float(np.max(np.abs(stored.astype(np.float32) - values))) if values.size else 0.0
    return stored, error


def write_fingerprint(fp: Fingerprint, path: str | Path) -> Path:
    """Write ``fp`` to ``path`` (a zip archive); returns the path. ``fp.storage`` picks the dtype."""
    if fp.storage not in STORAGE_DTYPES:
        raise InputError("STC004", f"storage dtype {fp.storage!r}: use one of {', '.join(STORAGE_DTYPES)}")
    arrays: dict[str, Any] = {}
    blobs: dict[str, bytes] = {}
    max_error = 0.0
    for name, es in fp.sets.items():
        stored, error = _quantise(es.values, fp.storage)
        max_error = max(max_error, error)
        member = f"arrays/{name}.bin"
        blobs[member] = stored.tobytes()
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
        "storage": {"dtype": fp.storage, "max_abs_error": max_error},
        "arrays": arrays,
        "notes": list(fp.notes),
    }
    target = Path(path)
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        zf.writestr(_HEADER, json.dumps(header, ensure_ascii=False, indent=1, sort_keys=False))
        for member, blob in blobs.items():
            zf.writestr(member, blob)
    return target


def _bad(path: Path, why: str) -> FingerprintError:
    return FingerprintError("STC601", f"{path}: {why}", str(path))


def read_fingerprint(path: str | Path) -> Fingerprint:
    """Read a fingerprint file. Raises FingerprintError STC601 (unreadable) or STC603 (newer format)."""
    import numpy as np

    file = Path(path)
    if not file.is_file():
        raise InputError("STC001", f"{file}: fingerprint file not found", str(file))
    try:
        with zipfile.ZipFile(file) as zf:
            header = json.loads(zf.read(_HEADER).decode("utf-8"))
            if not isinstance(header, dict):
                raise _bad(file, "header.json is not a JSON object")
            fmt = header.get("format")
            if not isinstance(fmt, str) or not fmt.startswith(_FORMAT_PREFIX):
                raise _bad(file, f"not a stcompat fingerprint (format {fmt!r})")
            if fmt != FORMAT:
                raise FingerprintError("STC603", f"{file}: format {fmt} is not supported by this stcompat "
                                       f"(reads {FORMAT})", str(file))
            sets: dict[str, EmbeddingSet] = {}
            for name, spec in header["arrays"].items():
                dtype = np.dtype(spec["dtype"])
                if dtype.kind != "f":
                    raise _bad(file, f"array {name} has dtype {spec['dtype']}")
                shape = tuple(int(n) for n in spec["shape"])
                values = np.frombuffer(zf.read(spec["file"]), dtype=dtype).reshape(shape).astype(np.float32)
                rows = tuple(int(r) for r in spec["rows"])
                if len(rows) != shape[0]:
                    raise _bad(file, f"array {name}: {shape[0]} rows but {len(rows)} row indices")
                sets[name] = EmbeddingSet(name, rows, values, tuple(spec.get("prompts", ())))
    except FingerprintError:
        raise
    except (zipfile.BadZipFile, KeyError, ValueError, TypeError, UnicodeDecodeError) as exc:
        raise _bad(file, f"unreadable fingerprint ({type(exc).__name__}: {exc})") from None
    if "main" not in sets:
        raise _bad(file, "no main embedding set")
    try:
        raw_corpus = header["corpus"]
        entries = tuple(CorpusEntry(e["text"], tuple(e.get("tags", ())), e.get("prompt"))
                        for e in raw_corpus["entries"])
    except (KeyError, TypeError) as exc:
        raise _bad(file, f"corpus section malformed ({exc})") from None
    if corpus_hash(entries) != raw_corpus.get("sha256"):
        raise _bad(file, "corpus hash does not match its texts (file edited or corrupted)")
    if sets["main"].values.shape[0] != len(entries):
        raise _bad(file, "main embedding set does not cover the corpus")
    known = {"format", "created", "model", "pipeline", "environment", "settings", "corpus", "storage",
             "arrays", "notes"}
    storage = header.get("storage", {})
    return Fingerprint(
        model=header.get("model", {}), pipeline=header.get("pipeline", {}),
        environment=header.get("environment", {}), settings=header.get("settings", {}),
        corpus=Corpus(entries, raw_corpus.get("source", "?")), sets=sets,
        storage=storage.get("dtype", "float32"), storage_max_abs_error=float(storage.get("max_abs_error", 0.0)),
        created=header.get("created"), notes=tuple(header.get("notes", ())),
        extra={k: v for k, v in header.items() if k not in known},
    )
