"""The matrix as a heatmap PNG: models x releases, colour = outcome, annotated with the max difference."""

from __future__ import annotations

from pathlib import Path

from .runner import MatrixResult

COLOURS = {"ok": "#4caf50", "degraded": "#ffb300", "fails": "#e53935", "env-error": "#9e9e9e"}


def _label(cell) -> str:
    if cell.outcome == "fails":
        return (cell.error or {}).get("type", "error")[:18]
    if cell.outcome == "env-error":
        return "env error"
    if cell.max_abs_diff is not None:
        return f"{cell.max_abs_diff:.1e}"
    return "ref" if cell.release == "current" else cell.outcome


def plot(result: MatrixResult, path: str | Path) -> Path:
    """Write the heatmap; returns the path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    outcomes = list(COLOURS)
    rows = [Path(m).parent.name + "/" + Path(m).name for m in result.models]
    grid = [[outcomes.index(c.outcome) for c in result.cells[i * len(result.releases):(i + 1) * len(result.releases)]]
            for i in range(len(result.models))]
    width = 1.6 + 1.15 * len(result.releases)
    height = 1.2 + 0.45 * len(rows)
    fig, ax = plt.subplots(figsize=(width, height))
    ax.imshow(grid, cmap=ListedColormap([COLOURS[o] for o in outcomes]), vmin=0, vmax=len(outcomes) - 1,
              aspect="auto")
    ax.set_xticks(range(len(result.releases)), [f"ST {r}" if r != "current" else "current" for r in result.releases],
                  rotation=30, ha="right", fontsize=8)
    ax.set_yticks(range(len(rows)), rows, fontsize=8)
    for i in range(len(rows)):
        for j in range(len(result.releases)):
            cell = result.cells[i * len(result.releases) + j]
            ax.text(j, i, _label(cell), ha="center", va="center", fontsize=6.5)
    ax.legend(handles=[Patch(color=COLOURS[o], label=o) for o in outcomes], loc="upper center",
              bbox_to_anchor=(0.5, -0.18 - 0.02 * len(rows) ** 0.5), ncol=4, fontsize=7, frameon=False)
    ax.set_title(f"stcompat matrix (reference: {result.reference})", fontsize=9)
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out, dpi=130)
    plt.close(fig)
    return out
