"""The hostile corpus (tools/make_hostile_folders.py) through the real CLI: exact codes, documented exit
statuses, safe output, and the security promises (nothing read outside a folder, nothing imported,
unpickled or written), proven with an audit hook.

Every CLI call takes many folders at once (a call costs ~0.3 s to start): the expectations are checked
per folder from the JSON output, and the exit status per group of folders that share it.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from stcompat.codes import RULES
from stcompat.vocab import Severity

ROOT = Path(__file__).resolve().parents[2]


def _builder() -> Any:
    spec = importlib.util.spec_from_file_location("make_hostile_folders", ROOT / "tools" / "make_hostile_folders.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


hostile = _builder()
# Control characters a terminal acts on: C0 (but tab and newline), DEL, and C1 as UTF-8 (0xc2 0x80-0x9f).
_RAW_CONTROL = re.compile(rb"[\x00-\x08\x0b-\x1f\x7f]|\xc2[\x80-\x9f]")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Any], bool]:
    """The corpus, built once for this module: (its root, every case, whether this process reads
    chmod-000 files anyway, as root does)."""
    root = tmp_path_factory.mktemp("hostile") / "corpus"
    cases = hostile.build_corpus(root)
    yield root, cases, hostile.reads_unreadable(root)
    hostile.restore_permissions(root)  # chmod-000 entries must not stop pytest's cleanup


def built(corpus: tuple[Path, list[Any], bool]) -> list[Any]:
    """The cases whose expectations hold for this process (as root, the chmod-000 ones run apart)."""
    _, cases, reads_anyway = corpus
    return [case for case in cases if not case.skip and not (case.unprivileged and reads_anyway)]


def run_cli(*args: str, cwd: Path, preexec_fn: Any = None) -> subprocess.CompletedProcess:
    """The real CLI in a subprocess (bytes in, bytes out: the output's encoding is under test too)."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("STCOMPAT_DEBUG", None)
    env.pop("COLUMNS", None)
    return subprocess.run([sys.executable, "-m", "stcompat.cli", *args], capture_output=True, cwd=cwd, env=env,
                          timeout=300, preexec_fn=preexec_fn)


def strict_json(raw: bytes) -> Any:
    """Parse output as standard JSON: valid UTF-8, no NaN/Infinity, no lone surrogate escapes."""
    def refuse(name: str) -> Any:
        raise AssertionError(f"non-standard JSON constant {name}")

    value = json.loads(raw.decode("utf-8"), parse_constant=refuse)
    # A "\ud800" escape parses to a lone surrogate: json_safe must have written it as visible text.
    json.dumps(value, ensure_ascii=False).encode("utf-8")
    return value


def assert_clean_run(result: subprocess.CompletedProcess, statuses: tuple[int, ...]) -> None:
    """No traceback, no internal error, an exit status the command documents."""
    stderr = result.stderr.decode("utf-8", "replace")
    assert "Traceback" not in stderr and "STC099" not in stderr, stderr[-2000:]
    assert result.returncode in statuses, (result.returncode, stderr[-2000:])


def by_exit(cases: list[Any], status_of) -> dict[int, list[Any]]:
    groups: dict[int, list[Any]] = {}
    for case in cases:
        groups.setdefault(status_of(case), []).append(case)
    return groups


def test_corpus_covers_every_class(corpus):
    cases = built(corpus)
    assert len(cases) >= 50
    classes = {case.klass for case in corpus[1]}
    assert classes == {"json", "types", "special", "permissions", "safetensors", "lfs", "symlinks", "strings",
                       "bounds", "code"}
    # Every JSON file a loader reads, broken every way.
    json_cases = {case.name for case in cases if case.klass == "json"}
    assert len(json_cases) == 7 * len(hostile.JSON_FILES)
    # The builder's notion of severity is the catalogue's (its expectations do not come from the code under test).
    assert hostile.ERROR_CODES == {c for c in hostile.ERROR_CODES if RULES[c].severity is Severity.ERROR}
    used = set().union(*(case.inspect_codes for case in cases))
    assert {c for c in used if RULES[c].severity is Severity.ERROR} == hostile.ERROR_CODES
    assert {c for c in used if RULES[c].severity is Severity.INFO} == hostile.INFO_CODES
    # The invariant of the whole issue, in the expectations themselves: never "ok" with an error.
    for case in cases:
        if case.inspect_exit == 2:
            assert case.check_verdict in ("fails", "unknown"), case.name


def test_unreadable_files_are_reported(corpus):
    """chmod 000 files and folders: STC005, check fails. Root reads them anyway, so as root the CLI runs
    with CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH dropped; where that is refused, the test says so."""
    root, cases, reads_anyway = corpus
    cases = [case for case in cases if case.unprivileged and not case.skip]
    assert len(cases) == 5
    preexec = hostile.drop_read_override if reads_anyway else None
    try:
        inspected = run_cli("inspect", *[c.name for c in cases], "--format", "json", cwd=root, preexec_fn=preexec)
    except subprocess.SubprocessError as exc:  # preexec_fn failed: no CAP_SETPCAP here
        pytest.skip(f"this process reads chmod-000 files and cannot drop that capability ({exc})")
    assert_clean_run(inspected, (2,))
    models = {Path(m["path"]).name: m for m in strict_json(inspected.stdout)["models"]}
    checked = run_cli("check", *[c.name for c in cases], "--target", hostile.TARGET, "--no-resolve", "--format",
                      "json", cwd=root, preexec_fn=preexec)
    assert_clean_run(checked, (1,))
    results = {Path(r["model"]).name: r for r in strict_json(checked.stdout)["results"]}
    for case in cases:
        assert {p["code"] for p in models[case.name]["problems"]} == case.inspect_codes, models[case.name]
        assert results[case.name]["verdict"] == case.check_verdict
        assert {f["code"] for f in results[case.name]["findings"]} == case.check_codes


def test_inspect_json_reports_exactly_the_expected_codes(corpus):
    root = corpus[0]
    for status, cases in by_exit(built(corpus), lambda c: c.inspect_exit).items():
        result = run_cli("inspect", *[c.name for c in cases], "--format", "json", cwd=root)
        assert_clean_run(result, (status,))
        document = strict_json(result.stdout)
        models = {Path(m["path"]).name: m for m in document["models"]}
        for case in cases:
            model = models[case.name]
            assert {p["code"] for p in model["problems"]} == case.inspect_codes, (case.name, model["problems"])
            assert model["schema"] == "stcompat.inspect/1"


def test_check_json_gives_the_expected_verdicts_and_codes(corpus):
    root = corpus[0]
    cases = built(corpus)
    for status, group in by_exit(cases, lambda c: 0 if c.check_verdict == "ok" else 1).items():
        result = run_cli("check", *[c.name for c in group], "--target", hostile.TARGET, "--no-resolve",
                         "--format", "json", cwd=root)
        assert_clean_run(result, (status,))
        results = {Path(r["model"]).name: r for r in strict_json(result.stdout)["results"]}
        for case in group:
            found = results[case.name]
            assert found["verdict"] == case.check_verdict, (case.name, found["findings"])
            assert {f["code"] for f in found["findings"]} == case.check_codes, (case.name, found["findings"])


@pytest.mark.parametrize("fmt", ["table", "markdown", "sarif"])
def test_check_human_and_sarif_outputs_are_safe(corpus, fmt):
    root = corpus[0]
    cases = built(corpus)
    # Run from the corpus root: SARIF then writes locations relative to it (the CI-checkout branch).
    result = run_cli("check", *[c.name for c in cases], "--target", hostile.TARGET, "--no-resolve",
                     "--format", fmt, cwd=root)
    assert_clean_run(result, (1,))
    assert not _RAW_CONTROL.search(result.stdout), _RAW_CONTROL.search(result.stdout)
    text = result.stdout.decode("utf-8")
    if fmt == "sarif":  # JSON: the data kept intact, JSON-escaped
        log = strict_json(result.stdout)
        assert {r["ruleId"] for r in log["runs"][0]["results"]} >= set().union(*(c.check_codes for c in cases))
        assert any("\x1b]0;pwned\x07" in r["message"]["text"] for r in log["runs"][0]["results"])
        return
    if fmt == "markdown":  # shown escaped, markdown's own characters backslash-escaped too
        for case in cases:
            assert f"/{case.name}`" in text, case.name
        assert "\\\\x1b\\]0;pwned\\\\x07" in text and "\\[bold red\\]boom" in text
        return
    assert "\\x1b]0;pwned\\x07" in _unwrapped(text)  # shown escaped (the STC115 message carries a version)


def test_inspect_table_is_safe(corpus):
    root = corpus[0]
    cases = built(corpus)
    result = run_cli("inspect", *[c.name for c in cases], cwd=root)
    assert_clean_run(result, (2,))
    assert not _RAW_CONTROL.search(result.stdout), _RAW_CONTROL.search(result.stdout)
    text = result.stdout.decode("utf-8")
    for case in cases:  # every model got its block: its name is its title line
        assert f"\n{case.name}\n" in f"\n{text}", case.name
    # The hostile strings are shown, escaped: data, not markup or terminal control.
    assert "\\x1b]0;pwned\\x07" in _unwrapped(text) and "[/][boldred]boom[/boldred]" in _unwrapped(text)


def _unwrapped(text: str) -> str:
    """Table text without whitespace and box drawing, so a value wrapped over lines reads whole."""
    return re.sub(r"[\s\u2500-\u257f]", "", text)


_AUDIT = r'''
import io, json, os, sys
corpus = sys.argv[1]
cases, target = json.loads(sys.argv[2]), sys.argv[3]
events = []

def hook(event, args):
    if event == "open":
        events.append(["open", args[0] if isinstance(args[0], int) else os.fsdecode(args[0]), args[1], args[2]])
    elif event in ("os.listdir", "os.scandir") and args and args[0] is not None:
        events.append([event, os.fsdecode(args[0]), None, None])
    elif event == "compile" and args[1] is not None:
        events.append(["compile", os.fsdecode(args[1]) if not isinstance(args[1], str) else args[1], None, None])
    elif event in ("pickle.find_class", "marshal.loads", "exec", "subprocess.Popen", "os.system", "os.exec"):
        events.append([event, repr(args)[:200], None, None])

sys.addaudithook(hook)
from stcompat.cli import main
statuses = []
# Renderers read nothing but the result, except SARIF (it resolves paths): one human and one JSON format
# of each command, and SARIF.
commands = [["inspect", *cases, "--format", "json"], ["inspect", *cases]]
commands += [["check", *cases, "--target", target, "--no-resolve", "--format", f] for f in ("table", "sarif")]
for argv in commands:
    sys.stdout = io.StringIO()
    try:
        main(argv)
    except SystemExit as exc:
        statuses.append(exc.code)
    finally:
        sys.stdout = sys.__stdout__
modules = {name: getattr(m, "__file__", None) for name, m in list(sys.modules.items())}
# Written to stdout, not a file: the audit must see no write at all.
sys.__stdout__.write(json.dumps({"events": events, "statuses": statuses, "modules": modules}))
'''


def _inside(path: str, roots: list[str]) -> bool:
    return any(path == root or path.startswith(root.rstrip(os.sep) + os.sep) for root in roots)


def test_nothing_outside_is_read_nothing_imported_unpickled_or_written(corpus):
    """inspect (json, table) + check (table, sarif) on the whole corpus under an audit hook (PEP 578)."""
    root = corpus[0]
    cases = built(corpus)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONDONTWRITEBYTECODE": "1"}
    result = subprocess.run([sys.executable, "-c", _AUDIT, str(root), json.dumps([c.name for c in cases]),
                             hostile.TARGET], capture_output=True, cwd=root, env=env, timeout=300)
    assert result.returncode == 0, result.stderr.decode("utf-8", "replace")[-3000:]
    audit = json.loads(result.stdout)
    assert audit["statuses"] == [2, 2, 1, 1]

    import stcompat

    case_roots = [os.path.realpath(root / c.name) for c in cases]
    allowed = sorted({os.path.realpath(p) for p in (
        sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix, Path(stcompat.__file__).parent,
        *[p for p in sys.path if p and Path(p).is_dir()])})
    outside = os.path.realpath(root / ".outside")
    for event, path, mode, flags in audit["events"]:
        if event in ("pickle.find_class", "marshal.loads", "exec", "subprocess.Popen", "os.system", "os.exec"):
            # marshal/exec come from importing stcompat's own modules; none may name the corpus.
            assert event not in ("pickle.find_class", "subprocess.Popen", "os.system", "os.exec"), (event, path)
            assert str(root) not in path, (event, path)
            continue
        if isinstance(path, int) or path in ("/dev/null",):
            continue
        if event == "compile":
            assert not _inside(os.path.realpath(path), [str(root)]), path
            continue
        real = os.path.realpath(os.path.join(root, path))
        writes = (mode is not None and any(c in mode for c in "wax+")) or \
            (flags is not None and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND))
        assert not writes, (event, path, mode, flags)
        assert not _inside(real, [outside]) and real != "/etc/passwd", (event, path, real)
        assert _inside(real, case_roots) or _inside(real, allowed) or real == os.path.realpath(root), (event, path)
        if _inside(real, case_roots):
            assert not real.endswith(".py"), (event, path)  # the payload module is never even read
    # Nothing from a folder was imported; its payload never ran; the pickle was never unpickled.
    assert hostile.PAYLOAD_MODULE not in audit["modules"]
    assert not [name for name, file in audit["modules"].items() if file and _inside(os.path.realpath(file), [str(root)])]
    assert not list(root.rglob(hostile.PAYLOAD_MARKER))
