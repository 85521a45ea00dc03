"""Facts about every sentence-transformers release, by static analysis (ast) of its PyPI artifact.

For each release from 2.0.0 on:
- ``exports``: for each module under ``sentence_transformers`` whose path has a ``models`` or
  ``modules`` component (where every class named in a modules.json ``type`` lives), the class-like
  names it binds at top level, each with the ``module:Class`` that defines it when that can be
  followed through imports.
- ``deprecated_paths``: 5.4+ aliases old module paths to new ones with a meta path finder
  (``util/deprecated_import.py`` ``DEPRECATED_MODULE_PATHS``).
- ``loaders``: for each module class, how ``load`` turns its config file into an instance: the
  ``__init__`` parameters, whether the config is splatted into the constructor unfiltered (so an
  unknown key raises TypeError), renamed keys, legacy Pooling flags a decorator converts; and what it
  needs from the folder (st_reader): the sentence_*_config names it tries, the config files it reads,
  whether it fails without its config, whether it needs no file at all; and what ``__init__`` does
  with a parameter left out (``init_defaults``: literal defaults; ``init_falls_back``: a ``None``
  default that takes another parameter's value).
- ``legacy_pooling_modes``: 5.4+ table of legacy ``pooling_mode_*`` booleans -> mode names.
- ``requirements_error``: the pieces of the ImportError 6.0+ raises for a model's unmet ``requirements``
  (st_requirements).
- ``hub_imports`` / ``third_party_imports``: what ``import sentence_transformers`` imports (``if
  TYPE_CHECKING`` blocks left out), and ``import_providers``: for each imported module that no declared
  dependency holds, the distribution that provides it and which declared dependencies require it (providers).
- ``cst_keys_read``: which config_sentence_transformers.json keys the loader reads.
- ``loader_classes``: CrossEncoder and SparseEncoder, and how CrossEncoder reads a folder (loader_class_facts).
- the version-warning text and how versions are compared; the import error template;
  Requires-Dist and Requires-Python.

Nothing downloaded is imported or executed.
"""

from __future__ import annotations

import ast
import datetime
import json
import re
import sys
from email.parser import Parser
from pathlib import Path
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.version import Version

from . import loader_class_facts, output, providers, pypi, st_reader, st_requirements
from .source_text import raised_message

PACKAGE = "sentence-transformers"
FIRST = Version("2.0.0")
CST_KEYS = ("__version__", "prompts", "default_prompt_name", "similarity_fn_name", "truncate_dim",
            "requirements", "model_type")
DEPENDENCIES = ("transformers", "torch", "huggingface-hub", "tokenizers", "numpy", "safetensors",
                "scikit-learn", "scipy", "torchvision", "sentencepiece", "nltk", "tqdm", "pillow")
# Functions that read config_sentence_transformers.json / modules.json, by release generation.
_LOADER_FUNCTIONS = frozenset({"_load_sbert_model", "_load_config_modules", "_parse_model_config",
                               "_load_module_class_from_ref"})
_INTEREST = re.compile(r"^sentence_transformers(\.[\w]+)*\.(models|modules)(\.|$)")


def _dotted(member: str) -> str | None:
    """sentence_transformers/models/Pooling.py -> sentence_transformers.models.Pooling."""
    if not member.startswith("sentence_transformers/") or not member.endswith(".py"):
        return None
    parts = member[:-3].split("/")
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _absolute(current: str, is_package: bool, level: int, module: str | None) -> str:
    """Resolve ``from ..x import y`` inside module ``current``."""
    if level == 0:
        return module or ""
    base = current.split(".")
    if not is_package:
        base = base[:-1]
    base = base[: len(base) - (level - 1)] if level > 1 else base
    return ".".join(base + ([module] if module else []))


def _top_statements(body: list[ast.stmt]):
    """Top-level statements, looking inside if/try/with blocks (imports guarded by try are common)."""
    for node in body:
        yield node
        for attr in ("body", "orelse", "finalbody"):
            if isinstance(node, (ast.If, ast.Try, ast.With)) and hasattr(node, attr):
                yield from _top_statements(getattr(node, attr))
        if isinstance(node, ast.Try):
            for handler in node.handlers:
                yield from _top_statements(handler.body)


