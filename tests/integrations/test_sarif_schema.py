"""`check --format sarif` validates against the OASIS SARIF 2.1.0 schema (tests/data, see its README).

Validated with jsonschema (Draft 4, the schema's own draft) and a format checker, so `uri` and
`uri-reference` values are checked too. Covers every level (error, warning, note), findings without
a file (the location is the model folder) and models inside and outside the working folder.
"""

from __future__ import annotations

import hashlib
import json

import pytest

from integration_support import BAD_MODEL, GOOD_MODEL, ROOT, TARGET, copy_model
from stcompat.checker import check
from stcompat.report.formats import render
from test_action import SCHEMA, validate_sarif


def test_the_vendored_schema_is_the_official_file():
    assert hashlib.sha256(SCHEMA.read_bytes()).hexdigest() == \
        "c3b4bb2d6093897483348925aaa73af03b3e3f4bd4ca38cef26dcb4212a2682e"
    assert json.loads(SCHEMA.read_text())["id"] == \
        "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"


def test_the_validator_rejects_what_the_schema_forbids():
    bad = {"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "x"}},
                                         "results": [{"message": {"text": "m"}, "level": "fatal"}]}]}
    with pytest.raises(AssertionError, match="fatal"):
        validate_sarif(bad)
    with pytest.raises(AssertionError, match="uri"):
        validate_sarif({"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "x"}}, "results": [
            {"message": {"text": "m"}, "locations": [{"physicalLocation": {"artifactLocation": {"uri": "a b\\c"}}}]}]}]})


def _sarif(*paths, targets=(TARGET,), resolve=False) -> dict:
    return json.loads(render("check", "sarif", check(*paths, targets=list(targets), resolve=resolve)))


def test_findings_inside_the_working_folder_are_relative_to_srcroot(tmp_path, monkeypatch):
    copy_model(BAD_MODEL, tmp_path / "models" / "bad model")  # a space, percent-encoded in the URI
    copy_model(ROOT / "tests/fixtures/st3.0.1/bert_simfn", tmp_path / "models" / "simfn")
    copy_model(GOOD_MODEL, tmp_path / "models" / "good")
    monkeypatch.chdir(tmp_path)
    # The second target names no sentence-transformers: STC901 (unknown), a finding without a file.
    document = _sarif("models/bad model", "models/simfn", "models/good",
                      targets=(TARGET, "transformers==4.40.2"))
    validate_sarif(document)
    run = document["runs"][0]
    results = run["results"]
    assert {r["level"] for r in results} == {"error", "warning", "note"}
    uris = {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in results}
    assert "models/bad%20model/modules.json" in uris
    assert "models/good/" in uris and "models/simfn/config_sentence_transformers.json" in uris
    assert all(r["locations"][0]["physicalLocation"]["artifactLocation"]["uriBaseId"] == "%SRCROOT%" for r in results)
    assert run["originalUriBaseIds"]["%SRCROOT%"]["uri"] == tmp_path.as_uri() + "/"
    rules = run["tool"]["driver"]["rules"]
    assert all(rules[r["ruleIndex"]]["id"] == r["ruleId"] for r in results)


def test_findings_outside_the_working_folder_keep_absolute_file_uris(tmp_path, monkeypatch):
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    document = _sarif(str(BAD_MODEL))
    validate_sarif(document)
    uris = [r["locations"][0]["physicalLocation"]["artifactLocation"] for r in document["runs"][0]["results"]]
    assert all(u["uri"].startswith("file:///") and "uriBaseId" not in u for u in uris)
    assert "originalUriBaseIds" not in document["runs"][0]


def test_a_clean_check_is_a_valid_empty_log(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    document = _sarif(str(GOOD_MODEL))
    validate_sarif(document)
    assert document["runs"][0]["results"] == [] and document["runs"][0]["tool"]["driver"]["rules"] == []
