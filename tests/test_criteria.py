"""The classic split criteria and class histograms on every backend: hand-computed known answers,
the NumPy reference, properties (hypothesis), bad input."""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import bagu_fast.trees as bt

from .conftest import assert_close, sim_small
from .trees_helpers import CRITERIA
from .trees_helpers import entropy_bits as _h


# ----------------------------------------------------------------------------------------------
# known answers (the textbook formulas, computed by hand)
# ----------------------------------------------------------------------------------------------
# The textbook watermelon data set: 17 melons, 8 good / 9 bad; "texture = clear" holds 7 good and
# 2 bad, the other textures 1 good and 7 bad.  Columns: (good, bad).
MELON_L = [7, 2]
MELON_R = [1, 7]


def test_known_answers_binary_split_watermelon(backend):
    left = np.array([MELON_L])
    right = np.array([MELON_R])
    # Ent(D) = -(8/17 log2 8/17 + 9/17 log2 9/17) = 0.99750 (0.998 to three digits)
    ent_d = _h(8 / 17, 9 / 17)
    assert abs(ent_d - 0.99750) < 1e-5
    # Gain = Ent(D) - 9/17 Ent(7/9, 2/9) - 8/17 Ent(1/8, 7/8) = 0.997503 - 0.404579 - 0.255795
    gain = bt.split_criterion(left, right, criterion="entropy", backend=backend)
    assert abs(gain[0] - 0.337129) < 1e-6
    # IV = Ent(9/17, 8/17) = 0.997503, gain ratio = 0.337129 / 0.997503 = 0.337973
    ratio = bt.split_criterion(left, right, criterion="gain_ratio", backend=backend)
    assert abs(ratio[0] - 0.337973) < 1e-6
    # Gini(D) = 1 - (8/17)^2 - (9/17)^2 = 144/289; children 28/81 and 14/64
    gini = bt.split_criterion(left, right, criterion="gini", backend=backend)
    assert abs(gini[0] - (144 / 289 - 9 / 17 * 28 / 81 - 8 / 17 * 14 / 64)) < 1e-12
    assert abs(gini[0] - 0.212322) < 1e-6


def test_known_answer_table(backend):
    """A table of splits with hand-computed gains: (left, right, gini, entropy, gain ratio)."""
    table = [
        # a perfect split of 5 / 5: Gini 0.5 -> 0, H 1 -> 0, IV = 1
        ([5, 0], [0, 5], 0.5, 1.0, 1.0),
        # no information: children have the parent's distribution
        ([2, 2], [3, 3], 0.0, 0.0, 0.0),
        # an empty side is no split
        ([0, 0], [4, 6], 0.0, 0.0, 0.0),
        # three classes: parent (2, 2, 2), left (2, 0, 0), right (0, 2, 2)
        #   Gini: 2/3 - 4/6 * 1/2 = 1/3; H: log2 3 - 4/6 * 1 = 0.918296; IV = H(1/3, 2/3) = 0.918296
        ([2, 0, 0], [0, 2, 2], 1 / 3, math.log2(3) - 2 / 3, (math.log2(3) - 2 / 3) / _h(1 / 3, 2 / 3)),
        # 1 vs 3: parent (2, 2); left (1, 0), right (1, 2)
        #   Gini: 1/2 - 3/4 * 4/9 = 1/6; H: 1 - 3/4 H(1/3, 2/3) = 0.311278; IV = H(1/4, 3/4) = 0.811278
        ([1, 0], [1, 2], 1 / 6, 1 - 0.75 * _h(1 / 3, 2 / 3), (1 - 0.75 * _h(1 / 3, 2 / 3)) / _h(0.25, 0.75)),
    ]
    assert abs(table[3][3] - 0.918296) < 1e-6 and abs(table[4][3] - 0.311278) < 1e-6
    for left, right, gini, ent, ratio in table:
        L = np.array([left], dtype=np.int64)
        R = np.array([right], dtype=np.int64)
        for crit, expected in (("gini", gini), ("entropy", ent), ("gain_ratio", ratio)):
            got = bt.split_criterion(L, R, criterion=crit, backend=backend)
            assert abs(float(got[0]) - expected) < 1e-12, (left, right, crit, float(got[0]), expected)


