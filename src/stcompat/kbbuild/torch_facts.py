"""torch facts for the knowledge base, read statically from each release's own wheel on PyPI.

For every torch release from 2.0.0 on (pre-releases left out), one manylinux x86_64 CPython wheel (all platform
wheels carry the same Python files):

- ``dtypes``: the dtype names the release defines (aliases such as ``half`` or ``long`` included), sorted: the
  top-level ``<name>: dtype = ...`` declarations of ``torch/_C/__init__.pyi`` (the same layout from 2.0 on).
- ``scalar_types``: the C++ ScalarType names the release's core library defines, sorted: the entries
  ``_(cpp_type, Name)`` of the ``AT_FORALL_SCALAR_TYPES_WITH_COMPLEX_AND_QINTS`` macro (the list the ScalarType
  enum is generated from) in the bundled header ``torch/include/c10/core/ScalarType.h`` (from 2.9 also
  ``torch/include/torch/headeronly/core/ScalarType.h``). The pyi is not complete: 2.1 defines
  ``torch.float8_e4m3fn``/``float8_e5m2`` and the ``bits*`` dtypes (ScalarType ``Float8_e4m3fn``, ...) but its
  pyi does not declare them, and no pyi declares the sub-byte ``uint1``..``uint7``/``int1``..``int7``. For
  float8*, float4*, uint16/32/64, int1-7/uint1-7 and bits* the Python name is the ScalarType name lower-cased.
- ``weights_only_default``: whether ``torch.load(f)`` with neither ``weights_only`` nor ``pickle_module`` loads
  with weights_only=True. Decided from ``torch/serialization.py`` with ast (``weights_only_default``): the
  parameter's default, and when that is None, what ``load`` assigns to it while it is unset (2.4/2.5: False,
  with a warning; from 2.6: ``_default_to_weights_only(pickle_module)``, evaluated for a PyPI build).
- ``weights_only_env``: the environment variables ``torch/serialization.py`` reads that force weights_only on or
  off (``os.getenv``/``os.environ`` reads whose name mentions WEIGHTS_ONLY), sorted.
- ``artifact`` (filename, sha256, upload_time from the index) and ``members`` (the wheel members read).

Also ``SAFETENSORS_TO_TORCH``: safetensors dtype codes -> torch dtype names.

Wheels are never downloaded whole (~800 MB): the zip's central directory and three or four members are read
with HTTP range requests (providers._RangeReader), about 2.3-3.3 MB a release. Each release's facts are cached beside the
downloads as ``<filename>.torch-facts.json``, so a rerun and an offline run (``--offline``) read no wheel.
Nothing downloaded is imported or executed.

Run ``python -m stcompat.kbbuild.torch_facts [--offline]`` to rewrite ``src/stcompat/kb/data/torch.json``.
"""

from __future__ import annotations

import ast
import io
import json
import re
import sys
import zipfile
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from typing import Any

from packaging.utils import InvalidWheelFilename, parse_wheel_filename
from packaging.version import Version

from . import output, pypi
from .providers import _BLOCK, _RangeReader

SCHEMA = "stcompat.kb.torch/1"
PACKAGE = "torch"
FIRST = Version("2.0.0")
OUTPUT = output.DATA / "torch.json"

PYI = "torch/_C/__init__.pyi"
SERIALIZATION = "torch/serialization.py"
SCALAR_TYPE_HEADERS = ("torch/include/c10/core/ScalarType.h", "torch/include/torch/headeronly/core/ScalarType.h")
"""Where the ScalarType list is defined (the second from 2.9; the first then includes it)."""
SCALAR_TYPE_MACRO = "AT_FORALL_SCALAR_TYPES_WITH_COMPLEX_AND_QINTS"

EXTRACTOR = 2
"""Bumped when what is extracted changes: a cached record of another version is read again (online)."""

