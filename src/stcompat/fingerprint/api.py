"""The public functions: fingerprint, verify, compare, load_fingerprint.

verify is "fingerprint again, here, with the recorded settings and corpus" followed by the same
judgement compare makes: one code path, so a file and a live check can never disagree.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import CorpusError, InputError
from .corpus import Corpus, load_corpus
from .fileformat import STORAGE_DTYPES, EmbeddingSet, Fingerprint, read_fingerprint, write_fingerprint
from .header import MAX_ENTRIES
from .verdict import Report, Thresholds, judge

if TYPE_CHECKING:
    from .embed import EncodeSettings, LoadedModel

# Corpus runs longer than this show sentence-transformers' progress bar (when asked for).
PROGRESS_MIN_TEXTS = 256
# Without prompt-tagged texts, this many leading texts carry the "unprompted" evidence.
_FALLBACK_PROMPT_ROWS = 16


def load_fingerprint(path: str | Path) -> Fingerprint:
    """Read a fingerprint file (raises FingerprintError STC601/STC603 when it cannot be used)."""
    return read_fingerprint(path)


def _load(model: "str | Path | LoadedModel", device: str, precision: str) -> "LoadedModel":
    from .embed import LoadedModel, load_model

    if isinstance(model, LoadedModel):
        if model.precision != precision:
            raise InputError("STC004", f"model loaded in {model.precision}, but {precision} was asked for")
        return model
    return load_model(model, device=device, precision=precision)


def _plan(loaded: "LoadedModel", corpus: Corpus) -> tuple[list[tuple[int, str]], list[int]]:
    """Which rows get the prompt evidence: (row, prompt name) pairs and the rows encoded bare."""
    prompts = loaded.pipeline.get("prompts") or {}
    if not prompts:
        return [], []
    prompted = [(i, e.prompt) for i, e in enumerate(corpus.entries) if e.prompt in prompts]
    bare = [i for i, _ in prompted] or list(range(min(_FALLBACK_PROMPT_ROWS, len(corpus.entries))))
    return prompted, bare


def embed_corpus(loaded: "LoadedModel", corpus: Corpus, settings: "EncodeSettings", *,
                 progress: bool | None = None, like: Fingerprint | None = None) -> Fingerprint:
    """Encode ``corpus`` with ``settings`` in this environment; the Fingerprint, not yet written.

    Sets: ``main`` (every text, as ST encodes by default, so a default prompt applies), and when
    the model has prompts: ``prompted`` (texts that name a prompt the model knows, with that
    prompt_name) and ``unprompted`` (the same texts with an empty prompt): the evidence that tells
    "prompt ignored" from any other change. With ``like`` (verify), the same sets as that
    fingerprint are encoded whatever the loaded model knows, so a lost prompt shows up as numbers.
    """
    import numpy as np

    from .embed import encode
    from .environment import describe_environment

    show = progress if progress is not None else len(corpus.entries) >= PROGRESS_MIN_TEXTS
    notes: list[str] = []
    main, n = encode(loaded, corpus.texts, settings, progress=show)
    notes += n
    sets = {"main": EmbeddingSet("main", tuple(range(len(corpus.entries))), main)}
    if like is not None:
        recorded = like.sets.get("prompted")
        prompted = list(zip(recorded.rows, recorded.prompts)) if recorded is not None else []
        bare_set = like.sets.get("unprompted")
        bare = list(bare_set.rows) if bare_set is not None else []
    else:
        prompted, bare = _plan(loaded, corpus)
    if prompted:
        chunks: list["np.ndarray"] = [np.empty((0, main.shape[1]), np.float32)]
        order: list[tuple[int, str]] = []
        for name in dict.fromkeys(p for _, p in prompted):
            idx = [i for i, p in prompted if p == name]
            values, n = encode(loaded, [corpus.entries[i].text for i in idx], settings, prompt_name=name)
            notes += n
            chunks.append(values)
            order += [(i, name) for i in idx]
        sets["prompted"] = EmbeddingSet("prompted", tuple(i for i, _ in order), np.concatenate(chunks),
                                        tuple(p for _, p in order))
    if bare:
        values, n = encode(loaded, [corpus.entries[i].text for i in bare], settings, prompt="")
        notes += n
        sets["unprompted"] = EmbeddingSet("unprompted", tuple(bare), values)
    from .. import __version__

    return Fingerprint(
        model=loaded.identity, pipeline=loaded.pipeline, environment=describe_environment(loaded.device),
        settings=settings.as_dict(), corpus=corpus, sets=sets,
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        notes=tuple(dict.fromkeys(notes)), extra={"stcompat": __version__},
    )


def fingerprint(model: "str | Path | LoadedModel", output: str | Path | None = None, *,
                corpus: str | Path | Corpus | None = None, prompt_name: str | None = None,
                normalize_embeddings: bool = False, precision: str = "float32", batch_size: int = 32,
                device: str = "cpu", storage: str = "float32", progress: bool | None = None) -> Fingerprint:
    """Embed the probe corpus (or ``corpus``) with ``model`` and write the fingerprint to ``output``.

    ``storage`` is the on-disk dtype: ``float32`` (lossless) or ``float16`` (half the size; the
    largest rounding error is measured and stored, and verify widens its noise band by it).
    """
    from .embed import EncodeSettings

    if storage not in STORAGE_DTYPES:
        raise InputError("STC004", f"storage {storage!r}: use one of {', '.join(STORAGE_DTYPES)}")
    if batch_size < 1:
        raise InputError("STC004", f"batch size {batch_size}: must be at least 1")
    texts = corpus if isinstance(corpus, Corpus) else load_corpus(corpus)
    if len(texts.entries) > MAX_ENTRIES:  # refused before minutes of embedding, not when writing
        raise CorpusError(f"{texts.source}: {len(texts.entries)} texts, over the bound of {MAX_ENTRIES} a "
                          "fingerprint holds (docs/fingerprint-format.md)", texts.source)
    settings = EncodeSettings(prompt_name, normalize_embeddings, precision, batch_size, device)
    loaded = _load(model, device, precision)
    fp = embed_corpus(loaded, texts, settings, progress=progress)
    fp = Fingerprint(**{**fp.__dict__, "storage": storage})
    if output is not None:
        write_fingerprint(fp, output)
        fp = read_fingerprint(output)  # what was stored (float16 storage rounds)
    return fp


def _as_fingerprint(fp: str | Path | Fingerprint) -> Fingerprint:
    return fp if isinstance(fp, Fingerprint) else read_fingerprint(fp)


def _stored_like(fp: Fingerprint, reference: Fingerprint) -> Fingerprint:
    """``fp`` rounded to the reference's storage dtype, so both sides carry the same rounding."""
    import numpy as np

    if reference.storage == "float32":
        return fp
    dtype = STORAGE_DTYPES[reference.storage]
    sets = {name: EmbeddingSet(es.name, es.rows, es.values.astype(dtype).astype(np.float32), es.prompts)
            for name, es in fp.sets.items()}
    return Fingerprint(**{**fp.__dict__, "sets": sets, "storage": reference.storage})


