"""The endpoints of a real server (uvicorn on 127.0.0.1), through the real openai client and raw httpx.

Every vector is compared with ``model.encode`` of the same texts by the same sentence-transformers
(max |diff| <= 1e-6), every score with ``CrossEncoder.predict``; every refusal is checked for its
status and OpenAI-style error body.
"""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
pytest.importorskip("prometheus_client")
httpx = pytest.importorskip("httpx")
openai = pytest.importorskip("openai")

from serve_helpers import KEY, endpoint_config, reference_models, running  # noqa: E402

TEXTS = ["The cat sits on the mat.", "A quick brown fox", "x", "Embeddings for search, ranked by cosine."]
AUTH = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture(scope="module")
def server():
    from stcompat.serve import prepare

    with running(prepare(endpoint_config())) as srv:
        yield srv


@pytest.fixture(scope="module")
def ref():
    return reference_models()


@pytest.fixture(scope="module")
def client(server):
    return openai.OpenAI(base_url=f"{server.url}/v1", api_key=KEY, max_retries=0, timeout=60)


@pytest.fixture(scope="module")
def http(server):
    with httpx.Client(base_url=server.url, timeout=60) as c:
        yield c


def _close(a, b, tol=1e-6):
    a, b = np.asarray(a, dtype=np.float32), np.asarray(b, dtype=np.float32)
    assert a.shape == b.shape
    assert float(np.max(np.abs(a - b))) <= tol


# --- embeddings: the openai client, float and base64 -------------------------------------------------

def test_openai_client_float_equals_encode(client, ref):
    out = client.embeddings.create(model="plain", input=TEXTS, encoding_format="float")
    assert [d.index for d in out.data] == list(range(len(TEXTS))) and out.model == "plain"
    _close([d.embedding for d in out.data], ref["plain"].encode(TEXTS))


def test_openai_client_base64_equals_encode(client, ref):
    out = client.embeddings.create(model="plain", input=TEXTS, encoding_format="base64")
    raw = [np.frombuffer(base64.b64decode(d.embedding), dtype="<f4") for d in out.data]
    _close(raw, ref["plain"].encode(TEXTS))


def test_openai_client_default_format_decodes(client, ref):
    # The client asks for base64 when no format is given and decodes it itself: same numbers.
    out = client.embeddings.create(model="plain", input="A quick brown fox")
    _close([out.data[0].embedding], ref["plain"].encode(["A quick brown fox"]))


def test_default_prompt_and_named_prompt_are_applied_as_encode_does(client, ref):
    st = ref["prompts"]
    default = client.embeddings.create(model="prompts", input=TEXTS, encoding_format="float")
    _close([d.embedding for d in default.data], st.encode(TEXTS))  # default_prompt_name "query" applies
    assert not np.allclose(default.data[0].embedding, st.encode(TEXTS[:1], prompt="")[0], atol=1e-3)
    named = client.embeddings.create(model="prompts", input=TEXTS, encoding_format="float",
                                     extra_body={"prompt_name": "document"})
    _close([d.embedding for d in named.data], st.encode(TEXTS, prompt_name="document"))


def test_usage_counts_the_tokens_the_model_reads(client, ref):
    st = ref["prompts"]
    out = client.embeddings.create(model="prompts", input=TEXTS, encoding_format="float")
    expected = sum(len(st.tokenizer("query: " + t)["input_ids"]) for t in TEXTS)
    assert out.usage.prompt_tokens == out.usage.total_tokens == expected


def test_saved_truncate_dim_applies_and_dimensions_truncates_with_the_models_normalisation(client, ref):
    st = ref["trunc"]  # saved truncate_dim 16, ends in Normalize
    full = client.embeddings.create(model="trunc", input=TEXTS, encoding_format="float")
    assert len(full.data[0].embedding) == 16
    _close([d.embedding for d in full.data], st.encode(TEXTS))
    cut = client.embeddings.create(model="trunc", input=TEXTS, encoding_format="float", dimensions=8)
    _close([d.embedding for d in cut.data], st.encode(TEXTS, truncate_dim=8, normalize_embeddings=True))
    assert np.allclose(np.linalg.norm([d.embedding for d in cut.data], axis=1), 1.0, atol=1e-6)


def test_dimensions_refused_where_the_model_was_not_trained_for_it(client, http):
    with pytest.raises(openai.BadRequestError) as caught:
        client.embeddings.create(model="plain", input="hello", dimensions=8)
    assert caught.value.status_code == 400 and caught.value.body["code"] == "unsupported_dimensions"
    # The model's own dimension is no truncation: accepted.
    assert client.embeddings.create(model="plain", input="hello", dimensions=32).data
    r = http.post("/v1/embeddings", headers=AUTH, json={"model": "trunc", "input": "a", "dimensions": 17})
    assert r.status_code == 400 and r.json()["error"]["param"] == "dimensions"