# safetensors dtype code -> torch dtype name. Source: safetensors 0.8.0's safetensors/torch.py, ``_TYPES``
# (F64..BOOL, F8_E4M3 -> torch.float8_e4m3fn, F8_E5M2 -> torch.float8_e5m2, F8_E4M3FNUZ/F8_E5M2FNUZ, C64; and,
# under ``if hasattr(torch, "uint64"):  # Torch 2.3.0+``, U64/U32/U16). A code whose torch dtype a release lacks
# (see each release's ``dtypes``) cannot be loaded into torch by that release.
SAFETENSORS_TO_TORCH: dict[str, str] = {
    "F64": "float64",
    "F32": "float32",
    "F16": "float16",
    "BF16": "bfloat16",
    "I64": "int64",
    "I32": "int32",
    "I16": "int16",
    "I8": "int8",
    "U8": "uint8",
    "BOOL": "bool",
    "F8_E4M3": "float8_e4m3fn",
    "F8_E4M3FNUZ": "float8_e4m3fnuz",
    "F8_E5M2": "float8_e5m2",
    "F8_E5M2FNUZ": "float8_e5m2fnuz",
    "C64": "complex64",
    "U16": "uint16",
    "U32": "uint32",
    "U64": "uint64",
}

_DTYPE_LINE = re.compile(r"^([A-Za-z_]\w*)\s*:\s*dtype\s*=", re.M)


# --- dtypes -------------------------------------------------------------------------------------------------

def dtype_names(pyi: str) -> list[str]:
    """The names declared at top level as ``<name>: dtype = ...`` in ``torch/_C/__init__.pyi``, sorted."""
    try:
        tree = ast.parse(pyi)
    except SyntaxError:  # a stub Python cannot parse: the declarations are still one per line
        return sorted(set(_DTYPE_LINE.findall(pyi)))
    return sorted({node.target.id for node in tree.body
                   if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
                   and isinstance(node.annotation, ast.Name) and node.annotation.id == "dtype"})


_MACRO_ENTRY = re.compile(r"\b_\(\s*[^,()]+?\s*,\s*(\w+)\s*\)")


def scalar_types(header: str) -> list[str] | None:
    """The ScalarType names of the ``#define AT_FORALL_SCALAR_TYPES_WITH_COMPLEX_AND_QINTS(_)`` macro in a
    ScalarType.h, sorted; None when the header does not define the macro."""
    match = re.search(r"^[ \t]*#[ \t]*define[ \t]+" + SCALAR_TYPE_MACRO + r"\(_\)((?:.*\\\n)*.*)$", header, re.M)
    if match is None:
        return None
    return sorted(set(_MACRO_ENTRY.findall(match.group(1))))


# --- weights_only default -----------------------------------------------------------------------------------

class Undecided(ValueError):
    """serialization.py's code does not show what torch.load's weights_only default is."""


def _function(tree: ast.Module, name: str) -> ast.FunctionDef | None:
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == name:
            return node
    return None


def _parameter_defaults(function: ast.FunctionDef) -> dict[str, ast.expr | None]:
    """Parameter name -> its default expression (None: no default)."""
    args = function.args
    positional = args.posonlyargs + args.args
    defaults: dict[str, ast.expr | None] = {a.arg: None for a in positional}
    for arg, default in zip(positional[len(positional) - len(args.defaults):], args.defaults):
        defaults[arg.arg] = default
    for arg, default in zip(args.kwonlyargs, args.kw_defaults):
        defaults[arg.arg] = default
    return defaults


def _is_none_test(test: ast.expr, name: str, unset_flags: set[str]) -> bool | None:
    """True if ``test`` holds exactly when ``name`` is None, False if exactly when it is not, else None."""
    if isinstance(test, ast.Name) and test.id in unset_flags:
        return True
    if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
        inner = _is_none_test(test.operand, name, unset_flags)
        return None if inner is None else not inner
    if (isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.left, ast.Name)
            and test.left.id == name and isinstance(test.comparators[0], ast.Constant)
            and test.comparators[0].value is None):
        if isinstance(test.ops[0], ast.Is):
            return True
        if isinstance(test.ops[0], ast.IsNot):
            return False
    return None


def _assigned(statement: ast.stmt, name: str) -> ast.expr | None:
    """The value ``statement`` assigns to ``name`` (plain or tuple assignment), or None."""
    if not isinstance(statement, ast.Assign):
        return None
    for target in statement.targets:
        if isinstance(target, ast.Name) and target.id == name:
            return statement.value
        if isinstance(target, (ast.Tuple, ast.List)) and isinstance(statement.value, (ast.Tuple, ast.List)):
            for element, value in zip(target.elts, statement.value.elts):
                if isinstance(element, ast.Name) and element.id == name:
                    return value
    return None


