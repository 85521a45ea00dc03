"""The wire format: parse and validate request bodies, build response bodies.

OpenAI's embeddings API (``input``, ``model``, ``encoding_format``, ``dimensions``, plus stcompat's
``prompt_name``), and the rerank shape TEI and Infinity use (``query`` + ``documents``, or TEI's
``texts``; results sorted by ``relevance_score``). Every refusal is an ApiError that renders as
OpenAI's error body ``{"error": {"message", "type", "param", "code"}}``, so a client library raises
its usual exception with a readable message. Pure functions: no I/O, no framework.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from .config import Limits

if TYPE_CHECKING:
    import numpy as np

ENCODING_FORMATS = ("float", "base64")


class ApiError(Exception):
    """A request the server refuses, with the HTTP status and OpenAI-style error fields."""

    def __init__(self, status: int, message: str, *, code: str, param: str | None = None,
                 type: str = "invalid_request_error", headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.param = param
        self.type = type
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        """``{"error": {...}}`` as OpenAI sends it."""
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}


def _bad(message: str, param: str | None, code: str = "invalid_type") -> ApiError:
    return ApiError(400, message, code=code, param=param)


@dataclass(frozen=True)
class EmbeddingsRequest:
    """A validated POST /v1/embeddings body."""

    model: str | None
    """The model asked for (None: the body named none, allowed when one model is served)."""
    texts: tuple[str, ...]
    """The inputs, in order."""
    encoding_format: str = "float"
    """``float`` (JSON numbers) or ``base64`` (little-endian float32 bytes, as OpenAI sends them)."""
    dimensions: int | None = None
    """Truncate to this many dimensions (only where the model supports it)."""
    prompt_name: str | None = None
    """A saved prompt to apply (stcompat's extension; None: the model's default prompt, as encode does)."""


@dataclass(frozen=True)
class RerankRequest:
    """A validated POST /v1/rerank body."""

    model: str | None
    """The model asked for (None: the only reranker served)."""
    query: str
    """The query every document is scored against."""
    documents: tuple[str, ...]
    """The documents, in order (results name them by index)."""
    top_n: int | None = None
    """Return only the best n (None: all)."""
    return_documents: bool = False
    """Echo each document's text in its result."""


def _object(body: Any) -> Mapping[str, Any]:
    if not isinstance(body, dict):
        raise _bad(f"the request body must be a JSON object, not {type(body).__name__}", None)
    return body


def _model(body: Mapping[str, Any]) -> str | None:
    model = body.get("model")
    if model is not None and not isinstance(model, str):
        raise _bad(f"'model' must be a string, not {type(model).__name__}", "model")
    return model


def _text(value: Any, param: str, limits: Limits) -> str:
    if not isinstance(value, str):
        if isinstance(value, int) or (isinstance(value, list) and all(isinstance(v, int) for v in value)):
            raise _bad(f"'{param}' holds token ids; this server takes text only", param)
        raise _bad(f"'{param}' must be a string, not {type(value).__name__}", param)
    if not value:
        raise _bad(f"'{param}' is an empty string", param, "empty_input")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate (JSON "\ud800"): tokenizers cannot take it
        raise _bad(f"'{param}' is not valid Unicode text (a lone surrogate)", param, "invalid_text") from None
    if len(value) > limits.max_chars:
        raise _bad(f"'{param}' has {len(value):,} characters; the limit is {limits.max_chars:,}", param,
                   "input_too_long")
    return value


def _texts(value: Any, param: str, limits: Limits) -> tuple[str, ...]:
    if value is None:
        raise _bad(f"'{param}' is required", param, "missing_parameter")
    if isinstance(value, str):
        return (_text(value, param, limits),)
    if not isinstance(value, list):
        raise _bad(f"'{param}' must be a string or a list of strings, not {type(value).__name__}", param)
    if not value:
        raise _bad(f"'{param}' is an empty list", param, "empty_input")
    if len(value) > limits.max_inputs:
        raise _bad(f"'{param}' has {len(value):,} items; the limit is {limits.max_inputs:,}", param,
                   "too_many_inputs")
    if all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        raise _bad(f"'{param}' holds token ids; this server takes text only", param)
    return tuple(_text(v, f"{param}[{i}]", limits) for i, v in enumerate(value))


