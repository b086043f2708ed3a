"""Histogram gradient boosting kernels (build_histogram, find_best_split, partition) on every
backend against the NumPy reference, known answers, zero hessian sums, bad input."""
from __future__ import annotations

import numpy as np
import pytest

from bagu_fast.trees import SplitInfo, build_histogram, find_best_split, partition

from .conftest import sim_small
from .trees_helpers import binned_data as _data


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
