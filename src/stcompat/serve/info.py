"""GET /info: per model, what was saved, what runs it, and what the start-up guard found."""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from .state import ServedModel, ServerState

if TYPE_CHECKING:
    from ..fingerprint.verdict import Report
    from ..rules.engine import CheckResult

RUNNING_PACKAGES = ("sentence-transformers", "transformers", "tokenizers", "torch", "numpy", "huggingface-hub",
                    "fastapi", "uvicorn")


def running_versions() -> dict[str, str]:
    """Versions installed here (distribution metadata; nothing imported), python included."""
    import platform
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for name in RUNNING_PACKAGES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            continue
    return out


def _check(result: "CheckResult") -> dict[str, Any]:
    error = result.predicted_error
    return {
        "verdict": result.verdict.value,
        "loader": result.loader,
        "predicted_error": {"type": error.type, "message": error.message} if error else None,
        "findings": [{"code": f.code, "name": f.name, "effect": f.effect.value, "message": f.message,
                      "file": f.file, "key": f.key} for f in result.findings],
    }


def _verify(report: "Report | None", file: str | None) -> dict[str, Any] | None:
    if report is None:
        return None
    return {"file": file, "band": report.verdict.value, "acceptable": report.verdict.acceptable,
            "metrics": report.metrics.as_dict(), "reasons": list(report.reasons),
            "diagnosis": [asdict(d) for d in report.diagnosis], "notes": list(report.notes)}


def _model(model: ServedModel) -> dict[str, Any]:
    admission = model.admitted.admission
    manifest = admission.check.model
    pids = [pid for pid in (i.describe().get("process") for i in model.admitted.instances) if pid is not None]
    return {
        "path": manifest.path,
        "kind": manifest.model_kind.value,
        "layout": manifest.generation.value,
        "saved_with": dict(manifest.saved_with or {}),
        "check": _check(admission.check),
        "fingerprint": _verify(admission.verify, admission.spec.fingerprint),
        "override": {"active": bool(admission.overridden), "codes": list(admission.overridden),
                     "reasons": list(admission.reasons)},
        "capabilities": model.capabilities.as_dict(),
        "backend": model.admitted.instances[0].describe(),
        "instances": len(model.admitted.instances),
        # Where they run: worker processes (their pids), or threads of the server process.
        "instance_mode": "process" if pids else "thread",
        "instance_processes": pids,
        "queue_depth": model.batcher.pending,
    }


def info_body(state: ServerState) -> dict[str, Any]:
    """The whole /info document."""
    from .. import __version__

    config = state.config
    return {
        "stcompat": __version__,
        "running": dict(state.running),
        "ready": state.ready and not state.draining,
        "override": {"allow_unsafe": config.allow_unsafe, "active": bool(state.overridden),
                     "header": state.override_header()},
        "limits": asdict(config.limits),
        "batching": asdict(config.batching),
        "auth": config.api_key is not None,
        "models": {name: _model(m) for name, m in state.models.items()},
    }
