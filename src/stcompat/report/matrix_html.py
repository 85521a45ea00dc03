"""`matrix --html FILE`: one self-contained page (table, every cell's details, the heatmap inline)."""

from __future__ import annotations

import base64
import html
import tempfile
from pathlib import Path

from ..matrix.runner import MatrixResult
from . import shown_path

_COLOURS = {"ok": "#c8e6c9", "degraded": "#ffe082", "fails": "#ef9a9a", "env-error": "#e0e0e0"}


def _cell_html(cell) -> str:
    detail = ""
    if cell.outcome == "fails" and cell.error:
        detail = html.escape(str(cell.error.get("type", "")))
    elif cell.max_abs_diff is not None:
        detail = f"max |&Delta;| {cell.max_abs_diff:.1e}<br>min cos {cell.min_cosine:.8f}"
    tip = html.escape("; ".join(cell.reasons) or ", ".join(f"{k} {v}" for k, v in cell.versions.items()))
    return (f'<td style="background:{_COLOURS.get(cell.outcome, "#fff")}" title="{tip}">'
            f"<b>{cell.outcome}</b><br><small>{detail}</small></td>")


def render(result: MatrixResult) -> str:
    """The page."""
    width = len(result.releases)
    head = "".join(f"<th>{'ST ' + r if r != 'current' else 'current'}</th>" for r in result.releases)
    rows = []
    for i, model in enumerate(result.models):
        cells = "".join(_cell_html(c) for c in result.cells[i * width:(i + 1) * width])
        rows.append(f"<tr><th>{html.escape(shown_path(model))}</th>{cells}</tr>")
    details = []
    for cell in result.cells:
        if cell.outcome == "ok" and not cell.warnings:
            continue
        lines = [f"<h3>{html.escape(shown_path(cell.model))} @ {html.escape(cell.release)}: {cell.outcome}</h3>"]
        if cell.reasons:
            lines.append("<p>" + html.escape("; ".join(cell.reasons)) + "</p>")
        if cell.error and cell.error.get("traceback_tail"):
            lines.append("<pre>" + html.escape("\n".join(cell.error["traceback_tail"])) + "</pre>")
        if cell.warnings:
            lines.append("<ul>" + "".join(f"<li>{html.escape(w.get('message', ''))}</li>" for w in cell.warnings[:5])
                         + "</ul>")
        lines.append("<p><small>" + html.escape(", ".join(cell.pins)) + "</small></p>")
        details.append("\n".join(lines))
    picture = ""
    try:
        from ..matrix.plot import plot

        with tempfile.TemporaryDirectory() as tmp:
            png = plot(result, Path(tmp) / "matrix.png").read_bytes()
        picture = f'<img alt="heatmap" src="data:image/png;base64,{base64.b64encode(png).decode()}">'
    except ImportError:  # matplotlib is the [plot] extra
        picture = "<p>(install stcompat[plot] for the heatmap)</p>"
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>stcompat matrix</title>
<style>body{{font-family:sans-serif;margin:2em}} table{{border-collapse:collapse}}
td,th{{border:1px solid #999;padding:4px 8px;text-align:center;vertical-align:top}} pre{{background:#f5f5f5;padding:8px}}</style>
</head><body>
<h1>stcompat matrix</h1>
<p>reference: {html.escape(result.reference)}; torch shared by every environment: {html.escape(Path(result.torch).name)}</p>
<table><tr><th>model</th>{head}</tr>
{''.join(rows)}
</table>
{picture}
<h2>Cells that are not plainly ok</h2>
{''.join(details) or '<p>none</p>'}
</body></html>
"""