class Release:
    """The parsed sources of one release."""

    def __init__(self, sources: dict[str, tuple[bytes, bool]]) -> None:
        self.trees: dict[str, ast.Module] = {}
        self.is_package: dict[str, bool] = {}
        for dotted, (data, is_package) in sources.items():
            try:
                self.trees[dotted] = ast.parse(data)
            except SyntaxError:
                continue
            self.is_package[dotted] = is_package
        self._bindings: dict[str, dict[str, str]] = {}

    def bindings(self, module: str, seen: frozenset[str] = frozenset()) -> dict[str, str]:
        """Top-level names of ``module`` -> origin (``mod:Class`` for classes, ``mod:name`` otherwise)."""
        if module in self._bindings:
            return self._bindings[module]
        tree = self.trees.get(module)
        if tree is None or module in seen:
            return {}
        seen = seen | {module}
        names: dict[str, str] = {}
        for node in _top_statements(tree.body):
            if isinstance(node, ast.ClassDef):
                names[node.name] = f"{module}:{node.name}"
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                names[node.name] = f"{module}:{node.name}"
            elif isinstance(node, ast.Assign):
                for target in node.targets:
                    if isinstance(target, ast.Name):
                        names[target.id] = f"{module}:{target.id}"
            elif isinstance(node, ast.ImportFrom):
                source = _absolute(module, self.is_package.get(module, False), node.level, node.module)
                for alias in node.names:
                    if alias.name == "*":
                        names.update({k: v for k, v in self.bindings(source, seen).items()
                                      if not k.startswith("_")})
                        continue
                    origin = self.bindings(source, seen).get(alias.name)
                    if origin is None and f"{source}.{alias.name}" in self.trees:
                        origin = f"{source}.{alias.name}:<module>"
                    names[alias.asname or alias.name] = origin or f"{source}:{alias.name}"
        self._bindings[module] = names
        return names

    def class_node(self, origin: str) -> ast.ClassDef | None:
        module, _, name = origin.partition(":")
        tree = self.trees.get(module)
        if tree is None:
            return None
        return next((n for n in _top_statements(tree.body) if isinstance(n, ast.ClassDef) and n.name == name), None)


def _method(cls: ast.ClassDef, name: str) -> ast.FunctionDef | None:
    return next((n for n in cls.body if isinstance(n, ast.FunctionDef) and n.name == name), None)


def _class_attr(cls: ast.ClassDef, name: str) -> Any:
    for node in cls.body:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
        if any(isinstance(t, ast.Name) and t.id == name for t in targets) and node.value is not None:
            try:
                return ast.literal_eval(node.value)
            except ValueError:
                return None
    return None


def _decorator_names(func: ast.FunctionDef) -> list[str]:
    names = []
    for dec in func.decorator_list:
        target = dec.func if isinstance(dec, ast.Call) else dec
        names.append(ast.unparse(target))
    return names


def _splats_into_constructor(func: ast.FunctionDef, class_name: str) -> bool:
    """Whether ``func`` calls ``cls(**x)`` / ``ClassName(**x)`` / ``Module.__init__``-style with **config."""
    for node in ast.walk(func):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("cls", class_name):
            if any(k.arg is None for k in node.keywords):
                return True
    return False


def _constructor_call_args(func: ast.FunctionDef, class_name: str) -> tuple[int, list[str]]:
    """(positional args, explicit keyword names) of the ``cls(..., **config)`` call in ``func``."""
    for node in ast.walk(func):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("cls", class_name) \
                and any(k.arg is None for k in node.keywords):
            return len(node.args), [k.arg for k in node.keywords if k.arg is not None]
    return 0, []


def _filters_keys(func: ast.FunctionDef) -> bool:
    """Whether ``func`` drops config keys the constructor does not know (config_keys / signature)."""
    for node in ast.walk(func):
        if isinstance(node, (ast.DictComp, ast.comprehension, ast.Compare)):
            text = ast.unparse(node)
            if "config_keys" in text or "signature" in text or "co_varnames" in text:
                return True
    return False


def _base_names(cls: ast.ClassDef) -> list[str]:
    return [ast.unparse(b).rsplit(".", 1)[-1] for b in cls.bases]


def _find_inherited(release: Release, cls: ast.ClassDef, module: str, method: str, depth: int = 0):
    """(defining ClassDef, FunctionDef) of ``method`` on ``cls`` or its bases within the release."""
    own = _method(cls, method)
    if own is not None or depth > 5:
        return cls, own
    scope = release.bindings(module)
    for base in _base_names(cls):
        origin = scope.get(base)
        node = release.class_node(origin) if origin and not origin.endswith("<module>") else None
        if node is not None:
            found = _find_inherited(release, node, origin.split(":")[0], method, depth + 1)
            if found[1] is not None:
                return found
    return cls, None


def _lineage(release: Release, cls: ast.ClassDef, module: str, depth: int = 0) -> list[ast.ClassDef]:
    """``cls`` and its bases defined in the release, depth first (roughly the MRO)."""
    found = [cls]
    if depth > 5:
        return found
    scope = release.bindings(module)
    for base in _base_names(cls):
        origin = scope.get(base)
        node = release.class_node(origin) if origin and not origin.endswith("<module>") else None
        if node is not None:
            found += _lineage(release, node, origin.split(":")[0], depth + 1)
    return found


