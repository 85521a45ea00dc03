"""Dynamic micro-batching: requests queued together are encoded together, off the event loop.

Each model has one queue and one worker thread per loaded instance. A worker blocks for the first
job, then gathers more until ``max_batch`` texts are in hand or ``max_wait_ms`` has passed since the
first arrived (a busy server never waits: the queue is already full when it looks; a lone client, one
request at a time, is not made to wait either), groups the jobs
that can share a forward call (same prompt), sorts their texts by length so each forward batch pads
little (a backend may refine the order: the torch backend uses the token counts it computes for
``usage``), encodes, and hands every request its own rows.

Each worker thread first runs the server's ``setup`` for its instance (its torch threads, its warm-up):
torch's OpenMP thread pool belongs to the thread that runs the forward passes, so that thread is the one
that sizes and warms it.

Jobs are ``concurrent.futures.Future`` objects, the executor protocol: a request that goes away
before a worker picks its job up cancels the future, which frees its place in the queue at once,
and the worker skips it (``set_running_or_notify_cancel``), so exactly one side ever accounts for it.
"""

from __future__ import annotations

import collections
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Callable, Hashable, Sequence

from .backends import Backend, Encoded


class QueueFull(Exception):
    """The model's queue cannot take the request's texts now (the server answers 503 + Retry-After)."""


@dataclass(eq=False)
class Job:
    """One request's work, waiting in a model's queue."""

    inputs: Sequence[Any]
    """Texts (embeddings) or (query, document) pairs (rerank)."""
    key: Hashable
    """Jobs with equal keys share a forward call: ``("embed", prompt_name)`` or ``("rerank",)``."""
    future: Future = field(default_factory=Future)
    """Completed with an Encoded holding this job's rows, or the backend's exception."""


@dataclass(frozen=True)
class BatchHooks:
    """Where the batcher reports what it does (the server wires these to Prometheus)."""

    batch: Callable[[int], None] = lambda n: None
    """Called with the number of texts of each backend call."""
    depth: Callable[[int], None] = lambda n: None
    """Called with the texts waiting in the queue whenever that changes."""
    cancelled: Callable[[int], None] = lambda n: None
    """Called with the texts of a job cancelled before it ran."""
    busy: Callable[[float], None] = lambda s: None
    """Called with the seconds each backend call took (worker utilisation = their sum / wall time)."""
    idle: Callable[[], None] = lambda: None
    """Called by a worker that finished a cycle and found the queue empty (the server trims memory then)."""


def _length(item: Any) -> int:
    return len(item) if isinstance(item, str) else sum(len(part) for part in item)


