"""The start-up guard: nothing is served until `check` and (with a fingerprint) `verify` have passed here.

A model that check predicts to fail or degrade in this environment, or whose embeddings verify
finds drifted or broken against its pinned fingerprint, is refused before the server accepts any
traffic: serving it would return wrong vectors with a 200. ``allow_unsafe`` starts it anyway, and
the admission records what was overridden so /info and every response header can say so.

Order: read + check (cheap, no torch) -> refuse early -> load -> verify the very instance that will
serve -> load the other instances.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from ..checker import check
from ..errors import InputError, ModelLoadError, ServeRefused
from ..model.folder import targets_for
from ..vocab import Verdict
from .backends import EMBED, ROLES, Backend, loader_for
from .config import ModelSpec, ServeConfig
from .truncation import truncation_evidence

if TYPE_CHECKING:
    from ..fingerprint.fileformat import Fingerprint
    from ..fingerprint.verdict import Report
    from ..rules.engine import CheckResult

CHECK_REFUSED = "STC850"
VERIFY_REFUSED = "STC851"
LOAD_FAILED = "STC852"
KIND_UNSERVABLE = "STC853"
_REFUSED_VERDICTS = (Verdict.FAILS, Verdict.DEGRADED)

Log = Callable[[str], None]


@dataclass(frozen=True)
class Admission:
    """Why a model was let in: what check and verify said, and what was overridden."""

    spec: ModelSpec
    """The model as asked for."""
    check: "CheckResult"
    """check of the folder against this environment."""
    verify: "Report | None"
    """verify of the loaded model against the spec's fingerprint (None without one)."""
    overridden: tuple[str, ...]
    """Refusal codes (STC850, STC851) that allow_unsafe let through; empty when the model is safe."""
    reasons: tuple[str, ...]
    """The lines that would have refused it (empty when safe)."""


@dataclass(frozen=True)
class Admitted:
    """An admitted model with its loaded instances (one worker thread each)."""

    admission: Admission
    """What the guard found."""
    instances: tuple[Backend, ...]
    """Loaded instances, at least one."""


def _findings(result: "CheckResult") -> list[str]:
    return [f"{f.code} {f.name}: {f.message}" for f in result.findings if f.effect.value in ("fails", "degraded")]


def _check_reasons(result: "CheckResult") -> list[str]:
    if result.verdict not in _REFUSED_VERDICTS:
        return []
    head = f"check: {result.verdict.value} in this environment"
    if result.predicted_error is not None:
        head += f" ({result.predicted_error.type}: {result.predicted_error.message})"
    return [head, *_findings(result)]


def _verify_reasons(report: "Report") -> list[str]:
    if report.verdict.acceptable:
        return []
    m = report.metrics
    if m.min_cosine is None:
        cosine = "n/a (dimension changed)"
    else:  # near 1, the distance from 1 is what tells noise from a change
        cosine = f"1-{1 - m.min_cosine:.2g}" if m.min_cosine > 0.9999 else f"{m.min_cosine:.6f}"
    diff = "n/a" if m.max_abs_diff is None else f"{m.max_abs_diff:.3g}"
    head = (f"verify: {report.verdict.value} (min cosine {cosine}, max |diff| {diff}, "
            f"top-{m.topk} agreement {m.topk_agreement:.3f})")
    return [head, *report.reasons, *(f"cause: {d.message}" for d in report.diagnosis if d.cause)]


def _refuse(code: str, spec: ModelSpec, reasons: list[str], hint: str) -> ServeRefused:
    # Every reason goes into the one line the CLI prints: the operator sees what to fix without a rerun.
    return ServeRefused(code, f"model {spec.name!r} ({spec.path}) refused: {'; '.join(reasons)} ({hint})",
                        spec.name, tuple(reasons))


_OVERRIDE_HINT = "see `stcompat check` / `stcompat verify`, or start with --allow-unsafe to serve it anyway"


