"""NumPy reference: gradient histograms (histogram gradient boosting) and class histograms
(classic trees).

Raw signatures shared with the cpu and cuda modules (inputs already validated by
:mod:`bagu_fast.trees.histogram` / :mod:`bagu_fast.trees.criteria`):

``build_histogram(binned, gradients, hessians, sample_indices, n_bins) -> (g, h, c)``
    ``binned`` uint8 ``[n_samples, n_features]`` C-contiguous, codes ``< n_bins``;
    ``gradients`` / ``hessians`` float32 or float64 ``[n_samples]`` (``hessians`` may be
    ``None``: constant hessians, ``h`` is then the counts); ``sample_indices`` intp ``[m]`` or
    ``None`` (all rows, in order).  Returns float64 ``g``, ``h`` and int64 ``c``, each
    ``[n_features, n_bins]``; sums accumulate row by row in ``sample_indices`` order.

``build_class_histogram(binned, y_codes, n_classes, sample_indices, n_bins, sample_weight)``
    ``binned`` uint8 ``[n_samples, n_features]``, ``y_codes`` int64 ``[n_samples]`` in
    ``[0, n_classes)``, ``sample_indices`` int64 ``[m]`` or None (all rows), ``sample_weight``
    float64 ``[n_samples]`` or None.  Returns ``[n_features, n_bins, n_classes]``: int64 counts
    without weights, float64 weight sums with them.
"""
from __future__ import annotations

import numpy as np

__all__ = ["build_histogram", "build_class_histogram"]


def build_histogram(binned, gradients, hessians, sample_indices, n_bins):
    n_features = binned.shape[1]
    rows = binned if sample_indices is None else binned[sample_indices]
    g_rows = gradients if sample_indices is None else gradients[sample_indices]
    g = np.zeros((n_features, n_bins), dtype=np.float64)
    c = np.zeros((n_features, n_bins), dtype=np.int64)
    h = np.zeros((n_features, n_bins), dtype=np.float64)
    for f in range(n_features):
        codes = rows[:, f].astype(np.intp)
        np.add.at(g[f], codes, g_rows.astype(np.float64))
        c[f] = np.bincount(codes, minlength=n_bins)[:n_bins]
        if hessians is not None:
            h_rows = hessians if sample_indices is None else hessians[sample_indices]
            np.add.at(h[f], codes, h_rows.astype(np.float64))
    if hessians is None:
        h = c.astype(np.float64)
    return g, h, c


def build_class_histogram(binned, y_codes, n_classes, sample_indices, n_bins, sample_weight):
    n_features = binned.shape[1]
    rows = binned if sample_indices is None else binned[sample_indices]
    y = y_codes if sample_indices is None else y_codes[sample_indices]
    w = None
    if sample_weight is not None:
        w = sample_weight if sample_indices is None else sample_weight[sample_indices]
    out_dtype = np.int64 if w is None else np.float64
    out = np.zeros((n_features, n_bins, n_classes), dtype=out_dtype)
    y = y.astype(np.int64)
    for f in range(n_features):
        flat = rows[:, f].astype(np.int64) * n_classes + y
        counts = np.bincount(flat, weights=w, minlength=n_bins * n_classes)
        out[f] = counts.reshape(n_bins, n_classes).astype(out_dtype)
    return out
