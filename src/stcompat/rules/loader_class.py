"""STC130-STC132: what the class a folder is loaded with (CrossEncoder, SparseEncoder) does with it.

SentenceTransformer(path) is what the other rules judge; CrossEncoder(path) and SparseEncoder(path) share
some of its code in some releases and none in others (kbbuild/loader_class_facts.py): the class may not
exist, a folder of another kind is silently rebuilt with untrained parts, and a CrossEncoder's saved
activation is read from a place that moved twice.
"""

from __future__ import annotations

from typing import Iterator

from ..vocab import ModelKind
from .base import STAGE_ENV, Context, Effect, Finding, PredictedError, judged

CST = "config_sentence_transformers.json"
# What a CrossEncoder computes without a saved activation, in every release: Sigmoid for one label.
_DEFAULTS = {True: "torch.nn.modules.activation.Sigmoid", False: "torch.nn.modules.linear.Identity"}
# transformers' PretrainedConfig default when config.json says neither num_labels nor id2label.
_HF_DEFAULT_LABELS = 2


def check_loader_class(ctx: Context) -> Iterator[Finding]:
    """The loader class exists in the target, is the folder's own kind, and applies what the folder saved."""
    st = ctx.st
    if st is None or ctx.loader == "sentence-transformer":
        return
    name = ctx.loader_class
    exists = st.has_loader_class(name)
    if exists is False:
        # Python appends the module's file location, which depends on where the target is installed.
        yield judged("STC130", Effect.FAILS, f"sentence-transformers {st.version} has no {name}: "
                     f"`from sentence_transformers import {name}` fails", None, None,
                     PredictedError("ImportError", f"cannot import name '{name}' from 'sentence_transformers'"),
                     order=(STAGE_ENV, 1))
        return
    if exists is None:
        return  # the knowledge of this release predates the fact (a `kb update` cache of an older stcompat)
    kind = ctx.manifest.model_kind
    if kind is not ctx.loader_kind and kind is not ModelKind.OTHER:
        what = "classification head" if ctx.loader == "cross-encoder" else "sparse head"
        yield judged("STC132", Effect.DEGRADED,
                     f"the folder is a {kind}: {name}(path) in sentence-transformers {st.version} builds a new "
                     f"{name} on its transformer, with a {what} that was never trained",
                     CST if ctx.manifest.st_config.present else None, "model_type" if ctx.manifest.st_config.present
                     else None)
        return
    if ctx.loader == "cross-encoder":
        yield from _activation(ctx)


def _saved_activation(ctx: Context) -> tuple[str, str, str] | None:
    """(path, file, key) of the activation the folder was saved with: where the newest writer put it."""
    value = ctx.manifest.st_config.get("activation_fn")
    if isinstance(value, str) and value:
        return value, CST, "activation_fn"
    info = ctx.manifest.transformer
    for key in ("sentence_transformers.activation_fn", "sbert_ce_default_activation_function"):
        if info is not None and key in info.activations:
            return info.activations[key], info.config_file, key
    return None


def _class_name(path: str) -> str:
    return path.rsplit(".", 1)[-1]


def _activation(ctx: Context) -> Iterator[Finding]:
    """STC131: the activation the target's CrossEncoder computes differs from the saved one."""
    facts, info = ctx.st.cross_encoder, ctx.manifest.transformer
    saved = _saved_activation(ctx)
    if facts is None or info is None or saved is None:
        return
    labels = info.num_labels if info.num_labels is not None else _HF_DEFAULT_LABELS
    default = _DEFAULTS[labels == 1]
    found = None
    for place in facts.get("activation_keys", ()):
        file, _, key = place.partition(":")
        if file == CST:
            value = None if ctx.skips_modules else ctx.manifest.st_config.get(key)
        else:
            value = info.activations.get(key)
        if isinstance(value, str) and value:
            found = (value, place)
            break
    prefix = facts.get("trusted_prefix")
    if found is None:
        effective = default
        places = " or ".join(facts.get("activation_keys", ())) or "nowhere"
        why = f"reads the activation from {places} only and computes the default {_class_name(default)}"
    elif prefix and not found[0].startswith(prefix):
        effective = default
        warning = (facts.get("untrusted_warning") or "").replace("{activation_fn_path}", found[0])
        why = (f"imports a saved activation only when it starts with {prefix!r} (or with trust_remote_code=True) "
               f"and computes the default {_class_name(default)}" + (f"; logs: {warning}" if warning else ""))
    else:
        # Imported as written (an unimportable path raises: not modelled); an older record may differ.
        effective = found[0]
        why = f"reads {found[1]} first, which says {_class_name(found[0])}"
    if _class_name(effective) == _class_name(saved[0]):
        return
    path, file, key = saved
    yield judged("STC131", Effect.DEGRADED,
                 f"activation {_class_name(path)} ({file} {key}) is not applied: CrossEncoder in sentence-transformers "
                 f"{ctx.st.version} {why}", file, key)
