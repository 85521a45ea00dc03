"""What the reader found wrong reaches the verdict: a folder inspect rejects is never "ok".

A problem of error severity (unparsable JSON, an unreadable file, a corrupt safetensors header, a
bound exceeded) makes every loader fail, so the finding fails the load; what the real exception is
depends on which file it is and which release reads it, so no predicted error is claimed. A
warning (a link out of the folder, a missing module folder or config, an unusable path name) may
or may not stop a given release: unknown, unless a rule of another layer predicts it exactly.
"""

from __future__ import annotations

from typing import Iterator

from ..vocab import Severity
from .base import STAGE_MODULES, Context, Effect, Finding, judged

# Reading problems whose consequence another layer's rules already judge (remote code: STC104/STC202).
_JUDGED_ELSEWHERE = frozenset({"STC016"})


def check_input(ctx: Context) -> Iterator[Finding]:
    """One finding per reading problem that changes what a load does."""
    for problem in ctx.manifest.problems:
        if problem.code in _JUDGED_ELSEWHERE or problem.severity is Severity.INFO:
            continue
        effect = Effect.FAILS if problem.severity is Severity.ERROR else Effect.UNKNOWN
        yield judged(problem.code, effect, problem.message, problem.file, problem.key,
                     order=(STAGE_MODULES, -1))
