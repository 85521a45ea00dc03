"""What each release's CrossEncoder(path) and SparseEncoder(path) do with a folder, from its source (ast).

Facts per release (``loader_classes``):
- ``exports``: the loader classes ``from sentence_transformers import ...`` finds (SparseEncoder from 5.0).
- ``cross_encoder.loader``: ``modules`` when CrossEncoder derives from the shared ``BaseModel`` (5.4+: it
  reads modules.json like SentenceTransformer, when config_sentence_transformers.json's model_type names
  it), else ``transformers`` (up to 5.3: AutoConfig, AutoModelForSequenceClassification and AutoTokenizer
  on the folder's root; modules.json and config_sentence_transformers.json are never read).
- ``cross_encoder.activation_keys``: where the saved activation is read, in the order the release tries
  them: ``config_sentence_transformers.json:activation_fn`` (5.4+, on the modules.json path),
  ``config.json:sentence_transformers.activation_fn`` (4.0+), ``config.json:sbert_ce_default_activation_function``.
- ``cross_encoder.trusted_prefix``: a saved activation path is imported only when it starts with this
  (``torch.``) or with trust_remote_code, else the default is used with a warning (4.0+); None: any path
  is imported (up to 3.4).
- ``cross_encoder.untrusted_warning``: that warning's text.
- ``trust_remote_code``: per loader class, the default of its ``trust_remote_code`` parameter, which it hands
  to transformers (False from 2.3 for SentenceTransformer), or None where it has no such parameter and
  passes nothing (transformers then asks on stdin before running a folder's code).
The default activation (Sigmoid for one label, else Identity) is the same in every release.
"""

from __future__ import annotations

import ast
from typing import Any

from .source_text import template

LOADER_CLASSES = ("CrossEncoder", "SparseEncoder")
ALL_CLASSES = ("SentenceTransformer", *LOADER_CLASSES)
CST = "config_sentence_transformers.json"


def _base_names(cls: ast.ClassDef) -> list[str]:
    return [b.id if isinstance(b, ast.Name) else b.attr if isinstance(b, ast.Attribute) else "" for b in cls.bases]


def _class(release: Any, origin: str | None) -> tuple[ast.ClassDef | None, ast.Module | None]:
    if not origin:
        return None, None
    return release.class_node(origin), release.trees.get(origin.partition(":")[0])


def _compares_in(tree: ast.AST, key: str, attr: str | None) -> bool:
    """``"key" in <x>.attr`` (attr given) or ``"key" in <name>`` anywhere in ``tree``."""
    for node in ast.walk(tree):
        if (isinstance(node, ast.Compare) and isinstance(node.left, ast.Constant) and node.left.value == key
                and any(isinstance(op, ast.In) for op in node.ops)):
            right = node.comparators[0]
            if attr is None or (isinstance(right, ast.Attribute) and right.attr == attr):
                return True
    return False


def _startswith_prefix(tree: ast.AST) -> str | None:
    """The literal of ``<path>.startswith("...")`` next to the activation import (the trust rule)."""
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "startswith"
                and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)
                and "activation" in ast.unparse(node.func.value)):
            return node.args[0].value
    return None


def _warning_text(tree: ast.AST) -> str | None:
    """The logged warning about an untrusted activation path, as its f-string template."""
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "warning"
                and node.args):
            text = template(node.args[0])
            if text and "not trusted" in text:
                return text
    return None


def cross_encoder_facts(release: Any, origin: str | None) -> dict[str, Any] | None:
    """The facts of module docstring for the class at ``origin`` (``module:CrossEncoder``)."""
    cls, tree = _class(release, origin)
    if cls is None or tree is None:
        return None
    modular = "BaseModel" in _base_names(cls)
    keys = []
    parse = next((n for n in cls.body if isinstance(n, ast.FunctionDef) and n.name == "_parse_model_config"), None)
    if modular and parse is not None and _compares_in(parse, "activation_fn", None):
        keys.append(f"{CST}:activation_fn")
    if _compares_in(tree, "activation_fn", "sentence_transformers"):
        keys.append("config.json:sentence_transformers.activation_fn")
    if any(isinstance(n, ast.Constant) and n.value == "sbert_ce_default_activation_function" for n in ast.walk(tree)):
        keys.append("config.json:sbert_ce_default_activation_function")
    return {
        "loader": "modules" if modular else "transformers",
        "activation_keys": keys,
        "trusted_prefix": _startswith_prefix(tree),
        "untrusted_warning": _warning_text(tree),
    }


def _trust_remote_code_default(release: Any, origin: str | None) -> bool | None:
    """The literal default of ``__init__``'s ``trust_remote_code`` on the class at ``origin``; None without one."""
    cls, _ = _class(release, origin)
    init = next((n for n in cls.body if isinstance(n, ast.FunctionDef) and n.name == "__init__"), None) if cls else None
    if init is None:
        return None
    args = init.args
    positional = args.posonlyargs + args.args
    pairs = list(zip(positional[len(positional) - len(args.defaults):], args.defaults))
    pairs += [(a, d) for a, d in zip(args.kwonlyargs, args.kw_defaults) if d is not None]
    for arg, default in pairs:
        if arg.arg == "trust_remote_code" and isinstance(default, ast.Constant) and isinstance(default.value, bool):
            return default.value
    return None


def loader_class_facts(release: Any) -> dict[str, Any]:
    """``exports``, ``cross_encoder`` and ``trust_remote_code`` (the module docstring) of one release."""
    top = release.bindings("sentence_transformers")
    exports = {name: top[name] for name in LOADER_CLASSES if name in top}
    return {"exports": exports, "cross_encoder": cross_encoder_facts(release, exports.get("CrossEncoder")),
            "trust_remote_code": {name: _trust_remote_code_default(release, top.get(name))
                                  for name in ALL_CLASSES if name in top}}
