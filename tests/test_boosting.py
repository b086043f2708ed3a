"""Trees family (histogram gradient boosting): BinMapper, histogram / split / partition kernels on
every backend against the NumPy reference, the estimators against scikit-learn, bad input."""
from __future__ import annotations

import io
import pickle
import warnings
from contextlib import redirect_stdout

import numpy as np
import pytest

from bagu_fast.trees import (
    BinMapper,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    SplitInfo,
    build_histogram,
    find_best_split,
    partition,
)

from .conftest import CUDA_SIM, FAST_BACKENDS, sim_small

try:  # the estimators need scikit-learn (the kernels do not; a GPU image may lack it)
    import sklearn  # noqa: F401

    HAVE_SKLEARN = True
except ImportError:  # pragma: no cover
    HAVE_SKLEARN = False
needs_sklearn = pytest.mark.skipif(not HAVE_SKLEARN, reason="the estimators need scikit-learn")


def _data(rng, n, f, max_bins=15, nan_frac=0.1):
    X = rng.standard_normal((n, f))
    X[rng.random(X.shape) < nan_frac] = np.nan
    return BinMapper(max_bins=max_bins).fit_transform(X)


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


# --------------------------------------------------------------------------------------------
# build_histogram
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("with_hess", [False, True], ids=["const_hess", "hess"])
@pytest.mark.parametrize("with_idx", [False, True], ids=["all_rows", "indices"])
def test_histogram_matches_reference(rng, fast_backend, dtype, with_hess, with_idx):
    n = sim_small(3001, 203) if fast_backend == "cuda" else 3001
    B = _data(rng, n, 5)
    g = rng.standard_normal(n).astype(dtype)
    h = (rng.random(n) + 0.05).astype(dtype) if with_hess else None
    idx = np.sort(rng.choice(n, n // 2, replace=False)) if with_idx else None
    ref = build_histogram(B, g, h, idx, n_bins=16, backend="reference")
    out = build_histogram(B, g, h, idx, n_bins=16, backend=fast_backend)
    for r, o, name in zip(ref, out, ("sum_gradients", "sum_hessians", "counts")):
        assert o.shape == (5, 16), name
        if name == "counts":
            assert o.dtype == np.int64
            np.testing.assert_array_equal(o, r)
        else:
            assert o.dtype == np.float64
            np.testing.assert_allclose(o, r, rtol=1e-12, atol=1e-12)
    if not with_hess:
        np.testing.assert_array_equal(out[1], out[2])  # counts serve as hessians
    rows = idx if with_idx else np.arange(n)
    assert ref[2].sum(axis=1).tolist() == [len(rows)] * 5


def test_histogram_cpu_large_node_paths(rng):
    """The chunked (partial histograms + reduction) and feature-parallel paths of the cpu kernel."""
    n = 70_000
    B = _data(rng, n, 3, max_bins=255)
    g = rng.standard_normal(n).astype(np.float32)
    h = (rng.random(n) + 0.1).astype(np.float32)
    for idx in (None, np.sort(rng.choice(n, 20_000, replace=False)), np.arange(5000)):
        ref = build_histogram(B, g, h, idx, backend="reference")
        out = build_histogram(B, g, h, idx, backend="cpu")
        np.testing.assert_array_equal(out[2], ref[2])
        np.testing.assert_allclose(out[0], ref[0], rtol=1e-10, atol=1e-9)
        np.testing.assert_allclose(out[1], ref[1], rtol=1e-10, atol=1e-9)


def test_histogram_subtraction(rng, backend):
    n = sim_small(2000, 150) if backend == "cuda" else 2000
    B = _data(rng, n, 4)
    g = rng.standard_normal(n).astype(np.float32)
    rows = np.arange(n)
    left, right = rows[: n // 3], rows[n // 3:]
    parent = build_histogram(B, g, n_bins=16, backend=backend)
    small = build_histogram(B, g, sample_indices=left, n_bins=16, backend=backend)
    large = build_histogram(B, g, sample_indices=right, n_bins=16, backend=backend)
    np.testing.assert_array_equal(parent[2] - small[2], large[2])  # counts exactly
    np.testing.assert_allclose(parent[0] - small[0], large[0], atol=1e-9)


def test_histogram_cuda_deterministic_mode(rng):
    n = 150
    B = _data(rng, n, 3)
    g = rng.standard_normal(n)
    h = rng.random(n) + 0.1
    ref = build_histogram(B, g, h, n_bins=16, backend="reference")
    a = build_histogram(B, g, h, n_bins=16, backend="cuda", deterministic=True)
    b = build_histogram(B, g, h, n_bins=16, backend="cuda", deterministic=True)
    for x, y, r in zip(a, b, ref):
        np.testing.assert_array_equal(x, y)
        np.testing.assert_allclose(x, r, rtol=1e-12, atol=1e-12)


def test_histogram_cuda_device_arrays(rng):
    from numba import cuda

    n = sim_small(500, 60)
    B = _data(rng, n, 2)
    g = rng.standard_normal(n).astype(np.float32)
    idx = np.arange(0, n, 2)
    out = build_histogram(cuda.to_device(B), cuda.to_device(g), sample_indices=cuda.to_device(idx), n_bins=16)
    ref = build_histogram(B, g, sample_indices=idx, n_bins=16, backend="reference")
    assert all(hasattr(o, "copy_to_host") for o in out)
    np.testing.assert_array_equal(out[2].copy_to_host(), ref[2])
    np.testing.assert_allclose(out[0].copy_to_host(), ref[0], atol=1e-6)
    left, right = partition(cuda.to_device(idx), cuda.to_device(B), 0, 5, True, n_bins=16)
    rl, rr = partition(idx, B, 0, 5, True, n_bins=16, backend="reference")
    np.testing.assert_array_equal(left.copy_to_host(), rl)
    np.testing.assert_array_equal(right.copy_to_host(), rr)


def test_histogram_edge_cases(backend):
    B = np.zeros((1, 1), dtype=np.uint8)
    g = np.array([2.5], dtype=np.float32)
    s, h, c = build_histogram(B, g, n_bins=4, backend=backend)
    assert s.tolist() == [[2.5, 0, 0, 0]] and c.tolist() == [[1, 0, 0, 0]] and h.tolist() == [[1, 0, 0, 0]]
    s, h, c = build_histogram(B, g, sample_indices=np.zeros(0, dtype=np.int64), n_bins=4, backend=backend)
    assert not s.any() and not c.any()
    B0 = np.zeros((0, 3), dtype=np.uint8)
    s, h, c = build_histogram(B0, np.zeros(0, np.float64), n_bins=8, backend=backend)
    assert s.shape == (3, 8) and not c.any()


def test_histogram_known_answer():
    B = np.array([[0, 1], [1, 1], [0, 3], [2, 0]], dtype=np.uint8)
    g = np.array([1.0, -2.0, 0.5, 4.0])
    h = np.array([1.0, 2.0, 3.0, 4.0])
    s, hs, c = build_histogram(B, g, h, n_bins=4, backend="reference")
    np.testing.assert_array_equal(s, [[1.5, -2.0, 4.0, 0.0], [4.0, -1.0, 0.0, 0.5]])
    np.testing.assert_array_equal(hs, [[4.0, 2.0, 4.0, 0.0], [4.0, 3.0, 0.0, 3.0]])
    np.testing.assert_array_equal(c, [[2, 1, 1, 0], [1, 2, 0, 1]])


# --------------------------------------------------------------------------------------------
# find_best_split
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("with_hess", [False, True], ids=["const_hess", "hess"])
@pytest.mark.parametrize("lam", [0.0, 1.5])
def test_split_matches_reference(rng, fast_backend, with_hess, lam):
    for trial in range(3):
        n = 400
        B = _data(rng, n, 6, nan_frac=0.15 * trial)
        g = rng.standard_normal(n) + (B[:, 2] > 7) * 1.5
        h = rng.random(n) + 0.1 if with_hess else None
        hist = build_histogram(B, g, h, n_bins=16, backend="reference")
        kw = dict(l2_regularization=lam, min_samples_leaf=7)
        ref = find_best_split(*hist, **kw, backend="reference")
        out = find_best_split(*hist, **kw, backend=fast_backend)
        assert isinstance(out, SplitInfo)
        assert ref.feature >= 0
        assert (out.feature, out.bin, out.missing_go_to_left, out.n_samples_left, out.n_samples_right) == \
            (ref.feature, ref.bin, ref.missing_go_to_left, ref.n_samples_left, ref.n_samples_right)
        np.testing.assert_allclose(out[4:], ref[4:], rtol=1e-12)
        assert out.gain == pytest.approx(ref.gain, rel=1e-12)


def _brute_force(g, h, c, lam, msl):
    """Every (feature, bin, direction) with explicit masks (not running sums)."""
    best = (-np.inf, None)
    nb = g.shape[1]
    for f in range(g.shape[0]):
        has_missing = c[f, -1] > 0
        for b in range(nb - 1):
            for ml in ((False, True) if has_missing else (False,)):
                left = np.arange(nb) <= b
                left[-1] = ml
                gl, hl, nl = g[f, left].sum(), h[f, left].sum(), c[f, left].sum()
                gr, hr, nr = g[f, ~left].sum(), h[f, ~left].sum(), c[f, ~left].sum()
                if nl < msl or nr < msl or hl < 1e-3 or hr < 1e-3:
                    continue
                G, H = g[f].sum(), h[f].sum()
                gain = gl**2 / (hl + lam) + gr**2 / (hr + lam) - G**2 / (H + lam)
                if gain > best[0] + 1e-9:
                    best = (gain, (f, b))
    return best


def test_split_reference_against_brute_force(rng):
    for _ in range(5):
        n = 300
        B = _data(rng, n, 4, max_bins=7, nan_frac=0.2)
        g = rng.standard_normal(n) + (B[:, 1] > 3)
        h = rng.random(n) + 0.5
        hist = build_histogram(B, g, h, n_bins=8, backend="reference")
        s = find_best_split(*hist, l2_regularization=0.3, min_samples_leaf=10, backend="reference")
        gain, where = _brute_force(*hist, 0.3, 10)
        assert (s.feature, s.bin) == where
        assert s.gain == pytest.approx(gain, rel=1e-9)
        # leaf values of the children: -G/(H + lambda)
        assert s.sum_gradient_left + s.sum_gradient_right == pytest.approx(hist[0][s.feature].sum())


def test_split_known_answer_and_ties(backend):
    # one feature, bins 0..2 + missing bin 3; gradients make bin 0 vs rest the only good split
    g = np.array([[-4.0, 2.0, 2.0, 0.0]])
    h = np.array([[2.0, 1.0, 1.0, 0.0]])
    c = np.array([[2, 1, 1, 0]])
    s = find_best_split(g, h, c, min_samples_leaf=1, backend=backend)
    # gain = 16/2 + 16/2 - 0/4 = 16; no missing values: missing follow the larger child (left: 2 > 2 is False)
    assert (s.feature, s.bin, s.gain, s.missing_go_to_left) == (0, 0, 16.0, False)
    assert (s.n_samples_left, s.n_samples_right, s.sum_gradient_left, s.sum_hessian_right) == (2, 2, -4.0, 2.0)
    # an identical second feature ties: the lowest feature wins
    s2 = find_best_split(np.vstack([g, g]), np.vstack([h, h]), np.vstack([c, c]), min_samples_leaf=1, backend=backend)
    assert s2.feature == 0
    # missing values: both directions tried
    g = np.array([[-4.0, 2.0, 0.0, -3.0]])
    h = np.array([[2.0, 1.0, 0.0, 1.0]])
    c = np.array([[2, 1, 0, 1]])
    s = find_best_split(g, h, c, min_samples_leaf=1, backend=backend)
    assert (s.bin, s.missing_go_to_left, s.n_samples_left) == (0, True, 3)
    # no valid split
    s = find_best_split(g, h, c, min_samples_leaf=3, backend=backend)
    assert s.feature == -1 and s.gain == -np.inf
    s = find_best_split(g, h, c, min_samples_leaf=1, min_gain_to_split=100.0, backend=backend)
    assert s.feature == -1


# --------------------------------------------------------------------------------------------
# partition
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("missing_left", [False, True])
def test_partition_matches_reference(rng, fast_backend, missing_left):
    n = sim_small(2000, 300) if fast_backend == "cuda" else 2000
    B = _data(rng, n, 3, nan_frac=0.2)
    idx = rng.permutation(n)[: n // 2 + 1]  # unsorted: order must be kept
    before = idx.copy()
    rl, rr = partition(idx, B, 1, 6, missing_left, n_bins=16, backend="reference")
    ol, orr = partition(idx, B, 1, 6, missing_left, n_bins=16, backend=fast_backend)
    np.testing.assert_array_equal(ol, rl)
    np.testing.assert_array_equal(orr, rr)
    np.testing.assert_array_equal(idx, before)
    codes = B[idx, 1]
    exp_left = idx[np.where(codes == 15, missing_left, codes <= 6)]
    np.testing.assert_array_equal(rl, exp_left)
    assert len(rl) + len(rr) == len(idx)


def test_partition_cpu_large(rng):
    n = 200_000
    B = _data(rng, n, 2, nan_frac=0.1)
    idx = np.arange(0, n, 1)
    for ml in (False, True):
        rl, rr = partition(idx, B, 0, 3, ml, n_bins=16, backend="reference")
        ol, orr = partition(idx, B, 0, 3, ml, n_bins=16, backend="cpu")
        np.testing.assert_array_equal(ol, rl)
        np.testing.assert_array_equal(orr, rr)


def test_partition_edge_cases(backend):
    B = np.array([[0], [255], [3]], dtype=np.uint8)
    l, r = partition(np.array([2, 1, 0]), B, 0, 0, True, backend=backend)
    assert list(l) == [1, 0] and list(r) == [2]
    l, r = partition(np.zeros(0, dtype=np.int64), B, 0, 0, True, backend=backend)
    assert len(l) == 0 and len(r) == 0


# --------------------------------------------------------------------------------------------
# kernel API: bad input
# --------------------------------------------------------------------------------------------
def test_kernel_api_bad_input():
    B = np.zeros((4, 2), dtype=np.uint8)
    g = np.zeros(4, dtype=np.float32)
    with pytest.raises(TypeError, match="binned"):
        build_histogram(B.astype(np.int32), g)
    with pytest.raises(ValueError, match="binned"):
        build_histogram(np.zeros(4, np.uint8), g)
    with pytest.raises(ValueError, match="binned holds code 9"):
        build_histogram(B + 9, g, n_bins=8)
    with pytest.raises(ValueError, match="n_bins"):
        build_histogram(B, g, n_bins=1)
    with pytest.raises(ValueError, match="n_bins"):
        build_histogram(B, g, n_bins=257)
    with pytest.raises(ValueError, match="gradients"):
        build_histogram(B, np.zeros(3, np.float32))
    with pytest.raises(TypeError, match="gradients"):
        build_histogram(B, np.zeros(4, np.int64))
    with pytest.raises(ValueError, match="gradients"):
        build_histogram(B, np.array([0, np.nan, 0, 0], np.float32))
    with pytest.raises(ValueError, match="hessians"):
        build_histogram(B, g, np.array([1, 0, 1, 1], np.float32))
    with pytest.raises(ValueError, match="hessians"):
        build_histogram(B, g, np.array([1, -1, 1, 1], np.float32))
    with pytest.raises(TypeError, match="hessians"):
        build_histogram(B, g, np.ones(4, np.float64))
    with pytest.raises(ValueError, match="sample_indices"):
        build_histogram(B, g, sample_indices=np.array([0, 4]))
    with pytest.raises(ValueError, match="sample_indices"):
        build_histogram(B, g, sample_indices=np.array([-1]))
    with pytest.raises(TypeError, match="sample_indices"):
        build_histogram(B, g, sample_indices=np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match="backend"):
        build_histogram(B, g, backend="gpu")
    with pytest.raises(TypeError, match="deterministic"):
        build_histogram(B, g, deterministic="yes")
    gh = np.zeros((2, 4))
    c = np.zeros((2, 4), dtype=np.int64)
    with pytest.raises(ValueError, match="sum_hessians"):
        find_best_split(gh, np.zeros((2, 5)), c)
    with pytest.raises(ValueError, match="sum_gradients"):
        find_best_split(np.full((2, 4), np.nan), gh, c)
    with pytest.raises(TypeError, match="counts"):
        find_best_split(gh, gh, gh)
    with pytest.raises(ValueError, match="counts"):
        find_best_split(gh, gh, c - 1)
    with pytest.raises(ValueError, match="min_samples_leaf"):
        find_best_split(gh, gh, c, min_samples_leaf=0)
    with pytest.raises(ValueError, match="l2_regularization"):
        find_best_split(gh, gh, c, l2_regularization=-1.0)
    with pytest.raises(ValueError, match="sum_gradients"):
        find_best_split(np.zeros((2, 1)), np.zeros((2, 1)), np.zeros((2, 1), np.int64))
    idx = np.arange(4)
    with pytest.raises(ValueError, match="feature"):
        partition(idx, B, 2, 0, False)
    with pytest.raises(ValueError, match="bin"):
        partition(idx, B, 0, 255, False)
    with pytest.raises(TypeError, match="missing_go_to_left"):
        partition(idx, B, 0, 0, 1)
    with pytest.raises(ValueError, match="sample_indices"):
        partition(np.array([9]), B, 0, 0, False)


# --------------------------------------------------------------------------------------------
# estimators
# --------------------------------------------------------------------------------------------
def _sk_xfail():
    reason = "sample_weight is not equivalent to removing/repeating samples (binning; as scikit-learn's own HGB)"
    return {"check_sample_weight_equivalence_on_dense_data": reason}


@needs_sklearn
@pytest.mark.parametrize("Est", [HistGradientBoostingRegressor, HistGradientBoostingClassifier])
def test_check_estimator(Est):
    from sklearn.utils.estimator_checks import check_estimator

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_estimator(Est(max_iter=5, min_samples_leaf=5), expected_failed_checks=_sk_xfail())


@needs_sklearn
@pytest.mark.parametrize("name", ["diabetes", "breast_cancer", "wine", "digits"])
def test_accuracy_matches_sklearn(name):
    from sklearn import datasets
    from sklearn.ensemble import HistGradientBoostingClassifier as SkC
    from sklearn.ensemble import HistGradientBoostingRegressor as SkR
    from sklearn.model_selection import train_test_split

    X, y = getattr(datasets, f"load_{name}")(return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.25, random_state=0, stratify=None if name == "diabetes" else y)
    it = 10 if name == "digits" else 30
    if name == "diabetes":
        ours = HistGradientBoostingRegressor(max_iter=it).fit(Xtr, ytr)
        sk = SkR(max_iter=it).fit(Xtr, ytr)
        # R² on held-out data within 0.01; on the training data (same bins, same splits) equal
        assert ours.score(Xte, yte) == pytest.approx(sk.score(Xte, yte), abs=0.01)
        np.testing.assert_allclose(ours.predict(Xtr), sk.predict(Xtr), rtol=1e-9, atol=1e-6)
    else:
        ours = HistGradientBoostingClassifier(max_iter=it).fit(Xtr, ytr)
        sk = SkC(max_iter=it).fit(Xtr, ytr)
        assert ours.score(Xte, yte) >= sk.score(Xte, yte) - 0.01
        assert ours.score(Xtr, ytr) >= sk.score(Xtr, ytr) - 0.01


@needs_sklearn
def test_sklearn_integration():
    from sklearn.datasets import load_breast_cancer
    from sklearn.model_selection import GridSearchCV, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = load_breast_cancer(return_X_y=True)
    pipe = make_pipeline(StandardScaler(), HistGradientBoostingClassifier(max_iter=10))
    scores = cross_val_score(pipe, X, y, cv=3)
    assert scores.shape == (3,) and scores.mean() > 0.9
    grid = GridSearchCV(HistGradientBoostingClassifier(max_iter=5), {"max_leaf_nodes": [4, 15]}, cv=2).fit(X, y)
    assert grid.best_params_["max_leaf_nodes"] in (4, 15) and grid.best_score_ > 0.85


@needs_sklearn
def test_pickle_staged_and_decision(rng):
    X = rng.standard_normal((500, 4))
    X[rng.random(X.shape) < 0.1] = np.nan
    y3 = (np.nan_to_num(X[:, 0]) > 0).astype(int) + (np.nan_to_num(X[:, 1]) > 0.5)
    clf = HistGradientBoostingClassifier(max_iter=8).fit(X, y3)
    clf2 = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(clf2.predict_proba(X), clf.predict_proba(X))
    staged = list(clf.staged_predict_proba(X))
    assert len(staged) == clf.n_iter_ == 8
    np.testing.assert_allclose(staged[-1], clf.predict_proba(X), rtol=1e-12)
    np.testing.assert_allclose(clf.predict_proba(X).sum(1), 1.0)
    assert clf.decision_function(X).shape == (500, 3) and clf.n_trees_per_iteration_ == 3
    np.testing.assert_array_equal(clf.predict(X), clf.classes_[clf.decision_function(X).argmax(1)])
    reg = HistGradientBoostingRegressor(max_iter=6).fit(X, np.arange(500) % 7)
    assert len(list(reg.staged_predict(X))) == 6
    np.testing.assert_allclose(list(reg.staged_predict(X))[-1], reg.predict(X), rtol=1e-12)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(reg)).predict(X), reg.predict(X))


@needs_sklearn
def test_missing_values_learnt(rng):
    n = 2000
    x = rng.standard_normal(n)
    y = (x > 0).astype(float)
    x[rng.random(n) < 0.3] = np.nan
    y[np.isnan(x)] = 3.0  # missing values carry their own signal
    reg = HistGradientBoostingRegressor(max_iter=30, learning_rate=0.5).fit(x[:, None], y)
    pred = reg.predict(np.array([[np.nan], [-1.0], [1.0]]))
    np.testing.assert_allclose(pred, [3.0, 0.0, 1.0], atol=0.05)


@needs_sklearn
def test_binary_probabilities_and_strings(rng):
    X = rng.standard_normal((400, 3))
    y = np.where(X[:, 0] + 0.3 * rng.standard_normal(400) > 0, "yes", "no")
    clf = HistGradientBoostingClassifier(max_iter=20).fit(X, y)
    assert list(clf.classes_) == ["no", "yes"] and clf.n_trees_per_iteration_ == 1
    assert clf.score(X, y) > 0.9
    p = clf.predict_proba(X)
    np.testing.assert_allclose(p[:, 1], 1 / (1 + np.exp(-clf.decision_function(X))))


@needs_sklearn
def test_early_stopping_and_verbose(rng):
    X = rng.standard_normal((3000, 3))
    y = X[:, 0] + 0.1 * rng.standard_normal(3000)
    buf = io.StringIO()
    with redirect_stdout(buf):
        reg = HistGradientBoostingRegressor(max_iter=500, early_stopping=True, n_iter_no_change=3, verbose=1,
                                            learning_rate=0.5, random_state=0).fit(X, y)
    assert reg.n_iter_ < 500
    assert len(reg.train_score_) == len(reg.validation_score_) == reg.n_iter_ + 1
    assert reg.validation_score_[-1] > reg.validation_score_[0]
    assert buf.getvalue().count("\n") == reg.n_iter_ and "[1/500]" in buf.getvalue()
    reg = HistGradientBoostingRegressor(max_iter=5).fit(X, y)  # "auto": off below 10 000 samples
    assert not reg.do_early_stopping_ and reg.train_score_.size == 0 and reg.n_iter_ == 5


@needs_sklearn
def test_max_depth_and_leaves(rng):
    X = rng.standard_normal((2000, 5))
    y = X @ rng.standard_normal(5) + np.sin(3 * X[:, 0])
    reg = HistGradientBoostingRegressor(max_iter=3, max_depth=2, max_leaf_nodes=None, min_samples_leaf=1).fit(X, y)
    for it in reg._trees:
        t = it[0]
        assert t[:, 9].max() <= 2 and (t[:, 6] == 1).sum() <= 4
    reg = HistGradientBoostingRegressor(max_iter=3, max_leaf_nodes=7).fit(X, y)
    assert all((it[0][:, 6] == 1).sum() == 7 for it in reg._trees)


@needs_sklearn
def test_sample_weight(rng):
    X = rng.standard_normal((600, 3))
    y = X[:, 0] + rng.standard_normal(600) * 0.1
    a = HistGradientBoostingRegressor(max_iter=5).fit(X, y).predict(X)
    b = HistGradientBoostingRegressor(max_iter=5).fit(X, y, sample_weight=np.ones(600)).predict(X)
    np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-9)
    w = np.where(X[:, 1] > 0, 10.0, 0.1)
    c = HistGradientBoostingRegressor(max_iter=5).fit(X, y, sample_weight=w).predict(X)
    assert not np.allclose(a, c)


@needs_sklearn
def test_thread_count_does_not_change_the_model(rng):
    import numba

    X = rng.standard_normal((40_000, 4)).astype(np.float32)
    y = X[:, 0] * 2 + X[:, 1] * X[:, 2]
    old = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        a = HistGradientBoostingRegressor(max_iter=3, early_stopping=False, random_state=0).fit(X, y).predict(X)
        numba.set_num_threads(old)
        b = HistGradientBoostingRegressor(max_iter=3, early_stopping=False, random_state=0).fit(X, y).predict(X)
    finally:
        numba.set_num_threads(old)
    np.testing.assert_array_equal(a, b)


@needs_sklearn
def test_estimator_bad_input(rng):
    from sklearn.exceptions import NotFittedError

    X = rng.standard_normal((50, 3))
    y = rng.standard_normal(50)
    reg = HistGradientBoostingRegressor(max_iter=2)
    with pytest.raises(NotFittedError):
        reg.predict(X)
    with pytest.raises(ValueError, match="y"):
        reg.fit(X, np.where(np.arange(50) == 3, np.nan, y))
    with pytest.raises(ValueError, match="y"):
        reg.fit(X, np.where(np.arange(50) == 3, np.inf, y))
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        reg.fit(X, y[:-1])
    with pytest.raises(ValueError, match="sample_weight"):  # negative weights are valid, a zero sum is not
        reg.fit(X, y, sample_weight=np.r_[np.ones(25), -np.ones(25)])
    with pytest.raises(ValueError, match="sample_weight"):
        reg.fit(X, y, sample_weight=np.where(np.arange(50) == 3, np.nan, 1.0))
    with pytest.raises(ValueError, match="max_bins"):
        HistGradientBoostingRegressor(max_bins=256).fit(X, y)
    with pytest.raises(ValueError, match="max_bins"):
        HistGradientBoostingRegressor(max_bins=1).fit(X, y)
    with pytest.raises(ValueError, match="learning_rate"):
        HistGradientBoostingRegressor(learning_rate=0).fit(X, y)
    with pytest.raises(ValueError, match="loss"):
        HistGradientBoostingRegressor(loss="absolute_error").fit(X, y)
    with pytest.raises(ValueError, match="early_stopping"):
        HistGradientBoostingRegressor(early_stopping="yes").fit(X, y)
    reg.fit(X, y)
    with pytest.raises(ValueError, match="features"):
        reg.predict(X[:, :2])
    with pytest.raises(ValueError, match="Unknown label type"):  # one class is valid, a continuous target is not
        HistGradientBoostingClassifier().fit(X, y)
    X_before, y_before = X.copy(), y.copy()
    reg.fit(X, y)
    np.testing.assert_array_equal(X, X_before)
    np.testing.assert_array_equal(y, y_before)


# --------------------------------------------------------------------------------------------
# estimators: the GPU full fit (backend="cuda"; Numba's simulator without a GPU)
# --------------------------------------------------------------------------------------------
from bagu_fast import _dispatch  # noqa: E402
from bagu_fast.kernels.cpu.trees.grower import (  # noqa: E402
    F_BIN, F_COUNT, F_DEPTH, F_FEATURE, F_GAIN, F_LEAF, F_LEFT, F_MLEFT, F_RIGHT, F_VALUE,
)

needs_cuda = pytest.mark.skipif(not _dispatch.cuda_available(), reason="needs a GPU or NUMBA_ENABLE_CUDASIM=1")
_STRUCTURE = [F_FEATURE, F_BIN, F_MLEFT, F_LEFT, F_RIGHT, F_LEAF, F_COUNT, F_DEPTH]
# small fits: the simulator runs every CUDA thread as a Python thread (~0.3-0.5 s per tree here)
_GPU_KW = dict(max_bins=7, max_leaf_nodes=8, min_samples_leaf=5, learning_rate=0.3)


@pytest.fixture
def quick_simulator():
    """The simulator polls its threads at every ``syncthreads`` while they wait for the GIL: a
    shorter switch interval makes the grower's kernels several times faster there (no effect on
    the results, nor on a GPU).  Safe because the grower runs one thread per block in the
    simulator: with several, a short interval exposes the simulator's unlocked shared-array
    allocation (two threads of a block may get different "shared" arrays)."""
    import sys

    if not CUDA_SIM:
        yield
        return
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-4)
    try:
        yield
    finally:
        sys.setswitchinterval(old)


