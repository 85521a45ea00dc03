"""Repo ids resolved in a Hugging Face cache laid out exactly as huggingface_hub writes it."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

from stcompat import inspect_model, inspect_models

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def make_cache(cache: Path, source: Path, repo_id: str = "acme/mini") -> Path:
    """models--acme--mini/{blobs, refs/main, snapshots/COMMIT/* -> ../../blobs/*}, as the hub writes."""
    repo = cache / ("models--" + repo_id.replace("/", "--"))
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(COMMIT)
    for file in sorted(p for p in source.rglob("*") if p.is_file()):
        data = file.read_bytes()
        blob = repo / "blobs" / hashlib.sha256(data).hexdigest()
        blob.parent.mkdir(exist_ok=True)
        if not blob.exists():
            if len(data) > 1_000_000:
                os.link(file.resolve(), blob)
            else:
                blob.write_bytes(data)
        link = repo / "snapshots" / COMMIT / file.relative_to(source)
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(os.path.relpath(blob, link.parent))
    return repo


def test_repo_id_resolves_to_its_snapshot(minilm, tmp_path):
    make_cache(tmp_path / "hub", minilm)
    manifest = inspect_model("acme/mini", cache_dir=str(tmp_path / "hub"))
    assert manifest.source == "hf-cache" and manifest.repo_id == "acme/mini" and manifest.revision == COMMIT
    # Snapshot files are symlinks into blobs/, inside the repo folder: followed, not reported.
    assert "STC011" not in [p.code for p in manifest.problems]
    assert manifest.saved_with["sentence_transformers"] == "2.0.0"
    assert manifest.weights[0].header_ok


def test_cli_resolves_repo_id_offline(minilm, tmp_path):
    make_cache(tmp_path / "hub", minilm)
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_HUB_CACHE=str(tmp_path / "hub"))
    result = subprocess.run([sys.executable, "-m", "stcompat.cli", "inspect", "acme/mini", "--format", "json"],
                            capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["revision"] == COMMIT


def test_snapshot_symlink_leaving_the_repo_folder_is_reported(minilm, tmp_path):
    repo = make_cache(tmp_path / "hub", minilm)
    outside = tmp_path / "elsewhere.json"
    outside.write_text("{}")
    (repo / "snapshots" / COMMIT / "extra.json").symlink_to(outside)
    manifest = inspect_model("acme/mini", cache_dir=str(tmp_path / "hub"))
    assert [p.file for p in manifest.problems if p.code == "STC011"] == ["extra.json"]


def test_whole_cache_folder_is_a_folder_of_models(minilm, tmp_path):
    make_cache(tmp_path / "hub", minilm, "acme/one")
    make_cache(tmp_path / "hub", minilm, "acme/two")
    manifests = inspect_models(tmp_path / "hub")
    assert len(manifests) == 2
    assert all("STC011" not in [p.code for p in m.problems] for m in manifests)


def test_matrix_on_a_cached_repo_keeps_the_saved_settings(tmp_path):
    # 0.1 re-read the folder without its cache boundary: the snapshot's links into blobs/ counted as
    # escaping, config_sentence_transformers.json read as {} and a lost setting went unseen ("ok").
    # A SparseEncoder saved with similarity_fn_name "dot" loads in this environment's ST (5.0+) as a
    # plain transformer: the setting is lost, and the real probe must show it.
    from conftest import fixture_path
    from stcompat.model.folder import targets_for
    from stcompat.matrix.runner import run_matrix

    make_cache(tmp_path / "hub", fixture_path("5.1.2", "sparse"))
    targets = targets_for("acme/mini", cache_dir=str(tmp_path / "hub"))
    result = run_matrix(targets, [], reference="current", timeout=300)
    (cell,) = result.cells
    assert cell.error is None, cell.error
    assert cell.outcome == "degraded", cell.reasons
    assert "similarity_fn_name 'dot' ignored" in cell.reasons
    # The judge agrees, from the same cached folder, asked about the same loader.
    from stcompat.checker import check

    (predicted,) = check("acme/mini", cache_dir=str(tmp_path / "hub"), loader="sentence-transformer")
    assert predicted.verdict == "degraded" and "STC111" in [f.code for f in predicted.findings]


def test_a_snapshot_reads_its_blobs_and_nothing_else_of_the_repo_folder(minilm, tmp_path):
    # The boundary is the snapshot plus the blobs its links point to: not refs/, not another folder
    # of models--X/ (0.1 allowed anything under models--X/, decided from folder names alone).
    repo = make_cache(tmp_path / "hub", minilm)
    snapshot = repo / "snapshots" / COMMIT
    (repo / "secret.txt").write_text("not the model's")
    (snapshot / "leak.txt").symlink_to(os.path.relpath(repo / "secret.txt", snapshot))
    (snapshot / "ref.json").symlink_to(os.path.relpath(repo / "refs" / "main", snapshot))
    manifest = inspect_model("acme/mini", cache_dir=str(tmp_path / "hub"))
    escaping = sorted(p.file for p in manifest.problems if p.code == "STC011")
    assert escaping == ["leak.txt", "ref.json"]
    assert manifest.weights[0].header_ok  # model.safetensors is a link into blobs/: read


def test_matrix_st_values_are_checked_before_anything_is_built(tmp_path):
    # An invalid version, and a well-formed one that does not exist, stop with STC004 and build nothing.
    env = {**os.environ, "STCOMPAT_CACHE": str(tmp_path / "cache")}
    model = str(Path(__file__).resolve().parent.parent / "fixtures" / "st2.7.0" / "bert_plain")
    for value, words in (("2.x", "is not a version"), ("0.0.1", "")):
        result = subprocess.run([sys.executable, "-m", "stcompat.cli", "matrix", model, "--st", value, "--offline"],
                                capture_output=True, text=True, env=env, timeout=120)
        assert result.returncode == 2 and result.stderr.startswith("error[STC004]"), result.stderr
        assert words in result.stderr
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").rglob("*"))
