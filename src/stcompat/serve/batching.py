"""Dynamic micro-batching: texts queued together are encoded together, off the event loop.

Each model has one queue and one worker thread per loaded instance. The queue is a pool of texts, all
instances drawing on it. A free worker waits up to ``max_wait_ms`` for ``max_batch`` texts (a busy server
never waits: the pool is already full when it looks; a lone client, one request at a time, is not made to
wait either), then takes its share of the oldest ``max_batch``: all of them when no other worker is free,
else an equal part, so that idle instances split a lone request between them instead of one instance
encoding it while the others watch. A share is the run of the length order (estimated tokens) that holds
the oldest text and spans fewest tokens; the backend sorts it by token count and encodes it in forward
batches of ``batch_size``. A request's texts may be encoded by several instances; the request is answered
when its last text is done.

Why shares and not one forward batch per call: measured with bench/serve.py (same run, 2 cores), workers
that took one forward batch of 32 at a time from the pool served 0.88x the bare encode with one 2-thread
instance, against 0.95x taking the whole pool; with two 1-thread instances, 0.97x against 0.95x.
A request split over many small calls is answered later, so fewer texts are in flight to batch.

Each worker thread first runs the server's ``setup`` for its instance (its torch threads, its warm-up):
torch's OpenMP thread pool belongs to the thread that runs the forward passes, so that thread is the one
that sizes and warms it.

Jobs carry ``concurrent.futures.Future`` objects, the executor protocol: a request that goes away
before any of its texts was picked up cancels the future, which frees its place in the queue at once,
and the workers skip it (``set_running_or_notify_cancel``), so exactly one side ever accounts for it.
"""

from __future__ import annotations

import collections
import re
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Callable, Hashable, Sequence

from .backends import Backend, Encoded


class QueueFull(Exception):
    """The model's queue cannot take the request's texts now (the server answers 503 + Retry-After)."""


_PIECE = re.compile(r"\w+|[^\w\s]")
_SCAN_CHARS = 4096
"""Characters of a text its length estimate reads: past a few thousand, any model truncates anyway."""


def estimate_tokens(item: Any) -> int:
    """A cheap stand-in for a text's token count, for grouping texts of like length: its words and
    punctuation marks (what BERT-style pre-tokenizers split on; subwords only add to it). A pair counts both."""
    if isinstance(item, str):
        return len(_PIECE.findall(item, 0, _SCAN_CHARS))
    return sum(estimate_tokens(part) for part in item)


def _chars(item: Any) -> int:
    return len(item) if isinstance(item, str) else sum(len(part) for part in item)


@dataclass(eq=False)
class Job:
    """One request's work, waiting in a model's queue. Its bookkeeping fields are changed only under the
    batcher's lock."""

    inputs: Sequence[Any]
    """Texts (embeddings) or (query, document) pairs (rerank)."""
    key: Hashable
    """Jobs with equal keys can share a forward call: ``("embed", prompt_name)`` or ``("rerank",)``."""
    future: Future = field(default_factory=Future)
    """Completed with an Encoded holding this job's rows, or the backend's exception."""
    sizes: tuple[tuple[int, int], ...] = field(init=False)
    """Per input: (estimated tokens, characters), the order texts are grouped by."""
    untaken: list[int] = field(init=False)
    """Inputs no worker has picked up yet, in request order."""
    left: int = field(init=False)
    """Inputs not encoded yet (picked up or not)."""
    values: Any = field(init=False, default=None)
    """Rows as they come back, in request order (allocated with the first)."""
    tokens: list[int] = field(init=False)
    """Token counts as they come back, in request order."""
    failed: bool = field(init=False, default=False)
    """A batch holding one of its inputs failed alone: the job has its exception, the rest is dropped."""

    def __post_init__(self) -> None:
        self.sizes = tuple((estimate_tokens(item), _chars(item)) for item in self.inputs)
        self.untaken = list(range(len(self.inputs)))
        self.left = len(self.inputs)
        self.tokens = [0] * len(self.inputs)


Part = tuple[Job, int]
"""One input of one job: what a worker's share of the pool is made of."""


def _jobs(parts: Sequence[Part]) -> list[Job]:
    """The jobs the parts belong to, each once, in the parts' order."""
    return list({id(job): job for job, _ in parts}.values())


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
    """Called by a worker that finished a batch and found the queue empty (the server trims memory then)."""


