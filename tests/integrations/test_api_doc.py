"""docs/api.md stays in step with the code: every name it shows imports, and as what it says it is.

The names table's import column and every import statement of the page's Python blocks are run;
a name that imports as a module (the trap `from stcompat import check` falls into once
stcompat/check.py is loaded) fails, and so does a name of ``stcompat.__all__`` the page leaves out.
"""

from __future__ import annotations

import ast
import re
import types
from pathlib import Path

import stcompat

PAGE = Path(__file__).resolve().parents[2] / "docs" / "api.md"
# Imported by the examples but not stcompat's (the pytest example).
OUTSIDE = {"pytest"}


def _table() -> dict[str, str]:
    """name -> its import statement, from the rows of the names table."""
    rows = re.findall(r"^\| `([A-Za-z_][A-Za-z_0-9]*)` \| `(from [^`]+|import [^`]+)` \|", PAGE.read_text(), re.M)
    return dict(rows)


def _code_imports() -> list[ast.stmt]:
    """Every import statement of the page's python blocks."""
    blocks = re.findall(r"```python\n(.*?)```", PAGE.read_text(), re.S)
    assert blocks
    found = []
    for block in blocks:
        found += [node for node in ast.walk(ast.parse(block)) if isinstance(node, (ast.Import, ast.ImportFrom))]
    return found


def _run(statement: str) -> dict[str, object]:
    namespace: dict[str, object] = {}
    exec(compile(statement, str(PAGE), "exec"), namespace)  # noqa: S102 - the page's own import lines
    namespace.pop("__builtins__", None)
    return namespace


def test_every_name_in_the_table_imports_as_what_it_names():
    table = _table()
    assert len(table) >= 15
    for name, statement in table.items():
        value = _run(statement)[name]
        if name != "__version__":
            assert not isinstance(value, types.ModuleType), f"{statement!r} gives a module, not {name}"
            assert callable(value), (name, value)


def test_every_import_in_the_examples_runs():
    statements = _code_imports()
    assert len(statements) >= 5
    for node in statements:
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in OUTSIDE:
            continue
        namespace = _run(ast.unparse(node))
        for name, value in namespace.items():
            if name not in OUTSIDE:
                assert not isinstance(value, types.ModuleType), f"{ast.unparse(node)!r}: {name} is a module"


def test_every_public_name_is_on_the_page():
    missing = set(stcompat.__all__) - set(_table())
    assert not missing, f"docs/api.md does not list {sorted(missing)}"
