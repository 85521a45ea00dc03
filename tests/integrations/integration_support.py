"""Helpers for the integration tests: a committed snapshot of this checkout, and model folders to test.

pre-commit and the GitHub Action both take stcompat from a repository at a commit. The lead commits,
so the tests cannot use HEAD: they commit a copy of the working tree as it is now (the files a build
needs) into a throwaway repository and point pre-commit and the action at that.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"
# Everything `pip install <repo>` and the hooks need: the package and the files at the root that name it.
SNAPSHOT_FILES = ("pyproject.toml", "README.md", ".pre-commit-hooks.yaml", "action.yml")
# A target fully pinned in every layer check reasons about, so no resolver (uv) is needed to judge it.
TARGET = ("sentence-transformers==2.7.0 transformers==4.40.2 tokenizers==0.19.1 torch==2.13.0 "
          "huggingface-hub==0.23.4")
# Saved by ST 2.2.2: loads on the target. Saved by ST 6.2.0: fails there (modules moved, BPE merges as pairs).
GOOD_MODEL = FIXTURES / "st2.2.2" / "bert_plain"
BAD_MODEL = FIXTURES / "st6.2.0" / "roberta_plain"


def git(*args: str, cwd: Path) -> str:
    """Run git with a fixed identity (the machine may have none); its stdout."""
    done = subprocess.run(["git", "-c", "user.name=stcompat tests", "-c", "user.email=tests@stcompat.invalid",
                           "-c", "commit.gpgsign=false", "-c", "init.defaultBranch=main", *args],
                          cwd=cwd, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def snapshot_checkout(dest: Path) -> str:
    """A git repository at ``dest`` holding this checkout's package as it is now; returns its commit."""
    dest.mkdir(parents=True)
    for name in SNAPSHOT_FILES:
        shutil.copy2(ROOT / name, dest / name)
    shutil.copytree(ROOT / "src", dest / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", "*.pyc"))
    git("init", "-q", cwd=dest)
    git("add", "-A", cwd=dest)
    git("commit", "-q", "-m", "snapshot of the working tree", cwd=dest)
    return git("rev-parse", "HEAD", cwd=dest)


def copy_model(source: Path, dest: Path) -> Path:
    """Copy a fixture model, with the empty module folders git does not keep (tests/fixtures/manifest.json)."""
    shutil.copytree(source, dest)
    manifest = json.loads((FIXTURES / "manifest.json").read_text())
    relative = source.relative_to(FIXTURES).as_posix()
    for entry in manifest["fixtures"]:
        if entry["path"] == relative:
            for folder in entry.get("empty_dirs", ()):
                (dest / folder).mkdir(parents=True, exist_ok=True)
    return dest
