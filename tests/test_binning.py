"""BinMapper: quantile thresholds and codes against NumPy, edge cases, bad input; sample weights
(scikit-learn's weighted percentiles and subsample); the cpu and reference kernels agree."""
from __future__ import annotations

import numpy as np
import pytest

from bagu_fast.trees import BinMapper

from .trees_helpers import needs_sklearn


# --------------------------------------------------------------------------------------------
# BinMapper
# --------------------------------------------------------------------------------------------
def _np_thresholds(col, max_bins):
    col = np.sort(col[~np.isnan(col)])
    distinct = np.unique(col)
    if len(distinct) <= 1:
        return np.zeros(0)
    if len(distinct) <= max_bins:
        t = (distinct[:-1] + distinct[1:]) / 2
    else:
        t = np.unique(np.percentile(col, np.linspace(0, 100, max_bins + 1)[1:-1], method="averaged_inverted_cdf"))
    return np.minimum(t, 1e300)


@pytest.mark.parametrize("max_bins", [2, 7, 255])
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_bin_mapper_matches_numpy(rng, max_bins, dtype):
    X = rng.standard_normal((1000, 4)).astype(dtype)
    X[:, 1] = rng.integers(0, 5, 1000)  # few distinct values: midpoints
    X[rng.random(X.shape) < 0.05] = np.nan
    X[3, 0], X[4, 0] = np.inf, -np.inf
    bm = BinMapper(max_bins=max_bins, subsample=None).fit(X)
    codes = bm.transform(X)
    assert codes.dtype == np.uint8 and codes.shape == X.shape and codes.flags.c_contiguous
    for f in range(4):
        col = X[:, f].astype(np.float64)
        expected = _np_thresholds(col, max_bins)
        np.testing.assert_array_equal(bm.bin_thresholds_[f], expected)
        assert bm.n_bins_non_missing_[f] == len(expected) + 1
        exp_codes = np.where(np.isnan(col), max_bins, np.searchsorted(expected, col, side="left"))
        np.testing.assert_array_equal(codes[:, f], exp_codes)
    assert codes[3, 0] == bm.n_bins_non_missing_[0] - 1 and codes[4, 0] == 0  # +inf last, -inf first
    assert bm.missing_values_bin_idx_ == max_bins


def test_bin_mapper_edge_cases(rng):
    X = np.column_stack([np.full(10, 3.0), np.full(10, np.nan), np.arange(10.0)])
    bm = BinMapper().fit(X)
    codes = bm.transform(X)
    assert len(bm.bin_thresholds_[0]) == 0 and np.all(codes[:, 0] == 0)  # constant feature
    assert np.all(codes[:, 1] == 255)  # all missing
    np.testing.assert_array_equal(codes[:, 2], np.arange(10))
    one = BinMapper().fit_transform(np.array([[1.5]]))
    assert one.shape == (1, 1) and one[0, 0] == 0
    assert BinMapper().fit(X).transform(np.zeros((0, 3))).shape == (0, 3)
    # subsample is seeded
    Y = rng.standard_normal((3000, 2))
    a = BinMapper(subsample=500, random_state=0).fit(Y).bin_thresholds_[0]
    b = BinMapper(subsample=500, random_state=0).fit(Y).bin_thresholds_[0]
    np.testing.assert_array_equal(a, b)
    X_before = X.copy()
    BinMapper().fit_transform(X)
    np.testing.assert_array_equal(X, X_before)


@pytest.mark.parametrize("max_bins", [1, 256, 0, -3])
def test_bin_mapper_bad_max_bins(max_bins):
    with pytest.raises(ValueError, match="max_bins"):
        BinMapper(max_bins=max_bins).fit(np.zeros((3, 1)))


def test_bin_mapper_bad_input():
    with pytest.raises(TypeError, match="max_bins"):
        BinMapper(max_bins=2.5).fit(np.zeros((3, 1)))
    with pytest.raises(ValueError, match="not fitted"):
        BinMapper().transform(np.zeros((3, 1)))
    with pytest.raises(ValueError, match="2-D"):
        BinMapper().fit(np.zeros(3))
    with pytest.raises(TypeError, match="X"):
        BinMapper().fit(np.array([["a"]]))
    with pytest.raises(ValueError, match="features"):
        BinMapper().fit(np.zeros((3, 2))).transform(np.zeros((3, 3)))


def _weights(rng, kind, n):
    return {"integers": rng.integers(0, 4, n).astype(float), "eighths": rng.integers(0, 9, n) / 8.0,
            "negative": rng.integers(-2, 4, n).astype(float), "floats": rng.random(n) * (rng.random(n) > 0.3)}[kind]