def _is_abstract(cls: ast.ClassDef) -> bool:
    return any(isinstance(n, ast.FunctionDef) and any("abstractmethod" in ast.unparse(d) for d in n.decorator_list)
               for n in cls.body)


def _file_needs(release: Release, cls: ast.ClassDef, module: str, load: ast.FunctionDef | None,
                unmet_required: bool) -> dict[str, Any]:
    """What ``load`` needs from the module's folder (see st_reader): the sentence_*_config names it tries,
    the config files it reads, whether it fails without its config, whether it needs no file at all."""
    lineage = _lineage(release, cls, module)
    load_configs = [_method(c, "load_config") for c in lineage]
    tried = st_reader.tried_config_names([load, *load_configs])
    config_file_name = next((v for c in lineage if (v := _class_attr(c, "config_file_name"))), None)
    facts: dict[str, Any] = {"tries_config_names": tried,
                             "config_files": st_reader.config_files(load, tried, config_file_name),
                             "fails_without_config": False, "needs_no_files": None}
    if load is None or _is_abstract(cls):
        return facts
    tolerant = st_reader.tolerates_missing_config(load_configs)
    facts["fails_without_config"] = st_reader.fails_without_config(load, tolerant, unmet_required)
    facts["needs_no_files"] = st_reader.needs_no_files(load, {c.name for c in lineage}, tolerant, unmet_required)
    return facts


def _loader(release: Release, origin: str) -> dict[str, Any] | None:
    """How ``load`` of the class at ``origin`` builds the module from its config."""
    cls = release.class_node(origin)
    if cls is None:
        return None
    module = origin.split(":")[0]
    _, init = _find_inherited(release, cls, module, "__init__")
    load_owner, load = _find_inherited(release, cls, module, "load")
    params: list[str] = []
    required: list[str] = []
    var_keyword = False
    decorators: list[str] = []
    if init is not None:
        args = init.args
        positional = args.posonlyargs + args.args
        defaults_from = len(positional) - len(args.defaults)
        for position, arg in enumerate(positional):
            if arg.arg == "self":
                continue
            params.append(arg.arg)
            if position < defaults_from:
                required.append(arg.arg)
        for arg, default in zip(args.kwonlyargs, args.kw_defaults):
            params.append(arg.arg)
            if default is None:
                required.append(arg.arg)
        var_keyword = args.kwarg is not None
        decorators = _decorator_names(init)
    mode = "unknown"
    passes: tuple[int, list[str]] = (0, [])
    if load is not None:
        passes = _constructor_call_args(load, load_owner.name)
        if passes == (0, []):
            passes = _constructor_call_args(load, cls.name)
        _, load_config = _find_inherited(release, cls, module, "load_config")
        if _splats_into_constructor(load, load_owner.name) or _splats_into_constructor(load, cls.name):
            filtered = _filters_keys(load) or (load_config is not None and _filters_keys(load_config))
            mode = "filter" if filtered else "splat"
        elif "config" not in ast.unparse(load):
            mode = "no-config"
    # Weight files the module's own load() opens (Dense <= 3.0.0 reads only pytorch_model.bin).
    weight_files = sorted({text for text in _string_constants(load) if text.endswith((".bin", ".safetensors"))}) \
        if load is not None else []
    renames = dict(_class_attr(cls, "config_key_renames") or {})
    # Renames done in code, e.g. 5.4+ Transformer.load: {"model_args": "model_kwargs", ...}: string-to-string
    # dict literals in the loading methods whose values are constructor parameters.
    for method in (m for m in cls.body if isinstance(m, ast.FunctionDef) and ("load" in m.name or "config" in m.name)):
        for node in ast.walk(method):
            if isinstance(node, ast.Dict) and node.keys and all(
                    isinstance(k, ast.Constant) and isinstance(k.value, str) and isinstance(v, ast.Constant)
                    and isinstance(v.value, str) for k, v in zip(node.keys, node.values)):
                pairs = {k.value: v.value for k, v in zip(node.keys, node.values)}
                if all(v in params for v in pairs.values()):
                    renames.update(pairs)
    legacy_flags: list[str] = []
    if any("pooling_mode" in d for d in decorators):
        # The decorator turns legacy pooling_mode_* booleans into pooling_mode: collect those keys.
        source = ast.unparse(release.trees[module])
        legacy_flags = sorted(set(re.findall(r"['\"](pooling_mode_[a-z_]+)['\"]", source)))
    init_raises = []
    if init is not None:
        for node in ast.walk(init):
            if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call) and node.exc.args:
                message = node.exc.args[0]
                text = message.value if isinstance(message, ast.Constant) and isinstance(message.value, str) else \
                    " ".join(p.value for p in ast.walk(message) if isinstance(p, ast.Constant) and isinstance(p.value, str))
                if text:
                    init_raises.append({"type": ast.unparse(node.exc.func).rsplit(".", 1)[-1], "message": text})
    return {
        "init_raises": init_raises,
        "init_params": params,
        # What __init__ does with a parameter left out (convert/defaults.py: may a newer key be dropped?);
        # null when the release defines no __init__ for the class.
        "init_defaults": st_reader.init_defaults(init) if init is not None else None,
        "init_falls_back": st_reader.init_falls_back(init) if init is not None else None,
        "init_required": required,
        "init_var_keyword": var_keyword,
        "load": mode,
        "config_file": _class_attr(cls, "config_file_name"),
        "config_key_renames": renames if isinstance(renames, dict) else {},
        "legacy_pooling_flags": legacy_flags,
        "weight_files": weight_files,
        "load_passes_positional": passes[0],
        "load_passes_keywords": passes[1],
        **_file_needs(release, cls, module, load,
                      any(p not in passes[1] for p in required[passes[0]:])),
    }


