"""transformers facts for the knowledge base, read from released wheels by static analysis only.

For the last patch of every minor release from 4.6 on (pre-releases left out) this reads, with ``ast`` and
plain text, never importing anything from the wheel:

* ``model_types``: the keys of the model_type -> config class mapping of ``AutoConfig``. Its name and place
  changed over time: ``CONFIG_MAPPING = OrderedDict([("bert", BertConfig), ...])`` (4.6 - 4.11, values are
  classes), ``CONFIG_MAPPING_NAMES = OrderedDict([("bert", "BertConfig"), ...])`` (4.12 on, also written
  ``OrderedDict[str, str](...)``), and in late 5.x ``from .auto_mappings import CONFIG_MAPPING_NAMES`` (a
  generated module) followed by ``CONFIG_MAPPING_NAMES.update({...})`` and
  ``CONFIG_MAPPING_NAMES = OrderedDict(**{...}, **CONFIG_MAPPING_NAMES)``. A small evaluator
  (:class:`_MappingEvaluator`) replays those module-level statements in order.
* ``requires_dist`` / ``requires_python`` from the wheel's METADATA.
* ``refuses_torch_load_below`` / ``torch_load_error``: the ``check_torch_load_is_safe`` function (CVE-2025-32434)
  that makes ``torch.load`` (pickle weights such as ``pytorch_model.bin``) raise when torch is too old.
* ``unknown_model_type_error``: what ``AutoConfig.from_pretrained`` raises for a config.json whose
  ``model_type`` is not in the mapping.
* ``reads_safetensors`` / ``no_weights_error``: what ``from_pretrained`` raises for a folder without a weights
  file it reads, with ``constants``: the values of the module-level names its fields use (``WEIGHTS_NAME =
  "pytorch_model.bin"`` in ``transformers/utils/__init__.py``, ``file_utils.py`` up to 4.17).

Run ``python -m stcompat.kbbuild.transformers_facts`` to rewrite ``src/stcompat/kb/data/transformers.json``.
"""

from __future__ import annotations

import ast
import json
import re
import sys
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from functools import lru_cache

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from . import output, pypi, remote_code_facts, tokenizer_files_facts
from .source_text import raised_message

SCHEMA = "stcompat.kb.transformers/1"
PACKAGE = "transformers"
FIRST_MINOR = Version("4.6")
OUTPUT = output.DATA / "transformers.json"

REQUIREMENTS = ("tokenizers", "huggingface-hub", "safetensors", "torch", "numpy")
"""Base requirements (no extra) whose specifiers are recorded."""

CONFIG_AUTO = "transformers/models/auto/configuration_auto.py"
MAPPING_NAMES = ("CONFIG_MAPPING_NAMES", "CONFIG_MAPPING")
"""Names the model_type mapping has had, newest first; the first one a module binds is used."""

TORCH_LOAD_CHECK = "check_torch_load_is_safe"
_VERSION_LITERAL = re.compile(r"^\d+(\.\d+)+$")

NOTE = ("model_types of a scanned release R = every key of first_release_with_model_type whose first release is "
        "R or earlier and whose last_release_with_model_type (present only for types later removed) is R or later; "
        "each release row also lists model_types_added/model_types_removed against the previous scanned release "
        "and model_type_count. "
        "unknown_model_type_error per release: exception ValueError with the message template raised from "
        "AutoConfig.from_pretrained's except KeyError, or exception KeyError when the release lets the "
        "mapping's KeyError escape (message {config_dict['model_type']!r}, shown as KeyError: 'modernbert'); "
        "missing_model_type is the error for a config.json without model_type. "
        "Only the last patch release of each minor version is scanned (pre-releases left out), so "
        "first_release_with_model_type names the first scanned release whose AutoConfig mapping has the "
        "model_type; earlier patches of that minor may lack it, and a type added in a patch release shows up "
        "at that minor's last patch. Facts about other patch releases are those of their minor's last patch. "
        "requires_dist keeps base requirements only (no extras; torch is never a base requirement of "
        "transformers, hence null). refuses_torch_load_below is the torch version that "
        f"{TORCH_LOAD_CHECK}() compares against; pickle weights (pytorch_model.bin) raise torch_load_error "
        "below it, safetensors are not affected; first_release_refusing_torch_load is exact to the patch (the "
        "earlier patches of the first scanned minor with the check are read too). "
        "no_weights_error.constants holds the values of the names its message fields read (WEIGHTS_NAME, ...), "
        "as that release's modeling_utils imports them. "
        "default_dtype is the dtype PreTrainedModel.from_pretrained loads with when the caller passes none, as "
        "its code sets it (\"auto\": the dtype config.json's dtype/torch_dtype or the weights declare; null: "
        "torch's default, float32). "
        "pickle_load_errors: the errors load_state_dict raises in place of torch.load's own for a pickle it "
        "cannot load (lfs_pointer: the file starts with 'version'; unreadable: anything else, e.g. a truncated "
        "zip); null where torch.load's error goes through unchanged.")


