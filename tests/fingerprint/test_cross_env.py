"""Cross-environment: fingerprint all-MiniLM-L6-v2 here, verify it in an older real environment.

Uses environments already built by stcompat.matrix.envs (``~/.cache/stcompat/envs``); the verify
code runs there with only that env's packages (PYTHONPATH points at this checkout's src/).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"


def _old_envs() -> list[tuple[str, Path]]:
    from stcompat.matrix.envs import MARKER_NAME, default_cache_dir

    found = []
    for marker in sorted(default_cache_dir().glob(f"*/{MARKER_NAME}")):
        packages = json.loads(marker.read_text()).get("packages", {})
        st = packages.get("sentence-transformers", "")
        if st.startswith(("2.", "3.")) and packages.get("numpy"):
            found.append((st, marker.parent / "bin" / "python"))
    return sorted(found, key=lambda item: tuple(int(p) for p in item[0].split(".")[:3] if p.isdigit()))


@pytest.mark.slow
def test_minilm_fingerprint_verifies_as_noise_in_older_env(minilm, tmp_path):
    envs = _old_envs()
    if not envs:
        pytest.skip("no ST 2.x/3.x env built in the matrix cache (run the matrix first)")
    from stcompat.fingerprint import fingerprint

    fp = tmp_path / "minilm.fp"
    fingerprint(minilm, fp)
    env = {**os.environ, "PYTHONPATH": str(SRC), "HF_HUB_OFFLINE": "1"}
    st, python = envs[0]  # the oldest release
    result = subprocess.run([str(python), "-m", "stcompat.fingerprint.verify_cli", "verify", str(minilm), str(fp)],
                            capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout)
    assert report["verdict"] in ("identical", "noise")
    assert report["metrics"]["max_abs_diff"] <= 1e-6
    assert report["actual"]["packages"]["sentence-transformers"] == st
