"""Model instances in worker processes: each its own interpreter, its own GIL, its own threads.

Why processes: a thread instance shares the server's GIL with the event loop (HTTP, JSON, base64) and
with every other instance's Python glue (tokenizer calls, op dispatch), and a multi-threaded forward pass
waits at each parallel region for its slowest thread, so one busy core stalls both. Measured on this
2-core machine (bench/threads.py): two 1-thread processes encode 1.22x the sentences/s of one 2-thread
process.

The parent keeps the guard: it loads, checks, verifies and admits the first instance itself, then
starts ``instances`` worker processes that build theirs from an ``InstanceRecipe`` (an exported backend
is rebuilt from the export already admitted: no second measurement) and drops its own. A
``ProcessInstance`` is the parent's ``Backend`` for one worker: the batcher's worker thread hands it a
batch, it sends the batch down a pipe and blocks (GIL released) for the rows. Children are spawned, not
forked: a fork would inherit torch's and the runtimes' thread pools in a state they do not support.
A worker that dies fails the call in flight with STC855 and is restarted on the next call.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Sequence

from ..errors import StcompatError
from ..vocab import ModelKind
from .backends import Backend, Capabilities, Encoded

if TYPE_CHECKING:
    from .backend_export import AdmittedExport

INSTANCE_FAILED = "STC855"
_START_TIMEOUT_S = 600.0
"""A worker builds its instance from files the guard already loaded: ten minutes means it is stuck."""
_CLOSE_WAIT_S = 5.0
"""At shutdown the batcher has already waited the graceful timeout for its threads; a call still running
after that gets this long before its worker process is ended."""


class InstanceError(StcompatError):
    """A worker process could not start, or died while encoding."""


@dataclass(frozen=True)
class InstanceRecipe:
    """How a worker process builds its model instance (picklable: it crosses the process boundary)."""

    backend: str
    """Backend id (``torch``, ``onnx``, ``openvino``)."""
    path: str
    """The model folder the guard admitted."""
    kind: ModelKind
    """SentenceTransformer or CrossEncoder."""
    device: str
    """torch device."""
    truncatable: str | None
    """Why ``dimensions`` is honoured (the guard's evidence), or None."""
    threads: int | None
    """torch intra-op threads in the worker (None: torch's default)."""
    export: "AdmittedExport | None" = None
    """Exported backends: the export the guard admitted (the worker loads it without measuring again)."""


def build(recipe: InstanceRecipe) -> Backend:
    """The instance a recipe describes, built in this process."""
    if recipe.threads is not None:
        import torch

        torch.set_num_threads(recipe.threads)
    if recipe.export is not None:
        from .backend_export import load_admitted

        return load_admitted(recipe.path, recipe.truncatable, recipe.export)
    from .backends import BACKENDS

    return BACKENDS[recipe.backend](recipe.path, recipe.kind, recipe.device, recipe.truncatable)


def _worker_main(recipe: InstanceRecipe, conn: Any) -> None:
    """A worker process: build the instance, report what it offers, then answer calls until told to stop."""
    import signal

    # Ctrl-C reaches the whole process group; the parent drains its queues first and then stops us.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
    except ImportError:
        pass
    try:
        backend = build(recipe)
        conn.send(("ready", backend.capabilities, backend.describe()))
    except BaseException as exc:  # noqa: BLE001 - the parent reports it as the reason the server cannot start
        conn.send(("failed", f"{type(exc).__name__}: {getattr(exc, 'message', None) or exc}"))
        return
    from .warmup import IdleTrim

    # Varying batch shapes leave freed heap behind: given back whenever the worker goes idle (nothing waiting on
    # the pipe), at most every few seconds, as the server process does for its own workers.
    trim_when_idle = IdleTrim()
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):  # the parent is gone
            return
        if message is None:
            return
        method, args = message
        try:
            conn.send(("ok", getattr(backend, method)(*args)))
        except Exception as exc:  # noqa: BLE001 - the request that caused it gets the error, the worker lives on
            conn.send(("error", f"{type(exc).__name__}: {exc}"))
        if not conn.poll():
            trim_when_idle()


