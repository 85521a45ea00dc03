"""Time and peak memory of `inspect` and `check` on the largest hostile inputs, against a normal fixture.

Every command runs as a fresh process (what a user or CI waits for); its peak RSS is read from the
kernel's accounting for that process alone (os.wait4). The inputs are built in this run from a copy of
tests/fixtures/st3.0.1/bert_plain:

- normal: the fixture as saved;
- modules-N: modules.json with N entries (N up to 20,000; 1,000 are read, the bound);
- tokenizer-N MB: tokenizer.json grown to N MB with a real-looking BPE vocabulary and merges (up to
  200 MB, under the 256 MiB bound), to show time and memory grow linearly with the input;
- deep: 1000-level nesting in every JSON file a loader reads, and in the safetensors header;
- over-bound: a 300 MiB tokenizer.json (sparse), refused from its size without being read.

Goal (issue 12): linear time, memory bounded by the input bounds; the ratios to the normal fixture are
printed.

    python bench/hostile_bounds.py [--sizes 25,50,100,200] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SOURCE = REPO / "tests" / "fixtures" / "st3.0.1" / "bert_plain"
TARGET = ("sentence-transformers==3.0.1 transformers==4.41.2 tokenizers==0.19.1 huggingface-hub==0.23.4 "
          "torch==2.13.0 python==3.11")
JSON_FILES = ("modules.json", "config_sentence_transformers.json", "config.json", "sentence_bert_config.json",
              "1_Pooling/config.json", "tokenizer.json", "tokenizer_config.json")


@dataclass(frozen=True)
class Measure:
    """One command on one input."""

    case: str
    """The input's name."""
    command: str
    """inspect or check."""
    input_mb: float
    """Size of the folder's largest file, MB."""
    seconds: float
    """Wall time of the whole process."""
    peak_mb: float
    """Peak resident memory of that process, MB."""
    status: int
    """Exit status."""


def run(args: list[str]) -> tuple[float, float, int]:
    """(wall seconds, peak RSS MB, exit status) of one fresh stcompat process."""
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "stcompat.cli", *args], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    return seconds, usage.ru_maxrss / 1024, proc.returncode  # ru_maxrss is in KiB on Linux


def copy(dest: Path) -> Path:
    shutil.copytree(SOURCE, dest)
    (dest / "2_Normalize").mkdir(exist_ok=True)
    return dest


def big_tokenizer(folder: Path, megabytes: int) -> None:
    """tokenizer.json of about ``megabytes`` MB: the fixture's file with a BPE vocabulary and merges grown
    until it reaches the size (tokens like a byte-level BPE's)."""
    data = json.loads((folder / "tokenizer.json").read_text())
    target = megabytes * 1_000_000
    # ~24 bytes per vocab entry + ~14 per merge: size the counts from the target.
    entries = target // 38
    vocab = {f"\u0120tok{i:08d}": i for i in range(entries)}
    merges = [f"\u0120t ok{i:08d}" for i in range(entries)]
    data["model"] = {"type": "BPE", "dropout": None, "unk_token": None, "vocab": vocab, "merges": merges}
    (folder / "tokenizer.json").write_text(json.dumps(data, ensure_ascii=False))


def many_modules(folder: Path, count: int) -> None:
    base = json.loads((folder / "modules.json").read_text())
    (folder / "modules.json").write_text(json.dumps([dict(base[i % 3], idx=i, name=str(i)) for i in range(count)]))


def deep_everywhere(folder: Path) -> None:
    for rel in JSON_FILES:
        (folder / rel).write_bytes(b"[" * 1000 + b"]" * 1000)
    header = b'{"w": ' + b"[" * 1000 + b"]" * 1000 + b"}"
    (folder / "model.safetensors").write_bytes(struct.pack("<Q", len(header)) + header)


def over_bound(folder: Path) -> None:
    with open(folder / "tokenizer.json", "wb") as handle:
        handle.truncate(300 * 1024 * 1024)


def largest_mb(folder: Path) -> float:
    return max(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 1e6


def measure(case: str, folder: Path) -> list[Measure]:
    size = largest_mb(folder)
    found = []
    for command, args in (("inspect", ["inspect", str(folder), "--format", "json"]),
                          ("check", ["check", str(folder), "--target", TARGET, "--no-resolve", "--format", "json"])):
        run(args)  # warm the page cache
        seconds, peak, status = min((run(args) for _ in range(2)), key=lambda r: r[0])
        found.append(Measure(case, command, size, seconds, peak, status))
    return found


MAKERS = {"tokenizer": big_tokenizer, "modules": many_modules, "deep": lambda f, _: deep_everywhere(f),
          "over-bound": lambda f, _: over_bound(f)}


def make(kind: str, folder: Path, arg: int = 0) -> Path:
    """Build one input in a child process: on Linux a child's peak RSS starts from its parent's at fork,
    so the measuring process must stay small (building a 200 MB JSON in it would not)."""
    copy(folder)
    subprocess.run([sys.executable, __file__, "--make", kind, str(folder), str(arg)], check=True)
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="25,50,100,200", help="tokenizer.json sizes in MB")
    parser.add_argument("--modules", default="1000,5000,20000", help="modules.json entry counts")
    parser.add_argument("--workdir", type=Path, help="where to build the inputs (default: a temporary folder)")
    parser.add_argument("--make", nargs=3, metavar=("KIND", "FOLDER", "ARG"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.make:
        kind, folder, arg = args.make
        MAKERS[kind](Path(folder), int(arg))
        return
    work = Path(tempfile.mkdtemp(prefix="stcompat-bench-", dir=args.workdir))
    try:
        results = measure("normal", copy(work / "normal"))
        for count in (int(c) for c in args.modules.split(",")):
            results += measure(f"modules-{count}", make("modules", work / f"modules-{count}", count))
        for megabytes in (int(s) for s in args.sizes.split(",")):
            folder = make("tokenizer", work / f"tokenizer-{megabytes}mb", megabytes)
            results += measure(f"tokenizer-{megabytes}MB", folder)
            shutil.rmtree(folder)
        results += measure("deep-1000", make("deep", work / "deep"))
        results += measure("tokenizer-300MiB-sparse", make("over-bound", work / "over-bound"))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report(results)


def report(results: list[Measure]) -> None:
    base = {m.command: m for m in results if m.case == "normal"}
    print(f"{'case':<26}{'cmd':<9}{'largest file':>13}{'time s':>9}{'x normal':>10}{'peak RSS MB':>13}"
          f"{'x normal':>10}{'exit':>6}")
    for m in results:
        b = base[m.command]
        print(f"{m.case:<26}{m.command:<9}{m.input_mb:>10.1f} MB{m.seconds:>9.2f}{m.seconds / b.seconds:>10.1f}"
              f"{m.peak_mb:>13.0f}{m.peak_mb / b.peak_mb:>10.1f}{m.status:>6}")
    # Linearity: cost per MB of tokenizer.json beyond the normal fixture's cost, at each size.
    print("\nper MB of tokenizer.json (beyond the normal fixture's cost):")
    for m in results:
        if m.case.startswith("tokenizer-") and m.case.endswith("MB"):
            b = base[m.command]
            print(f"  {m.case:<18}{m.command:<9}{(m.seconds - b.seconds) / m.input_mb * 1000:>8.1f} ms/MB"
                  f"{(m.peak_mb - b.peak_mb) / m.input_mb:>8.2f} MB RSS/MB")


if __name__ == "__main__":
    main()