class MicroBatcher:
    """One model's queue and its worker threads (one per backend instance)."""

    def __init__(self, name: str, instances: Sequence[Backend], *, max_batch: int, batch_size: int,
                 max_wait_ms: float, max_queue: int, hooks: BatchHooks | None = None,
                 setup: Callable[[Backend], None] | None = None) -> None:
        self.name = name
        self._setup = setup
        self._instances = tuple(instances)
        self._max_batch = max_batch
        self._batch_size = batch_size
        self._max_wait = max_wait_ms / 1000.0
        self._max_queue = max_queue
        self._hooks = hooks or BatchHooks()
        self._queue: collections.deque[Job] = collections.deque()
        self._cond = threading.Condition()
        self._pending = 0  # texts queued and not yet taken or cancelled
        self._closing = False
        self._threads: list[threading.Thread] = []
        self._last_jobs = 0  # jobs in the previous cycle (any worker): 1 means nobody else is sending

    # --- the event loop's side -----------------------------------------------------------------

    def start(self) -> None:
        """Start one worker thread per instance; returns once each has run ``setup`` (its exception, if any,
        is raised here and the workers are stopped). A second call does nothing."""
        if self._threads:
            return
        ready: list[tuple[threading.Event, list[BaseException]]] = []
        for i, backend in enumerate(self._instances):
            event, failure = threading.Event(), []
            thread = threading.Thread(target=self._work, args=(backend, event, failure),
                                      name=f"stcompat-serve-{self.name}-{i}", daemon=True)
            thread.start()
            self._threads.append(thread)
            ready.append((event, failure))
        for event, failure in ready:
            event.wait()
            if failure:
                self.close()
                raise failure[0]

    @property
    def pending(self) -> int:
        """Texts waiting (not yet picked up by a worker)."""
        return self._pending

    def submit(self, inputs: Sequence[Any], key: Hashable) -> Job:
        """Queue a job; raises QueueFull when its texts do not fit (nothing is queued then)."""
        job = Job(inputs, key)
        with self._cond:
            if self._closing:
                raise QueueFull("the server is shutting down")
            if self._pending and self._pending + len(inputs) > self._max_queue:
                # An empty queue takes any request the limits allowed, so a big one cannot starve.
                raise QueueFull(f"{self._pending} texts already queued for {self.name}")
            self._queue.append(job)
            self._pending += len(inputs)
            depth = self._pending
            self._cond.notify()
        self._hooks.depth(depth)
        return job

    def cancel(self, job: Job) -> bool:
        """Withdraw a job whose client went away; True when it had not started (its slot is freed)."""
        if not job.future.cancel():
            return False  # already running or done: the worker accounted for it
        with self._cond:
            self._pending -= len(job.inputs)
            depth = self._pending
        self._hooks.depth(depth)
        self._hooks.cancelled(len(job.inputs))
        return True

    def close(self, timeout: float | None = None) -> None:
        """Finish what is queued, then stop the workers."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        for thread in self._threads:
            thread.join(timeout)
        for backend in self._instances:  # after the workers: nothing calls an instance any more
            backend.close()

    # --- the worker threads' side --------------------------------------------------------------

    def _take(self, jobs: list[Job], taken: int) -> int:
        """Move queued jobs into ``jobs`` while they fit; returns the texts taken. Caller holds the lock."""
        while self._queue:
            job = self._queue[0]
            if jobs and taken + len(job.inputs) > self._max_batch:
                break  # requests are never split; a big one waits for the next cycle, alone
            self._queue.popleft()
            if not job.future.set_running_or_notify_cancel():
                continue  # cancelled: cancel() already freed its slot
            jobs.append(job)
            taken += len(job.inputs)
            self._pending -= len(job.inputs)
        return taken

    def _gather(self) -> list[Job] | None:
        """Block for work; the jobs of one cycle, or None when closing with nothing left."""
        with self._cond:
            while not self._queue:
                if self._closing:
                    return None
                self._cond.wait()
            jobs: list[Job] = []
            taken = self._take(jobs, 0)
            # One request alone, after a cycle that was alone too: the client is waiting for this answer
            # before it sends the next (concurrency 1), so waiting for company only adds latency. The
            # first cycle that finds company in the queue turns batching back on.
            alone = len(jobs) == 1 and self._last_jobs == 1
            deadline = time.monotonic() + (0.0 if alone else self._max_wait)
            while taken < self._max_batch and not self._closing:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                if not self._queue:
                    self._cond.wait(left)
                before = taken
                taken = self._take(jobs, taken)
                if taken == before and self._queue:
                    break  # the next job does not fit: run what we have
            depth = self._pending
            self._last_jobs = len(jobs)
        self._hooks.depth(depth)
        return jobs

    def _work(self, backend: Backend, ready: threading.Event, failure: list[BaseException]) -> None:
        try:
            if self._setup is not None:
                self._setup(backend)  # in this thread: torch's OpenMP pool belongs to the thread that uses it
        except BaseException as exc:  # noqa: BLE001 - start() raises it in the caller's thread
            failure.append(exc)
            return
        finally:
            ready.set()
        while True:
            jobs = self._gather()
            if jobs is None:
                return
            groups: dict[Hashable, list[Job]] = {}
            for job in jobs:
                groups.setdefault(job.key, []).append(job)
            for key, group in groups.items():
                self._run(backend, key, group)
            if not self._queue:
                self._hooks.idle()

    def _run(self, backend: Backend, key: Hashable, jobs: list[Job]) -> None:
        import numpy as np

        flat = [(j, i) for j, job in enumerate(jobs) for i in range(len(job.inputs))]
        order = sorted(range(len(flat)), key=lambda n: -_length(jobs[flat[n][0]].inputs[flat[n][1]]))
        items = [jobs[flat[n][0]].inputs[flat[n][1]] for n in order]
        started = time.perf_counter()
        try:
            self._hooks.batch(len(items))
            if key[0] == "rerank":
                out = backend.rerank(items, self._batch_size)
            else:
                out = backend.embed(items, key[1], self._batch_size)
        except Exception as exc:  # noqa: BLE001 - every waiting request must hear about it
            self._hooks.busy(time.perf_counter() - started)
            if len(jobs) > 1:  # one request's input must not fail its neighbours: run each alone
                for job in jobs:
                    self._run(backend, key, [job])
                return
            jobs[0].future.set_exception(exc)
            return
        self._hooks.busy(time.perf_counter() - started)
        # Back to request order: position n of the sorted list holds flat[order[n]].
        rows: list[Any] = [None] * len(flat)
        tokens: list[int] = [0] * len(flat)
        for n, source in enumerate(order):
            rows[source] = out.values[n]
            tokens[source] = out.tokens[n]
        start = 0
        for job in jobs:
            end = start + len(job.inputs)
            job.future.set_result(Encoded(np.stack(rows[start:end]), tuple(tokens[start:end])))
            start = end
