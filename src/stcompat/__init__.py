"""stcompat: make Sentence Transformers models safe to deploy across versions.

The public API (re-exports only; see each module for details).
"""

from .errors import InputError, ModelReadError, StcompatError
from .model.inspect import inspect_model, inspect_models
from .model.manifest import ModelManifest

__version__ = "0.1.0"

__all__ = [
    "InputError", "ModelManifest", "ModelReadError", "StcompatError", "__version__",
    "inspect_model", "inspect_models",
]
