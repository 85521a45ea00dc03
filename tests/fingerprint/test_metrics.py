"""Pure-numpy metrics: checked against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from stcompat.fingerprint.metrics import compare_matrices, rankdata, spearman, topk_agreement


def _spearman_by_d2(a: list[float], b: list[float]) -> float:
    """Independent formula for untied data: 1 - 6 * sum(d^2) / (n (n^2 - 1)), ranks by sorting."""
    rank_a = {v: i + 1 for i, v in enumerate(sorted(a))}
    rank_b = {v: i + 1 for i, v in enumerate(sorted(b))}
    assert len(rank_a) == len(a) and len(rank_b) == len(b), "formula needs untied data"
    n = len(a)
    d2 = sum((rank_a[x] - rank_b[y]) ** 2 for x, y in zip(a, b))
    return 1 - 6 * d2 / (n * (n * n - 1))


def _on_circle(degrees: list[float], norms: list[float]) -> np.ndarray:
    """2-D rows at these angles with these lengths."""
    return np.array([[r * math.cos(math.radians(d)), r * math.sin(math.radians(d))] for d, r in zip(degrees, norms)])


def test_rankdata_averages_ties():
    assert rankdata(np.array([10.0, 20.0, 10.0, 30.0])).tolist() == [1.5, 3.0, 1.5, 4.0]
    assert rankdata(np.array([5.0, 5.0, 5.0])).tolist() == [2.0, 2.0, 2.0]


def test_spearman_monotone_and_reversed():
    x = np.array([0.1, 0.5, 0.2, 0.9])
    assert spearman(x, x ** 3) == pytest.approx(1.0)
    assert spearman(x, -x) == pytest.approx(-1.0)
    # Hand-computed: ranks [1,2,3,4] vs [2,1,4,3], d^2 sum 4 -> 1 - 6*4/(4*15) = 0.6
    assert spearman(np.array([1.0, 2, 3, 4]), np.array([2.0, 1, 4, 3])) == pytest.approx(0.6)
    # With ties: average ranks [1.5,1.5,3,4] vs [1,2,3,4], centred [-1,-1,.5,1.5] and [-1.5,-.5,.5,1.5];
    # Pearson of the ranks = 4.5 / sqrt(4.5 * 5) = 3 / sqrt(10)
    assert spearman(np.array([1.0, 1, 2, 3]), np.array([1.0, 2, 3, 4])) == pytest.approx(3 / math.sqrt(10))
    # Degenerate inputs: constant and equal -> 1, constant and different -> 0, one value -> 1.
    assert spearman(np.array([2.0, 2.0]), np.array([2.0, 2.0])) == 1.0
    assert spearman(np.array([2.0, 2.0]), np.array([1.0, 3.0])) == 0.0
    assert spearman(np.array([1.0]), np.array([9.0])) == 1.0


_SIM = np.array([[1, .9, .9, .1], [.9, 1, .5, .2], [.9, .5, 1, .3], [.1, .2, .3, 1]], dtype=float)


def _with(sim: np.ndarray, i: int, j: int, value: float) -> np.ndarray:
    out = sim.copy()
    out[i, j] = out[j, i] = value
    return out


def test_topk_agreement_exact_shares():
    assert topk_agreement(_SIM, _SIM, 1) == 1.0
    # Row 0's nearest becomes text 3 (0.95 > 0.9): row 0 loses its neighbour (1 or 2), and row 3's
    # nearest (text 2, 0.3) is no longer its nearest (text 0, 0.95). Rows 1 and 2 keep text 0: 2/4.
    assert topk_agreement(_SIM, _with(_SIM, 0, 3, 0.95), 1) == 0.5
    # k=2: row 0's top two are now {3, 1 or 2}, but 1 and 2 tie at the 2nd place (0.9), so both count
    # as kept; rows 1 and 2 are unchanged; row 3 keeps text 2 (0.3) but loses text 1 (0.2): 3.5/4.
    assert topk_agreement(_SIM, _with(_SIM, 0, 3, 0.95), 2) == 0.875
    # k is capped at n - 1: with k=10 every row keeps all three others.
    assert topk_agreement(_SIM, _with(_SIM, 0, 3, 0.95), 10) == 1.0


def test_topk_agreement_counts_ties_within_1e_6_as_kept():
    # Row 0 has a tie (texts 1 and 2 at 0.9); which one argpartition calls "nearest" is arbitrary,
    # so break the tie both ways. Within 1e-6 (tie kept) both ways agree fully...
    for sign in (1, -1):
        nudged = _with(_with(_SIM, 0, 1, .9 + sign * 2e-7), 0, 2, .9 - sign * 2e-7)
        assert topk_agreement(_SIM, nudged, 1) == 1.0
    # ...beyond it, exactly one of the two directions loses row 0's neighbour: 3/4.
    shares = sorted(topk_agreement(_SIM, _with(_with(_SIM, 0, 1, .9 + s * 1e-3), 0, 2, .9 - s * 1e-3), 1)
                    for s in (1, -1))
    assert shares == [0.75, 1.0]


def test_identical_matrices():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(20, 8)).astype(np.float32)
    m = compare_matrices(x, x.copy())
    assert m.max_abs_diff == 0.0 and m.min_cosine == pytest.approx(1.0) and m.mean_cosine == pytest.approx(1.0)
    assert m.topk_agreement == 1.0 and m.spearman == pytest.approx(1.0)
    assert (m.rows, m.dim_expected, m.dim_actual, m.topk) == (20, 8, 8, 5)
    assert m.norm_expected == m.norm_actual
    norms = np.linalg.norm(x.astype(np.float64), axis=1)
    assert m.norm_expected == pytest.approx((norms.min(), norms.max()))


def test_same_dimension_known_differences():
    # Texts at 0, 20, 50, 110 degrees; now text 3 is rotated by 10 degrees (to 120) and text 0 is
    # twice as long. Rotation moves (cos 110, sin 110) by 2 sin(5deg) in total; the largest single
    # coordinate change is max(|cos120 - cos110|, |sin120 - sin110|). Scaling keeps the cosine at 1
    # but changes the values of row 0 by its own coordinates (1, 0): |2 - 1| = 1.
    expected = _on_circle([0, 20, 50, 110], [1, 1, 1, 1])
    actual = _on_circle([0, 20, 50, 120], [2, 1, 1, 1])
    m = compare_matrices(expected, actual, k=1)
    assert m.max_abs_diff == pytest.approx(1.0)
    assert m.row_cosines == pytest.approx((1.0, 1.0, 1.0, math.cos(math.radians(10))))
    assert m.min_cosine == pytest.approx(math.cos(math.radians(10)))
    assert m.mean_cosine == pytest.approx((3 + math.cos(math.radians(10))) / 4)
    assert m.norm_expected == pytest.approx((1.0, 1.0)) and m.norm_actual == pytest.approx((1.0, 2.0))
    # Pairwise angles 20,50,110,30,90,60 -> 20,50,120,30,100,70: the order of the similarities is
    # unchanged, so the ranks agree exactly, and so do the nearest neighbours.
    assert m.spearman == pytest.approx(1.0) and m.topk_agreement == 1.0

    small = compare_matrices(expected, expected + np.array([[0, 0], [0, 0], [0, 0], [0, 3e-3]]))
    assert small.max_abs_diff == pytest.approx(3e-3)


def test_dimension_change_keeps_rank_metrics():
    # Recorded: 2-D rows at 0, 20, 50, 110 degrees (pairwise angles, in triu order (0,1) (0,2) (0,3)
    # (1,2) (1,3) (2,3): 20, 50, 110, 30, 90, 60). Now: 3-D rows, the same texts at 0, 40, 55, 100
    # degrees in a plane turned out of the axes, with lengths that vary (cosines ignore them):
    # pairwise angles 40, 55, 100, 15, 60, 45. Ranks of the similarities (ascending cosine =
    # descending angle): recorded 6,4,1,5,2,3; now 5,3,1,6,2,4; d^2 = 1+1+0+1+0+1 = 4, so
    # Spearman = 1 - 6*4/(6*35) = 31/35.
    expected_angles, actual_angles = [0, 20, 50, 110], [0, 40, 55, 100]
    expected = _on_circle(expected_angles, [1, 2, 3, 4])
    flat = np.hstack([_on_circle(actual_angles, [0.5, 1, 1.5, 3]), np.zeros((4, 1))])
    c, s = math.cos(0.7), math.sin(0.7)
    turn = np.array([[1, 0, 0], [0, c, -s], [0, s, c]]) @ np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])
    actual = flat @ turn.T
    assert np.count_nonzero(np.abs(actual) < 1e-9) == 0  # truly 3-D: no zero coordinate

    m = compare_matrices(expected, actual, k=1)
    assert (m.rows, m.dim_expected, m.dim_actual) == (4, 2, 3)
    assert m.max_abs_diff is None and m.mean_cosine is None and m.min_cosine is None and m.row_cosines == ()
    assert m.norm_expected == pytest.approx((1.0, 4.0)) and m.norm_actual == pytest.approx((0.5, 3.0))
    assert m.spearman == pytest.approx(31 / 35)
    pairs = [(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)]
    cos = lambda angles: [math.cos(math.radians(abs(angles[i] - angles[j]))) for i, j in pairs]  # noqa: E731
    assert m.spearman == pytest.approx(_spearman_by_d2(cos(expected_angles), cos(actual_angles)))
    # Nearest neighbours (k=1): recorded 0->1, 1->0, 2->1, 3->2; now 0->1, 1->2, 2->1, 3->2: 3 of 4 kept.
    assert m.topk_agreement == 0.75

    # Truncation that keeps the ranking (the leading dims of a rotation-free embedding): rank metrics 1.
    rng = np.random.default_rng(1)
    x = rng.normal(size=(20, 8))
    x[:, 4:] *= 1e-9  # the extra dims carry (almost) nothing, so truncation changes no similarity order
    t = compare_matrices(x[:, :4], x)
    assert t.spearman == pytest.approx(1.0) and t.topk_agreement == 1.0 and t.max_abs_diff is None


def test_row_count_mismatch_is_an_error():
    with pytest.raises(ValueError, match="row counts differ: 3 vs 4"):
        compare_matrices(np.ones((3, 2)), np.ones((4, 2)))


def test_identical_zero_rows_agree_and_a_zero_row_against_a_vector_does_not():
    # An empty text through StaticEmbedding embeds as the zero vector: against itself it is identical.
    x = np.array([[0.0, 0.0], [1.0, 0.0]])
    m = compare_matrices(x, x.copy())
    assert m.row_cosines == (1.0, 1.0) and m.min_cosine == 1.0 and m.max_abs_diff == 0.0
    moved = np.array([[0.0, 1.0], [1.0, 0.0]])
    assert compare_matrices(x, moved).row_cosines == (0.0, 1.0)
