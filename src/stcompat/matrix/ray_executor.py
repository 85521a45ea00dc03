"""``matrix --executor ray``: one Ray task per job, on any node of a cluster. The only module that
imports Ray (an optional extra, ``pip install "stcompat[ray]"``), and only when it runs.

Environments: a task builds its cell's environment on the node it lands on with envs.py, from the same
EnvSpec the local executor uses (same pins, same torch, same uv steps), in that node's stcompat cache,
where it stays for every later cell of that release on that node (a per-key file lock makes concurrent
cells wait for one build). Ray's own ``runtime_env`` (pip/uv lists) is not used: it layers the
requirements over the worker's environment instead of building a clean one, it cannot see a local torch
wheel, and the cell's environment would have to hold Ray itself. The probe runs in a subprocess of the
task, as locally, so a crashing model is a ``fails`` cell and only a lost worker or node is a Ray failure.

Model folders: up to ``object_limit`` bytes a folder is packed once (shipping.py) and put in the object
store, shared by every cell of that model; larger folders must lie under a ``--shared-path`` and are read
in place. Paths of the worker's copy are rewritten to the driver's in the results, so errors read the same.

Failures: a job whose task fails (worker killed, node lost, an exception in stcompat on the worker) is
submitted once more; a second failure makes its cells env-error with Ray's reason. The rest go on.
"""

from __future__ import annotations

import logging
import os
import re
import socket
import sys
import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Sequence

from ..errors import ExecutorError
from ..model.folder import Target
from . import envs
from .executor import EnvReady, Done, Job, JobOutcome, failure_of, probe_job
from .shipping import (OBJECT_LIMIT, PackedFolder, Transfer, default_copies_dir, materialise, pack, plan_transfers,
                       rewrite_paths)

_CONNECT_TIMEOUT_S = 10.0
"""How long the port of a named cluster may take to accept a TCP connection before STC704."""


def _reachable(address: str) -> None:
    """STC704 at once when nothing listens at a cluster's ``host:port`` (``ray://host:port`` or a GCS address).

    Ray itself retries an unreachable GCS address for minutes, printing its own log lines, and a Ray Client
    address for 30 s; a TCP connection tells in milliseconds. "auto" and what cannot be parsed are left to Ray."""
    from urllib.parse import urlsplit

    if address == "auto":
        return
    try:
        parts = urlsplit(address if "://" in address else f"gcs://{address}")
        host, port = parts.hostname, parts.port
    except ValueError:
        return
    if not host or port is None:
        return
    try:
        with socket.create_connection((host, port), timeout=_CONNECT_TIMEOUT_S):
            pass
    except OSError as exc:
        raise ExecutorError("STC704", f"cannot reach Ray at {address}: nothing accepts a connection at "
                            f"{host}:{port} ({exc.strerror or exc})") from None


_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?)b?\s*$", re.I)


def parse_size(text: str) -> int:
    """Bytes from ``4GiB``, ``512MiB``, ``2G``, ``1500000`` (k/M/G/T: powers of 1000; with i: 1024)."""
    found = _SIZE.match(text)
    if not found:
        raise ValueError(f"not a size: {text!r} (e.g. 4GiB, 512MiB, 2G)")
    number, unit, binary = found.groups()
    power = "kmgt".find(unit.lower()) + 1 if unit else 0
    return int(float(number) * (1024 if binary else 1000) ** power)


def require_ray() -> Any:
    """The ray module; ExecutorError STC702 when it is not installed."""
    try:
        import ray
    except ImportError:
        raise ExecutorError("STC702", "--executor ray needs Ray, which is not installed here: "
                            "pip install \"stcompat[ray]\" (on this machine and on every node)") from None
    return ray


def _run_on_worker(job: Job, cache_dir: str | None, offline: bool, *folders: PackedFolder | str) -> JobOutcome:
    """The Ray task: put the job's folders on this node, build (or reuse) its environment, probe."""
    local: list[str] = []
    replacements: dict[str, str] = {}
    for folder in folders:
        if isinstance(folder, PackedFolder):
            copy = materialise(folder, default_copies_dir())
            local.append(str(copy))
            for spelling in {str(copy), os.path.realpath(copy)}:
                replacements[spelling] = folder.origin
        elif os.path.isdir(folder):
            local.append(folder)
        else:
            return JobOutcome(job, failure=("SharedPathMissing", f"{folder} is not visible on node "
                                            f"{socket.gethostname()}; is --shared-path mounted there?"))
    if job.spec is None:  # "current": the environment the worker itself runs in
        interpreter = sys.executable
    else:
        spec = job.spec
        if os.sep in spec.python and not os.path.exists(spec.python):
            # The driver's interpreter path does not exist on this node: build from the worker's own.
            spec = replace(spec, python=sys.executable)
        try:
            interpreter = str(envs.ensure_env(spec, cache_dir=Path(cache_dir) if cache_dir else None, offline=offline))
        except Exception as exc:  # a broken environment is env-error for its cells, as locally
            return JobOutcome(job, failure=failure_of(exc))
    outcome = probe_job(job, interpreter, local)
    return replace(outcome, results=tuple(rewrite_paths(result, replacements) for result in outcome.results))


