"""Numba CUDA kernels of the classic trees: class histograms and split criteria.

Raw signatures shared with :mod:`bagu_fast.kernels.reference.trees.criteria` (see its docstring
for the formulas).  Inputs are NumPy arrays (copied in, results copied out as NumPy) or device
arrays (anything with ``__cuda_array_interface__``; results stay on the device).

* class histogram: one thread per (row, feature) pair of a grid-stride loop, ``atomicAdd`` into
  the global ``[n_features, n_bins, n_classes]`` array: int64 counts are exact whatever the order
  (deterministic); float64 weight sums are order-dependent in the last bits.
* criteria: one thread per candidate split, everything in float64 inside (float32 inputs give a
  float32 result, rounded once at the end).  No warp shuffles: runs in the simulator.
"""
from __future__ import annotations

import math

import numpy as np
from numba import cuda

__all__ = ["build_class_histogram", "split_criterion", "split_gain_mse"]

NT = 256  # threads per block
MAX_BLOCKS = 4096
GINI, ENTROPY, GAIN_RATIO = 0, 1, 2
INV_LN2 = 1.0 / math.log(2.0)


@cuda.jit
def _class_hist_counts(binned, y, rows, out):
    n_features = binned.shape[1]
    total = rows.shape[0] * n_features
    start = cuda.grid(1)
    stride = cuda.gridsize(1)
    for t in range(start, total, stride):
        k = t // n_features
        f = t - k * n_features
        i = rows[k]
        cuda.atomic.add(out, (f, binned[i, f], y[i]), 1)


@cuda.jit
def _class_hist_weights(binned, y, rows, w, out):
    n_features = binned.shape[1]
    total = rows.shape[0] * n_features
    start = cuda.grid(1)
    stride = cuda.gridsize(1)
    for t in range(start, total, stride):
        k = t // n_features
        f = t - k * n_features
        i = rows[k]
        cuda.atomic.add(out, (f, binned[i, f], y[i]), w[i])


@cuda.jit(device=True, inline=True)
def _impurity(a, b, r, C, n, code):
    """Impurity of row ``r`` of ``a + b`` (``b`` may be ``a`` with weight 0: see callers)."""
    acc = 0.0
    for k in range(C):
        p = (np.float64(a[r, k]) + np.float64(b[r, k])) / n
        if code == GINI:
            acc += p * (1.0 - p)
        elif p > 0.0:
            acc -= p * (math.log(p) * INV_LN2)
    return acc


@cuda.jit(device=True, inline=True)
def _impurity_one(a, r, C, n, code):
    acc = 0.0
    for k in range(C):
        p = np.float64(a[r, k]) / n
        if code == GINI:
            acc += p * (1.0 - p)
        elif p > 0.0:
            acc -= p * (math.log(p) * INV_LN2)
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
    "_class_hist_counts": ["void(uint8[:, ::1], int64[::1], int64[::1], int64[:, :, ::1])"],
    "_class_hist_weights": ["void(uint8[:, ::1], int64[::1], int64[::1], float64[::1], float64[:, :, ::1])"],
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


def _is_device(x) -> bool:
    return hasattr(x, "__cuda_array_interface__") or hasattr(x, "copy_to_host")


def _to_device(x, dtype):
    """Device view of ``x`` when it already has ``dtype``; else a converted device copy."""
    if _is_device(x):
        if np.dtype(x.dtype) == np.dtype(dtype):
            return x if hasattr(x, "copy_to_host") else cuda.as_cuda_array(x)
        host = x.copy_to_host() if hasattr(x, "copy_to_host") else cuda.as_cuda_array(x).copy_to_host()
        return cuda.to_device(np.ascontiguousarray(host, dtype=dtype))
    return cuda.to_device(np.ascontiguousarray(x, dtype=dtype))


def _blocks(work: int) -> int:
    return max(1, min(MAX_BLOCKS, (work + NT - 1) // NT))


def build_class_histogram(binned, y_codes, n_classes, sample_indices, n_bins, sample_weight):
    inputs = [binned, y_codes] + [a for a in (sample_indices, sample_weight) if a is not None]
    on_device = any(_is_device(a) for a in inputs)
    n, n_features = (int(s) for s in binned.shape)
    weighted = sample_weight is not None
    out_dtype = np.float64 if weighted else np.int64
    db = _to_device(binned, np.uint8)
    dy = _to_device(y_codes, np.int64)
    if sample_indices is None:
        drows = cuda.to_device(np.arange(n, dtype=np.int64))
    else:
        drows = _to_device(sample_indices, np.int64)
    out = cuda.to_device(np.zeros((n_features, n_bins, n_classes), dtype=out_dtype))
    work = int(drows.shape[0]) * n_features
    if work:
        if weighted:
            _class_hist_weights[_blocks(work), NT](db, dy, drows, _to_device(sample_weight, np.float64), out)
        else:
            _class_hist_counts[_blocks(work), NT](db, dy, drows, out)
    return out if on_device else out.copy_to_host()


def split_criterion(left, right, code):
    on_device = _is_device(left) or _is_device(right)
    dt = np.dtype(left.dtype)
    in_dtype = dt if dt in (np.dtype(np.float32), np.dtype(np.float64)) else np.dtype(np.int64)
    out_dtype = np.float32 if in_dtype == np.float32 else np.float64
    m = int(left.shape[0])
    out = cuda.device_array(m, dtype=out_dtype)
    if m:
        dl = _to_device(left, in_dtype)
        dr = _to_device(right, in_dtype)
        _split_rows[_blocks(m), NT](dl, dr, np.int64(code), out)
    return out if on_device else out.copy_to_host()


def split_gain_mse(sum_left, count_left, sum_right, count_right):
    arrays = (sum_left, count_left, sum_right, count_right)
    on_device = any(_is_device(a) for a in arrays)
    dtype = np.dtype(sum_left.dtype)
    m = int(sum_left.shape[0])
    out = cuda.device_array(m, dtype=dtype)
    if m:
        dev = [_to_device(a, dtype) for a in arrays]
        _mse_rows[_blocks(m), NT](*dev, out)
    return out if on_device else out.copy_to_host()
