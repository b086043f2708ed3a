"""Numba CUDA kernels: gradient histograms (histogram gradient boosting) and class histograms
(classic trees).

Raw signatures shared with :mod:`bagu_fast.kernels.reference.trees.histogram`; inputs may be
NumPy arrays (copied in, results copied out as NumPy) or device arrays (results stay on the
device, as Numba device arrays).

Kernels
-------
``_hist_f*`` / ``_hist_q``
    Grid ``(row blocks, features)``: a block of ``NT`` threads accumulates one feature's
    ``n_bins`` bins (sum of gradients, sum of hessians, count) over a tile of rows in shared
    memory with shared-memory atomics, then merges the tile's bins into the node histogram in
    global memory with one atomic per bin.  The float kernels (``_hist_f32`` / ``_hist_f64``,
    float64 sums) are fast but their float64 atomics make the last bits depend on timing.
    ``deterministic=True`` uses ``_hist_q``: gradients and hessians are first quantised to int64
    fixed point (``_quantise``; one scale per array, chosen from the largest magnitude so that no
    sum of the node can overflow, as XGBoost's deterministic histograms), summed with integer
    atomics (exact, order-free), then scaled back: the result never depends on timing, and
    differs from the exact sum by at most ``m * max|g| / 2**63`` for ``m`` rows.
``_fill_i64`` / ``_sub_i64``
    The boosting grower's histogram slots: cleared, and the larger child's histogram as the
    parent's minus the smaller one's (exact on integers).
``_class_hist_counts`` / ``_class_hist_weights``
    One thread per (row, feature) pair of a grid-stride loop, ``atomicAdd`` into the global
    ``[n_features, n_bins, n_classes]`` array: int64 counts are exact whatever the order
    (deterministic); float64 weight sums are order-dependent in the last bits.

No warp shuffles anywhere, so everything also runs in the CUDA simulator.
"""
from __future__ import annotations

import math

import numpy as np
from numba import cuda, float64, int32, int64

from ._launch import MAX_BINS, NT, blocks, capped_blocks, device_view, is_device, threads, to_device_as

__all__ = ["build_histogram", "build_class_histogram"]

ROWS_PER_BLOCK = 4096  # rows per histogram block (per feature)


@cuda.jit(device=True, inline=True)
def _row(idx, use_idx, i):
    return idx[i] if use_idx else i


def _make_hist(acc):
    """The histogram kernel with ``acc`` (float64 or int64) shared-memory accumulators: float64
    sums of float gradients, or exact int64 sums of quantised ones (independent of the atomics'
    order)."""

    def kernel(binned, grad, hess, has_hess, idx, use_idx, n_rows, out_g, out_h, out_c):
        f = cuda.blockIdx.y
        tid = cuda.threadIdx.x
        nt = cuda.blockDim.x
        n_bins = out_g.shape[1]
        sg = cuda.shared.array(MAX_BINS, acc)
        sh = cuda.shared.array(MAX_BINS, acc)
        sc = cuda.shared.array(MAX_BINS, int32)
        for b in range(tid, n_bins, nt):
            sg[b] = 0
            sh[b] = 0
            sc[b] = 0
        cuda.syncthreads()
        lo = cuda.blockIdx.x * ROWS_PER_BLOCK
        hi = min(n_rows, lo + ROWS_PER_BLOCK)
        for i in range(lo + tid, hi, nt):
            r = _row(idx, use_idx, i)
            b = binned[r, f]
            cuda.atomic.add(sg, b, acc(grad[r]))
            if has_hess:
                cuda.atomic.add(sh, b, acc(hess[r]))
            cuda.atomic.add(sc, b, 1)
        cuda.syncthreads()
        for b in range(tid, n_bins, nt):
            if sc[b] != 0:
                cuda.atomic.add(out_g, (f, b), sg[b])
                if has_hess:
                    cuda.atomic.add(out_h, (f, b), sh[b])
                cuda.atomic.add(out_c, (f, b), int64(sc[b]))

    return cuda.jit(kernel)


_hist_f32 = _make_hist(float64)
_hist_f64 = _make_hist(float64)
_hist_q = _make_hist(int64)


