"""`check --format sarif`: SARIF 2.1.0 for code-scanning dashboards (one result per finding)."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from .. import __version__
from ..rules.engine import CheckResult
from .safe import dumps
from ..codes import RULES

_LEVEL = {"fails": "error", "degraded": "warning", "unknown": "warning", "info": "note"}


def render(results: Sequence[CheckResult]) -> str:
    """A SARIF log whose rules come from the registry."""
    used = sorted({f.code for r in results for f in r.findings})
    rules = [{"id": code, "name": RULES[code].name, "shortDescription": {"text": RULES[code].what},
              "fullDescription": {"text": RULES[code].why}, "help": {"text": RULES[code].fix}} for code in used]
    sarif_results = []
    for r in results:
        for f in r.findings:
            location = Path(r.model.path) / (f.file or "")
            sarif_results.append({
                "ruleId": f.code,
                "level": _LEVEL[f.effect],
                "message": {"text": f"{f.message} (target: {r.target.description}; verdict {r.verdict})"},
                "locations": [{"physicalLocation": {"artifactLocation": {"uri": location.as_uri()}}}],
                "properties": {"effect": f.effect.value, "key": f.key, "target": r.target.description,
                               **({"predictedError": f"{f.error.type}: {f.error.message}"} if f.error else {})},
            })
    log = {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{"tool": {"driver": {"name": "stcompat", "version": __version__, "rules": rules}},
                  "results": sarif_results}],
    }
    return dumps(log)
