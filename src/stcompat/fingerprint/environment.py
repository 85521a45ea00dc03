"""The environment an embedding was computed in: package versions, BLAS, device, threads.

Versions come from installed distribution metadata (nothing extra is imported for them); BLAS
comes from threadpoolctl when it is installed, after torch and numpy are loaded so their
libraries are visible.
"""

from __future__ import annotations

import platform
import sys
from importlib import metadata
from typing import Any

# The distributions whose versions change embeddings (or explain why they did not).
DISTRIBUTIONS = ("torch", "transformers", "tokenizers", "sentence-transformers", "numpy",
                 "safetensors", "huggingface-hub", "threadpoolctl")


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _blas() -> list[dict[str, Any]]:
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return []
    keep = ("user_api", "internal_api", "version", "num_threads", "architecture", "threading_layer")
    return [{k: info.get(k) for k in keep} for info in threadpool_info()]


def describe_environment(device: str | None = None) -> dict[str, Any]:
    """Everything recorded about this interpreter, as plain JSON values.

    Call it after the model was loaded: torch is imported by then, and its thread count and the
    BLAS libraries it loaded are part of the record.
    """
    env: dict[str, Any] = {
        "python": platform.python_version(),
        "implementation": sys.implementation.name,
        "platform": platform.platform(terse=True),
        "machine": platform.machine(),
        "packages": {d: _version(d) for d in DISTRIBUTIONS},
        "device": device,
        "blas": _blas(),
    }
    torch = sys.modules.get("torch")
    if torch is not None:
        env["torch_threads"] = torch.get_num_threads()
        env["torch_mkl"] = bool(getattr(torch.backends, "mkl", None) and torch.backends.mkl.is_available())
        if device and device.startswith("cuda") and torch.cuda.is_available():
            env["cuda"] = torch.version.cuda
            env["gpu"] = torch.cuda.get_device_name(0)
    return env
