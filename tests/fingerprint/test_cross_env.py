"""Cross-environment: fingerprint all-MiniLM-L6-v2 here, verify it in an older real environment.

The ST 2.2.2 environment (transformers 4.30.2) is built, or reused, with stcompat.matrix.envs;
the verify code runs there with only that env's packages (PYTHONPATH points at this checkout's src/).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"


OLD_RELEASE = "2.2.2"


def _old_env() -> Path:
    """The python of the ST 2.2.2 environment (period stack), built if the cache lacks it."""
    import sys

    from stcompat.matrix.envs import ensure_env, release_spec
    from stcompat.matrix.runner import default_torch

    return ensure_env(release_spec(OLD_RELEASE, python=sys.executable, torch=default_torch()))


@pytest.mark.slow
def test_minilm_fingerprint_verifies_as_noise_in_older_env(minilm, tmp_path):
    from stcompat.fingerprint import fingerprint

    fp = tmp_path / "minilm.fp"
    fingerprint(minilm, fp)
    env = {**os.environ, "PYTHONPATH": str(SRC), "HF_HUB_OFFLINE": "1"}
    st, python = OLD_RELEASE, _old_env()
    result = subprocess.run([str(python), "-m", "stcompat.fingerprint.verify_cli", "verify", str(minilm), str(fp)],
                            capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout)
    assert report["verdict"] in ("identical", "noise")
    assert report["metrics"]["max_abs_diff"] <= 1e-6
    assert report["actual"]["packages"]["sentence-transformers"] == st
