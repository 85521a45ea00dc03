"""huggingface_hub facts for the knowledge base: which names ``from huggingface_hub import NAME`` finds.

Read with ``ast`` from the wheel of the last patch of every minor release from 0.4 on (pre-releases left out);
nothing from the wheel is installed, imported or run.

Why it matters: sentence-transformers 2.2.2 does
``from huggingface_hub import HfApi, HfFolder, Repository, hf_hub_url, cached_download``; with a
huggingface_hub that no longer exports one of those names the import fails with
``ImportError: cannot import name 'cached_download' from 'huggingface_hub'``.

How ``huggingface_hub/__init__.py`` binds its top-level names changed over time:

* 0.4 - 0.7: plain ``from .x import y`` statements (this reader also walks ``try``/``except`` and ``if``
  branches, all of them, so a name bound in any branch counts).
* 0.8 - 0.9: a vendored lazy loader, ``__getattr__, __dir__, __all__ = _attach(__name__, submodules=[],
  submod_attrs={...})`` with the submodule -> names table written inline in the call.
* 0.10 on: the same with the table in a module-level dict literal ``_SUBMOD_ATTRS = {...}`` passed as
  ``submod_attrs=_SUBMOD_ATTRS``, plus an ``if TYPE_CHECKING:`` block repeating every import for type checkers
  (never executed, so not read here).

Exported names of a release = the names of the lazy table (and of ``submodules=[...]``) + names bound by
relative (or ``huggingface_hub.``-absolute) imports at module level + public names (no leading underscore, and
``__version__``) bound by module-level assignments, ``def`` and ``class``. Left out: absolute imports of other
packages (``import os``, ``from typing import TYPE_CHECKING``), private helpers (``_attach``,
``_SUBMOD_ATTRS``) and the loader's own ``__getattr__``/``__dir__``/``__all__``. Submodules that
``from huggingface_hub import <submodule>`` could import through the import system are not listed.

``has_module_getattr``: the module binds ``__getattr__`` at top level (a ``def`` or an assignment); when it
comes from the vendored ``_attach``, ``getattr_serves_only_table`` says whether the returned ``__getattr__``
ends in ``raise AttributeError`` for names outside the table and ``submodules`` (then it serves nothing more
than the exports listed here).

Run ``python -m stcompat.kbbuild.hub_facts`` to rewrite ``src/stcompat/kb/data/huggingface_hub.json``.
"""

from __future__ import annotations

import ast
import sys
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone

from packaging.version import Version

from . import output, pypi

SCHEMA = "stcompat.kb.huggingface_hub/1"
PACKAGE = "huggingface_hub"
FIRST_MINOR = Version("0.4")
OUTPUT = output.DATA / "huggingface_hub.json"

INIT = "huggingface_hub/__init__.py"
LAZY_TABLE = "_SUBMOD_ATTRS"
LOADER_NAMES = frozenset({"__getattr__", "__dir__", "__all__"})
"""Names the lazy loader binds for itself; not exports."""
KEPT_DUNDERS = frozenset({"__version__"})

NOTE = ("Only the last patch release of each minor version from 0.4 is scanned (pre-releases left out); facts "
        "about other patch releases are those of their minor's last patch. Exports of a scanned release R (what "
        "'from huggingface_hub import NAME' finds, read by ast from huggingface_hub/__init__.py): the lazy "
        "_SUBMOD_ATTRS/_attach(submod_attrs=...) table and submodules list, relative imports at module level (all "
        "try/except/if branches, except 'if TYPE_CHECKING:'), and public module-level assignments/def/class "
        "(plus __version__); absolute imports of other packages, private helpers and the loader's "
        "__getattr__/__dir__/__all__ are left out, and so are submodules reachable through the import system. "
        "A name is exported by R iff first_release_exporting[name] <= R, and (name not in "
        "last_release_exporting or R <= last_release_exporting[name]), and R is not inside one of gaps[name] "
        "(each gap [absent_from, back_in): scanned releases from absent_from up to, not including, back_in lack "
        "the name). last_release_exporting lists only names the newest scanned release no longer exports. Each "
        "row lists exports_added/exports_removed against the previous scanned row and export_count. "
        "has_module_getattr: __init__ binds a module-level __getattr__; getattr_serves_only_table: that "
        "__getattr__ (from the vendored _attach) raises AttributeError for anything outside the lazy table and "
        "submodules (null without a __getattr__). unresolved_exports: lazy-table names that their submodule "
        "does not bind at module level (then 'from huggingface_hub import NAME' would fail there too). "
        "See stcompat/kbbuild/hub_facts.py.")


