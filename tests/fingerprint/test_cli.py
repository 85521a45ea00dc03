"""The fingerprint, verify and compare commands: output, JSON schema and exit codes 0/1/2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from stcompat.cli import main

MODEL = Path(__file__).parent.parent / "fixtures" / "st6.2.0" / "bert_plain"


@pytest.fixture(scope="module")
def fp_file(tmp_path_factory) -> Path:
    if not MODEL.is_dir():
        pytest.skip("fixture not generated")
    path = tmp_path_factory.mktemp("cli") / "plain.fp"
    result = CliRunner().invoke(main, ["fingerprint", str(MODEL), "-o", str(path)])
    assert result.exit_code == 0, result.output
    assert "wrote" in result.output and "main 104x32" in result.output
    return path


def test_verify_identical_exits_0_with_json_schema(fp_file):
    result = CliRunner().invoke(main, ["verify", str(MODEL), str(fp_file), "--format", "json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output[result.output.index("{"):])
    assert report["schema"] == "stcompat.verify/1" and report["verdict"] == "identical"
    assert {"max_abs_diff", "mean_cosine", "min_cosine", "topk_agreement", "spearman"} <= set(report["metrics"])


def test_compare_table_and_broken_exit_1(fp_file, copy_model, tmp_path):
    runner = CliRunner()
    result = runner.invoke(main, ["compare", str(fp_file), str(fp_file)])
    assert result.exit_code == 0 and "IDENTICAL" in result.output
    model = copy_model(MODEL)
    mods = json.loads((model / "modules.json").read_text())
    (model / "modules.json").write_text(json.dumps([m for m in mods if "Normalize" not in m["type"]]))
    result = runner.invoke(main, ["verify", str(model), str(fp_file)])
    assert result.exit_code == 1, result.output
    assert "BROKEN" in result.output and "Normalize is lost" in result.output


# Eight unit texts on a circle at these angles (degrees): 0, 1, 4, 9, 15, 22, 32, 34 (a Golomb ruler) times 5,
# so every pairwise angle differs from every other by at least 5 degrees: no ties, and a rotation of all
# texts together keeps every pairwise similarity (ranks, neighbours, norms) while moving each text.
_ANGLES = (0, 5, 20, 45, 75, 110, 160, 170)


def _circle(angles, turn: float = 0.0):
    import numpy as np

    rad = np.radians(np.asarray(angles, dtype=np.float64)) + turn
    return np.stack([np.cos(rad), np.sin(rad)], axis=1).astype(np.float32)


def _write_fp(path: Path, values) -> Path:
    """A fingerprint file from a matrix alone (no model): 8 texts, float32 storage."""
    from stcompat.fingerprint.corpus import Corpus, CorpusEntry
    from stcompat.fingerprint.fileformat import EmbeddingSet, Fingerprint, write_fingerprint

    corpus = Corpus(tuple(CorpusEntry(f"text {i}") for i in range(len(values))), "builtin")
    return write_fingerprint(Fingerprint(model={"sha256": "x"}, pipeline={}, environment={}, settings={},
                                         corpus=corpus, sets={"main": EmbeddingSet("main", tuple(range(len(values))), values)}),
                             path)


def _compare(a: Path, b: Path, *options: str) -> tuple[int, dict]:
    result = CliRunner().invoke(main, ["compare", str(a), str(b), "--format", "json", *options])
    assert result.exit_code in (0, 1), result.output
    report = json.loads(result.output)
    assert report["exit_status"] == result.exit_code
    return result.exit_code, report


def _spearman_of_angles(a, b) -> float:
    """Spearman of the pairwise cosines by 1 - 6 sum d^2 / (n (n^2 - 1)) (no ties: distinct angles)."""
    import math
    from itertools import combinations

    def ranks(angles):
        cos = [math.cos(math.radians(abs(angles[i] - angles[j]))) for i, j in combinations(range(len(angles)), 2)]
        order = sorted(range(len(cos)), key=cos.__getitem__)
        assert len(set(cos)) == len(cos)
        return {pair: rank for rank, pair in enumerate(order)}

    ra, rb = ranks(a), ranks(b)
    n = len(ra)
    return 1 - 6 * sum((ra[p] - rb[p]) ** 2 for p in ra) / (n * (n * n - 1))


def test_noise_thresholds_decide_noise_or_drift(tmp_path):
    import math

    import numpy as np

    a = _write_fp(tmp_path / "a.fp", _circle(_ANGLES))
    # Every text turned by 3e-6 rad: max |diff| about 3e-6, cosine 1 - 4.5e-12.
    tiny = _circle(_ANGLES, 3e-6)
    b = _write_fp(tmp_path / "b.fp", tiny)
    diff = float(np.max(np.abs(tiny - _circle(_ANGLES))))
    assert 2.5e-6 < diff < 3.5e-6

    code, report = _compare(a, b)  # defaults: --max-abs-diff 1e-5
    assert (code, report["verdict"]) == (0, "noise")
    assert report["metrics"]["max_abs_diff"] == pytest.approx(diff)
    assert report["metrics"]["spearman"] == 1.0 and report["metrics"]["topk_agreement"] == 1.0
    code, report = _compare(a, b, "--max-abs-diff", "1e-6")
    assert (code, report["verdict"]) == (1, "drift")
    assert report["thresholds"]["noise_max_abs_diff"] == 1e-6
    assert any(r.startswith("max |diff|") and r.endswith("> 1e-06") for r in report["reasons"]), report["reasons"]
    assert _compare(a, b, "--max-abs-diff", "5e-6")[0] == 0

    # Every text turned by acos(0.99995): each cosine is 0.99995, below the default noise cosine 0.99999.
    turn = math.acos(0.99995)
    c = _write_fp(tmp_path / "c.fp", _circle(_ANGLES, turn))
    code, report = _compare(a, c, "--max-abs-diff", "1")  # values may move; cosine alone decides
    assert (code, report["verdict"]) == (1, "drift")
    assert report["metrics"]["min_cosine"] == pytest.approx(0.99995, abs=1e-7)
    assert any(r.startswith("min cosine") and r.endswith("< 0.99999") for r in report["reasons"]), report["reasons"]
    code, report = _compare(a, c, "--max-abs-diff", "1", "--min-cosine", "0.9999")
    assert (code, report["verdict"]) == (0, "noise")
    assert report["thresholds"]["noise_min_cosine"] == 0.9999
    # With the default --max-abs-diff the same turn (values move by ~1e-2) is drift however low the cosine bar.
    assert _compare(a, c, "--min-cosine", "0.9999")[1]["verdict"] == "drift"

    # Bit-identical input is identical (exit 0) even under impossible noise thresholds.
    code, report = _compare(a, a, "--max-abs-diff", "0", "--min-cosine", "1")
    assert (code, report["verdict"]) == (0, "identical")


def test_broken_cosine_threshold(tmp_path):
    import math

    a = _write_fp(tmp_path / "a.fp", _circle(_ANGLES))
    b = _write_fp(tmp_path / "b.fp", _circle(_ANGLES, math.acos(0.995)))  # every cosine 0.995, ranks intact
    code, report = _compare(a, b)  # default --broken-cosine 0.99
    assert (code, report["verdict"]) == (1, "drift")
    assert report["metrics"]["min_cosine"] == pytest.approx(0.995, abs=1e-6)
    assert report["metrics"]["spearman"] == 1.0 and report["metrics"]["topk_agreement"] == 1.0
    code, report = _compare(a, b, "--broken-cosine", "0.999")
    assert (code, report["verdict"]) == (1, "broken")
    assert report["thresholds"]["broken_min_cosine"] == 0.999
    assert any(r.endswith("< 0.999") and r.startswith("min cosine") for r in report["reasons"]), report["reasons"]


def test_ranking_thresholds_topk_and_spearman(tmp_path):
    # Text 0 moves from 0 to 102 degrees (between texts 4 at 75 and 5 at 110). With --top-k 1 the nearest
    # neighbours were 0-1, 1-0, 2-1, 3-2, 4-3, 5-4, 6-7, 7-6 and are now 0-5, 1-2, 2-1, 3-2, 4-0, 5-0,
    # 6-7, 7-6: texts 0, 1, 4 and 5 lost theirs, agreement 4/8.
    moved = (102, *_ANGLES[1:])
    a = _write_fp(tmp_path / "a.fp", _circle(_ANGLES))
    b = _write_fp(tmp_path / "b.fp", _circle(moved))
    rho = _spearman_of_angles(_ANGLES, moved)
    assert 0.5 < rho < 0.97
    # Text 0's own cosine is cos(102 deg) < 0: --broken-cosine -1 keeps the cosine out of the verdict.
    base = ("--top-k", "1", "--broken-cosine", "-1")

    code, report = _compare(a, b, *base, "--min-spearman", "-1")  # default --min-topk 0.9
    assert (code, report["verdict"]) == (1, "broken")
    assert report["metrics"]["topk_agreement"] == 0.5 and report["metrics"]["spearman"] == pytest.approx(rho)
    assert [r for r in report["reasons"] if "neighbour" in r] == ["top-1 neighbour agreement 0.500 < 0.9"]
    code, report = _compare(a, b, *base, "--min-spearman", "-1", "--min-topk", "0.4")
    assert (code, report["verdict"]) == (1, "drift")
    assert report["thresholds"]["broken_min_topk"] == 0.4 and report["thresholds"]["top_k"] == 1

    code, report = _compare(a, b, *base, "--min-topk", "0", "--min-spearman", f"{rho + 0.01:.4f}")
    assert (code, report["verdict"]) == (1, "broken")
    assert any(r.startswith("Spearman") for r in report["reasons"]), report["reasons"]
    code, report = _compare(a, b, *base, "--min-topk", "0", "--min-spearman", f"{rho - 0.01:.4f}")
    assert (code, report["verdict"]) == (1, "drift")
    assert not any(r.startswith("Spearman") for r in report["reasons"])
    assert _compare(a, b, *base, "--min-topk", "0")[1]["verdict"] == "broken"  # default --min-spearman 0.98


def test_unusable_inputs_exit_2_with_one_line(tmp_path, fp_file):
    bad = tmp_path / "bad.fp"
    bad.write_text("not a zip")
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text('{"text": 1}\n')
    runner = CliRunner()
    for args, code in ((["compare", str(bad), str(fp_file)], "STC601"),
                       (["verify", str(MODEL), str(tmp_path / "none.fp")], "STC001"),
                       (["fingerprint", str(MODEL), "-o", str(tmp_path / "x.fp"), "--corpus", str(corpus)], "STC602")):
        result = runner.invoke(main, args)
        assert result.exit_code == 2, (args, result.output)
        assert result.output.strip().splitlines()[-1].startswith(f"error[{code}]")
        assert "Traceback" not in result.output


def test_importing_the_package_loads_nothing_heavy():
    code = ("import sys, stcompat.fingerprint, stcompat.cli\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'numpy', 'sentence_transformers')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
