"""The torch backend's padded (``direct``) forward batches, on a real fixture saved by sentence-transformers 6.2.0.

A worker cycle tokenizes its texts once (for ``usage``) and cuts every forward batch's rows out of that
tokenization. These tests hold that to what matters: the vectors equal ``model.encode`` of the same texts
with every saved prompt, the token counts are those of each text tokenized alone, and the rows cut out are
exactly what tokenizing those texts alone gives, whichever side the tokenizer pads on. This fixture packs
(test_packing.py); the padded batches serve where packing does not match encode, so they are chosen by hand.
"""

from __future__ import annotations

import numpy as np
import pytest

from conftest import fixture_path

PROMPTS = fixture_path("6.2.0", "bert_prompts")
TEXTS = ["x", "The cat sits on the mat, and the dog lies by the door all afternoon.", "A quick brown fox",
         "Embeddings for search, ranked by cosine similarity across many documents.", "hi there", "one two three"]


def test_forward_batches_cut_from_one_tokenization_equal_encode():
    from stcompat.fingerprint.embed import load_model
    from stcompat.serve.backends import TorchEmbedder, _counts, _preprocess

    loaded = load_model(str(PROMPTS), device="cpu")
    backend = TorchEmbedder(loaded, None)
    backend._mode = "direct"
    assert backend.describe()["batches"] == "direct"
    for name in (None, *backend.capabilities.prompts):
        got = backend.embed(TEXTS, name, 4)  # two forward batches: the 4 longest, the 2 shortest
        want = loaded.st.encode(TEXTS, prompt_name=name, batch_size=len(TEXTS), convert_to_numpy=True)
        assert float(np.abs(got.values - want).max()) <= 1e-6
        prompt = backend._prompt(name)  # None: the saved default prompt, as encode applies it
        assert got.tokens == tuple(_counts(_preprocess(loaded.st, [t], prompt))[0] for t in TEXTS)


@pytest.mark.parametrize("side", ["right", "left"])
def test_rows_cut_out_are_those_texts_tokenized_alone(side):
    from sentence_transformers import SentenceTransformer

    from stcompat.serve.backends import _preprocess, _rows

    st = SentenceTransformer(str(PROMPTS), device="cpu")
    st.tokenizer.padding_side = side
    features = _preprocess(st, TEXTS, "query: ")
    cut = _rows(features, [4, 0])
    alone = _preprocess(st, [TEXTS[4], TEXTS[0]], "query: ")
    assert set(cut) == set(alone)
    for key, value in alone.items():
        if hasattr(value, "shape"):
            assert cut[key].shape == value.shape and bool((cut[key] == value).all()), key
        else:
            assert cut[key] == value, key
    # The two short texts use fewer columns than the batch's longest: padding neither uses is dropped.
    assert cut["input_ids"].shape[1] < features["input_ids"].shape[1]


def test_the_encode_path_serves_the_same_vectors_where_direct_batches_are_not_used():
    """Where neither packed nor padded batches matched encode at load (older sentence-transformers, another device),
    forward batches go through encode itself. Only sentence-transformers 6.2.0 is installed here, so the switch
    is turned by hand: the path under test is the real one, on the real model."""
    from stcompat.fingerprint.embed import load_model
    from stcompat.serve.backends import TorchEmbedder

    loaded = load_model(str(PROMPTS), device="cpu")
    backend = TorchEmbedder(loaded, None)
    backend._mode = "direct"
    direct = {name: backend.embed(TEXTS, name, 4) for name in (None, "document")}
    backend._mode = "encode"
    assert backend.describe()["batches"] == "encode"
    for name, want in direct.items():
        got = backend.embed(TEXTS, name, 4)
        assert float(np.abs(got.values - want.values).max()) <= 1e-6 and got.tokens == want.tokens
        reference = loaded.st.encode(TEXTS, prompt_name=name, convert_to_numpy=True)
        assert float(np.abs(got.values - reference).max()) <= 1e-6
