"""Run the probe for every (model, release) cell in real isolated environments, and classify cells.

An environment per release comes from envs.py (uv, cached by spec hash, one shared torch). Each
probe is a subprocess with a timeout, offline, whose cwd is a scratch folder; a broken cell is
recorded and never stops the others.
"""

from __future__ import annotations

import math
import subprocess
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from ..model.folder import Target, targets_for
from ..model.inspect import read_model
from ..model.settings import lost_settings
from ..noise import DEFAULT_THRESHOLDS, Thresholds
from ..vocab import LOADERS, Verdict
from . import envs
from .executor import Executor, Job, JobOutcome, LocalExecutor
from .probing import PROBE, _probe  # noqa: F401 - re-exported (tests and tools import them from here)


@dataclass(frozen=True)
class Cell:
    """One model in one environment."""

    model: str
    """Model folder, absolute."""
    release: str
    """sentence-transformers release, or ``current`` for this interpreter's environment."""
    outcome: Verdict
    """ok, degraded, fails, or env-error (the environment could not be built or run); unknown until classified."""
    versions: Mapping[str, str] = field(default_factory=dict)
    """What the environment held (read inside it)."""
    pins: tuple[str, ...] = ()
    """Requirements the environment was built from (era pins included)."""
    error: Mapping[str, Any] | None = None
    """``{type, message, traceback_tail}`` when loading failed (or the env could not be built)."""
    warnings: tuple[Mapping[str, str], ...] = ()
    """Warnings logged during the load."""
    effective: Mapping[str, Any] = field(default_factory=dict)
    """prompts, default_prompt_name, similarity_fn_name, truncate_dim, max_seq_length, modules as loaded."""
    dimension: int | None = None
    """Output dimension."""
    max_abs_diff: float | None = None
    """Against the reference cell of the same model (None when not comparable)."""
    min_cosine: float | None = None
    """Against the reference cell of the same model."""
    reasons: tuple[str, ...] = ()
    """Why the cell is degraded (or the one-line failure)."""
    seconds: float = 0.0
    """Wall time of the probe (environment build excluded)."""
    embeddings: tuple[tuple[float, ...], ...] = ()
    """Probe-set embeddings (kept for comparison; not written to JSON)."""