# ---------------------------------------------------------------------------------------------------------------
# The model_type mapping


class _MappingEvaluator:
    """Replays the module-level statements that build the model_type mapping; keys only matter.

    Understood forms (anything else binding the name raises, so a new layout is noticed, not silently wrong):
    ``X = OrderedDict([(k, v), ...])``, ``X = OrderedDict[str, str]([...])``, ``X = {k: v}``, ``X = dict(...)``,
    ``X = OrderedDict(**{...}, **X)``, ``X.update({...})`` / ``X.update([...])``, ``X[k] = v``, and
    ``from .module import X`` (evaluated in that module through ``load``).
    """

    def __init__(self, load):
        self.load = load  # module path (e.g. "transformers/models/auto/auto_mappings.py") -> source or None

    def evaluate(self, path: str, name: str | None = None) -> tuple[str, list[str]] | None:
        """(name bound, keys in order) for the first of MAPPING_NAMES (or ``name``) the module binds."""
        source = self.load(path)
        if source is None:
            return None
        tree = ast.parse(source)
        names = (name,) if name else MAPPING_NAMES
        for candidate in names:
            keys = self._replay(tree, path, candidate)
            if keys is not None:
                return candidate, keys
        return None

    def _replay(self, tree: ast.Module, path: str, name: str) -> list[str] | None:
        state: dict[str, str] | None = None  # insertion-ordered
        for statement in tree.body:
            if isinstance(statement, ast.ImportFrom) and any(a.name == name for a in statement.names):
                alias = next(a for a in statement.names if a.name == name)
                if alias.asname not in (None, name):
                    continue
                found = self.evaluate(_resolve(path, statement), name)
                if found is None:
                    raise ValueError(f"{path}: cannot follow 'from {statement.module} import {name}'")
                state = dict.fromkeys(found[1], "")
            elif isinstance(statement, (ast.Assign, ast.AnnAssign)):
                targets = statement.targets if isinstance(statement, ast.Assign) else [statement.target]
                for target in targets:
                    if isinstance(target, ast.Name) and target.id == name:
                        state = self._value(statement.value, name, state, path)
                    elif (isinstance(target, ast.Subscript) and isinstance(target.value, ast.Name)
                          and target.value.id == name and state is not None):
                        key = _str(target.slice)
                        if key is not None:
                            state[key] = ""
            elif (isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Call)
                  and isinstance(statement.value.func, ast.Attribute)
                  and statement.value.func.attr == "update"
                  and isinstance(statement.value.func.value, ast.Name)
                  and statement.value.func.value.id == name and state is not None):
                for argument in statement.value.args:
                    state.update(self._value(argument, name, state, path))
        return None if state is None else list(state)

    def _value(self, node: ast.AST, name: str, state: dict[str, str] | None, path: str) -> dict[str, str]:
        if isinstance(node, ast.Dict):
            found: dict[str, str] = {}
            for key, value in zip(node.keys, node.values):
                if key is None:  # {**other}
                    found.update(self._value(value, name, state, path))
                elif _str(key) is not None:
                    found[_str(key)] = ""
            return found
        if isinstance(node, (ast.List, ast.Tuple)):
            found = {}
            for element in node.elts:
                if isinstance(element, (ast.Tuple, ast.List)) and element.elts and _str(element.elts[0]):
                    found[_str(element.elts[0])] = ""
            return found
        if isinstance(node, ast.Name) and node.id == name and state is not None:
            return dict(state)
        if isinstance(node, ast.Call):
            func = node.func.value if isinstance(node.func, ast.Subscript) else node.func  # OrderedDict[str, str]
            if isinstance(func, ast.Name) and func.id in ("OrderedDict", "dict"):
                found = {}
                for argument in node.args:
                    found.update(self._value(argument, name, state, path))
                for keyword in node.keywords:
                    if keyword.arg is None:
                        found.update(self._value(keyword.value, name, state, path))
                    else:
                        found[keyword.arg] = ""
                return found
        raise ValueError(f"{path}: unsupported form for {name}: {ast.unparse(node)[:120]}")


