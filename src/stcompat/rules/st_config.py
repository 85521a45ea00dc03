"""STC110-STC115: what the target does with config_sentence_transformers.json."""

from __future__ import annotations

from typing import Any, Iterator

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import canonicalize_name

from ..env.stack import LAYERS

from .base import STAGE_ENV, STAGE_REQUIREMENTS, Context, Effect, Finding, PredictedError, judged

CST = "config_sentence_transformers.json"


# The saved setting (model/settings.py) each code reports when a release does not apply it.
# default_prompt_name rides with prompts: a release that ignores prompts has no prompt to default to.
_IGNORED_CODES = {"prompts": "STC110", "similarity_fn_name": "STC111", "truncate_dim": "STC112"}


def check_config(ctx: Context) -> Iterator[Finding]:
    """Saved behaviour the target would silently drop, and the version warning it prints."""
    st = ctx.st
    if st is None:
        return
    config = ctx.manifest.st_config
    saved = {key: value for key, value in ctx.manifest.saved_settings.items() if key in _IGNORED_CODES}
    if ctx.skips_modules:
        # The folder is loaded as a plain transformer (or converted): the saved settings are not applied.
        kind = config.get("model_type") or ctx.manifest.model_kind
        for key in saved:
            yield judged(_IGNORED_CODES[key], Effect.DEGRADED, f"{key} is not applied: sentence-transformers "
                         f"{st.version} loads this {kind} folder with {ctx.loader_class} without reading {CST}",
                         CST, key)
        return
    ignored = {key: value for key, value in saved.items() if not st.reads_config_key(key)}
    if "prompts" in ignored:
        yield judged("STC110", Effect.DEGRADED,
                     f"prompts {sorted(ignored['prompts'])} are ignored by sentence-transformers {st.version}",
                     CST, "prompts")
    if "similarity_fn_name" in ignored:
        yield judged("STC111", Effect.DEGRADED,
                     f"similarity_fn_name {ignored['similarity_fn_name']!r} is ignored by sentence-transformers "
                     f"{st.version}", CST, "similarity_fn_name")
    if "truncate_dim" in ignored:
        yield judged("STC112", Effect.DEGRADED,
                     f"truncate_dim {ignored['truncate_dim']} is ignored by sentence-transformers {st.version}: "
                     "embeddings keep their full dimension", CST, "truncate_dim")
    yield from _requirements(ctx, config.get("requirements"))
    saved = (ctx.manifest.saved_with or {}).get("sentence_transformers")
    if saved:
        warning = st.version_warning(saved)
        if warning:
            yield judged("STC115", Effect.INFO, f"logs: {warning}", CST, "__version__.sentence_transformers",
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
    """Unmet ``requirements``: the release's own error when it enforces them (6.0+), else a note."""
    aliases = ctx.st.requirement_aliases if ctx.st is not None else {}
    unmet: list[tuple[str, str, str | None, str | None]] = []  # as written: name, specifier, installed, reason
    fixes: list[str] = []
    for name, specifier, reason in _requirement_items(raw):
        layer = aliases.get(name, name)  # 6.x looks "pytorch" up as "torch"
        try:
            spec = SpecifierSet(specifier) if not specifier[:1].isalpha() else Requirement(specifier).specifier
        except (InvalidSpecifier, InvalidRequirement):
            continue
        installed = ctx.stack.get(layer)
        if installed is None:
            # Absent is only known for an installed environment, and only for the layers it reads.
            if not (ctx.stack.complete and canonicalize_name(layer) in LAYERS):
                continue
        elif spec.contains(installed, prereleases=True):
            continue
        unmet.append((name, specifier, str(installed) if installed is not None else None,
                      str(reason) if reason else None))
        if layer != "python":
            fixes.append(f'"{layer}{spec}"')
    if not unmet:
        return
    summary = "; ".join(f"{name}{spec} ({'installed ' + have if have else 'not installed'})"
                        for name, spec, have, _ in unmet)
    fix = "pip install -U " + " ".join(fixes) if fixes else None
    if ctx.st is not None and ctx.st.checks_requirements:
        message = ctx.st.requirements_error(ctx.manifest.path, unmet)
        error_type = ctx.st.requirements_error_type
        yield judged("STC113", Effect.FAILS, f"declared requirements unmet: {summary}", CST, "requirements",
                     PredictedError(error_type, message) if message and error_type else None,
                     fix=fix, order=(STAGE_REQUIREMENTS,))
    else:
        yield judged("STC114", Effect.INFO, f"declared requirements unmet but not enforced: {summary}",
                     CST, "requirements", fix=fix)
