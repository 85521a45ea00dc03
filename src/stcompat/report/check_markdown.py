"""`check --format markdown`: a table and findings, for pull requests and reports.

Strings from a model folder are data here too: a module name like ``[x](https://evil)`` or
``![](https://tracker)`` must not become a link or an image in a job summary, ``<img>`` no HTML, a
backtick no broken code span, a ``|`` no extra table column.
"""

from __future__ import annotations

import re
from typing import Sequence

from ..rules.engine import CheckResult
from .safe import one_line

# Characters CommonMark gives a meaning in running text (emphasis, links, images, code, HTML, tables).
_MARKUP = re.compile(r"([\\`*_\[\]()!|~<>#])")


def _flat(value: object) -> str:
    """One line, control characters escaped (report/safe.py)."""
    return one_line(value).replace("\\n", " ")


def _text(value: object) -> str:
    """Running text: every markup character backslash-escaped, so it shows as typed."""
    return _MARKUP.sub(r"\\\1", _flat(value))


def _code(value: object, in_table: bool = False) -> str:
    """A code span holding ``value`` as typed: fenced by more backticks than it contains in a row."""
    text = _flat(value)
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    if in_table:  # GFM splits cells on | even inside code spans; \| is its escape there
        text = text.replace("|", "\\|")
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def render(results: Sequence[CheckResult]) -> str:
    """Markdown text."""
    lines = ["| model | saved with | target | verdict | predicted error |", "|---|---|---|---|---|"]
    for r in results:
        saved = (r.model.saved_with or {}).get("sentence_transformers", "?")
        error = _code(f"{r.predicted_error.type}: {r.predicted_error.message}", True) if r.predicted_error else ""
        lines.append(f"| {_code(r.model.path, True)} | {_text(saved)} | {_text(r.target.label())} | "
                     f"**{r.verdict}** | {error} |")
    for r in results:
        if not r.findings:
            continue
        lines += ["", f"### {_code(r.model.path)} on {_text(r.target.description)}", ""]
        for f in r.findings:
            where = f" ({_code(f.file)}{' ' + _code(f.key) if f.key else ''})" if f.file else ""
            lines.append(f"- **{f.effect.value}** `{f.code}` {f.name}: {_text(f.message)}{where}")
        if r.fix:
            lines.append(f"- fix: {_code('pip install ' + ' '.join(repr(x) for x in r.fix))}")
    return "\n".join(lines) + "\n"