def test_cuda_partition_tiles_of_many_rows_per_thread(rng):
    """The partition kernels with several rows per thread and several threads per block (the
    grower runs 1 row per thread on a GPU, 1 thread per block in the simulator), and the device
    scan of the tile counts with runs of several tiles per thread."""
    from numba import cuda

    from bagu_fast.kernels.cuda.trees import histogram as ck

    n = 203
    B = _data(rng, n, 3, nan_frac=0.2)
    idx = rng.permutation(n)
    rl, rr = partition(idx, B, 1, 6, True, n_bins=16, backend="reference")
    nt, rpt = 4, 7  # tiles of 28 rows: 8 tiles, the last one partial; the scan: 2 tiles per thread
    tiles = -(-n // (nt * rpt))
    counts = cuda.device_array(tiles, dtype=np.int32)
    offsets = cuda.to_device(np.full(tiles + 1, -7, dtype=np.int64))
    out = cuda.to_device(np.full(n, -1, dtype=np.int64))
    didx, dB = cuda.to_device(idx.astype(np.int64)), cuda.to_device(B)
    ck._partition_count[tiles, nt](didx, dB, 1, 6, True, 15, rpt, counts)
    ck._tile_offsets[1, nt](counts, tiles, offsets)
    ck._partition_scatter[tiles, nt](didx, dB, 1, 6, True, 15, rpt, offsets, out)
    c = counts.copy_to_host()
    assert c.sum() == len(rl)
    np.testing.assert_array_equal(offsets.copy_to_host(), np.concatenate([[0], np.cumsum(c)]))
    o = out.copy_to_host()
    np.testing.assert_array_equal(o[:len(rl)], rl)
    np.testing.assert_array_equal(o[len(rl):], rr)


def _gpu_fit_data(rng, n=200, f=3, nan_frac=0.1):
    """Continuous features (distinct values: no tied gains), NaN with their own signal."""
    X = rng.standard_normal((n, f))
    X[rng.random(X.shape) < nan_frac] = np.nan
    Z = np.nan_to_num(X)
    y = 2 * Z[:, 0] + np.sin(3 * Z[:, 1]) + 0.5 * Z[:, -1] ** 2 + 1.5 * np.isnan(X[:, 0]) + 0.1 * rng.standard_normal(n)
    return X, y


def _fit_both(Est, X, y, sample_weight=None, **kw):
    params = {**_GPU_KW, **kw}
    gpu = Est(**params, backend="cuda").fit(X, y, sample_weight=sample_weight)
    cpu = Est(**params, backend="cpu").fit(X, y, sample_weight=sample_weight)
    return gpu, cpu


def _assert_same_fit(gpu, cpu, X):
    """Same trees (features, bins, missing directions, children, counts, depths) and leaf values
    within 1e-6 (in the simulator they agree to the last bit; a GPU's exp may differ by an ulp)."""
    assert (gpu.backend_, cpu.backend_) == ("cuda", "cpu")
    assert gpu.n_iter_ == cpu.n_iter_ and len(gpu._trees) == len(cpu._trees)
    for it_g, it_c in zip(gpu._trees, cpu._trees):
        assert len(it_g) == len(it_c) == gpu.n_trees_per_iteration_
        for tg, tc in zip(it_g, it_c):
            assert tg.shape == tc.shape
            np.testing.assert_array_equal(tg[:, _STRUCTURE], tc[:, _STRUCTURE])
            np.testing.assert_allclose(tg[:, F_VALUE], tc[:, F_VALUE], rtol=1e-6, atol=1e-9)
            np.testing.assert_allclose(tg[:, F_GAIN], tc[:, F_GAIN], rtol=1e-6, atol=1e-9)
    assert sum(int(t[:, F_LEAF].sum()) for it in gpu._trees for t in it) > 2 * sum(len(it) for it in gpu._trees)
    np.testing.assert_allclose(gpu._raw_predict(X), cpu._raw_predict(X), rtol=1e-6, atol=1e-9)


@needs_sklearn
@needs_cuda
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_cuda_fit_matches_cpu_regression(rng, quick_simulator, weighted):
    X, y = _gpu_fit_data(rng)
    w = rng.random(len(y)) * 2 + 0.1 if weighted else None
    gpu, cpu = _fit_both(HistGradientBoostingRegressor, X, y, w, max_iter=4)
    _assert_same_fit(gpu, cpu, X)
    assert gpu.score(X, y, sample_weight=w) > 0.6
    assert np.isnan(X).any() and any(t[t[:, F_LEAF] == 0, F_MLEFT].any() for it in gpu._trees for t in it)


@needs_sklearn
@needs_cuda
def test_cuda_fit_matches_cpu_binary_weighted(rng, quick_simulator):
    X, y = _gpu_fit_data(rng)
    labels = np.where(y > np.median(y), "pos", "neg")
    w = np.where(np.nan_to_num(X[:, 1]) > 0, 3.0, 0.5)
    gpu, cpu = _fit_both(HistGradientBoostingClassifier, X, labels, w, max_iter=4)
    _assert_same_fit(gpu, cpu, X)
    np.testing.assert_allclose(gpu.predict_proba(X), cpu.predict_proba(X), rtol=1e-6, atol=1e-9)
    assert gpu.score(X, labels) > 0.8


@needs_sklearn
@needs_cuda
def test_cuda_fit_matches_cpu_multiclass(rng, quick_simulator):
    X, y = _gpu_fit_data(rng)
    y3 = np.digitize(y, np.quantile(y, [1 / 3, 2 / 3]))
    w = rng.random(len(y)) + 0.5
    gpu, cpu = _fit_both(HistGradientBoostingClassifier, X, y3, w, max_iter=2, max_leaf_nodes=6)
    assert gpu.n_trees_per_iteration_ == 3
    _assert_same_fit(gpu, cpu, X)
    np.testing.assert_array_equal(gpu.predict(X), cpu.predict(X))


@needs_sklearn
@needs_cuda
def test_cuda_fit_max_depth_and_min_samples_leaf(rng, quick_simulator):
    X, y = _gpu_fit_data(rng)
    gpu, cpu = _fit_both(HistGradientBoostingRegressor, X, y, max_iter=2, max_depth=2, max_leaf_nodes=None,
                         min_samples_leaf=1)
    _assert_same_fit(gpu, cpu, X)
    for (t,) in gpu._trees:
        assert t[:, F_DEPTH].max() == 2 and (t[:, F_LEAF] == 1).sum() == 4
    gpu, cpu = _fit_both(HistGradientBoostingRegressor, X, y, max_iter=2, min_samples_leaf=30)
    _assert_same_fit(gpu, cpu, X)
    for (t,) in gpu._trees:
        leaves = t[t[:, F_LEAF] == 1]
        assert leaves[:, F_COUNT].min() >= 30 and leaves[:, F_COUNT].sum() == len(y)


@needs_sklearn
@needs_cuda
def test_cuda_fit_early_stopping_reproducible_device_input(rng, quick_simulator):
    from numba import cuda

    X, y = _gpu_fit_data(rng, nan_frac=0.0)
    kw = dict(max_iter=4, early_stopping=True, validation_fraction=0.25, n_iter_no_change=2, tol=10.0,
              random_state=0)
    gpu, cpu = _fit_both(HistGradientBoostingRegressor, X, y, **kw)
    assert gpu.n_iter_ == 2  # tol=10: no iteration improves the score by 10, the fit stops after 2
    assert len(gpu.train_score_) == len(gpu.validation_score_) == 3
    _assert_same_fit(gpu, cpu, X)
    np.testing.assert_allclose(gpu.train_score_, cpu.train_score_, rtol=1e-9)  # raw predictions from the device
    np.testing.assert_allclose(gpu.validation_score_, cpu.validation_score_, rtol=1e-9)
    # GPU input with backend="auto": a GPU fit, the same model as before (nothing depends on timing)
    dX = cuda.to_device(X)
    again = HistGradientBoostingRegressor(**_GPU_KW, **kw).fit(dX, y)
    assert again.backend_ == "cuda"
    for (a,), (b,) in zip(again._trees, gpu._trees):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(again.predict(dX), gpu.predict(X))  # prediction copies to the host
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(gpu)).predict(X), gpu.predict(X))  # host state only
    with pytest.raises(ValueError, match="backend"):
        HistGradientBoostingRegressor(backend="cpu").fit(dX, y)


