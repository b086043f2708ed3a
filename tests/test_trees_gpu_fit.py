"""The GPU full fit of the gradient boosting estimators (backend="cuda"; Numba's simulator
without a GPU) against the cpu fit, and the partition kernels' multi-thread paths."""
from __future__ import annotations

import pickle

import numpy as np
import pytest

from bagu_fast.kernels.reference.trees.boosting_grower import (
    F_BIN, F_COUNT, F_DEPTH, F_FEATURE, F_GAIN, F_LEAF, F_LEFT, F_MLEFT, F_RIGHT, F_VALUE,
)
from bagu_fast.trees import HistGradientBoostingClassifier, HistGradientBoostingRegressor, partition

from .conftest import CUDA_SIM
from .trees_helpers import binned_data as _data
from .trees_helpers import needs_cuda, needs_sklearn

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

    import importlib

    # the module (the package's attribute of that name is the re-exported partition function)
    ck = importlib.import_module("bagu_fast.kernels.cuda.trees.partition")

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