def _str(node: ast.AST) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _resolve(path: str, statement: ast.ImportFrom) -> str:
    """Member path of a relative ``from .x import`` inside the wheel."""
    parts = path.split("/")[:-1]
    if statement.level:
        parts = parts[: len(parts) - (statement.level - 1)]
        return "/".join(parts + (statement.module or "").split(".")) + ".py"
    return "/".join((statement.module or "").split(".")) + ".py"


# ---------------------------------------------------------------------------------------------------------------
# AutoConfig.from_pretrained: what an unknown model_type raises


def unknown_model_type_error(tree: ast.Module) -> dict | None:
    """What ``AutoConfig.from_pretrained`` raises for a model_type missing from the mapping.

    Newer releases wrap ``CONFIG_MAPPING[config_dict["model_type"]]`` in ``try/except KeyError`` and raise a
    ValueError with a long message; older ones let the mapping's ``KeyError(model_type)`` escape (the user sees
    ``KeyError: 'modernbert'``). ``missing_model_type`` is the message raised when config.json has no
    ``model_type`` at all and the folder name matches no known type ("Unrecognized model in ...").
    """
    method = _find_method(tree, "AutoConfig", "from_pretrained")
    if method is None:
        return None
    result: dict = {"exception": None, "message": None, "missing_model_type": None}
    for node in ast.walk(method):
        if isinstance(node, ast.Try):
            if not any(_subscripts_mapping(statement) for statement in node.body):
                continue
            for handler in node.handlers:
                if handler.type is not None and "KeyError" in ast.unparse(handler.type):
                    for inner in ast.walk(handler):
                        if isinstance(inner, ast.Raise) and raised_message(inner):
                            result["exception"], result["message"] = raised_message(inner)
                            break
    if result["exception"] is None and _subscripts_mapping(method):
        # the mapping's own KeyError(model_type): printed as KeyError: 'modernbert'
        result["exception"], result["message"] = "KeyError", "{config_dict['model_type']!r}"
    raises = [raised_message(n) for n in ast.walk(method) if isinstance(n, ast.Raise)]
    for found in raises:
        if found and found[1] and found[1].startswith("Unrecognized model in"):
            result["missing_model_type"] = found[1]
    return result


def _find_method(tree: ast.Module, cls: str, method: str) -> ast.FunctionDef | None:
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == cls:
            for item in node.body:
                if isinstance(item, ast.FunctionDef) and item.name == method:
                    return item
    return None


def _subscripts_mapping(node: ast.AST) -> bool:
    """Whether ``node`` contains ``CONFIG_MAPPING[config_dict["model_type"]]``."""
    for inner in ast.walk(node):
        if (isinstance(inner, ast.Subscript) and isinstance(inner.value, ast.Name)
                and inner.value.id == "CONFIG_MAPPING" and "model_type" in ast.unparse(inner.slice)):
            return True
    return False


# ---------------------------------------------------------------------------------------------------------------
# torch.load safety check


def torch_load_check(sources: dict[str, str]) -> dict:
    """Where ``check_torch_load_is_safe`` is defined, the torch version it requires, its message, its callers.

    The version is the version-shaped string literal passed to a call in the function's ``if`` test
    (``if not is_torch_greater_or_equal("2.6"):``); the message is the template of the ValueError it raises.
    """
    found = {"refuses_torch_load_below": None, "torch_load_error": None, "torch_load_check_callers": []}
    for path, source in sorted(sources.items()):
        tree = ast.parse(source)
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef) and node.name == TORCH_LOAD_CHECK:
                for inner in ast.walk(node):
                    if isinstance(inner, ast.If):
                        for call in ast.walk(inner.test):
                            if isinstance(call, ast.Call):
                                for arg in call.args:
                                    if _str(arg) and _VERSION_LITERAL.match(_str(arg)):
                                        found["refuses_torch_load_below"] = _str(arg)
                    if isinstance(inner, ast.Raise) and raised_message(inner):
                        found["torch_load_error"] = raised_message(inner)[1]
                if found["refuses_torch_load_below"] is None:
                    raise ValueError(f"{path}: {TORCH_LOAD_CHECK} found but no version literal in its test")
            elif (isinstance(node, ast.Call) and isinstance(node.func, (ast.Name, ast.Attribute))
                  and (node.func.id if isinstance(node.func, ast.Name) else node.func.attr) == TORCH_LOAD_CHECK):
                module = path.removesuffix(".py").replace("/", ".")
                if module not in found["torch_load_check_callers"]:
                    found["torch_load_check_callers"].append(module)
    return found


