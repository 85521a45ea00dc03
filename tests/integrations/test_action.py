"""action.yml run locally: its `run:` steps, in order, with bash, as the runner would run them.

The runner's part is played here: inputs (defaults from action.yml, then ours) and step outputs are
substituted into each step's env, GITHUB_STEP_SUMMARY / GITHUB_OUTPUT / RUNNER_TEMP point at temporary
files, GITHUB_ACTION_PATH at a committed snapshot of this checkout (so pip's build never writes into
it). Any other `${{ }}` expression fails the test instead of being skipped.

Each run builds a fresh virtual environment and installs the snapshot into it (~20 s here), so the
runs are in the slow suite; test_sarif_schema.py validates the same renderer in the default one.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from integration_support import BAD_MODEL, GOOD_MODEL, ROOT, TARGET, copy_model, snapshot_checkout

SCHEMA = ROOT / "tests" / "data" / "sarif-schema-2.1.0.json"
_EXPRESSION = re.compile(r"\$\{\{\s*([^}]*?)\s*\}\}")


def _substitute(text: str, inputs: dict[str, str], outputs: dict[str, dict[str, str]]) -> str:
    """The runner's expression substitution, for the two forms action.yml may use."""
    def value(match: re.Match[str]) -> str:
        expr = match.group(1)
        if expr.startswith("inputs."):
            return inputs[expr[len("inputs."):]]
        parts = expr.split(".")
        if len(parts) == 4 and parts[0] == "steps" and parts[2] == "outputs":
            return outputs.get(parts[1], {}).get(parts[3], "")
        raise AssertionError(f"action.yml uses an expression this test does not model: {expr}")

    return _EXPRESSION.sub(value, text)


def _read_outputs(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)


def run_action(workspace: Path, action_path: Path, given: dict[str, str], temp: Path) -> dict[str, Any]:
    """Run every step of action.yml; returns the step outputs, the last exit status and the log."""
    action = yaml.safe_load((ROOT / "action.yml").read_text())
    inputs = {name: str(spec.get("default", "")) for name, spec in action["inputs"].items()}
    assert set(given) <= set(inputs), set(given) - set(inputs)
    inputs.update(given)
    summary = temp / "step_summary.md"
    summary.touch()
    outputs: dict[str, dict[str, str]] = {}
    log = []
    status = 0
    for i, step in enumerate(action["runs"]["steps"]):
        assert "run" in step and step.get("shell") == "bash", f"step {i} is not a bash run step"
        output_file = temp / f"output_{i}"
        output_file.touch()
        env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
        env.update({"GITHUB_STEP_SUMMARY": str(summary), "GITHUB_OUTPUT": str(output_file),
                    "RUNNER_TEMP": str(temp), "GITHUB_ACTION_PATH": str(action_path),
                    "GITHUB_WORKSPACE": str(workspace), "HF_HUB_OFFLINE": "1"})
        env.update({k: _substitute(str(v), inputs, outputs) for k, v in (step.get("env") or {}).items()})
        script = _substitute(step["run"], inputs, outputs)
        # What the runner runs for `shell: bash`.
        done = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script], cwd=workspace,
                              env=env, capture_output=True, text=True, timeout=600)
        log.append(f"--- {step['name']} (exit {done.returncode})\n{done.stdout}{done.stderr}")
        if "id" in step:
            outputs[step["id"]] = _read_outputs(output_file)
        status = done.returncode
        if status != 0:  # a failed step ends a composite action
            break
    return {"outputs": outputs, "status": status, "log": "\n".join(log), "summary": summary.read_text(),
            "last_step": i, "steps": len(action["runs"]["steps"])}


def validate_sarif(document: dict[str, Any]) -> None:
    """Validate against the OASIS SARIF 2.1.0 schema, with formats (uri, uri-reference) checked."""
    schema = json.loads(SCHEMA.read_text())
    validator = jsonschema.Draft4Validator(schema, format_checker=jsonschema.FormatChecker())
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(document)]
    assert not errors, "\n".join(errors[:20])