def test_known_answer_mse(backend):
    # y = 1, 2, 3 | 10, 11, 12: MSE(D) = 125.5 / 6, children 2/3 each: gain = 20.25
    got = bt.split_gain_mse(np.array([6.0]), np.array([3.0]), np.array([33.0]), np.array([3.0]), backend=backend)
    assert abs(got[0] - 20.25) < 1e-12
    y = np.array([1, 2, 3, 10, 11, 12.0])
    assert abs(y.var() - (y[:3].var() + y[3:].var()) / 2 - 20.25) < 1e-12
    # empty side: 0
    got = bt.split_gain_mse(np.array([0.0, 5.0]), np.array([0.0, 2.0]), np.array([4.0, 5.0]), np.array([2.0, 2.0]),
                            backend=backend)
    assert got[0] == 0.0 and got[1] == 0.0


def test_class_histogram_known_answer(backend):
    binned = np.array([[0, 2], [1, 2], [1, 0], [0, 1]], dtype=np.uint8)
    y = np.array([0, 1, 1, 0])
    h = bt.build_class_histogram(binned, y, 2, n_bins=3, backend=backend)
    assert h.dtype == np.int64 and h.shape == (2, 3, 2)
    np.testing.assert_array_equal(h[0], [[2, 0], [0, 2], [0, 0]])
    np.testing.assert_array_equal(h[1], [[0, 1], [1, 0], [1, 1]])
    h = bt.build_class_histogram(binned, y, 2, np.array([3, 3, 1]), n_bins=3, backend=backend)  # repeats count
    np.testing.assert_array_equal(h[0], [[2, 0], [0, 1], [0, 0]])


# ----------------------------------------------------------------------------------------------
# every backend against the reference
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("n,n_features,n_bins,n_classes", [(0, 3, 4, 2), (1, 1, 1, 1), (37, 3, 7, 3), (200, 5, 256, 4)])
def test_class_histogram_matches_reference(fast_backend, rng, n, n_features, n_bins, n_classes):
    if fast_backend == "cuda":
        n = sim_small(n, min(n, 40))
    binned = rng.integers(0, n_bins, (n, n_features)).astype(np.uint8)
    y = rng.integers(0, n_classes, n)
    expected = bt.build_class_histogram(binned, y, n_classes, n_bins=n_bins, backend="reference")
    got = bt.build_class_histogram(binned, y, n_classes, n_bins=n_bins, backend=fast_backend)
    np.testing.assert_array_equal(got, expected)
    assert got.dtype == np.int64
    if n:
        idx = rng.integers(0, n, 2 * n + 1)
        np.testing.assert_array_equal(
            bt.build_class_histogram(binned, y, n_classes, idx, n_bins=n_bins, backend=fast_backend),
            bt.build_class_histogram(binned, y, n_classes, idx, n_bins=n_bins, backend="reference"))
    w = rng.random(n)
    w0 = w.copy()
    got = bt.build_class_histogram(binned, y, n_classes, n_bins=n_bins, sample_weight=w, backend=fast_backend)
    expected = bt.build_class_histogram(binned, y, n_classes, n_bins=n_bins, sample_weight=w, backend="reference")
    assert got.dtype == np.float64
    assert_close(got, expected)
    np.testing.assert_array_equal(w, w0)
    # integer-valued weights: float sums are exact whatever the order
    wi = rng.integers(0, 4, n).astype(np.float64)
    np.testing.assert_array_equal(
        bt.build_class_histogram(binned, y, n_classes, n_bins=n_bins, sample_weight=wi, backend=fast_backend),
        bt.build_class_histogram(binned, y, n_classes, n_bins=n_bins, sample_weight=wi, backend="reference"))


