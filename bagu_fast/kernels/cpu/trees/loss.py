"""Numba CPU kernels: gradients, hessians and loss values of histogram gradient boosting.

Half squared error, binary log-loss and multiclass softmax cross-entropy; gradients and hessians
are computed in float64 from float64 raw predictions and stored as float32.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

__all__ = ["grad_squared_error", "grad_binary", "grad_multiclass", "loss_value"]


# One row's gradient / hessian, written once in plain Python: compiled here by ``njit`` and by
# ``cuda.jit(device=True)`` in :mod:`bagu_fast.kernels.cuda.trees.loss` (``math`` only).
def squared_error_row(raw, y, w, use_w, grad, hess, i):
    """Half squared error: ``g = raw - y`` (times ``w``), ``h = w`` (constant 1 without weights:
    ``hess`` is not written)."""
    g = raw[i] - y[i]
    if use_w:
        grad[i] = g * w[i]
        hess[i] = w[i]
    else:
        grad[i] = g


def binary_row(raw, y, w, use_w, grad, hess, i):
    """Binary log-loss on log-odds: ``p = σ(raw)``, ``g = p - y``, ``h = p (1 - p)`` (times ``w``)."""
    p = 1.0 / (1.0 + math.exp(-raw[i]))
    g = p - y[i]
    h = p * (1.0 - p)
    if use_w:
        g *= w[i]
        h *= w[i]
    grad[i] = g
    hess[i] = h


def multiclass_row(raw, y, w, use_w, grad, hess, i):
    """Softmax cross-entropy of column ``i`` of ``raw [K, n]`` (``y`` class codes as floats)."""
    K = raw.shape[0]
    m = raw[0, i]
    for k in range(1, K):
        if raw[k, i] > m:
            m = raw[k, i]
    s = 0.0
    for k in range(K):
        s += math.exp(raw[k, i] - m)
    for k in range(K):
        p = math.exp(raw[k, i] - m) / s
        g = p - (1.0 if y[i] == k else 0.0)
        h = p * (1.0 - p)
        if use_w:
            g *= w[i]
            h *= w[i]
        grad[k, i] = g
        hess[k, i] = h


_squared_error_row = njit(inline="always", cache=True)(squared_error_row)
_binary_row = njit(inline="always", cache=True)(binary_row)
_multiclass_row = njit(inline="always", cache=True)(multiclass_row)


@njit(cache=True, nogil=True, parallel=True)
def grad_squared_error(raw, y, w, use_w, grad, hess):
    for i in prange(raw.shape[0]):
        _squared_error_row(raw, y, w, use_w, grad, hess, i)


@njit(cache=True, nogil=True, parallel=True)
def grad_binary(raw, y, w, use_w, grad, hess):
    for i in prange(raw.shape[0]):
        _binary_row(raw, y, w, use_w, grad, hess, i)


@njit(cache=True, nogil=True, parallel=True)
def grad_multiclass(raw, y, w, use_w, grad, hess):
    """``raw``, ``grad``, ``hess`` are ``[K, n]``; ``y`` holds class codes as floats."""
    for i in prange(raw.shape[1]):
        _multiclass_row(raw, y, w, use_w, grad, hess, i)


@njit(cache=True, nogil=True)
def loss_value(kind, raw, y, w, use_w):
    """Mean loss (weighted): 0 half squared error, 1 binary log-loss, 2 multiclass log-loss."""
    K, n = raw.shape
    total = 0.0
    wsum = 0.0
    for i in range(n):
        if kind == 0:
            d = raw[0, i] - y[i]
            v = 0.5 * d * d
        elif kind == 1:
            z = raw[0, i]
            # log(1 + exp(z)) - y z, stable
            if z > 0:
                v = z + np.log1p(np.exp(-z)) - y[i] * z
            else:
                v = np.log1p(np.exp(z)) - y[i] * z
        else:
            m = raw[0, i]
            for k in range(1, K):
                if raw[k, i] > m:
                    m = raw[k, i]
            s = 0.0
            for k in range(K):
                s += np.exp(raw[k, i] - m)
            v = m + np.log(s) - raw[int(y[i]), i]
        wi = w[i] if use_w else 1.0
        total += wi * v
        wsum += wi
    return total / wsum if wsum != 0.0 else 0.0
