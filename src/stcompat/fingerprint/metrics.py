"""Distances between two embedding matrices of the same texts. Pure numpy (no scipy: old envs lack it)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

_EPS = 1e-12
# Similarities this close count as tied in the neighbour test: texts such as "THE CAT" and
# "the cat" embed identically in uncased models, and noise must not break such ties into a change.
_TIE = 1e-6


@dataclass(frozen=True)
class Metrics:
    """How far ``actual`` is from ``expected`` (rows are the same texts in the same order)."""

    rows: int
    """Number of texts compared."""
    dim_expected: int
    """Embedding dimension recorded."""
    dim_actual: int
    """Embedding dimension now."""
    max_abs_diff: float | None
    """Largest absolute difference of any value; None when the dimensions differ."""
    mean_cosine: float | None
    """Mean row-wise cosine similarity; None when the dimensions differ."""
    min_cosine: float | None
    """Smallest row-wise cosine similarity; None when the dimensions differ."""
    norm_expected: tuple[float, float]
    """(min, max) row norm recorded."""
    norm_actual: tuple[float, float]
    """(min, max) row norm now."""
    topk: int
    """k of the neighbour test."""
    topk_agreement: float
    """Mean share of each text's k nearest neighbours (cosine, within the corpus) that are still among
    its k nearest; ties within 1e-6 count as kept. Works across dimension changes."""
    spearman: float
    """Spearman rank correlation of all pairwise cosine similarities, recorded vs now."""
    row_cosines: tuple[float, ...] = ()
    """Cosine of each row (empty when the dimensions differ)."""

    def as_dict(self) -> dict[str, object]:
        """JSON form (row cosines left out)."""
        return {
            "rows": self.rows, "dim_expected": self.dim_expected, "dim_actual": self.dim_actual,
            "max_abs_diff": self.max_abs_diff, "mean_cosine": self.mean_cosine, "min_cosine": self.min_cosine,
            "norm_expected": list(self.norm_expected), "norm_actual": list(self.norm_actual),
            "topk": self.topk, "topk_agreement": self.topk_agreement, "spearman": self.spearman,
        }


def unit_rows(x: "np.ndarray") -> "np.ndarray":
    """Rows scaled to length 1 (zero rows stay zero)."""
    import numpy as np

    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(norms, _EPS)


def row_cosines(a: "np.ndarray", b: "np.ndarray") -> "np.ndarray":
    """Cosine of each row of ``a`` with the same row of ``b`` (same shapes), computed in float64."""
    import numpy as np

    a64, b64 = unit_rows(a.astype(np.float64)), unit_rows(b.astype(np.float64))
    cosines = np.sum(a64 * b64, axis=1)
    # A zero vector has no direction: two identical zero rows (an empty text through StaticEmbedding)
    # agree perfectly, a zero row against a non-zero one does not agree at all.
    both_zero = ~a.any(axis=1) & ~b.any(axis=1)
    return np.where(both_zero, 1.0, cosines)


def rankdata(x: "np.ndarray") -> "np.ndarray":
    """Ranks from 1, ties get their average rank (scipy.stats.rankdata's default)."""
    import numpy as np

    order = np.argsort(x, kind="mergesort")
    ordered = x[order]
    new_group = np.concatenate(([True], ordered[1:] != ordered[:-1]))
    group = np.cumsum(new_group) - 1
    starts = np.flatnonzero(new_group)
    ends = np.concatenate((starts[1:], [len(x)]))
    average = (starts + ends - 1) / 2.0 + 1.0
    ranks = np.empty(len(x), dtype=np.float64)
    ranks[order] = average[group]
    return ranks


def spearman(a: "np.ndarray", b: "np.ndarray") -> float:
    """Spearman correlation of two equal-length vectors (1.0 when both are constant and equal)."""
    import numpy as np

    if len(a) < 2:
        return 1.0
    ra, rb = rankdata(a), rankdata(b)
    ra -= ra.mean()
    rb -= rb.mean()
    denom = float(np.sqrt((ra * ra).sum() * (rb * rb).sum()))
    if denom == 0.0:
        return 1.0 if np.array_equal(a, b) else 0.0
    return float((ra * rb).sum() / denom)


def _similarities(x: "np.ndarray") -> "np.ndarray":
    import numpy as np

    u = unit_rows(x.astype(np.float64))
    return u @ u.T


def topk_agreement(sim_expected: "np.ndarray", sim_actual: "np.ndarray", k: int) -> float:
    """Mean share of each row's k nearest neighbours (self excluded) kept, ties within _TIE kept."""
    import numpy as np

    n = sim_expected.shape[0]
    k = min(k, n - 1)
    if k < 1:
        return 1.0
    exp = sim_expected.copy()
    act = sim_actual.copy()
    np.fill_diagonal(exp, -np.inf)
    np.fill_diagonal(act, -np.inf)
    top_expected = np.argpartition(-exp, k - 1, axis=1)[:, :k]
    kth_actual = -np.partition(-act, k - 1, axis=1)[:, k - 1]
    kept = np.take_along_axis(act, top_expected, axis=1) >= (kth_actual[:, None] - _TIE)
    return float(kept.mean())


def compare_matrices(expected: "np.ndarray", actual: "np.ndarray", k: int = 5) -> Metrics:
    """Every metric of ``actual`` against ``expected`` (same rows; the dimensions may differ)."""
    import numpy as np

    if expected.shape[0] != actual.shape[0]:
        raise ValueError(f"row counts differ: {expected.shape[0]} vs {actual.shape[0]}")
    n_exp = np.linalg.norm(expected.astype(np.float64), axis=1)
    n_act = np.linalg.norm(actual.astype(np.float64), axis=1)
    same_dim = expected.shape[1] == actual.shape[1]
    cos = row_cosines(expected, actual) if same_dim else None
    sim_e, sim_a = _similarities(expected), _similarities(actual)
    upper = np.triu_indices(expected.shape[0], k=1)
    return Metrics(
        rows=int(expected.shape[0]), dim_expected=int(expected.shape[1]), dim_actual=int(actual.shape[1]),
        max_abs_diff=float(np.max(np.abs(expected - actual))) if same_dim and expected.size else (0.0 if same_dim else None),
        mean_cosine=float(cos.mean()) if cos is not None else None,
        min_cosine=float(cos.min()) if cos is not None else None,
        norm_expected=(float(n_exp.min()), float(n_exp.max())),
        norm_actual=(float(n_act.min()), float(n_act.max())),
        topk=k, topk_agreement=topk_agreement(sim_e, sim_a, k),
        spearman=spearman(sim_e[upper], sim_a[upper]),
        row_cosines=tuple(float(c) for c in cos) if cos is not None else (),
    )
