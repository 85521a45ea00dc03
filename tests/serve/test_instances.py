"""Model instances in worker processes (--instance-mode process) and in threads (the default), on real fixtures.

Real uvicorn servers on 127.0.0.1 whose instances are real spawned Python processes: the vectors and
scores equal model.encode / predict, /info names the worker pids, a worker that is killed fails the
batch in flight with STC855 and is back for the next one, a worker that cannot build its instance stops
the start-up with STC855, and shutdown leaves no worker behind.
"""

from __future__ import annotations

import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
httpx = pytest.importorskip("httpx")
openai = pytest.importorskip("openai")

from conftest import fixture_path  # noqa: E402
from serve_helpers import running  # noqa: E402

from stcompat.serve import Batching, ModelSpec, ServeConfig, prepare  # noqa: E402

PROMPTS = fixture_path("6.2.0", "bert_prompts")
CE = fixture_path("6.2.0", "cross_encoder")
TEXTS = ["The cat sits on the mat.", "A quick brown fox", "x", "Embeddings for search, ranked by cosine."]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0): it has exited, only its parent has not collected it yet.
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _config(*models, **batching):
    return ServeConfig(models=tuple(ModelSpec(n, str(p)) for n, p in models), port=0,
                       batching=Batching(max_batch=32, batch_size=8, **batching))


def test_two_worker_processes_serve_what_encode_and_predict_return():
    from sentence_transformers import CrossEncoder, SentenceTransformer

    lines: list[str] = []
    state = prepare(_config(("emb", PROMPTS), ("ce", CE), instances=2, threads=1, instance_mode="process"),
                    log=lines.append)
    assert sum("instance(s) in worker processes" in line for line in lines) == 2
    assert any(line.startswith("emb: 2 instance(s)") for line in lines)  # the served name, not the folder
    want = SentenceTransformer(str(PROMPTS), device="cpu").encode(TEXTS)
    want_query = SentenceTransformer(str(PROMPTS), device="cpu").encode(TEXTS, prompt_name="query")
    docs = ["a cat on a mat", "stock prices", "the feline sat"]
    want_scores = CrossEncoder(str(CE), device="cpu").predict([("where is the cat", d) for d in docs])
    with running(state) as srv:
        info = httpx.get(f"{srv.url}/info").json()["models"]
        pids = info["emb"]["instance_processes"]
        assert info["emb"]["instance_mode"] == "process" and info["emb"]["instances"] == 2
        assert len(set(pids)) == 2 and os.getpid() not in pids and all(_alive(p) for p in pids)
        assert info["emb"]["backend"]["threads"] == 1  # torch threads set inside the worker
        client = openai.OpenAI(base_url=f"{srv.url}/v1", api_key="unused")
        for _ in range(3):  # several batches: both workers answer
            got = np.array([d.embedding for d in client.embeddings.create(model="emb", input=TEXTS).data])
            assert float(np.abs(got - want).max()) <= 1e-6
        query = httpx.post(f"{srv.url}/v1/embeddings",
                           json={"model": "emb", "input": TEXTS, "prompt_name": "query"}).json()
        got_query = np.array([d["embedding"] for d in query["data"]])
        assert float(np.abs(got_query - want_query).max()) <= 1e-6
        ranked = httpx.post(f"{srv.url}/v1/rerank", json={"model": "ce", "query": "where is the cat",
                                                            "documents": docs}).json()
        scores = {r["index"]: r["relevance_score"] for r in ranked["results"]}
        assert max(abs(scores[i] - float(want_scores[i])) for i in range(len(docs))) <= 1e-6
    deadline = time.monotonic() + 30
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(p) for p in pids), "shutdown left a worker process running"


