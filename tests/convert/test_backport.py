"""convert's writing half, without the real environments: check on every converted folder predicts ok,
the source never changes, an existing output is refused, a failure halfway leaves nothing.

The real loads are in test_convert_slow.py.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import fixture_entries, fixture_path, truth_stacks
from stcompat.checker import check
from stcompat.convert import backport

# The module (the package re-exports the function under the same name).
backport_module = importlib.import_module("stcompat.convert.backport")
from stcompat.errors import ConvertError

STACKS = truth_stacks()
TARGETS = ("2.2.2", "3.4.1", "5.1.2")
MODULAR = [(e["release"], e["variant"]) for e in fixture_entries() if e["release"] in ("5.7.0", "6.2.0")]


def tree_hashes(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def leftovers(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if ".stcompat-" in p.name or ".old-" in p.name)


@pytest.mark.parametrize("target", TARGETS)
def test_every_54_save_converts_to_a_folder_check_predicts_ok(tmp_path, target):
    """Every 5.4+ fixture: converted and predicted ok, or refused with a code; the source untouched."""
    refused = {}
    for release, variant in MODULAR:
        source = fixture_path(release, variant)
        before = tree_hashes(source)
        out = tmp_path / f"{release}-{variant}"
        try:
            result = backport(source, out, STACKS[target], allow_loss=True, verify=False)
        except ConvertError as exc:
            refused[variant] = exc.code
            assert not out.exists()
        else:
            assert result.check.verdict == "ok" and result.verify is None
            (again,) = check(out, targets=[STACKS[target]], resolve=False)
            # A 5.x half-precision save is computed in float32 by a 4.x target: an allowed loss, which check
            # still reports (STC203) and the plan lists; nothing else may be left.
            dtype_lost = any(loss.setting.endswith("dtype") for loss in result.plan.losses)
            left = {f.code for f in again.findings if f.effect != "info"}
            assert again.verdict == "ok" or (dtype_lost and again.verdict == "degraded" and left == {"STC203"}), \
                again.findings
        assert tree_hashes(source) == before, f"{release}/{variant} changed"
    expected = {"cross_encoder": "STC751", "cross_encoder_identity": "STC751", "sparse": "STC751"}
    if target in ("2.2.2", "3.4.1"):
        expected["router"] = "STC752"
    if target == "2.2.2":
        expected["static"] = "STC752"
    assert refused == expected
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("target", ("2.2.2", "2.7.0", "3.4.1"))
def test_older_legacy_saves_convert_too(tmp_path, target):
    """Backports inside the legacy layout (e.g. 2.3's weightedmean/lasttoken flags for 2.2.2): every fixture
    saved by a release newer than the target and older than 5.4 converts to a folder check predicts ok, or
    is refused because the target lacks a module or the model is not a SentenceTransformer."""
    from packaging.version import Version

    converted = 0
    for entry in fixture_entries():
        if not Version(target) < Version(entry["release"]) < Version("5.4"):
            continue
        out = tmp_path / f"{entry['release']}-{entry['variant']}"
        try:
            result = backport(fixture_path(entry["release"], entry["variant"]), out, STACKS[target], allow_loss=True,
                              verify=False)
        except ConvertError as exc:
            assert exc.code in ("STC751", "STC752"), exc.message
            continue
        assert result.check.verdict == "ok", (entry, result.check)
        converted += 1
    assert converted >= 10


def test_losses_refused_without_allow_loss(tmp_path):
    out = tmp_path / "out"
    with pytest.raises(ConvertError) as caught:
        backport(fixture_path("6.2.0", "bert_prompts"), out, STACKS["2.2.2"], verify=False)
    assert caught.value.code == "STC754"
    assert caught.value.lost == ('prompts={"document": "passage: ", "query": "query: "}', 'default_prompt_name="query"')
    assert not out.exists() and leftovers(tmp_path) == []


def test_losses_written_into_the_output(tmp_path):
    out = tmp_path / "out"
    result = backport(fixture_path("6.2.0", "bert_prompts"), out, STACKS["2.2.2"], allow_loss=True, verify=False)
    assert [loss.setting for loss in result.plan.losses] == ["prompts", "default_prompt_name"]
    readme = (out / "README.md").read_text()
    assert readme.startswith("---\n")  # the model card's front matter stays first
    assert "## Lost: apply by hand" in readme
    assert "By hand: prepend the prompt to each text before encoding (document: 'passage: ', query: 'query: ')" in readme
    config = json.loads((out / "config_sentence_transformers.json").read_text())
    assert "prompts" not in config and "default_prompt_name" not in config


def test_existing_output_refused_unless_forced(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(ConvertError) as caught:
        backport(fixture_path("6.2.0", "bert_plain"), out, STACKS["2.2.2"], verify=False)
    assert caught.value.code == "STC755" and (out / "keep.txt").read_text() == "mine"
    backport(fixture_path("6.2.0", "bert_plain"), out, STACKS["2.2.2"], verify=False, force=True)
    assert not (out / "keep.txt").exists() and (out / "modules.json").is_file()
    assert leftovers(tmp_path) == []


def test_a_failure_halfway_leaves_nothing(tmp_path, monkeypatch):
    """The third edit fails: no output folder, no hidden work folder, the source unchanged."""
    source = fixture_path("6.2.0", "bert_dense")
    before = tree_hashes(source)
    real, calls = backport_module.apply_edit, []

    def flaky(root, edit):
        calls.append(edit.path)
        if len(calls) == 3:
            raise KeyboardInterrupt  # what Ctrl-C (or SIGTERM in the CLI) raises
        real(root, edit)

    monkeypatch.setattr(backport_module, "apply_edit", flaky)
    with pytest.raises(KeyboardInterrupt):
        backport(source, tmp_path / "out", STACKS["2.2.2"], verify=False)
    assert len(calls) == 3 and not (tmp_path / "out").exists() and leftovers(tmp_path) == []
    assert tree_hashes(source) == before


def test_forced_replacement_failing_keeps_the_old_output(tmp_path, monkeypatch):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    monkeypatch.setattr(backport_module, "check_output", lambda *_: (_ for _ in ()).throw(KeyboardInterrupt))
    with pytest.raises(KeyboardInterrupt):
        backport(fixture_path("6.2.0", "bert_plain"), out, STACKS["2.2.2"], verify=False, force=True)
    assert (out / "keep.txt").read_text() == "mine" and leftovers(tmp_path) == []


def test_output_inside_the_source_refused(tmp_path, copy_model):
    model = copy_model(fixture_path("6.2.0", "bert_plain"))
    before = tree_hashes(model)
    with pytest.raises(Exception) as caught:
        backport(model, model / "converted", STACKS["2.2.2"], verify=False)
    assert getattr(caught.value, "code", None) == "STC004"
    assert tree_hashes(model) == before


def test_cli_refusal_is_one_line_with_a_code(tmp_path):
    result = subprocess.run([sys.executable, "-m", "stcompat.cli", "convert", str(fixture_path("6.2.0", "static")),
                             "-o", str(tmp_path / "out"), "--target", STACKS["2.2.2"], "--no-verify"],
                            capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        "error[STC752]: sentence-transformers 2.2.2 has no StaticEmbedding (modules.json [0] "
        "sentence_transformers.sentence_transformer.modules.static_embedding.StaticEmbedding)")


def test_summary_text_and_cli_json(tmp_path):
    from stcompat.convert.summary import render

    result = backport(fixture_path("6.2.0", "bert_dense"), tmp_path / "a", STACKS["2.2.2"], verify=False)
    text = render(result, "text")
    assert "weights-to-bin    2_Dense/pytorch_model.bin (from 2_Dense/model.safetensors)" in text
    assert "not verified in a real environment: --no-verify" in text
    done = subprocess.run([sys.executable, "-m", "stcompat.cli", "convert", str(fixture_path("6.2.0", "bert_dense")),
                           "--target", STACKS["2.2.2"], "--no-verify", "-o", str(tmp_path / "b"), "--format", "json"],
                          capture_output=True, text=True)
    data = json.loads(done.stdout)
    assert data["schema"] == "stcompat.convert/1" and data["check"]["verdict"] == "ok" and data["verify"] is None
    assert (tmp_path / "b" / "2_Dense" / "pytorch_model.bin").is_file()
    assert not (tmp_path / "b" / "2_Dense" / "model.safetensors").exists()