@pytest.mark.parametrize("criterion", CRITERIA)
@pytest.mark.parametrize("count_dtype", [np.int64, np.int32, np.float32, np.float64])
def test_split_criterion_matches_reference(fast_backend, rng, criterion, count_dtype):
    shape = (3, sim_small(17, 5), 3)
    left = rng.integers(0, 6, shape).astype(count_dtype)
    right = rng.integers(0, 6, shape).astype(count_dtype)
    left[0, 0] = 0  # an empty side
    if np.dtype(count_dtype).kind == "f":
        left = left * count_dtype(0.37)
        right = right * count_dtype(1.3)
    l0, r0 = left.copy(), right.copy()
    expected = bt.split_criterion(left, right, criterion=criterion, backend="reference")
    got = bt.split_criterion(left, right, criterion=criterion, backend=fast_backend)
    out_dtype = np.float32 if count_dtype == np.float32 else np.float64
    assert got.dtype == expected.dtype == out_dtype and got.shape == shape[:2]
    assert_close(got, expected, np.float64 if out_dtype == np.float64 else np.float32)
    assert got[0, 0] == 0.0 and np.all(got >= 0)
    np.testing.assert_array_equal(left, l0)
    np.testing.assert_array_equal(right, r0)


def test_split_criterion_edge_shapes(backend):
    # no candidates; one class; a single candidate without leading dimensions
    assert bt.split_criterion(np.zeros((0, 2)), np.zeros((0, 2)), criterion="gini", backend=backend).shape == (0,)
    one = bt.split_criterion(np.array([[3]]), np.array([[4]]), criterion="entropy", backend=backend)
    assert one.shape == (1,) and one[0] == 0.0
    scalar = bt.split_criterion(np.array([5, 0]), np.array([0, 5]), criterion="gini", backend=backend)
    assert np.shape(scalar) == () and abs(float(scalar) - 0.5) < 1e-12


def test_split_gain_mse_matches_reference(fast_backend, rng, dtype):
    m = sim_small(101, 9)
    sL = rng.standard_normal(m).astype(dtype) * 10
    sR = rng.standard_normal(m).astype(dtype) * 10
    nL = rng.integers(0, 5, m).astype(np.float64)
    nR = rng.integers(1, 5, m).astype(np.float64)
    expected = bt.split_gain_mse(sL, nL, sR, nR, backend="reference")
    got = bt.split_gain_mse(sL, nL, sR, nR, backend=fast_backend)
    assert got.dtype == dtype == expected.dtype
    assert_close(got, expected, dtype)
    assert np.all(got[nL == 0] == 0)


def test_vectorised_criterion_equals_brute_force(rng):
    """The module docstring's recipe: cumulative class histograms score every threshold."""
    binned = rng.integers(0, 9, (300, 4)).astype(np.uint8)
    y = rng.integers(0, 3, 300)
    hist = bt.build_class_histogram(binned, y, 3, n_bins=9)
    left = np.cumsum(hist, axis=1)[:, :-1]
    right = hist.sum(axis=1, keepdims=True) - left
    gains = bt.split_criterion(left, right, criterion="entropy")
    for f, b in ((0, 0), (2, 4), (3, 7)):
        go = binned[:, f] <= b
        pl = np.bincount(y[go], minlength=3) / go.sum()
        pr = np.bincount(y[~go], minlength=3) / (~go).sum()
        p = np.bincount(y, minlength=3) / 300
        expected = _h(*p) - go.mean() * _h(*pl) - (1 - go.mean()) * _h(*pr)
        assert abs(gains[f, b] - expected) < 1e-12


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 9), st.integers(0, 9), st.integers(0, 9)), min_size=2, max_size=2),
       st.sampled_from(CRITERIA), st.sampled_from(["reference", "cpu"]))
