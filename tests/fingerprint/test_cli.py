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


def test_thresholds_are_configurable(fp_file):
    # With an impossible noise band nothing changes for bit-identical output: still identical.
    result = CliRunner().invoke(main, ["compare", str(fp_file), str(fp_file), "--max-abs-diff", "0",
                                       "--min-cosine", "1", "--format", "json"])
    assert result.exit_code == 0 and json.loads(result.output)["thresholds"]["noise_max_abs_diff"] == 0


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
