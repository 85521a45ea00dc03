"""`matrix` output: rich table and the ``stcompat.matrix/1`` JSON (docs/matrix-schema.md)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from ..matrix.runner import MatrixResult
from ..vocab import Verdict
from . import shown_path
from .console import capture
from .safe import dumps, printable

SCHEMA = "stcompat.matrix/1"
STYLE = {"ok": "green", "degraded": "yellow", "fails": "red", "env-error": "dim"}


def to_dict(result: MatrixResult) -> dict[str, Any]:
    """The JSON document (embeddings left out)."""
    cells = []
    for cell in result.cells:
        item = asdict(cell)
        item.pop("embeddings")
        cells.append(item)
    return {"schema": SCHEMA, "reference": result.reference, "torch": result.torch, "loader": result.loader,
            "releases": list(result.releases), "models": list(result.models), "cells": cells}


def render_json(result: MatrixResult) -> str:
    """``stcompat.matrix/1``."""
    return dumps(to_dict(result))


def render_table(result: MatrixResult) -> str:
    """Models x releases, each cell its outcome and the max difference or error type."""
    return capture(lambda console: draw_table(console, result))


def draw_table(console: Console, result: MatrixResult) -> None:
    """Print the table, each environment's pins and the reasons of every cell that is not ok."""
    loaded = "" if result.loader == "sentence-transformer" else f"; loaded with {result.loader}"
    table = Table(title=f"stcompat matrix (reference: {result.reference}; torch {result.torch.rsplit('/', 1)[-1]}"
                        f"{loaded})",
                  title_justify="left")
    table.add_column("model", overflow="fold")
    for release in result.releases:
        table.add_column(release if release == "current" else f"ST {release}")
    width = len(result.releases)
    for row, model in enumerate(result.models):
        texts = []
        for cell in result.cells[row * width:(row + 1) * width]:
            detail = ""
            if cell.outcome is Verdict.FAILS:
                detail = "\n" + (cell.error or {}).get("type", "")
            elif cell.max_abs_diff is not None:
                detail = f"\n{cell.max_abs_diff:.1e}"
            elif cell.outcome is Verdict.DEGRADED:
                detail = "\n" + cell.reasons[0][:24]
            texts.append(Text(printable(cell.outcome + detail), style=STYLE.get(cell.outcome, "")))
        table.add_row(printable(shown_path(model)), *texts)
    console.print(table)
    shown = set()
    for cell in result.cells:  # the requirements each environment was built from (era pins included)
        if cell.release not in shown and cell.pins:
            shown.add(cell.release)
            console.print(Text(printable(f"  env ST {cell.release}: {', '.join(cell.pins)}"), style="dim"))
    notes = [c for c in result.cells if c.outcome is not Verdict.OK]
    for cell in notes:
        console.print(Text(printable(f"  {shown_path(cell.model)} @ {cell.release}: {cell.outcome}: "
                                     f"{'; '.join(cell.reasons)}"),
                           style=STYLE.get(cell.outcome, "")))