# --- reading __init__.py -------------------------------------------------------------------------------------

def _is_type_checking(test: ast.expr) -> bool:
    """``if TYPE_CHECKING:`` / ``if typing.TYPE_CHECKING:``."""
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def module_statements(body: list[ast.stmt]) -> list[ast.stmt]:
    """Statements that run at import time at module level: ``try``/``except``/``else``/``finally`` and ``if``
    branches are flattened (all of them); ``if TYPE_CHECKING:`` bodies are left out (their ``else`` kept)."""
    found: list[ast.stmt] = []
    for node in body:
        if isinstance(node, ast.Try) or (sys.version_info >= (3, 11) and isinstance(node, ast.TryStar)):
            found.extend(module_statements(node.body))
            for handler in node.handlers:
                found.extend(module_statements(handler.body))
            found.extend(module_statements(node.orelse))
            found.extend(module_statements(node.finalbody))
        elif isinstance(node, ast.If):
            if not _is_type_checking(node.test):
                found.extend(module_statements(node.body))
            found.extend(module_statements(node.orelse))
        else:
            found.append(node)
    return found


def _target_names(target: ast.expr) -> list[str]:
    if isinstance(target, ast.Name):
        return [target.id]
    if isinstance(target, (ast.Tuple, ast.List)):
        return [name for element in target.elts for name in _target_names(element)]
    if isinstance(target, ast.Starred):
        return _target_names(target.value)
    return []


def _is_own_import(node: ast.ImportFrom, package: str) -> bool:
    return node.level > 0 or (node.module or "").split(".")[0] == package


def _string_table(node: ast.expr, where: str) -> dict[str, list[str]]:
    """A ``{"submodule": ["name", ...]}`` dict literal; anything else stops the build."""
    try:
        value = ast.literal_eval(node)
    except ValueError as error:
        raise ValueError(f"{where}: lazy table is not a literal ({error})") from None
    if not (isinstance(value, dict) and all(isinstance(k, str) and isinstance(v, (list, tuple, set))
                                            and all(isinstance(n, str) for n in v) for k, v in value.items())):
        raise ValueError(f"{where}: lazy table is not a dict of str -> list of str")
    return {key: list(names) for key, names in value.items()}


def _string_list(node: ast.expr, where: str) -> list[str]:
    try:
        value = ast.literal_eval(node)
    except ValueError as error:
        raise ValueError(f"{where}: submodules list is not a literal ({error})") from None
    if not (isinstance(value, (list, tuple, set)) and all(isinstance(n, str) for n in value)):
        raise ValueError(f"{where}: submodules is not a list of str")
    return list(value)


def _getattr_only_table(function: ast.FunctionDef) -> bool | None:
    """Whether the ``def __getattr__`` nested in the loader factory ends in an if/elif chain whose final
    ``else`` raises AttributeError (so names outside the table and submodules are refused); None if the
    factory defines no ``__getattr__``."""
    inner = [node for node in ast.walk(function) if isinstance(node, ast.FunctionDef) and node.name == "__getattr__"]
    if not inner:
        return None
    last = inner[0].body[-1]
    while isinstance(last, ast.If) and last.orelse:
        last = last.orelse[-1]
    if not isinstance(last, ast.Raise) or last.exc is None:
        return False
    exc = last.exc.func if isinstance(last.exc, ast.Call) else last.exc
    return isinstance(exc, ast.Name) and exc.id == "AttributeError"