def pick(pool: Sequence[Part], size: int) -> list[Part]:
    """The ``size`` parts to encode next from ``pool`` (parts in queue order, oldest first): the oldest part and
    the ``size - 1`` others that, with it, make the run of the length order that spans fewest estimated tokens
    (ties: the run of older parts), so nothing waits behind more than the pool. Longest first, as forward
    batches are laid out."""
    if len(pool) <= size:
        chosen = list(pool)
    else:
        order = sorted(range(len(pool)), key=lambda n: pool[n][0].sizes[pool[n][1]][0])
        tokens = [pool[n][0].sizes[pool[n][1]][0] for n in order]
        ages = [0]
        for n in order:
            ages.append(ages[-1] + n)
        oldest = order.index(0)
        start = min(range(max(0, oldest - size + 1), min(oldest, len(pool) - size) + 1),
                    key=lambda s: (tokens[s + size - 1] - tokens[s], ages[s + size] - ages[s]))
        chosen = [pool[n] for n in sorted(order[start:start + size])]
    return sorted(chosen, key=lambda part: part[0].sizes[part[1]], reverse=True)


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
        self._queue: collections.deque[Job] = collections.deque()  # jobs with inputs not picked up yet
        self._cond = threading.Condition()
        self._pending = 0  # texts queued and not yet taken or cancelled
        self._closing = False
        self._threads: list[threading.Thread] = []
        self._last_jobs = 0  # jobs in the previous call (any worker): 1 means nobody else is sending
        self._free = 0  # workers looking for work: each takes its share of the pool

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
        """Withdraw a job whose client went away; True when none of its texts had been picked up (its slot is
        freed)."""
        if not job.future.cancel():
            return False  # already running or done: the workers account for it
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

    def _pool(self) -> tuple[Hashable, list[Part], int]:
        """The key of the oldest job, the parts a batch can be picked from (the oldest ``max_batch`` untaken
        inputs with that key, in queue order) and how many jobs are waiting. Drops cancelled jobs. Caller holds
        the lock."""
        while self._queue and self._queue[0].future.cancelled():
            self._queue.popleft()  # cancel() already freed its slot
        if not self._queue:
            return None, [], 0
        key = self._queue[0].key
        pool: list[Part] = []
        for job in self._queue:
            if job.key != key or job.future.cancelled():
                continue
            pool.extend((job, i) for i in job.untaken[: self._max_batch - len(pool)])
            if len(pool) >= self._max_batch:
                break
        return key, pool, len(self._queue)

    def _next(self) -> tuple[Hashable, list[Part]] | None:
        """Block for work; the key and parts of this worker's next call, or None when closing with nothing left."""
        with self._cond:
            self._free += 1
            try:
                batch: list[Part] = []
                while not batch:
                    key, pool, waiting = self._pool()
                    if not pool:
                        if self._closing:
                            return None
                        self._cond.wait()
                        continue
                    # One request alone, after a call that was alone too: the client is waiting for this answer
                    # before it sends the next (concurrency 1), so waiting for company only adds latency. The first
                    # call that finds company in the queue turns batching back on.
                    alone = waiting == 1 and self._last_jobs == 1
                    deadline = time.monotonic() + (0.0 if alone else self._max_wait)
                    while len(pool) < self._max_batch and not self._closing:
                        left = deadline - time.monotonic()
                        if left <= 0:
                            break
                        self._cond.wait(left)
                        key, pool, _ = self._pool()
                    share = -(-len(pool) // max(1, self._free))
                    batch = [part for part in pick(pool, share) if self._claim(part[0])]
            finally:
                self._free -= 1
            jobs = _jobs(batch)
            for job in jobs:
                taken = {i for j, i in batch if j is job}
                job.untaken = [i for i in job.untaken if i not in taken]
                self._pending -= len(taken)
                if not job.untaken:
                    self._queue.remove(job)
            self._last_jobs = len(jobs)
            depth = self._pending
            if depth:
                self._cond.notify()  # texts left: a free worker can take them now
        self._hooks.depth(depth)
        return key, batch

    @staticmethod
    def _claim(job: Job) -> bool:
        """Whether a worker may encode this job's inputs: it is running already, or starts now (False: its
        client cancelled it, and cancel() freed its slot). Caller holds the lock."""
        if job.future.cancelled():
            return False
        return job.future.running() or job.future.set_running_or_notify_cancel()

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
            work = self._next()
            if work is None:
                return
            self._run(backend, *work)
            if not self._pending:
                self._hooks.idle()

    def _run(self, backend: Backend, key: Hashable, batch: list[Part]) -> None:
        items = [job.inputs[i] for job, i in batch]
        started = time.perf_counter()
        try:
            self._hooks.batch(len(items))
            if key[0] == "rerank":
                out = backend.rerank(items, self._batch_size)
            else:
                out = backend.embed(items, key[1], self._batch_size)
        except Exception as exc:  # noqa: BLE001 - every waiting request must hear about it
            self._hooks.busy(time.perf_counter() - started)
            jobs = _jobs(batch)
            if len(jobs) > 1:  # one request's input must not fail its neighbours: run each's part alone
                for job in jobs:
                    self._run(backend, key, [part for part in batch if part[0] is job])
                return
            self._fail(jobs[0], exc)
            return
        self._hooks.busy(time.perf_counter() - started)
        self._deliver(batch, out)

    def _deliver(self, batch: list[Part], out: Encoded) -> None:
        """Put each row where its request wants it; answer the requests whose last input this was."""
        import numpy as np

        done: list[Job] = []
        with self._cond:
            for n, (job, i) in enumerate(batch):
                if job.failed:
                    continue
                if job.values is None:
                    job.values = np.empty((len(job.inputs), *out.values.shape[1:]), dtype=out.values.dtype)
                job.values[i] = out.values[n]
                job.tokens[i] = out.tokens[n]
                job.left -= 1
                if job.left == 0:
                    done.append(job)
        for job in done:
            job.future.set_result(Encoded(job.values, tuple(job.tokens)))

    def _fail(self, job: Job, exc: Exception) -> None:
        """The job's own inputs failed: it gets the exception, and its inputs not picked up yet are dropped."""
        with self._cond:
            if job.failed:
                return
            job.failed = True
            self._pending -= len(job.untaken)
            job.untaken = []
            if job in self._queue:
                self._queue.remove(job)
            depth = self._pending
        self._hooks.depth(depth)
        job.future.set_exception(exc)
