"""The house plan, enforced: every import points down the pipeline, and the judge never touches files.

read (model/, env/) -> know (kb/) -> judge (rules/) -> report (report/), with prove (matrix/), pin
(fingerprint/), the `check` verb and the CLI beside and above it. The walk covers every import in
every module, including the lazy ones inside functions.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src" / "stcompat"

BASE = {"errors", "codes", "vocab", "findings", "noise", "version"}
# stage -> the stages it may import (besides itself). Anything not listed is a leak.
ALLOWED: dict[str, set[str]] = {
    "vocab": set(),
    "errors": {"findings"},  # type hints only (ModelReadError carries a Finding)
    "noise": set(),
    "codes": {"vocab"},
    "findings": {"codes", "vocab"},
    "kb": BASE,
    "model": BASE | {"kb"},
    "env": BASE | {"kb"},
    "rules": BASE | {"kb", "model", "env"},
    "matrix": BASE | {"kb", "model", "env"},
    "check": BASE | {"kb", "model", "env", "rules"},
    "fingerprint": BASE | {"kb", "model", "env"},
    "report": BASE | {"kb", "model", "env", "rules", "matrix", "fingerprint"},
    "convert": BASE | {"kb", "model", "env", "rules", "matrix", "check", "fingerprint", "report"},
    "cli": BASE | {"kb", "model", "env", "rules", "matrix", "check", "fingerprint", "report", "convert", "serve",
                   "kbbuild"},
    # kbbuild: the knowledge base's extractors (PyPI metadata, release sources; network allowed). They ship
    # so that `stcompat kb update` can run them on the user's machine; beside the CLI's floor, and nothing
    # below the CLI imports them: kb/ reads what they wrote, never runs them.
    "kbbuild": BASE | {"kb"},
    # serve: beside convert, above the verbs it guards with (check, verify); the CLI starts it. It imports
    # convert for one job: --backend onnx|openvino exports on the fly and admits with convert's export code.
    "serve": BASE | {"kb", "model", "env", "rules", "matrix", "check", "fingerprint", "report", "convert"},
    # pre-commit hooks and the pytest plugin: adapters over the verbs, beside the CLI (never importing it).
    "integrations": BASE | {"kb", "model", "env", "rules", "matrix", "check", "fingerprint", "report"},
    "package": BASE | {"model", "check", "rules", "matrix", "fingerprint"},
}
# Modules that are command lines of their own sit on the CLI's floor, whatever their folder.
CLI_MODULES = {"stcompat.fingerprint.verify_cli"}
# These stages may import torch, transformers or sentence_transformers (lazily); the rest never.
MAY_IMPORT_ML = {"matrix", "fingerprint", "convert", "serve", "cli", "package"}
ML_PACKAGES = {"torch", "transformers", "sentence_transformers", "numpy", "safetensors", "tokenizers"}
# Optional extras that exactly one module may import: everything else runs without them installed.
OPTIONAL_IMPORTS = {"ray": {"stcompat.matrix.ray_executor"}}


def _modules() -> list[tuple[str, Path]]:
    found = []
    for path in sorted(SRC.rglob("*.py")):
        parts = path.relative_to(SRC.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found.append((name, path))
    return found


def _stage(module: str) -> str:
    if module in CLI_MODULES:
        return "cli"
    parts = module.split(".")
    if len(parts) == 1:
        return "package"
    return {"cli": "cli", "checker": "check"}.get(parts[1], parts[1])


def _imports(module: str, path: Path) -> list[tuple[str, int]]:
    """Absolute names of every import in the module, with line numbers."""
    tree = ast.parse(path.read_text(), str(path))
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target == "stcompat":  # `from .. import __version__`, `from . import shown_path`
                found += [(f"stcompat.{alias.name}", node.lineno) for alias in node.names]
            else:
                found.append((target, node.lineno))
    return found


def _internal_stage(name: str) -> str | None:
    if not name.startswith("stcompat"):
        return None
    if name == "stcompat.__version__":
        return "version"
    return _stage(name)


MODULES = _modules()


@pytest.mark.parametrize("module,path", MODULES, ids=[m for m, _ in MODULES])
def test_imports_point_down_the_pipeline(module, path):
    stage = _stage(module)
    assert stage in ALLOWED, f"{module}: stage {stage!r} is not in the house plan"
    leaks = []
    for name, line in _imports(module, path):
        target = _internal_stage(name)
        if target is not None and target != stage and target not in ALLOWED[stage]:
            leaks.append(f"{path.name}:{line} imports {name} ({stage} -> {target})")
        top = name.split(".")[0]
        if top in ML_PACKAGES and stage not in MAY_IMPORT_ML:
            leaks.append(f"{path.name}:{line} imports {name}: {stage} never needs torch or its kin")
        if top in OPTIONAL_IMPORTS and module not in OPTIONAL_IMPORTS[top]:
            leaks.append(f"{path.name}:{line} imports {name}: only {sorted(OPTIONAL_IMPORTS[top])} may")
    assert not leaks, "\n".join(leaks)


def test_read_and_know_stages_never_import_judge_prove_or_report():
    # The boundary, stated directly: model/, env/, kb/ know nothing of rules/, matrix/, report/.
    for module, path in MODULES:
        if _stage(module) in ("model", "env", "kb"):
            upward = [n for n, _ in _imports(module, path) if _internal_stage(n) in ("rules", "matrix", "report")]
            assert not upward, f"{module} imports {upward}"


def test_kb_answers_from_its_data_alone():
    # Knowledge must not depend on the interpreter it runs in (installed packages, subprocesses).
    for module, path in MODULES:
        if _stage(module) == "kb":
            names = {n for n, _ in _imports(module, path)}
            assert not names & {"importlib.metadata", "subprocess", "site", "sysconfig"}, (module, names)


# File-system calls a rule must never make: whatever it needs is read into the manifest first.
_IO_CALLS = {"open", "read_text", "read_bytes", "write_text", "write_bytes", "listdir", "scandir", "walk",
             "stat", "exists", "is_file", "is_dir", "iterdir", "glob", "rglob", "load_json", "realpath"}
_IO_MODULES = {"pathlib", "shutil", "subprocess", "io", "glob", "stcompat.model.folder"}


def _rules_modules():
    return [(m, p) for m, p in MODULES if _stage(m) == "rules"]


@pytest.mark.parametrize("module,path", _rules_modules(), ids=[m for m, _ in _rules_modules()])
def test_rules_do_no_file_io(module, path):
    tree = ast.parse(path.read_text())
    calls = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None
            if name in _IO_CALLS:
                calls.append(f"line {node.lineno}: {name}()")
    imported = {n for n, _ in _imports(module, path)} & _IO_MODULES
    assert not calls and not imported, (calls, imported)


def test_the_walk_sees_real_imports():
    # The checks above must be able to fail: the walk finds a known downward import and a lazy one.
    check_module = dict(MODULES)["stcompat.checker"]
    assert "stcompat.rules.engine" in {n for n, _ in _imports("stcompat.checker", check_module)}
    cli = dict(MODULES)["stcompat.cli"]
    assert "stcompat.checker" in {n for n, _ in _imports("stcompat.cli", cli)}  # imported inside a function
    ray_module = dict(MODULES)["stcompat.matrix.ray_executor"]
    assert "ray" in {n for n, _ in _imports("stcompat.matrix.ray_executor", ray_module)}  # the lazy import
    assert _stage("stcompat.model.folder") == "model" and _stage("stcompat") == "package"


def test_public_names_stay_what_they_are_after_any_import():
    # A submodule named like a public function replaces it on import (0.1's `stcompat.check` did).
    import importlib
    import subprocess
    import sys

    code = ("import stcompat, stcompat.checker, stcompat.fingerprint, stcompat.matrix.runner\n"
            "from stcompat import check, verify, compare, run_matrix, load_fingerprint, CheckResult\n"
            "import types\n"
            "assert all(callable(f) and not isinstance(f, types.ModuleType) for f in "
            "(check, verify, compare, run_matrix, load_fingerprint)), 'a public name is a module'\n"
            "assert stcompat.check is check\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert importlib.import_module("stcompat").__all__
