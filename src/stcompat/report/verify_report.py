"""Show a verify/compare Report: a rich table for people, JSON (``stcompat.verify/1``) for machines.

The JSON form needs the standard library alone: fingerprint/verify_cli.py prints it inside
environments that have no rich. It is standard JSON (report/safe.py): a metric that is not a
number (NaN, from degenerate embeddings such as all-zero or NaN rows) is written as the string
"NaN" ("Infinity", "-Infinity" likewise), and strings holding lone surrogates (a non-UTF-8 file
name) carry them as visible escapes, so the output is valid UTF-8. The table shows every string
it did not write as data: no markup, control characters escaped.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .safe import dumps, one_line, printable

if TYPE_CHECKING:
    from rich.console import Console

    from ..fingerprint.verdict import Report

_STYLE = {"identical": "bold green", "noise": "green", "drift": "yellow", "broken": "bold red"}


def render_json(report: "Report") -> str:
    """The report as indented, standard JSON (see the module docstring for NaN and surrogates)."""
    return dumps(report.as_dict(), indent=1)


def _fmt(value: Any, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)


def _cos(value: float | None) -> str:
    # Cross-release noise sits at 1 - 1e-12: eight decimals would print it as 1.00000000.
    if value is None:
        return "n/a"
    if value != value:  # NaN: degenerate embeddings
        return "nan"
    if 0.0 < 1.0 - value < 1e-7:
        return f"1-{1.0 - value:.1e}"
    return f"{value:.8f}"


def render_table(report: "Report") -> str:
    """The verdict, the metrics of each set, the diagnosis and the notes."""
    from .console import capture

    return capture(lambda console: draw_table(console, report))


def draw_table(console: "Console", report: "Report") -> None:
    """Print the verdict, the metrics of each set, the diagnosis and the notes."""
    from rich.table import Table
    from rich.text import Text

    # The console interprets no markup: styles come as Text, and data (paths, versions, prompt names
    # from a fingerprint header) passes one_line()/printable(), so escapes cannot reach the terminal
    # and a newline in a value cannot forge a line of the report.
    headline = Text(report.verdict.upper(), style=_STYLE[report.verdict])
    headline.append(one_line(f"  {report.title}"))
    console.print(headline)
    console.print(Text(one_line("  " + "; ".join(report.reasons))))
    table = Table(show_edge=False, pad_edge=False)
    for col in ("set", "texts", "dim", "max |diff|", "mean cos", "min cos", "norms (now)",
                f"top-{report.metrics.topk}", "spearman"):
        table.add_column(col, justify="left" if col == "set" else "right")
    for name, m in report.set_metrics.items():
        dim = str(m.dim_actual) if m.dim_actual == m.dim_expected else f"{m.dim_expected}->{m.dim_actual}"
        table.add_row(printable(name), str(m.rows), dim, _fmt(m.max_abs_diff, ".3g"), _cos(m.mean_cosine),
                      _cos(m.min_cosine), f"{m.norm_actual[0]:.4g}..{m.norm_actual[1]:.4g}",
                      f"{m.topk_agreement:.3f}", f"{m.spearman:.6f}")
    console.print(table)
    if report.diagnosis:
        console.print("diagnosis:")
        for d in report.diagnosis:
            line = Text("  ")
            line.append("cause  " if d.cause else "context", style="red" if d.cause else "dim")
            line.append(one_line(f" {d.message}"))
            console.print(line)
    for note in report.notes:
        line = Text("  ")
        line.append("note", style="yellow")
        line.append(one_line(f" {note}"))
        console.print(line)