@cuda.jit
def _absmax(x, out):
    """``out[0] = max |x|`` (grid-stride loop, one float64 atomic max per thread)."""
    m = 0.0
    for i in range(cuda.grid(1), x.shape[0], cuda.gridsize(1)):
        v = abs(float64(x[i]))
        if v > m:
            m = v
    cuda.atomic.max(out, 0, m)


@cuda.jit
def _quantise(x, scale, out):
    for i in range(cuda.grid(1), x.shape[0], cuda.gridsize(1)):
        out[i] = int64(math.floor(float64(x[i]) * scale + 0.5))


@cuda.jit
def _dequantise(q, scale, out):
    """``out = q / scale`` (2-D grid-stride: any launch shape covers every element)."""
    f0, b0 = cuda.grid(2)
    sf, sb = cuda.gridsize(2)
    for f in range(f0, q.shape[0], sf):
        for b in range(b0, q.shape[1], sb):
            out[f, b] = float64(q[f, b]) / scale


@cuda.jit
def _fill_i64(x, value):
    for i in range(cuda.grid(1), x.shape[0], cuda.gridsize(1)):
        x[i] = value


@cuda.jit
def _sub_i64(parent, child):
    """``parent -= child`` (flattened histogram slots: the sibling's histogram, exact)."""
    for i in range(cuda.grid(1), parent.shape[0], cuda.gridsize(1)):
        parent[i] -= child[i]


@cuda.jit(device=True, inline=True)
def _row_feature(t, rows, n_features):
    """(row, feature) of work item ``t`` of the class histograms' (row, feature) pairs."""
    k = t // n_features
    return rows[k], t - k * n_features


@cuda.jit
def _class_hist_counts(binned, y, rows, out):
    n_features = binned.shape[1]
    for t in range(cuda.grid(1), rows.shape[0] * n_features, cuda.gridsize(1)):
        i, f = _row_feature(t, rows, n_features)
        cuda.atomic.add(out, (f, binned[i, f], y[i]), 1)


@cuda.jit
def _class_hist_weights(binned, y, rows, w, out):
    n_features = binned.shape[1]
    for t in range(cuda.grid(1), rows.shape[0] * n_features, cuda.gridsize(1)):
        i, f = _row_feature(t, rows, n_features)
        cuda.atomic.add(out, (f, binned[i, f], y[i]), w[i])


_B2 = "uint8[:, ::1]"
PTX_SIGNATURES = {
    "_hist_f32": [f"void({_B2}, float32[::1], float32[::1], boolean, int64[::1], boolean, int64, "
                  "float64[:, ::1], float64[:, ::1], int64[:, ::1])"],
    "_hist_f64": [f"void({_B2}, float64[::1], float64[::1], boolean, int64[::1], boolean, int64, "
                  "float64[:, ::1], float64[:, ::1], int64[:, ::1])"],
    "_hist_q": [f"void({_B2}, int64[::1], int64[::1], boolean, int64[::1], boolean, int64, "
                "int64[:, ::1], int64[:, ::1], int64[:, ::1])"],
    "_absmax": ["void(float32[::1], float64[::1])", "void(float64[::1], float64[::1])"],
    "_quantise": ["void(float32[::1], float64, int64[::1])", "void(float64[::1], float64, int64[::1])"],
    "_dequantise": ["void(int64[:, ::1], float64, float64[:, ::1])"],
    "_fill_i64": ["void(int64[::1], int64)"],
    "_sub_i64": ["void(int64[::1], int64[::1])"],
    "_class_hist_counts": ["void(uint8[:, ::1], int64[::1], int64[::1], int64[:, :, ::1])"],
    "_class_hist_weights": ["void(uint8[:, ::1], int64[::1], int64[::1], float64[::1], float64[:, :, ::1])"],
}