def test_concurrent_requests_are_batched_and_each_gets_its_own_rows(server, ref):
    import concurrent.futures

    texts = [f"sentence number {i} " + "word " * (i % 7) for i in range(48)]

    def one(i):
        with httpx.Client(base_url=server.url, timeout=60) as c:
            r = c.post("/v1/embeddings", headers=AUTH, json={"model": "plain", "input": texts[i:i + 3]})
        return i, r

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        results = list(pool.map(one, range(0, 48, 3)))
    expected = ref["plain"].encode(texts)
    for i, r in results:
        assert r.status_code == 200
        _close([d["embedding"] for d in r.json()["data"]], expected[i:i + 3])


# --- rerank ------------------------------------------------------------------------------------------

def test_rerank_scores_equal_predict_best_first(http, ref):
    docs = ["a cat on a mat", "stock prices fell", "the cat sat", "x"]
    r = http.post("/v1/rerank", headers=AUTH, json={"model": "ce", "query": "where is the cat",
                                                     "documents": docs, "return_documents": True})
    assert r.status_code == 200
    body = r.json()
    expected = ref["ce"].predict([("where is the cat", d) for d in docs])
    scores = {res["index"]: res["relevance_score"] for res in body["results"]}
    _close([scores[i] for i in range(len(docs))], expected)
    assert [res["relevance_score"] for res in body["results"]] == sorted(scores.values(), reverse=True)
    assert all(res["document"] == docs[res["index"]] for res in body["results"])
    assert body["object"] == "rerank" and body["usage"]["total_tokens"] > 0
    top = http.post("/v1/rerank", headers=AUTH, json={"model": "ce", "query": "q", "texts": docs, "top_n": 2})
    assert len(top.json()["results"]) == 2 and "document" not in top.json()["results"][0]


# --- models, health, info, metrics --------------------------------------------------------------------

def test_models_lists_every_served_model(client):
    assert [m.id for m in client.models.list().data] == ["prompts", "trunc", "plain", "ce"]


def test_health_live_ready_and_combined_need_no_key(http):
    assert http.get("/health/live").json() == {"status": "alive"}
    ready = http.get("/health/ready")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"
    health = http.get("/health").json()
    assert health["live"] and health["ready"] and set(health["models"]) == {"prompts", "trunc", "plain", "ce"}


def test_info_reports_versions_check_layout_and_capabilities(http):
    info = http.get("/info", headers=AUTH).json()
    assert info["running"]["sentence-transformers"] and info["override"] == {
        "allow_unsafe": False, "active": False, "header": None}
    prompts = info["models"]["prompts"]
    assert prompts["saved_with"]["sentence_transformers"] == "6.2.0" and prompts["layout"]
    assert prompts["check"]["verdict"] == "ok" and prompts["fingerprint"] is None
    assert prompts["capabilities"]["default_prompt_name"] == "query"
    assert prompts["backend"]["backend"] == "torch"
    assert info["models"]["trunc"]["capabilities"]["dimensions_supported"] is True
    assert info["models"]["ce"]["capabilities"]["role"] == "rerank"
    # Judged as what serve does with it: CrossEncoder(path), the folder's own class.
    assert info["models"]["ce"]["check"]["loader"] == "cross-encoder"
    assert "STC903" not in {f["code"] for f in info["models"]["ce"]["check"]["findings"]}


def test_metrics_count_requests_batches_and_queue(http, client):
    client.embeddings.create(model="plain", input=["one", "two"])
    text = http.get("/metrics", headers=AUTH).text
    assert 'stcompat_serve_requests_total{route="/v1/embeddings",status="200"}' in text
    assert "stcompat_serve_request_duration_seconds_bucket" in text
    assert 'stcompat_serve_batch_size_count{model="plain"}' in text
    assert 'stcompat_serve_queue_depth{model="plain"} 0.0' in text
    assert 'stcompat_serve_inputs_total{model="plain"}' in text


# --- errors: raw HTTP, every one an OpenAI-style body -------------------------------------------------

def _error(r, status, code=None, param=None):
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["message"]
    if code is not None:
        assert error["code"] == code, error
    if param is not None:
        assert error["param"] == param, error
    return error


