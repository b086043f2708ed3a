"""Numba CUDA kernels: the best split of a gradient-histogram node (histogram gradient boosting).

Raw signature shared with :mod:`bagu_fast.kernels.reference.trees.splitting` (see its docstring
for the split semantics and the tie rule).

``_split_feature``
    One block per feature, one thread per candidate bin: thread ``b`` forms the running sums of
    bins ``0..b`` in bin order (the same float64 additions, in the same order, as the reference
    and cpu scans, so gains agree to the last bit), evaluates both missing-value directions, and
    the block's thread 0 picks the best in the reference's scan order (thread 0 also finds where
    the scans stop, before the candidates are evaluated).  The host picks the best feature
    (lowest index on ties).
"""
from __future__ import annotations

import math

import numpy as np
from numba import cuda, float64, int32

from ...cpu.trees.splitting import denominator
from ._launch import MAX_BINS, device_view, threads

__all__ = ["find_best_split"]

_denominator = cuda.jit(device=True, inline=True)(denominator)


@cuda.jit(device=True, inline=True)
def _scan_stops(g, h, c, f, G, H, N, min_samples_leaf, min_hessian, has_missing):
    """``(right_stop, left_stop)``: the missing-right candidates count below ``right_stop``
    (the first bin whose right side fails ``min_hessian`` while the rest passes; ``n_bins`` when
    none), the missing-left ones above ``left_stop`` (-1 when none): the cpu scan's rules, with
    its running sums in its order."""
    n_bins = g.shape[1]
    right_stop = n_bins
    nl = 0.0
    hl = 0.0
    for b in range(n_bins - 1):
        nl += float64(c[f, b])
        hl += h[f, b]
        if nl < min_samples_leaf or N - nl < min_samples_leaf or hl < min_hessian:
            continue
        if H - hl < min_hessian:
            right_stop = b
            break
    left_stop = -1
    if has_missing:
        nr = 0.0
        hr = 0.0
        for b in range(n_bins - 3, -1, -1):
            nr += float64(c[f, b + 1])
            hr += h[f, b + 1]
            if nr < min_samples_leaf:
                continue
            if N - nr < min_samples_leaf:
                left_stop = b
                break
            if hr < min_hessian:
                continue
            if H - hr < min_hessian:
                left_stop = b
                break
    return right_stop, left_stop


@cuda.jit
def _split_feature(g, h, c, lam, min_samples_leaf, min_hessian, min_gain, res):
    """Per feature (block): best (gain, bin, missing_left, gl, hl, nl, gr, hr, nr) into ``res[f]``."""
    f = cuda.blockIdx.x
    tid = cuda.threadIdx.x
    nt = cuda.blockDim.x
    n_bins = g.shape[1]
    sgain = cuda.shared.array((2, MAX_BINS), float64)
    miss = n_bins - 1
    mc = c[f, miss]
    has_missing = mc > 0
    # node totals: sequential running sum over every bin (identical in every thread)
    G = 0.0
    H = 0.0
    N = 0.0
    for b in range(n_bins):
        G += g[f, b]
        H += h[f, b]
        N += float64(c[f, b])
    parent = G * G / _denominator(H, lam)
    stops = cuda.shared.array(2, int32)
    if tid == 0:
        right_stop, left_stop = _scan_stops(g, h, c, f, G, H, N, min_samples_leaf, min_hessian, has_missing)
        stops[0] = right_stop
        stops[1] = left_stop
    for b in range(tid, MAX_BINS, nt):
        sgain[0, b] = -math.inf
        sgain[1, b] = -math.inf
    cuda.syncthreads()
    for cand in range(tid, n_bins - 1, nt):  # one thread per candidate bin (blockDim >= n_bins - 1)
        gl = 0.0
        hl = 0.0
        nl = 0.0
        for j in range(cand + 1):  # running sums of bins 0..cand, bin 0 first (as the scans)
            gl += g[f, j]
            hl += h[f, j]
            nl += float64(c[f, j])
        for side in range(2):
            if side == 1 and not has_missing:
                continue
            if (side == 0 and cand >= stops[0]) or (side == 1 and cand <= stops[1]):
                continue
            tgl = gl
            thl = hl
            tnl = nl
            if side == 1:
                tgl = gl + g[f, miss]
                thl = hl + h[f, miss]
                tnl = nl + float64(mc)
            tgr = G - tgl
            thr = H - thl
            tnr = N - tnl
            if tnl < min_samples_leaf or tnr < min_samples_leaf:
                continue
            if thl < min_hessian or thr < min_hessian:
                continue
            gain = tgl * tgl / _denominator(thl, lam) + tgr * tgr / _denominator(thr, lam) - parent
            if gain > min_gain:
                sgain[side, cand] = gain
    cuda.syncthreads()
    if tid == 0:
        best = -math.inf
        bbin = -1
        bside = 0
        for b in range(n_bins - 1):  # the reference's scan order: bin, then missing right / left
            for side in range(2):
                if sgain[side, b] > best:
                    best = sgain[side, b]
                    bbin = b
                    bside = side
        res[f, 0] = best
        res[f, 1] = bbin
        if bbin >= 0:
            gl = 0.0
            hl = 0.0
            nl = 0.0
            for j in range(bbin + 1):
                gl += g[f, j]
                hl += h[f, j]
                nl += float64(c[f, j])
            if bside == 1:
                gl = gl + g[f, miss]
                hl = hl + h[f, miss]
                nl = nl + float64(mc)
            res[f, 3] = gl
            res[f, 4] = hl
            res[f, 5] = nl
            res[f, 6] = G - gl
            res[f, 7] = H - hl
            res[f, 8] = N - nl
            if has_missing:
                res[f, 2] = 1.0 if bside == 1 else 0.0
            else:
                res[f, 2] = 1.0 if nl > N - nl else 0.0


PTX_SIGNATURES = {
    "_split_feature": ["void(float64[:, ::1], float64[:, ::1], int64[:, ::1], float64, float64, float64, float64, "
                       "float64[:, ::1])"],
}


def find_best_split(g, h, c, l2_regularization, min_samples_leaf, min_hessian_to_split, min_gain_to_split):
    n_features, n_bins = g.shape
    res = np.full((n_features, 9), 0.0)
    res[:, 0] = -np.inf
    res[:, 1] = -1
    dres = cuda.to_device(res)
    if n_features:
        _split_feature[n_features, threads(n_bins - 1)](
            device_view(g, np.float64), device_view(h, np.float64), device_view(c, np.int64),
            float(l2_regularization), float(min_samples_leaf), float(min_hessian_to_split),
            float(min_gain_to_split), dres)
    res = dres.copy_to_host()
    best_f, best = -1, -np.inf
    for f in range(n_features):  # lowest feature on ties
        if res[f, 0] > best:
            best, best_f = res[f, 0], f
    if best_f < 0:
        return (-1, -1, -np.inf, False, 0.0, 0.0, 0, 0.0, 0.0, 0)
    r = res[best_f]
    return (int(best_f), int(r[1]), float(r[0]), bool(r[2]), float(r[3]), float(r[4]), int(r[5]),
            float(r[6]), float(r[7]), int(r[8]))