def test_inputs_reach_the_scripts_only_through_env():
    # A path or target with shell syntax in it must stay data: no expression inside a script.
    action = yaml.safe_load((ROOT / "action.yml").read_text())
    assert action["runs"]["using"] == "composite"
    assert set(action["inputs"]) >= {"paths", "targets", "requirements", "fail-on"}
    for step in action["runs"]["steps"]:
        assert "${{" not in step["run"], step["name"]


@pytest.fixture(scope="module")
def action_run(tmp_path_factory) -> dict[str, Any]:
    base = tmp_path_factory.mktemp("action")
    action_path = base / "action"
    snapshot_checkout(action_path)
    workspace = base / "workspace"
    copy_model(GOOD_MODEL, workspace / "models" / "good")
    copy_model(BAD_MODEL, workspace / "models" / "bad")
    (workspace / "deploy.txt").write_text("\n".join(TARGET.split()) + "\n")
    temp = base / "runner_temp"
    temp.mkdir()
    given = {"paths": "models/good\nmodels/bad", "targets": TARGET, "requirements": "deploy.txt",
             "sarif-file": "results/stcompat.sarif",
             # The runner's python3 here may lack venv; the interpreter running the tests has it.
             "python": sys.executable}
    (workspace / "results").mkdir()
    result = run_action(workspace, action_path, given, temp)
    result["workspace"] = workspace
    return result


@pytest.mark.slow
def test_every_step_runs_and_the_verdict_fails_the_action(action_run):
    # The bad model fails the target: the last step exits 1, after the summary and SARIF were written.
    assert action_run["last_step"] == action_run["steps"] - 1, action_run["log"]
    assert action_run["status"] == 1, action_run["log"]
    assert action_run["outputs"]["markdown"]["exit-status"] == "1"
    assert action_run["outputs"]["sarif"]["sarif-file"] == "results/stcompat.sarif"


@pytest.mark.slow
def test_job_summary_holds_the_markdown_report(action_run):
    summary = action_run["summary"]
    assert summary.startswith("## stcompat check\n")
    assert "| model | saved with | target | verdict | predicted error |" in summary
    # Both models, each against both targets (the --target line and the requirements file).
    rows = [line for line in summary.splitlines() if line.startswith("| `")]
    assert len(rows) == 4
    assert sum("| **fails** |" in r for r in rows) == 2 and sum("| **ok** |" in r for r in rows) == 2
    assert "ModuleNotFoundError: No module named 'sentence_transformers.base'" in summary


@pytest.mark.slow
def test_sarif_validates_and_points_into_the_repository(action_run):
    document = json.loads((action_run["workspace"] / "results" / "stcompat.sarif").read_text())
    validate_sarif(document)
    run = document["runs"][0]
    results = run["results"]
    assert {r["ruleId"] for r in results} >= {"STC101", "STC301"}
    locations = {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in results}
    assert "models/bad/modules.json" in locations and "models/bad/tokenizer.json" in locations
    assert run["originalUriBaseIds"]["%SRCROOT%"]["uri"] == action_run["workspace"].as_uri() + "/"


@pytest.mark.slow
def test_fail_on_fails_passes_when_nothing_fails(tmp_path):
    # Degraded only (ST 3.0.1's similarity_fn_name on 2.7.0) with fail-on fails: the action passes.
    action_path = tmp_path / "action"
    snapshot_checkout(action_path)
    workspace = tmp_path / "workspace"
    copy_model(ROOT / "tests/fixtures/st3.0.1/bert_simfn", workspace / "simfn")
    temp = tmp_path / "temp"
    temp.mkdir()
    result = run_action(workspace, action_path, {"paths": "simfn", "targets": TARGET, "fail-on": "fails",
                                                 "python": sys.executable}, temp)
    assert result["status"] == 0, result["log"]
    assert "**degraded**" in result["summary"]
    validate_sarif(json.loads((workspace / "stcompat.sarif").read_text()))