@dataclass(frozen=True)
class RayExecutor:
    """Cells as Ray tasks on a local instance or a cluster."""

    address: str | None = None
    """``auto``, ``ray://host:10001``, or None: RAY_ADDRESS if set, else a local instance."""
    shared_paths: tuple[str, ...] = ()
    """Folders every node mounts at the same path: model folders over ``object_limit`` are read there."""
    cpus_per_cell: float = 1.0
    """Ray ``num_cpus`` of each task."""
    memory_per_cell: int | None = None
    """Ray ``memory`` (bytes) of each task: the scheduler places no more cells on a node than fit."""
    object_limit: int = OBJECT_LIMIT
    """Model folders up to this many bytes travel as Ray objects."""
    num_cpus: int | None = None
    """CPUs of a local instance this executor starts (None: Ray's default, every core)."""
    log: Callable[[str], None] | None = None
    """Receives one line per notable event (how models travel, a retried cell)."""

    def _say(self, line: str) -> None:
        if self.log:
            self.log(line)

    def _connect(self, ray: Any) -> bool:
        """Connect (or start a local instance); True when this executor started it and must stop it."""
        if ray.is_initialized():  # the caller's own ray.init() (tests, notebooks): use it as it is
            return False
        where = self.address or os.environ.get("RAY_ADDRESS")
        if where:
            _reachable(where)
        options: dict[str, Any] = {"address": self.address, "logging_level": logging.WARNING}
        if not self.address and not os.environ.get("RAY_ADDRESS"):
            options.update(include_dashboard=False, num_cpus=self.num_cpus)
        try:
            with warnings.catch_warnings():  # Ray Client warns before it fails: the one-line error says it all
                warnings.simplefilter("ignore")
                ray.init(**options)
        except Exception as exc:  # ConnectionError, a timeout, a version mismatch: all one line
            where = self.address or os.environ.get("RAY_ADDRESS") or "a local instance"
            raise ExecutorError("STC704", f"cannot start or reach Ray at {where}: {failure_of(exc)[1]}") from None
        return True

    def run(self, jobs: Sequence[Job], *, targets: Sequence[Target] = (), cache_dir: Path | None, offline: bool,
            env_ready: EnvReady, done: Done) -> None:
        ray = require_ray()
        wanted = {model for job in jobs for model in job.models}
        transfers = plan_transfers([t for t in targets if str(t.root) in wanted], self.shared_paths, self.object_limit)
        started = self._connect(ray)
        try:
            self._run(ray, jobs, targets, transfers, cache_dir, offline, env_ready, done)
        finally:
            if started:
                ray.shutdown()

    def _run(self, ray: Any, jobs: Sequence[Job], targets: Sequence[Target], transfers: Sequence[Transfer],
             cache_dir: Path | None, offline: bool, env_ready: EnvReady, done: Done) -> None:
        by_root = {str(t.root): t for t in targets}
        folders: dict[str, Any] = {}
        for transfer in transfers:
            if transfer.shared:
                self._say(f"{transfer.model}: {transfer.size / 2**20:.1f} MiB, read in place through --shared-path")
                folders[transfer.model] = transfer.model
            else:  # put once: every cell of this model shares the one object
                folders[transfer.model] = ray.put(pack(by_root[transfer.model]))
        options: dict[str, Any] = {"num_cpus": self.cpus_per_cell, "max_retries": 0}
        if self.memory_per_cell:
            options["memory"] = self.memory_per_cell
        task = ray.remote(_run_on_worker).options(**options)

        def submit(job: Job) -> Any:
            return task.remote(job, str(cache_dir) if cache_dir else None, offline,
                               *(folders[model] for model in job.models))

        pending = {submit(job): (job, 1) for job in jobs}
        ready_envs: set[str] = set()
        while pending:
            (ref,), _ = ray.wait(list(pending), num_returns=1)
            job, attempt = pending.pop(ref)
            try:
                outcome = ray.get(ref)
            except Exception as exc:  # the task itself failed: a lost worker or node, or a bug on the worker
                kind, line = failure_of(exc)
                if attempt == 1:
                    self._say(f"{', '.join(Path(m).name for m in job.models)} @ {job.release}: {kind}; retrying once")
                    pending[submit(job)] = (job, 2)
                    continue
                outcome = JobOutcome(job, failure=(kind, f"Ray lost this cell twice: {line}"))
            if job.spec is not None and job.release not in ready_envs:
                ready_envs.add(job.release)  # the first cell back: its environment exists on a node
                env_ready(job.release)
            done(outcome)
