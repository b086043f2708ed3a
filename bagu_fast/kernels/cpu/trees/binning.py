"""Numba CPU kernels for :class:`bagu_fast.trees.BinMapper`: quantile thresholds and bin codes.

``thresholds(X, max_bins) -> (thr [F, max_bins - 1] float64, n_thr [F] int64)``
    Per feature (``prange``): drop NaN, sort, and either midpoints between consecutive distinct
    values (at most ``max_bins`` distinct values) or the ``max_bins - 1`` inner percentiles with
    NumPy's ``method="midpoint"`` (scikit-learn's rule); clipped to ``ALMOST_INF``.

``transform(X, thr, n_thr, missing_bin, out)``
    ``out[i, f]`` = number of thresholds ``< X[i, f]`` (so ``x <= thr[b]`` ⇔ code ``<= b``),
    ``missing_bin`` for NaN; ``prange`` over rows, a branch-free binary search per value.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

ALMOST_INF = 1e300


@njit(cache=True, nogil=True)
def _feature_thresholds(col, max_bins, out):
    n = 0
    vals = np.empty(col.shape[0], dtype=np.float64)
    for i in range(col.shape[0]):
        v = np.float64(col[i])
        if not np.isnan(v):
            vals[n] = v
            n += 1
    if n == 0:
        return 0
    vals = np.sort(vals[:n])
    n_distinct = 1
    for i in range(1, n):
        if vals[i] != vals[i - 1]:
            n_distinct += 1
    if n_distinct <= max_bins:
        k = 0
        prev = vals[0]
        for i in range(1, n):
            if vals[i] != prev:
                out[k] = (prev + vals[i]) * 0.5
                k += 1
                prev = vals[i]
        m = n_distinct - 1
    else:
        m = max_bins - 1
        for j in range(m):
            # np.percentile(vals, np.linspace(0, 100, max_bins + 1)[1:-1], method="midpoint")
            q = ((j + 1) * (100.0 / max_bins)) / 100.0
            pos = (n - 1) * q
            lo = int(np.floor(pos))
            hi = int(np.ceil(pos))
            a = vals[lo]
            b = vals[hi]
            out[j] = b - (b - a) * 0.5 if hi != lo else a
    for j in range(m):
        if out[j] > ALMOST_INF:
            out[j] = ALMOST_INF
    return m


@njit(cache=True, nogil=True, parallel=True)
def thresholds(X, max_bins):
    n_features = X.shape[1]
    thr = np.full((n_features, max(max_bins - 1, 1)), np.inf)
    n_thr = np.zeros(n_features, dtype=np.int64)
    for f in prange(n_features):
        n_thr[f] = _feature_thresholds(X[:, f], max_bins, thr[f])
    return thr, n_thr


@njit(cache=True, nogil=True, parallel=True)
def transform(X, thr, n_thr, missing_bin, out):
    n, n_features = X.shape
    for i in prange(n):
        for f in range(n_features):
            x = np.float64(X[i, f])
            if np.isnan(x):
                out[i, f] = missing_bin
                continue
            lo = 0
            m = n_thr[f]
            while m > 0:
                half = m >> 1
                if thr[f, lo + half] < x:
                    lo += half + 1
                    m -= half + 1
                else:
                    m = half
            out[i, f] = lo