@pytest.mark.parametrize("body,code,param", [
    ({"model": "plain", "input": ""}, "empty_input", "input"),
    ({"model": "plain", "input": []}, "empty_input", "input"),
    ({"model": "plain", "input": ["ok", ""]}, "empty_input", "input[1]"),
    ({"model": "plain"}, "missing_parameter", "input"),
    ({"model": "plain", "input": 5}, "invalid_type", "input"),
    ({"model": "plain", "input": [1, 2, 3]}, "invalid_type", "input"),
    ({"model": "plain", "input": ["ok", {"a": 1}]}, "invalid_type", "input[1]"),
    ({"model": 7, "input": "ok"}, "invalid_type", "model"),
    ({"model": "plain", "input": "ok", "encoding_format": "int8"}, "invalid_value", "encoding_format"),
    ({"model": "plain", "input": "ok", "dimensions": "8"}, "invalid_type", "dimensions"),
    ({"model": "plain", "input": "ok", "dimensions": 0}, "invalid_value", "dimensions"),
    ({"model": "plain", "input": "ok", "dimensions": True}, "invalid_type", "dimensions"),
    ({"model": "prompts", "input": "ok", "prompt_name": "nope"}, "unknown_prompt", "prompt_name"),
    ({"model": "plain", "input": ["t"] * 17}, "too_many_inputs", "input"),
    ({"model": "plain", "input": ["ok", "y" * 201]}, "input_too_long", "input[1]"),
    ({"input": "ok"}, "missing_parameter", "model"),
    ({"model": "ce", "input": "ok"}, "wrong_model_type", "model"),
    (["not", "an", "object"], "invalid_type", None),
])
def test_bad_embeddings_requests_get_400(http, body, code, param):
    _error(http.post("/v1/embeddings", headers=AUTH, json=body), 400, code, param)


def test_a_lone_surrogate_is_400_not_a_failed_batch(http):
    raw = b'{"model": "plain", "input": ["ok", "bad \\ud800 surrogate"]}'  # valid JSON, not valid text
    _error(http.post("/v1/embeddings", headers=AUTH, content=raw), 400, "invalid_text", "input[1]")


def test_unknown_model_is_404(http, client):
    _error(http.post("/v1/embeddings", headers=AUTH, json={"model": "gpt-4", "input": "a"}), 404, "model_not_found",
           "model")
    with pytest.raises(openai.NotFoundError):
        client.embeddings.create(model="gpt-4", input="a")


@pytest.mark.parametrize("raw", [b"{bad json", b"", b"\xff\xfe", b'{"input": "a"'])
def test_bad_json_is_400(http, raw):
    _error(http.post("/v1/embeddings", headers={**AUTH, "Content-Type": "application/json"}, content=raw), 400,
           "invalid_json")


def test_body_over_the_limit_is_413_declared_or_streamed(http):
    big = json.dumps({"model": "plain", "input": ["z" * 150] * 120}).encode()  # > 16 KiB
    _error(http.post("/v1/embeddings", headers=AUTH, content=big), 413, "request_too_large")

    def chunks():  # no Content-Length: the count as it arrives refuses it
        for i in range(0, len(big), 4096):
            yield big[i:i + 4096]

    _error(http.post("/v1/embeddings", headers=AUTH, content=chunks()), 413, "request_too_large")


@pytest.mark.parametrize("body,code,param", [
    ({"model": "ce", "documents": ["a"]}, "missing_parameter", "query"),
    ({"model": "ce", "query": "q", "documents": []}, "empty_input", "documents"),
    ({"model": "ce", "query": "q", "documents": "a"}, None, None),  # a lone string is one document: accepted
    ({"model": "ce", "query": 3, "documents": ["a"]}, "invalid_type", "query"),
    ({"model": "ce", "query": "q", "documents": ["a"], "top_n": 0}, "invalid_value", "top_n"),
    ({"model": "ce", "query": "q", "documents": ["a"], "return_documents": "yes"}, "invalid_type", "return_documents"),
    ({"model": "plain", "query": "q", "documents": ["a"]}, "wrong_model_type", "model"),
])
def test_bad_rerank_requests_get_400(http, body, code, param):
    r = http.post("/v1/rerank", headers=AUTH, json=body)
    if code is None:
        assert r.status_code == 200
    else:
        _error(r, 400, code, param)


def test_missing_or_wrong_key_is_401(http, server):
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": KEY}, {"Authorization": "Bearer"},
                    {"Authorization": f"Basic {KEY}"}):
        error = _error(http.post("/v1/embeddings", headers=headers, json={"model": "plain", "input": "a"}), 401,
                       "invalid_api_key")
        assert KEY not in error["message"]
    assert http.get("/info").status_code == 401 and http.get("/metrics").status_code == 401
    bad = openai.OpenAI(base_url=f"{server.url}/v1", api_key="wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        bad.embeddings.create(model="plain", input="a")


def test_unknown_route_and_method_are_openai_style(http):
    _error(http.get("/v2/whatever", headers=AUTH), 404, "not_found")
    _error(http.get("/v1/embeddings", headers=AUTH), 405, "method_not_allowed")
