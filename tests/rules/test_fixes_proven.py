"""Fixes proven by real loads: every failing and degraded cell of the truth table, with check's fix applied.

For each cell of tests/fixtures/truth.json whose real load failed or was degraded, `check` is asked for the
fix on the stack the cell really ran in. The fix's pins replace the stack's; the result is built as a real
environment by the matrix machinery (uv: the stack plus the fix must resolve and install), the model is
loaded there and compared with the same reference release the truth table used. A fix is proven when the
environment builds, `check` on the versions it really holds says ok, and the model loads and behaves as
saved. Cells whose fix names no version (damaged files, a folder no release loads as saved) are counted
apart, and so are cells of damaged copies (their files need repairing before any version can help). Slow: one environment per distinct fixed stack (uv and its cache), one probe process each.

    HF_HUB_OFFLINE=1 python -m pytest -m slow -s tests/rules/test_fixes_proven.py
"""

from __future__ import annotations

import json
import os
from collections import defaultdict

import pytest

from conftest import FIXTURES
from stcompat.env.stack import stack_from_target
from stcompat.model.inspect import inspect_model
from stcompat.kb.query import knowledge
from stcompat.rules.engine import check_one
from stcompat.rules.fixes import UNVERSIONED, conflicts

LAYERS = ("sentence-transformers", "transformers", "tokenizers", "huggingface-hub", "numpy")
TRUTH = json.loads((FIXTURES / "truth.json").read_text())


def _pin(layer: str, version: str) -> str:
    return f"{layer}=={version.split('+')[0]}"


Loaded = tuple[str, tuple[str, ...]]
"""(loader, fixed stack's pins): one environment, the models loaded with one class."""


def _loader(cell: dict) -> str:
    return cell.get("loader", "sentence-transformer")


def fixed_stacks() -> tuple[dict[Loaded, list[dict]], list[dict]]:
    """((loader, fixed stack) -> the cells it fixes, the cells whose fix names no version)."""
    groups: dict[tuple[str, ...], list[dict]] = defaultdict(list)
    unversioned = []
    manifests = {}
    for cell in TRUTH["cells"]:
        if cell["outcome"] not in ("fails", "degraded") or cell["model"].startswith("demo/"):
            continue
        versions = cell["versions"]
        target = " ".join(_pin(layer, versions[layer]) for layer in (*LAYERS, "torch") if layer in versions)
        manifest = manifests.setdefault(cell["model"], inspect_model(FIXTURES / cell["model"]))
        result = check_one(manifest, stack_from_target(target), loader=_loader(cell))
        pins = {layer: _pin(layer, versions[layer]) for layer in LAYERS if layer in versions}
        moved = [f for f in result.fix if "==" in f]
        # damaged files need their own repair first (git lfs pull): no environment proves that part
        repair = any(f.layer in UNVERSIONED and f.effect.value in ("fails", "degraded") for f in result.findings)
        if not moved or repair:
            unversioned.append({**cell, "fix": list(result.fix)})
            continue
        for requirement in moved:
            pins[requirement.split("==")[0]] = requirement
        groups[(_loader(cell), tuple(sorted(pins.values())))].append({**cell, "fix": list(result.fix)})
    return groups, unversioned


def test_fixes_are_exact_pins_that_change_the_stack():
    # Fast and without environments: every version fix pins a release other than the target's, the fixed
    # stack breaks no Requires-Dist the knowledge holds, and check judges it ok (the slow test below
    # installs and loads it).
    groups, _ = fixed_stacks()
    assert len(groups) >= 10
    kb = knowledge()
    for (loader, pins), cells in groups.items():
        stack = stack_from_target(" ".join(pins) + " torch==2.13.0")
        assert conflicts(kb, stack.versions) == [], pins
        for cell in cells[:3]:
            result = check_one(inspect_model(FIXTURES / cell["model"]), stack, loader=loader)
            assert result.verdict.value == "ok", (pins, cell["model"], [f.code for f in result.findings])
            for requirement in (r for r in cell["fix"] if "==" in r):
                layer, version = requirement.split("==")
                assert cell["versions"].get(layer, "").split("+")[0] != version, (cell["model"], requirement)


# The slow suite proves the fixed stacks that fix the most cells (a few environments, minutes); the proof
# tier proves every one of them (about 40 environments: 26 min from empty caches on this machine).
SAMPLE_STACKS = 4


@pytest.mark.slow
def test_the_commonest_fixes_load_and_behave_as_saved():
    groups, unversioned = fixed_stacks()
    commonest = sorted(groups, key=lambda key: (-len(groups[key]), key))[:SAMPLE_STACKS]
    _prove({key: groups[key] for key in commonest}, unversioned)


@pytest.mark.proof
def test_every_fix_of_the_truth_table_loads_and_behaves_as_saved():
    _prove(*fixed_stacks())


def _prove(groups: dict[Loaded, list[dict]], unversioned: list[dict]) -> None:
    """Build each fixed stack, load its cells' models there, and assert every one loads and behaves as saved."""
    from stcompat.matrix.runner import classify, run_matrix

    loaded = {(_loader(cell), cell["model"]) for cells in groups.values() for cell in cells}
    references = {key: TRUTH.get("references", {}).get(key[1], TRUTH["reference"]) for key in loaded}
    reference_cells = {}
    for loader, release in sorted(set((key[0], ref) for key, ref in references.items())):
        wanted = [str(FIXTURES / m) for (l, m), ref in sorted(references.items()) if l == loader and ref == release]
        result = run_matrix(wanted, [release], reference=release, batch=True, jobs=1, loader=loader)
        reference_cells.update({(loader, c.model): c for c in result.cells})
    proven, unproven = [], []
    for (loader, pins), cells in sorted(groups.items()):
        st = next(p.split("==")[1] for p in pins if p.startswith("sentence-transformers=="))
        extra = [p for p in pins if not p.startswith("sentence-transformers==")]
        folders = sorted({str(FIXTURES / c["model"]) for c in cells})
        result = run_matrix(folders, [st], extra=extra, reference=st, batch=True, jobs=1, loader=loader)
        by_model = {c.model: c for c in result.cells}
        for cell in cells:
            folder = str(FIXTURES / cell["model"])
            real = by_model[folder]
            manifest = inspect_model(folder)
            held = " ".join(f"{k}=={v.split('+')[0]}" for k, v in real.versions.items()
                            if k in (*LAYERS, "torch"))
            judged = (check_one(manifest, stack_from_target(held), loader=loader).verdict.value if held
                      else "no environment")
            graded = classify(real, reference_cells.get((loader, folder)), manifest.saved_settings)
            entry = {"model": cell["model"], "release": cell["release"], "loader": loader, "fix": cell["fix"],
                     "outcome": graded.outcome.value, "check": judged, "reasons": list(graded.reasons)}
            (proven if graded.outcome.value == "ok" and judged == "ok" else unproven).append(entry)
    summary = {"fixed_cells": len(proven) + len(unproven), "proven": len(proven), "environments": len(groups),
               "without_a_version_fix_or_damaged": len(unversioned), "unproven": unproven}
    report = os.environ.get("STCOMPAT_FIX_PROOF_REPORT")
    if report:
        with open(report, "w", encoding="utf-8") as handle:
            json.dump({**summary, "proven_cells": proven}, handle, indent=1)
    print(f"\nfixes proven: {len(proven)} of {len(proven) + len(unproven)} failing/degraded cells with a version "
          f"fix ({len(groups)} environments); {len(unversioned)} cells have no version fix or need a file repair")
    assert not unproven, json.dumps(unproven[:10], indent=1)