# ---------------------------------------------------------------------------------------------------------------
# METADATA


def requirements(metadata: str) -> tuple[dict[str, str | None], str | None]:
    """Specifiers (as written, markers other than extras kept after ';') of REQUIREMENTS, and Requires-Python."""
    specs: dict[str, str | None] = dict.fromkeys(REQUIREMENTS)
    requires_python = None
    for line in metadata.splitlines():
        if not line.strip():
            break  # end of headers
        if line.startswith("Requires-Python:"):
            requires_python = line.split(":", 1)[1].strip() or None
        if not line.startswith("Requires-Dist:"):
            continue
        text = line.split(":", 1)[1].strip()
        try:
            requirement = Requirement(text)
        except InvalidRequirement:
            continue
        if requirement.marker is not None and "extra" in str(requirement.marker):
            continue
        name = canonicalize_name(requirement.name)
        if name not in REQUIREMENTS:
            continue
        head, _, marker = text.partition(";")
        head = head.strip()[len(requirement.name):].strip()
        head = re.sub(r"^\[[^\]]*\]\s*", "", head)
        if head.startswith("(") and head.endswith(")"):
            head = head[1:-1].strip()
        spec = head + (f"; {marker.strip()}" if marker.strip() else "")
        specs[name] = spec if specs[name] is None else f"{specs[name]} | {spec}"
    return specs, requires_python


# ---------------------------------------------------------------------------------------------------------------


MODELING_UTILS = "transformers/modeling_utils.py"


CONSTANT_MODULES = ("transformers/utils/", "transformers/file_utils.py")
"""Where modeling_utils takes its file-name constants from (file_utils up to 4.17, utils after)."""


def weights_facts(source: str | None, sources: dict[str, str]) -> dict:
    """Whether from_pretrained reads model.safetensors (it names SAFE_WEIGHTS_NAME), and the error it
    raises when a folder holds no weights file it can read (the message template, fields kept), with
    the values of the module-level constants its fields name (``WEIGHTS_NAME`` -> ``pytorch_model.bin``)."""
    if source is None:
        return {"reads_safetensors": None, "no_weights_error": None, "default_dtype": None,
                "pickle_load_errors": None}
    tree = ast.parse(source)
    candidates = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Raise):
            found = raised_message(node)
            if found and found[1] and "no file named" in found[1]:
                candidates.append({"exception": found[0].rsplit(".", 1)[-1], "message": found[1]})
    # The generic message is the one raised when no known weights file is there at all; the others
    # add "but there is a file for TensorFlow/Flax weights".
    generic = [c for c in candidates if " but " not in c["message"]]
    error = (generic or candidates or [None])[0]
    if error is not None:
        error["constants"] = {name: value for name in sorted(_field_names(error["message"]))
                              if (value := _constant(MODELING_UTILS, name, sources)) is not None}
    return {"reads_safetensors": "SAFE_WEIGHTS_NAME" in source, "no_weights_error": error,
            "default_dtype": default_dtype(tree), "pickle_load_errors": pickle_load_errors(tree)}


PICKLE_LOADER = "load_state_dict"


def pickle_load_errors(tree: ast.Module) -> dict | None:
    """What ``load_state_dict`` raises in place of torch.load's own error for a pickle it cannot load: the
    Git LFS pointer message (the file starts with ``version``) and the generic one (anything else), as
    ``{"lfs_pointer": {exception, message}, "unreadable": {exception, message}}``. None where the function
    lets torch.load's error through (transformers 5)."""
    function = next((n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == PICKLE_LOADER), None)
    if function is None:
        return None
    found: dict = {}
    for node in ast.walk(function):
        handler = node if isinstance(node, ast.ExceptHandler) else None
        if handler is None:
            continue
        for inner in ast.walk(handler):
            raised = raised_message(inner) if isinstance(inner, ast.Raise) else None
            if not raised or not raised[1]:
                continue
            exception = raised[0].rsplit(".", 1)[-1]
            kind = "lfs_pointer" if "git-lfs" in raised[1] else \
                "unreadable" if "Unable to load weights from pytorch checkpoint" in raised[1] else None
            if kind and kind not in found:
                found[kind] = {"exception": "OSError" if exception == "EnvironmentError" else exception,
                               "message": raised[1]}
    return found if {"lfs_pointer", "unreadable"} <= set(found) else None


