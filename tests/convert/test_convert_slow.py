"""convert, proven by real loads: every 5.4+ fixture converted for 2.2.2, 3.4.1 and 5.1.2 loads there and
verifies as identical or noise against its source embedded here; a BPE fixture converted for tokenizers
0.19 loads; prompts refused for 2.2.2 without --allow-loss and converted with it; an interrupted convert
leaves nothing.

One environment per release (the matrix's, cached); each release verifies all its models in one process.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from conftest import fixture_entries, fixture_path, truth_stacks
from stcompat.convert import backport
from stcompat.errors import ConvertError

STACKS = truth_stacks()
MODULAR = [(e["release"], e["variant"]) for e in fixture_entries() if e["release"] in ("5.7.0", "6.2.0")]


@pytest.mark.slow
def test_every_54_save_converted_loads_and_verifies(tmp_path):
    from stcompat.convert.prove import reference_fingerprint, target_env, verify_many
    from stcompat.env.stack import stack_from_target

    references: dict[tuple, Path] = {}
    figures = {}
    running = []
    # Each release verifies all its models in one process, started as soon as its references exist, so
    # it runs while the next release's sources are fingerprinted here.
    with ThreadPoolExecutor(max_workers=3) as pool:
        for target in ("2.2.2", "3.4.1", "5.1.2"):
            stack = stack_from_target(STACKS[target])
            pairs, names = [], []
            for release, variant in MODULAR:
                source = fixture_path(release, variant)
                out = tmp_path / target / f"{release}-{variant}"
                try:
                    result = backport(source, out, stack, allow_loss=True, verify=False)
                except ConvertError:
                    continue  # the refusals are asserted in test_backport.py
                lost = tuple(loss.setting for loss in result.plan.losses)
                key = (release, variant, lost)
                if key not in references:  # one fingerprint of each source (and loss set), made here
                    references[key] = tmp_path / f"{len(references)}.fp"
                    reference_fingerprint(source, result.plan.losses, references[key])
                pairs.append((out, references[key]))
                names.append(f"{release}/{variant}")
            running.append((target, names, pool.submit(verify_many, target_env(stack), pairs)))
        for target, names, future in running:
            for name, proof in zip(names, future.result()):
                assert proof.acceptable, (target, name, proof)
                assert proof.packages["sentence-transformers"] == target
                figures[(target, name)] = proof.max_abs_diff
    print("\nmax |diff| per converted fixture (target, fixture):")
    for (target, name), value in sorted(figures.items()):
        print(f"  {target:<6} {name:<24} {value:.3g}")
    assert len(figures) == 54  # every 5.7.0 and 6.2.0 save that converts (test_backport.py asserts the refusals), x 3 targets


@pytest.mark.slow
def test_bpe_fixture_converted_for_tokenizers_019(tmp_path):
    """3.4.1 wrote merges as pairs; 2.7.0's stack (tokenizers 0.19.1) reads them only as strings."""
    result = backport(fixture_path("3.4.1", "roberta_plain"), tmp_path / "out", STACKS["2.7.0"], verify=True)
    assert [e.action for e in result.plan.edits][0] == "merges-to-strings"
    assert result.verify.packages["tokenizers"] == "0.19.1"
    assert result.verify.band in ("identical", "noise") and result.verify.max_abs_diff <= 1e-6


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "stcompat.cli", "convert", *args], capture_output=True, text=True)


@pytest.mark.slow
def test_prompts_refused_for_222_then_converted_with_allow_loss(tmp_path):
    source = str(fixture_path("6.2.0", "bert_prompts"))
    out = tmp_path / "out"
    refused = _cli(source, "-o", str(out), "--target", STACKS["2.2.2"])
    assert refused.returncode == 2 and not out.exists()
    assert refused.stderr.strip().splitlines()[-1].startswith(
        'error[STC754]: sentence-transformers 2.2.2 would not apply: prompts={"document": "passage: ", '
        '"query": "query: "}, default_prompt_name="query"')
    done = _cli(source, "-o", str(out), "--target", STACKS["2.2.2"], "--allow-loss")  # verify on by default
    assert done.returncode == 0, done.stderr[-2000:]
    assert "LOST prompts" in done.stdout and "by hand: prepend the prompt" in done.stdout
    verified = [line for line in done.stdout.splitlines() if line.startswith("verify in a real environment")]
    assert verified and "(sentence-transformers 2.2.2," in verified[0] and "without the losses" in verified[0]
    assert ": identical:" in verified[0] or ": noise:" in verified[0]
    assert "## Lost: apply by hand" in (out / "README.md").read_text()


@pytest.mark.slow
def test_interrupted_convert_leaves_nothing(tmp_path):
    """SIGTERM while the result is being verified: no output folder, no hidden work folder."""
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "stcompat.cli", "convert", str(fixture_path("6.2.0", "bert_dense")),
                             "-o", str(out), "--target", STACKS["2.2.2"], "--verify"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline and not any(".stcompat-" in p.name for p in tmp_path.iterdir()):
        time.sleep(0.05)
    time.sleep(1.0)  # well inside the work: copying, checking, fingerprinting, verifying
    assert proc.poll() is None, proc.communicate()
    os.kill(proc.pid, signal.SIGTERM)
    proc.communicate(timeout=120)
    assert proc.returncode != 0
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == []
