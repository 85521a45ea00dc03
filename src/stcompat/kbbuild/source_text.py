"""Message templates from Python source: string constants and f-strings as text with ``{expr}`` fields."""

from __future__ import annotations

import ast


def template(node: ast.AST) -> str | None:
    """A str constant, f-string, or ``+`` of those as a template; f-string fields are kept as ``{expr}``."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        parts = []
        for value in node.values:
            if isinstance(value, ast.Constant):
                parts.append(str(value.value))
            elif isinstance(value, ast.FormattedValue):
                field = ast.unparse(value.value)
                if value.conversion != -1:
                    field += "!" + chr(value.conversion)
                if value.format_spec is not None:
                    field += ":" + (template(value.format_spec) or "")
                parts.append("{" + field + "}")
        return "".join(parts)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = template(node.left), template(node.right)
        if left is not None and right is not None:
            return left + right
    return None


def raised_message(node: ast.Raise) -> tuple[str, str | None] | None:
    """(exception class name, message template) of ``raise Cls(message, ...)``."""
    exc = node.exc
    if isinstance(exc, ast.Call):
        name = ast.unparse(exc.func)
        return name, template(exc.args[0]) if exc.args else None
    if exc is not None:
        return ast.unparse(exc), None
    return None
