"""What the reader found wrong reaches the verdict: a folder inspect rejects is never "ok".

A problem of error severity (unparsable JSON, an unreadable file, a corrupt safetensors header, a
bound exceeded) makes every loader fail, so the finding fails the load; what the real exception is
depends on which file it is and which release reads it, so no predicted error is claimed. A
warning (a link out of the folder, a missing module folder or config, an unusable path name) may
or may not stop a given release: unknown, unless a rule of another layer predicts it exactly (the
transformer's own weights file as a Git LFS pointer or truncated: rules/weights.py, with the error).
A folder without modules.json that still holds module folders loads them not at all (STC023).
"""

from __future__ import annotations

from typing import Iterator

from ..vocab import Severity
from .base import STAGE_MODULES, Context, Effect, Finding, judged
from .weights import damaged_transformer_weights

# Reading problems whose consequence another layer's rules already judge (remote code: STC104/STC202).
_JUDGED_ELSEWHERE = frozenset({"STC016"})


def check_input(ctx: Context) -> Iterator[Finding]:
    """One finding per reading problem that changes what a load does."""
    transformers = ctx.stack.get("transformers")
    # The transformer's own weights file, damaged: the weights rule judges it, with the error it raises.
    damaged = damaged_transformer_weights(ctx, transformers) if transformers is not None else None
    for problem in ctx.manifest.problems:
        if problem.code in _JUDGED_ELSEWHERE or problem.severity is Severity.INFO:
            continue
        if damaged is not None and problem.file == damaged[0] and problem.code in ("STC021", "STC022"):
            continue
        effect = Effect.FAILS if problem.severity is Severity.ERROR else Effect.UNKNOWN
        yield judged(problem.code, effect, problem.message, problem.file, problem.key,
                     order=(STAGE_MODULES, -1))
    yield from _unlisted_modules(ctx)


def _unlisted_modules(ctx: Context) -> Iterator[Finding]:
    """No modules.json: the target builds its fallback pipeline (kb: the classes its fallback function
    constructs and the pooling modes it passes) and leaves the folder's module folders unused. A Pooling
    folder whose mode is the one built changes nothing; anything else is lost."""
    unlisted = ctx.manifest.unlisted_modules
    fallback = ctx.st.data.get("no_modules_fallback") if ctx.st is not None else None
    if not unlisted or not fallback:
        return
    modes = fallback.get("pooling_modes") or []
    architectures = ctx.manifest.transformer.architectures if ctx.manifest.transformer else ()
    # 5.4+ pass "lasttoken" for a causal LM (architectures[0] ending in ForCausalLM), else "mean".
    causal = bool(architectures) and architectures[0].endswith("ForCausalLM") and "lasttoken" in modes
    built_mode = "lasttoken" if causal else "mean" if "mean" in modes else (modes[0] if modes else None)
    built = fallback.get("builds") or []
    unused = [m for m in unlisted
              if not (m.kind == "Pooling" and "Pooling" in built and m.pooling_modes == (built_mode,))]
    if not unused:
        return
    pipeline = " + ".join(f"{kind}({built_mode})" if kind == "Pooling" else kind for kind in built)
    yield judged("STC023", Effect.DEGRADED,
                 f"no modules.json: sentence-transformers {ctx.st.version} builds {pipeline} and leaves "
                 f"{', '.join(m.path for m in unused)} unused; restore modules.json", "modules.json",
                 order=(STAGE_MODULES, -1))

