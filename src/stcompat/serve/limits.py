"""Reading a request body within the size limit, and turning it into JSON (or a 4xx)."""

from __future__ import annotations

import json
from typing import Any, AsyncIterator

from .protocol import ApiError


def too_large(limit: int) -> ApiError:
    """413 for a body over the limit."""
    return ApiError(413, f"the request body is over the limit of {limit:,} bytes", code="request_too_large")


async def read_body(stream: AsyncIterator[bytes], content_length: str | None, limit: int) -> bytes:
    """The whole body, refused with 413 as soon as it is known to exceed ``limit``.

    A declared Content-Length over the limit is refused before reading; the count as chunks arrive
    catches a chunked upload or a Content-Length that lies.
    """
    if content_length is not None:
        try:
            declared = int(content_length)
        except ValueError:
            raise ApiError(400, "the Content-Length header is not a number", code="invalid_request") from None
        if declared > limit:
            raise too_large(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in stream:
        size += len(chunk)
        if size > limit:
            raise too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def parse_json(raw: bytes) -> Any:
    """The body as JSON, or 400 ``invalid_json`` (empty bodies and bad UTF-8 included)."""
    if not raw.strip():
        raise ApiError(400, "the request body is empty; send a JSON object", code="invalid_json")
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ApiError(400, f"the request body is not valid JSON ({exc})", code="invalid_json") from None
    except RecursionError:
        raise ApiError(400, "the request body nests too deeply", code="invalid_json") from None