def _string_constants(tree: ast.AST) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            found.append(node.value)
        elif isinstance(node, ast.JoinedStr):
            found.append(ast.unparse(node))
    return found


def _loader_files(release: Release) -> list[str]:
    """Modules that hold SentenceTransformer's loading code (they define _load_sbert_model or the warning)."""
    hits = []
    for module, tree in release.trees.items():
        source_names = {n.name for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
        if source_names & _LOADER_FUNCTIONS:
            hits.append(module)
    return sorted(hits)


def _cst_keys_read(release: Release, modules: list[str]) -> list[str]:
    """Keys of config_sentence_transformers.json the loader reads: ``<...config...>.get("k")`` or ``[...]["k"]``."""
    keys = set()
    for module in modules:
        for node in ast.walk(release.trees[module]):
            receiver = key = None
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get" \
                    and node.args and isinstance(node.args[0], ast.Constant):
                receiver, key = node.func.value, node.args[0].value
            elif isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant):
                receiver, key = node.value, node.slice.value
            elif isinstance(node, ast.Compare) and isinstance(node.left, ast.Constant) \
                    and any(isinstance(op, ast.In) for op in node.ops):
                receiver, key = node.comparators[0], node.left.value
            if key in CST_KEYS and receiver is not None and "model_config" in ast.unparse(receiver).lower():
                keys.add(key)
    return sorted(keys)


def _statements_with_guard(body: list[ast.stmt], guarded: bool = False):
    """Top-level statements and whether a try/except around them catches the import failing."""
    for node in body:
        yield node, guarded
        if isinstance(node, ast.Try):
            catches = any(h.type is None or any(name in ast.unparse(h.type) for name in ("ImportError", "Exception"))
                          for h in node.handlers)
            yield from _statements_with_guard(node.body, guarded or catches)
            for handler in node.handlers:
                yield from _statements_with_guard(handler.body, guarded)
            yield from _statements_with_guard(node.orelse + node.finalbody, guarded)
        elif isinstance(node, ast.If) and _type_checking_only(node.test):
            # ``if TYPE_CHECKING:`` bodies never run; only the else branch does.
            yield from _statements_with_guard(node.orelse, guarded)
        elif isinstance(node, (ast.If, ast.With)):
            yield from _statements_with_guard(node.body + getattr(node, "orelse", []), guarded)


def _type_checking_only(test: ast.expr) -> bool:
    """Whether an ``if`` test is false at run time because it needs ``TYPE_CHECKING`` (alone or and-ed)."""
    if isinstance(test, ast.BoolOp) and isinstance(test.op, ast.And):
        return any(_type_checking_only(value) for value in test.values)
    return ast.unparse(test).rsplit(".", 1)[-1] == "TYPE_CHECKING"


def _import_time_imports(release: Release) -> tuple[list[str], list[str]]:
    """What ``import sentence_transformers`` needs, following the package's own top-level imports
    from its __init__ (unguarded ones only):

    - the names it takes from ``huggingface_hub`` (``from huggingface_hub import NAME``), in order;
    - the third-party top-level modules it imports (e.g. ``PIL`` in ST <= 2.2, which came with
      torchvision rather than from a declared dependency).
    """
    names, third_party, _ = _import_walk(release)
    return names, third_party


def _transformers_submodule_imports(release: Release) -> list[str]:
    """``module:name`` for every unguarded ``from transformers.<submodule> import NAME`` that
    ``import sentence_transformers`` runs (2.4.0 takes ``is_nltk_available`` from
    ``transformers.utils.import_utils``, which transformers defines from 4.34 only, below the floor
    2.4.0 declares). ``from transformers import NAME`` goes through transformers' lazy table: left out."""
    return _import_walk(release)[2]


