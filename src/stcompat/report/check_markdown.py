"""`check --format markdown`: a table and findings, for pull requests and reports."""

from __future__ import annotations

from typing import Sequence

from ..rules.engine import CheckResult
from .safe import one_line


def _cell(text: object) -> str:
    # Strings from a model folder: no control characters, no table breaks, no HTML.
    return one_line(text).replace("\\n", " ").replace("|", "\\|").replace("<", "&lt;")


def render(results: Sequence[CheckResult]) -> str:
    """Markdown text."""
    lines = ["| model | saved with | target | verdict | predicted error |", "|---|---|---|---|---|"]
    for r in results:
        saved = (r.model.saved_with or {}).get("sentence_transformers", "?")
        error = f"`{r.predicted_error.type}: {_cell(r.predicted_error.message)}`" if r.predicted_error else ""
        lines.append(f"| `{_cell(r.model.path)}` | {_cell(saved)} | {_cell(r.target.label())} | **{r.verdict}** | {error} |")
    for r in results:
        if not r.findings:
            continue
        lines += ["", f"### `{_cell(r.model.path)}` on {_cell(r.target.description)}", ""]
        for f in r.findings:
            where = f" (`{_cell(f.file)}`{' `' + _cell(f.key) + '`' if f.key else ''})" if f.file else ""
            lines.append(f"- **{f.effect.value}** `{f.code}` {f.name}: {_cell(f.message)}{where}")
        if r.fix:
            lines.append(f"- fix: `pip install {' '.join(repr(x) for x in r.fix)}`")
    return "\n".join(lines) + "\n"
