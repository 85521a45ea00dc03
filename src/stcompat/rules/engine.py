"""Run every rule on (model, target), then derive the verdict, the predicted error and the fix."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator, Sequence

from ..env.stack import Stack
from ..kb.query import Knowledge, StRelease, knowledge
from ..model.manifest import ModelManifest
from ..vocab import EFFECT_VERDICTS, LOADERS, Layer, MergesFormat, ModelKind, Verdict, WeightFormat, loader_for
from .base import Context, Effect, Finding, PredictedError, judged
from .environment import check_environment
from .fixes import UNVERSIONED, find_fix
from .input import check_input
from .loader_class import check_loader_class
from .st_config import check_config
from .st_modules import check_modules
from .tokenizers import check_tokenizers
from .transformers import check_transformers
from .weights import check_weights

RuleFn = Callable[[Context], Iterable[Finding]]
# One judging function per layer of the stack, in load order.
LAYER_RULES: dict[Layer, RuleFn] = {
    Layer.INPUT: check_input,
    Layer.ENVIRONMENT: check_environment,
    Layer.LOADER: check_loader_class,
    Layer.ST_MODULES: check_modules,
    Layer.ST_CONFIG: check_config,
    Layer.TRANSFORMERS: check_transformers,
    Layer.TOKENIZERS: check_tokenizers,
    Layer.WEIGHTS: check_weights,
}
# What the loader class reads from the folder (not judged when the class does not exist).
AFTER_LOADER = (Layer.ST_MODULES, Layer.ST_CONFIG, Layer.TRANSFORMERS, Layer.TOKENIZERS, Layer.WEIGHTS)
# The layers a sentence-transformers upgrade addresses (the fix searches releases with these alone).
ST_LAYERS = (Layer.LOADER, Layer.ST_MODULES, Layer.ST_CONFIG)


@dataclass(frozen=True)
class CheckResult:
    """check's answer for one model in one target."""

    model: ModelManifest
    """The model, as inspect read it."""
    target: Stack
    """The target stack (after resolution)."""
    verdict: Verdict
    """ok, degraded, fails or unknown."""
    predicted_error: PredictedError | None
    """For ``fails``: the exception the load raises first."""
    findings: tuple[Finding, ...]
    """Every finding, in load order."""
    fix: tuple[str, ...]
    """Requirements that make it load and behave as saved (empty when nothing to fix or none known)."""
    fix_notes: tuple[str, ...]
    """Dependency ranges that come with the fix, and other advice."""
    loader: str = "sentence-transformer"
    """The class the load is judged for (vocab.LOADERS; by default the folder's own kind)."""


def _coverage(ctx: Context) -> Iterator[Finding]:
    st_version = ctx.stack.get("sentence-transformers")
    if st_version is None:
        yield judged("STC901", Effect.UNKNOWN, "the target names no sentence-transformers version "
                      f"({ctx.stack.ranges.get('sentence-transformers', 'not given')})")
    elif ctx.st is None:
        newest = ctx.kb.st_newest()
        yield judged("STC901", Effect.UNKNOWN, f"sentence-transformers {st_version} is not in the knowledge base "
                      f"(it covers up to {newest.version if newest else 'nothing'})")
    manifest = ctx.manifest
    if ctx.loader == "sentence-transformer" and manifest.model_kind not in (ModelKind.SENTENCE_TRANSFORMER,
                                                                             ModelKind.OTHER):
        yield judged("STC903", Effect.INFO, f"the model is a {manifest.model_kind}: the verdict is what "
                      f"SentenceTransformer(path) does with it, as asked (its own class: --loader "
                      f"{loader_for(manifest.model_kind)})")
    missing = []
    if manifest.transformer is not None and ctx.stack.get("transformers") is None:
        missing.append("transformers")
    if any(t.merges_format is MergesFormat.PAIRS for t in manifest.tokenizers) and ctx.stack.get("tokenizers") is None:
        missing.append("tokenizers")
    if any(w.format is WeightFormat.PICKLE for w in manifest.weights) and ctx.stack.get("torch") is None:
        missing.append("torch")
    if missing:
        yield judged("STC902", Effect.INFO, f"not checked: {', '.join(missing)} (not pinned, not resolved)")


def findings_for(manifest: ModelManifest, stack: Stack, kb: Knowledge | None = None,
                 layers: Iterable[Layer] = tuple(LAYER_RULES), coverage: bool = True,
                 loader: str | None = None) -> list[Finding]:
    """Every finding of the given layers' rules (and of the coverage checks), sorted in load order.

    ``loader``: the class the folder is loaded with (vocab.LOADERS); None: the folder's own kind."""
    kb = kb or knowledge()
    st_version = stack.get("sentence-transformers")
    ctx = Context(manifest, stack, kb, kb.st(st_version) if st_version else None,
                  loader or loader_for(manifest.model_kind))
    found = list(_coverage(ctx)) if coverage else []
    for layer in layers:
        if layer in AFTER_LOADER and any(f.code == "STC130" for f in found):
            continue  # the loader class cannot even be imported: nothing of the folder is read
        found.extend(LAYER_RULES[layer](ctx))
    return sorted(found, key=lambda f: f.order)


def verdict_of(findings: Sequence[Finding]) -> Verdict:
    """fails > degraded > unknown > ok: what is known for sure comes first."""
    effects = {f.effect for f in findings}
    for effect, verdict in EFFECT_VERDICTS:
        if effect in effects:
            return verdict
    return Verdict.OK


