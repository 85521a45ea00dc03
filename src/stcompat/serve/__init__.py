"""SERVE models over HTTP, guarded: `check` and `verify` run before any traffic is accepted.

OpenAI-compatible /v1/embeddings, /v1/rerank for CrossEncoder models, /health, /info, /metrics;
dynamic micro-batching off the event loop. fastapi, uvicorn and prometheus_client (the ``serve``
extra) and torch load only when a server is prepared.
"""

from .config import API_KEY_ENV, Batching, Limits, ModelSpec, ServeConfig
from .server import make_server, prepare, serve

__all__ = ["API_KEY_ENV", "Batching", "Limits", "ModelSpec", "ServeConfig", "make_server", "prepare", "serve"]
