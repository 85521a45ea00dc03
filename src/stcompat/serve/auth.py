"""The API key: ``Authorization: Bearer KEY``, compared in constant time."""

from __future__ import annotations

import hashlib
import hmac

from .protocol import ApiError

OPEN_PATHS = ("/health", "/health/live", "/health/ready")
"""Probes need no key: an orchestrator asks them before it has any secret."""


def key_matches(header: str | None, key: str) -> bool:
    """Whether an Authorization header carries ``key``.

    Both sides are hashed first, so compare_digest always compares 32 bytes: neither the key's
    length nor the position of the first wrong character shows in the time taken.
    """
    given = ""
    if header is not None:
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer":
            given = value.strip()
    expected = hashlib.sha256(key.encode()).digest()
    actual = hashlib.sha256(given.encode("latin-1", "replace")).digest()  # ASGI headers are latin-1
    return hmac.compare_digest(actual, expected) and bool(given)


def unauthorized(header: str | None) -> ApiError:
    """401, saying whether the key was missing or wrong (never echoing it)."""
    message = ("no API key: send 'Authorization: Bearer KEY'" if not header
               else "the API key is not valid")
    return ApiError(401, message, code="invalid_api_key", headers={"WWW-Authenticate": "Bearer"})
