"""The serve modules one by one, without a server: batching, truncation, the key, the command-line specs."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from conftest import fixture_path
from stcompat.errors import InputError
from stcompat.model.folder import targets_for
from stcompat.serve.auth import key_matches
from stcompat.serve.backends import Backend, Capabilities, Encoded
from stcompat.serve.batching import MicroBatcher, QueueFull
from stcompat.serve.config import model_specs
from stcompat.serve.truncation import truncate, truncation_evidence


class Recording(Backend):
    """Embeds a text as [len, first char code]; records every call; can be held at a gate."""

    name = "test"

    def __init__(self, gate: threading.Event | None = None) -> None:
        self.calls: list[tuple[list[str], str | None]] = []
        self.gate = gate
        self.busy = threading.Event()

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(role="embeddings", dimension=2)

    def embed(self, texts, prompt_name, batch_size):
        self.calls.append((list(texts), prompt_name))
        self.busy.set()
        if self.gate is not None:
            self.gate.wait(10)
        if any(t == "boom" for t in texts):
            raise RuntimeError("encode failed")
        values = np.array([[len(t), ord(t[0])] for t in texts], dtype=np.float32)
        return Encoded(values, tuple(len(t) for t in texts))

    def describe(self):
        return {"backend": "test"}


def _batcher(backend, **kw) -> MicroBatcher:
    options = {"max_batch": 64, "batch_size": 8, "max_wait_ms": 50.0, "max_queue": 100, **kw}
    batcher = MicroBatcher("t", [backend], **options)
    return batcher


def test_jobs_queued_together_run_together_sorted_by_length_and_come_back_in_order():
    gate = threading.Event()
    backend = Recording(gate)
    batcher = _batcher(backend)
    batcher.start()
    first = batcher.submit(["warm"], ("embed", None))  # holds the worker while the others queue up
    backend.busy.wait(5)
    jobs = [batcher.submit(["a", "ccc", "bb"], ("embed", None)), batcher.submit(["dddd", "e"], ("embed", None)),
            batcher.submit(["ff"], ("embed", "query"))]
    gate.set()
    results = [j.future.result(5) for j in jobs]
    first.future.result(5)
    batcher.close(5)
    assert [r.values[:, 0].tolist() for r in results] == [[1, 3, 2], [4, 1], [2]]
    assert results[0].tokens == (1, 3, 2)
    together = [c for c in backend.calls if c[1] is None and len(c[0]) == 5]
    assert together == [(["dddd", "ccc", "bb", "a", "e"], None)]  # one forward call, longest first
    assert (["ff"], "query") in backend.calls  # another prompt: its own call


def test_a_forward_batch_is_the_oldest_text_and_the_texts_nearest_its_length():
    from stcompat.serve.batching import Job, estimate_tokens, pick

    assert estimate_tokens("Hello, world!") == 4 and estimate_tokens(("a b", "c")) == 3
    # Queue order: lengths (in words) 5, 1, 9, 5, 2, 6, 9, 4. A batch of 3 must hold the oldest text (5 words);
    # of the runs of the length order that hold it, (4, 5, 5) and (5, 5, 6) span fewest tokens, and the second
    # is of older texts (queue positions 0, 3, 5 against 7, 0, 3).
    lengths = [5, 1, 9, 5, 2, 6, 9, 4]
    pool = [(Job([" ".join(["w"] * n) for n in lengths], ("embed", None)), i) for i in range(len(lengths))]
    chosen = pick(pool, 3)
    assert [i for _, i in chosen] == [5, 0, 3]  # longest first; equal lengths in queue order
    assert [i for _, i in pick(pool, 8)] == [2, 6, 5, 0, 3, 7, 4, 1]  # all of it fits: just the length order
    # The oldest text is in every batch, even when it is the longest: nothing waits behind the pool.
    assert pick(pool[2:], 2)[0][1] == 2
    # Among runs of equal span, the one of older texts.
    same = [(Job(["x y"] * 6, ("embed", None)), i) for i in range(6)]
    assert sorted(i for _, i in pick(same, 3)) == [0, 1, 2]


def test_free_instances_split_a_lone_request_and_it_is_answered_in_its_own_order():
    gate = threading.Event()
    first, second = Recording(gate), Recording(gate)
    batcher = MicroBatcher("t", [first, second], max_batch=64, batch_size=2, max_wait_ms=0.0, max_queue=100)
    batcher.start()
    texts = ["one two three", "a", "b c d e f g", "x y", "p q r s", "z"]
    job = batcher.submit(texts, ("embed", None))
    first.busy.wait(5), second.busy.wait(5)
    gate.set()
    result = job.future.result(5)
    batcher.close(5)
    assert result.values[:, 0].tolist() == [float(len(t)) for t in texts] and result.tokens == tuple(map(len, texts))
    calls = [c for backend in (first, second) for c, _ in backend.calls]
    # Both instances were free: each took half, the run of the length order the oldest text is in first.
    assert sorted(map(len, calls)) == [3, 3] and sorted(t for c in calls for t in c) == sorted(texts)
    # (2, 3, 4 words: older than 1, 2, 3 with "z", the other run of span 2)
    assert ["one two three", "x y", "p q r s"] in [sorted(c, key=texts.index) for c in calls]


def test_a_failing_encode_fails_only_the_request_that_caused_it():
    backend = Recording()
    batcher = _batcher(backend, max_wait_ms=100.0)
    batcher.start()
    bad, good = batcher.submit(["boom"], ("embed", None)), batcher.submit(["fine"], ("embed", None))
    with pytest.raises(RuntimeError, match="encode failed"):
        bad.future.result(5)
    assert good.future.result(5).values.shape == (1, 2)
    batcher.close(5)
    assert sorted(backend.calls[0][0]) == ["boom", "fine"] and len(backend.calls) == 3  # together, then alone


def test_queue_limit_cancel_and_drain_on_close():
    gate = threading.Event()
    backend = Recording(gate)
    depths: list[int] = []
    from stcompat.serve.batching import BatchHooks

    batcher = _batcher(backend, max_queue=4, max_wait_ms=0.0, hooks=BatchHooks(depth=depths.append))
    batcher.start()
    running = batcher.submit(["r"], ("embed", None))
    backend.busy.wait(5)
    queued = batcher.submit(["q1", "q2", "q3"], ("embed", None))
    with pytest.raises(QueueFull):
        batcher.submit(["x", "y"], ("embed", None))
    assert batcher.cancel(queued) and batcher.pending == 0
    assert not batcher.cancel(running)  # already running: the worker owns it
    after = batcher.submit(["z1", "z2", "z3", "z4"], ("embed", None))
    gate.set()
    batcher.close(5)  # drains what is queued before stopping
    assert after.future.result(0).values.shape == (4, 2)
    assert all("q1" not in texts for texts, _ in backend.calls) and depths[-1] == 0
    big = _batcher(Recording(), max_queue=2)
    big.start()
    assert big.submit(["1", "2", "3"], ("embed", None)).future.result(5)  # an empty queue takes any request
    big.close(5)
    with pytest.raises(QueueFull):
        big.submit(["late"], ("embed", None))


def test_max_wait_gathers_requests_that_arrive_shortly_after():
    backend = Recording()
    batcher = _batcher(backend, max_wait_ms=300.0)
    batcher.start()
    a = batcher.submit(["a"], ("embed", None))
    time.sleep(0.05)
    b = batcher.submit(["b"], ("embed", None))
    a.future.result(5), b.future.result(5)
    batcher.close(5)
    assert backend.calls == [(["a", "b"], None)]


def test_a_lone_client_is_not_made_to_wait_for_company():
    backend = Recording()
    batcher = _batcher(backend, max_wait_ms=400.0)
    batcher.start()
    started = time.perf_counter()
    batcher.submit(["a"], ("embed", None)).future.result(5)
    first = time.perf_counter() - started
    started = time.perf_counter()
    batcher.submit(["b"], ("embed", None)).future.result(5)  # the previous cycle was alone too: no wait
    second = time.perf_counter() - started
    # Company again: two requests in the queue at once are gathered (and the wait is back on).
    gate = threading.Event()
    backend.gate = gate
    backend.busy.clear()
    held = batcher.submit(["hold"], ("embed", None))
    backend.busy.wait(5)
    pair = [batcher.submit(["c"], ("embed", None)), batcher.submit(["d"], ("embed", None))]
    gate.set()
    held.future.result(5), [j.future.result(5) for j in pair]
    batcher.close(5)
    assert first >= 0.35 and second < 0.2, (first, second)
    assert (["c", "d"], None) in backend.calls


def test_truncate_renormalises_only_models_that_normalise():
    values = np.array([[3.0, 4.0, 12.0], [1.0, 0.0, 0.0]], dtype=np.float32)
    cut = truncate(values, 2, normalizes=True)
    assert cut.dtype == np.float32 and np.allclose(cut, [[0.6, 0.8], [1.0, 0.0]])
    assert np.array_equal(truncate(values, 2, normalizes=False), values[:, :2])


def test_truncation_needs_evidence(copy_model):
    plain = targets_for(str(fixture_path("6.2.0", "bert_plain")))[0]
    assert truncation_evidence(plain, None, False) is None
    assert "truncate_dim=16" in truncation_evidence(plain, 16, False)
    assert "operator" in truncation_evidence(plain, None, True)
    card = copy_model(fixture_path("6.2.0", "bert_plain"))
    (card / "README.md").write_text("### Training\n#### Loss\n[`MatryoshkaLoss`](https://sbert.net) with dims 32, 16\n")
    assert "model card" in truncation_evidence(targets_for(str(card))[0], None, False)


def test_key_comparison():
    assert key_matches("Bearer s3cret", "s3cret") and key_matches("bearer  s3cret ", "s3cret")
    for header in (None, "", "Bearer", "Bearer s3cre", "Bearer s3cret2", "Basic s3cret", "s3cret"):
        assert not key_matches(header, "s3cret"), header


def test_model_specs_from_the_command_line(tmp_path):
    plain = str(fixture_path("6.2.0", "bert_plain"))
    (one,) = model_specs((plain,), ("pin.fp",))
    assert (one.name, one.path, one.fingerprint) == ("bert_plain", plain, "pin.fp")
    a, b = model_specs((f"a={plain}", f"b={plain}"), (f"b={tmp_path}/b.fp",), ("a",))
    assert (a.name, a.matryoshka, a.fingerprint) == ("a", True, None) and b.fingerprint == f"{tmp_path}/b.fp"
    with pytest.raises(InputError, match="NAME=FILE"):
        model_specs((f"a={plain}", f"b={plain}"), ("x.fp",))
    with pytest.raises(InputError, match="no model of that name"):
        model_specs((plain,), (), ("nope",))


def test_idle_trim_runs_at_once_then_once_more_when_its_window_ends():
    """Idle moments inside the window are not lost: one deferred trim runs when the window ends."""
    import time

    from stcompat.serve.warmup import IdleTrim

    runs: list[float] = []
    trim = IdleTrim(every_s=0.3, trim=lambda: runs.append(time.monotonic()))
    started = time.monotonic()
    trim()
    for _ in range(5):  # a burst of idle moments inside the window: one deferred trim for all of them
        trim()
    assert len(runs) == 1
    deadline = time.monotonic() + 5
    while len(runs) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.4)
    assert len(runs) == 2 and runs[1] - started >= 0.29
