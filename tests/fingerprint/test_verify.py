"""fingerprint -> verify on real models: same environment, edited folders, reduced precision.

Tiny models saved by ST 6.2.0 (tests/fixtures) carry the edits; all-MiniLM-L6-v2 is loaded once
for the module and carries the precision bands.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from stcompat.fingerprint import Corpus, compare, fingerprint, load_corpus, verify
from stcompat.fingerprint.embed import load_model

FIXTURES = Path(__file__).parent.parent / "fixtures" / "st6.2.0"


def _fixture(variant: str) -> Path:
    path = FIXTURES / variant
    if not path.is_dir():
        pytest.skip(f"fixture {path} not generated")
    return path


def _edit_json(path: Path, edit) -> None:
    data = json.loads(path.read_text())
    data = edit(data) or data
    path.write_text(json.dumps(data, indent=2))


def _kinds(report) -> set[str]:
    return {d.kind for d in report.diagnosis if d.cause}


@pytest.fixture(scope="module")
def short_corpus() -> Corpus:
    """The probe corpus without its long texts: MiniLM encodes it in about a second."""
    full = load_corpus()
    return Corpus(tuple(e for e in full.entries if "long" not in e.tags), "builtin-short")


@pytest.fixture(scope="module")
def minilm_fp(minilm, short_corpus, tmp_path_factory):
    loaded = load_model(minilm)
    path = tmp_path_factory.mktemp("fp") / "minilm.fp"
    fingerprint(loaded, path, corpus=short_corpus)
    return loaded, path


def test_same_environment_is_identical(minilm_fp):
    loaded, path = minilm_fp
    report = verify(loaded, path)
    assert report.verdict == "identical" and report.exit_status == 0
    assert report.metrics.max_abs_diff == 0.0
    assert not [d for d in report.diagnosis if d.cause]
    assert compare(path, path).verdict == "identical"


@pytest.mark.parametrize("precision", ["float16", "bfloat16"])
def test_reduced_precision_is_drift(minilm, minilm_fp, precision):
    _, path = minilm_fp
    report = verify(load_model(minilm, precision=precision), path, precision=precision)
    # Measured on MiniLM: fp16 min cosine ~0.999998, max |diff| ~4e-4; bf16 ~0.99984, ~3e-3.
    assert report.verdict == "drift", report.reasons
    assert 0.999 <= report.metrics.min_cosine < 1.0
    assert report.metrics.max_abs_diff > 1e-5
    assert report.metrics.topk_agreement >= 0.9 and report.metrics.spearman >= 0.999
    assert "precision" in _kinds(report)


def test_tiny_model_same_environment_identical_with_builtin_corpus(tmp_path):
    model = _fixture("bert_prompts")
    fp = fingerprint(model, tmp_path / "a.fp")
    assert set(fp.sets) == {"main", "prompted", "unprompted"}
    assert len(fp.corpus.entries) >= 100
    assert verify(model, tmp_path / "a.fp").verdict == "identical"


def test_dropped_normalize_is_broken(copy_model, tmp_path):
    model = copy_model(_fixture("bert_plain"))
    fingerprint(model, tmp_path / "a.fp")
    _edit_json(model / "modules.json", lambda mods: [m for m in mods if not m["type"].endswith("Normalize")])
    report = verify(model, tmp_path / "a.fp")
    assert report.verdict == "broken" and report.exit_status == 1
    assert "normalize" in _kinds(report)
    assert any("Normalize is lost" in d.message for d in report.diagnosis)


def test_changed_pooling_is_broken(copy_model, tmp_path):
    model = copy_model(_fixture("bert_plain"))
    fingerprint(model, tmp_path / "a.fp")

    def to_cls(cfg):
        if "pooling_mode" in cfg:  # modular schema (5.4+)
            cfg["pooling_mode"] = "cls"
        else:
            cfg["pooling_mode_mean_tokens"], cfg["pooling_mode_cls_token"] = False, True

    _edit_json(model / "1_Pooling" / "config.json", to_cls)
    report = verify(model, tmp_path / "a.fp")
    assert report.verdict == "broken"
    assert any(d.kind == "pooling" and "mean -> cls" in d.message for d in report.diagnosis)


def test_dropped_prompts_are_broken_and_named(copy_model, tmp_path):
    model = copy_model(_fixture("bert_prompts"))
    fingerprint(model, tmp_path / "a.fp")

    def drop(cfg):
        cfg.pop("prompts", None)
        cfg.pop("default_prompt_name", None)

    _edit_json(model / "config_sentence_transformers.json", drop)
    report = verify(model, tmp_path / "a.fp")
    assert report.verdict == "broken"
    messages = [d.message for d in report.diagnosis if d.kind == "prompts" and d.cause]
    # Derived from the embeddings: prompted texts now embed exactly like the bare texts.
    assert any("default prompt 'query'" in m and "no longer applied" in m for m in messages)
    assert any(m.startswith("prompts ignored") for m in messages)
    assert any("no such prompt" in n for n in report.notes)


def test_lost_truncate_dim_is_broken(copy_model, tmp_path):
    model = copy_model(_fixture("bert_trunc"))
    fingerprint(model, tmp_path / "a.fp")
    _edit_json(model / "config_sentence_transformers.json", lambda cfg: cfg.pop("truncate_dim") and None)
    report = verify(model, tmp_path / "a.fp")
    assert report.verdict == "broken"
    assert (report.metrics.dim_expected, report.metrics.dim_actual) == (16, 32)
    assert "truncate_dim" in _kinds(report)


def test_compare_needs_no_model_and_names_the_change(copy_model, tmp_path):
    model = copy_model(_fixture("bert_plain"))
    fingerprint(model, tmp_path / "a.fp")
    _edit_json(model / "modules.json", lambda mods: [m for m in mods if not m["type"].endswith("Normalize")])
    fingerprint(model, tmp_path / "b.fp")
    shutil.rmtree(model)  # compare reads the files only
    report = compare(tmp_path / "a.fp", tmp_path / "b.fp")
    assert report.verdict == "broken" and "normalize" in _kinds(report)


def test_float16_storage_verifies_as_identical(tmp_path):
    model = _fixture("bert_plain")
    fp = fingerprint(model, tmp_path / "a.fp", storage="float16")
    assert fp.storage == "float16" and 0 < fp.storage_max_abs_error < 1e-3
    assert (tmp_path / "a.fp").stat().st_size < 20_000
    assert verify(model, tmp_path / "a.fp").verdict == "identical"


def test_static_embedding_fingerprints_and_verifies_identical(tmp_path):
    # StaticEmbedding has no sequence limit (max_seq_length is inf, which JSON cannot hold) and embeds an
    # empty text as the zero vector: neither may break the file or the verdict.
    from conftest import fixture_path
    from stcompat.fingerprint import fingerprint, verify

    model = fixture_path("6.2.0", "static")
    fp = fingerprint(model, tmp_path / "s.fp", progress=False)
    assert fp.pipeline.get("max_seq_length") is None
    assert verify(model, tmp_path / "s.fp", progress=False).verdict == "identical"
