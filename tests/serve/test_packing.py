"""Packed forward batches (convert/packing.py): several texts per row of the transformer, no padding.

On real fixtures saved by sentence-transformers 6.2.0 (BERT and RoBERTa encoders, prompts, a prompt left
out of pooling, Dense, truncate_dim), the server's torch backend packs, and what it serves equals
``model.encode`` of the same texts; a packing that numbered positions wrongly is caught at load and not
used; models it cannot lay out (StaticEmbedding, a Router) are served by encode.
"""

from __future__ import annotations

import numpy as np
import pytest

from conftest import fixture_path

TEXTS = ["x", "The cat sits on the mat, and the dog lies by the door all afternoon.", "A quick brown fox",
         "Embeddings for search, ranked by cosine similarity across many documents.", "hi there", "one two three",
         "Ünïcödé, ponctuation ; et chiffres 12345?", "a b c d e f g"] * 3


def test_layout_places_every_text_once_without_overlap_longest_first():
    from stcompat.convert.packing import layout

    lengths = [3, 32, 16, 9, 16, 8, 1, 30, 7]
    placed = layout(lengths, 32)
    spans: dict[int, list[tuple[int, int]]] = {}
    for text, (row, offset) in enumerate(zip(placed.row, placed.offset)):
        assert 0 <= row < placed.rows and offset + lengths[text] <= 32
        spans.setdefault(row, []).append((offset, offset + lengths[text]))
    for row_spans in spans.values():
        row_spans.sort()
        assert all(end <= begin for (_, end), (begin, _) in zip(row_spans, row_spans[1:]))
    # 122 tokens in rows of 32: best fit, longest first, needs only the 4 rows the total asks for.
    assert placed.rows == 4 == -(-sum(lengths) // 32)
    assert placed.row[1] != placed.row[7]  # 32 and 30 cannot share
    assert layout([], 32).rows == 0
    with pytest.raises(ValueError, match="does not fit"):
        layout([33], 32)


@pytest.mark.parametrize("variant", ["bert_plain", "bert_prompts", "bert_inclprompt", "bert_dense", "bert_trunc",
                                     "roberta_plain"])
def test_packed_batches_serve_what_encode_gives(variant):
    from stcompat.fingerprint.embed import load_model
    from stcompat.serve.backends import TorchEmbedder, _counts, _preprocess

    loaded = load_model(str(fixture_path("6.2.0", variant)), device="cpu")
    backend = TorchEmbedder(loaded, None)
    assert backend.describe()["batches"] == "packed"
    features = _preprocess(loaded.st, TEXTS, None)
    placed = backend._packed.rows_for(features)
    assert placed.rows < len(TEXTS) and len(set(placed.row)) == placed.rows  # texts share rows, none is empty
    assert placed.rows * placed.width < features["input_ids"].numel()  # fewer positions than padded rows
    for name in (None, *backend.capabilities.prompts):
        want = loaded.st.encode(TEXTS, prompt_name=name, batch_size=len(TEXTS), convert_to_numpy=True)
        for rows_per_forward in (1, 3, 64):
            got = backend.embed(TEXTS, name, rows_per_forward)
            assert got.values.shape == want.shape
            assert float(np.abs(got.values - want).max()) <= 1e-6, (name, rows_per_forward)
        prompt = backend._prompt(name)
        assert got.tokens == tuple(_counts(_preprocess(loaded.st, [t], prompt))[0] for t in TEXTS)


def test_a_packing_that_numbers_positions_wrongly_is_not_used():
    """RoBERTa numbers positions from padding_idx + 1. Packed rows numbered from 0 give other vectors (the
    measure at load sees it) and the backend falls back to padded batches, which still equal encode."""
    from stcompat.fingerprint.embed import load_model
    from stcompat.serve.backends import TorchEmbedder

    loaded = load_model(str(fixture_path("6.2.0", "roberta_plain")), device="cpu")
    backend = TorchEmbedder(loaded, None)
    want = loaded.st.encode(TEXTS, convert_to_numpy=True)
    backend._packed._first_position = 0
    assert float(np.abs(backend.embed(TEXTS, None, 4).values - want).max()) > 1e-3
    backend._mode = backend._batching_mode()
    assert backend._mode == "direct"
    assert float(np.abs(backend.embed(TEXTS, None, 4).values - want).max()) <= 1e-6


@pytest.mark.parametrize("variant", ["static", "router"])
def test_models_packing_cannot_lay_out_are_served_by_encode(variant):
    """A StaticEmbedding (an EmbeddingBag over every text's ids end to end) and a Router have no transformer
    first module: no packing, and their features cannot be cut into padded rows either."""
    from stcompat.fingerprint.embed import load_model
    from stcompat.serve.backends import TorchEmbedder
    from stcompat.convert.packing import PackedTransformer

    loaded = load_model(str(fixture_path("6.2.0", variant)), device="cpu")
    assert PackedTransformer.of(loaded.st) is None
    backend = TorchEmbedder(loaded, None)
    assert backend.describe()["batches"] == "encode"
    got = backend.embed(TEXTS, None, 4)
    assert float(np.abs(got.values - loaded.st.encode(TEXTS, convert_to_numpy=True)).max()) <= 1e-6
    # Tokens per text, as each text alone makes them (the StaticEmbedding's come as offsets, not rows).
    alone = [backend.embed([t], None, 4).tokens[0] for t in TEXTS[:8]]
    assert got.tokens[:8] == tuple(alone) and all(n > 0 for n in alone)


def test_a_static_embedding_model_is_served_with_its_token_counts():
    """End to end through a real server: a StaticEmbedding's vectors equal encode's, and ``usage`` counts the
    ids its tokenizer made of each text (an EmbeddingBag's flat ids and offsets, not padded rows)."""
    httpx = pytest.importorskip("httpx")
    pytest.importorskip("uvicorn")
    from sentence_transformers import SentenceTransformer
    from serve_helpers import running

    from stcompat.serve import Batching, ModelSpec, ServeConfig, prepare

    folder = fixture_path("6.2.0", "static")
    state = prepare(ServeConfig(models=(ModelSpec("static", str(folder)),), port=0,
                                batching=Batching(max_batch=32, batch_size=8)))
    model = SentenceTransformer(str(folder), device="cpu")
    with running(state) as srv:
        answer = httpx.post(f"{srv.url}/v1/embeddings", json={"model": "static", "input": TEXTS[:8]}).json()
    got = np.array([row["embedding"] for row in answer["data"]])
    assert float(np.abs(got - model.encode(TEXTS[:8], convert_to_numpy=True)).max()) <= 1e-6
    ids = model.preprocess(TEXTS[:8])["input_ids"]
    assert answer["usage"]["prompt_tokens"] == len(ids) > 8


def test_a_sliding_window_model_is_not_packed():
    """ModernBERT's local layers see a window of their text, built into the mask the model makes itself; given
    a 4D mask they use it as it is, so packed rows would let them see the whole text. Shown here on a tiny
    random ModernBERT (8 tokens either side) in a real pipeline: packed anyway, a text within the window still matches and a
    longer one does not; so packing declines the model, and its padded batches serve what encode gives."""
    import torch
    from conftest import tiny_modernbert

    from stcompat.convert.packing import PackedTransformer
    from stcompat.fingerprint.embed import load_model
    from stcompat.serve.backends import TorchEmbedder, _preprocess

    loaded = load_model(str(fixture_path("6.2.0", "bert_plain")), device="cpu")
    st = loaded.st
    tiny_modernbert(st)
    assert PackedTransformer.of(st) is None
    forced = PackedTransformer(st[0].model, "token_embeddings")
    short, long = "hi there", "The cat sits on the mat, and the dog lies by the door all afternoon."
    with torch.inference_mode():
        for text, differs in ((short, False), (long, True)):
            features = _preprocess(st, [text, "a b c"], None)
            assert (int(features["attention_mask"][0].sum()) > 9) is differs  # a token sees 8 either side
            out = forced(features, forced.rows_for(features))
            for module in list(st)[1:]:
                out = module(out)
            want = st.encode([text, "a b c"], convert_to_tensor=True)
            assert (float((out["sentence_embedding"] - want).abs().max()) > 1e-4) is differs
    backend = TorchEmbedder(loaded, None)
    assert backend.describe()["batches"] == "direct"
    got = backend.embed([short, long] * 3, None, 4).values
    assert float(np.abs(got - st.encode([short, long] * 3, convert_to_numpy=True)).max()) <= 1e-6
