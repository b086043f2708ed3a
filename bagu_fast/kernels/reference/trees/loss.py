"""NumPy reference: gradients, hessians and loss values of histogram gradient boosting.

``gradients(kind, raw, y, w, use_w) -> (grad, hess)``
    ``raw`` float64 ``[K, n]``; ``kind`` 0 half squared error (``g = raw - y``, ``h = w``;
    ``hess`` is None without weights: constant hessians), 1 binary log-loss on log-odds
    (``p = σ(raw)``, ``g = p - y``, ``h = p (1 - p)``), 2 softmax cross-entropy (``y`` class codes
    as floats); gradients and hessians times ``w`` with weights.  Computed in float64, returned
    as float32 ``[K, n]``, as the cpu and cuda kernels store them.

``loss_value(kind, raw, y, w, use_w) -> float``
    The (weighted) mean loss: half squared error, binary or multiclass log-loss.
"""
from __future__ import annotations

import numpy as np

__all__ = ["gradients", "loss_value"]


def gradients(kind, raw, y, w, use_w):
    if kind == 0:
        g = raw[0] - y
        if not use_w:
            return g[None].astype(np.float32), None
        return (g * w)[None].astype(np.float32), w[None].astype(np.float32)
    if kind == 1:
        p = 1.0 / (1.0 + np.exp(-raw[0]))
        g, h = p - y, p * (1.0 - p)
        if use_w:
            g, h = g * w, h * w
        return g[None].astype(np.float32), h[None].astype(np.float32)
    e = np.exp(raw - raw.max(axis=0))
    p = e / e.sum(axis=0)
    g = p - (np.arange(raw.shape[0])[:, None] == y[None, :])
    h = p * (1.0 - p)
    if use_w:
        g, h = g * w, h * w
    return g.astype(np.float32), h.astype(np.float32)


def loss_value(kind, raw, y, w, use_w):
    if kind == 0:
        v = 0.5 * (raw[0] - y) ** 2
    elif kind == 1:
        z = raw[0]
        v = np.logaddexp(0.0, z) - y * z  # log(1 + exp(z)) - y z, stable
    else:
        m = raw.max(axis=0)
        v = m + np.log(np.exp(raw - m).sum(axis=0)) - raw[y.astype(np.intp), np.arange(raw.shape[1])]
    if use_w:
        total = float(np.sum(w))
        return float(np.sum(w * v)) / total if total != 0.0 else 0.0
    return float(np.mean(v)) if v.size else 0.0