def default_torch() -> str:
    """The torch every environment shares: a local wheel of this environment's torch when pip can
    see one (find-links), else ``torch==<version>``."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        current = version("torch")
    except PackageNotFoundError:
        return "torch"
    base = current.split("+")[0]
    try:
        listed = subprocess.run([sys.executable, "-m", "pip", "config", "list"], capture_output=True,
                                text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        listed = ""
    for line in listed.splitlines():
        if "find-links" in line:
            for folder in line.split("=", 1)[1].strip("'\" ").split():
                for wheel in sorted(Path(folder.replace("file://", "")).glob(f"torch-{base}*.whl")):
                    return str(wheel)
    return f"torch=={base}"


def _cosines(a: Sequence[Sequence[float]], b: Sequence[Sequence[float]]) -> tuple[float, float]:
    max_abs = 0.0
    min_cos = 1.0
    for row_a, row_b in zip(a, b):
        max_abs = max(max_abs, max(abs(x - y) for x, y in zip(row_a, row_b)))
        dot = sum(x * y for x, y in zip(row_a, row_b))
        norm = math.sqrt(sum(x * x for x in row_a)) * math.sqrt(sum(y * y for y in row_b))
        min_cos = min(min_cos, dot / norm if norm else 0.0)
    return max_abs, min_cos


def classify(cell: Cell, reference: Cell | None, saved: Mapping[str, Any],
             thresholds: Thresholds = DEFAULT_THRESHOLDS) -> Cell:
    """The cell with its outcome, differences and reasons filled in.

    ``saved``: the model's behaviour-changing settings (ModelManifest.saved_settings).
    """
    if cell.outcome is Verdict.ENV_ERROR:
        return cell
    if cell.error is not None:
        first_line = (str(cell.error.get("message") or "").splitlines() or [""])[0]
        return replace(cell, outcome=Verdict.FAILS, reasons=(f"{cell.error['type']}: {first_line}",))
    reasons = lost_settings(saved, cell.effective)
    max_abs = min_cos = None
    if reference is not None and reference.embeddings and cell is not reference:
        if reference.dimension != cell.dimension:
            reasons.append(f"dimension {cell.dimension} vs {reference.dimension} in the reference")
        else:
            max_abs, min_cos = _cosines(cell.embeddings, reference.embeddings)
            if not thresholds.within_noise(max_abs, min_cos):
                reasons.append(f"embeddings differ beyond noise (max |d| {max_abs:.2e}, min cos {min_cos:.6f})")
    return replace(cell, outcome=Verdict.DEGRADED if reasons else Verdict.OK, reasons=tuple(reasons),
                   max_abs_diff=max_abs, min_cosine=min_cos)


@dataclass(frozen=True)
class MatrixResult:
    """Every cell, and how the environments were made."""

    reference: str
    """``current`` or a release."""
    releases: tuple[str, ...]
    """Releases in column order."""
    models: tuple[str, ...]
    """Model folders in row order."""
    cells: tuple[Cell, ...]
    """Row-major cells, reference cells included when the reference is ``current``."""
    torch: str
    """The torch shared by every environment."""
    loader: str = "sentence-transformer"
    """The class every model was loaded with."""


def _targets(models: Sequence[str | Path | Target]) -> list[Target]:
    """Targets keep their read boundary (a Hugging Face cache snapshot reads through blobs/)."""
    found: list[Target] = []
    for model in models:
        found.extend([model] if isinstance(model, Target) else targets_for(str(model)))
    return list({str(t.root): t for t in found}.values())


def run_matrix(models: Sequence[str | Path | Target], releases: Sequence[str], *, extra: Sequence[str] = (),
               reference: str = "current", jobs: int = 2, offline: bool = False, timeout: float = 600,
               torch: str | None = None, python: str | None = None, cache_dir: Path | None = None,
               batch: bool = False, on_progress: Callable[[str], None] | None = None,
               executor: Executor | None = None, loader: str = "sentence-transformer") -> MatrixResult:
    """Build (or reuse) one environment per release, probe every model in it, classify every cell.

    ``models``: model folders, folders of models, cached repo ids, or Targets from model/folder.py.

    ``batch`` probes all models of a release in one process (much faster for many small models;
    a cell is then not isolated from the models loaded before it in that process).

    ``executor``: where cells run (executor.py); by default threads on this machine, ``jobs`` at a time.

    ``loader``: the class every model is loaded with: sentence-transformer (``SentenceTransformer(path)``),
    cross-encoder (``CrossEncoder(path)``, its scores of fixed pairs compared) or sparse-encoder.
    """
    if loader not in LOADERS:
        raise ValueError(f"unknown loader {loader!r} (one of {', '.join(LOADERS)})")
    targets = _targets(models)
    models = [str(t.root) for t in targets]
    torch = torch or default_torch()
    python = python or sys.executable
    columns = list(dict.fromkeys(list(releases) + ([reference] if reference not in ("current", *releases) else [])))
    specs = {r: envs.release_spec(r, python=python, torch=torch, extra=tuple(extra)) for r in columns}

    if reference == "current":
        columns = ["current"] + columns
    raw: dict[tuple[str, str], Cell] = {}

    def env_ready(release: str) -> None:
        if on_progress:
            on_progress(f"env {release}")

    def done(outcome: JobOutcome) -> None:
        job = outcome.job
        spec = specs.get(job.release)
        pins = tuple(spec.requirements + spec.no_deps) if spec else ()
        for index, model in enumerate(job.models):
            if outcome.failure is not None:
                kind, line = outcome.failure
                raw[(model, job.release)] = Cell(model, job.release, Verdict.ENV_ERROR, pins=pins,
                                                 error={"type": kind, "message": line, "traceback_tail": []},
                                                 reasons=(line,))
            else:
                result = outcome.results[index]
                raw[(model, job.release)] = Cell(
                    model, job.release, Verdict.UNKNOWN, versions=result.get("versions", {}), pins=pins,
                    error=result.get("error"), warnings=tuple(result.get("warnings", ())),
                    effective=result.get("effective", {}), dimension=result.get("dimension"),
                    seconds=round(outcome.seconds[index], 2),
                    embeddings=tuple(tuple(row) for row in result.get("embeddings", ())))
            if on_progress:
                on_progress(f"{Path(model).name} @ {job.release}")

    groups = [tuple(models)] if batch else [(m,) for m in models]
    jobs_to_run = [Job(group, release, specs.get(release), timeout, loader) for group in groups for release in columns]
    (executor or LocalExecutor(jobs)).run(jobs_to_run, targets=targets, cache_dir=cache_dir, offline=offline,
                                          env_ready=env_ready, done=done)

    cells = []
    for target, model in zip(targets, models):
        saved = read_model(target).saved_settings  # read within the target's boundary (HF cache: blobs/)
        ref = raw.get((model, reference))
        ref = ref if ref is not None and ref.error is None and ref.outcome is not Verdict.ENV_ERROR else None
        for release in columns:
            cells.append(classify(raw[(model, release)], ref, saved))
    return MatrixResult(reference, tuple(columns), tuple(models), tuple(cells), torch, loader)
