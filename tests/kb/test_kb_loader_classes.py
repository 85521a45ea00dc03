"""The loader-class facts (kbbuild/loader_class_facts.py): what CrossEncoder(path) and SparseEncoder(path)
are in each release, read from its source. Checked here against the installed release's own files (read as
text, never imported) and against small sources of each generation."""

from __future__ import annotations

import importlib.util
from importlib.metadata import version
from pathlib import Path

from stcompat.kb.query import knowledge
from stcompat.kbbuild.loader_class_facts import loader_class_facts
from stcompat.kbbuild.st_facts import Release


def _release_from(files: dict[str, str]) -> Release:
    return Release({name: (text.encode(), is_pkg) for name, (text, is_pkg) in files.items()})


def test_the_installed_release_gives_the_bundled_facts():
    spec = importlib.util.find_spec("sentence_transformers")  # finds the package without importing it
    root = Path(next(iter(spec.submodule_search_locations)))
    sources = {}
    for path in root.rglob("*.py"):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        is_pkg = parts[-1] == "__init__"
        dotted = ".".join(parts[:-1] if is_pkg else parts)
        sources[dotted] = (path.read_bytes(), is_pkg)
    facts = loader_class_facts(Release(sources))
    bundled = knowledge().st(version("sentence-transformers")).data["loader_classes"]
    assert facts == bundled
    assert facts["cross_encoder"]["loader"] == "modules" and facts["cross_encoder"]["trusted_prefix"] == "torch."


def test_each_generation_of_cross_encoder():
    legacy = _release_from({
        "sentence_transformers": ("from .cross_encoder.CrossEncoder import CrossEncoder\n", True),
        "sentence_transformers.cross_encoder": ("", True),
        "sentence_transformers.cross_encoder.CrossEncoder": ('''
class CrossEncoder():
    def __init__(self, model_name):
        if hasattr(self.config, 'sbert_ce_default_activation_function'):
            pass
''', False),
    })
    facts = loader_class_facts(legacy)
    assert set(facts["exports"]) == {"CrossEncoder"}  # no SparseEncoder
    assert facts["cross_encoder"] == {"loader": "transformers",
                                      "activation_keys": ["config.json:sbert_ce_default_activation_function"],
                                      "trusted_prefix": None, "untrusted_warning": None}
    modular = _release_from({
        "sentence_transformers": ("from .cross_encoder import CrossEncoder\nfrom .sparse_encoder import "
                                  "SparseEncoder\n", True),
        "sentence_transformers.sparse_encoder": ("class SparseEncoder:\n    pass\n", True),
        "sentence_transformers.cross_encoder": ('''
class CrossEncoder(BaseModel):
    def _parse_model_config(self, model_config):
        if "activation_fn" in model_config:
            pass
    def get_default_activation_fn(self, config):
        if "activation_fn" in config.sentence_transformers:
            path = config.sentence_transformers["activation_fn"]
        if self.trust_remote_code or activation_fn_path.startswith("torch."):
            pass
        logger.warning(f"Activation function path '{activation_fn_path}' is not trusted, using default.")
''', True),
    })
    facts = loader_class_facts(modular)
    assert set(facts["exports"]) == {"CrossEncoder", "SparseEncoder"}
    assert facts["cross_encoder"]["loader"] == "modules"
    assert facts["cross_encoder"]["activation_keys"] == ["config_sentence_transformers.json:activation_fn",
                                                         "config.json:sentence_transformers.activation_fn"]
    assert facts["cross_encoder"]["untrusted_warning"].startswith("Activation function path '{activation_fn_path}'")


def test_the_bundled_knowledge_has_three_cross_encoder_generations_and_sparse_from_5():
    kb = knowledge()
    loaders = {str(r.version): (r.cross_encoder or {}).get("loader") for r in kb.st_releases}
    assert loaders["3.4.1"] == loaders["5.3.0"] == "transformers" and loaders["5.4.0"] == "modules"
    keys = {str(r.version): len((r.cross_encoder or {}).get("activation_keys", ())) for r in kb.st_releases}
    assert (keys["3.4.1"], keys["4.0.0"], keys["5.4.0"]) == (1, 2, 3)
    assert kb.st("4.1.0").has_loader_class("SparseEncoder") is False
    assert kb.st("5.0.0").has_loader_class("SparseEncoder") is True