def _positive_int(body: Mapping[str, Any], key: str) -> int | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise _bad(f"'{key}' must be an integer, not {type(value).__name__}", key)
    if value < 1:
        raise _bad(f"'{key}' must be at least 1, not {value}", key, "invalid_value")
    return value


def parse_embeddings(body: Any, limits: Limits) -> EmbeddingsRequest:
    """Validate an embeddings body (ApiError 400 naming the parameter at fault)."""
    body = _object(body)
    texts = _texts(body.get("input"), "input", limits)
    fmt = body.get("encoding_format")
    if fmt is None:
        fmt = "float"
    if fmt not in ENCODING_FORMATS:
        raise _bad(f"'encoding_format' must be one of {', '.join(ENCODING_FORMATS)}, not {fmt!r}",
                   "encoding_format", "invalid_value")
    prompt_name = body.get("prompt_name")
    if prompt_name is not None and not isinstance(prompt_name, str):
        raise _bad(f"'prompt_name' must be a string, not {type(prompt_name).__name__}", "prompt_name")
    return EmbeddingsRequest(_model(body), texts, fmt, _positive_int(body, "dimensions"), prompt_name)


def parse_rerank(body: Any, limits: Limits) -> RerankRequest:
    """Validate a rerank body: ``query`` and ``documents`` (or TEI's ``texts``)."""
    body = _object(body)
    if body.get("query") is None:
        raise _bad("'query' is required", "query", "missing_parameter")
    query = _text(body["query"], "query", limits)
    key = "documents" if "documents" in body or "texts" not in body else "texts"
    documents = _texts(body.get(key), key, limits)
    flag = body.get("return_documents", body.get("return_text", False))
    if not isinstance(flag, bool):
        raise _bad(f"'return_documents' must be a boolean, not {type(flag).__name__}", "return_documents")
    return RerankRequest(_model(body), query, documents, _positive_int(body, "top_n"), flag)


def _vector(row: "np.ndarray", fmt: str) -> list[float] | str:
    if fmt == "base64":
        return base64.b64encode(row.astype("<f4", copy=False).tobytes()).decode("ascii")
    return row.tolist()


def embeddings_body(model: str, values: "np.ndarray", tokens: Sequence[int], fmt: str) -> dict[str, Any]:
    """OpenAI's embeddings response (``usage`` counts the tokens the model read)."""
    total = int(sum(tokens))
    return {
        "object": "list",
        "data": [{"object": "embedding", "index": i, "embedding": _vector(row, fmt)} for i, row in enumerate(values)],
        "model": model,
        "usage": {"prompt_tokens": total, "total_tokens": total},
    }


def rerank_body(model: str, request: RerankRequest, scores: "np.ndarray", tokens: Sequence[int]) -> dict[str, Any]:
    """Results best first (ties keep document order), cut to ``top_n``."""
    order = sorted(range(len(scores)), key=lambda i: (-float(scores[i]), i))
    if request.top_n is not None:
        order = order[: request.top_n]
    results = []
    for i in order:
        result: dict[str, Any] = {"index": i, "relevance_score": float(scores[i])}
        if request.return_documents:
            result["document"] = request.documents[i]
        results.append(result)
    total = int(sum(tokens))
    return {"object": "rerank", "model": model, "results": results,
            "usage": {"prompt_tokens": total, "total_tokens": total}}


def models_body(names: Sequence[str], created: int) -> dict[str, Any]:
    """GET /v1/models."""
    return {"object": "list",
            "data": [{"id": n, "object": "model", "created": created, "owned_by": "stcompat"} for n in names]}
