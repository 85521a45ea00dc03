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


def _documented_feature_ids() -> set[str]:
    """Every id named in a row of the feature table of docs/inspect-schema.md."""
    text = (ROOT / "docs" / "inspect-schema.md").read_text().split("## Feature ids", 1)[1]
    ids = set()
    for row in re.findall(r"^\| (.+?) \| .* \|$", text, re.M):
        ids |= set(re.findall(r"`([a-z_]+)`", row))
    return ids


def test_every_feature_id_is_documented():
    # Enumerated from the reader's own registry (model/features.py), not from its source text.
    from stcompat.model.features import FEATURES, module_feature, pooling_feature
    from stcompat.model.st_config import LEGACY_POOLING_FLAGS

    documented = _documented_feature_ids()
    fixed = set(FEATURES)
    pooling = {pooling_feature(mode) for mode in LEGACY_POOLING_FLAGS.values()}
    assert fixed <= documented, fixed - documented
    assert pooling <= documented, pooling - documented
    # Module features are a family (one per class); the common ones are named in the table.
    assert {module_feature(k) for k in ("Transformer", "Pooling", "StaticEmbedding", "MLMTransformer")} <= documented


def test_every_emitted_feature_comes_from_the_registry():
    # Whatever the reader emits on every real fixture is a registered id or one of the two families.
    from conftest import FIXTURES, fixture_entries
    from stcompat import inspect_model
    from stcompat.model.features import FEATURES, module_feature, pooling_feature
    from stcompat.model.st_config import LEGACY_POOLING_FLAGS

    families = {pooling_feature(mode) for mode in LEGACY_POOLING_FLAGS.values()}
    seen = set()
    for entry in fixture_entries():
        manifest = inspect_model(FIXTURES / entry["path"])
        kinds = {module_feature(m.kind) for m in manifest.modules}
        routes = {module_feature(str(t).rsplit(".", 1)[-1]) for m in manifest.modules if m.kind == "Router"
                  for t in (m.config.get("types") or {}).values()}
        for feature in manifest.features:
            assert feature in FEATURES or feature in families or feature in kinds | routes, feature
            seen.add(feature)
    assert {"prompts", "truncate_dim", "similarity_fn_name", "pooling_mean", "bpe_merges_pairs"} <= seen


def test_rule_command_prints_the_doc():
    from click.testing import CliRunner

    from stcompat.cli import main

    result = CliRunner().invoke(main, ["rule", "stc014"])
    assert result.exit_code == 0 and "safetensors-header-invalid" in result.output
    assert CliRunner().invoke(main, ["rule", "STC999"]).exit_code == 2