def test_a_killed_worker_fails_its_batch_with_stc855_and_is_back_for_the_next():
    from sentence_transformers import SentenceTransformer

    state = prepare(_config(("emb", PROMPTS), instances=1, instance_mode="process"))
    want = SentenceTransformer(str(PROMPTS), device="cpu").encode(TEXTS)
    with running(state) as srv:
        first = httpx.get(f"{srv.url}/info").json()["models"]["emb"]["instance_processes"][0]
        os.kill(first, signal.SIGKILL)
        while _alive(first):
            time.sleep(0.05)
        failed = httpx.post(f"{srv.url}/v1/embeddings", json={"model": "emb", "input": TEXTS}, timeout=60)
        assert failed.status_code == 500
        assert failed.json()["error"]["message"] == "internal error (STC855)"
        again = httpx.post(f"{srv.url}/v1/embeddings", json={"model": "emb", "input": TEXTS}, timeout=120)
        assert again.status_code == 200
        got = np.array([d["embedding"] for d in again.json()["data"]])
        assert float(np.abs(got - want).max()) <= 1e-6
        second = httpx.get(f"{srv.url}/info").json()["models"]["emb"]["instance_processes"][0]
        assert second != first and _alive(second)


def test_a_worker_that_cannot_build_its_instance_stops_the_start_with_stc855(tmp_path):
    from stcompat.errors import StcompatError
    from stcompat.serve.instances import InstanceRecipe, start_instances
    from stcompat.vocab import ModelKind

    gone = tmp_path / "gone"  # the guard admitted a folder that disappeared before the workers loaded it
    recipe = InstanceRecipe("torch", str(gone), ModelKind.SENTENCE_TRANSFORMER, "cpu", None, 1)
    with pytest.raises(StcompatError) as caught:
        start_instances(recipe, 2)
    assert caught.value.code == "STC855"
    assert "did not start in its worker process" in caught.value.message and f"InputError: {gone} does not exist" in caught.value.message


def test_instances_are_threads_unless_processes_are_asked_for():
    from stcompat.errors import InputError

    assert not Batching().processes and not Batching(instances=2).processes
    assert Batching(instance_mode="process").processes and not Batching(instances=3, instance_mode="thread").processes
    # Unless told, the instances share the cores out: two instances on two cores get one thread each.
    assert Batching(instances=2).instance_threads(2) == 1 and Batching().instance_threads(2) == 2
    assert Batching(instances=4).instance_threads(2) == 1 and Batching(threads=3).instance_threads(2) == 3
    with pytest.raises(InputError, match="instance mode 'fork'"):
        Batching(instance_mode="fork")
    with pytest.raises(InputError, match="instance mode 'auto'"):
        Batching(instance_mode="auto")


def test_a_thread_instance_runs_on_the_threads_asked_and_the_callers_setting_is_kept():
    """torch keeps its thread count per calling thread: the worker thread sets its own, prepare gives the
    caller's back (its own start-up work ran on one thread)."""
    import torch
    from sentence_transformers import SentenceTransformer

    before = torch.get_num_threads()
    state = prepare(_config(("emb", PROMPTS), threads=1, instances=2))  # threads: the default mode
    assert torch.get_num_threads() == before
    want = SentenceTransformer(str(PROMPTS), device="cpu").encode(TEXTS)
    with running(state) as srv:
        info = httpx.get(f"{srv.url}/info").json()["models"]["emb"]
        got = httpx.post(f"{srv.url}/v1/embeddings", json={"model": "emb", "input": TEXTS}).json()["data"]
        # Many requests at once, so both instances' threads take cycles: every answer is still its own texts'.
        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(lambda i: httpx.post(f"{srv.url}/v1/embeddings", timeout=60, json={
                "model": "emb", "input": TEXTS[i % 4:] + TEXTS[:i % 4]}).json()["data"], range(32)))
    for i, answer in enumerate(answers):
        rotated = np.concatenate([want[i % 4:], want[:i % 4]])
        assert float(np.abs(np.array([d["embedding"] for d in answer]) - rotated).max()) <= 1e-6
    assert info["instance_mode"] == "thread" and info["instance_processes"] == [] and info["instances"] == 2
    assert info["backend"]["threads"] == 1
    # Packed rows (several texts per row, no padding) matched encode at load in each instance's thread: they serve.
    assert info["backend"]["batches"] == "packed"
    assert float(np.abs(np.array([d["embedding"] for d in got]) - want).max()) <= 1e-6
