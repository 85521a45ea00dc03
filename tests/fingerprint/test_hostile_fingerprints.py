"""Hostile fingerprint files (issue 12): every malformed file is one line `error[CODE]` and exit status 2.

The corpus is built by tools/make_hostile_fingerprints.py (imported, written into tmp_path). Each
file goes through the real CLI, `stcompat compare GOOD HOSTILE`, `compare HOSTILE GOOD` and
`verify MODEL HOSTILE`, in process for all of them and as a subprocess (the installed command) for
one file of each class; and through read_fingerprint, which must raise FingerprintError with
exactly the expected code.
"""

from __future__ import annotations

import importlib.util
import json
import math
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from click.testing import CliRunner

from stcompat.cli import main
from stcompat.errors import FingerprintError
from stcompat.fingerprint.fileformat import read_fingerprint

ROOT = Path(__file__).resolve().parents[2]


def _tool():
    spec = importlib.util.spec_from_file_location("make_hostile_fingerprints",
                                                  ROOT / "tools" / "make_hostile_fingerprints.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


TOOL = _tool()
CASES = TOOL.cases()
ERRORS = [c for c in CASES if c.code is not None]
VALID = [c for c in CASES if c.code is None]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("hostile")
    TOOL.build_corpus(folder)
    return folder


def _strict_json(text: str):
    def refuse(name: str):
        raise ValueError(f"non-standard JSON constant {name}")

    text.encode("utf-8")  # strict: a lone surrogate would raise
    return json.loads(text, parse_constant=refuse)


def test_the_corpus_covers_every_class_several_times(corpus):
    expected = json.loads((corpus / TOOL.EXPECTED).read_text())
    entries = expected["cases"]
    assert len(entries) == len(CASES) >= 40
    counts: dict[str, int] = {}
    for entry in entries:
        assert (corpus / entry["file"]).is_file()
        assert entry["code"] in ("STC601", "STC603", None)
        counts[entry["class"]] = counts.get(entry["class"], 0) + 1
    assert set(counts) == {"archive", "size", "json", "format", "types", "values", "valid"}
    assert min(counts.values()) >= 5, counts
    assert sum(e["code"] == "STC603" for e in entries) >= 3


@pytest.mark.parametrize("case", ERRORS, ids=[c.name for c in ERRORS])
def test_read_fingerprint_raises_the_expected_code(corpus, case):
    with pytest.raises(FingerprintError) as info:
        read_fingerprint(corpus / f"{case.name}.fp")
    assert info.value.code == case.code, info.value.message
    message = info.value.message
    assert "\n" not in message and message.isprintable() and len(message) < 400


@pytest.mark.parametrize("case", ERRORS, ids=[c.name for c in ERRORS])
def test_compare_and_verify_print_one_error_line_and_exit_2(corpus, case):
    good, hostile = str(corpus / TOOL.GOOD), str(corpus / f"{case.name}.fp")
    # verify reads the file before it loads the model: the folder given as MODEL is never touched.
    for args in (["compare", good, hostile], ["compare", hostile, good, "--format", "json"],
                 ["verify", str(corpus), hostile, "--format", "json"]):
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 2, (args, result.output)
        assert isinstance(result.exception, SystemExit)
        assert result.stdout == ""
        lines = result.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"error[{case.code}]: "), result.stderr
        assert "Traceback" not in result.stderr and hostile in lines[0]


@pytest.mark.parametrize("case", VALID, ids=[c.name for c in VALID])
def test_hostile_but_valid_files_compare_cleanly(corpus, case):
    good, hostile = str(corpus / TOOL.GOOD), str(corpus / f"{case.name}.fp")
    read_fingerprint(hostile)
    for pair in ([good, hostile], [hostile, good]):
        table = CliRunner().invoke(main, ["compare", *pair])
        assert table.exit_code in (0, 1) and table.stderr == "", table.output
        assert "\x1b" not in table.stdout and "\x07" not in table.stdout and "\r" not in table.stdout
        as_json = CliRunner().invoke(main, ["compare", *pair, "--format", "json"])
        assert as_json.exit_code == table.exit_code
        report = _strict_json(as_json.stdout)
        assert report["exit_status"] == table.exit_code


def test_nan_metrics_are_written_as_strings(corpus):
    result = CliRunner().invoke(main, ["compare", str(corpus / TOOL.GOOD), str(corpus / "valid-nan-embeddings.fp"),
                                       "--format", "json"])
    report = _strict_json(result.stdout)
    assert report["metrics"]["min_cosine"] == "NaN"
    assert all(not isinstance(v, float) or math.isfinite(v) for v in report["metrics"].values())


def _run_cli(args: list[str]) -> subprocess.CompletedProcess:
    exe = shutil.which("stcompat", path=str(Path(sys.executable).parent))
    command = [exe] if exe else [sys.executable, "-m", "stcompat.cli"]
    return subprocess.run(command + args, capture_output=True, text=True, timeout=120)


def test_the_installed_command_on_one_file_of_each_class(corpus):
    firsts: dict[str, object] = {}
    for case in ERRORS:
        firsts.setdefault(case.group, case)
    firsts["bomb"] = next(c for c in ERRORS if c.name == "bomb-array")
    jobs = []
    for case in firsts.values():
        good, hostile = str(corpus / TOOL.GOOD), str(corpus / f"{case.name}.fp")
        jobs += [(case, ["compare", good, hostile]), (case, ["compare", hostile, good])]
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda job: (job[0], _run_cli(job[1])), jobs))
    for case, done in results:
        assert done.returncode == 2, (case.name, done.stderr)
        assert done.stdout == "" and done.stderr.count("\n") == 1, (case.name, done.stderr)
        assert done.stderr.startswith(f"error[{case.code}]: ") and "Traceback" not in done.stderr


def test_json_output_is_valid_utf8_with_lone_surrogates(corpus):
    # verify's side can carry a lone surrogate: a non-UTF-8 file name in the model folder.
    from dataclasses import replace

    from stcompat.fingerprint import compare
    from stcompat.report.verify_report import render_json, render_table

    report = compare(corpus / TOOL.GOOD, corpus / TOOL.GOOD)
    report = replace(report, notes=("weights \udc80.bin changed",), title="model-\udcff vs x")
    text = render_json(report)
    assert _strict_json(text)["notes"] == ["weights \\udc80.bin changed"]
    table = render_table(report)
    table.encode("utf-8")
    assert "\\udcff" in table
