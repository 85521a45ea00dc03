"""STC120-STC121: can the target's sentence-transformers be imported at all, and is the stack one pip makes?"""

from __future__ import annotations

from typing import Iterator

from ..kb.query import specifier_allows
from .base import STAGE_ENV, Context, Effect, Finding, PredictedError, judged

_DEPENDENCIES = ("transformers", "tokenizers", "huggingface-hub", "torch")


def check_environment(ctx: Context) -> Iterator[Finding]:
    """Import-time breakage of the release itself, and a stack that contradicts its Requires-Dist."""
    st = ctx.st
    if st is None:
        return
    hub = ctx.stack.get("huggingface-hub")
    if hub is not None:
        for name in st.hub_imports:
            if ctx.kb.hub_exports(hub, name) is False:
                first_without = ctx.kb.hub_first_release_without(name)
                fix = f"huggingface-hub<{'.'.join(first_without.split('.')[:2])}" if first_without else None
                yield judged(
                    "STC120", Effect.FAILS,
                    f"sentence-transformers {st.version} imports {name!r} from huggingface_hub, which "
                    f"huggingface-hub {hub} no longer has: `import sentence_transformers` itself fails",
                    None, None, PredictedError("ImportError", f"cannot import name '{name}' from 'huggingface_hub'"),
                    fix=fix, order=(STAGE_ENV,))
                break  # Python stops at the first missing name
    python = ctx.stack.get("python")
    if python is not None and st.requires_python and not specifier_allows(st.requires_python, python):
        yield judged("STC121", Effect.INFO,
                      f"sentence-transformers {st.version} requires Python {st.requires_python}, the target has "
                      f"{python}: pip would not install it there")
    for name in _DEPENDENCIES:
        version = ctx.stack.get(name)
        spec = st.requires_dist.get(name)
        if version is not None and spec and not specifier_allows(spec, version):
            yield judged("STC121", Effect.INFO,
                          f"sentence-transformers {st.version} requires {name}{spec}, the target has {version}: "
                          "pip would not install this stack")
