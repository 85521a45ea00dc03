"""Judge one fingerprint against another: metrics -> band -> diagnosis. Pure numpy, no model.

Bands (thresholds configurable, defaults from measured drift, see docs/fingerprint-format.md):
identical (bit-equal), noise (float arithmetic: cosine >= 0.99999 and max |diff| <= 1e-5),
drift (worse, ranks mostly intact), broken (a dimension or norm change, cosine < 0.99, or the
similarity ranking changed). The diagnosis explains drift and broken from the evidence the
fingerprint holds: the embeddings of prompted texts with and without their prompt, the pipeline
the loader built, the encode settings, the hashed files and the environments.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Mapping

from ..errors import CorpusMismatchError
from ..noise import Thresholds
from ..vocab import Band
from .metrics import Metrics, compare_matrices, row_cosines, unit_rows

if TYPE_CHECKING:
    import numpy as np

    from .fileformat import Fingerprint

SCHEMA = "stcompat.verify/1"
# Sets that decide the band: what deployments call (default encode, encode(prompt_name=...)).
# The ``unprompted`` set (prompt="") is evidence for the diagnosis only.
_JUDGED = ("main", "prompted")
BANDS = tuple(band.value for band in Band)


@dataclass(frozen=True)
class Diagnosis:
    """One explanation or piece of context."""

    kind: str
    """``dimension``, ``truncate_dim``, ``normalize``, ``prompts``, ``pooling``, ``modules``,
    ``max_seq_length``, ``moved_texts``, ``precision``, ``settings``, ``model_files``, ``environment``."""
    message: str
    """One line for a human."""
    cause: bool = True
    """True for a likely cause of drift; False for context (e.g. which versions changed)."""


@dataclass(frozen=True)
class Report:
    """The result of verify or compare (JSON schema ``stcompat.verify/1``)."""

    verdict: Band
    """identical, noise, drift or broken."""
    reasons: tuple[str, ...]
    """Which checks decided the band."""
    metrics: Metrics
    """Main set: every corpus text."""
    set_metrics: Mapping[str, Metrics]
    """Every compared set by name (main, prompted, unprompted)."""
    diagnosis: tuple[Diagnosis, ...]
    """Causes first, then context."""
    thresholds: Thresholds
    """The thresholds used."""
    expected: Mapping[str, Any]
    """Summary of the recorded side: environment packages, settings, model sha256, pipeline."""
    actual: Mapping[str, Any]
    """Summary of the side compared (now, for verify)."""
    notes: tuple[str, ...] = ()
    """What the encoder could not honour (e.g. prompts on an old release)."""
    extra: Mapping[str, Any] = field(default_factory=dict)
    """Timings and the like, set by the caller."""
    title: str = ""
    """What was compared with what, for people (not part of the JSON)."""

    @property
    def exit_status(self) -> int:
        """0 for identical/noise, 1 for drift/broken."""
        return 0 if self.verdict.acceptable else 1

    def as_dict(self) -> dict[str, Any]:
        """JSON form, schema ``stcompat.verify/1``."""
        from dataclasses import asdict

        return {
            "schema": SCHEMA, "verdict": self.verdict, "exit_status": self.exit_status,
            "reasons": list(self.reasons), "metrics": self.metrics.as_dict(),
            "sets": {name: m.as_dict() for name, m in self.set_metrics.items()},
            "diagnosis": [asdict(d) for d in self.diagnosis],
            "thresholds": asdict(self.thresholds), "expected": dict(self.expected), "actual": dict(self.actual),
            "notes": list(self.notes), **dict(self.extra),
        }


def _summary(fp: "Fingerprint") -> dict[str, Any]:
    env = fp.environment
    return {
        "created": fp.created, "model_sha256": fp.model.get("sha256"),
        "packages": {"python": env.get("python"), **(env.get("packages") or {})},
        "device": env.get("device"), "settings": dict(fp.settings), "pipeline": dict(fp.pipeline),
        "storage": fp.storage,
    }


def _unit(norms: tuple[float, float], tol: float) -> bool:
    return abs(norms[0] - 1.0) <= tol and abs(norms[1] - 1.0) <= tol


def _norms_ok(expected: "np.ndarray", actual: "np.ndarray", tol: float) -> bool:
    import numpy as np

    ne = np.linalg.norm(expected.astype(np.float64), axis=1)
    na = np.linalg.norm(actual.astype(np.float64), axis=1)
    return bool(np.all(np.abs(na - ne) <= tol * np.maximum(ne, 1e-12)))


def _aligned(expected: "Fingerprint", actual: "Fingerprint", name: str) -> tuple["np.ndarray", "np.ndarray"] | None:
    es, acs = expected.sets.get(name), actual.sets.get(name)
    if es is None or acs is None or es.rows != acs.rows:
        return None
    return es.values, acs.values


def judge(expected: "Fingerprint", actual: "Fingerprint", thresholds: Thresholds | None = None,
          notes: tuple[str, ...] = ()) -> Report:
    """Compare ``actual`` with ``expected`` (same corpus) and explain the difference."""
    t = thresholds or Thresholds()
    if expected.corpus.sha256 != actual.corpus.sha256:
        raise CorpusMismatchError("the two fingerprints embed different corpora (corpus sha256 "
                                  f"{expected.corpus.sha256[:12]} vs {actual.corpus.sha256[:12]})",
                                  expected.corpus.sha256, actual.corpus.sha256)
    set_metrics: dict[str, Metrics] = {}
    norms_ok = True
    for name in ("main", "prompted", "unprompted"):
        pair = _aligned(expected, actual, name)
        if pair is None:
            continue
        set_metrics[name] = compare_matrices(pair[0], pair[1], t.top_k)
        if pair[0].shape == pair[1].shape and name in _JUDGED:
            norms_ok = norms_ok and _norms_ok(pair[0], pair[1], t.norm_tolerance)
    main = set_metrics["main"]
    same_dim = main.dim_expected == main.dim_actual
    judged = [m for name, m in set_metrics.items() if name in _JUDGED]
    cosines = [m.min_cosine for m in judged if m.min_cosine is not None]
    diffs = [m.max_abs_diff for m in judged if m.max_abs_diff is not None]
    min_cos = min(cosines) if cosines else None
    max_diff = max(diffs) if diffs else None
    storage_error = expected.storage_max_abs_error + actual.storage_max_abs_error  # float16 files' stated loss
    noise_diff = t.noise_max_abs_diff + storage_error

    reasons: list[str] = []
    if not same_dim:
        reasons.append(f"dimension {main.dim_expected} -> {main.dim_actual}")
    if same_dim and not norms_ok:
        reasons.append(f"norms changed (recorded {main.norm_expected[0]:.4g}..{main.norm_expected[1]:.4g}, "
                       f"now {main.norm_actual[0]:.4g}..{main.norm_actual[1]:.4g})")
    if min_cos is not None and min_cos < t.broken_min_cosine:
        reasons.append(f"min cosine {min_cos:.6f} < {t.broken_min_cosine}")
    if main.topk_agreement < t.broken_min_topk:
        reasons.append(f"top-{main.topk} neighbour agreement {main.topk_agreement:.3f} < {t.broken_min_topk}")
    if main.spearman < t.broken_min_spearman:
        reasons.append(f"Spearman of pairwise similarities {main.spearman:.4f} < {t.broken_min_spearman}")
    if reasons:
        verdict = Band.BROKEN
    elif max_diff == 0.0:
        verdict = Band.IDENTICAL
        reasons.append("every value bit-identical")
    elif min_cos is not None and max_diff is not None and t.within_noise(max_diff, min_cos, storage_error):
        verdict = Band.NOISE
        reasons.append(f"min cosine {min_cos:.8f} >= {t.noise_min_cosine} and max |diff| {max_diff:.3g} <= {noise_diff:.3g}")
    else:
        verdict = Band.DRIFT
        if min_cos is not None and min_cos < t.noise_min_cosine:
            reasons.append(f"min cosine {min_cos:.8f} < {t.noise_min_cosine}")
        if max_diff is not None and max_diff > noise_diff:
            reasons.append(f"max |diff| {max_diff:.3g} > {noise_diff:.3g}")
        reasons.append("ranks mostly intact")

    diagnosis = diagnose(expected, actual, set_metrics, t, verdict)
    return Report(verdict, tuple(reasons), main, set_metrics, diagnosis, t, _summary(expected), _summary(actual),
                  tuple(notes) + tuple(n for n in actual.notes if n not in notes))


# --- diagnosis -------------------------------------------------------------------------------------


def _min_cos(a: "np.ndarray", b: "np.ndarray") -> float:
    return float(row_cosines(a, b).min()) if a.size else 1.0


def _rows(fp: "Fingerprint", name: str, rows: tuple[int, ...]) -> "np.ndarray | None":
    """The matrix rows of set ``name`` for these corpus rows (None if the set lacks any)."""
    es = fp.sets.get(name)
    if es is None:
        return None
    where = {r: i for i, r in enumerate(es.rows)}
    if not all(r in where for r in rows):
        return None
    return es.values[[where[r] for r in rows]]


def _diagnose_prompts(expected: "Fingerprint", actual: "Fingerprint", t: Thresholds) -> list[Diagnosis]:
    """Prompt loss, derived from the embeddings: does a prompted text now embed like the bare text?"""
    found: list[Diagnosis] = []
    bare = expected.sets.get("unprompted")
    if bare is None:
        return found
    rows = bare.rows
    same = t.moved_cosine
    # 1. The default prompt: the main set encodes every text with default_prompt_name.
    exp_main, act_main = _rows(expected, "main", rows), _rows(actual, "main", rows)
    default = expected.pipeline.get("default_prompt_name")
    if exp_main is not None and act_main is not None and exp_main.shape == act_main.shape == bare.values.shape:
        if _min_cos(exp_main, bare.values) < same and _min_cos(act_main, bare.values) >= same:
            text = (expected.pipeline.get("prompts") or {}).get(default, "?")
            found.append(Diagnosis("prompts", f"default prompt {default!r} ({text!r}) is no longer applied: "
                                              "texts now embed exactly as without a prompt"))
    # 2. Explicit prompt_name: encoded with the prompt, the texts must differ from the bare texts.
    exp_p, act_p = expected.sets.get("prompted"), actual.sets.get("prompted")
    if exp_p is not None and act_p is not None and exp_p.rows == act_p.rows and exp_p.values.shape == act_p.values.shape:
        bare_p = _rows(expected, "unprompted", exp_p.rows)
        if bare_p is not None and _min_cos(exp_p.values, bare_p) < same and _min_cos(act_p.values, bare_p) >= same:
            names = sorted({p for p in exp_p.prompts if p})
            found.append(Diagnosis("prompts", f"prompts ignored: texts encoded with prompt_name {', '.join(names)} "
                                              "now embed exactly as the bare texts"))
        elif _min_cos(exp_p.values, act_p.values) < same and "main" in expected.sets:
            inc_e, inc_a = expected.pipeline.get("include_prompt"), actual.pipeline.get("include_prompt")
            if inc_e != inc_a:
                found.append(Diagnosis("prompts", f"Pooling include_prompt {inc_e} -> {inc_a}: prompt tokens are "
                                                  "pooled differently"))
    return found


def _diagnose_dimension(expected: "Fingerprint", actual: "Fingerprint", metrics: Metrics) -> list[Diagnosis]:
    d0, d1 = metrics.dim_expected, metrics.dim_actual
    e, a = expected.main, actual.main
    trunc_e, trunc_a = expected.pipeline.get("truncate_dim"), actual.pipeline.get("truncate_dim")
    if d1 > d0 and _min_cos(unit_rows(a[:, :d0]), e) >= 0.999:
        return [Diagnosis("truncate_dim", f"dimension {d0} -> {d1}, and the first {d0} values still match: "
                                          f"truncate_dim={trunc_e or d0} is not applied (loader truncate_dim: {trunc_a})")]
    if d1 < d0 and _min_cos(unit_rows(e[:, :d1]), a) >= 0.999:
        return [Diagnosis("truncate_dim", f"dimension {d0} -> {d1}: embeddings are now truncated "
                                          f"(truncate_dim {trunc_e} -> {trunc_a})")]
    mods_e, mods_a = expected.pipeline.get("modules"), actual.pipeline.get("modules")
    extra = f" (modules {mods_e} -> {mods_a})" if mods_e != mods_a else ""
    return [Diagnosis("dimension", f"dimension {d0} -> {d1}: the output layer changed, e.g. a Dense module "
                                   f"lost or added{extra}")]


def _diagnose_moved(expected: "Fingerprint", metrics: Metrics, t: Thresholds) -> list[Diagnosis]:
    """Which kinds of text moved: if they share a tag, say so."""
    if not metrics.row_cosines:
        return []
    moved = [i for i, c in enumerate(metrics.row_cosines) if c < t.moved_cosine]
    if not moved or len(moved) == metrics.rows:
        return [Diagnosis("moved_texts", f"{len(moved)} of {metrics.rows} texts moved (cosine < {t.moved_cosine})",
                          cause=False)] if moved else []
    entries = expected.corpus.entries
    shared = set(entries[moved[0]].tags)
    for i in moved[1:]:
        shared &= set(entries[i].tags)
    prompted = all(entries[i].prompt for i in moved)
    if prompted:
        return [Diagnosis("prompts", f"only texts that carry a prompt moved ({len(moved)} of {metrics.rows}): "
                                     "the prompt is applied or pooled differently")]
    if "long" in shared:
        return [Diagnosis("max_seq_length", f"only texts longer than max_seq_length moved ({len(moved)}): "
                                            f"max_seq_length {expected.pipeline.get('max_seq_length')} changed?")]
    tag = f" (all tagged {', '.join(sorted(shared))})" if shared else ""
    return [Diagnosis("moved_texts", f"{len(moved)} of {metrics.rows} texts moved{tag}", cause=False)]


_PIPELINE_KEYS = (("modules", "modules"), ("pooling_mode", "pooling"), ("include_prompt", "prompts"),
                  ("normalize", "normalize"), ("truncate_dim", "truncate_dim"), ("prompts", "prompts"),
                  ("default_prompt_name", "prompts"), ("max_seq_length", "max_seq_length"),
                  ("similarity_fn_name", "similarity"))


def _comparable(pipeline: Mapping[str, Any]) -> dict[str, Any]:
    """Fill what an older release leaves unset with the behaviour it has (not a difference to report)."""
    out = dict(pipeline)
    if out.get("include_prompt") is None:
        out["include_prompt"] = True  # before 2.4 pooling always includes the prompt tokens
    if out.get("similarity_fn_name") is None:
        out["similarity_fn_name"] = "cosine"  # the default since 3.0; it never changes embeddings
    return out


def _diff_dict(a: Mapping[str, Any], b: Mapping[str, Any]) -> list[str]:
    return [f"{k} {a.get(k)} -> {b.get(k)}" for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]


def diagnose(expected: "Fingerprint", actual: "Fingerprint", set_metrics: Mapping[str, Metrics], t: Thresholds,
             verdict: Band) -> tuple[Diagnosis, ...]:
    """Causes (from the embeddings, then from what the loader built), then context."""
    main = set_metrics["main"]
    causes: list[Diagnosis] = []
    if not verdict.acceptable:
        if main.dim_expected != main.dim_actual:
            causes += _diagnose_dimension(expected, actual, main)
        else:
            unit_e = _unit(main.norm_expected, t.norm_tolerance)
            unit_a = _unit(main.norm_actual, t.norm_tolerance)
            if unit_e and not unit_a:
                causes.append(Diagnosis("normalize", "embeddings are no longer unit length (norms "
                                        f"{main.norm_actual[0]:.4g}..{main.norm_actual[1]:.4g}): Normalize is lost"))
            elif unit_a and not unit_e:
                causes.append(Diagnosis("normalize", "embeddings are now unit length: a Normalize step was added"))
        causes += _diagnose_prompts(expected, actual, t)
        if not any(d.kind == "prompts" for d in causes):
            causes += _diagnose_moved(expected, main, t)
    bare = set_metrics.get("unprompted")
    if bare is not None and bare.min_cosine is not None and bare.min_cosine < t.moved_cosine:
        causes.append(Diagnosis("prompts", f"texts encoded with an empty prompt (prompt=\"\") moved (min cosine "
                                           f"{bare.min_cosine:.6f}); include_prompt={expected.pipeline.get('include_prompt')}: "
                                           "this release pools bare texts differently (not counted in the verdict)",
                                cause=False))
    # What the loader built, as recorded on both sides.
    pe, pa = _comparable(expected.pipeline), _comparable(actual.pipeline)
    for key, kind in _PIPELINE_KEYS:
        if pe.get(key) != pa.get(key):
            text = {"pooling_mode": "pooling", "normalize": "Normalize module"}.get(key, key)
            causes.append(Diagnosis(kind, f"{text}: {pe.get(key)} -> {pa.get(key)} (as built by the loader)",
                                    cause=not verdict.acceptable))
    se, sa = dict(expected.settings), dict(actual.settings)
    if se.get("precision") != sa.get("precision"):
        causes.append(Diagnosis("precision", f"encoded in {sa.get('precision')}, fingerprint in {se.get('precision')}: "
                                             "reduced precision alone moves values by 1e-4 to 1e-2", cause=verdict is not Band.IDENTICAL))
    other = _diff_dict({k: v for k, v in se.items() if k != "precision"}, {k: v for k, v in sa.items() if k != "precision"})
    if other:
        causes.append(Diagnosis("settings", "encode settings differ: " + "; ".join(other), cause=False))
    files_e, files_a = expected.model.get("files") or {}, actual.model.get("files") or {}
    changed = sorted(n for n in set(files_e) | set(files_a) if files_e.get(n) != files_a.get(n))
    if changed:
        causes.append(Diagnosis("model_files", "model files differ from the fingerprinted folder: " + ", ".join(changed),
                                cause=not verdict.acceptable))
    env_e = {"python": expected.environment.get("python"), **(expected.environment.get("packages") or {})}
    env_a = {"python": actual.environment.get("python"), **(actual.environment.get("packages") or {})}
    env_diff = _diff_dict(env_e, env_a)
    if env_diff:
        causes.append(Diagnosis("environment", "environment: " + "; ".join(env_diff), cause=False))
    if expected.environment.get("device") != actual.environment.get("device"):
        causes.append(Diagnosis("environment", f"device {expected.environment.get('device')} -> "
                                               f"{actual.environment.get('device')}", cause=False))
    # Causes first (stable order within each group).
    return tuple([d for d in causes if d.cause] + [d for d in causes if not d.cause])
