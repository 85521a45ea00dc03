"""Regenerate the knowledge base (src/stcompat/kb/data/*.json) from public release artifacts on PyPI.

    python tools/build_kb.py            # everything (a few minutes; downloads are cached)
    python tools/build_kb.py st         # only sentence-transformers (or: transformers, tokenizers, hub, torch, period)

Artifacts are downloaded (sha256-checked against PyPI), read with zipfile/tarfile and ast, never
installed or imported. ``period`` copies the measured period stacks from tests/fixtures/manifest.json.
kb/data/install_facts.json is measured by hand (no artifact states it) and is not written here.
CI does not run this; tests/kb checks the committed data.
"""

from __future__ import annotations

import sys
from pathlib import Path

# The extractors ship in the package (stcompat.kbbuild: `stcompat kb update` runs them too); a source
# checkout runs them from src/ without installing.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from stcompat.kbbuild import (  # noqa: E402
    hub_facts, period_facts, st_facts, tokenizers_facts, torch_facts, transformers_facts,
)

PARTS = {"st": st_facts.main, "torch": lambda: torch_facts.main([]), "transformers": transformers_facts.main, "tokenizers": tokenizers_facts.main,
         "hub": hub_facts.main, "period": period_facts.main}


def main() -> None:
    wanted = sys.argv[1:] or list(PARTS)
    unknown = [w for w in wanted if w not in PARTS]
    if unknown:
        raise SystemExit(f"unknown part(s) {unknown}; choose from {list(PARTS)}")
    for part in wanted:
        saved, sys.argv = sys.argv, [sys.argv[0]]
        try:
            PARTS[part]()
        finally:
            sys.argv = saved


if __name__ == "__main__":
    main()