DTYPE_ARGUMENTS = ("dtype", "torch_dtype")
"""The names from_pretrained's dtype argument has had (torch_dtype up to 4.x, dtype from 4.56 on)."""


def default_dtype(tree: ast.Module) -> str | None:
    """The dtype ``from_pretrained`` loads with when the caller names none, as its code sets it:
    ``if dtype is None: dtype = "auto"`` (5.0 on: the checkpoint's dtype, from config.json or the weights)
    gives ``"auto"``; None when the function sets no such default (the model is built in torch's default
    dtype, float32)."""
    for function in ast.walk(tree):
        if not (isinstance(function, ast.FunctionDef) and function.name == "from_pretrained"):
            continue
        for node in ast.walk(function):
            test = node.test if isinstance(node, ast.If) else None
            if not (isinstance(test, ast.Compare) and isinstance(test.left, ast.Name)
                    and test.left.id in DTYPE_ARGUMENTS and len(test.ops) == 1 and isinstance(test.ops[0], ast.Is)
                    and isinstance(test.comparators[0], ast.Constant) and test.comparators[0].value is None):
                continue
            for statement in node.body:
                if isinstance(statement, ast.Assign) and isinstance(statement.value, ast.Constant) \
                        and isinstance(statement.value.value, str) \
                        and any(isinstance(t, ast.Name) and t.id == test.left.id for t in statement.targets):
                    return statement.value.value
    return None


def _field_names(message: str) -> list[str]:
    """Names the ``{expr}`` fields of a template read (called functions left out), in order."""
    names: list[str] = []
    for field in re.findall(r"\{([^{}]+)\}", message):
        try:
            tree = ast.parse(field, mode="eval")
        except SyntaxError:
            continue
        called = {id(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)}
        names += [n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and id(n) not in called and n.id not in names]
    return names


def _constant(path: str, name: str, sources: dict[str, str], depth: int = 0) -> str | None:
    """The str value module ``path`` binds to ``name`` at top level, following ``from X import name``."""
    source = sources.get(path)
    if source is None or depth > 3:
        return None
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
            return node.value.value if isinstance(node.value, ast.Constant) and isinstance(node.value.value, str) \
                else None
        if isinstance(node, ast.ImportFrom) and any((a.asname or a.name) == name for a in node.names):
            target = _resolve(path, node)
            package = target.removesuffix(".py") + "/__init__.py"
            found = _constant(target if target in sources else package, name, sources, depth + 1)
            if found is not None:
                return found
    return None


ST_DATA = output.DATA / "sentence_transformers.json"


@lru_cache(maxsize=1)
def st_submodule_imports() -> tuple[str, ...]:
    """Every ``module:name`` some sentence-transformers release imports from a transformers submodule at
    import time (kb/data/sentence_transformers.json ``transformers_imports``: the st part is built first)."""
    if not ST_DATA.is_file():
        return ()
    document = json.loads(ST_DATA.read_text(encoding="utf-8"))
    return tuple(sorted({pair for row in document["releases"] for pair in row.get("transformers_imports", ())}))


def _module_files(module: str) -> tuple[str, str]:
    path = module.replace(".", "/")
    return f"{path}.py", f"{path}/__init__.py"


def _dynamic(source: str) -> bool:
    """A module that can serve names it does not bind: a lazy module or a module-level __getattr__."""
    return re.search(r"^\s*sys\.modules\[__name__\]\s*=|^def __getattr__\(", source, re.M) is not None


def binds(source: str, name: str) -> bool | None:
    """Whether module-level code binds ``name`` (def, class, assignment, import, also inside if/try);
    None when that cannot be told statically (a star import, a lazy module, a module __getattr__)."""
    if _dynamic(source):
        return None
    star = False
    pending = list(ast.parse(source).body)
    while pending:
        node = pending.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name == name:
            return True
        if isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(n, ast.Name) and n.id == name for t in targets for n in ast.walk(t)):
                return True
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                star = star or alias.name == "*"
                if (alias.asname or alias.name.split(".")[0]) == name:
                    return True
        elif isinstance(node, (ast.If, ast.Try, ast.With)):
            for field in ("body", "orelse", "finalbody", "handlers"):
                pending.extend(getattr(node, field, ()) or ())
        elif isinstance(node, ast.ExceptHandler):
            pending.extend(node.body)
    return None if star else False


