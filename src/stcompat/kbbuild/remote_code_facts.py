"""What a transformers release does with a config.json whose auto_map points at code in the model folder.

``AutoConfig.from_pretrained`` calls ``resolve_trust_remote_code`` (``transformers/dynamic_module_utils.py``)
when the config's ``auto_map`` names an ``AutoConfig`` and its ``model_type`` is not one the release knows.
Read from that function's source (ast), per release:
- ``prompts``: with ``trust_remote_code`` left unset (None), it asks on stdin (``input(...)``) under a 15 s alarm;
- ``prompt_failure_caught``: whether an exception from that prompt (end of file on a stdin that is not a
  terminal) is turned into the refusal (``except Exception: raise ValueError(...)``); otherwise the
  ``EOFError`` itself reaches the caller;
- ``refusal``: ``{exception, message}``, the error raised when the code is not trusted, as a template with
  ``{model_name}`` (the path as passed) and, for a local folder, the message that names it.
Nothing is imported or run.
"""

from __future__ import annotations

import ast
from typing import Any

from .source_text import template

FUNCTION = "resolve_trust_remote_code"
FILE = "transformers/dynamic_module_utils.py"


def _calls(node: ast.AST, name: str) -> bool:
    return any(isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == name for n in ast.walk(node))


def _local_error_message(function: ast.FunctionDef) -> str | None:
    """The ``error_message`` assigned for a local folder (the ``os.path.isdir(model_name)`` branch), else the
    one assigned unconditionally; None when the function has no such variable."""
    found: str | None = None
    for node in ast.walk(function):
        if isinstance(node, ast.If) and "isdir" in ast.unparse(node.test):
            for statement in node.body:
                if (isinstance(statement, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "error_message"
                                                              for t in statement.targets)):
                    return template(statement.value)
    for statement in ast.walk(function):
        if (isinstance(statement, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "error_message"
                                                      for t in statement.targets)):
            value = statement.value
            if isinstance(value, ast.BoolOp) and isinstance(value.op, ast.Or):
                value = value.values[-1]  # `error_message or f"..."`: the caller passes none
            found = found or template(value)
    return found


def _final_refusal(function: ast.FunctionDef) -> tuple[str, str] | None:
    """(exception, template) of the raise under ``if has_remote_code and not has_local_code and not trust...``."""
    for statement in function.body:
        if isinstance(statement, ast.If) and "has_remote_code" in ast.unparse(statement.test) \
                and "not trust_remote_code" in ast.unparse(statement.test):
            for inner in ast.walk(statement):
                if isinstance(inner, ast.Raise) and isinstance(inner.exc, ast.Call) and inner.exc.args:
                    text = template(inner.exc.args[0])
                    if text:
                        return ast.unparse(inner.exc.func), text
    return None


def remote_code_facts(source: str | None) -> dict[str, Any] | None:
    """The facts of the module docstring from dynamic_module_utils.py's text; None without the function."""
    if not source:
        return None
    tree = ast.parse(source)
    function = next((n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == FUNCTION), None)
    if function is None:
        return None
    final = _final_refusal(function)
    if final is None:
        return None
    message = final[1]
    local = _local_error_message(function)
    if local is not None and "{error_message}" in message:
        message = message.replace("{error_message}", local)
    caught = any(isinstance(node, ast.Try) and _calls(ast.Module(body=node.body, type_ignores=[]), "input")
                 and any(_raises(handler) for handler in node.handlers) for node in ast.walk(function))
    return {
        "prompts": _calls(function, "input"),
        "prompt_failure_caught": caught,
        "refusal": {"exception": final[0], "message": message},
    }


def _raises(handler: ast.ExceptHandler) -> bool:
    return any(isinstance(n, ast.Raise) for n in ast.walk(handler))
