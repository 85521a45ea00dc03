"""inspect on broken, hostile and unusual folders: one-line errors with stable codes, nothing followed."""

from __future__ import annotations

import hashlib
import json
import pickle
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from stcompat import InputError, inspect_model, inspect_models


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "stcompat.cli", *args], capture_output=True, text=True)


def codes(manifest) -> list[str]:
    return [p.code for p in manifest.problems]


def test_missing_path_is_one_line_error(tmp_path):
    result = run_cli("inspect", str(tmp_path / "nope"))
    assert result.returncode == 2
    assert result.stderr.startswith("error[STC001]:") and result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("args,says", [
    (("inspect", "--format", "nope", "."), "Invalid value for '--format'"),
    (("serve", "m", "--backend", "foo"), "Invalid value for '--backend'"),
    (("nosuch",), "No such command 'nosuch'"),
    (("--bogus",), "No such option '--bogus'"),
    (("inspect",), "Missing argument 'PATHS...'"),
    (("kb", "nosuch"), "No such command 'nosuch'"),
])
def test_usage_errors_carry_the_bad_argument_code(args, says):
    """What click rejects before a command runs (a bad choice, an unknown option or command, a missing argument)
    ends like every other error in the input: one error[STC004] line after the usage, exit status 2."""
    result = run_cli(*args)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error[STC004]: ") and says in last
    assert result.stderr.startswith("Usage: ")


def test_no_arguments_and_help_are_not_errors():
    assert run_cli("--help").returncode == 0
    bare = run_cli()
    assert "error[STC004]" not in bare.stdout + bare.stderr and "Commands:" in bare.stdout + bare.stderr


def test_file_and_empty_folder_are_not_models(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "f.txt").write_text("x")
    for arg in (tmp_path / "empty", tmp_path / "f.txt"):
        result = run_cli("inspect", str(arg))
        assert result.returncode == 2 and result.stderr.startswith("error[STC002]:")
    with pytest.raises(InputError) as info:
        inspect_models(tmp_path / "empty")
    assert info.value.code == "STC002"


def test_unknown_repo_id_is_not_in_cache(tmp_path):
    result = run_cli("inspect", "no-such-org/no-such-model", "--cache-dir", str(tmp_path))
    assert result.returncode == 2 and result.stderr.startswith("error[STC003]:")


def test_malformed_modules_json_exits_2(minilm, copy_model):
    model = copy_model(minilm)
    (model / "modules.json").write_text('[{"idx": 0, "type": ')
    manifest = inspect_model(model)
    assert "STC010" in codes(manifest) and not manifest.usable
    result = run_cli("inspect", str(model))
    assert result.returncode == 2
    assert "STC010" in result.stdout and "Traceback" not in result.stdout + result.stderr


def test_wrong_shapes_are_reported_not_crashed(minilm, copy_model):
    model = copy_model(minilm)
    (model / "modules.json").write_text(json.dumps([{"idx": 0, "path": 7}, "x"]))
    (model / "config_sentence_transformers.json").write_text("[1, 2]")
    (model / "tokenizer.json").write_text(json.dumps({"version": "1.0"}))
    manifest = inspect_model(model)
    assert codes(manifest).count("STC010") == 3
    assert "STC017" in codes(manifest)


def test_module_path_escaping_the_folder_is_not_followed(minilm, copy_model, tmp_path):
    model = copy_model(minilm)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "config.json").write_text(json.dumps({"secret": 1}))
    modules = json.loads((model / "modules.json").read_text())
    modules[1]["path"] = "../outside"
    (model / "modules.json").write_text(json.dumps(modules))
    manifest = inspect_model(model)
    pooling = manifest.modules[1]
    assert pooling.config == {} and not pooling.folder_exists
    assert ("STC011", "modules.json", "[1].path") in [(p.code, p.file, p.key) for p in manifest.problems]


def test_symlink_escaping_the_folder_is_reported(minilm, copy_model, tmp_path):
    model = copy_model(minilm)
    secret = tmp_path / "secret.json"
    secret.write_text(json.dumps({"model_type": "stolen"}))
    (model / "1_Pooling" / "config.json").unlink()
    (model / "1_Pooling" / "config.json").symlink_to(secret)
    manifest = inspect_model(model)
    assert manifest.modules[1].config == {}
    assert any(p.code == "STC011" and p.file == "1_Pooling/config.json" for p in manifest.problems)


def test_truncated_safetensors_is_a_truncated_copy(minilm, copy_model):
    model = copy_model(minilm)
    weights = model / "model.safetensors"
    head = weights.read_bytes()[:200_000]
    weights.unlink()
    weights.write_bytes(head)
    manifest = inspect_model(model)
    # The header is intact and places tensors past the end of the file: a copy cut short, not a corrupt header.
    assert "STC022" in codes(manifest) and "STC014" not in codes(manifest) and not manifest.usable
    assert manifest.weights[0].header_ok is False


def test_garbage_safetensors_header(minilm, copy_model):
    model = copy_model(minilm)
    weights = model / "model.safetensors"
    weights.unlink()
    weights.write_bytes(struct.pack("<Q", 10) + b"not json!!" + b"\0" * 16)
    assert "STC014" in codes(inspect_model(model))


class _Touch:
    """Unpickling this object creates a file: proof that nothing was unpickled."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_pickle_weights_are_listed_never_unpickled(minilm, copy_model, tmp_path):
    model = copy_model(minilm)
    marker = tmp_path / "unpickled"
    (model / "pytorch_model.bin").write_bytes(pickle.dumps(_Touch(marker), protocol=4))
    manifest = inspect_model(model)
    assert ("pytorch_model.bin", "pickle") in [(w.path, w.format) for w in manifest.weights]
    assert "STC015" in codes(manifest) and "pickle_weights" in manifest.features
    assert not marker.exists()


def test_remote_code_is_flagged(minilm, copy_model):
    model = copy_model(minilm)
    config = json.loads((model / "config.json").read_text())
    config["auto_map"] = {"AutoModel": "modeling_x.XModel"}
    (model / "config.json").write_text(json.dumps(config))
    (model / "modeling_x.py").write_text("raise SystemExit('executed!')\n")
    modules = json.loads((model / "modules.json").read_text())
    modules.append({"idx": 3, "name": "3", "path": "3_Custom", "type": "my_pkg.layers.Custom"})
    (model / "modules.json").write_text(json.dumps(modules))
    manifest = inspect_model(model)
    assert codes(manifest).count("STC016") == 2
    assert {"remote_code", "custom_module"} <= set(manifest.features)
    assert manifest.modules[3].namespace == "custom"


def _digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() + str(p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_nothing_is_modified(minilm, copy_model):
    model = copy_model(minilm)
    before = _digest(model)
    assert run_cli("inspect", str(model), "--format", "json").returncode == 0
    assert _digest(model) == before


def test_folder_of_models_is_searched_recursively(minilm, copy_model, tmp_path):
    copy_model(minilm, "zoo/a")
    copy_model(minilm, "zoo/deeper/b")
    manifests = inspect_models(tmp_path / "zoo")
    assert [Path(m.path).name for m in manifests] == ["a", "b"]
    result = run_cli("inspect", str(tmp_path / "zoo"), "--format", "json")
    document = json.loads(result.stdout)
    assert document["schema"] == "stcompat.inspect/1" and len(document["models"]) == 2


def test_inspect_model_refuses_a_folder_of_many(minilm, copy_model, tmp_path):
    copy_model(minilm, "zoo/a")
    copy_model(minilm, "zoo/b")
    with pytest.raises(InputError):
        inspect_model(tmp_path / "zoo")