def lacks_st_imports(files: dict[str, str], wanted: tuple[str, ...]) -> list[str]:
    """The ``module:name`` pairs of ``wanted`` this release surely lacks: the module is missing (and no
    parent package is lazy) or binds no such name. Anything that cannot be told statically is left out."""
    lacking = []
    for pair in wanted:
        module, name = pair.split(":")
        found = next((files[f] for f in _module_files(module) if f in files), None)
        if found is None:
            parents = [module.rsplit(".", i)[0] for i in range(1, module.count("."))]
            if not any(_dynamic(files.get(_module_files(p)[1], "")) for p in parents):
                lacking.append(pair)
        elif binds(found, name) is False and not any(f in files for f in _module_files(f"{module}.{name}")):
            lacking.append(pair)  # (a submodule of that name is imported by the statement itself)
    return sorted(lacking)


def _wanted_files(wanted: tuple[str, ...]) -> set[str]:
    """The files that tell whether each ``module:name`` exists: the module, its packages' __init__ files,
    and a submodule of that name."""
    files: set[str] = set()
    for pair in wanted:
        module, name = pair.split(":")
        for prefix in [module.rsplit(".", i)[0] for i in range(module.count("."))] + [f"{module}.{name}"]:
            files.update(_module_files(prefix))
    return files


def release_facts(version: str, artifact: pypi.Artifact) -> dict:
    """Facts of one release, from its wheel."""
    path = pypi.download(artifact)
    sources: dict[str, str] = {}
    checks: dict[str, str] = {}
    wanted = st_submodule_imports()
    imported = _wanted_files(wanted)
    st_modules: dict[str, str] = {}
    for name, data in pypi.members(path, (".py",)):
        if name in imported:
            st_modules[name] = data.decode("utf-8")
        if name.startswith(("transformers/models/auto/", *CONSTANT_MODULES)) or name in (MODELING_UTILS,
                                                                                         remote_code_facts.FILE):
            sources[name] = data.decode("utf-8")
        if TORCH_LOAD_CHECK.encode() in data:
            checks[name] = data.decode("utf-8")
    if CONFIG_AUTO not in sources:
        raise ValueError(f"{artifact.filename}: no {CONFIG_AUTO}")
    found = _MappingEvaluator(sources.get).evaluate(CONFIG_AUTO)
    if found is None:
        raise ValueError(f"{artifact.filename}: no model_type mapping in {CONFIG_AUTO}")
    mapping_name, keys = found
    specs, requires_python = requirements(pypi.metadata_text(path))
    torch_load = torch_load_check(checks)
    return {
        "version": version,
        "artifact": artifact.record(),
        "model_types": sorted(keys),  # replaced by added/removed in build(), see NOTE
        "requires_dist": specs,
        "requires_python": requires_python or artifact.requires_python,
        "refuses_torch_load_below": torch_load["refuses_torch_load_below"],
        "torch_load_error": torch_load["torch_load_error"],
        "torch_load_check_callers": torch_load["torch_load_check_callers"],
        "unknown_model_type_error": unknown_model_type_error(ast.parse(sources[CONFIG_AUTO])),
        "mapping_source": mapping_name,
        **weights_facts(sources.get(MODELING_UTILS), sources),
        # what `import sentence_transformers` takes from transformers submodules and this release lacks
        "lacks_st_imports": lacks_st_imports(st_modules, wanted),
        # AutoTokenizer on a folder with no tokenizer file: raises, converts (protobuf) or a default vocab
        "missing_tokenizer_files": tokenizer_files_facts.missing_tokenizer_files(path),
        # a config.json whose auto_map points at code in the folder: the prompt and the refusal
        "remote_code": remote_code_facts.remote_code_facts(sources.get(remote_code_facts.FILE)),
    }


