"""Helpers for tests/serve: a real uvicorn server on 127.0.0.1 (a free port, in a thread).

Not a conftest.py: tests/conftest.py already owns that module name (no __init__.py here). Fixtures
built on these live in the test modules that use them."""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterator

KEY = "sk-test-0123456789"


@dataclass
class Running:
    """A server started by a test."""

    url: str
    """http://127.0.0.1:PORT"""
    state: Any
    """Its ServerState (models, metrics, flags)."""
    server: Any
    """The uvicorn Server (``should_exit`` stops it)."""
    thread: threading.Thread
    """The thread running it."""


@contextmanager
def running(state: Any) -> Iterator[Running]:
    """Serve a prepared ServerState until the block ends (graceful shutdown, as SIGTERM would)."""
    from stcompat.serve.server import bind, make_server

    server = make_server(state)
    sock = bind("127.0.0.1", 0)
    port = sock.getsockname()[1]
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the server did not start")
        time.sleep(0.01)
    try:
        yield Running(f"http://127.0.0.1:{port}", state, server, thread)
    finally:
        server.should_exit = True
        thread.join(60)
        sock.close()


def endpoint_config() -> Any:
    """The endpoint tests' server: prompts, a saved truncate_dim, a plain model and a CrossEncoder; small limits."""
    from conftest import fixture_path
    from stcompat.serve import Batching, Limits, ModelSpec, ServeConfig

    return ServeConfig(
        models=(ModelSpec("prompts", str(fixture_path("6.2.0", "bert_prompts"))),
                ModelSpec("trunc", str(fixture_path("6.2.0", "bert_trunc"))),
                ModelSpec("plain", str(fixture_path("6.2.0", "bert_plain"))),
                ModelSpec("ce", str(fixture_path("6.2.0", "cross_encoder")))),
        port=0, api_key=KEY, limits=Limits(max_inputs=16, max_chars=200, max_body_bytes=16_384, max_queue=256),
        batching=Batching(max_batch=32, batch_size=8, max_wait_ms=2.0))


def reference_models() -> dict[str, Any]:
    """The same folders loaded directly by sentence-transformers: the reference for every vector and score."""
    from conftest import fixture_path
    from sentence_transformers import CrossEncoder, SentenceTransformer

    models: dict[str, Any] = {n: SentenceTransformer(str(fixture_path("6.2.0", v)), device="cpu")
                              for n, v in (("prompts", "bert_prompts"), ("trunc", "bert_trunc"), ("plain", "bert_plain"))}
    models["ce"] = CrossEncoder(str(fixture_path("6.2.0", "cross_encoder")), device="cpu")
    return models