def _import_walk(release: Release) -> tuple[list[str], list[str], list[str]]:
    """(huggingface_hub names, third-party top-level modules, transformers submodule names) of the
    import-time walk, each in import order."""
    seen: set[str] = set()
    queue = ["sentence_transformers"]  # a stack: depth-first, roughly the order Python runs them
    names: list[str] = []  # in import order: Python names the first missing one
    from_transformers: list[str] = []
    third_party: set[str] = set()
    stdlib = set(sys.stdlib_module_names)
    while queue:
        module = queue.pop()
        if module in seen or module not in release.trees:
            continue
        seen.add(module)
        parts = module.split(".")
        queue.extend(".".join(parts[:i]) for i in range(1, len(parts)))  # parents run first
        for node, guarded in _statements_with_guard(release.trees[module].body):
            if isinstance(node, ast.ImportFrom):
                source = _absolute(module, release.is_package.get(module, False), node.level, node.module)
                if source == "huggingface_hub" and not guarded:
                    names.extend(a.name for a in node.names if a.name != "*" and a.name not in names)
                if source.startswith("transformers.") and node.level == 0 and not guarded:
                    from_transformers.extend(f"{source}:{a.name}" for a in node.names
                                             if a.name != "*" and f"{source}:{a.name}" not in from_transformers)
                if source.startswith("sentence_transformers"):
                    queue.append(source)
                    queue.extend(f"{source}.{alias.name}" for alias in node.names)
                elif node.level == 0 and not guarded and source.split(".")[0] not in stdlib:
                    third_party.add(source.split(".")[0])
            elif isinstance(node, ast.Import):
                queue.extend(alias.name for alias in node.names if alias.name.startswith("sentence_transformers"))
                if not guarded:
                    third_party.update(a.name.split(".")[0] for a in node.names
                                       if not a.name.startswith("sentence_transformers")
                                       and a.name.split(".")[0] not in stdlib)
    return names, sorted(third_party), from_transformers


def _root_construction(release: Release, modules: list[str]) -> dict[str, Any] | None:
    """How the loader builds a module stored at path "" (the model folder itself).

    3.2-4.x build ANY class there as ``module_class(model_name_or_path, cache_dir=..., backend=...,
    **sentence_bert_config)`` (falling back to ``load`` on TypeError from 4.0); earlier releases do
    that only for Transformer; 5.x asks the class how to load.
    """
    for module in modules:
        for node in ast.walk(release.trees[module]):
            if not isinstance(node, ast.If):
                continue
            test = ast.unparse(node.test)
            if "['path']" not in test.replace('"', "'") or "== ''" not in test.replace('"', "'"):
                continue
            any_class = "Transformer" not in test
            keywords: list[str] = []
            fallback = False
            kwargs_keys: list[str] = []
            for inner in ast.walk(node):
                # kwargs["model_args"] = {} ...: keys always added to the splatted dict
                if isinstance(inner, ast.Assign) and len(inner.targets) == 1 and isinstance(inner.targets[0], ast.Subscript) \
                        and ast.unparse(inner.targets[0].value) == "kwargs" and isinstance(inner.targets[0].slice, ast.Constant):
                    if inner.targets[0].slice.value not in kwargs_keys:
                        kwargs_keys.append(inner.targets[0].slice.value)
                if isinstance(inner, ast.Call) and isinstance(inner.func, ast.Name) and inner.func.id == "module_class":
                    keywords = [k.arg for k in inner.keywords if k.arg]
                if isinstance(inner, ast.Try) and any(
                        h.type is not None and "TypeError" in ast.unparse(h.type) for h in inner.handlers):
                    fallback = True
            return {"any_class": any_class, "keywords": keywords + kwargs_keys, "typeerror_fallback": fallback}
    return None


def _custom_class_gate(release: Release) -> dict[str, Any] | None:
    """Where importing a module class outside sentence_transformers needs ``trust_remote_code=True`` (6.0+):
    the function that tests the ``sentence_transformers.`` prefix and raises under ``if not
    trust_remote_code``, with the exception and its message template. None where a local folder's classes
    are imported without asking (before 6.0)."""
    for module in sorted(release.trees):
        for function in ast.walk(release.trees[module]):
            if not isinstance(function, ast.FunctionDef):
                continue
            if not any(isinstance(c, ast.Constant) and c.value == "sentence_transformers." for c in ast.walk(function)):
                continue
            for node in ast.walk(function):
                if not (isinstance(node, ast.If) and isinstance(node.test, ast.UnaryOp)
                        and isinstance(node.test.op, ast.Not) and isinstance(node.test.operand, ast.Name)
                        and node.test.operand.id == "trust_remote_code"):
                    continue
                for inner in node.body:
                    if isinstance(inner, ast.Raise) and (found := raised_message(inner)) and found[1]:
                        location = next((ast.unparse(a.value) for a in node.body if isinstance(a, ast.Assign)
                                         and any(isinstance(t, ast.Name) and t.id == "location" for t in a.targets)),
                                        None)
                        return {"function": f"{module}:{function.name}", "exception": found[0].rsplit(".", 1)[-1],
                                "message": found[1], "location": location}
    return None


