#!/usr/bin/env python3
"""Coverage-guided fuzz target (atheris/libFuzzer): bytes -> a model folder -> inspect + check + renderers.

Each input decides, through a FuzzedDataProvider, which files of a real fixture (a legacy 3.0.1 save or
a modular 6.2.0 one) get which content: raw bytes, a libFuzzer mutation of the original file, a JSON
value grafted into the original document (deep nesting, NaN, huge numbers and hostile strings
included), a truncation, a deletion, a folder or a symlink in the file's place. The folder is then
read (model/inspect.py), judged against two pinned stacks (rules/engine.py) and rendered in every
inspect and check format. Any exception other than StcompatError is a crash, and so is an "ok"
verdict on a folder the reader found an error in, or JSON output that is not standard JSON.

    python fuzz/fuzz_folder.py -atheris_runs=100000          # the long run (README figure)
    python fuzz/fuzz_folder.py -atheris_runs=3000            # CI (tests/model/test_fuzz_short.py)

The folder lives under /dev/shm when it exists (tmpfs: no disk I/O per input).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import atheris

REPO = Path(__file__).resolve().parent.parent
BASES = (REPO / "tests" / "fixtures" / "st3.0.1" / "bert_plain", REPO / "tests" / "fixtures" / "st6.2.0" / "bert_dense")
TARGETS = (
    "sentence-transformers==3.0.1 transformers==4.41.2 tokenizers==0.19.1 huggingface-hub==0.23.4 torch==2.13.0",
    "sentence-transformers==6.2.0 transformers==5.24.0 tokenizers==0.23.3 huggingface-hub==2.4.0 torch==2.13.0",
)
EXTRA_NAMES = ("pytorch_model.bin", "2_Dense/config.json", "router_config.json", "1_Pooling/model.safetensors",
               "tokenizer.model", "added_tokens.json", "vocab.json", "onnx/model.onnx")
"""Files the fixtures lack but a loader would read: the fuzzer may create them."""
HOSTILE_STRINGS = ("[/]", "[bold red]x[/]", "\x1b]0;t\x07\x1b[2J", "\x00", "\ud800", "\udcff", "..", "/etc/passwd",
                   "../../x", "\u202e", "\x9b", "sentence_transformers.models.Pooling", "mean", "BPE", "F32")

with atheris.instrument_imports(include=["stcompat"]):
    from stcompat.env.stack import stack_from_target
    from stcompat.errors import StcompatError
    from stcompat.model.folder import Target
    from stcompat.model.inspect import read_model
    from stcompat.report.formats import names, render
    from stcompat.rules.engine import check_one
    from stcompat.vocab import Verdict


def _snapshot(base: Path) -> dict[str, bytes]:
    """Every file of a fixture (relative path -> bytes); empty folders are recreated by name."""
    files = {p.relative_to(base).as_posix(): p.read_bytes() for p in sorted(base.rglob("*")) if p.is_file()}
    return files


SNAPSHOTS = [_snapshot(base) for base in BASES]
STACKS = [stack_from_target(text) for text in TARGETS]
WORK_PREFIX = "stcompat-fuzz-work-"
WORK = Path(tempfile.mkdtemp(prefix=f"{WORK_PREFIX}{os.getpid()}-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None))
MODEL = WORK / "model"
OUTSIDE = WORK / "outside.json"  # a file beside the model: links to it must not be followed
OUTSIDE.write_text('{"model_type": "stolen"}')


def _reset(snapshot: dict[str, bytes]) -> None:
    if MODEL.exists():
        shutil.rmtree(MODEL)
    for rel, content in snapshot.items():
        path = MODEL / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    (MODEL / "2_Normalize").mkdir(exist_ok=True)  # ST writes it empty; git does not keep it


def _json_value(fdp: atheris.FuzzedDataProvider, depth: int = 0) -> Any:
    """A JSON value chosen by the input, hostile kinds weighted in."""
    kind = fdp.ConsumeIntInRange(0, 11)
    if depth > 4 and kind >= 8:
        kind = 0
    if kind == 0:
        return fdp.ConsumeInt(fdp.ConsumeIntInRange(1, 16))
    if kind == 1:
        return fdp.ConsumeRegularFloat() if fdp.ConsumeBool() else fdp.PickValueInList(
            [float("nan"), float("inf"), float("-inf"), 1e308, -0.0])
    if kind == 2:
        return fdp.ConsumeUnicode(fdp.ConsumeIntInRange(0, 24))
    if kind == 3:
        return fdp.PickValueInList(list(HOSTILE_STRINGS))
    if kind == 4:
        return fdp.ConsumeBool()
    if kind == 5:
        return None
    if kind == 6:
        return 10 ** fdp.ConsumeIntInRange(18, 400)
    if kind == 7:  # deep nesting, past every bound
        value: Any = 0
        for _ in range(fdp.ConsumeIntInRange(1, 1200)):
            value = [value]
        return value
    if kind in (8, 9):
        return [_json_value(fdp, depth + 1) for _ in range(fdp.ConsumeIntInRange(0, 4))]
    return {(fdp.PickValueInList(list(HOSTILE_STRINGS)) if fdp.ConsumeBool() else fdp.ConsumeUnicode(8)): _json_value(fdp, depth + 1)
            for _ in range(fdp.ConsumeIntInRange(0, 4))}


def _graft(document: Any, fdp: atheris.FuzzedDataProvider) -> Any:
    """The document with one value (found by walking keys the input picks) replaced by a new one."""
    if not isinstance(document, (dict, list)) or not document:
        return _json_value(fdp)
    node = document
    for _ in range(fdp.ConsumeIntInRange(0, 3)):
        children = list(node.keys()) if isinstance(node, dict) else list(range(len(node)))
        if not children:
            break
        key = fdp.PickValueInList(children)
        if not isinstance(node[key], (dict, list)) or not node[key] or fdp.ConsumeBool():
            node[key] = _json_value(fdp)
            return document
        node = node[key]
    if isinstance(node, dict):
        node[fdp.PickValueInList(list(HOSTILE_STRINGS) + list(node))] = _json_value(fdp)
    elif node:
        node[fdp.ConsumeIntInRange(0, len(node) - 1)] = _json_value(fdp)
    return document


def _dump(value: Any) -> bytes:
    # ASCII output: surrogates become \ud800 escapes, NaN/Infinity bare, as a hand edit in Python writes them.
    return json.dumps(value, allow_nan=True).encode("ascii")


def _mutate_one(fdp: atheris.FuzzedDataProvider, snapshot: dict[str, bytes]) -> None:
    rel = fdp.PickValueInList(sorted(snapshot) + list(EXTRA_NAMES))
    path = MODEL / rel
    original = snapshot.get(rel, b"")
    operation = fdp.ConsumeIntInRange(0, 8)
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()
    path.parent.mkdir(parents=True, exist_ok=True)
    if operation == 0:
        path.write_bytes(fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 512)))
    elif operation == 1:
        path.write_bytes(atheris.Mutate(original, len(original) + 64))
    elif operation in (2, 3):
        try:
            document = json.loads(original) if original else {}
        except ValueError:
            document = {}
        limit = sys.getrecursionlimit()
        sys.setrecursionlimit(10_000)  # json.dumps of the deep values the fuzzer makes (the reader runs after)
        try:
            path.write_bytes(_dump(_graft(document, fdp)))
        except (ValueError, RecursionError):  # a >4300-digit int cannot be written by json: write it raw
            path.write_bytes(b"9" * 5000)
        finally:
            sys.setrecursionlimit(limit)
    elif operation == 4:
        path.write_bytes(original[: fdp.ConsumeIntInRange(0, len(original))])
    elif operation == 5:
        pass  # deleted
    elif operation == 6:
        path.mkdir()
    elif operation == 7:
        path.symlink_to(fdp.PickValueInList([str(OUTSIDE), "../" * 8 + "etc/passwd", rel.rsplit("/", 1)[-1],
                                             "config.json", "missing"]))
    else:
        at = fdp.ConsumeIntInRange(0, len(original))
        path.write_bytes(original[:at] + fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 64)) + original[at:])


def _standard_json(text: str) -> None:
    def refuse(name: str) -> Any:
        raise AssertionError(f"bare {name} in JSON output")

    value = json.loads(text, parse_constant=refuse)
    json.dumps(value, ensure_ascii=False).encode("utf-8")  # no lone surrogate left


def test_one_input(data: bytes) -> None:
    """One fuzz input: build, read, judge, render."""
    fdp = atheris.FuzzedDataProvider(data)
    snapshot = SNAPSHOTS[fdp.ConsumeIntInRange(0, len(SNAPSHOTS) - 1)]
    _reset(snapshot)
    for _ in range(fdp.ConsumeIntInRange(1, 3)):
        _mutate_one(fdp, snapshot)
    try:
        manifest = read_model(Target(MODEL, MODEL))
        results = [check_one(manifest, stack) for stack in STACKS]
        for fmt in names("inspect"):
            text = render("inspect", fmt, [manifest])
            text.encode("utf-8")
            if fmt == "json":
                _standard_json(text)
        for fmt in names("check"):
            text = render("check", fmt, results)
            text.encode("utf-8")
            if fmt in ("json", "sarif"):
                _standard_json(text)
    except StcompatError:
        return
    if not manifest.usable and any(r.verdict is Verdict.OK for r in results):
        raise AssertionError(f"verdict ok on a folder with an error: {manifest.problems}")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove_stale_work() -> None:
    """libFuzzer ends the process itself (no Python exit handlers run): remove the folders of earlier runs
    whose process is gone; this run's folder is left for the next run (tmpfs, ~200 KB)."""
    for stale in WORK.parent.glob(f"{WORK_PREFIX}*"):
        pid = stale.name[len(WORK_PREFIX):].split("-", 1)[0]
        if stale != WORK and pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(stale, ignore_errors=True)


def main() -> None:
    _remove_stale_work()
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
