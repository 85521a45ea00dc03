"""matrix: real probes in real environments, and how cells are classified."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import fixture_path
from stcompat.matrix.runner import Cell, _probe, classify
from stcompat.model.inspect import inspect_model


def _cell(release: str, model: Path, result: dict) -> Cell:
    return Cell(str(model), release, "pending", versions=result["versions"], error=result["error"],
                effective=result.get("effective", {}), dimension=result.get("dimension"),
                embeddings=tuple(tuple(r) for r in result.get("embeddings", ())))


def test_probe_and_classify_in_this_environment(copy_model):
    saved = fixture_path("6.2.0", "bert_trunc")
    edited = copy_model(saved)
    config_file = edited / "config_sentence_transformers.json"
    config = json.loads(config_file.read_text())
    del config["truncate_dim"]
    config_file.write_text(json.dumps(config))
    broken = copy_model(fixture_path("6.2.0", "bert_plain"), "broken")
    (broken / "modules.json").write_text("[{\"idx\": 0, \"name\": \"0\", \"path\": \"\", \"type\": \"no.such.Module\"}]")

    (original, lost, failed), _ = _probe(sys.executable, [str(saved), str(edited), str(broken)], timeout=300)
    assert original["error"] is None and original["dimension"] == 16
    assert original["effective"]["truncate_dim"] == 16
    saved_config = inspect_model(saved).saved_settings

    reference = _cell("current", saved, original)
    assert classify(reference, None, saved_config).outcome == "ok"
    same = classify(_cell("x", saved, original), reference, saved_config)
    assert same.outcome == "ok" and same.max_abs_diff == 0.0 and same.min_cosine == pytest.approx(1.0)

    degraded = classify(_cell("x", edited, lost), reference, saved_config)
    assert degraded.outcome == "degraded" and lost["dimension"] == 32
    assert "truncate_dim 16 ignored" in degraded.reasons
    assert "dimension 32 vs 16 in the reference" in degraded.reasons

    fails = classify(_cell("x", broken, failed), reference, saved_config)
    assert fails.outcome == "fails"
    assert failed["error"]["type"] in ("ModuleNotFoundError", "ValueError", "ImportError")
    assert failed["error"]["traceback_tail"]


def test_an_environment_that_cannot_be_built_makes_env_error_cells(tmp_path):
    # The local executor's plumbing without building anything: a torch that does not exist, offline,
    # in an empty cache, fails in uv at once; every cell of that release is env-error, the rest go on.
    from stcompat.matrix.runner import run_matrix

    ticks: list[str] = []
    models = [fixture_path("6.2.0", "bert_plain"), fixture_path("2.7.0", "bert_prompts")]
    result = run_matrix(models, ["6.2.0"], reference="6.2.0", offline=True, torch="torch==0.0.0",
                        cache_dir=tmp_path, on_progress=ticks.append)
    assert result.releases == ("6.2.0",) and [c.outcome for c in result.cells] == ["env-error", "env-error"]
    cell = result.cells[0]
    assert cell.error["type"] == "EnvBuildError" and cell.reasons == (cell.error["message"],)
    assert "torch install failed" in cell.reasons[0] and "sentence-transformers==6.2.0" in cell.pins
    assert ticks[0] == "env 6.2.0" and sorted(ticks[1:]) == ["bert_plain @ 6.2.0", "bert_prompts @ 6.2.0"]
    assert not list(tmp_path.glob(".build-*"))  # a failed build leaves nothing behind


@pytest.mark.slow
def test_real_matrix_current_and_an_older_release(tmp_path, minilm):
    """A small real matrix (current environment + ST 2.7.0), graded against check on the spot."""
    models = [str(fixture_path("2.7.0", "bert_prompts")), str(fixture_path("6.2.0", "bert_plain")), str(minilm)]
    plot = tmp_path / "matrix.png"
    result = subprocess.run([sys.executable, "-m", "stcompat.cli", "matrix", *models, "--st", "2.7.0",
                             "--format", "json", "--plot", str(plot), "--html", str(tmp_path / "m.html")],
                            capture_output=True, text=True)
    assert result.returncode == 1, result.stderr[-2000:]
    document = json.loads(result.stdout)
    assert document["schema"] == "stcompat.matrix/1" and document["releases"] == ["current", "2.7.0"]
    cells = {(Path(c["model"]).name, c["release"]): c for c in document["cells"]}
    assert cells[("bert_plain", "2.7.0")]["outcome"] == "fails"
    assert cells[("bert_plain", "2.7.0")]["error"]["type"] == "ModuleNotFoundError"
    assert cells[("bert_prompts", "2.7.0")]["outcome"] == "ok"
    assert cells[("model", "2.7.0")]["outcome"] == "ok"
    assert cells[("model", "2.7.0")]["max_abs_diff"] < 1e-5
    assert cells[("model", "2.7.0")]["versions"]["sentence-transformers"] == "2.7.0"
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page = (tmp_path / "m.html").read_text()
    assert "No module named &#x27;sentence_transformers.base&#x27;" in page and "data:image/png;base64," in page

    from stcompat.checker import check

    for cell in document["cells"]:
        target = " ".join(f"{k}=={cell['versions'][k].split('+')[0]}" for k in
                          ("sentence-transformers", "transformers", "tokenizers", "torch") if k in cell["versions"])
        (predicted,) = check(cell["model"], targets=[target], resolve=False)
        assert predicted.verdict == cell["outcome"], (cell["model"], cell["release"])