def init_exports(source: str, where: str = INIT, package: str = PACKAGE) -> dict:
    """Exports of a package ``__init__.py`` (see the module docstring), and how its ``__getattr__`` came to be.

    Returns ``exports`` (sorted names), ``table`` (name -> submodule for lazy names), ``has_module_getattr`` and
    ``getattr_serves_only_table``.
    """
    tree = ast.parse(source, filename=where)
    statements = module_statements(tree.body)
    functions = {node.name: node for node in statements if isinstance(node, ast.FunctionDef)}
    literals: dict[str, ast.expr] = {}
    exports: set[str] = set()
    table: dict[str, str] = {}
    has_getattr = False
    only_table: bool | None = None

    def public(name: str) -> bool:
        return name in KEPT_DUNDERS or (not name.startswith("_") and name not in LOADER_NAMES)

    for node in statements:
        if isinstance(node, ast.ImportFrom):
            if not _is_own_import(node, package):
                continue
            for alias in node.names:
                if alias.name == "*":
                    raise ValueError(f"{where}: 'from {'.' * node.level}{node.module or ''} import *' "
                                     "cannot be resolved statically")
                exports.add(alias.asname or alias.name)
        elif isinstance(node, ast.Import):
            for alias in node.names:  # "import huggingface_hub.x as y" binds y; plain "import os" is no export
                if alias.asname and alias.name.split(".")[0] == package:
                    exports.add(alias.asname)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            if node.name == "__getattr__":
                has_getattr = True
            elif public(node.name):
                exports.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names = [name for target in targets for name in _target_names(target)]
            for target in targets:
                if (isinstance(target, ast.Subscript) and isinstance(target.value, ast.Name)
                        and target.value.id == LAZY_TABLE):
                    raise ValueError(f"{where}: {LAZY_TABLE} changed by item assignment; not handled")
            if isinstance(node, ast.Assign) and len(names) == 1 and node.value is not None:
                literals[names[0]] = node.value
            exports.update(name for name in names if public(name))
            if "__getattr__" not in names:
                continue
            has_getattr = True
            call = node.value
            if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id in functions):
                only_table = None
                continue
            arguments = {keyword.arg: keyword.value for keyword in call.keywords if keyword.arg}
            for index, key in ((1, "submodules"), (2, "submod_attrs")):
                if len(call.args) > index:
                    arguments[key] = call.args[index]
            attrs = arguments.get("submod_attrs")
            if isinstance(attrs, ast.Name):
                if attrs.id not in literals:
                    raise ValueError(f"{where}: {attrs.id} is not bound to a literal before the loader call")
                attrs = literals[attrs.id]
            if attrs is not None and not (isinstance(attrs, ast.Constant) and attrs.value is None):
                for submodule, names_ in _string_table(attrs, where).items():
                    for name in names_:
                        table[name] = submodule
            submodules = arguments.get("submodules")
            if submodules is not None and not (isinstance(submodules, ast.Constant) and submodules.value is None):
                for name in _string_list(submodules, where):
                    table[name] = name
            only_table = _getattr_only_table(functions[call.func.id])
        elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
            func = node.value.func
            if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id == LAZY_TABLE:
                raise ValueError(f"{where}: {LAZY_TABLE}.{func.attr}(...) changes the lazy table; not handled")
    if LAZY_TABLE in literals and not table:
        raise ValueError(f"{where}: {LAZY_TABLE} is defined but not passed to a loader that binds __getattr__")
    exports.update(table)
    return {
        "exports": sorted(exports),
        "table": dict(sorted(table.items())),
        "has_module_getattr": has_getattr,
        "getattr_serves_only_table": only_table if has_getattr else None,
    }


def module_bindings(source: str) -> tuple[set[str], bool]:
    """Names a module binds at top level (any try/if/with/for branch, TYPE_CHECKING included), and whether
    it may bind more than it shows (a star import or its own ``__getattr__``)."""
    bound: set[str] = set()
    unsure = False

    def walk(body: list[ast.stmt]) -> None:
        nonlocal unsure
        for node in body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                bound.add(node.name)
                unsure = unsure or node.name == "__getattr__"
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                for alias in node.names:
                    if alias.name == "*":
                        unsure = True
                    else:
                        bound.add(alias.asname or alias.name.split(".")[0])
            elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                bound.update(name for target in targets for name in _target_names(target))
            elif isinstance(node, ast.Try):
                walk(node.body)
                for handler in node.handlers:
                    walk(handler.body)
                walk(node.orelse)
                walk(node.finalbody)
            elif isinstance(node, (ast.If, ast.With, ast.For)):
                walk(node.body)
                walk(getattr(node, "orelse", []))

    walk(ast.parse(source).body)
    return bound, unsure


def unresolved(files: dict[str, str], table: dict[str, str]) -> list[str]:
    """Lazy-table names whose submodule file is missing or does not bind them at top level. Benefit of the
    doubt for a submodule with a star import or its own ``__getattr__``, and for a name that is itself a module
    inside the submodule's package (``"utils": ["logging"]`` with ``utils/logging.py``)."""
    missing = []
    parsed: dict[str, tuple[set[str], bool] | None] = {}
    for name, submodule in table.items():
        stem = f"{PACKAGE}/" + submodule.replace(".", "/")
        if submodule not in parsed:
            source = files.get(stem + ".py", files.get(stem + "/__init__.py"))
            parsed[submodule] = None if source is None else module_bindings(source)
        found = parsed[submodule]
        if found is None:
            missing.append(name)
        elif submodule == name or name in found[0] or found[1]:
            continue
        elif f"{stem}/{name}.py" in files or f"{stem}/{name}/__init__.py" in files:
            continue  # a submodule of the submodule: an attribute of its package once anything imports it
        else:
            missing.append(name)
    return sorted(missing)


# --- releases ------------------------------------------------------------------------------------------------