@needs_sklearn
def test_estimator_bad_backend(rng, monkeypatch):
    from sklearn.base import clone

    X = rng.standard_normal((40, 2))
    y = rng.standard_normal(40)
    for Est in (HistGradientBoostingRegressor, HistGradientBoostingClassifier):
        est = Est(backend="cuda")
        assert est.get_params()["backend"] == "cuda" and clone(est).backend == "cuda"
        assert Est().backend == "auto"
    yc = (y > 0).astype(int)
    for bad in ("reference", "gpu", "CUDA", None, 1):
        for Est, target in ((HistGradientBoostingRegressor, y), (HistGradientBoostingClassifier, yc)):
            with pytest.raises(ValueError, match="backend"):
                Est(backend=bad, max_iter=1).fit(X, target)
    with pytest.raises(ValueError, match="reference.*not available"):
        HistGradientBoostingRegressor(backend="reference").fit(X, y)
    # no GPU and no simulator: a clear error before any work
    monkeypatch.setattr(_dispatch, "cuda_available", lambda: False)
    with pytest.raises(RuntimeError, match="backend='cuda' needs an NVIDIA GPU"):
        HistGradientBoostingRegressor(backend="cuda", max_iter=1).fit(X, y)
    assert HistGradientBoostingRegressor(backend="auto", max_iter=1).fit(X, y).backend_ == "cpu"


