"""Pure-numpy metrics: checked against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from stcompat.fingerprint.metrics import compare_matrices, rankdata, spearman, topk_agreement


def test_rankdata_averages_ties():
    assert rankdata(np.array([10.0, 20.0, 10.0, 30.0])).tolist() == [1.5, 3.0, 1.5, 4.0]


def test_spearman_monotone_and_reversed():
    x = np.array([0.1, 0.5, 0.2, 0.9])
    assert spearman(x, x ** 3) == pytest.approx(1.0)
    assert spearman(x, -x) == pytest.approx(-1.0)
    # Hand-computed: ranks [1,2,3,4] vs [2,1,4,3], d^2 sum 4 -> 1 - 6*4/(4*15) = 0.6
    assert spearman(np.array([1.0, 2, 3, 4]), np.array([2.0, 1, 4, 3])) == pytest.approx(0.6)


def test_topk_agreement_counts_ties_as_kept():
    sim = np.array([[1, .9, .9, .1], [.9, 1, .5, .2], [.9, .5, 1, .3], [.1, .2, .3, 1]], dtype=float)
    assert topk_agreement(sim, sim, 1) == 1.0
    swapped = sim.copy()
    swapped[0, 3] = swapped[3, 0] = 0.95  # row 0's nearest is now text 3
    assert topk_agreement(sim, swapped, 1) < 1.0


def test_identical_matrices():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(20, 8)).astype(np.float32)
    m = compare_matrices(x, x.copy())
    assert m.max_abs_diff == 0.0 and m.min_cosine == pytest.approx(1.0)
    assert m.topk_agreement == 1.0 and m.spearman == pytest.approx(1.0)


def test_dimension_change_keeps_rank_metrics():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(20, 8)).astype(np.float32)
    m = compare_matrices(x[:, :4], x)
    assert m.max_abs_diff is None and m.min_cosine is None
    assert (m.dim_expected, m.dim_actual) == (4, 8)
    assert -1.0 <= m.spearman <= 1.0
