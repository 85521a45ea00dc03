"""Writing knowledge-base files: compact JSON with one release per line, so diffs stay readable."""

from __future__ import annotations

import json
from pathlib import Path

DATA = Path(__file__).resolve().parents[1] / "kb" / "data"
"""The bundled knowledge base (src/stcompat/kb/data), which tools/build_kb.py regenerates."""


def dumps(document: dict) -> str:
    """Compact JSON: each release on its own line, every other key on one line."""
    lines = ["{"]
    items = list(document.items())
    for index, (key, value) in enumerate(items):
        comma = "," if index < len(items) - 1 else ""
        if key == "releases":
            lines.append(f"{json.dumps(key)}: [")
            lines.extend(json.dumps(row, ensure_ascii=False, separators=(",", ":"))
                         + ("," if i < len(value) - 1 else "") for i, row in enumerate(value))
            lines.append("]" + comma)
        else:
            lines.append(f"{json.dumps(key)}: {json.dumps(value, ensure_ascii=False, separators=(',', ':'))}{comma}")
    lines.append("}")
    return "\n".join(lines) + "\n"


def write(document: dict, name: str, directory: Path = DATA) -> Path:
    """Write ``document`` as <directory>/<name> (default: the bundled kb/data); returns the path."""
    out = directory / name
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(dumps(document), encoding="utf-8")
    return out


def run(build, name: str) -> int:
    """A facts module's main(): build the document, write kb/data/<name>, say so."""
    document = build()
    path = write(document, name)
    print(f"wrote {path} ({path.stat().st_size} bytes, {len(document['releases'])} releases)")
    return 0