def test_criterion_properties(pair, criterion, backend):
    """Symmetric in the two children, invariant to relabelling the classes, 0 <= gain <=
    I(parent), and gain ratio = information gain / IV."""
    L = np.array([pair[0]], dtype=np.int64)
    R = np.array([pair[1]], dtype=np.int64)
    g = bt.split_criterion(L, R, criterion=criterion, backend=backend)[0]
    assert abs(g - bt.split_criterion(R, L, criterion=criterion, backend=backend)[0]) < 1e-12
    perm = [2, 0, 1]
    assert abs(g - bt.split_criterion(L[:, perm], R[:, perm], criterion=criterion, backend=backend)[0]) < 1e-12
    P = (L + R)[0] / max((L + R).sum(), 1)
    parent = 1 - np.sum(P ** 2) if criterion == "gini" else _h(*P)
    nl, nr = L.sum(), R.sum()
    assert g >= 0
    if criterion == "gain_ratio":
        if nl and nr:
            info = bt.split_criterion(L, R, criterion="entropy", backend=backend)[0]
            assert abs(g - info / _h(nl / (nl + nr), nr / (nl + nr))) < 1e-12
        else:
            assert g == 0
    else:
        assert g <= parent + 1e-12


def test_bad_kernel_input(rng):
    b = rng.integers(0, 4, (10, 2)).astype(np.uint8)
    y = rng.integers(0, 2, 10)
    with pytest.raises(TypeError, match="binned"):
        bt.build_class_histogram(b.astype(np.int64), y, 2)
    with pytest.raises(ValueError, match="binned"):
        bt.build_class_histogram(b[:, 0], y, 2)
    with pytest.raises(ValueError, match="n_bins"):
        bt.build_class_histogram(b, y, 2, n_bins=3)  # code 3 >= n_bins
    with pytest.raises(ValueError, match="n_bins"):
        bt.build_class_histogram(b, y, 2, n_bins=257)
    with pytest.raises(ValueError, match="y_codes"):
        bt.build_class_histogram(b, y + 1, 2)
    with pytest.raises(ValueError, match="y_codes"):
        bt.build_class_histogram(b, y[:-1], 2)
    with pytest.raises(TypeError, match="y_codes"):
        bt.build_class_histogram(b, y.astype(float), 2)
    with pytest.raises(ValueError, match="n_classes"):
        bt.build_class_histogram(b, y, 0)
    with pytest.raises(ValueError, match="sample_indices"):
        bt.build_class_histogram(b, y, 2, np.array([0, 10]))
    with pytest.raises(ValueError, match="sample_indices"):
        bt.build_class_histogram(b, y, 2, np.array([-1]))
    with pytest.raises(ValueError, match="sample_weight"):
        bt.build_class_histogram(b, y, 2, sample_weight=-np.ones(10))
    with pytest.raises(ValueError, match="sample_weight"):
        bt.build_class_histogram(b, y, 2, sample_weight=np.full(10, np.nan))
    L = np.array([[1, 2]])
    with pytest.raises(ValueError, match="criterion"):
        bt.split_criterion(L, L, criterion="misclassification")
    with pytest.raises(ValueError, match="class_counts_left"):
        bt.split_criterion(-L, L, criterion="gini")
    with pytest.raises(ValueError, match="class_counts_right"):
        bt.split_criterion(L, np.array([[1.0, np.nan]]), criterion="gini")
    with pytest.raises(ValueError, match="shape"):
        bt.split_criterion(L, np.array([[1, 2, 3]]), criterion="gini")
    with pytest.raises(TypeError, match="class_counts_left"):
        bt.split_criterion(L.astype(bool), L, criterion="gini")
    with pytest.raises(ValueError, match="backend"):
        bt.split_criterion(L, L, criterion="gini", backend="gpu")
    s = np.array([1.0, 2.0])
    with pytest.raises(ValueError, match="count_left"):
        bt.split_gain_mse(s, -s, s, s)
    with pytest.raises(ValueError, match="sum_right"):
        bt.split_gain_mse(s, s, np.array([1.0, np.inf]), s)
    with pytest.raises(TypeError, match="sum_left"):
        bt.split_gain_mse(s.astype(int), s, s, s)
    with pytest.raises(ValueError, match="count_right"):
        bt.split_gain_mse(s, s, s, s[:1])