def verify(model: "str | Path | LoadedModel", fingerprint_file: str | Path | Fingerprint, *,
           thresholds: Thresholds | None = None, precision: str | None = None, batch_size: int | None = None,
           device: str | None = None, progress: bool | None = None) -> Report:
    """Re-embed the fingerprint's corpus with its recorded settings, here, and judge the difference.

    ``precision``/``batch_size``/``device`` override the recorded settings (e.g. to measure what
    float16 does); the report's diagnosis then names the override.
    """
    from .embed import EncodeSettings

    expected = _as_fingerprint(fingerprint_file)
    recorded = EncodeSettings.from_dict(dict(expected.settings))
    settings = EncodeSettings(recorded.prompt_name, recorded.normalize_embeddings, precision or recorded.precision,
                              batch_size or recorded.batch_size, device or recorded.device)
    start = time.perf_counter()
    loaded = _load(model, settings.device, settings.precision)
    loaded_at = time.perf_counter()
    actual = _stored_like(embed_corpus(loaded, expected.corpus, settings, progress=progress, like=expected),
                          expected)
    report = judge(expected, actual, thresholds)
    end = time.perf_counter()
    timing = {"load_s": round(loaded_at - start, 4), "embed_and_judge_s": round(end - loaded_at, 4)}
    return Report(**{**report.__dict__, "extra": {"timing": timing}})


def compare(a: str | Path | Fingerprint, b: str | Path | Fingerprint, *,
            thresholds: Thresholds | None = None) -> Report:
    """Judge fingerprint ``b`` against ``a`` without loading any model (both must share a corpus)."""
    fa, fb = _as_fingerprint(a), _as_fingerprint(b)
    if fa.storage != fb.storage:
        fa, fb = _stored_like(fa, fb), _stored_like(fb, fa)
    return judge(fa, fb, thresholds)