FALLBACK_FUNCTIONS = ("_load_auto_model", "_load_default_modules")
"""What SentenceTransformer calls for a folder without modules.json (2.x-5.x, then 6.x)."""


def _no_modules_fallback(release: Release) -> dict[str, Any] | None:
    """What SentenceTransformer(path) builds for a folder without modules.json: the module classes its
    fallback function constructs, and the pooling modes it passes to Pooling (as string constants, in the
    call or in the variable the call passes). Every module folder of such a folder goes unused."""
    for module in sorted(release.trees):
        for cls in ast.walk(release.trees[module]):
            if not (isinstance(cls, ast.ClassDef) and cls.name == "SentenceTransformer"):
                continue
            function = next((f for name in FALLBACK_FUNCTIONS for f in cls.body
                             if isinstance(f, ast.FunctionDef) and f.name == name), None)
            if function is None:
                continue
            built: list[str] = []
            modes: list[str] = []
            assigned = {t.id: n.value for n in ast.walk(function) if isinstance(n, ast.Assign)
                        for t in n.targets if isinstance(t, ast.Name)}
            for call in ast.walk(function):
                if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id[:1].isupper()):
                    continue
                if call.func.id not in built:
                    built.append(call.func.id)
                if call.func.id != "Pooling":
                    continue
                for arg in list(call.args[1:]) + [k.value for k in call.keywords if k.arg == "pooling_mode"]:
                    value = assigned.get(arg.id, arg) if isinstance(arg, ast.Name) else arg
                    modes += [c.value.lower() for c in ast.walk(value) if isinstance(c, ast.Constant)
                              and isinstance(c.value, str) and c.value.lower() not in modes]
            return {"function": function.name, "module": module, "builds": built, "pooling_modes": modes}
    return None


def _functions(release: Release, name: str) -> list[tuple[str, ast.FunctionDef]]:
    """(module, function) for every ``def name`` in the release, methods included."""
    return [(module, node) for module in sorted(release.trees) for node in ast.walk(release.trees[module])
            if isinstance(node, ast.FunctionDef) and node.name == name]


def _called(function: ast.FunctionDef) -> set[str]:
    """Names of the functions and methods a function calls (``f(...)`` and ``x.f(...)``)."""
    names = set()
    for call in ast.walk(function):
        if isinstance(call, ast.Call):
            if isinstance(call.func, ast.Name):
                names.add(call.func.id)
            elif isinstance(call.func, ast.Attribute):
                names.add(call.func.attr)
    return names


def _returns_empty_when_none(function: ast.FunctionDef) -> bool:
    """Whether the function has ``if X is None: return {}`` (a config reader that treats an absent file as
    an empty config)."""
    for node in ast.walk(function):
        if (isinstance(node, ast.If) and isinstance(node.test, ast.Compare)
                and any(isinstance(op, ast.Is) for op in node.test.ops)
                and any(isinstance(c, ast.Constant) and c.value is None for c in node.test.comparators)
                and any(isinstance(b, ast.Return) and isinstance(b.value, ast.Dict) and not b.value.keys
                        for b in node.body)):
            return True
    return False


