"""stcompat: make Sentence Transformers models safe to deploy across versions.

The public API (re-exports only; see each module for details). ``inspect_model`` is imported
eagerly; the rest loads on first use, so ``stcompat inspect`` pays only for what it runs.
"""

from importlib import import_module
from typing import Any

from .errors import InputError, StcompatError
from .model.inspect import inspect_model, inspect_models
from .model.manifest import ModelManifest

__version__ = "0.1.0"

# Each name lives in a module that does not share it: ``stcompat.check`` must stay the function, and a
# submodule of the same name would replace it on import. (The ``fingerprint`` function is therefore
# imported from its package: ``from stcompat.fingerprint import fingerprint``.)
_LAZY = {
    "check": "stcompat.checker",
    "CheckResult": "stcompat.rules.engine",
    "run_matrix": "stcompat.matrix.runner",
    "verify": "stcompat.fingerprint",
    "compare": "stcompat.fingerprint",
    "load_fingerprint": "stcompat.fingerprint",
}

__all__ = [
    "CheckResult", "InputError", "ModelManifest", "StcompatError", "__version__", "check",
    "compare", "inspect_model", "inspect_models", "load_fingerprint", "run_matrix", "verify",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(import_module(_LAZY[name]), name)
        globals()[name] = value  # looked up once
        return value
    raise AttributeError(f"module 'stcompat' has no attribute {name!r}")
