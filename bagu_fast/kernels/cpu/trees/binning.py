"""Numba CPU kernels for :class:`bagu_fast.trees.BinMapper`: quantile thresholds and bin codes.

``thresholds(X, max_bins) -> (thr [F, max_bins - 1] float64, n_thr [F] int64)``
    Per feature (``prange``): drop NaN, sort, and either midpoints between consecutive distinct
    values (at most ``max_bins`` distinct values) or the distinct values among the
    ``max_bins - 1`` inner percentiles with NumPy's ``method="averaged_inverted_cdf"``
    (scikit-learn 1.9's rule); clipped to ``ALMOST_INF``.

``weighted_thresholds(v, ws, max_bins, out) -> m``
    One feature with sample weights (scikit-learn 1.9's weighted rule), from its sorted values
    of non-zero weight: up to ``max_bins`` distinct values give midpoints as above; otherwise the
    ``max_bins - 1`` inner weighted percentiles (``_weighted_percentile(..., average=True)``:
    the first value whose cumulative weight reaches ``p / 100 * total``, averaged with the next
    value when it lands within ``EPS`` of it), sorted and deduplicated, clipped to ``ALMOST_INF``.

``transform(X, padded_thresholds(thr, n_thr), missing_bin, out)``
    ``out[i, f]`` = number of thresholds ``< X[i, f]`` (so ``x <= thr[b]`` ⇔ code ``<= b``),
    ``missing_bin`` for NaN; ``prange`` over blocks of rows, a branch-free binary search per
    value.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

ALMOST_INF = 1e300
EPS = np.finfo(np.float64).eps  # a cumulative weight within EPS of a percentile's rank "lands on" it


@njit(cache=True, nogil=True, inline="always")
def _midpoints(vals, n, out):
    """Midpoints between the consecutive distinct values of the sorted ``vals[:n]``; returns
    how many."""
    k = 0
    prev = vals[0]
    for i in range(1, n):
        if vals[i] != prev:
            out[k] = (prev + vals[i]) * 0.5
            k += 1
            prev = vals[i]
    return k


@njit(cache=True, nogil=True, inline="always")
def _n_distinct(vals, n):
    c = 1
    for i in range(1, n):
        if vals[i] != vals[i - 1]:
            c += 1
    return c


@njit(cache=True, nogil=True, inline="always")
def _clip(out, m):
    for j in range(m):
        if out[j] > ALMOST_INF:
            out[j] = ALMOST_INF


@njit(cache=True, nogil=True, inline="always")
def _search_left(cdf, n, key):
    """NumPy's ``searchsorted(cdf[:n], key, side="left")`` for one key: the same bisection, so
    the same index even when ``cdf`` is not monotonic (negative weights)."""
    lo = 0
    hi = n
    while lo < hi:
        mid = lo + ((hi - lo) >> 1)
        if cdf[mid] < key:
            lo = mid + 1
        else:
            hi = mid
    return lo


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
    if _n_distinct(vals, n) <= max_bins:
        m = _midpoints(vals, n, out)
    else:
        # np.percentile(vals, np.linspace(0, 100, max_bins + 1)[1:-1], method="averaged_inverted_cdf"),
        # then the distinct values only (scikit-learn >= 1.8)
        m = 0
        for j in range(1, max_bins):
            q = (j * (100.0 / max_bins)) / 100.0
            v = n * q - 1.0
            lo = int(np.floor(v))
            a = vals[lo]
            b = vals[lo + 1]
            if v - lo == 0.0 and a != b:  # (a == b: also keeps -inf, where NumPy would give NaN)
                t = b - (b - a) * 0.5
            else:
                t = b
            if m == 0 or t != out[m - 1]:
                out[m] = t
                m += 1
    _clip(out, m)
    return m


@njit(cache=True, nogil=True)
def weighted_thresholds(v, ws, max_bins, out):
    """Thresholds of one feature from its non-missing values of non-zero weight, ``v`` sorted
    increasingly in scikit-learn's order (float64 ``[m]``, ``m >= 1``) and their weights ``ws``
    (float64 ``[m]``, any sign); returns how many were written to ``out``.

    NumPy's unstable argsort decides the order of tied values, and with it the order in which
    their weights add up: the caller sorts as scikit-learn does, so that cumulative weights (and
    the bisection on them, which need not be monotonic with negative weights) are the same."""
    n = v.shape[0]
    if _n_distinct(v, n) <= max_bins:
        m = _midpoints(v, n, out)
        _clip(out, m)
        return m
    cdf = np.empty(n, dtype=np.float64)
    acc = 0.0
    for i in range(n):  # sequential, as NumPy's cumulative sum
        acc += ws[i]
        cdf[i] = acc
    total = cdf[n - 1]
    for j in range(1, max_bins):
        rank = (j * (100.0 / max_bins)) / 100.0 * total
        if rank == 0.0:  # leading zero-weight rows never place a threshold
            rank = np.nextafter(rank, rank + 1.0)
        idx = _search_left(cdf, n, rank)
        if idx > n - 1:
            idx = n - 1
        if cdf[idx] - rank > EPS:
            out[j - 1] = v[idx]
        else:
            out[j - 1] = (v[idx] + v[min(idx + 1, n - 1)]) / 2.0
    # sorted distinct values (np.unique: negative weights can make the percentiles decrease)
    t = np.sort(out[: max_bins - 1])
    m = 0
    for j in range(max_bins - 1):
        x = t[j]
        if m > 0 and (x == out[m - 1] or (np.isnan(x) and np.isnan(out[m - 1]))):
            continue
        out[m] = x
        m += 1
    _clip(out, m)
    return m


@njit(cache=True, nogil=True, parallel=True)
def thresholds(X, max_bins):
    n_features = X.shape[1]
    thr = np.full((n_features, max(max_bins - 1, 1)), np.inf)
    n_thr = np.zeros(n_features, dtype=np.int64)
    for f in prange(n_features):
        n_thr[f] = _feature_thresholds(X[:, f], max_bins, thr[f])
    return thr, n_thr


@njit(cache=True, nogil=True)
def padded_thresholds(thr, n_thr):
    """``[F, 255]`` thresholds padded with ``+inf`` (the search below then needs no bounds)."""
    n_features = thr.shape[0]
    out = np.full((n_features, 255), np.inf)
    for f in range(n_features):
        for j in range(n_thr[f]):
            out[f, j] = thr[f, j]
    return out


TRANSFORM_BLOCK = 256


@njit(cache=True, nogil=True, parallel=True)
def transform(X, pthr, missing_bin, out):
    """``out[i, f]`` = number of thresholds ``< X[i, f]``; ``missing_bin`` for NaN.

    ``pthr`` from :func:`padded_thresholds`.  Eight branch-free halving steps over the 255 padded
    thresholds (``+inf`` pads are never ``< x``), one feature at a time over a block of rows so
    the inner loop is independent across rows.
    """
    n, n_features = X.shape
    n_blocks = (n + TRANSFORM_BLOCK - 1) // TRANSFORM_BLOCK
    for bi in prange(n_blocks):
        lo = bi * TRANSFORM_BLOCK
        hi = min(n, lo + TRANSFORM_BLOCK)
        for f in range(n_features):
            t = pthr[f]
            for i in range(lo, hi):
                x = np.float64(X[i, f])
                pos = 0
                pos += 128 * (t[pos + 127] < x)
                pos += 64 * (t[pos + 63] < x)
                pos += 32 * (t[pos + 31] < x)
                pos += 16 * (t[pos + 15] < x)
                pos += 8 * (t[pos + 7] < x)
                pos += 4 * (t[pos + 3] < x)
                pos += 2 * (t[pos + 1] < x)
                pos += 1 * (t[pos] < x)
                out[i, f] = missing_bin if np.isnan(x) else pos