# --------------------------------------------------------------------------------------------
# launchers
# --------------------------------------------------------------------------------------------
def _quantised(x, n_rows, out=None, nt=None, max_blocks=None):
    """int64 fixed-point copy of ``x`` and its scale: sums of up to ``n_rows`` values fit int64.

    ``out``: an int64 device buffer of ``x``'s length to fill (else one is allocated); ``nt`` /
    ``max_blocks``: launch shape of the two grid-stride kernels (default: a block of ``NT`` per
    ``4 * NT`` values)."""
    m = cuda.to_device(np.zeros(1))
    nt = threads(x.shape[0]) if nt is None else nt
    n_blocks = blocks(x.shape[0], nt * 4) if max_blocks is None else min(max_blocks, blocks(x.shape[0], nt * 4))
    _absmax[n_blocks, nt](x, m)
    amax = float(m.copy_to_host()[0])
    scale = 1.0 if amax == 0.0 else 2.0 ** (62 - math.ceil(math.log2(amax * max(n_rows, 1) + 1e-300)))
    q = cuda.device_array(x.shape[0], dtype=np.int64) if out is None else out
    _quantise[n_blocks, nt](x, scale, q)
    return q, scale


def build_histogram(binned, gradients, hessians, sample_indices, n_bins, deterministic=False):
    on_device = any(is_device(a) for a in (binned, gradients, hessians, sample_indices))
    n_samples, n_features = binned.shape
    dtype = np.dtype(gradients.dtype)
    db = device_view(binned)
    dg = device_view(gradients)
    has_hess = hessians is not None
    dh = device_view(hessians) if has_hess else dg
    use_idx = sample_indices is not None
    didx = device_view(sample_indices, np.int64) if use_idx else cuda.to_device(np.zeros(1, dtype=np.int64))
    n_rows = didx.shape[0] if use_idx else n_samples
    g = cuda.to_device(np.zeros((n_features, n_bins)))
    h = cuda.to_device(np.zeros((n_features, n_bins)))
    c = cuda.to_device(np.zeros((n_features, n_bins), dtype=np.int64))
    grid = (blocks(n_rows, ROWS_PER_BLOCK), n_features)
    nt = threads(min(n_rows, ROWS_PER_BLOCK))
    if n_rows and n_features:
        if deterministic:
            qg, sg = _quantised(dg, n_rows)
            qh, sh = _quantised(dh, n_rows) if has_hess else (qg, 1.0)
            ig = cuda.to_device(np.zeros((n_features, n_bins), dtype=np.int64))
            ih = cuda.to_device(np.zeros((n_features, n_bins), dtype=np.int64))
            _hist_q[grid, nt](db, qg, qh, has_hess, didx, use_idx, n_rows, ig, ih, c)
            g2 = (blocks(n_features, 8), blocks(n_bins, 32))
            _dequantise[g2, (8, 32)](ig, sg, g)
            if has_hess:
                _dequantise[g2, (8, 32)](ih, sh, h)
        else:
            kern = _hist_f32 if dtype == np.float32 else _hist_f64
            kern[grid, nt](db, dg, dh, has_hess, didx, use_idx, n_rows, g, h, c)
    if not has_hess:
        h = None
    if on_device:
        if h is None:  # constant hessians: the counts serve
            hh = c.copy_to_host().astype(np.float64)
            h = cuda.to_device(hh)
        return g, h, c
    gh, ch = g.copy_to_host(), c.copy_to_host()
    return gh, (h.copy_to_host() if h is not None else ch.astype(np.float64)), ch


def build_class_histogram(binned, y_codes, n_classes, sample_indices, n_bins, sample_weight):
    inputs = [binned, y_codes] + [a for a in (sample_indices, sample_weight) if a is not None]
    on_device = any(is_device(a) for a in inputs)
    n, n_features = (int(s) for s in binned.shape)
    weighted = sample_weight is not None
    out_dtype = np.float64 if weighted else np.int64
    db = to_device_as(binned, np.uint8)
    dy = to_device_as(y_codes, np.int64)
    if sample_indices is None:
        drows = cuda.to_device(np.arange(n, dtype=np.int64))
    else:
        drows = to_device_as(sample_indices, np.int64)
    out = cuda.to_device(np.zeros((n_features, n_bins, n_classes), dtype=out_dtype))
    work = int(drows.shape[0]) * n_features
    if work:
        if weighted:
            _class_hist_weights[capped_blocks(work), NT](db, dy, drows, to_device_as(sample_weight, np.float64), out)
        else:
            _class_hist_counts[capped_blocks(work), NT](db, dy, drows, out)
    return out if on_device else out.copy_to_host()
