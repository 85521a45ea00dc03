"""STC110-STC115: what the target does with config_sentence_transformers.json."""

from __future__ import annotations

from typing import Any, Iterator

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet

from .base import STAGE_ENV, STAGE_REQUIREMENTS, Context, Effect, Finding, PredictedError

CST = "config_sentence_transformers.json"


def _has_prompts(ctx: Context) -> bool:
    prompts = ctx.manifest.st_config.get("prompts")
    return isinstance(prompts, dict) and any(isinstance(v, str) and v for v in prompts.values())


def check_config(ctx: Context) -> Iterator[Finding]:
    """Saved behaviour the target would silently drop, and the version warning it prints."""
    st = ctx.st
    if st is None:
        return
    config = ctx.manifest.st_config
    if ctx.loaded_as_other_kind:
        # The folder is loaded as a plain transformer (or converted): the saved settings are not applied.
        kind = config.get("model_type")
        lost = [("STC110", "prompts", _has_prompts(ctx)),
                ("STC111", "similarity_fn_name", config.get("similarity_fn_name") not in (None, "cosine")),
                ("STC112", "truncate_dim", config.get("truncate_dim") is not None)]
        for code, key, saved in lost:
            if saved:
                yield Finding(code, Effect.DEGRADED, f"{key} is not applied: sentence-transformers {st.version} loads "
                              f"this {kind} folder with SentenceTransformer as a plain transformer", CST, key)
        return
    if _has_prompts(ctx) and not st.reads_config_key("prompts"):
        yield Finding("STC110", Effect.DEGRADED,
                      f"prompts {sorted(config.get('prompts'))} are ignored by sentence-transformers {st.version}",
                      CST, "prompts")
    if config.get("similarity_fn_name") not in (None, "cosine") and not st.reads_config_key("similarity_fn_name"):
        yield Finding("STC111", Effect.DEGRADED,
                      f"similarity_fn_name {config.get('similarity_fn_name')!r} is ignored by sentence-transformers "
                      f"{st.version}", CST, "similarity_fn_name")
    if config.get("truncate_dim") is not None and not st.reads_config_key("truncate_dim"):
        yield Finding("STC112", Effect.DEGRADED,
                      f"truncate_dim {config.get('truncate_dim')} is ignored by sentence-transformers {st.version}: "
                      "embeddings keep their full dimension", CST, "truncate_dim")
    yield from _requirements(ctx, config.get("requirements"))
    saved = (ctx.manifest.saved_with or {}).get("sentence_transformers")
    if saved:
        warning = st.version_warning(saved)
        if warning:
            yield Finding("STC115", Effect.INFO, f"logs: {warning}", CST, "__version__.sentence_transformers",
                          order=(STAGE_ENV,))


def _requirement_items(raw: Any) -> Iterator[tuple[str, str, str | None]]:
    """(name, specifier, reason) from the 6.0 ``requirements`` block (strings or {specifier, reason})."""
    if not isinstance(raw, dict):
        return
    for name, value in raw.items():
        if isinstance(value, dict):
            yield str(name), str(value.get("specifier", "")), value.get("reason")
        elif isinstance(value, str):
            yield str(name), value, None


def _requirements(ctx: Context, raw: Any) -> Iterator[Finding]:
    unmet = []
    for name, specifier, reason in _requirement_items(raw):
        layer = "torch" if name in ("pytorch", "torch") else name
        installed = ctx.stack.get(layer)
        if installed is None:
            continue
        try:
            spec = SpecifierSet(specifier) if not specifier[:1].isalpha() else Requirement(specifier).specifier
        except (InvalidSpecifier, InvalidRequirement):
            continue
        if not spec.contains(installed, prereleases=True):
            unmet.append((layer, str(spec), str(installed), reason))
    if not unmet:
        return
    lines = "\n".join(f"- {layer}{spec}, but {layer}=={have} is installed." + (f" {why}" if why else "")
                      for layer, spec, have, why in unmet)
    fix = "pip install -U " + " ".join(f'"{layer}{spec}"' for layer, spec, _, _ in unmet)
    if ctx.st is not None and ctx.st.checks_requirements:
        yield Finding("STC113", Effect.FAILS, f"declared requirements unmet: {lines.replace(chr(10), ' ')}",
                      CST, "requirements",
                      PredictedError("ImportError", f"The model '{ctx.manifest.path}' requires:\n{lines}\n"
                                     f"Install compatible versions with: {fix}"),
                      fix=fix, order=(STAGE_REQUIREMENTS,))
    else:
        yield Finding("STC114", Effect.INFO, f"declared requirements unmet but not enforced: "
                      f"{lines.replace(chr(10), ' ')}", CST, "requirements", fix=fix)
