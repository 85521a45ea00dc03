"""`stcompat kb update`: the knowledge of releases newer than the bundled data, built on the user's machine.

Slow (network to PyPI, downloads cached under ~/.cache/stcompat/artifacts): the knowledge is built as it
could have been on the day sentence-transformers 5.7.0 was published (every part cut off at that moment), then
updated with the extractors; the merged knowledge must equal the bundled data, and `check` of a 6.2.0 target,
"unknown" under the cut-off data, must give the bundled data's verdicts.

Fast (no network): a cached update is merged over the bundled data by the loader, and a damaged one (cut
short, not JSON, another schema, rows without their fields, made over other bundled data) is set aside with
one STC904 line, never a traceback, while `check` answers from the bundled data; offline with nothing cached
is one STC905 line.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest
from packaging.version import Version

from stcompat.kb import updates
from stcompat.kb.query import DATA, PARTS, Knowledge

from conftest import FIXTURES, truth_stacks

SRC = Path(__file__).resolve().parents[2] / "src" / "stcompat"
CUT_RELEASE = "5.7.0"  # "pretend the newest sentence-transformers known is 5.7.0"
MODELS = [str(FIXTURES / "st2.2.2"), str(FIXTURES / "st5.7.0")]  # folders of fixture folders


def _bundled(part: str) -> dict:
    return json.loads((DATA / f"{part}.json").read_text(encoding="utf-8"))


def _published(row: dict) -> datetime:
    return datetime.fromisoformat(row["artifact"]["upload_time"].replace("Z", "+00:00"))


def _facts(document) -> dict:
    """A document without when it was built."""
    return {key: value for key, value in document.items() if key != "built"}


def _package_copy(root: Path) -> Path:
    """A copy of the stcompat package whose bundled data can be replaced (the original is never written)."""
    target = root / "pkg" / "stcompat"
    shutil.copytree(SRC, target, ignore=shutil.ignore_patterns("__pycache__"))
    return target


def _stcompat(args: list[str], package: Path | None, updates_dir: Path, **env) -> subprocess.CompletedProcess:
    """The CLI in a fresh interpreter (the knowledge is loaded once per process)."""
    environ = {**os.environ, "STCOMPAT_KB_UPDATES": str(updates_dir), "HF_HUB_OFFLINE": "1", **env}
    if package is not None:
        environ["PYTHONPATH"] = str(package.parent)
    return subprocess.run([sys.executable, "-c", "from stcompat.cli import main; main()", *args],
                          capture_output=True, text=True, env=environ, timeout=300)


def _check(package: Path | None, updates_dir: Path) -> tuple[dict, str]:
    stack = truth_stacks()["6.2.0"]
    run = _stcompat(["check", *MODELS, "--target", stack, "--no-resolve", "--format", "json"], package, updates_dir)
    assert run.returncode in (0, 1), run.stderr
    assert "Traceback" not in run.stderr
    results = json.loads(run.stdout)["results"]
    return {Path(r["model"]).relative_to(FIXTURES).as_posix(): (r["verdict"], sorted(f["code"] for f in r["findings"]))
            for r in results}, run.stderr


# --- slow: a real update from the registry ------------------------------------------------------------------

@pytest.fixture(scope="module")
def cut_off(tmp_path_factory):
    """(package copy with the knowledge built as of 5.7.0's publication, the update folder, the cut-off)."""
    from stcompat.kbbuild import hub_facts, output, st_facts, tokenizers_facts, torch_facts, transformers_facts

    root = tmp_path_factory.mktemp("kb-cutoff")
    package = _package_copy(root)
    data = package / "kb" / "data"
    st_row = next(r for r in _bundled("sentence_transformers")["releases"] if r["version"] == CUT_RELEASE)
    cutoff = _published(st_row)
    modules = {"sentence_transformers": st_facts, "transformers": transformers_facts,
               "tokenizers": tokenizers_facts, "huggingface_hub": hub_facts, "torch": torch_facts}
    for part, module in modules.items():
        document = module.build(until=cutoff)
        output.write(document, f"{part}.json", data)
        if module is st_facts:
            (data / "reader_facts.json").write_text(json.dumps(st_facts.summary(document)), encoding="utf-8")
    return package, root / "updates", cutoff


@pytest.mark.proof
def test_cut_off_data_ends_at_the_cut(cut_off):
    package, _, cutoff = cut_off
    cut = Knowledge(data=package / "kb" / "data", use_updates=False)
    assert str(cut.st_newest().version) == CUT_RELEASE
    for part in PARTS:
        rows = cut.document(part)["releases"]
        assert rows and all(_published(r) <= cutoff for r in rows), part
    for part in ("sentence_transformers", "transformers"):  # both published minors since 5.7.0
        assert len(cut.document(part)["releases"]) < len(_bundled(part)["releases"]), part


@pytest.mark.proof
def test_update_from_the_registry_equals_the_bundled_data(cut_off):
    from stcompat.kbbuild.update import update

    package, folder, _ = cut_off
    data = package / "kb" / "data"
    for part in PARTS:
        # the bundled data was built at some moment: releases published after its newest row are left out
        until = max(_published(r) for r in _bundled(part)["releases"])
        result = update((part,), data=data, folder=folder, until=until)
        (done,) = result.parts
        assert done.newest == _bundled(part)["releases"][-1]["version"], done
        if part == "sentence_transformers":
            assert done.bundled_newest == CUT_RELEASE and "6.2.0" in done.added, done
    merged = Knowledge(data=data, updates=folder)
    assert merged.update_problems() == ()
    bundled = Knowledge(use_updates=False)
    for part in PARTS:
        assert _facts(merged.document(part)) == _facts(bundled.document(part)), part
    assert merged.reader_facts() == bundled.reader_facts()
    assert set(merged.updates()) == set(PARTS)
    # the bundled files of the copy are untouched: only the update folder was written
    assert str(Knowledge(data=data, use_updates=False).st_newest().version) == CUT_RELEASE
    assert sorted(p.name for p in folder.iterdir()) == sorted(f"{part}.json" for part in PARTS)


@pytest.mark.proof
def test_offline_update_reads_only_the_cache_and_says_so(cut_off):
    from stcompat.kbbuild.update import update

    package, _, _ = cut_off
    data = package / "kb" / "data"
    online = package.parent.parent / "updates"
    offline_folder = package.parent.parent / "updates-offline"
    part = "sentence_transformers"
    until = max(_published(r) for r in _bundled(part)["releases"])
    if not (online / f"{part}.json").is_file():
        update((part,), data=data, folder=online, until=until)
    result = update((part,), data=data, folder=offline_folder, until=until, offline=True)
    assert result.offline
    written = json.loads((offline_folder / f"{part}.json").read_text())
    assert written["offline"] is True
    first = json.loads((online / f"{part}.json").read_text())
    assert written["releases"] == first["releases"] and written["summary"] == first["summary"]
    table = _stcompat(["kb"], package, offline_folder)
    assert table.returncode == 0 and "--offline" in table.stdout.replace("\n", "")


@pytest.mark.proof
def test_check_of_a_newer_release_is_unknown_before_and_the_bundled_verdict_after(cut_off, tmp_path):
    from stcompat.kbbuild.update import update

    package, folder, _ = cut_off
    if not all((folder / f"{part}.json").is_file() for part in PARTS):
        for part in PARTS:
            update((part,), data=package / "kb" / "data", folder=folder,
                   until=max(_published(r) for r in _bundled(part)["releases"]))
    before, _ = _check(package, tmp_path / "none")
    after, stderr = _check(package, folder)
    bundled, _ = _check(None, tmp_path / "none")
    assert len(before) >= 15
    assert all(verdict == "unknown" and "STC901" in codes for verdict, codes in before.values()), before
    assert after == bundled
    assert "warning[" not in stderr


# --- fast: the loader's merge and its robustness ----------------------------------------------------------

def _cut_bundled(tmp_path: Path, keep: int) -> tuple[Path, dict]:
    """A data folder whose sentence-transformers part ends ``keep`` releases before the bundled one, and the
    update document holding the rest, as `kb update` writes it (its rows are the bundled rows, which the slow
    test shows the extractors reproduce)."""
    data = tmp_path / "data"
    shutil.copytree(DATA, data)
    full = _bundled("sentence_transformers")
    cut = {**full, "releases": full["releases"][:keep]}
    (data / "sentence_transformers.json").write_text(json.dumps(cut), encoding="utf-8")
    reader = json.loads((DATA / "reader_facts.json").read_text())
    document = {"schema": updates.SCHEMA, "part": "sentence_transformers", "package": "sentence-transformers",
                "updated": "2026-12-01T00:00:00+00:00", "until": None, "offline": False,
                "source": "https://pypi.org/pypi/sentence-transformers/json", "index_fetched": None,
                "based_on": updates.based_on(cut), "releases": full["releases"][keep:], "replaces": [],
                "summary": {"reader_facts": reader}}
    return data, document


def _write_update(folder: Path, document, part: str = "sentence_transformers") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{part}.json"
    path.write_text(document if isinstance(document, str) else json.dumps(document), encoding="utf-8")
    return path


def test_a_cached_update_is_merged_over_the_bundled_data(tmp_path):
    releases = _bundled("sentence_transformers")["releases"]
    data, document = _cut_bundled(tmp_path, keep=len(releases) - 4)
    _write_update(tmp_path / "updates", document)
    alone = Knowledge(data=data, use_updates=False)
    merged = Knowledge(data=data, updates=tmp_path / "updates")
    assert alone.st(releases[-1]["version"]) is None
    assert merged.st(releases[-1]["version"]) is not None
    assert [str(r.version) for r in merged.st_releases] == [r["version"] for r in releases]
    coverage = merged.coverage()["sentence_transformers"]
    assert coverage["bundled_newest"] == releases[-5]["version"]
    assert coverage["updated_newest"] == coverage["newest"] == releases[-1]["version"]
    assert "kb update" in coverage["updated_from"] and coverage["updated"] == document["updated"]
    assert merged.updates()["sentence_transformers"].added == tuple(r["version"] for r in releases[-4:])


def test_replaced_rows_give_way_to_the_update(tmp_path):
    full = _bundled("transformers")
    data = tmp_path / "data"
    shutil.copytree(DATA, data)
    last = full["releases"][-1]
    # the bundled data keeps each minor's last patch; an update that found a newer patch replaces the row
    major, minor = Version(last["version"]).release[:2]
    renamed = dict(last, version=f"{major}.{minor}.99")
    document = {"schema": updates.SCHEMA, "part": "transformers", "package": "transformers",
                "updated": "2026-12-01T00:00:00+00:00", "source": "https://pypi.org/pypi/transformers/json",
                "based_on": updates.based_on(full), "releases": [renamed], "replaces": [last["version"]],
                "summary": {k: v for k, v in full.items() if k not in updates.META_KEYS}}
    _write_update(tmp_path / "updates", document, "transformers")
    merged = Knowledge(data=data, updates=tmp_path / "updates").document("transformers")
    versions = [r["version"] for r in merged["releases"]]
    assert last["version"] not in versions and versions[-1] == renamed["version"]
    assert len(versions) == len(full["releases"])


DAMAGE = {
    "cut short": lambda text: text[: len(text) // 2],
    "not JSON": lambda text: "\x00\x01 not json",
    "empty": lambda text: "",
    "not an object": lambda text: "[1, 2, 3]",
    "another schema": lambda text: text.replace(updates.SCHEMA, "stcompat.kb.update/99"),
    "rows without fields": lambda text: json.dumps({**json.loads(text), "releases": [{"version": "9.9.9"}]}),
    "bad version": lambda text: json.dumps({**json.loads(text), "releases": [{"version": "not a version"}]}),
    "other bundled data": lambda text: json.dumps({**json.loads(text), "based_on": {"built": "1999-01-01"}}),
    "summary missing": lambda text: json.dumps({k: v for k, v in json.loads(text).items() if k != "summary"}),
}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_a_damaged_update_is_set_aside_with_one_line(tmp_path, damage):
    releases = _bundled("sentence_transformers")["releases"]
    data, document = _cut_bundled(tmp_path, keep=len(releases) - 2)
    path = _write_update(tmp_path / "updates", DAMAGE[damage](json.dumps(document)))
    knowledge = Knowledge(data=data, updates=tmp_path / "updates")
    assert str(knowledge.st_newest().version) == releases[-3]["version"]  # the bundled data alone
    (problem,) = knowledge.update_problems()
    assert problem.code == "STC904" and problem.path == str(path)
    assert "\n" not in problem.line() and "kb update" in problem.line()
    assert knowledge.coverage()["sentence_transformers"]["updated_from"].startswith("not used: ")


def test_check_with_a_damaged_update_warns_once_and_answers_from_the_bundled_data(tmp_path):
    bundled = _bundled("sentence_transformers")
    document = {"schema": updates.SCHEMA, "part": "sentence_transformers", "releases": bundled["releases"][-1:]}
    path = _write_update(tmp_path / "updates", json.dumps(document)[:-40])  # cut short mid-row
    clean, _ = _check(None, tmp_path / "none")
    damaged, stderr = _check(None, tmp_path / "updates")
    assert damaged == clean
    warnings = [line for line in stderr.splitlines() if line.startswith("warning[STC904]")]
    assert len(warnings) == 1 and str(path) in warnings[0]
    assert "Traceback" not in stderr
    shown = _stcompat(["kb"], None, tmp_path / "updates")
    assert shown.returncode == 0 and shown.stderr.count("warning[STC904]") == 1, shown.stderr


def test_offline_update_with_nothing_cached_is_one_line(tmp_path):
    run = _stcompat(["kb", "update", "--offline"], None, tmp_path / "updates", STCOMPAT_CACHE=str(tmp_path / "cache"))
    assert run.returncode == 2, run.stderr
    lines = [line for line in run.stderr.splitlines() if line.startswith("error[")]
    assert len(lines) == 1 and lines[0].startswith("error[STC905]") and "offline" in lines[0], run.stderr
    assert "Traceback" not in run.stderr
    assert not (tmp_path / "updates").exists()  # nothing half-written


def test_kb_without_a_subcommand_still_shows_the_coverage(tmp_path):
    run = _stcompat(["kb", "--format", "json"], None, tmp_path / "none")
    assert run.returncode == 0, run.stderr
    coverage = json.loads(run.stdout)
    assert set(coverage) == set(PARTS)
    for part in PARTS:
        assert coverage[part]["bundled_newest"] == _bundled(part)["releases"][-1]["version"]
        assert coverage[part]["updated_from"] == "no update"


def test_a_bad_cut_off_is_one_line(tmp_path):
    run = _stcompat(["kb", "update", "--until", "last tuesday"], None, tmp_path / "updates")
    assert run.returncode == 2 and run.stderr.startswith("error[STC004]") and "--until" in run.stderr
    assert not (tmp_path / "updates").exists()
