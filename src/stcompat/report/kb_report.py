"""`stcompat kb` and `stcompat kb update`: what the knowledge base covers, and what an update added."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any, Mapping

from .safe import dumps


def render_json(coverage: Mapping[str, Mapping[str, str]]) -> str:
    """Per package: count, oldest, newest, built, facts, and bundled vs updated (newest, from where, when)."""
    return dumps(coverage)


def render_table(coverage: Mapping[str, Mapping[str, str]]) -> str:
    """One row per package; a second table says where each part's knowledge came from."""
    from rich.table import Table

    from .console import capture

    table = Table(title="stcompat knowledge base", title_justify="left")
    for column in ("package", "releases", "oldest", "newest", "bundled newest", "updated newest", "facts"):
        table.add_column(column)
    for package, info in coverage.items():
        table.add_row(package, str(info["count"]), info["oldest"], info["newest"], info.get("bundled_newest", "-"),
                      info.get("updated_newest", "-"), info["facts"])
    origin = Table(title="where it came from", title_justify="left")
    for column in ("package", "bundled", "update", "updated at"):
        origin.add_column(column)
    for package, info in coverage.items():
        origin.add_row(package, info.get("bundled_from", f"built {info['built']}"), info.get("updated_from", "-"),
                       info.get("updated", "-"))

    def draw(console) -> None:
        console.print(table)
        console.print(origin)

    return capture(draw)


def render_update_json(result: Any) -> str:
    """The update: per part, bundled newest, newest now, what was added or replaced, where it was written."""
    return dumps({"schema": "stcompat.kb-update/1", **asdict(result)})


def render_update_table(result: Any) -> str:
    """One row per part."""
    from rich.table import Table

    from .console import capture

    mode = "offline: only cached indexes and artifacts were read" if result.offline else "from the package registry"
    title = f"stcompat kb update ({mode}{', releases up to ' + result.until if result.until else ''})"
    table = Table(title=title, title_justify="left")
    for column in ("package", "bundled newest", "newest now", "added", "replaced", "index"):
        table.add_column(column)
    for part in result.parts:
        table.add_row(part.part, part.bundled_newest or "-", part.newest or "-",
                      ", ".join(part.added) or "nothing newer", ", ".join(part.replaced) or "-",
                      f"{part.source} ({part.index_fetched or '?'})")
    return capture(lambda console: (console.print(table), console.print(f"written to {result.folder}")))