def _when_unset(body: list[ast.stmt], name: str) -> list[ast.expr]:
    """Values ``body`` assigns to ``name`` in branches taken only while ``name`` is unset (None).

    The condition is ``name is None`` (or ``is not None``, else branch), or a flag assigned ``name is None``
    earlier in the function (2.6+: ``weights_only_not_set = weights_only is None``).
    """
    unset_flags: set[str] = set()
    found: list[ast.expr] = []
    for statement in body:
        if isinstance(statement, ast.Assign) and len(statement.targets) == 1 and isinstance(statement.targets[0], ast.Name):
            if _is_none_test(statement.value, name, set()) is True:
                unset_flags.add(statement.targets[0].id)
        if isinstance(statement, ast.If):
            branch = _is_none_test(statement.test, name, unset_flags)
            chosen = statement.body if branch is True else statement.orelse if branch is False else []
            for inner in chosen:
                value = _assigned(inner, name)
                if value is not None:
                    found.append(value)
    return found


def _evaluate(node: ast.expr, names: dict[str, Any], tree: ast.Module, depth: int = 0) -> Any:
    """A small evaluator for the expressions that decide the default (constants, names, not/and/or, ``is
    [not] None``, ``hasattr(torch.version, "git_version")``, and a call to a module-level function whose body
    is assignments and one return). Anything else raises Undecided."""
    if depth > 8:
        raise Undecided("call chain too deep")
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        if node.id in names:
            return names[node.id]
        raise Undecided(f"unknown name {node.id!r}")
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        return not _evaluate(node.operand, names, tree, depth)
    if isinstance(node, ast.BoolOp):
        values = [_evaluate(v, names, tree, depth) for v in node.values]
        if isinstance(node.op, ast.And):
            return all(values)
        return any(values)
    if isinstance(node, ast.Compare) and len(node.ops) == 1 and isinstance(node.ops[0], (ast.Is, ast.IsNot)):
        left = _evaluate(node.left, names, tree, depth)
        right = _evaluate(node.comparators[0], names, tree, depth)
        return (left is right) if isinstance(node.ops[0], ast.Is) else (left is not right)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        if node.func.id == "hasattr" and len(node.args) == 2 and ast.unparse(node.args[0]) == "torch.version":
            # torch.version.git_version exists in every build from the public repository (PyPI wheels);
            # its absence is how serialization.py recognizes Meta's internal (fbcode) build.
            if isinstance(node.args[1], ast.Constant) and node.args[1].value == "git_version":
                return True
            raise Undecided(f"hasattr(torch.version, {ast.unparse(node.args[1])})")
        callee = _function(tree, node.func.id)
        if callee is None or node.keywords:
            raise Undecided(f"call to {ast.unparse(node.func)}")
        parameters = [a.arg for a in callee.args.posonlyargs + callee.args.args]
        local = {p: _evaluate(a, names, tree, depth) for p, a in zip(parameters, node.args)}
        for statement in callee.body:
            if isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant):
                continue  # docstring
            if (isinstance(statement, ast.Assign) and len(statement.targets) == 1
                    and isinstance(statement.targets[0], ast.Name)):
                local[statement.targets[0].id] = _evaluate(statement.value, local, tree, depth + 1)
            elif isinstance(statement, ast.Return) and statement.value is not None:
                return _evaluate(statement.value, local, tree, depth + 1)
            else:
                raise Undecided(f"{callee.name}: statement {type(statement).__name__} not followed")
        raise Undecided(f"{callee.name}: no return")
    raise Undecided(f"expression {ast.unparse(node)!r} not followed")


