"""The check command as a user runs it: exit codes, formats, targets from files and interpreters."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conftest import fixture_path, truth_stacks

STACKS = truth_stacks()


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "stcompat.cli", "check", *args], capture_output=True, text=True)


def test_json_schema_and_exit_1_for_fails():
    result = run(str(fixture_path("5.7.0", "bert_plain")), "--target", STACKS["5.3.0"], "--format", "json",
                 "--no-resolve")
    assert result.returncode == 1
    document = json.loads(result.stdout)
    assert document["schema"] == "stcompat.check/1"
    (first,) = document["results"]
    assert first["verdict"] == "fails"
    assert first["predicted_error"] == {"type": "ModuleNotFoundError",
                                        "message": "No module named 'sentence_transformers.base'"}
    assert {"code", "effect", "file", "key", "message"} <= set(first["findings"][0])
    assert first["fix"] == ["sentence-transformers==5.4.0"]


def test_exit_codes_ok_degraded_and_fail_on(minilm):
    assert run(str(minilm), "--target", STACKS["2.2.2"], "--no-resolve").returncode == 0
    degraded = [str(fixture_path("3.0.1", "bert_simfn")), "--target", STACKS["2.7.0"], "--no-resolve"]
    assert run(*degraded).returncode == 1
    assert run(*degraded, "--fail-on", "fails").returncode == 0


def test_several_models_and_targets_make_a_grid(minilm):
    result = run(str(minilm), str(fixture_path("2.7.0", "bert_plain")), "--target", STACKS["2.3.1"],
                 "--target", STACKS["6.2.0"], "--format", "json", "--no-resolve")
    verdicts = [(r["model"].rsplit("/", 1)[-1], r["target"]["versions"]["sentence-transformers"], r["verdict"])
                for r in json.loads(result.stdout)["results"]]
    assert verdicts == [("model", "2.3.1", "ok"), ("model", "6.2.0", "ok"),
                        ("bert_plain", "2.3.1", "fails"), ("bert_plain", "6.2.0", "ok")]


def test_requirements_file_target(tmp_path):
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("# pinned stack\n" + "\n".join(STACKS["2.3.1"].split()) + "\n")
    result = run(str(fixture_path("2.7.0", "bert_plain")), "-r", str(requirements), "--format", "json",
                 "--no-resolve")
    (first,) = json.loads(result.stdout)["results"]
    assert first["target"]["description"] == f"-r {requirements}"
    assert first["predicted_error"]["type"] == "TypeError"


def test_python_interpreter_target_reads_metadata_only(minilm):
    result = run(str(minilm), "--python", sys.executable, "--format", "json")
    (first,) = json.loads(result.stdout)["results"]
    from importlib.metadata import version

    assert first["target"]["versions"]["sentence-transformers"] == version("sentence-transformers")
    assert first["verdict"] == "ok"


def test_markdown_and_sarif():
    args = [str(fixture_path("2.7.0", "bert_plain")), "--target", STACKS["2.3.1"], "--no-resolve"]
    markdown = run(*args, "--format", "markdown").stdout
    assert "| **fails** |" in markdown and "`STC102`" in markdown
    sarif = json.loads(run(*args, "--format", "sarif").stdout)
    assert sarif["version"] == "2.1.0"
    assert {r["ruleId"] for r in sarif["runs"][0]["results"]} >= {"STC102"}
    assert any(rule["id"] == "STC102" for rule in sarif["runs"][0]["tool"]["driver"]["rules"])


def test_bad_target_is_one_line_error(minilm):
    result = run(str(minilm), "--target", "sentence-transformers===")
    assert result.returncode == 2 and result.stderr.startswith("error[STC004]:")
    assert "Traceback" not in result.stderr


def test_check_imports_no_torch(minilm):
    code = ("import sys\nfrom stcompat.cli import main\n"
            f"try:\n    main(['check', {str(minilm)!r}, '--format', 'json'])\nexcept SystemExit:\n    pass\n"
            "heavy = [m for m in sys.modules if m.split('.')[0] in ('torch', 'transformers', 'sentence_transformers')]\n"
            "print('HEAVY', heavy)\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert "HEAVY []" in result.stdout, result.stdout[-500:] + result.stderr[-500:]


@pytest.mark.slow
def test_unpinned_layers_are_resolved_with_era_pins(minilm, tmp_path, monkeypatch):
    monkeypatch.setenv("STCOMPAT_CACHE", str(tmp_path))  # force a real resolver run
    import os

    result = subprocess.run([sys.executable, "-m", "stcompat.cli", "check", str(minilm), "--target",
                             "sentence-transformers==2.2.2", "--format", "json"],
                            capture_output=True, text=True, env=dict(os.environ))
    (first,) = json.loads(result.stdout)["results"]
    assert first["target"]["resolved_by"] == "uv pip compile"
    # Pins derived from the knowledge: 2.2.2 imports cached_download (gone in hub 0.26)
    assert "huggingface_hub<0.26" in first["target"]["pins_added"]
    from packaging.version import Version

    assert Version(first["target"]["versions"]["huggingface-hub"]) < Version("0.26")
    assert Version(first["target"]["versions"]["transformers"]) < Version("5")
    assert first["verdict"] == "ok"
