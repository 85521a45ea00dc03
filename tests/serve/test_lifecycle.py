"""Life-cycle of a real server: a full queue answers 503, a client that goes away frees its slot before
its texts are encoded, and a graceful shutdown finishes the requests in flight.

The model is real (bert_plain); only its encode is held at a gate, so the test decides when a worker
is busy instead of racing it.
"""

from __future__ import annotations

import threading
import time
from dataclasses import replace

import numpy as np
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
pytest.importorskip("prometheus_client")
httpx = pytest.importorskip("httpx")

from conftest import fixture_path  # noqa: E402
from serve_helpers import running  # noqa: E402

from stcompat.serve import Batching, Limits, ModelSpec, ServeConfig, prepare  # noqa: E402
from stcompat.serve.backends import Backend  # noqa: E402
from stcompat.serve.batching import MicroBatcher  # noqa: E402
from stcompat.serve.state import ServedModel  # noqa: E402

PLAIN = str(fixture_path("6.2.0", "bert_plain"))


class Gated(Backend):
    """A real backend whose encode waits for the test to open the gate."""

    name = "torch"

    def __init__(self, inner: Backend) -> None:
        self.inner = inner
        self.gate = threading.Event()
        self.busy = threading.Event()
        self.calls: list[list[str]] = []

    @property
    def capabilities(self):
        return self.inner.capabilities

    def embed(self, texts, prompt_name, batch_size):
        self.calls.append(list(texts))
        self.busy.set()
        self.gate.wait(60)
        return self.inner.embed(texts, prompt_name, batch_size)

    def describe(self):
        return self.inner.describe()


def _gated_state(max_queue: int):
    config = ServeConfig(models=(ModelSpec("m", PLAIN),), port=0, limits=Limits(max_queue=max_queue),
                         batching=Batching(max_wait_ms=0.0), graceful_timeout_s=30)
    state = prepare(config)
    served = state.models["m"]
    gated = Gated(served.admitted.instances[0])
    batcher = MicroBatcher("m", [gated], max_batch=64, batch_size=32, max_wait_ms=0.0, max_queue=max_queue,
                           hooks=state.metrics.hooks("m"))
    state.models = {"m": ServedModel("m", replace(served.admitted, instances=(gated,)), batcher)}
    return state, gated


def _post_in_thread(url: str, texts: list[str], results: dict, key: str, timeout: float = 60) -> threading.Thread:
    def go():
        try:
            with httpx.Client(base_url=url, timeout=timeout) as c:
                results[key] = c.post("/v1/embeddings", json={"model": "m", "input": texts})
        except httpx.HTTPError as exc:
            results[key] = exc

    thread = threading.Thread(target=go, daemon=True)
    thread.start()
    return thread


def _until(condition, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.01)


def test_full_queue_503_and_a_cancelled_request_frees_its_slot_unencoded():
    state, gated = _gated_state(max_queue=8)
    batcher = state.models["m"].batcher
    with running(state) as srv:
        results: dict = {}
        a = _post_in_thread(srv.url, ["first request"], results, "a")
        _until(gated.busy.is_set)  # the worker holds A at the gate
        waiting = [f"withdrawn text {i}" for i in range(8)]
        _post_in_thread(srv.url, waiting, results, "b", timeout=1.5)  # gives up while queued
        _until(lambda: batcher.pending == 8)
        with httpx.Client(base_url=srv.url, timeout=10) as c:
            full = c.post("/v1/embeddings", json={"model": "m", "input": "one more"})
        assert full.status_code == 503 and full.headers["retry-after"] == "1"
        assert full.json()["error"]["code"] == "server_overloaded"
        _until(lambda: batcher.pending == 0)  # B's client went away: its slot is free
        c_thread = _post_in_thread(srv.url, [f"after {i}" for i in range(8)], results, "c")
        _until(lambda: batcher.pending == 8)  # accepted, not 503
        gated.gate.set()
        a.join(30)
        c_thread.join(30)
        assert results["a"].status_code == 200 and results["c"].status_code == 200
        assert isinstance(results["b"], httpx.TimeoutException)
        assert not any(t in call for call in gated.calls for t in waiting)  # B was never encoded
        with httpx.Client(base_url=srv.url, timeout=10) as c:
            metrics = c.get("/metrics").text
        assert 'stcompat_serve_cancelled_inputs_total{model="m"} 8.0' in metrics
        assert 'stcompat_serve_requests_total{route="/v1/embeddings",status="503"} 1.0' in metrics


def test_graceful_shutdown_finishes_the_request_in_flight():
    from sentence_transformers import SentenceTransformer

    state, gated = _gated_state(max_queue=64)
    with running(state) as srv:
        results: dict = {}
        texts = ["finish me", "and me too"]
        inflight = _post_in_thread(srv.url, texts, results, "a")
        _until(gated.busy.is_set)
        srv.server.should_exit = True  # what SIGTERM does
        _until(lambda: state.draining)  # readiness is off before the wait for in-flight requests
        assert srv.thread.is_alive()  # still waiting for the request
        gated.gate.set()
        inflight.join(30)
        srv.thread.join(30)
        assert not srv.thread.is_alive()
    response = results["a"]
    assert response.status_code == 200
    got = np.array([d["embedding"] for d in response.json()["data"]], dtype=np.float32)
    expected = SentenceTransformer(PLAIN, device="cpu").encode(texts)
    assert float(np.max(np.abs(got - expected))) <= 1e-6