def _missing_module_folder(release: Release) -> dict[str, Any] | None:
    """What the modules.json loop does with a module (Pooling, Dense...) whose folder is absent, read from
    the function that calls ``module_class.load``:

    - ``empty_config``: it passes the model path and ``subfolder=`` to the module's own ``load``, whose
      config reader returns ``{}`` for an absent file (5.0+): the constructor runs without its required
      arguments (TypeError, missing positional arguments);
    - ``hub_download``: it resolves the folder with ``load_dir_path``, which downloads what is not on disk
      with ``snapshot_download(repo_id=<the model path>)`` (2.3-4.x): huggingface_hub rejects a local path
      as a repo id (HFValidationError);
    - ``open_config``: it passes ``os.path.join(model path, module path)`` to ``load``, which opens the
      config file there (2.2 and older): FileNotFoundError naming that file.
    """
    for module in sorted(release.trees):
        for function in ast.walk(release.trees[module]):
            if not isinstance(function, ast.FunctionDef):
                continue
            loads = [c for c in ast.walk(function) if isinstance(c, ast.Call) and isinstance(c.func, ast.Attribute)
                     and c.func.attr == "load" and isinstance(c.func.value, ast.Name)
                     and c.func.value.id == "module_class"]
            if not loads:
                continue
            where = f"{module}:{function.name}"
            readers = [f for _, f in _functions(release, "load_config")]
            if any(any(k.arg == "subfolder" for k in c.keywords) for c in loads) and any(
                    _returns_empty_when_none(f) for f in readers):
                return {"function": where, "behaviour": "empty_config"}
            if "load_dir_path" in _called(function) and any(
                    "snapshot_download" in _called(f) for _, f in _functions(release, "load_dir_path")):
                return {"function": where, "behaviour": "hub_download"}
            if any(c.args and isinstance(c.args[0], ast.Call) and ast.unparse(c.args[0].func) == "os.path.join"
                   for c in loads):
                return {"function": where, "behaviour": "open_config"}
            return {"function": where, "behaviour": None}
    return None


def _version_warning(release: Release, modules: list[str]) -> dict[str, Any] | None:
    for module in modules:
        tree = release.trees[module]
        for text in _string_constants(tree):
            if "created with" in text and "version" in text:
                source = ast.unparse(tree)
                packaging_compare = "version.parse(" in source or "parse_version(" in source or "Version(" in source
                return {"template": text.strip("\n"), "comparison": "packaging" if packaging_compare else "string",
                        "module": module}
    return None


def _import_error_template(release: Release) -> str | None:
    for module, tree in release.trees.items():
        if module.startswith("sentence_transformers.util"):
            for text in _string_constants(tree):
                if "does not define a" in text:
                    return text
    return None


def _requirement_lines(artifact_path: Path) -> tuple[list[str], str | None]:
    """Requires-Dist lines as published and Requires-Python (old sdists: setup.py's install_requires)."""
    meta = Parser().parsestr(pypi.metadata_text(artifact_path))
    lines = meta.get_all("Requires-Dist") or []
    requires_python = meta.get("Requires-Python")
    if not lines:  # old sdists: read install_requires from setup.py
        setup = pypi.read_member(artifact_path, "setup.py")
        if setup:
            for node in ast.walk(ast.parse(setup)):
                if isinstance(node, ast.keyword) and node.arg == "install_requires":
                    try:
                        lines = list(ast.literal_eval(node.value))
                    except ValueError:
                        pass
                if isinstance(node, ast.keyword) and node.arg == "python_requires" and requires_python is None:
                    try:
                        requires_python = ast.literal_eval(node.value)
                    except ValueError:
                        pass
    return lines, requires_python


def _base_requirements(lines: list[str]) -> list[Requirement]:
    """The requirements without an extra marker (what installing the release pulls in)."""
    found = []
    for line in lines:
        try:
            req = Requirement(line)
        except InvalidRequirement:
            continue
        if req.marker is None or "extra" not in str(req.marker):
            found.append(req)
    return found


def _requires(requirements: list[Requirement]) -> dict[str, str]:
    """Requires-Dist of the DEPENDENCIES layers: name -> specifier (markers dropped)."""
    found: dict[str, str] = {}
    for req in requirements:
        name = req.name.lower().replace("_", "-")
        if name in DEPENDENCIES:
            found[name] = str(req.specifier)
    return found