def weights_only_default(source: str) -> bool:
    """Whether ``torch.load(f)`` (no weights_only, no pickle_module) loads with weights_only=True, from the text
    of ``torch/serialization.py``. Raises Undecided when the code does not show it."""
    tree = ast.parse(source)
    load = _function(tree, "load")
    if load is None:
        raise Undecided("no top-level def load")
    defaults = _parameter_defaults(load)
    if "weights_only" not in defaults:
        raise Undecided("load has no weights_only parameter")
    default = defaults["weights_only"]
    if default is None:
        raise Undecided("weights_only has no default")
    value = _evaluate(default, {}, tree)
    if value is not None:
        return bool(value)
    # None: load decides while it is unset; the caller passes no pickle_module, so it keeps its default
    pickle_default = defaults.get("pickle_module")
    names: dict[str, Any] = {"weights_only": None}
    if pickle_default is not None:
        try:
            names["pickle_module"] = _evaluate(pickle_default, {}, tree)
        except Undecided:
            pass  # 2.0-2.x: the default is None; a module default (pickle) is not a constant we follow
    values = _when_unset(load.body, "weights_only")
    if not values:
        raise Undecided("weights_only defaults to None and load assigns it nothing while unset")
    results = {bool(_evaluate(v, names, tree)) for v in values}
    if len(results) != 1:
        raise Undecided(f"load assigns weights_only both ways while unset: {[ast.unparse(v) for v in values]}")
    return results.pop()


# --- environment variables ----------------------------------------------------------------------------------

def _env_name(node: ast.AST) -> str | None:
    """The variable name of ``os.getenv("X", ...)``, ``os.environ.get("X", ...)`` or ``os.environ["X"]``."""
    if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
        func = ast.unparse(node.func)
        if func in ("os.getenv", "getenv", "os.environ.get", "environ.get"):
            return node.args[0].value if isinstance(node.args[0].value, str) else None
    if (isinstance(node, ast.Subscript) and ast.unparse(node.value) in ("os.environ", "environ")
            and isinstance(node.slice, ast.Constant) and isinstance(node.slice.value, str)):
        return node.slice.value
    return None


def weights_only_env(source: str) -> list[str]:
    """Environment variables serialization.py reads whose name mentions WEIGHTS_ONLY, sorted."""
    names = {_env_name(node) for node in ast.walk(ast.parse(source))}
    return sorted(n for n in names if n and "WEIGHTS_ONLY" in n)


# --- one release --------------------------------------------------------------------------------------------

def archive_facts(archive: zipfile.ZipFile) -> dict[str, Any]:
    """dtypes / weights_only_default / weights_only_env / members from an open torch wheel (remote or local)."""
    pyi = archive.read(PYI).decode("utf-8")
    serialization = archive.read(SERIALIZATION).decode("utf-8")
    members = [PYI, SERIALIZATION]
    present = set(archive.namelist())
    found = None
    for header in SCALAR_TYPE_HEADERS:
        if header in present:
            members.append(header)
            found = scalar_types(archive.read(header).decode("utf-8", "replace"))
            if found is not None:
                break
    if found is None:
        raise ValueError(f"no {SCALAR_TYPE_MACRO} in {[h for h in SCALAR_TYPE_HEADERS if h in present]}")
    return {
        "dtypes": dtype_names(pyi),
        "scalar_types": found,
        "weights_only_default": weights_only_default(serialization),
        "weights_only_env": weights_only_env(serialization),
        "members": members,
    }


def _remote_facts(artifact: pypi.Artifact) -> dict[str, Any]:
    reader = _RangeReader(artifact.url)
    with zipfile.ZipFile(io.BufferedReader(reader, buffer_size=_BLOCK)) as archive:
        facts = archive_facts(archive)
    facts["bytes_read"] = sum(len(block) for block in reader.blocks.values())
    return facts


def wheel_facts(artifact: pypi.Artifact) -> dict[str, Any]:
    """The facts of one wheel (archive_facts plus ``bytes_read``), cached as JSON beside the downloads."""
    cache = pypi.CACHE / artifact.name / f"{artifact.filename}.torch-facts.json"
    if cache.is_file():
        raw = json.loads(cache.read_text(encoding="utf-8"))
        if raw.get("extractor") == EXTRACTOR and raw.get("sha256") == artifact.sha256:
            return raw["facts"]
    if pypi.is_offline():
        raise pypi.OfflineMiss(f"offline, and the facts of {artifact.filename} are not in the cache ({cache.parent})")
    facts = _remote_facts(artifact)
    cache.parent.mkdir(parents=True, exist_ok=True)
    partial = cache.with_suffix(".part")
    partial.write_text(json.dumps({"extractor": EXTRACTOR, "filename": artifact.filename,
                                   "sha256": artifact.sha256, "facts": facts}), encoding="utf-8")
    partial.replace(cache)
    return facts


