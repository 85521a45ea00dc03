"""The pre-commit hooks in-process: changed files -> model folders -> check / stamp check, and their exits.

tests/integrations/test_precommit_real.py runs the same hooks through real pre-commit.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml

from integration_support import BAD_MODEL, GOOD_MODEL, ROOT, TARGET, copy_model
from stcompat.integrations import precommit
from stcompat.integrations.folders import model_folders


@pytest.fixture()
def repo(tmp_path, monkeypatch) -> Path:
    """A working folder like a user's repository: two models, a requirements file, other files."""
    copy_model(GOOD_MODEL, tmp_path / "models" / "good")
    copy_model(BAD_MODEL, tmp_path / "models" / "bad")
    (tmp_path / "deploy.txt").write_text("\n".join(TARGET.split()) + "\n")
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "app.py").write_text("print('hi')\n")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_changed_files_map_to_their_model_folders(repo):
    changed = ["src/app.py", "models/good/1_Pooling/config.json", "models/good/modules.json",
               "models/bad/tokenizer.json", "deploy.txt", "models/bad"]
    assert model_folders(changed) == [Path("models/good"), Path("models/bad")]
    assert model_folders(["src/app.py", "README.md"]) == []
    # An absolute name inside the repository counts; one outside it never does.
    assert model_folders([str(repo / "models/bad/config.json"), str(GOOD_MODEL / "modules.json")]) == [Path("models/bad")]


def test_a_model_at_the_repository_root_is_found(tmp_path):
    copy_model(GOOD_MODEL, tmp_path / "m")
    assert model_folders(["modules.json", "1_Pooling/config.json"], root=tmp_path / "m") == [Path(".")]


def test_check_fails_on_the_failing_model_and_names_it(repo, capsys):
    status = precommit.main(["check", "--target", TARGET, "models/bad/modules.json", "models/good/modules.json"])
    out = capsys.readouterr().out
    assert status == 1
    assert "models/bad" in out and "fails" in out and "STC101" in out


def test_check_passes_on_a_model_that_loads(repo, capsys):
    assert precommit.main(["check", "-r", "deploy.txt", "models/good/config.json", "src/app.py"]) == 0
    assert "ok" in capsys.readouterr().out


def test_fail_on_fails_lets_degraded_through(repo, capsys):
    # ST 3.0.1's similarity_fn_name is ignored by 2.7.0: degraded, which --fail-on fails accepts.
    copy_model(ROOT / "tests/fixtures/st3.0.1/bert_simfn", repo / "models" / "simfn")
    files = ["models/simfn/modules.json"]
    assert precommit.main(["check", "--target", TARGET, *files]) == 1
    assert precommit.main(["check", "--target", TARGET, "--fail-on", "fails", *files]) == 0
    assert "degraded" in capsys.readouterr().out


def test_check_without_a_target_is_unusable_input(repo, capsys):
    # The hook's venv is never where the model is deployed: judging it would prove nothing.
    assert precommit.main(["check", "models/good/modules.json"]) == 2
    assert capsys.readouterr().err.startswith("error[STC004]: stcompat-check needs a target")


def test_nothing_to_do_without_a_model_among_the_files(repo, capsys):
    assert precommit.main(["check", "--target", TARGET, "src/app.py"]) == 0
    assert precommit.main(["stamp-check", "src/app.py"]) == 0
    assert "no model folder" in capsys.readouterr().out


def test_stamp_check_skips_cleanly_while_the_cli_has_no_stamp_command(repo, capsys):
    from stcompat.cli import main as cli

    if "stamp" in cli.commands:
        pytest.skip("this stcompat has `stamp`: test_stamp_command_keeps_the_hook_contract covers it")
    assert precommit.stamp_support() == precommit.StampSupport(False, "this stcompat has no `stcompat stamp` command yet")
    assert precommit.main(["stamp-check", "models/bad/modules.json"]) == 0
    assert "stcompat-stamp-check: skipped: this stcompat has no `stcompat stamp` command yet; not checked: models/bad" \
        in capsys.readouterr().out


def test_stamp_command_keeps_the_hook_contract():
    # The hook runs `stcompat stamp --check FOLDER...` once the command exists; whoever adds it must
    # keep --check (exit 1 when a stamp is missing or stale), or the hook would skip forever.
    from stcompat.cli import main as cli

    stamp = cli.commands.get("stamp")
    if stamp is None:
        return
    assert precommit.STAMP_CHECK_OPTION in {opt for p in stamp.params for opt in getattr(p, "opts", ())}


def _fake_cli(tmp_path: Path, stamp: str) -> tuple[str, ...]:
    """A stand-in command line: ``stamp`` is the body of its stamp command (argv in ``args``)."""
    script = tmp_path / "fake_cli.py"
    script.write_text("import sys\nargs = sys.argv[1:]\nif args[:1] != ['stamp']:\n    sys.exit(2)\n" + stamp)
    return (sys.executable, str(script))


def test_stamp_check_runs_the_command_once_it_exists(repo, tmp_path, capsys):
    # Present with --check: the hook runs it on the touched folders and passes its verdict on.
    cli = _fake_cli(tmp_path, "if '--help' in args:\n    print('Options:\\n  --check  exit 1 when stale')\n"
                              "    sys.exit(0)\nprint('STAMPED', args)\nsys.exit(1 if 'models/bad' in args else 0)\n")
    assert precommit.stamp_support(cli).available
    assert precommit.run_stamp_check(["models/good/modules.json"], cli) == 0
    assert precommit.run_stamp_check(["models/bad/modules.json", "src/app.py"], cli) == 1
    # Present without --check: skipped, saying why.
    cli = _fake_cli(tmp_path, "print('Options:\\n  --output DIR')\n")
    assert precommit.run_stamp_check(["models/bad/modules.json"], cli) == 0
    assert "skipped: `stcompat stamp` has no --check option" in capsys.readouterr().out


def test_hook_file_names_both_hooks_and_their_entry():
    hooks = {h["id"]: h for h in yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())}
    assert set(hooks) == {"stcompat-check", "stcompat-stamp-check"}
    for hook_id, sub in (("stcompat-check", "check"), ("stcompat-stamp-check", "stamp-check")):
        hook = hooks[hook_id]
        assert hook["entry"] == f"python -m stcompat.integrations.precommit {sub}"
        assert hook["language"] == "python" and hook["pass_filenames"] is True
        # One process sees every file, so a model whose files are all changed is checked once.
        assert hook["require_serial"] is True
