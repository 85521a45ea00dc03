"""`check`'s default human view: one block per (model, target)."""

from __future__ import annotations

from typing import Sequence

from rich.console import Console
from rich.table import Table
from rich.text import Text

from ..rules.engine import CheckResult
from . import shown_path
from .console import capture
from .safe import printable

VERDICT_STYLE = {"ok": "bold green", "degraded": "bold yellow", "fails": "bold red", "unknown": "bold magenta"}
EFFECT_STYLE = {"fails": "red", "degraded": "yellow", "unknown": "magenta", "info": "dim"}


def render(results: Sequence[CheckResult]) -> str:
    """A summary table, then the findings of every pair that is not plainly ok."""
    return capture(lambda console: draw(console, results))


def draw(console: Console, results: Sequence[CheckResult]) -> None:
    """Print the summary and the findings."""
    summary = Table(title="stcompat check", title_justify="left")
    for column in ("model", "saved with", "target", "verdict", "predicted error"):
        summary.add_column(column, overflow="fold")
    for r in results:
        saved = (r.model.saved_with or {}).get("sentence_transformers", "?")
        error = f"{r.predicted_error.type}: {(r.predicted_error.message.splitlines() or [''])[0]}" \
            if r.predicted_error else ""
        summary.add_row(printable(shown_path(r.model.path)), printable(f"ST {saved}"), printable(r.target.label()),
                        Text(r.verdict, style=VERDICT_STYLE[r.verdict]), printable(error))
    console.print(summary)
    for r in results:
        shown = list(r.findings)
        if not shown:
            continue
        loaded = "" if r.loader == "sentence-transformer" else f"  ({r.loader})"
        console.print(Text(printable(f"\n{shown_path(r.model.path)}{loaded}  →  {r.target.description}"),
                           style="bold"))
        if r.target.pins_added or r.target.resolved_by:
            console.print(Text(printable(
                f"  target completed by {r.target.resolved_by}"
                + (f" with pins {', '.join(r.target.pins_added)}" if r.target.pins_added else "")
                + ": " + ", ".join(f"{k} {v}" for k, v in sorted(r.target.versions.items())))))
        for f in shown:
            where = f" [{f.file}{'#' + f.key if f.key else ''}]" if f.file else ""
            console.print(Text(printable(f"  {f.effect:<8} {f.code} {f.name}: {f.message}{where}"),
                               style=EFFECT_STYLE[f.effect]))
        if r.fix:
            console.print(Text(printable(f"  fix: pip install {' '.join(repr(x).replace(chr(39), chr(34)) for x in r.fix)}"),
                               style="bold"))
        for note in r.fix_notes:
            console.print(Text(printable(f"       {note}")))