class ProcessInstance(Backend):
    """The parent's handle on one worker process (called from one batcher thread at a time)."""

    def __init__(self, recipe: InstanceRecipe, index: int) -> None:
        self._recipe = recipe
        self._index = index
        self._lock = threading.Lock()
        self._process: Any = None
        self._conn: Any = None
        self._caps: Capabilities | None = None
        self._info: dict[str, Any] = {}
        self._closed = False
        self.name = recipe.backend

    # --- life cycle ----------------------------------------------------------------------------

    def start(self) -> None:
        """Spawn the worker (returns at once; ``wait_ready`` collects it)."""
        import multiprocessing

        context = multiprocessing.get_context("spawn")
        parent, child = context.Pipe()
        self._process = context.Process(target=_worker_main, args=(self._recipe, child), daemon=True,
                                        name=f"stcompat-serve-instance-{self._index}")
        self._process.start()
        child.close()  # the parent's copy: the pipe reports EOF when the worker's end closes
        self._conn = parent

    def wait_ready(self) -> None:
        """Block until the worker built its instance; InstanceError (STC855) if it could not."""
        if not self._conn.poll(_START_TIMEOUT_S):
            self._stop()
            raise InstanceError(INSTANCE_FAILED, f"model instance {self._index} ({self._recipe.path}): its worker "
                                f"process built nothing in {_START_TIMEOUT_S:.0f} s")
        try:
            answer = self._conn.recv()
        except (EOFError, OSError):
            answer = ("failed", f"the worker process exited with code {self._exit_code()}")
        if answer[0] != "ready":
            self._stop()
            raise InstanceError(INSTANCE_FAILED, f"model instance {self._index} ({self._recipe.path}) did not start "
                                f"in its worker process: {answer[1]}")
        self._caps, info = answer[1], answer[2]
        self._info = {**info, "process": self._process.pid}

    def _exit_code(self) -> Any:
        self._process.join(5)
        return self._process.exitcode

    def _stop(self) -> None:
        if self._process is None:
            return
        try:
            self._conn.send(None)
        except (OSError, ValueError):
            pass
        self._process.join(10)
        if self._process.is_alive():
            self._process.terminate()
            self._process.join(10)
        self._conn.close()
        self._process = None

    def close(self) -> None:
        self._closed = True
        if self._lock.acquire(timeout=_CLOSE_WAIT_S):
            try:
                self._stop()
            finally:
                self._lock.release()
        elif self._process is not None:
            # A call still holds the lock past the graceful timeout (a worker stuck in a forward pass): ending the
            # process ends that call too (its recv sees EOF), instead of hanging the shutdown.
            self._process.terminate()

    # --- Backend -------------------------------------------------------------------------------

    @property
    def capabilities(self) -> Capabilities:
        assert self._caps is not None, "wait_ready() first"
        return self._caps

    def describe(self) -> dict[str, Any]:
        return dict(self._info)

    def use_thread(self, threads: int | None) -> None:
        """Nothing to size here: the worker process set its threads in the thread that runs its calls."""

    def _call(self, method: str, *args: Any) -> Encoded:
        with self._lock:
            if self._closed:
                raise InstanceError(INSTANCE_FAILED, "the server is shutting down")
            if self._process is None:  # died on an earlier call: a new worker, built the same way
                self.start()
                self.wait_ready()
            try:
                self._conn.send((method, args))
                status, value = self._conn.recv()
            except (EOFError, OSError, BrokenPipeError):
                code = self._exit_code()
                self._conn.close()
                self._process = None
                raise InstanceError(INSTANCE_FAILED, f"model instance {self._index}: its worker process exited "
                                    f"(code {code}) while encoding; it is restarted for the next batch") from None
        if status == "error":
            raise InstanceError(INSTANCE_FAILED, f"model instance {self._index}: {value}")
        return value

    def embed(self, texts: Sequence[str], prompt_name: str | None, batch_size: int) -> Encoded:
        return self._call("embed", list(texts), prompt_name, batch_size)

    def rerank(self, pairs: Sequence[tuple[str, str]], batch_size: int) -> Encoded:
        return self._call("rerank", list(pairs), batch_size)


def start_instances(recipe: InstanceRecipe, count: int, log: Callable[[str], None] = lambda _: None,
                    name: str | None = None) -> tuple[ProcessInstance, ...]:
    """``count`` worker processes built from ``recipe``, started together; all ready, or none left running.
    ``name``: the served model's name, for the log line (default: its folder)."""
    instances = tuple(ProcessInstance(recipe, i) for i in range(count))
    for instance in instances:
        instance.start()
    try:
        for instance in instances:
            instance.wait_ready()
    except BaseException:
        for instance in instances:
            instance.close()
        raise
    log(f"{name or recipe.path}: {count} instance(s) in worker processes "
        f"({', '.join(str(i.describe()['process']) for i in instances)})")
    return instances