# --------------------------------------------------------------------------------------------
# sample weights in the binning, zero hessian sums, one class, negative weights, the
# early-stopping split: as scikit-learn
# --------------------------------------------------------------------------------------------
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


@needs_sklearn
def test_sample_weight_binning_matches_sklearn(rng):
    """Half the weights zero: the same bins (the zero-weight rows place no threshold) and so the
    same model as scikit-learn."""
    from sklearn.ensemble import HistGradientBoostingRegressor as SkR

    X = rng.standard_normal((2000, 4))
    y = X[:, 0] + np.sin(3 * X[:, 1]) * 0.5 + 0.2 * rng.standard_normal(2000)
    w = (rng.random(2000) < 0.5).astype(float)
    ours = HistGradientBoostingRegressor(max_iter=30).fit(X, y, sample_weight=w)
    theirs = SkR(max_iter=30).fit(X, y, sample_weight=w)
    for a, b in zip(ours._bin_mapper.bin_thresholds_, theirs._bin_mapper.bin_thresholds_):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(ours.predict(X), theirs.predict(X), rtol=1e-9, atol=1e-9)


@needs_sklearn
@pytest.mark.parametrize("backend", ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(
    not __import__("bagu_fast")._dispatch.cuda_available(), reason="needs a GPU or the simulator"))])
