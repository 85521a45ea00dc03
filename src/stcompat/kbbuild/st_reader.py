"""What a module class's ``load`` needs from its folder, read from a sentence-transformers release's source.

The model reader (src/stcompat/model/st_config.py) asks, per modules.json class name: which config names
does a transformer module try, which modules fail without their config file, which need no files at all,
and how legacy Pooling booleans map to 5.4+ mode names. These functions answer from the ``ast`` of the
methods involved (the caller finds ``load`` / ``load_config`` through the class's bases); nothing is run.
``init_defaults`` / ``init_falls_back`` say what ``__init__`` does with a parameter left out (`stcompat
convert` drops a newer config key only when it holds that).
"""

from __future__ import annotations

import ast
import re
from typing import Iterable

_SBERT_CONFIG = re.compile(r"^sentence_[\w-]+_config\.json$")
_FILE_SUFFIXES = (".json", ".bin", ".safetensors", ".txt", ".pt", ".model", ".msgpack", ".h5", ".gz")
_EXISTS_CHECKS = ("exists", "isfile")
_CONFIG_FILE = re.compile(r"^[\w.-]*config\.json$")


def tried_config_names(functions: Iterable[ast.FunctionDef | None]) -> list[str]:
    """The ``sentence_*_config.json`` names a list literal in the functions tries, in order (the
    Transformer's own config has had one name per model family; the first one found is read)."""
    for function in functions:
        if function is None:
            continue
        for node in ast.walk(function):
            if isinstance(node, (ast.List, ast.Tuple)) and node.elts and all(
                    isinstance(e, ast.Constant) and isinstance(e.value, str) and _SBERT_CONFIG.match(e.value)
                    for e in node.elts):
                return [e.value for e in node.elts]
    return []


def _calls(function: ast.FunctionDef, name: str) -> list[ast.Call]:
    return [n for n in ast.walk(function) if isinstance(n, ast.Call)
            and ast.unparse(n.func).rsplit(".", 1)[-1] == name]


def calls_load_config(load: ast.FunctionDef) -> bool:
    """Whether ``load`` reads its config through ``load_config`` (5.x modules)."""
    return bool(_calls(load, "load_config"))


def _unguarded_opens(node: ast.AST) -> list[ast.Call]:
    """``open(...)`` calls under ``node`` that no ``if os.path.exists(...)`` / ``isfile`` block guards."""
    found: list[ast.Call] = []
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.If) and any(word in ast.unparse(child.test) for word in _EXISTS_CHECKS):
            for statement in child.orelse:
                found += _unguarded_opens(statement)
            continue
        if isinstance(child, ast.Call) and ast.unparse(child.func) == "open":
            found.append(child)
        found += _unguarded_opens(child)
    return found


def opens_file(load: ast.FunctionDef) -> bool:
    """Whether ``load`` opens a file unconditionally (legacy ``open(os.path.join(path, 'config.json'))``)."""
    return bool(_unguarded_opens(load))


def tolerates_missing_config(load_configs: Iterable[ast.FunctionDef | None]) -> bool:
    """Whether a ``load_config`` along the class's bases returns ``{}`` when the file is not there."""
    for function in load_configs:
        if function is None:
            continue
        for node in ast.walk(function):
            if isinstance(node, ast.If) and any(
                    isinstance(s, ast.Return) and isinstance(s.value, ast.Dict) and not s.value.keys
                    for s in node.body):
                return True
    return False


def config_files(load: ast.FunctionDef | None, tried: list[str], config_file_name: str | None) -> list[str]:
    """The config file names ``load`` reads, in the order it tries them: the sentence_*_config names, or the
    class's ``config_file_name`` when it reads through ``load_config``, then the ``*config.json`` names
    its source spells out (``cnn_config.json``, the legacy ``config.json`` a 5.x Router falls back to)."""
    names = list(tried)
    if load is None:
        return names
    if calls_load_config(load) and config_file_name and not tried:
        names.append(config_file_name)  # load_config's default file, tried first
    for node in ast.walk(load):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and _CONFIG_FILE.match(node.value) \
                and node.value not in names:
            names.append(node.value)
    return names


def _path_parameters(function: ast.FunctionDef) -> set[str]:
    """The parameter that receives the module's folder (the first one after self/cls), or every parameter
    when there is no positional one (``load(cls, *args, **kwargs)``)."""
    args = function.args
    positional = [a.arg for a in args.posonlyargs + args.args if a.arg not in ("self", "cls")]
    if positional:
        return {positional[0]}
    return {a.arg for a in (*args.kwonlyargs, args.vararg, args.kwarg) if a is not None}


def _is_stub(function: ast.FunctionDef) -> bool:
    """An abstract or empty method (docstring, pass, ..., raise NotImplementedError)."""
    if any("abstractmethod" in ast.unparse(d) for d in function.decorator_list):
        return True
    body = [s for s in function.body
            if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))]
    return all(isinstance(s, ast.Pass) or (isinstance(s, ast.Raise) and "NotImplementedError" in ast.unparse(s))
               for s in body)


