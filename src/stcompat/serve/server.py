"""Start a server: guard and load every model, then hand the app to uvicorn.

Nothing listens until every model has passed the guard (or was overridden): the socket is bound
only after ``prepare``. uvicorn handles SIGINT/SIGTERM: it stops accepting, lets in-flight requests
finish (up to ``graceful_timeout_s``), then the app's lifespan drains the queues and stops the workers.
"""

from __future__ import annotations

import contextlib
import dataclasses
import signal
import socket
import threading
from typing import Any, Callable, Iterator

from ..errors import RuntimeMissingError
from .backends import Backend
from .batching import MicroBatcher
from .config import ModelSpec, ServeConfig
from .guard import admit
from .metrics import ServeMetrics
from .state import ServedModel, ServerState
from .warmup import IdleTrim, warm_up

Log = Callable[[str], None]


def _need(module: str) -> None:
    import importlib.util

    if importlib.util.find_spec(module) is None:
        raise RuntimeMissingError(f"stcompat serve needs {module} (pip install 'stcompat[serve]')", module)


def prepare(config: ServeConfig, log: Log = lambda _: None) -> ServerState:
    """Run the guard for every model and load their instances; raises ServeRefused on a refusal."""
    for module in ("fastapi", "uvicorn", "prometheus_client"):
        _need(module)
    try:
        import torch
    except ImportError:
        raise RuntimeMissingError("stcompat serve needs torch and sentence-transformers (pip install "
                                  "'stcompat[runtime]', torch first)", "torch") from None
    try:  # a server's log is for its own lines: no per-model "Loading weights" progress bars
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
    except ImportError:
        pass
    from .info import running_versions

    metrics = ServeMetrics(m.name for m in config.models)
    models: dict[str, ServedModel] = {}
    trim = IdleTrim()  # one for the process: the heap is shared by every model
    # Each instance's worker thread sizes its own torch pool (Backend.use_thread). This thread's start-up work
    # (load, verify, admission) runs on one torch thread, so it never starts an OpenMP pool of its own to
    # compete with the workers'; the caller's setting is given back afterwards.
    caller_threads = torch.get_num_threads()
    threads = config.batching.instance_threads(caller_threads)
    torch.set_num_threads(1)
    try:
        for spec in config.models:
            models[spec.name] = _start_model(spec, config, metrics, trim, threads, log)
    except BaseException:
        for started in models.values():  # a later model was refused: the earlier ones' workers stop too
            started.batcher.close(0)
        raise
    finally:
        torch.set_num_threads(caller_threads)
    return ServerState(config, models, metrics, running_versions())


def _start_model(spec: ModelSpec, config: ServeConfig, metrics: ServeMetrics, trim: IdleTrim, threads: int,
                 log: Log) -> ServedModel:
    """Guard one model, then start its batcher (its instances warmed up in their worker threads)."""
    admitted = admit(spec, config, threads, log)
    b = config.batching
    hooks = dataclasses.replace(metrics.hooks(spec.name), idle=trim)
    batcher = MicroBatcher(spec.name, admitted.instances, max_batch=b.max_batch, batch_size=b.batch_size,
                           max_wait_ms=b.max_wait_ms, max_queue=config.limits.max_queue, hooks=hooks,
                           setup=_worker_setup(threads, b.batch_size))
    batcher.start()  # before the socket opens
    if admitted.admission.overridden:
        metrics.unsafe.labels(spec.name).set(1)
        log(f"{spec.name}: UNSAFE, started over {', '.join(admitted.admission.overridden)} (--allow-unsafe): "
            + "; ".join(admitted.admission.reasons))
    return ServedModel(spec.name, admitted, batcher)


def _worker_setup(threads: int, batch_size: int) -> Callable[[Backend], None]:
    """What each worker thread does first: size its instance's torch pool, then warm the instance up."""

    def setup(backend: Backend) -> None:
        backend.use_thread(threads)
        warm_up([backend], batch_size)

    return setup


def bind(host: str, port: int) -> socket.socket:
    """A listening socket (port 0: any free port; the caller reads it back with getsockname)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def make_server(state: ServerState, *, log_level: str = "warning", access_log: bool = False) -> Any:
    """A uvicorn Server for the app; readiness turns off as soon as its shutdown starts."""
    import uvicorn

    from .app import create_app

    class _Server(uvicorn.Server):
        async def shutdown(self, sockets: Any = None) -> None:
            state.draining = True  # before the wait for in-flight requests: /health/ready says 503 at once
            await super().shutdown(sockets=sockets)

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            # uvicorn re-raises SIGINT/SIGTERM once it has shut down, so the command would end as
            # "killed" (or click's "Aborted!") after a clean drain. A graceful stop is a success: exit 0.
            if threading.current_thread() is not threading.main_thread():
                yield
                return
            previous = {sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)}
            try:
                yield
            finally:
                for sig, handler in previous.items():
                    signal.signal(sig, handler)

    config = uvicorn.Config(create_app(state), log_level=log_level, access_log=access_log, lifespan="on",
                            timeout_graceful_shutdown=state.config.graceful_timeout_s, server_header=False)
    return _Server(config)


def serve(config: ServeConfig, *, log: Log = lambda _: None, log_level: str = "warning",
          access_log: bool = False) -> None:
    """Guard, load, bind, serve until SIGINT/SIGTERM."""
    state = prepare(config, log)
    server = make_server(state, log_level=log_level, access_log=access_log)
    sock = bind(config.host, config.port)
    host, port = sock.getsockname()[:2]
    for name, model in state.models.items():
        a = model.admitted.admission
        band = f", verify {a.verify.verdict.value}" if a.verify is not None else ""
        log(f"serving {name!r} ({model.capabilities.role}, {a.spec.path}): check "
            f"{a.check.verdict.value}{band}, backend {model.admitted.instances[0].name}")
    shown = f"[{host}]" if ":" in host else host
    log(f"listening on http://{shown}:{port} (Ctrl-C or SIGTERM stops after in-flight requests finish)")
    server.run(sockets=[sock])
    log("stopped: requests in flight finished, queues drained")
