"""Write docs/rules.md from the code registry (codes.py). Run: python tools/gen_docs.py.

tests/test_docs.py fails when docs/rules.md is out of date.
"""

from __future__ import annotations

import sys
from pathlib import Path

from stcompat.codes import RULES

RULES_MD = Path(__file__).resolve().parent.parent / "docs" / "rules.md"


def render_rules() -> str:
    """docs/rules.md, generated."""
    lines = [
        "# Finding and error codes",
        "",
        "Generated from `src/stcompat/codes.py` by `python tools/gen_docs.py`; do not edit.",
        "`stcompat rule CODE` prints the same text.",
        "",
        "| code | name | severity | layer | effect on a check verdict |",
        "|---|---|---|---|---|",
    ]
    lines += [f"| [{r.code}](#{r.code.lower()}) | {r.name} | {r.severity} | {r.layer} | {r.effect or '-'} |"
              for r in RULES.values()]
    for rule in RULES.values():
        lines += ["", f"## {rule.code}", "", f"**{rule.name}** ({rule.severity}; layer {rule.layer})", "",
                  f"What it does: {rule.what}", "", f"Why it matters: {rule.why}", "", f"Fix: {rule.fix}"]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    RULES_MD.write_text(render_rules())
    print(f"wrote {RULES_MD}", file=sys.stderr)
