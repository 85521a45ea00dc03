"""`check --format json`: schema ``stcompat.check/1`` (docs/check-schema.md)."""

from __future__ import annotations

from typing import Any, Sequence

from ..rules.engine import CheckResult
from .safe import dumps

SCHEMA = "stcompat.check/1"


def result_dict(result: CheckResult) -> dict[str, Any]:
    """One (model, target) pair."""
    stack = result.target
    return {
        "model": result.model.path,
        "loader": result.loader,
        "saved_with": dict(result.model.saved_with or {}) or None,
        "target": {
            "description": stack.description,
            "versions": {name: str(version) for name, version in sorted(stack.versions.items())},
            "unresolved": dict(stack.ranges),
            "pins_added": list(stack.pins_added),
            "resolved_by": stack.resolved_by,
        },
        "verdict": result.verdict,
        "predicted_error": ({"type": result.predicted_error.type, "message": result.predicted_error.message}
                            if result.predicted_error else None),
        "findings": [
            {"code": f.code, "name": f.name, "effect": f.effect.value, "message": f.message,
             "file": f.file, "key": f.key,
             "error": {"type": f.error.type, "message": f.error.message} if f.error else None,
             "fix": f.fix}
            for f in result.findings
        ],
        "fix": list(result.fix),
        "fix_notes": list(result.fix_notes),
    }


def render(results: Sequence[CheckResult]) -> str:
    """``{"schema", "results": [...]}``."""
    return dumps({"schema": SCHEMA, "results": [result_dict(r) for r in results]})