def release_facts(version: str, artifact: pypi.Artifact) -> dict[str, Any]:
    """One row of the document."""
    facts = wheel_facts(artifact)
    return {
        "version": version,
        "dtypes": facts["dtypes"],
        "scalar_types": facts["scalar_types"],
        "weights_only_default": facts["weights_only_default"],
        "weights_only_env": facts["weights_only_env"],
        "artifact": artifact.record(),
        "members": facts["members"],
    }


# --- the document -------------------------------------------------------------------------------------------

def pick_wheel(artifacts: list[pypi.Artifact]) -> pypi.Artifact | None:
    """A manylinux x86_64 CPython wheel (not free-threaded): the highest build tag, then the first file name."""
    candidates = []
    for artifact in artifacts:
        if not artifact.filename.endswith(".whl"):
            continue
        try:
            _, _, build, tags = parse_wheel_filename(artifact.filename)
        except InvalidWheelFilename:
            continue
        if any(t.interpreter.startswith("cp") and re.fullmatch(r"cp\d+", t.abi) and "manylinux" in t.platform
               and t.platform.endswith("x86_64") for t in tags):
            candidates.append(((build[0] if build else -1), artifact))
    if not candidates:
        return None
    top = max(build for build, _ in candidates)
    return sorted((a for b, a in candidates if b == top), key=lambda a: a.filename)[0]


def select(all_releases: dict[str, list[pypi.Artifact]]) -> dict[str, pypi.Artifact]:
    """Every release from FIRST on and the wheel it is read from, oldest first; ValueError if one lacks it."""
    chosen = {}
    for version in sorted(all_releases, key=Version):
        if Version(version) < FIRST:
            continue
        artifact = pick_wheel(all_releases[version])
        if artifact is None:
            raise ValueError(f"torch {version}: no manylinux x86_64 CPython wheel")
        chosen[version] = artifact
    return chosen


def extract(artifacts: dict[str, pypi.Artifact]) -> list[dict[str, Any]]:
    """One row per release, in the order given (oldest first)."""
    with ThreadPoolExecutor(4) as pool:
        return list(pool.map(lambda item: release_facts(*item), artifacts.items()))


def assemble(rows: list[dict[str, Any]], all_releases: dict[str, list[pypi.Artifact]] | None = None) -> dict[str, Any]:
    """The document from its rows (oldest first)."""
    return {
        "schema": SCHEMA,
        "built": datetime.now(timezone.utc).date().isoformat(),
        "package": PACKAGE,
        "note": ("Every torch release from 2.0.0 on (pre-releases left out), read from one manylinux x86_64 "
                 "CPython wheel with HTTP range requests. dtypes: top-level '<name>: dtype = ...' names of "
                 "torch/_C/__init__.pyi (aliases included; the 2.1 pyi omits float8_e4m3fn/float8_e5m2/bits*, which 2.1 "
                 "defines). scalar_types: C++ ScalarType names of the AT_FORALL_SCALAR_TYPES_WITH_COMPLEX_AND_QINTS "
                 "macro in the bundled ScalarType.h (for float8*/float4*/uint16-64/int1-7/uint1-7/bits* the Python "
                 "dtype name is the ScalarType name lower-cased). weights_only_default: whether torch.load(f) without "
                 "weights_only and pickle_module loads with weights_only=True, decided from torch/serialization.py "
                 "with ast. weights_only_env: environment variables serialization.py reads that force weights_only "
                 "on/off. safetensors_dtypes: safetensors dtype code -> torch dtype name (safetensors/torch.py "
                 "_TYPES). See stcompat/kbbuild/torch_facts.py."),
        "safetensors_dtypes": dict(SAFETENSORS_TO_TORCH),
        "releases": rows,
    }


def build(until: datetime | None = None) -> dict[str, Any]:
    """The torch part of the knowledge base (releases published up to ``until``)."""
    all_releases = pypi.releases(PACKAGE, until=until)
    return assemble(extract(select(all_releases)), all_releases)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    with pypi.offline("--offline" in argv):
        return output.run(build, OUTPUT.name)


if __name__ == "__main__":
    sys.exit(main())