def equivalent_type(type_path: str, target: StRelease, newest: StRelease) -> str | None:
    """The import path under which ``target`` has the class that ``type_path`` names; None when it has none.

    Identity comes from the newest release, which knows every old path through its deprecated-path
    aliases: a path of the target means the same class when the newest release resolves it to the same
    origin, and the target defines a class of that name there. The shortest such path (the public
    package export, which is what the target's own saves write) wins.
    """
    wanted = newest.resolve_class(type_path).origin
    own = target.resolve_class(type_path).origin
    if wanted is None:  # the newest does not know it: only the path as written can be tried
        return type_path if own else None
    name = wanted.split(":")[1]
    if own is not None and own.split(":")[1] == name:
        return type_path
    found = [f"{module}.{name}" for module, names in target.data.get("exports", {}).items() if name in names]
    found = [p for p in found if (target.resolve_class(p).origin or ":").split(":")[1] == name
             and newest.resolve_class(p).origin == wanted]
    return min(found, key=lambda p: (p.count("."), len(p), p)) if found else None


# Failures a rewritten copy of the folder addresses: module paths and configs, merges, weight files.
CONVERT_LAYERS = (Layer.ST_MODULES, Layer.TOKENIZERS, Layer.WEIGHTS)


def convert_note(manifest: ModelManifest, stack: Stack, kb: Knowledge, lossy: bool = False) -> str | None:
    """The `stcompat convert` command that keeps the target's release, when every module has an equivalent there."""
    version = stack.get("sentence-transformers")
    st, newest = (kb.st(version) if version else None), kb.st_newest()
    if st is None or newest is None or manifest.model_kind is not ModelKind.SENTENCE_TRANSFORMER:
        return None
    types = [m.type for m in manifest.modules]
    for module in manifest.modules:
        routes = module.config.get("types") if module.kind == "Router" else None
        types += [t for t in routes.values() if isinstance(t, str)] if isinstance(routes, dict) else []
    if any(equivalent_type(t, st, newest) is None for t in types):
        return None
    layers = ("sentence-transformers", "transformers", "tokenizers", "huggingface-hub", "torch")
    pins = " ".join(f"{layer}=={stack.get(layer)}" for layer in layers if stack.get(layer))
    name = manifest.path.rstrip("/").rsplit("/", 1)[-1]
    command = f'stcompat convert {manifest.path} -o {name}-st{version} --target "{pins}"'
    if lossy:
        return f"or keep this stack and convert the model for it, losing what the degraded findings say: {command} " \
               "--allow-loss"
    return f"or keep this stack and convert the model for it: {command}"


def check_one(manifest: ModelManifest, stack: Stack, kb: Knowledge | None = None,
              loader: str | None = None) -> CheckResult:
    """Judge one model against one target stack, loaded with ``loader``'s class (None: the folder's own)."""
    kb = kb or knowledge()
    loader = loader or loader_for(manifest.model_kind)
    if loader not in LOADERS:
        raise ValueError(f"unknown loader {loader!r} (one of {', '.join(LOADERS)})")
    findings_with = functools.partial(findings_for, loader=loader)
    findings = findings_with(manifest, stack, kb)
    verdict = verdict_of(findings)
    # The load raises at the first failing finding: when its message is not known, no later finding's
    # error is what the user sees, so none is predicted.
    failing = [f for f in findings if f.effect is Effect.FAILS]
    predicted = failing[0].error if failing else None
    fix: list[str] = []
    notes: list[str] = []
    # rules/fixes.py: the fewest packages moved, by the fewest releases, that the knowledge judges ok and
    # whose requirements admit the rest of the stack; findings no release clears keep their own fix.
    moved = find_fix(manifest, stack, kb, findings, findings_with)
    damaged = sorted({f.file for f in findings if f.layer in UNVERSIONED and f.effect in (Effect.FAILS, Effect.DEGRADED)
                      and f.file})
    if moved is not None:
        fix.extend(moved.requirements())
        notes.extend(moved.notes())
    elif damaged or any(f.layer in UNVERSIONED and f.effect in (Effect.FAILS, Effect.DEGRADED) for f in findings):
        # find_fix proposes no version while files are damaged or missing: no move can be judged on them.
        named = f" ({', '.join(damaged)})" if damaged else ""
        notes.append(f"repair the files first{named}, then check again: no version change is judged on a "
                     "damaged or incomplete copy")
    elif any(f.code == "STC132" for f in findings):
        kind = manifest.model_kind
        notes.append(f"load it with {kind}, the class that saved it (check --loader {loader_for(kind)})")
    elif any(f.layer in ST_LAYERS and f.effect in (Effect.FAILS, Effect.DEGRADED) for f in findings):
        notes.append("no covered sentence-transformers release loads it as saved")
    for finding in findings:
        if (finding.fix and finding.effect is Effect.FAILS and finding.fix not in fix
                and (moved is None or finding.layer in UNVERSIONED)):
            fix.append(finding.fix)
    if not damaged and any(f.layer in CONVERT_LAYERS and f.effect is Effect.FAILS for f in findings):
        lossy = any(f.layer is Layer.ST_CONFIG and f.effect is Effect.DEGRADED for f in findings)
        note = convert_note(manifest, stack, kb, lossy)
        if note:
            notes.append(note)
    return CheckResult(manifest, stack, verdict, predicted, tuple(findings), tuple(fix), tuple(notes), loader)
