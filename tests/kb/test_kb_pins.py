"""kb/pins.py: the pins each release needs, from knowledge-base data alone (not from this interpreter)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from packaging.version import Version

from stcompat.kb.pins import ImportPins, import_pins, period_pins, period_stack
from stcompat.kb.query import DATA, knowledge

MANIFEST = Path(__file__).resolve().parents[1] / "fixtures" / "manifest.json"

OLD_REASON = ("imports cached_download from huggingface_hub, removed in 0.26; declares torchvision, whose resolution "
              "swaps the shared CPU torch for a CUDA build")

# What matrix/envs.py's import_pins() / period_pins() returned before the pins moved to kb/pins.py, computed
# from that code in this repository's .venv. One difference, on purpose: the old code named, for the modules
# ST 2.2.2 imports, whatever distributions *this interpreter* had installed (importlib.metadata), so it added
# "packaging" here (and would have added "requests" wherever requests happened to be installed). From the
# release artifacts only PIL is missing once torchvision is skipped: pillow, which only torchvision requires
# (packaging and requests come with transformers and huggingface_hub), as research/releases.md section 0 measured.
BEFORE = {
    "2.0.0": ImportPins(("huggingface_hub<0.26", "numpy<2", "transformers<5.0.0,>=4.6.0", "tqdm", "scikit-learn",
                         "scipy", "nltk", "sentencepiece", "tokenizers", "safetensors"),
                        ("sentence-transformers==2.0.0",), OLD_REASON),
    "2.1.0": ImportPins(("huggingface_hub<0.26", "numpy<2", "transformers<5.0.0,>=4.6.0", "tokenizers>=0.10.3", "tqdm",
                         "scikit-learn", "scipy", "nltk", "sentencepiece", "pillow", "safetensors"),
                        ("sentence-transformers==2.1.0",), OLD_REASON),
    "2.2.2": ImportPins(("huggingface_hub<0.26", "numpy<2", "transformers<5.0.0,>=4.6.0", "tqdm", "scikit-learn",
                         "scipy", "nltk", "sentencepiece", "pillow", "packaging", "tokenizers", "safetensors"),
                        ("sentence-transformers==2.2.2",), OLD_REASON),
    "2.3.1": ImportPins(),
    "6.2.0": ImportPins(),
}
CHANGED = {"2.2.2": "packaging"}
"""Requirements the host-dependent old code added that the artifacts do not support (see above)."""

PERIOD = {
    "2.2.2": ("transformers==4.30.2", "tokenizers==0.13.3", "huggingface_hub==0.16.4", "numpy==1.26.4"),
    "2.3.1": ("transformers==4.37.2", "tokenizers==0.15.2", "huggingface_hub==0.20.3", "numpy==1.26.4"),
    "2.7.0": ("transformers==4.40.2", "tokenizers==0.19.1", "huggingface_hub==0.23.0", "numpy==1.26.4"),
    "3.0.1": ("transformers==4.41.2", "tokenizers==0.19.1", "huggingface_hub==0.23.4", "numpy==1.26.4"),
    "3.4.1": ("transformers==4.48.2", "tokenizers==0.21.4", "huggingface_hub==0.28.1", "numpy==2.4.6"),
    "4.1.0": ("transformers==4.51.3", "tokenizers==0.21.4", "huggingface_hub==0.30.2", "numpy==2.4.6"),
    "5.1.2": ("transformers==4.57.1", "tokenizers==0.22.2", "huggingface_hub==0.36.2", "numpy==2.4.6"),
    "5.7.0": ("transformers==5.24.0", "tokenizers==0.23.3", "huggingface_hub==2.4.0", "numpy==2.4.6"),
    "6.2.0": ("transformers==5.24.0", "tokenizers==0.23.3", "huggingface_hub==2.4.0", "numpy==2.4.6"),
}


@pytest.mark.parametrize("version", sorted(BEFORE))
def test_import_pins_as_before(version: str) -> None:
    before = BEFORE[version]
    dropped = CHANGED.get(version)
    expected = ImportPins(tuple(r for r in before.requirements if r != dropped), before.no_deps, before.reason)
    assert import_pins(version) == expected


def test_only_releases_declaring_torchvision_or_importing_cached_download_need_pins() -> None:
    needing = [str(r.version) for r in knowledge().st_releases if import_pins(str(r.version)) != ImportPins()]
    assert needing == ["2.0.0", "2.1.0", "2.2.0", "2.2.1", "2.2.2"]
    assert import_pins("1.2.0") == ImportPins()  # not covered: nothing to say


def test_pins_do_not_ask_this_interpreter(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.metadata

    def refuse(*args, **kwargs):
        raise AssertionError("import_pins must not read this interpreter's distributions")

    monkeypatch.setattr(importlib.metadata, "packages_distributions", refuse)
    monkeypatch.setattr(importlib.metadata, "distributions", refuse)
    assert "pillow" in import_pins("2.2.2").requirements


def test_pillow_comes_from_torchvision_in_the_artifacts() -> None:
    provider = knowledge().st("2.2.2").import_providers["PIL"]
    assert provider.distribution == "pillow" and provider.required_by == ("torchvision",)
    assert provider.found_in.lower().startswith("pillow-")
    # 2.3 declares pillow itself: PIL needs no provider there
    assert "PIL" not in knowledge().st("2.3.1").import_providers


@pytest.mark.parametrize("version", sorted(PERIOD))
def test_period_pins_as_before(version: str) -> None:
    assert period_pins(version) == PERIOD[version]


def test_period_pins_unknown_release() -> None:
    assert period_pins("2.2.1") is None and period_stack("9.9.9") is None


def test_period_stacks_are_the_fixture_manifest() -> None:
    """period_stacks.json is a copy (tools/build_kb.py period) of what tests/fixtures/manifest.json measured."""
    manifest = json.loads(MANIFEST.read_text(encoding="utf-8"))
    document = json.loads((DATA / "period_stacks.json").read_text(encoding="utf-8"))
    assert [row["version"] for row in document["releases"]] == sorted(manifest["releases"], key=Version)
    for row in document["releases"]:
        env = manifest["releases"][row["version"]]["env"]
        assert row["stack"] == {layer: env[layer] for layer in document["layers"]}
        assert row["provenance"].startswith("tests/fixtures/manifest.json")


def test_measured_install_facts_say_where_they_were_measured() -> None:
    document = json.loads((DATA / "install_facts.json").read_text(encoding="utf-8"))
    facts = {key: value for key, value in document.items() if isinstance(value, dict)}
    assert set(facts) == {"hub_cap_companions", "no_deps_dependencies", "no_deps_companions", "installed_separately"}
    for key, fact in facts.items():
        assert fact["provenance"], key
