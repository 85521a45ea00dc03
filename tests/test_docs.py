"""The generated docs match the code they are generated from."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_rules_md_is_generated_from_the_registry():
    spec = importlib.util.spec_from_file_location("gen_docs", ROOT / "tools" / "gen_docs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert (ROOT / "docs" / "rules.md").read_text() == module.render_rules()


def test_every_feature_id_is_documented(minilm):
    # Feature ids the reader can emit are listed in docs/inspect-schema.md.
    documented = set(re.findall(r"^\| `([a-z_]+)` \|", (ROOT / "docs" / "inspect-schema.md").read_text(), re.M))
    source = (ROOT / "src" / "stcompat" / "model" / "inspect.py").read_text()
    emitted = set(re.findall(r'found\.append\("([a-z_]+)"\)', source))
    assert emitted <= documented, emitted - documented


def test_rule_command_prints_the_doc():
    from click.testing import CliRunner

    from stcompat.cli import main

    result = CliRunner().invoke(main, ["rule", "stc014"])
    assert result.exit_code == 0 and "safetensors-header-invalid" in result.output
    assert CliRunner().invoke(main, ["rule", "STC999"]).exit_code == 2
