"""`stcompat kb`: what the knowledge base covers, as a table or JSON."""

from __future__ import annotations

from typing import Mapping

from .safe import dumps


def render_json(coverage: Mapping[str, Mapping[str, str]]) -> str:
    """Per package: count, oldest, newest, built, facts."""
    return dumps(coverage)


def render_table(coverage: Mapping[str, Mapping[str, str]]) -> str:
    """One row per package."""
    from rich.table import Table

    from .console import capture

    table = Table(title="stcompat knowledge base", title_justify="left")
    for column in ("package", "releases", "oldest", "newest", "built", "facts"):
        table.add_column(column)
    for package, info in coverage.items():
        table.add_row(package, str(info["count"]), info["oldest"], info["newest"], info["built"], info["facts"])
    return capture(lambda console: console.print(table))