def release_facts(artifact: pypi.Artifact) -> dict[str, Any]:
    """Everything this module knows about one release."""
    path = pypi.download(artifact)
    sources: dict[str, tuple[bytes, bool]] = {}
    for member, data in pypi.members(path):
        dotted = _dotted(member)
        if dotted:
            sources[dotted] = (data, member.endswith("__init__.py"))
    release = Release(sources)
    deprecated: dict[str, str] = {}
    for module, tree in release.trees.items():
        if module.endswith("deprecated_import"):
            for node in _top_statements(tree.body):
                if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "DEPRECATED_MODULE_PATHS"
                                                        for t in node.targets):
                    deprecated = {k: v for k, v in ast.literal_eval(node.value).items() if _INTEREST.match(k)}
    exports: dict[str, dict[str, str]] = {}
    loaders: dict[str, Any] = {}
    for module in sorted(release.trees):
        if not _INTEREST.match(module):
            continue
        names = {k: v for k, v in release.bindings(module).items() if k[:1].isupper()}
        exports[module] = names
        for origin in names.values():
            if origin not in loaders and not origin.endswith("<module>"):
                cls = release.class_node(origin)
                if cls is not None and _method(cls, "forward") is not None or (cls is not None and _find_inherited(
                        release, cls, origin.split(":")[0], "load")[1] is not None):
                    loaders[origin] = _loader(release, origin)
    loader_modules = _loader_files(release)
    hub_imports, third_party = _import_time_imports(release)
    lines, requires_python = _requirement_lines(path)
    requirements = _base_requirements(lines)
    return {
        "version": artifact.version,
        "artifact": artifact.record(),
        "requires_python": requires_python or artifact.requires_python,
        "requires_dist": _requires(requirements),
        "packages": sorted(m for m, is_pkg in release.is_package.items() if is_pkg),
        "exports": exports,
        "deprecated_paths": deprecated,
        "loaders": {k: v for k, v in sorted(loaders.items()) if v is not None},
        "loader_modules": loader_modules,
        "cst_keys_read": _cst_keys_read(release, loader_modules),
        "version_warning": _version_warning(release, loader_modules),
        "import_error_template": _import_error_template(release),
        "root_construction": _root_construction(release, loader_modules),
        "no_modules_fallback": _no_modules_fallback(release),
        "custom_class_gate": _custom_class_gate(release),
        "missing_module_folder": _missing_module_folder(release),
        # 5.0+: modules.json is read only when config_sentence_transformers.json's model_type names the
        # loading class; otherwise the folder is loaded as a plain transformer (or converted, 5.4+).
        "model_type_gate": any(isinstance(n, ast.FunctionDef) and n.name == "_get_model_type"
                               for m in loader_modules for n in ast.walk(release.trees[m])),
        "hub_imports": hub_imports,
        "third_party_imports": third_party,
        # `from transformers.<submodule> import NAME` at import time: transformers.json says which releases lack one
        "transformers_imports": _transformers_submodule_imports(release),
        # who provides the imported modules that no declared dependency holds (PIL came with torchvision)
        "import_providers": {module: provider.record() for module, provider in sorted(providers.find(
            [str(r) for r in requirements], third_party, artifact.upload_time).items())},
        "checks_requirements": any(st_requirements.FUNCTION in ast.unparse(release.trees[m])
                                   for m in loader_modules),
        "requirements_error": st_requirements.requirements_error(release.trees[m] for m in sorted(release.trees)),
        # 5.4+ Pooling: legacy pooling_mode_* booleans -> the mode names they became
        "legacy_pooling_modes": st_reader.legacy_pooling_modes(release.trees[m] for m in sorted(release.trees)),
        # CrossEncoder(path) / SparseEncoder(path): which exist, and how CrossEncoder reads a folder
        "loader_classes": loader_class_facts.loader_class_facts(release),
    }


def select(all_releases: dict[str, list[pypi.Artifact]]) -> dict[str, pypi.Artifact]:
    """The releases the knowledge covers (every one from FIRST on) and the artifact each is read from."""
    return {v: pypi.pick(files) for v, files in all_releases.items() if Version(v) >= FIRST}


def extract(artifacts: dict[str, pypi.Artifact]) -> list[dict[str, Any]]:
    """One row per release, oldest first."""
    return [release_facts(artifacts[v]) for v in sorted(artifacts, key=Version)]


def assemble(rows: list[dict[str, Any]], all_releases: dict[str, list[pypi.Artifact]] | None = None) -> dict[str, Any]:
    """The document from its rows (oldest first); nothing here spans releases."""
    return {
        "schema": "stcompat.kb.sentence_transformers/1",
        "built": datetime.date.today().isoformat(),
        "package": PACKAGE,
        "releases": rows,
    }


def build(versions: list[str] | None = None, until: datetime.datetime | None = None) -> dict[str, Any]:
    """The sentence-transformers part of the knowledge base (releases published up to ``until``)."""
    all_releases = pypi.releases(PACKAGE, until=until)
    chosen = {v: a for v, a in select(all_releases).items() if versions is None or v in versions}
    return assemble(extract(chosen), all_releases)


def summary(document: dict[str, Any]) -> dict[str, Any]:
    """The reader's summary (kb/query.ReaderFacts, kb/data/reader_facts.json) of a document's releases."""
    from stcompat.kb.query import StRelease, reader_facts

    return reader_facts([StRelease(r) for r in document["releases"]]).as_dict()


def main() -> None:
    import sys

    document = build(sys.argv[1:] or None)
    for release in document["releases"]:
        print(release["version"], release["cst_keys_read"], bool(release["version_warning"]),
              len(release["exports"]), len(release["loaders"]), file=sys.stderr)
    out = output.write(document, "sentence_transformers.json")
    print(f"wrote {out} ({out.stat().st_size} bytes)", file=sys.stderr)
    # The reader's summary (kb/query.ReaderFacts), derived from the document just written.
    path = output.DATA / "reader_facts.json"
    path.write_text(json.dumps(summary(document), indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
