"""Numba CPU kernels of the classic split criteria: Gini (CART), information gain (ID3) and
gain ratio (C4.5) from class counts, and the MSE decrease of regression splits.

Raw signatures of :func:`split_criterion` and :func:`split_gain_mse`: see
:mod:`bagu_fast.kernels.reference.trees.criteria` (same arguments, same results).  The inline
functions (:func:`_impurity`, :func:`_mse_gain`) are shared with the decision-tree grower
(:mod:`.tree_grower`).
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from .._parallel import parallel_region

__all__ = ["split_criterion", "split_gain_mse"]

GINI, ENTROPY, GAIN_RATIO, MSE = 0, 1, 2, 3
_INV_LN2 = 1.0 / np.log(2.0)


@njit(cache=True, nogil=True, inline="always")
def _impurity(c, off, C, n, code):
    """Gini (code 0) or entropy in bits (else) of ``c[off:off + C]`` with total ``n`` (> 0)."""
    acc = 0.0
    if code == GINI:
        for k in range(C):
            p = c[off + k] / n
            acc += p * (1.0 - p)
        return acc
    for k in range(C):
        p = c[off + k] / n
        if p > 0.0:
            acc += p * (np.log(p) * _INV_LN2)
    return -acc


@njit(cache=True, nogil=True, inline="always")
def _impurity_of_sum(a, b, off, C, n, code):
    """Impurity of ``a[off:off+C] + b[off:off+C]`` with total ``n`` (> 0): the parent's."""
    acc = 0.0
    if code == GINI:
        for k in range(C):
            p = (a[off + k] + b[off + k]) / n
            acc += p * (1.0 - p)
        return acc
    for k in range(C):
        p = (a[off + k] + b[off + k]) / n
        if p > 0.0:
            acc += p * (np.log(p) * _INV_LN2)
    return -acc


@njit(cache=True, nogil=True, inline="always")
def _split_value(L, R, off, C, code):
    """Gain (or gain ratio, code 2) of a split with child class counts ``L[off:off+C]`` and
    ``R[off:off+C]``; 0 when a side is empty."""
    nL = 0.0
    nR = 0.0
    for k in range(C):
        nL += L[off + k]
        nR += R[off + k]
    if not (nL > 0.0 and nR > 0.0):
        return 0.0
    n = nL + nR
    base = GINI if code == GINI else ENTROPY
    gain = _impurity_of_sum(L, R, off, C, n, base) - (nL / n) * _impurity(L, off, C, nL, base) - (nR / n) * _impurity(R, off, C, nR, base)
    if gain < 0.0:
        gain = 0.0
    if code == GAIN_RATIO:
        fl = nL / n
        fr = nR / n
        iv = -(fl * (np.log(fl) * _INV_LN2) + fr * (np.log(fr) * _INV_LN2))
        gain = gain / iv
    return gain


@njit(cache=True, nogil=True, parallel=True)
def _split_criterion_rows(left, right, code, out):
    m, C = left.shape
    for r in prange(m):
        out[r] = _split_value(left[r], right[r], 0, C, code)


def split_criterion(left, right, code):
    out_dtype = np.float32 if left.dtype == np.float32 else np.float64
    L = np.ascontiguousarray(left, dtype=np.float64)
    R = np.ascontiguousarray(right, dtype=np.float64)
    out = np.zeros(L.shape[0], dtype=np.float64)
    if L.shape[0] and L.shape[1]:
        with parallel_region():
            _split_criterion_rows(L, R, np.int64(code), out)
    return out.astype(out_dtype, copy=False)


@njit(cache=True, nogil=True, inline="always")
def _mse_gain(sL, nL, sR, nR):
    if not (nL > 0.0 and nR > 0.0):
        return 0.0
    n = nL + nR
    s = sL + sR
    gain = (sL * sL / nL + sR * sR / nR - s * s / n) / n
    return gain if gain > 0.0 else 0.0


@njit(cache=True, nogil=True, parallel=True)
def _mse_rows(sL, nL, sR, nR, out):
    for r in prange(sL.shape[0]):
        out[r] = _mse_gain(sL[r], nL[r], sR[r], nR[r])


def split_gain_mse(sum_left, count_left, sum_right, count_right):
    out_dtype = sum_left.dtype
    args = [np.ascontiguousarray(a, dtype=np.float64) for a in (sum_left, count_left, sum_right, count_right)]
    out = np.zeros(args[0].shape[0], dtype=np.float64)
    if out.shape[0]:
        with parallel_region():
            _mse_rows(*args, out)
    return out.astype(out_dtype, copy=False)
