"""NumPy reference for :class:`bagu_fast.trees.BinMapper`: quantile thresholds and bin codes.

``thresholds(X, max_bins) -> (thr [F, max_bins - 1] float64, n_thr [F] int64)``
    Per feature: drop NaN; up to ``max_bins`` distinct values give the midpoints between
    consecutive distinct values; otherwise the distinct values among the ``max_bins - 1`` inner
    percentiles with NumPy's ``method="averaged_inverted_cdf"`` (at rank ``v = n q - 1``: the
    value above, or the mean of the two values around it when ``v`` is a whole number and they
    differ: equal values, ``-inf`` included, stay themselves); clipped to ``ALMOST_INF``.

``weighted_thresholds(v, ws, max_bins, out) -> m``
    One feature with sample weights, from its sorted non-missing values of non-zero weight and
    their weights: midpoints as above, or the ``max_bins - 1`` inner weighted percentiles
    (scikit-learn's ``_weighted_percentile(..., average=True)``), sorted, deduplicated, clipped.

``transform(X, padded_thresholds(thr, n_thr), missing_bin, out)``
    ``out[i, f]`` = the number of thresholds ``< X[i, f]``, ``missing_bin`` for NaN.
"""
from __future__ import annotations

import numpy as np

__all__ = ["thresholds", "weighted_thresholds", "padded_thresholds", "transform"]

ALMOST_INF = 1e300
EPS = np.finfo(np.float64).eps


def _feature_thresholds(col, max_bins):
    vals = np.sort(col[~np.isnan(col)])
    n = vals.size
    if n == 0:
        return np.zeros(0)
    distinct = np.unique(vals)
    if distinct.size <= max_bins:
        t = (distinct[:-1] + distinct[1:]) * 0.5
    else:
        q = (np.arange(1, max_bins) * (100.0 / max_bins)) / 100.0
        v = n * q - 1.0
        lo = np.floor(v).astype(np.intp)
        a, b = vals[lo], vals[lo + 1]
        on_point = (v - lo == 0.0) & (a != b)
        with np.errstate(invalid="ignore"):
            t = np.where(on_point, b - (b - a) * 0.5, b)
        keep = np.r_[True, t[1:] != t[:-1]]  # the percentiles increase: distinct = unlike the previous one
        t = t[keep]
    return np.minimum(t, ALMOST_INF)


def thresholds(X, max_bins):
    n_features = X.shape[1]
    thr = np.full((n_features, max(max_bins - 1, 1)), np.inf)
    n_thr = np.zeros(n_features, dtype=np.int64)
    for f in range(n_features):
        t = _feature_thresholds(X[:, f].astype(np.float64), max_bins)
        thr[f, : t.size] = t
        n_thr[f] = t.size
    return thr, n_thr


def weighted_thresholds(v, ws, max_bins, out):
    distinct = np.unique(v)
    if distinct.size <= max_bins:
        t = np.minimum((distinct[:-1] + distinct[1:]) * 0.5, ALMOST_INF)
        out[: t.size] = t
        return t.size
    cdf = np.cumsum(ws)
    n = v.size
    t = np.empty(max_bins - 1)
    for j in range(1, max_bins):
        rank = (j * (100.0 / max_bins)) / 100.0 * cdf[-1]
        if rank == 0.0:
            rank = np.nextafter(rank, rank + 1.0)
        idx = min(int(np.searchsorted(cdf, rank)), n - 1)
        t[j - 1] = v[idx] if cdf[idx] - rank > EPS else (v[idx] + v[min(idx + 1, n - 1)]) / 2.0
    t = np.minimum(np.unique(t), ALMOST_INF)
    out[: t.size] = t
    return t.size


def padded_thresholds(thr, n_thr):
    out = np.full((thr.shape[0], 255), np.inf)
    for f in range(thr.shape[0]):
        out[f, : n_thr[f]] = thr[f, : n_thr[f]]
    return out


def transform(X, pthr, missing_bin, out):
    for f in range(X.shape[1]):
        x = X[:, f].astype(np.float64)
        codes = np.searchsorted(pthr[f], x, side="left")
        out[:, f] = np.where(np.isnan(x), missing_bin, codes)
