"""The error a sentence-transformers release raises for a model's unmet ``requirements`` (6.0+), from source.

6.0 added ``check_version_requirements(requirements, source)``: for each package the model's
config_sentence_transformers.json ``requirements`` names whose installed version the specifier rejects,
it collects a line, then raises one ImportError::

    lines = [f"The model {source!r} requires:" if source else "This model requires:", *unmet]
    unmet.append(f"- {package_name}{specifier}, but {found}. {reason}".rstrip())
    found = f"{package_name}=={installed_version} is installed" if installed_version else "it is not installed"
    lines.append(f"Install compatible versions with:\\n    pip install -U {' '.join(install_specs)}")
    raise ImportError("\\n".join(lines))

This reads those pieces (templates with their ``{expr}`` fields kept, see source_text.template) by the shape
of the statements; a release whose function has another shape gets None, so the change is noticed.
"""

from __future__ import annotations

import ast
from typing import Any, Iterable

from .source_text import template

FUNCTION = "check_version_requirements"


def _function(trees: Iterable[ast.Module]) -> ast.FunctionDef | None:
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef) and node.name == FUNCTION:
                return node
    return None


def _appended(function: ast.FunctionDef, target: str) -> list[ast.expr]:
    """Arguments of ``target.append(...)`` calls, in source order."""
    return [n.args[0] for n in ast.walk(function) if isinstance(n, ast.Call) and n.args
            and isinstance(n.func, ast.Attribute) and n.func.attr == "append" and ast.unparse(n.func.value) == target]


def _assigned(function: ast.FunctionDef, target: str) -> ast.expr | None:
    for node in ast.walk(function):
        if isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(ast.unparse(t) == target for t in targets):
                return node.value
    return None


def _join(node: ast.AST) -> tuple[str, str] | None:
    """(separator, joined name) of ``"sep".join(name)``."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "join" \
            and isinstance(node.func.value, ast.Constant) and isinstance(node.func.value.value, str) and node.args:
        return node.func.value.value, ast.unparse(node.args[0])
    return None


def requirements_error(trees: Iterable[ast.Module]) -> dict[str, Any] | None:
    """The pieces of the unmet-requirements ImportError, or None when the release has no such check."""
    function = _function(trees)
    if function is None:
        return None
    raised = next((n for n in ast.walk(function) if isinstance(n, ast.Raise) and isinstance(n.exc, ast.Call)), None)
    header = _assigned(function, "lines")
    found = _assigned(function, "found")
    aliases = _assigned(function, "aliases")
    unmet = _appended(function, "unmet")
    install = _appended(function, "lines")
    specs = _appended(function, "install_specs")
    if raised is None or not raised.exc.args or not isinstance(header, ast.List) or not header.elts \
            or not isinstance(header.elts[0], ast.IfExp) or not isinstance(found, ast.IfExp) \
            or len(unmet) != 1 or len(install) != 1 or len(specs) != 1:
        return None
    joined = _join(raised.exc.args[0])
    line = unmet[0]
    strip = None
    if isinstance(line, ast.Call) and isinstance(line.func, ast.Attribute) and not line.args:
        strip, line = line.func.attr, line.func.value  # f"...".rstrip()
    install_field = next((v.value for v in getattr(install[0], "values", ())
                          if isinstance(v, ast.FormattedValue)), None)
    install_join = _join(install_field) if install_field is not None else None
    # packages left out of the pip command: the ``if package_name != "python":`` around install_specs.append
    not_installable = sorted({c.value for n in ast.walk(function) if isinstance(n, ast.If)
                              and any(s is specs[0] for a in n.body for s in ast.walk(a))
                              for c in ast.walk(n.test) if isinstance(c, ast.Constant) and isinstance(c.value, str)})
    pieces = {
        "exception": ast.unparse(raised.exc.func).rsplit(".", 1)[-1],
        "separator": joined[0] if joined else None,
        "header": template(header.elts[0].body),
        "header_without_source": template(header.elts[0].orelse),
        "line": template(line),
        "line_strip": strip,
        "found_installed": template(found.body),
        "found_missing": template(found.orelse),
        "install": template(install[0]),
        "install_separator": install_join[0] if install_join else None,
        "install_spec": template(specs[0]),
        "not_installable": not_installable,
        "aliases": ast.literal_eval(aliases) if isinstance(aliases, ast.Dict) else {},
    }
    if any(value is None for key, value in pieces.items() if key != "line_strip"):
        return None
    return pieces
