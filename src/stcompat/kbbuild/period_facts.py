"""Period stacks: the library versions each measured sentence-transformers release ran on, for the knowledge base.

No release artifact says which transformers / tokenizers / huggingface_hub / numpy a release "belongs" with:
it was measured. tools/make_fixtures.py saved the test fixtures of each measured release in an environment
of its period and recorded that environment in tests/fixtures/manifest.json (``releases[<st>].env``; the same
stacks as research/releases.md section 0). This copies those versions into kb/data/period_stacks.json, each
with where it was measured, so the installed package (which has no tests/ folder) can read them.

Run ``python tools/build_kb.py period`` after tools/make_fixtures.py changed the manifest.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from packaging.version import Version

from . import output

SCHEMA = "stcompat.kb.period_stacks/1"
# The source checkout's fixture manifest: only tools/build_kb.py reads it (an installed package has no tests/).
MANIFEST = Path(__file__).resolve().parents[3] / "tests" / "fixtures" / "manifest.json"
OUTPUT = "period_stacks.json"

LAYERS = ("transformers", "tokenizers", "huggingface_hub", "numpy")
"""The layers a period stack pins, in pin order. Left out: torch (one shared build is installed first),
python (the interpreter), safetensors (the same version everywhere) and sentence-transformers itself."""


def build(manifest_path: Path = MANIFEST) -> dict[str, Any]:
    """The period-stacks document from the fixture manifest."""
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    rows = []
    for version in sorted(manifest["releases"], key=Version):
        env = manifest["releases"][version]["env"]
        missing = [layer for layer in LAYERS if layer not in env]
        if missing:
            raise ValueError(f"{manifest_path}: release {version} records no {missing}")
        rows.append({"version": version, "stack": {layer: env[layer] for layer in LAYERS},
                     "provenance": f"tests/fixtures/manifest.json releases['{version}'].env"})
    return {
        "schema": SCHEMA,
        "measured": manifest.get("generated"),
        "measured_by": manifest.get("generator"),
        "note": ("The environment each measured sentence-transformers release saved its test fixtures in "
                 "(research/releases.md section 0): exact versions of the layers in 'layers', in pin order."),
        "layers": list(LAYERS),
        "releases": rows,
    }


def main() -> int:
    return output.run(build, OUTPUT)


if __name__ == "__main__":
    sys.exit(main())