def admit(spec: ModelSpec, config: ServeConfig, threads: int, log: Log = lambda _: None) -> Admitted:
    """Run the guard for one model and load its instances, or raise ServeRefused / InputError. ``threads``: torch
    threads per instance (worker processes size their own with it)."""
    targets = targets_for(spec.path)
    if len(targets) != 1:
        raise InputError("STC004", f"{spec.path} holds {len(targets)} models; serve one folder per --model",
                         spec.path)
    results = check(str(targets[0].root))  # no target: this environment, read from metadata
    result = results[0]
    manifest = result.model
    role = ROLES.get(manifest.model_kind)
    if role is None:
        raise ServeRefused(KIND_UNSERVABLE, f"model {spec.name!r} ({spec.path}) is a {manifest.model_kind}: "
                           "serve has endpoints for SentenceTransformer (/v1/embeddings) and CrossEncoder "
                           "(/v1/rerank) models", spec.name, (f"model kind {manifest.model_kind}",))
    if spec.fingerprint is not None and role != EMBED:
        raise InputError("STC004", f"model {spec.name!r}: a fingerprint pins embeddings; a {manifest.model_kind} "
                         "has none to verify", spec.fingerprint)
    expected = _fingerprint(spec)  # an unusable file (STC601/STC603) stops us before any model loads
    overridden: list[str] = []
    reasons = _check_reasons(result)
    log(f"{spec.name}: check {result.verdict.value}")
    if reasons:
        if not config.allow_unsafe:
            raise _refuse(CHECK_REFUSED, spec, reasons, _OVERRIDE_HINT)
        overridden.append(CHECK_REFUSED)
    load = loader_for(config.backend, config, log)
    saved = manifest.st_config.get("truncate_dim")
    evidence = truncation_evidence(targets[0], saved if isinstance(saved, int) else None, spec.matryoshka)
    try:
        first = load(manifest.path, manifest.model_kind, config.device, evidence)
    except ModelLoadError as exc:
        lines = [f"load: {exc.message}", *reasons]
        raise _refuse(LOAD_FAILED, spec, lines, "the override cannot serve a model that does not load") from None
    report = None
    if expected is not None:
        report = _verify(spec, first, expected)
        log(f"{spec.name}: verify {report.verdict.value}")
        lines = _verify_reasons(report)
        if lines:
            if not config.allow_unsafe:
                raise _refuse(VERIFY_REFUSED, spec, lines, _OVERRIDE_HINT)
            overridden.append(VERIFY_REFUSED)
            reasons += lines
    admission = Admission(spec, result, report, tuple(overridden), tuple(reasons))
    if config.batching.processes:
        return Admitted(admission, _worker_instances(config, spec.name, manifest.path, manifest.model_kind, evidence,
                                                       first, threads, log))
    instances = [first] + [load(manifest.path, manifest.model_kind, config.device, evidence)
                           for _ in range(config.batching.instances - 1)]
    return Admitted(admission, tuple(instances))


def _worker_instances(config: ServeConfig, name: str, path: str, kind: Any, evidence: str | None, first: Backend,
                      threads: int, log: Log) -> tuple[Backend, ...]:
    """The admitted model's instances in worker processes; the guard's own instance is dropped once they run."""
    from .instances import InstanceRecipe, start_instances

    recipe = InstanceRecipe(config.backend, path, kind, config.device, evidence, threads,
                            getattr(first, "export", None))
    # The guard's own instance goes when admit returns: the workers hold the model, warm-up's trim frees it.
    return start_instances(recipe, config.batching.instances, log, name=name)


def _fingerprint(spec: ModelSpec) -> "Fingerprint | None":
    if spec.fingerprint is None:
        return None
    from ..fingerprint import load_fingerprint

    return load_fingerprint(spec.fingerprint)


def _verify(spec: ModelSpec, backend: Backend, expected: "Fingerprint") -> "Report":
    from ..fingerprint import verify

    loaded = getattr(backend, "loaded", None)
    if loaded is None:
        raise InputError("STC004", f"model {spec.name!r}: the {backend.name} backend cannot run verify yet",
                         spec.fingerprint)
    return verify(loaded, expected, progress=False)
