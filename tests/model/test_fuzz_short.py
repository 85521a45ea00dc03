"""The atheris fuzz target (fuzz/fuzz_folder.py) in short runs: no input may crash the reader, check or a
renderer. The long run (>= 100,000 inputs) is a manual step; its figure is in the README."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

TARGET = Path(__file__).resolve().parents[2] / "fuzz" / "fuzz_folder.py"

pytest.importorskip("atheris")


# libFuzzer's -rss_limit_mb reads the process's peak RSS, which Linux carries over from the parent through
# fork and exec: run after the heavy slow tests, the pytest process's own peak (~2.9 GB) tripped it before the
# first input. The child's memory is bounded by its address space instead, where only its own use counts.
ADDRESS_SPACE = 6 * 1024 ** 3


def _bounded() -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))


def _fuzz(runs: int, tmp_path: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run(
        [sys.executable, str(TARGET), f"-atheris_runs={runs}", "-max_len=2048", "-len_control=0", "-seed=1",
         "-rss_limit_mb=0", f"-artifact_prefix={tmp_path}/"],
        capture_output=True, text=True, env=env, timeout=900, cwd=tmp_path, preexec_fn=_bounded)


def _assert_clean(result: subprocess.CompletedProcess, runs: int, tmp_path: Path) -> None:
    tail = result.stderr[-4000:]
    assert result.returncode == 0, tail
    assert f"Done {runs} runs" in result.stderr or f"Done {runs} in" in result.stderr, tail
    assert not list(tmp_path.glob("crash-*")), tail


def test_fuzz_target_smoke(tmp_path):
    """A hundred inputs: the target builds, reads, judges and renders (default suite, a few seconds)."""
    _assert_clean(_fuzz(100, tmp_path), 100, tmp_path)


@pytest.mark.slow
def test_fuzz_short_run(tmp_path):
    """3,000 inputs (about a minute on 2 cores): the CI version of the long run."""
    _assert_clean(_fuzz(3000, tmp_path), 3000, tmp_path)
