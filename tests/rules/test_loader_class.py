"""check for the class a folder is loaded with: CrossEncoder(path), SparseEncoder(path) (STC130-STC132).

The truth table (tests/fixtures/truth.json) loads every CrossEncoder and SparseEncoder fixture with its own
class in every release, and tests/rules/test_check_vs_truth.py grades check on those loads; the tests
here pin the mechanisms on the fixtures built for them (cross_encoder_identity: one label, Identity
instead of the default Sigmoid, saved by each release where its own CrossEncoder writes it).
"""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from conftest import check_in, codes, fixture_path, truth_cells, truth_stacks
from stcompat.cli import main

STACKS = truth_stacks()


def test_the_default_loader_is_the_folders_own_class():
    assert check_in(fixture_path("6.2.0", "cross_encoder"), "6.2.0").loader == "cross-encoder"
    assert check_in(fixture_path("6.2.0", "sparse"), "6.2.0").loader == "sparse-encoder"
    assert check_in(fixture_path("6.2.0", "bert_plain"), "6.2.0").loader == "sentence-transformer"


def test_sparse_encoder_missing_before_5_fails_with_the_import_error_and_its_fix():
    result = check_in(fixture_path("5.1.2", "sparse"), "4.1.0")
    assert result.verdict == "fails" and codes(result)[0] == "STC130"
    assert result.predicted_error.type == "ImportError"
    assert result.predicted_error.message == "cannot import name 'SparseEncoder' from 'sentence_transformers'"
    # The smallest move that has the class, judged ok by the whole rule set.
    assert result.fix and result.fix[0].startswith("sentence-transformers==5.")
    # A real load said the same, with the file location Python appends (truth.json).
    real = [c for c in truth_cells() if c["model"] == "st5.1.2/sparse" and c.get("loader") == "sparse-encoder"
            and c["release"] == "4.1.0"]
    assert real and real[0]["error"]["message"].startswith(result.predicted_error.message + " (")


@pytest.mark.parametrize("saver, ignored_by, read_by", [
    ("4.1.0", "3.4.1", "4.0.2"),   # config.json sentence_transformers.activation_fn: 4.0+ reads it
    ("6.2.0", "5.3.0", "5.4.1"),   # config_sentence_transformers.json activation_fn: 5.4+ reads it
])
def test_a_saved_activation_is_lost_where_the_release_does_not_read_it(saver, ignored_by, read_by):
    folder = fixture_path(saver, "cross_encoder_identity")
    lost = check_in(folder, ignored_by)
    assert lost.verdict == "degraded" and "STC131" in codes(lost)
    finding = next(f for f in lost.findings if f.code == "STC131")
    assert "Identity" in finding.message and "Sigmoid" in finding.message
    assert check_in(folder, read_by).verdict == "ok"
    # The plain CrossEncoder (default Sigmoid) is the same everywhere.
    assert "STC131" not in codes(check_in(fixture_path(saver, "cross_encoder"), ignored_by))


def test_an_activation_saved_by_2x_is_read_by_every_release():
    folder = fixture_path("2.2.2", "cross_encoder_identity")
    assert json.loads((folder / "config.json").read_text())["sbert_ce_default_activation_function"].endswith("Identity")
    for release in ("2.2.2", "3.4.1", "4.1.0", "5.3.0", "6.2.0"):
        assert "STC131" not in codes(check_in(folder, release)), release


def test_a_folder_of_another_kind_is_degraded_with_the_class_that_did_not_save_it():
    result = check_in(fixture_path("6.2.0", "bert_plain"), "6.2.0", loader="cross-encoder")
    assert result.verdict == "degraded" and "STC132" in codes(result)
    assert "SentenceTransformer" in next(f.message for f in result.findings if f.code == "STC132")
    assert result.fix == () and result.fix_notes == (
        "load it with SentenceTransformer, the class that saved it (check --loader sentence-transformer)",)


def test_check_cli_takes_the_loader():
    folder = str(fixture_path("6.2.0", "cross_encoder"))
    out = CliRunner().invoke(main, ["check", folder, "--target", STACKS["6.2.0"], "--no-resolve",
                                    "--loader", "sentence-transformer", "--format", "json"])
    assert out.exit_code == 0, out.output
    document = json.loads(out.output)
    assert "STC903" in [f["code"] for f in document["results"][0]["findings"]]
    out = CliRunner().invoke(main, ["check", folder, "--target", STACKS["6.2.0"], "--no-resolve", "--loader", "nope"])
    assert out.exit_code == 2
