"""Real pre-commit, in a real git repository, with its config pointing at this checkout by path and commit.

pre-commit clones the snapshot, builds the hook's own virtual environment with pip (from the
package registry pip is configured with: offline here) and runs the hooks on the repository's files.
About 10 s here (cold pip cache included), so it runs in the default suite.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from integration_support import BAD_MODEL, GOOD_MODEL, TARGET, copy_model, git, snapshot_checkout
from stcompat.cli import main as cli


def _pre_commit(repo: Path, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PIP_REQUIRE_VIRTUALENV")}
    env["PRE_COMMIT_HOME"] = str(home)  # a fresh cache: the hook environment is really built
    env["HF_HUB_OFFLINE"] = "1"
    return subprocess.run([sys.executable, "-m", "pre_commit", "run", "--color", "never", *args],
                          cwd=repo, env=env, capture_output=True, text=True, timeout=900)


def test_pre_commit_runs_the_hooks_from_this_checkout(tmp_path):
    rev = snapshot_checkout(tmp_path / "stcompat")
    repo = tmp_path / "project"
    repo.mkdir()
    git("init", "-q", cwd=repo)
    copy_model(GOOD_MODEL, repo / "models" / "good")
    (repo / "deploy").mkdir()
    (repo / "deploy" / "requirements.txt").write_text("\n".join(TARGET.split()) + "\n")
    (repo / "app.py").write_text("print('serving')\n")
    (repo / ".pre-commit-config.yaml").write_text(
        "repos:\n"
        f"  - repo: {tmp_path / 'stcompat'}\n"
        f"    rev: {rev}\n"
        "    hooks:\n"
        "      - id: stcompat-check\n"
        "        args: [-r, deploy/requirements.txt]\n"
        "      - id: stcompat-stamp-check\n")
    git("add", "-A", cwd=repo)
    home = tmp_path / "pre-commit-home"

    passed = _pre_commit(repo, home, "stcompat-check", "--all-files")
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert "stcompat check" in passed.stdout and "Passed" in passed.stdout
    stamp = _pre_commit(repo, home, "stcompat-stamp-check", "--all-files", "--verbose")
    if "stamp" in cli.commands:  # the command exists: the hook ran it instead of skipping
        assert "skipped" not in stamp.stdout, stamp.stdout
    else:
        assert stamp.returncode == 0, stamp.stdout + stamp.stderr
        assert "skipped: this stcompat has no `stcompat stamp` command yet; not checked: models/good" in stamp.stdout
    # The hook environment holds the core install only: never torch.
    site = list(home.glob("repo*/py_env-*/lib/python*/site-packages"))
    assert site and (site[0] / "stcompat").is_dir() and not (site[0] / "torch").exists()

    copy_model(BAD_MODEL, repo / "models" / "bad")
    git("add", "-A", cwd=repo)
    failed = _pre_commit(repo, home, "stcompat-check", "--all-files")
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "stcompat check" in failed.stdout and "Failed" in failed.stdout
    assert "models/bad" in failed.stdout and "STC101" in failed.stdout and "fails" in failed.stdout

    # A commit that touches only the good model checks only it.
    only_good = _pre_commit(repo, home, "stcompat-check", "--files", "models/good/1_Pooling/config.json", "app.py")
    assert only_good.returncode == 0, only_good.stdout + only_good.stderr
