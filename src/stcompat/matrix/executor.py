"""Where a matrix's cells run. The runner turns the matrix into Jobs and gets JobOutcomes back; an
executor decides where the environments are built and the probes run.

``LocalExecutor`` (the default): threads on this machine, every environment built first, then the probes.
``ray_executor.RayExecutor``: one Ray task per job, on any node of a cluster (the optional ``ray`` extra).
Both build environments with envs.py from the same EnvSpec and run the same probe, so a cell comes out
the same wherever it ran.
"""

from __future__ import annotations

import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Protocol, Sequence

from ..model.folder import Target
from . import envs
from .probing import _probe


@dataclass(frozen=True)
class Job:
    """One probe process: one model (or, batched, every model) in one release's environment."""

    models: tuple[str, ...]
    """Model folders, absolute, as the driver sees them."""
    release: str
    """The column: a sentence-transformers release, or ``current``."""
    spec: envs.EnvSpec | None
    """The environment to build (None for ``current``: the interpreter stcompat runs in)."""
    timeout: float
    """Seconds per model."""
    loader: str = "sentence-transformer"
    """The class the models are loaded with (sentence-transformer, cross-encoder, sparse-encoder)."""


@dataclass(frozen=True)
class JobOutcome:
    """What one job gave back: a probe result per model, or why its environment could not be used."""

    job: Job
    results: tuple[Mapping[str, Any], ...] = ()
    """probe_script.py's document for each model of the job, in order."""
    seconds: tuple[float, ...] = ()
    """Probe wall time per model (a batch's time split evenly)."""
    failure: tuple[str, str] | None = None
    """(error type, one line) when the environment could not be built or the job was lost: every
    cell of the job is then env-error."""


EnvReady = Callable[[str], None]
Done = Callable[[JobOutcome], None]


class Executor(Protocol):
    """Runs jobs somewhere and reports each outcome as it comes (from any thread)."""

    def run(self, jobs: Sequence[Job], *, targets: Sequence[Target] = (), cache_dir: Path | None, offline: bool,
            env_ready: EnvReady, done: Done) -> None:
        """Run every job; call ``env_ready(release)`` once per release whose environment was built
        (or failed), and ``done(outcome)`` once per job. A broken job never stops the others.
        ``targets``: the jobs' model folders with their read boundaries (for executors that copy them)."""


def failure_of(exc: BaseException) -> tuple[str, str]:
    """(type, first line) of an error that made an environment unusable."""
    text = getattr(exc, "message", None) or str(exc)
    return type(exc).__name__, (text.splitlines() or [type(exc).__name__])[0]


def probe_job(job: Job, interpreter: str, models: Sequence[str] | None = None) -> JobOutcome:
    """Run the probe for ``job`` in ``interpreter``; ``models``: where the job's folders are on this
    machine when they are not where the driver sees them (a Ray worker's copies)."""
    folders = list(models or job.models)
    if len(folders) == 1:
        result, seconds = _probe(interpreter, folders[0], job.timeout, job.loader)
        return JobOutcome(job, (result,), (seconds,))
    results, seconds = _probe(interpreter, folders, job.timeout * len(folders), job.loader)
    if isinstance(results, dict):  # the whole batch crashed: every cell gets that error
        results = [results] * len(folders)
    return JobOutcome(job, tuple(results), tuple(seconds / len(folders) for _ in folders))


@dataclass(frozen=True)
class LocalExecutor:
    """Threads on this machine: every environment is built first (``jobs`` at a time), then the probes."""

    jobs: int = 2
    """Environments built, and probes run, in parallel."""

    def run(self, jobs: Sequence[Job], *, targets: Sequence[Target] = (), cache_dir: Path | None, offline: bool,
            env_ready: EnvReady, done: Done) -> None:
        specs = {job.release: job.spec for job in jobs if job.spec is not None}
        interpreters: dict[str, str | tuple[str, str]] = {"current": sys.executable}

        def build(release: str) -> None:
            try:
                interpreters[release] = str(envs.ensure_env(specs[release], cache_dir=cache_dir, offline=offline))
            except Exception as exc:  # one broken environment never stops the others
                interpreters[release] = failure_of(exc)
            env_ready(release)

        with ThreadPoolExecutor(max_workers=max(1, self.jobs)) as pool:
            list(pool.map(build, specs))

        def run(job: Job) -> None:
            interpreter = interpreters[job.release]
            done(JobOutcome(job, failure=interpreter) if isinstance(interpreter, tuple) else probe_job(job, interpreter))

        with ThreadPoolExecutor(max_workers=max(1, self.jobs)) as pool:
            list(pool.map(run, jobs))