def model_type_spans(rows: list[dict]) -> tuple[dict[str, str], dict[str, str]]:
    """First and last (only for types later removed) scanned release of each model_type.

    Rewrites each row's full ``model_types`` list as ``model_types_added`` / ``model_types_removed`` relative to
    the previous scanned release (the full lists would make the file several hundred KB), and checks that no
    model_type comes back after being removed, so that [first, last] spans describe membership exactly.
    """
    first: dict[str, str] = {}
    last: dict[str, str] = {}
    previous: list[str] = []
    previous_version = None
    for row in rows:
        current = row.pop("model_types")
        added = sorted(set(current) - set(previous))
        removed = sorted(set(previous) - set(current))
        for model_type in added:
            if model_type in first:
                raise ValueError(f"model_type {model_type!r} removed and added again in {row['version']}: "
                                 "[first, last] spans no longer describe membership")
            first[model_type] = row["version"]
        for model_type in removed:
            last[model_type] = previous_version
        row["model_types_added"], row["model_types_removed"] = added, removed
        row["model_type_count"] = len(current)
        previous, previous_version = current, row["version"]
    return dict(sorted(first.items())), dict(sorted(last.items()))


def model_types_at(document: dict, version: str) -> list[str]:
    """The model_types of a scanned release, rebuilt from the spans (what a reader of the JSON does)."""
    order = [row["version"] for row in document["releases"]]
    index = order.index(version)
    last = document["last_release_with_model_type"]
    return sorted(t for t, first in document["first_release_with_model_type"].items()
                  if order.index(first) <= index and (t not in last or index <= order.index(last[t])))


def first_patch_refusing_torch_load(all_releases: dict[str, list[pypi.Artifact]], found: str | None) -> str | None:
    """The earliest patch of ``found``'s minor (found is its last patch) that has the torch.load check."""
    if found is None:
        return None
    for version in pypi.earlier_patches(all_releases, found):
        artifact = pypi.pick(all_releases[version], prefer="wheel")
        checks = {name: data.decode("utf-8") for name, data in pypi.members(pypi.download(artifact), (".py",))
                  if TORCH_LOAD_CHECK.encode() in data}
        if torch_load_check(checks)["refuses_torch_load_below"] is not None:
            return version
    return found


def select(all_releases: dict[str, list[pypi.Artifact]]) -> dict[str, pypi.Artifact]:
    """The releases the knowledge covers (each minor's last patch from FIRST_MINOR) and their wheels."""
    return pypi.last_patch_wheels(PACKAGE, FIRST_MINOR, all_releases)


def extract(artifacts: dict[str, pypi.Artifact]) -> list[dict]:
    """One row per release, in the order given (oldest first)."""
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(pypi.download, artifacts.values()))
        return list(pool.map(lambda item: release_facts(*item), artifacts.items()))


def build(until: datetime | None = None) -> dict:
    """The transformers part of the knowledge base (releases published up to ``until``)."""
    all_releases = pypi.releases(PACKAGE, until=until)
    return assemble(extract(select(all_releases)), all_releases)


def rows_of(document: dict) -> list[dict]:
    """A written document's rows as ``extract`` gives them (their full ``model_types`` back)."""
    return [tokenizer_files_facts.with_fast_tokenizers(document, {**row, "model_types": model_types_at(
        document, row["version"])}) for row in document["releases"]]


def assemble(rows: list[dict], all_releases: dict[str, list[pypi.Artifact]]) -> dict:
    """The document from rows that carry their ``model_types`` (oldest first), with the facts that span
    releases; the spans replace the lists."""
    rows = [dict(row) for row in rows]
    first, last = model_type_spans(rows)
    refusing = [row["version"] for row in rows if row["refuses_torch_load_below"] is not None]
    newest_4 = [row for row in rows if Version(row["version"]).major == 4][-1]
    error = newest_4["unknown_model_type_error"] or {}
    return {
        "schema": SCHEMA,
        "built": datetime.now(timezone.utc).date().isoformat(),
        "package": PACKAGE,
        "note": NOTE,
        "releases": rows,
        "first_release_with_model_type": first,
        "last_release_with_model_type": last,
        "first_release_refusing_torch_load": first_patch_refusing_torch_load(
            all_releases, refusing[0] if refusing else None),
        "unknown_model_type_error": error.get("message"),
        "unknown_model_type_error_release": newest_4["version"],
        # the class named in "Can't load tokenizer ... for a XFast tokenizer" (rows' missing_tokenizer_files)
        "fast_tokenizer_spans": tokenizer_files_facts.fast_tokenizer_spans(rows),
    }


def main(argv: list[str] | None = None) -> int:
    return output.run(build, OUTPUT.name)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