@needs_sklearn
@pytest.mark.parametrize("kind", ["integers", "eighths", "negative", "floats"])
@pytest.mark.parametrize("max_bins", [3, 31, 255])
def test_bin_mapper_weighted_thresholds_match_sklearn(rng, kind, max_bins):
    """scikit-learn's weighted percentiles, zero-weight rows dropped: identical, also with tied
    values and negative weights (the order in which tied values' weights add up is NumPy's
    argsort order, as in scikit-learn)."""
    from sklearn.ensemble._hist_gradient_boosting.binning import _BinMapper

    n = 1500
    X = rng.standard_normal((n, 4))
    X[:, 1] = np.round(X[:, 1] * 4)  # ties
    X[:, 2] = np.round(X[:, 2] * 40)  # ties, more distinct values than bins
    X[rng.random(X.shape) < 0.05] = np.nan
    w = _weights(rng, kind, n)
    ours = BinMapper(max_bins=max_bins, subsample=None).fit(X, sample_weight=w)
    theirs = _BinMapper(n_bins=max_bins + 1, subsample=None).fit(X, sample_weight=w)
    for f in range(4):
        np.testing.assert_array_equal(ours.bin_thresholds_[f], theirs.bin_thresholds_[f])
    np.testing.assert_array_equal(ours.n_bins_non_missing_, theirs.n_bins_non_missing_)
    np.testing.assert_array_equal(ours.transform(X), theirs.transform(X))


@needs_sklearn
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_bin_mapper_subsample_matches_sklearn(rng, weighted):
    """More rows than ``subsample``: the same rows drawn (with replacement, weights as
    probabilities) for the same seed."""
    from sklearn.ensemble._hist_gradient_boosting.binning import _BinMapper

    X = rng.standard_normal((4000, 3))
    w = rng.random(4000) if weighted else None
    for seed in (0, 7):
        ours = BinMapper(max_bins=31, subsample=700, random_state=seed).fit(X, sample_weight=w)
        theirs = _BinMapper(n_bins=32, subsample=700, random_state=seed).fit(X, sample_weight=w)
        for a, b in zip(ours.bin_thresholds_, theirs.bin_thresholds_):
            np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="sample_weight must be non-negative"):
        BinMapper(subsample=700).fit(X, sample_weight=np.r_[-1.0, np.ones(3999)])


def test_bin_mapper_unit_weights_are_the_unweighted_rule(rng):
    """Weights 0 / 1 (or 0 / 2) give the thresholds of the rows of positive weight, unweighted
    (no scikit-learn needed: the weighted rule reduces to np.percentile's)."""
    for max_bins in (3, 15, 255):
        X = np.round(rng.standard_normal((1200, 3)) * 20) / 4
        X[rng.random(X.shape) < 0.05] = np.nan
        w = (rng.random(1200) < 0.6).astype(float)
        expected = BinMapper(max_bins, subsample=None).fit(X[w > 0]).bin_thresholds_
        for scale in (1.0, 2.0):
            got = BinMapper(max_bins, subsample=None).fit(X, sample_weight=scale * w).bin_thresholds_
            for a, b in zip(got, expected):
                np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="sample_weight"):
        BinMapper().fit(X, sample_weight=np.ones(5))
    with pytest.raises(ValueError, match="sample_weight"):
        BinMapper().fit(X, sample_weight=np.full(1200, np.nan))


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("max_bins", [2, 15, 255])
def test_bin_mapper_reference_backend_matches_cpu(rng, weighted, max_bins):
    X = rng.standard_normal((900, 4)).astype(np.float32)
    X[:, 1] = rng.integers(0, 6, 900)  # few distinct values: midpoints
    X[:, 2] = np.round(X[:, 2] * 30)  # ties
    X[rng.random(X.shape) < 0.05] = np.nan
    X[3, 0], X[4, 0] = np.inf, -np.inf
    w = rng.integers(-1, 4, 900).astype(float) if weighted else None
    cpu = BinMapper(max_bins=max_bins, subsample=None, backend="cpu").fit(X, sample_weight=w)
    ref = BinMapper(max_bins=max_bins, subsample=None, backend="reference").fit(X, sample_weight=w)
    for a, b in zip(cpu.bin_thresholds_, ref.bin_thresholds_):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(cpu.n_bins_non_missing_, ref.n_bins_non_missing_)
    np.testing.assert_array_equal(cpu.transform(X), ref.transform(X))
    assert BinMapper().backend == "auto"
