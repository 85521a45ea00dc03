"""CI's own script: a failing or timed-out suite fails CI (0.1 exited 0 when the slow suite ran out of time)."""

from __future__ import annotations

import subprocess
from pathlib import Path

CI = Path(__file__).resolve().parent.parent / ".ci" / "run"


def _step(*command: str) -> subprocess.CompletedProcess:
    """Run .ci/run's own `step` function (extracted from the script, not copied) on ``command``."""
    script = f"set -euo pipefail\nsource <(sed -n '/^step() {{/,/^}}/p' {CI})\nstep {' '.join(command)}\necho after"
    return subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=120)


def test_a_suite_that_runs_out_of_time_fails_ci():
    result = _step("demo", "1", "sleep", "30")
    assert result.returncode == 124, result
    assert "ran out of time" in result.stderr and "after" not in result.stdout


def test_a_failing_suite_fails_ci_and_a_passing_one_does_not():
    failing = _step("demo", "60", "false")
    assert failing.returncode == 1 and "CI FAILED: demo exited 1" in failing.stderr
    passing = _step("demo", "60", "true")
    assert passing.returncode == 0 and passing.stdout.rstrip().endswith("after")


def test_both_suites_run_under_a_limit():
    text = CI.read_text()
    assert 'step "make test" ' in text and 'step "make test-slow" ' in text and 'step "make test-proof" ' in text
