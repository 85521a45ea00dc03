"""`check --format sarif`: SARIF 2.1.0 for code-scanning dashboards (one result per finding).

Locations inside the working folder (a CI checkout) are written relative to it, under the base id
``%SRCROOT%`` that GitHub code scanning resolves against the repository root; anything else keeps an
absolute ``file:`` URI. tests/integrations validates the output against the OASIS SARIF 2.1.0 schema.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Sequence
from urllib.parse import quote

from .. import __version__
from ..codes import RULES
from ..rules.engine import CheckResult
from ..vocab import Severity
from .safe import json_safe

_LEVEL = {"fails": "error", "degraded": "warning", "unknown": "warning", "info": "note"}
_DEFAULT_LEVEL = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}
SRCROOT = "%SRCROOT%"


def _relative(path: str, root: str) -> str | None:
    """``path`` relative to ``root`` (as given, then with links resolved), or None when outside it."""
    for a, b in ((os.path.abspath(path), os.path.abspath(root)), (_real(path), _real(root))):
        relative = os.path.relpath(a, b)
        if relative != ".." and not relative.startswith(".." + os.sep):
            return relative
    return None


def _real(path: str) -> str:
    """realpath, or the absolute path when the name cannot reach the file system (a NUL from a model file)."""
    try:
        return os.path.realpath(path)
    except (OSError, ValueError):
        return os.path.abspath(path)


def _uri_bytes(text: str) -> bytes:
    """The bytes a path stands for: file names that are not UTF-8 come back as their own bytes
    (surrogateescape); a lone surrogate from a model file, which names no file, is kept visible."""
    try:
        return os.fsencode(text)
    except UnicodeError:
        return text.encode("utf-8", "backslashreplace")


def _location(model_path: str, file: str | None, root: str) -> dict[str, Any]:
    """The artifactLocation of a finding: its file, or the model folder when it names none."""
    target = os.path.join(model_path, file) if file else model_path
    relative = _relative(target, root)
    if relative is None:
        uri = "file://" + quote(_uri_bytes(os.path.abspath(target)))
        return {"uri": uri + ("/" if not file else "")}
    posix = "" if relative == "." else Path(relative).as_posix()
    # A folder ends with "/" (RFC 3986 resolution keeps its last segment); the root is "./".
    uri = quote(_uri_bytes(posix)) + ("/" if not file and posix else "./" if not posix else "")
    return {"uri": uri, "uriBaseId": SRCROOT}


def render(results: Sequence[CheckResult]) -> str:
    """A SARIF log whose rules come from the registry."""
    root = os.getcwd()
    used = sorted({f.code for r in results for f in r.findings})
    rules = [{"id": code, "name": RULES[code].name, "shortDescription": {"text": RULES[code].what},
              "fullDescription": {"text": RULES[code].why}, "help": {"text": RULES[code].fix},
              "defaultConfiguration": {"level": _DEFAULT_LEVEL[RULES[code].severity]}} for code in used]
    index = {code: i for i, code in enumerate(used)}
    sarif_results = []
    for r in results:
        for f in r.findings:
            sarif_results.append({
                "ruleId": f.code,
                "ruleIndex": index[f.code],
                "level": _LEVEL[f.effect],
                "message": {"text": f"{f.message} (target: {r.target.description}; verdict {r.verdict})"},
                "locations": [{"physicalLocation": {"artifactLocation": _location(r.model.path, f.file, root)}}],
                "properties": {"effect": f.effect.value, "key": f.key, "target": r.target.description,
                               **({"predictedError": f"{f.error.type}: {f.error.message}"} if f.error else {})},
            })
    run: dict[str, Any] = {"tool": {"driver": {"name": "stcompat", "version": __version__, "rules": rules}},
                           "results": sarif_results}
    if any(loc["physicalLocation"]["artifactLocation"].get("uriBaseId") == SRCROOT
           for res in sarif_results for loc in res["locations"]):
        run["originalUriBaseIds"] = {SRCROOT: {"uri": Path(root).as_uri() + "/"}}
    log = {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [run],
    }
    # Strings from a model folder may hold lone surrogates: json_safe keeps the output valid UTF-8.
    return json.dumps(json_safe(log), indent=2)