def needs_no_files(load: ast.FunctionDef, class_names: set[str], tolerant: bool, unmet_required: bool) -> bool | None:
    """Whether ``load`` builds the module with no file in its folder; None for abstract loaders.

    True when it never looks at its arguments (``return Normalize()``), or when it reads only a config that
    may be missing (``load_config`` returns {}) and the constructor needs nothing from it.
    """
    if _is_stub(load):
        return None
    parameters = _path_parameters(load)
    if not {n.id for n in ast.walk(load) if isinstance(n, ast.Name)} & parameters:
        return True
    if opens_file(load) or not calls_load_config(load) or not tolerant or unmet_required:
        return False
    for call in (n for n in ast.walk(load) if isinstance(n, ast.Call)):
        target = ast.unparse(call.func).rsplit(".", 1)[-1]
        if target in ("load_config", "cls", *class_names):
            continue
        if any(isinstance(n, ast.Name) and n.id in parameters for n in ast.walk(call)):
            return False  # the path goes to some other reader (weights, tokenizer, ...)
    return not any(isinstance(n, ast.Constant) and isinstance(n.value, str) and n.value.endswith(_FILE_SUFFIXES)
                   for n in ast.walk(load))


def fails_without_config(load: ast.FunctionDef, tolerant: bool, unmet_required: bool) -> bool:
    """Whether ``load`` raises when the module's config file is missing: it opens it unconditionally, or
    reads it through a ``load_config`` that does not tolerate a missing file, or gets {} and then the
    constructor lacks required parameters (TypeError) or a key is indexed (KeyError)."""
    if _is_stub(load):
        return False
    if opens_file(load):
        return True
    if calls_load_config(load):
        return not tolerant or unmet_required or _indexes_config(load)
    return False


def _indexes_config(load: ast.FunctionDef) -> bool:
    """Whether ``load`` reads a key of the loaded config with ``config["key"]`` or ``config.pop("key")``
    (a KeyError when the config is {})."""
    names = {ast.unparse(t) for n in ast.walk(load) if isinstance(n, ast.Assign) and isinstance(n.value, ast.Call)
             and ast.unparse(n.value.func).endswith("load_config") for t in n.targets}
    for node in ast.walk(load):
        if isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load) and ast.unparse(node.value) in names \
                and isinstance(node.slice, ast.Constant):
            return True
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "pop" \
                and ast.unparse(node.func.value) in names and len(node.args) == 1:
            return True
    return False


def legacy_pooling_modes(trees: Iterable[ast.Module]) -> dict[str, str]:
    """The 5.4+ table of legacy ``pooling_mode_*`` booleans -> mode names (a module-level dict literal)."""
    for tree in trees:
        for node in tree.body:
            value = node.value if isinstance(node, (ast.Assign, ast.AnnAssign)) else None
            if isinstance(value, ast.Dict) and value.keys and all(
                    isinstance(k, ast.Constant) and isinstance(k.value, str) and k.value.startswith("pooling_mode_")
                    and isinstance(v, ast.Constant) and isinstance(v.value, str)
                    for k, v in zip(value.keys, value.values)):
                return {k.value: v.value for k, v in zip(value.keys, value.values)}
    return {}


def _json_literal(node: ast.expr | None) -> tuple[bool, object]:
    """(True, value) for a default that is a literal a JSON config can hold (``True``, ``"mean"``, ``None``,
    ``{}``); (False, None) otherwise: ``nn.Tanh()`` or a tuple is never what a config value equals."""
    if node is None:
        return False, None
    try:
        value = ast.literal_eval(node)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return False, None

    def storable(v: object) -> bool:
        if v is None or isinstance(v, (bool, int, str)):
            return True
        if isinstance(v, float):
            return v == v and v not in (float("inf"), float("-inf"))
        if isinstance(v, list):
            return all(storable(x) for x in v)
        if isinstance(v, dict):
            return all(isinstance(k, str) and storable(x) for k, x in v.items())
        return False

    return (True, value) if storable(value) else (False, None)


def init_defaults(init: ast.FunctionDef) -> dict[str, object]:
    """``__init__``'s parameter -> default, for defaults that are JSON literals (what a dropped config key
    would have been: `stcompat convert` drops a newer key only when the config holds this value)."""
    args = init.args
    positional = args.posonlyargs + args.args
    found: dict[str, object] = {}
    pairs = list(zip(positional[len(positional) - len(args.defaults):], args.defaults))
    pairs += [(a, d) for a, d in zip(args.kwonlyargs, args.kw_defaults) if d is not None]
    for arg, default in pairs:
        ok, value = _json_literal(default)
        if ok:
            found[arg.arg] = value
    return found


def init_falls_back(init: ast.FunctionDef) -> dict[str, str]:
    """``x if x is not None else y`` in ``__init__`` for parameters x, y -> {x: y}: a ``None`` default that
    means "the value of another parameter" (5.4+ ``module_output_name`` -> ``module_input_name``)."""
    args = init.args
    params = {a.arg for a in args.posonlyargs + args.args + args.kwonlyargs}
    found: dict[str, str] = {}
    for node in ast.walk(init):
        if isinstance(node, ast.IfExp) and isinstance(node.test, ast.Compare):
            test = node.test
            if (isinstance(test.left, ast.Name) and test.left.id in params and isinstance(test.ops[0], ast.IsNot)
                    and isinstance(node.body, ast.Name) and node.body.id == test.left.id
                    and isinstance(node.orelse, ast.Name) and node.orelse.id in params):
                found[test.left.id] = node.orelse.id
    return found