def release_facts(version: str, artifact: pypi.Artifact) -> dict:
    """Facts of one release, from its wheel; ``exports`` is kept for the spans and removed before writing."""
    path = pypi.download(artifact)
    files = {name: data.decode("utf-8", "replace") for name, data in pypi.members(path, (".py",))
             if name.startswith(PACKAGE + "/")}
    if INIT not in files:
        raise ValueError(f"{artifact.filename}: no {INIT}")
    facts = init_exports(files[INIT], f"{artifact.filename}:{INIT}")
    return {
        "version": version,
        "artifact": artifact.record(),
        "requires_python": pypi.requires_python(pypi.metadata_text(path)) or artifact.requires_python,
        "export_count": len(facts["exports"]),
        "has_module_getattr": facts["has_module_getattr"],
        "getattr_serves_only_table": facts["getattr_serves_only_table"],
        "lazy_table_size": len(facts["table"]),
        "unresolved_exports": unresolved(files, facts["table"]),
        "exports": facts["exports"],
    }


def export_spans(rows: list[dict]) -> tuple[dict[str, str], dict[str, str], dict[str, list[list[str]]]]:
    """first_release_exporting, last_release_exporting (names absent from the newest row) and gaps
    (name -> [[absent_from, back_in], ...]); also sets each row's exports_added/exports_removed."""
    first: dict[str, str] = {}
    last_seen: dict[str, str] = {}
    gone_since: dict[str, str] = {}
    gaps: dict[str, list[list[str]]] = {}
    previous: set[str] = set()
    for row in rows:
        current = set(row["exports"])
        added, removed = sorted(current - previous), sorted(previous - current)
        for name in added:
            if name in first:
                gaps.setdefault(name, []).append([gone_since.pop(name), row["version"]])
            else:
                first[name] = row["version"]
        for name in removed:
            gone_since[name] = row["version"]
        for name in current:
            last_seen[name] = row["version"]
        row["exports_added"], row["exports_removed"] = added, removed
        previous = current
    last = {name: last_seen[name] for name in gone_since}
    return dict(sorted(first.items())), dict(sorted(last.items())), dict(sorted(gaps.items()))


def exports_at(document: dict, version: str) -> list[str]:
    """A scanned release's exports, rebuilt from the spans and gaps (what a reader of the JSON does)."""
    order = [row["version"] for row in document["releases"]]
    index = order.index(version)
    last = document["last_release_exporting"]
    gaps = document.get("gaps", {})
    return sorted(name for name, first in document["first_release_exporting"].items()
                  if order.index(first) <= index
                  and (name not in last or index <= order.index(last[name]))
                  and not any(order.index(start) <= index < order.index(end) for start, end in gaps.get(name, [])))


def select(all_releases: dict[str, list[pypi.Artifact]]) -> dict[str, pypi.Artifact]:
    """The releases the knowledge covers (each minor's last patch from FIRST_MINOR) and their wheels."""
    return pypi.last_patch_wheels(PACKAGE, FIRST_MINOR, all_releases)


def extract(artifacts: dict[str, pypi.Artifact]) -> list[dict]:
    """One row per release (with its ``exports``), in the order given (oldest first)."""
    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(lambda item: release_facts(*item), artifacts.items()))


def build(until: datetime | None = None) -> dict:
    """The huggingface_hub part of the knowledge base (releases published up to ``until``)."""
    all_releases = pypi.releases(PACKAGE, until=until)
    return assemble(extract(select(all_releases)), all_releases)


def rows_of(document: dict) -> list[dict]:
    """A written document's rows with their ``exports`` back (the document stores only the spans)."""
    return [{**row, "exports": exports_at(document, row["version"])} for row in document["releases"]]


def assemble(rows: list[dict], all_releases: dict[str, list[pypi.Artifact]] | None = None) -> dict:
    """The document from rows that carry their ``exports`` (oldest first); the spans replace them."""
    rows = [dict(row) for row in rows]
    first, last, gaps = export_spans(rows)
    exports = {row["version"]: row.pop("exports") for row in rows}
    document = {
        "schema": SCHEMA,
        "built": datetime.now(timezone.utc).date().isoformat(),
        "package": PACKAGE,
        "note": NOTE,
        "releases": rows,
        "first_release_exporting": first,
        "last_release_exporting": last,
        "gaps": gaps,
    }
    for version, names in exports.items():  # the spans must give back exactly what was read
        if exports_at(document, version) != names:
            raise AssertionError(f"huggingface_hub {version}: spans do not rebuild the exports")
    return document


def main(argv: list[str] | None = None) -> int:
    return output.run(build, OUTPUT.name)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
