"""Numba CUDA kernels of the classic split criteria: Gini, information gain and gain ratio from
class counts, and the MSE decrease of regression splits.

Raw signatures shared with :mod:`bagu_fast.kernels.reference.trees.criteria` (see its docstring
for the formulas).  Inputs are NumPy arrays (copied in, results copied out as NumPy) or device
arrays (anything with ``__cuda_array_interface__``; results stay on the device).  One thread per
candidate split, everything in float64 inside (float32 inputs give a float32 result, rounded once
at the end).  No warp shuffles: runs in the simulator.
"""
from __future__ import annotations

import math

import numpy as np
from numba import cuda

from ._launch import NT, capped_blocks, is_device, to_device_as

__all__ = ["split_criterion", "split_gain_mse"]

GINI, ENTROPY, GAIN_RATIO = 0, 1, 2
INV_LN2 = 1.0 / math.log(2.0)


@cuda.jit(device=True, inline=True)
def _class_term(p, code):
    """One class's share of the impurity: ``p (1 - p)`` (Gini) or ``-p log2 p`` (entropy)."""
    if code == GINI:
        return p * (1.0 - p)
    if p > 0.0:
        return -(p * (math.log(p) * INV_LN2))
    return 0.0


@cuda.jit(device=True, inline=True)
def _impurity(a, b, r, C, n, code):
    """Impurity of row ``r`` of ``a + b`` (``b`` may be ``a`` with weight 0: see callers)."""
    acc = 0.0
    for k in range(C):
        acc += _class_term((np.float64(a[r, k]) + np.float64(b[r, k])) / n, code)
    return acc


@cuda.jit(device=True, inline=True)
def _impurity_one(a, r, C, n, code):
    acc = 0.0
    for k in range(C):
        acc += _class_term(np.float64(a[r, k]) / n, code)
    return acc


@cuda.jit(device=True, inline=True)
def _split_one(left, right, r, C, code):
    nL = 0.0
    nR = 0.0
    for k in range(C):
        nL += np.float64(left[r, k])
        nR += np.float64(right[r, k])
    if not (nL > 0.0 and nR > 0.0):
        return 0.0
    n = nL + nR
    base = GINI if code == GINI else ENTROPY
    gain = (_impurity(left, right, r, C, n, base) - (nL / n) * _impurity_one(left, r, C, nL, base)
            - (nR / n) * _impurity_one(right, r, C, nR, base))
    if gain < 0.0:
        gain = 0.0
    if code == GAIN_RATIO:
        fl = nL / n
        fr = nR / n
        iv = -(fl * (math.log(fl) * INV_LN2) + fr * (math.log(fr) * INV_LN2))
        gain = gain / iv
    return gain


@cuda.jit
def _split_rows(left, right, code, out):
    C = left.shape[1]
    for r in range(cuda.grid(1), left.shape[0], cuda.gridsize(1)):
        out[r] = _split_one(left, right, r, C, code)


@cuda.jit(device=True, inline=True)
def _mse_one(a, na, b, nb):
    if not (na > 0.0 and nb > 0.0):
        return 0.0
    n = na + nb
    s = a + b
    gain = (a * a / na + b * b / nb - s * s / n) / n
    return gain if gain > 0.0 else 0.0


@cuda.jit
def _mse_rows(sL, nL, sR, nR, out):
    for r in range(cuda.grid(1), out.shape[0], cuda.gridsize(1)):
        out[r] = _mse_one(np.float64(sL[r]), np.float64(nL[r]), np.float64(sR[r]), np.float64(nR[r]))


PTX_SIGNATURES = {
    "_split_rows": [
        "void(int64[:, ::1], int64[:, ::1], int64, float64[::1])",
        "void(float32[:, ::1], float32[:, ::1], int64, float32[::1])",
        "void(float64[:, ::1], float64[:, ::1], int64, float64[::1])",
    ],
    "_mse_rows": [
        "void(float32[::1], float32[::1], float32[::1], float32[::1], float32[::1])",
        "void(float64[::1], float64[::1], float64[::1], float64[::1], float64[::1])",
    ],
}


def split_criterion(left, right, code):
    on_device = is_device(left) or is_device(right)
    dt = np.dtype(left.dtype)
    in_dtype = dt if dt in (np.dtype(np.float32), np.dtype(np.float64)) else np.dtype(np.int64)
    out_dtype = np.float32 if in_dtype == np.float32 else np.float64
    m = int(left.shape[0])
    out = cuda.device_array(m, dtype=out_dtype)
    if m:
        dl = to_device_as(left, in_dtype)
        dr = to_device_as(right, in_dtype)
        _split_rows[capped_blocks(m), NT](dl, dr, np.int64(code), out)
    return out if on_device else out.copy_to_host()


def split_gain_mse(sum_left, count_left, sum_right, count_right):
    arrays = (sum_left, count_left, sum_right, count_right)
    on_device = any(is_device(a) for a in arrays)
    dtype = np.dtype(sum_left.dtype)
    m = int(sum_left.shape[0])
    out = cuda.device_array(m, dtype=dtype)
    if m:
        dev = [to_device_as(a, dtype) for a in arrays]
        _mse_rows[capped_blocks(m), NT](*dev, out)
    return out if on_device else out.copy_to_host()
