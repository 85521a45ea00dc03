"""lock (requirement ranges from the knowledge) and stamp (the requirements block ST 6.0+ enforces).

Fast tests read the files; the slow ones install the lock at both ends of its range and load the model,
load a stamped folder in 6.x, and show a 6.x environment refusing a stamped requirement with ST's own error.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys

import pytest

from conftest import fixture_path
from stcompat.checker import check
from stcompat.kb.query import knowledge
from stcompat.convert.lock import lock
from stcompat.convert.stamp import stamp, write_stamp
from stcompat.errors import ConvertError
from stcompat.model.inspect import inspect_model


def lines(model) -> dict[str, str]:
    return {r.name: r.specifier for r in lock(inspect_model(model)).requirements}


def test_lock_of_a_62_save():
    assert lines(fixture_path("6.2.0", "bert_plain")) == {
        "sentence-transformers": ">=6.0.0,<=6.2.0",  # Normalize moved to base.modules in 6.0
        # the upper bound is the newest transformers the knowledge covers
        "transformers": f">=5.0.0,<={knowledge().document('transformers')['releases'][-1]['version']}", "tokenizers": ">=0.19,<=0.23.3", "huggingface-hub": ">=1.3.0,<=2.4.0",
        "torch": ">=2.2"}


def test_lock_floors_come_from_the_model():
    found = lines(fixture_path("3.4.1", "roberta_plain"))
    assert found["sentence-transformers"] == ">=2.4.0,<=6.2.0"  # include_prompt in its Pooling config: 2.4+
    assert found["tokenizers"] == ">=0.20.0,<=0.23.3"  # BPE merges stored as pairs


def test_lock_leaves_out_releases_that_need_extra_pins(minilm):
    result = lock(inspect_model(minilm))
    assert result.ends == ("2.3.0", "6.2.0")
    assert result.notes[0].startswith("sentence-transformers 2.0.0 to 2.2.2 load it too, with extra pins "
                                      "(huggingface_hub<0.26, numpy<2")


def test_lock_exact():
    text = lock(inspect_model(fixture_path("2.2.2", "bert_plain")), exact=True).render()
    assert "sentence-transformers==2.2.2 " in text and "transformers==4.30.2 " in text and "torch==2.13.0 " in text
    assert "huggingface_hub<0.26 " in text  # what 2.2.2 needs to import at all


def test_lock_cli_writes_a_file_pip_reads(tmp_path):
    out = tmp_path / "requirements.txt"
    done = subprocess.run([sys.executable, "-m", "stcompat.cli", "lock", str(fixture_path("6.2.0", "bert_plain")),
                           "-o", str(out), "--constraints"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    from packaging.requirements import Requirement

    parsed = [Requirement(line.split("#")[0]) for line in out.read_text().splitlines() if not line.startswith("#")]
    assert [r.name for r in parsed] == ["sentence-transformers", "transformers", "tokenizers", "huggingface-hub", "torch"]


def test_stamp_infers_requirements_with_reasons():
    result = stamp(inspect_model(fixture_path("6.2.0", "roberta_plain")))
    assert result.requirements == {
        "sentence-transformers": {
            "specifier": ">=6.0.0",
            "reason": "Loads as saved from sentence-transformers 6.0.0; on 5.7.0: "
                      "sentence_transformers.base.modules.normalize.Normalize cannot be imported by "
                      "sentence-transformers 5.7.0."},
        "tokenizers": {"specifier": ">=0.20.0",
                       "reason": "tokenizer.json stores BPE merges as pairs, which older tokenizers cannot read."}}
    # transformers>=4.30.2 (safetensors only) is left out: every release from 6.0 requires transformers>=5.


def test_stamp_touches_only_the_requirements_key(copy_model):
    model = copy_model(fixture_path("3.0.1", "bert_simfn"))
    cst = model / "config_sentence_transformers.json"
    before = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in model.rglob("*") if p.is_file()}
    original = cst.read_text()
    result = stamp(inspect_model(model))
    changed = [line[0] for line in result.diff.splitlines()[2:] if line[:1] in "+-"]
    assert changed.count("+") == 7 and changed.count("-") == 1  # one line gains a comma, the block follows
    backup = write_stamp(result)
    assert backup.read_text() == original
    new = json.loads(cst.read_text())
    old = json.loads(original)
    assert {k: v for k, v in new.items() if k != "requirements"} == old
    assert list(new) == [*old, "requirements"]
    after = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in model.rglob("*") if p.is_file()}
    assert {k for k in after if after[k] != before.get(k)} == {"config_sentence_transformers.json",
                                                                "config_sentence_transformers.json.bak"}
    assert stamp(inspect_model(model)).added == ()  # stamping again adds nothing
    with pytest.raises(ConvertError) as caught:
        write_stamp(result)
    assert caught.value.code == "STC755"  # the backup is never overwritten unasked


def test_stamp_dry_run_writes_nothing(copy_model):
    model = copy_model(fixture_path("6.2.0", "bert_plain"))
    before = (model / "config_sentence_transformers.json").read_bytes()
    done = subprocess.run([sys.executable, "-m", "stcompat.cli", "stamp", str(model), "--dry-run"],
                          capture_output=True, text=True)
    assert done.returncode == 0 and '+  "requirements": {' in done.stdout
    assert (model / "config_sentence_transformers.json").read_bytes() == before
    assert not (model / "config_sentence_transformers.json.bak").exists()


def _with_model_type(copy_model, model_type: str):
    """bert_plain stamped after its config.json names a model_type that transformers 5.2 introduced."""
    model = copy_model(fixture_path("6.2.0", "bert_plain"))
    config = json.loads((model / "config.json").read_text())
    config["model_type"] = model_type
    (model / "config.json").write_text(json.dumps(config))
    write_stamp(stamp(inspect_model(model)))
    return model


def test_check_predicts_the_refusal_of_a_stamped_requirement(copy_model):
    model = _with_model_type(copy_model, "qwen3_5_text")
    (result,) = check(model, targets=["sentence-transformers==6.2.0 transformers==5.0.0 tokenizers==0.22.2 "
                                      "huggingface-hub==1.3.0 torch==2.13.0"], resolve=False)
    assert result.predicted_error.type == "ImportError"
    assert result.predicted_error.message.splitlines()[1] == (
        "- transformers>=5.2.0, but transformers==5.0.0 is installed. model_type 'qwen3_5_text' is unknown to older "
        "transformers.")


_LOAD = "import sys\nfrom sentence_transformers import SentenceTransformer\nfor path in sys.argv[1:]:\n" \
        "    SentenceTransformer(path)\n    print('loaded')\n"


@pytest.mark.slow
def test_stamped_folders_load_in_6x(copy_model):
    models = [copy_model(fixture_path("6.2.0", variant), variant) for variant in ("bert_plain", "roberta_plain")]
    for model in models:
        assert stamp(inspect_model(model)).added
        write_stamp(stamp(inspect_model(model)))
    done = subprocess.run([sys.executable, "-c", _LOAD, *map(str, models)], capture_output=True, text=True)
    assert done.stdout.split() == ["loaded", "loaded"], done.stderr[-2000:]


@pytest.mark.slow
def test_6x_environment_breaking_a_stamped_requirement_refuses_with_sts_error(copy_model):
    """ST 6.2.0 with transformers 5.0.0, and a model stamped transformers>=5.2.0 (its model_type): ST's own
    check_version_requirements raises before any module is built, with the reason stamp wrote."""
    from stcompat.matrix.envs import ensure_env, release_spec
    from stcompat.matrix.runner import default_torch

    model = _with_model_type(copy_model, "qwen3_5_text")
    python = ensure_env(release_spec("6.2.0", python=sys.executable, torch=default_torch(), period=False,
                                     extra=("transformers==5.0.0",)))
    done = subprocess.run([str(python), "-c", _LOAD, str(model)], capture_output=True, text=True,
                          env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"})
    assert done.returncode != 0
    assert "ImportError: The model" in done.stderr
    assert ("- transformers>=5.2.0, but transformers==5.0.0 is installed. model_type 'qwen3_5_text' is unknown to "
            "older transformers.") in done.stderr


@pytest.mark.slow
def test_lock_installs_and_loads_at_both_ends(tmp_path):
    out = tmp_path / "requirements.txt"
    done = subprocess.run([sys.executable, "-m", "stcompat.cli", "lock", str(fixture_path("6.2.0", "bert_plain")),
                           "-o", str(out), "--prove"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    proof = json.loads((tmp_path / "requirements.txt.proof.json").read_text())
    assert [(p["release"], p["outcome"]) for p in proof] == [("6.0.0", "ok"), ("6.2.0", "ok")]
    assert all(p["max_abs_diff"] is not None and p["max_abs_diff"] <= 1e-6 for p in proof)
