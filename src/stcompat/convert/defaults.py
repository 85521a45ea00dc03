"""What a module's constructor does with a key that is not given: the "default" a backport may drop.

A 5.4+ config holds keys an older module rejects (``include_prompt``, ``module_output_name``,
``modality_config``, ...). Dropping one is safe only when the saved value is what the newer module
would do without it, because that is what the older module always does. The knowledge base records
which keys a constructor takes, not their defaults, so the defaults are read here from the source of
the installed sentence-transformers (parsed, never imported: no torch), and only for a release the
knowledge covers with the same loader.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Callable, Mapping

_ABSENT = object()


@dataclass(frozen=True)
class ConstructorDefaults:
    """What one class's ``__init__`` uses for each parameter left out."""

    origin: str
    """``module:Class`` the defaults were read for."""
    literal: Mapping[str, Any] = field(default_factory=dict)
    """Parameter -> its default, for defaults that are literals (``True``, ``"mean"``, ``None``)."""
    falls_back: Mapping[str, str] = field(default_factory=dict)
    """Parameter whose ``None`` default means "the value of another parameter" (``module_output_name``
    -> ``module_input_name``), read from ``x if x is not None else y`` in ``__init__``."""
    inferred: Mapping[str, Any] = field(default_factory=dict)
    """Parameters whose ``None`` default is inferred from the model at load time, with the value the
    inference gives a model that the older releases can load at all (see LEGACY_INFERENCE)."""

    def holds_default(self, key: str, value: Any, config: Mapping[str, Any]) -> bool:
        """Whether ``value`` for ``key`` does what leaving ``key`` out does."""
        if key in self.inferred:
            return value == self.inferred[key]
        default = self.literal.get(key, _ABSENT)
        if default is _ABSENT:
            return False
        if value == default:
            return True
        if default is None and key in self.falls_back:
            other = self.falls_back[key]
            return value == config.get(other, self.literal.get(other, _ABSENT))
        # A None default that the constructor tests for truth treats an empty container the same.
        return default is None and value in ({}, [], ())


DefaultsFn = Callable[[str], "ConstructorDefaults | None"]
"""origin (``module:Class``) -> its constructor's defaults, or None when they cannot be known."""

# What a Transformer module of 5.4+ infers, when its config leaves modality_config and
# module_output_name out, for a text model loaded with AutoModel: the forward pass, its
# last_hidden_state, as token_embeddings. Every Transformer before 5.4 computes exactly this (text
# only), and 5.4+ writes these values when it saves such a model (research/releases.md section 1:
# the 6.2.0 sentence_bert_config.json). The knowledge base has no field for inferred values yet.
LEGACY_INFERENCE: Mapping[str, Mapping[str, Any]] = {
    "Transformer": {
        "modality_config": {"text": {"method": "forward", "method_output_name": "last_hidden_state"}},
        "module_output_name": "token_embeddings",
    },
}


def _literal(node: ast.expr | None) -> Any:
    if node is None:
        return _ABSENT
    try:
        return ast.literal_eval(node)
    except (ValueError, SyntaxError, TypeError):
        return _ABSENT  # e.g. nn.Tanh(): not a literal, so never "held" by a config value


def _fallbacks(init: ast.FunctionDef, params: set[str]) -> dict[str, str]:
    """``self.a = a if a is not None else b`` (or ``a or b``) -> {a: b} for parameters a, b."""
    found: dict[str, str] = {}
    for node in ast.walk(init):
        if isinstance(node, ast.IfExp) and isinstance(node.test, ast.Compare):
            test = node.test
            if (isinstance(test.left, ast.Name) and test.left.id in params and isinstance(test.ops[0], ast.IsNot)
                    and isinstance(node.body, ast.Name) and node.body.id == test.left.id
                    and isinstance(node.orelse, ast.Name) and node.orelse.id in params):
                found[test.left.id] = node.orelse.id
    return found


def defaults_from_source(source: str, origin: str) -> ConstructorDefaults | None:
    """The defaults of ``origin``'s own ``__init__`` in ``source`` (a module's text); None when absent."""
    class_name = origin.split(":")[1]
    tree = ast.parse(source)
    cls = next((n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == class_name), None)
    if cls is None:
        return None
    init = next((n for n in cls.body if isinstance(n, ast.FunctionDef) and n.name == "__init__"), None)
    if init is None:
        return None
    args = init.args
    positional = args.posonlyargs + args.args
    literal: dict[str, Any] = {}
    for arg, default in zip(positional[len(positional) - len(args.defaults):], args.defaults):
        value = _literal(default)
        if value is not _ABSENT:
            literal[arg.arg] = value
    for arg, default in zip(args.kwonlyargs, args.kw_defaults):
        value = _literal(default)
        if value is not _ABSENT:
            literal[arg.arg] = value
    params = {a.arg for a in positional + args.kwonlyargs}
    return ConstructorDefaults(origin, literal, _fallbacks(init, params), LEGACY_INFERENCE.get(class_name, {}))


@lru_cache(maxsize=None)
def installed_defaults(origin: str) -> ConstructorDefaults | None:
    """Defaults of ``origin`` read from the installed sentence-transformers' source file.

    Only when the installed release is covered by the knowledge base and has a loader for this
    origin there: the defaults then belong to the class the knowledge describes.
    """
    from importlib.metadata import PackageNotFoundError, distribution

    from ..kb.query import knowledge

    try:
        dist = distribution("sentence-transformers")
    except PackageNotFoundError:
        return None
    release = knowledge().st(dist.version.split("+")[0])
    if release is None or release.loader(origin) is None:
        return None
    module = origin.split(":")[0].replace(".", "/")
    for candidate in (f"{module}.py", f"{module}/__init__.py"):
        path = dist.locate_file(candidate)
        try:
            text = path.read_text(encoding="utf-8")  # type: ignore[union-attr]
        except (OSError, AttributeError):
            continue
        return defaults_from_source(text, origin)
    return None