@pytest.mark.parametrize("task", ["regression", "binary", "multiclass"])
def test_zero_hessian_sums_fit(rng, backend, task):
    """Weights so small that every float32 hessian (and gradient) is 0, l2_regularization=0:
    no split, no division by zero, the baseline's predictions (as scikit-learn)."""
    from sklearn.ensemble import HistGradientBoostingClassifier as SkC
    from sklearn.ensemble import HistGradientBoostingRegressor as SkR

    X = rng.standard_normal((80, 3))
    y = {"regression": X[:, 0], "binary": (X[:, 0] > 0).astype(int), "multiclass": np.digitize(X[:, 0], [-0.5, 0.5])}[task]
    w = np.full(80, 1e-50)
    Est, Sk = (HistGradientBoostingRegressor, SkR) if task == "regression" else (HistGradientBoostingClassifier, SkC)
    ours = Est(max_iter=3, min_samples_leaf=5, backend=backend).fit(X, y, sample_weight=w)
    theirs = Sk(max_iter=3, min_samples_leaf=5).fit(X, y, sample_weight=w)
    out = ours.predict(X) if task == "regression" else ours.predict_proba(X)
    ref = theirs.predict(X) if task == "regression" else theirs.predict_proba(X)
    assert np.all(np.isfinite(out))
    np.testing.assert_allclose(out, ref, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("l2", [0.0, 0.5])
def test_split_with_zero_hessians_on_every_backend(backend, l2):
    """Zero hessian sums (min_hessian_to_split=0, l2_regularization=0): a zero denominator counts
    as 1e-15 on every backend (no ZeroDivisionError, no NaN); the same split everywhere."""
    g = np.array([[-1.0, 0.5, 0.5, 0.0], [0.0, 0.0, 0.0, 0.0]])
    h = np.array([[0.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 0.0]])
    c = np.array([[2, 1, 1, 0], [2, 1, 1, 0]])
    s = find_best_split(g, h, c, l2_regularization=l2, min_samples_leaf=1, min_hessian_to_split=0.0, backend=backend)
    ref = find_best_split(g, h, c, l2_regularization=l2, min_samples_leaf=1, min_hessian_to_split=0.0,
                          backend="reference")
    assert np.isfinite(s.gain) and (s.feature, s.bin) == (0, 0) == (ref.feature, ref.bin)
    expected = 1.0 / (1e-15 if l2 == 0 else l2) + 1.0 / (1.0 + l2) - 0.0 / (1.0 + l2)
    assert s.gain == pytest.approx(expected, rel=1e-12) and ref.gain == pytest.approx(expected, rel=1e-12)


def test_classic_trees_weight_rounding_to_zero_side():
    """A row 1e20 times heavier than the rest: every split's lighter side rounds to weight 0
    (its total is found by subtraction); no such split, no division by zero."""
    from bagu_fast.trees import DecisionTreeClassifier, DecisionTreeRegressor, RandomForestClassifier

    X = np.arange(10.0)[:, None]
    y = np.array([0, 1] * 5)
    w = np.ones(10)
    w[0] = 1e20
    for est, target in ((DecisionTreeClassifier(min_samples_leaf=2), y), (DecisionTreeClassifier(), y),
                        (DecisionTreeClassifier(criterion="gain_ratio", min_samples_leaf=2), y),
                        (DecisionTreeRegressor(), y * 1.0), (DecisionTreeRegressor(min_samples_leaf=2), y * 1.0),
                        (RandomForestClassifier(3, min_samples_leaf=2, bootstrap=False, random_state=0), y)):
        est.fit(X, target, sample_weight=w)
        assert np.all(np.isfinite(est.predict(X)))
    tree = DecisionTreeClassifier(min_samples_leaf=2).fit(X, y, sample_weight=w).tree_
    assert tree.node_count == 1
    np.testing.assert_allclose(tree.value[0], [1.0, 5e-20], rtol=1e-12)  # weighted class fractions


@needs_sklearn
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_single_class_matches_sklearn(rng, weighted):
    from sklearn.ensemble import HistGradientBoostingClassifier as SkC

    X = rng.standard_normal((120, 3))
    y = np.full(120, "only")
    w = rng.random(120) + 0.1 if weighted else None
    ours = HistGradientBoostingClassifier(max_iter=5).fit(X, y, sample_weight=w)
    theirs = SkC(max_iter=5).fit(X, y, sample_weight=w)
    assert list(ours.classes_) == list(theirs.classes_) == ["only"]
    assert ours.n_trees_per_iteration_ == theirs.n_trees_per_iteration_ == 1 and ours.n_iter_ == theirs.n_iter_
    np.testing.assert_array_equal(ours.predict(X), theirs.predict(X))
    assert ours.predict_proba(X).shape == theirs.predict_proba(X).shape == (120, 2)
    np.testing.assert_allclose(ours.predict_proba(X), theirs.predict_proba(X), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(ours.decision_function(X), theirs.decision_function(X), rtol=1e-12)


@needs_sklearn
@pytest.mark.parametrize("task", ["regression", "binary", "multiclass"])
def test_negative_sample_weight_matches_sklearn(rng, task):
    """Negative weights are accepted, as scikit-learn (hessian sums then stop being monotonic,
    and the split scans stop where scikit-learn's do).  The models agree but for scikit-learn's
    1e-15 in every denominator ``H + λ`` (here only a zero one is changed): leaves of small
    hessian sums move by ~1e-15 / H relative."""
    from sklearn.ensemble import HistGradientBoostingClassifier as SkC
    from sklearn.ensemble import HistGradientBoostingRegressor as SkR

    X = rng.standard_normal((300, 3))
    t = X[:, 0] + 0.3 * rng.standard_normal(300)
    w = rng.standard_normal(300) + 0.5
    assert (w < 0).any()
    if task == "regression":
        ours = HistGradientBoostingRegressor(max_iter=10).fit(X, t, sample_weight=w)
        theirs = SkR(max_iter=10).fit(X, t, sample_weight=w)
        np.testing.assert_allclose(ours.predict(X), theirs.predict(X), rtol=1e-9, atol=1e-9)
        return
    y = (t > 0).astype(int) if task == "binary" else np.digitize(t, [-0.5, 0.5])
    ours = HistGradientBoostingClassifier(max_iter=10).fit(X, y, sample_weight=w)
    theirs = SkC(max_iter=10).fit(X, y, sample_weight=w)
    np.testing.assert_allclose(ours._baseline_prediction, theirs._baseline_prediction.ravel(), rtol=1e-12)
    np.testing.assert_allclose(ours.predict_proba(X), theirs.predict_proba(X), atol=1e-5)
    np.testing.assert_array_equal(ours.predict(X), theirs.predict(X))


@needs_sklearn
@pytest.mark.parametrize("task", ["regression", "binary"])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_early_stopping_split_matches_sklearn(rng, task, weighted):
    """The validation rows are scikit-learn's for the same random_state (same seed, same
    train_test_split call): the same bins (fitted on the training rows), baseline (their mean),
    scores and n_iter_."""
    from sklearn.ensemble import HistGradientBoostingClassifier as SkC
    from sklearn.ensemble import HistGradientBoostingRegressor as SkR

    X = rng.standard_normal((2500, 4))
    t = X[:, 0] + np.sin(3 * X[:, 1]) * 0.5 + 0.5 * rng.standard_normal(2500)
    y = t if task == "regression" else (t > 0).astype(int)
    w = np.abs(t) + 0.1 if weighted else None
    Est, Sk = (HistGradientBoostingRegressor, SkR) if task == "regression" else (HistGradientBoostingClassifier, SkC)
    for seed in (0, 3):
        kw = dict(max_iter=200, early_stopping=True, n_iter_no_change=5, random_state=seed)
        ours = Est(**kw).fit(X, y, sample_weight=w)
        theirs = Sk(**kw).fit(X, y, sample_weight=w)
        for a, b in zip(ours._bin_mapper.bin_thresholds_, theirs._bin_mapper.bin_thresholds_):
            np.testing.assert_array_equal(a, b)
        np.testing.assert_allclose(ours._baseline_prediction, theirs._baseline_prediction.ravel(), rtol=1e-12)
        assert ours.n_iter_ == theirs.n_iter_ < 200
        np.testing.assert_allclose(ours.validation_score_, theirs.validation_score_, rtol=1e-9)
        np.testing.assert_allclose(ours.train_score_, theirs.train_score_, rtol=1e-9)


# --------------------------------------------------------------------------------------------
# every public function and estimator of the family: None and wrong types named as such
# --------------------------------------------------------------------------------------------
def _bad_argument_cases():
    import bagu_fast.trees as bt

    B = np.zeros((4, 2), np.uint8)
    g = np.zeros(4, np.float32)
    gh, c = np.zeros((2, 4)), np.zeros((2, 4), np.int64)
    idx, y4 = np.arange(4), np.array([0, 1, 0, 1])
    cases = []
    for bad in (None, "abc", 3.5, {"a": 1}):
        kind = "None" if bad is None else type(bad).__name__
        cases += [
            ("build_histogram", "binned", kind, lambda b=bad: bt.build_histogram(b, g)),
            ("build_histogram", "gradients", kind, lambda b=bad: bt.build_histogram(B, b)),
            ("build_histogram", "sample_indices", kind, lambda b=bad: bt.build_histogram(B, g, sample_indices=b))
            if bad is not None else None,
            ("find_best_split", "sum_gradients", kind, lambda b=bad: bt.find_best_split(b, gh, c)),
            ("find_best_split", "counts", kind, lambda b=bad: bt.find_best_split(gh, gh, b)),
            ("partition", "sample_indices", kind, lambda b=bad: bt.partition(b, B, 0, 0, False)),
            ("partition", "binned", kind, lambda b=bad: bt.partition(idx, b, 0, 0, False)),
            ("build_class_histogram", "binned", kind, lambda b=bad: bt.build_class_histogram(b, y4, 2)),
            ("build_class_histogram", "y_codes", kind, lambda b=bad: bt.build_class_histogram(B, b, 2)),
            ("build_class_histogram", "sample_weight", kind,
             lambda b=bad: bt.build_class_histogram(B, y4, 2, sample_weight=b)) if bad is not None else None,
            ("split_criterion", "class_counts_left", kind, lambda b=bad: bt.split_criterion(b, c, criterion="gini")),
            ("split_criterion", "class_counts_right", kind, lambda b=bad: bt.split_criterion(c, b, criterion="gini")),
            ("split_gain_mse", "sum_left", kind, lambda b=bad: bt.split_gain_mse(b, g, g, g)),
            ("split_gain_mse", "count_right", kind, lambda b=bad: bt.split_gain_mse(g, g, g, b)),
            ("BinMapper.fit", "X", kind, lambda b=bad: bt.BinMapper().fit(b)),
            ("BinMapper.fit", "sample_weight", kind, lambda b=bad: bt.BinMapper().fit(np.zeros((4, 2)), sample_weight=b))
            if bad is not None else None,
            ("BinMapper.transform", "X", kind, lambda b=bad: bt.BinMapper().fit(np.zeros((4, 2))).transform(b)),
        ]
    for bad, kind in ((None, "None"), ("8", "str"), (2.5, "float")):
        cases += [
            ("build_histogram", "n_bins", kind, lambda b=bad: bt.build_histogram(B, g, n_bins=b)),
            ("find_best_split", "min_samples_leaf", kind, lambda b=bad: bt.find_best_split(gh, gh, c, min_samples_leaf=b)),
            ("partition", "feature", kind, lambda b=bad: bt.partition(idx, B, b, 0, False)),
            ("build_class_histogram", "n_classes", kind, lambda b=bad: bt.build_class_histogram(B, y4, b)),
            ("BinMapper", "max_bins", kind, lambda b=bad: bt.BinMapper(max_bins=b).fit(np.zeros((4, 2)))),
        ]
    for bad, kind in ((None, "None"), ("x", "str|'x'")):  # a string among choices: its value is named
        cases += [
            ("find_best_split", "l2_regularization", kind,
             lambda b=bad: bt.find_best_split(gh, gh, c, l2_regularization=b)),
            ("build_histogram", "deterministic", kind, lambda b=bad: bt.build_histogram(B, g, deterministic=b)),
            ("partition", "missing_go_to_left", kind, lambda b=bad: bt.partition(idx, B, 0, 0, b)),
            ("split_criterion", "criterion", kind, lambda b=bad: bt.split_criterion(c, c, criterion=b)),
            ("build_histogram", "backend", kind, lambda b=bad: bt.build_histogram(B, g, backend=b)),
        ]
    return [c for c in cases if c is not None]


@pytest.mark.parametrize("where,name,kind,call", _bad_argument_cases(),
                         ids=lambda v: v if isinstance(v, str) else "")
def test_kernel_api_names_none_and_wrong_types(where, name, kind, call):
    with pytest.raises((TypeError, ValueError), match=rf"{name}\b.*({kind})|({kind}).*\b{name}\b"):
        call()


def _estimator_cases():
    import bagu_fast.trees as bt

    small = {"HistGradientBoostingRegressor": {"max_iter": 2}, "HistGradientBoostingClassifier": {"max_iter": 2},
             "RandomForestClassifier": {"n_estimators": 2}, "RandomForestRegressor": {"n_estimators": 2}}
    params = {  # (parameter, bad value, type name in the message)
        "HistGradientBoostingRegressor": [("max_iter", None), ("learning_rate", "x"), ("max_leaf_nodes", "x"),
                                          ("min_samples_leaf", None), ("l2_regularization", None), ("max_bins", "x"),
                                          ("tol", None), ("verbose", None), ("random_state", "x"), ("backend", None),
                                          ("early_stopping", None), ("loss", None)],
        "DecisionTreeClassifier": [("max_depth", "x"), ("min_samples_leaf", None), ("min_samples_split", "x"),
                                   ("min_impurity_decrease", None), ("max_bins", None), ("random_state", "x"),
                                   ("criterion", None), ("max_features", "x")],
        "RandomForestClassifier": [("n_estimators", None), ("bootstrap", None), ("oob_score", "x"),
                                   ("max_samples", "x"), ("n_jobs", "x"), ("random_state", "x")],
    }
    cases = []
    for est_name in ("HistGradientBoostingRegressor", "HistGradientBoostingClassifier", "DecisionTreeClassifier",
                     "DecisionTreeRegressor", "RandomForestClassifier", "RandomForestRegressor"):
        Est, kw = getattr(bt, est_name), small.get(est_name, {})
        for bad in (None, "abc", 7):
            kind = "None" if bad is None else type(bad).__name__
            cases.append((est_name, "fit", "X", kind, lambda Est=Est, kw=kw, b=bad: ("fit", Est(**kw), b, None)))
            cases.append((est_name, "predict", "X", kind, lambda Est=Est, kw=kw, b=bad: ("predict", Est(**kw), b, None)))
            if bad is not None:
                cases.append((est_name, "fit", "sample_weight", kind,
                              lambda Est=Est, kw=kw, b=bad: ("fit", Est(**kw), "X", b)))
            cases.append((est_name, "fit", "y", kind, lambda Est=Est, kw=kw, b=bad: ("fit_y", Est(**kw), b, None)))
        for p, bad in params.get(est_name, []):
            kind = "None" if bad is None else "str|'x'"  # a string among choices: its value is named
            cases.append((est_name, "fit", p, kind, lambda Est=Est, kw=kw, p=p, b=bad: ("fit", Est(**{**kw, p: b}),
                                                                                       "X", None)))
    return cases


@needs_sklearn
@pytest.mark.parametrize("est_name,method,name,kind,make", _estimator_cases(),
                         ids=lambda v: v if isinstance(v, str) else "")
def test_estimators_name_none_and_wrong_types(rng, est_name, method, name, kind, make):
    X = rng.standard_normal((30, 2))
    y = (X[:, 0] > 0).astype(int)
    what, est, arg, sw = make()
    with pytest.raises((TypeError, ValueError), match=rf"\b{name}\b.*({kind})|({kind}).*\b{name}\b"):
        if what == "fit":
            est.fit(X if isinstance(arg, str) and arg == "X" else arg, y, sample_weight=sw)
        elif what == "fit_y":
            est.fit(X, arg)
        else:
            est.fit(X, y).predict(arg)
