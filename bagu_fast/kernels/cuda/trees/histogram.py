"""Numba CUDA kernels for histogram gradient boosting: histograms, split finding, partition.

Raw signatures shared with :mod:`bagu_fast.kernels.reference.trees.histogram` (see its docstring
for the split semantics and the tie rule); inputs may be NumPy arrays (copied in, results copied
out as NumPy) or device arrays (results stay on the device, as Numba device arrays).

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
``_split_feature``
    One block per feature, one thread per candidate bin: thread ``b`` forms the running sums of
    bins ``0..b`` in bin order (the same float64 additions, in the same order, as the reference
    and cpu scans, so gains agree to the last bit), evaluates both missing-value directions, and
    the block's thread 0 picks the best in the reference's scan order.  The host picks the best
    feature (lowest index on ties).
``_partition_count`` / ``_partition_scatter`` / ``_tile_offsets``
    Stable partition: per tile of ``blockDim.x * rows_per_thread`` rows the number going left
    (shared-memory reduction), an exclusive scan of the tile counts (on the host in
    :func:`partition`, on the device by ``_tile_offsets`` in the tree grower), then per tile a
    shared-memory (Hillis–Steele) scan of the threads' left counts gives each row its position.
    A GPU runs ``NT`` threads of one row each (coalesced); the simulator, whose ``syncthreads``
    costs milliseconds, runs a few threads of many rows.  No warp shuffles anywhere, so
    everything also runs in the CUDA simulator.
"""
from __future__ import annotations

import math

import numpy as np
from numba import cuda, float64, int32, int64

from ...cpu.trees.histogram import denominator

__all__ = [  # the launchers, and the kernels (the package re-exports them for the PTX check)
    "build_histogram", "find_best_split", "partition", "_hist_f32", "_hist_f64", "_hist_q", "_absmax",
    "_quantise", "_dequantise", "_split_feature", "_partition_count", "_partition_scatter", "_tile_offsets",
]

NT = 256  # threads per block
ROWS_PER_BLOCK = 4096  # rows per histogram block (per feature)
MAX_BINS = 256


_denominator = cuda.jit(device=True, inline=True)(denominator)


@cuda.jit(device=True, inline=True)
def _row(idx, use_idx, i):
    return idx[i] if use_idx else i


def _make_hist(nb_float):
    def kernel(binned, grad, hess, has_hess, idx, use_idx, n_rows, out_g, out_h, out_c):
        f = cuda.blockIdx.y
        tid = cuda.threadIdx.x
        nt = cuda.blockDim.x
        n_bins = out_g.shape[1]
        sg = cuda.shared.array(MAX_BINS, float64)
        sh = cuda.shared.array(MAX_BINS, float64)
        sc = cuda.shared.array(MAX_BINS, int32)
        for b in range(tid, n_bins, nt):
            sg[b] = 0.0
            sh[b] = 0.0
            sc[b] = 0
        cuda.syncthreads()
        lo = cuda.blockIdx.x * ROWS_PER_BLOCK
        hi = min(n_rows, lo + ROWS_PER_BLOCK)
        for i in range(lo + tid, hi, nt):
            r = _row(idx, use_idx, i)
            b = binned[r, f]
            cuda.atomic.add(sg, b, float64(grad[r]))
            if has_hess:
                cuda.atomic.add(sh, b, float64(hess[r]))
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


@cuda.jit
def _hist_q(binned, qgrad, qhess, has_hess, idx, use_idx, n_rows, out_g, out_h, out_c):
    """Integer (fixed-point) histogram: exact, so independent of the atomics' order."""
    f = cuda.blockIdx.y
    tid = cuda.threadIdx.x
    nt = cuda.blockDim.x
    n_bins = out_g.shape[1]
    sg = cuda.shared.array(MAX_BINS, int64)
    sh = cuda.shared.array(MAX_BINS, int64)
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
        cuda.atomic.add(sg, b, qgrad[r])
        if has_hess:
            cuda.atomic.add(sh, b, qhess[r])
        cuda.atomic.add(sc, b, 1)
    cuda.syncthreads()
    for b in range(tid, n_bins, nt):
        if sc[b] != 0:
            cuda.atomic.add(out_g, (f, b), sg[b])
            if has_hess:
                cuda.atomic.add(out_h, (f, b), sh[b])
            cuda.atomic.add(out_c, (f, b), int64(sc[b]))


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


@cuda.jit(device=True, inline=True)
def _left(code, bin_, missing_left, missing_bin):
    if code == missing_bin:
        return missing_left
    return code <= bin_


@cuda.jit
def _partition_count(idx, binned, feature, bin_, missing_left, missing_bin, rows_per_thread, tile_counts):
    """Rows going left per tile of ``blockDim.x * rows_per_thread`` rows of ``idx`` (``blockDim.x
    <= NT``).  Thread ``t`` of tile ``k`` reads rows ``(k * blockDim.x + t) * rows_per_thread``
    onwards: with 1 row per thread (a GPU) the reads are coalesced; the simulator runs few threads
    with many rows each."""
    tid = cuda.threadIdx.x
    nt = cuda.blockDim.x
    n = idx.shape[0]
    s = cuda.shared.array(NT, int32)
    lo = (cuda.blockIdx.x * nt + tid) * rows_per_thread
    cnt = 0
    for i in range(lo, min(n, lo + rows_per_thread)):
        if _left(binned[idx[i], feature], bin_, missing_left, missing_bin):
            cnt += 1
    s[tid] = cnt
    cuda.syncthreads()
    step = 1
    while step < nt:  # tree reduction (any block size)
        if tid % (2 * step) == 0 and tid + step < nt:
            s[tid] += s[tid + step]
        cuda.syncthreads()
        step *= 2
    if tid == 0:
        tile_counts[cuda.blockIdx.x] = s[0]


@cuda.jit
def _partition_scatter(idx, binned, feature, bin_, missing_left, missing_bin, rows_per_thread, left_offsets, out):
    """Stable scatter of tile ``k``'s rows (tiles as in ``_partition_count``, one block each):
    ``left_offsets[k]`` lefts precede the tile and ``left_offsets[n_tiles]`` is the total; a
    shared-memory (Hillis-Steele) scan of the threads' left counts gives each thread the lefts
    before its rows, so a row goes to ``out[lefts before it]`` (left) or ``out[n_left + rights
    before it]`` (right).  Positions come from the counts of the same codes: always inside ``out``."""
    tid = cuda.threadIdx.x
    nt = cuda.blockDim.x
    t = cuda.blockIdx.x
    n = idx.shape[0]
    n_left = left_offsets[cuda.gridDim.x]
    s = cuda.shared.array(NT, int32)
    lo = (t * nt + tid) * rows_per_thread
    hi = min(n, lo + rows_per_thread)
    cnt = 0
    for i in range(lo, hi):
        if _left(binned[idx[i], feature], bin_, missing_left, missing_bin):
            cnt += 1
    s[tid] = cnt
    cuda.syncthreads()
    off = 1
    while off < nt:  # Hillis-Steele inclusive scan of the threads' counts
        v = s[tid - off] if tid >= off else 0
        cuda.syncthreads()
        s[tid] += v
        cuda.syncthreads()
        off *= 2
    lefts_before = left_offsets[t] + s[tid] - cnt  # lefts before row lo in the whole segment
    pl = lefts_before
    pr = n_left + lo - lefts_before
    for i in range(lo, hi):
        r = idx[i]
        if _left(binned[r, feature], bin_, missing_left, missing_bin):
            out[pl] = r
            pl += 1
        else:
            out[pr] = r
            pr += 1


@cuda.jit
def _tile_offsets(tile_counts, n_tiles, offsets):
    """Exclusive scan ``offsets[k] = sum(tile_counts[:k])`` for ``k <= n_tiles`` (the last: the
    total) on the device, one block: thread ``t`` sums a run of tiles, a shared-memory scan over
    the threads, then each writes its run."""
    tid = cuda.threadIdx.x
    nt = cuda.blockDim.x
    s = cuda.shared.array(NT, int64)
    per = (n_tiles + nt - 1) // nt
    lo = tid * per
    hi = min(n_tiles, lo + per)
    tot = int64(0)
    for i in range(lo, hi):
        tot += tile_counts[i]
    s[tid] = tot
    cuda.syncthreads()
    off = 1
    while off < nt:
        v = s[tid - off] if tid >= off else int64(0)
        cuda.syncthreads()
        s[tid] += v
        cuda.syncthreads()
        off *= 2
    run = s[tid] - tot
    for i in range(lo, hi):
        offsets[i] = run
        run += tile_counts[i]
    if tid == nt - 1:
        offsets[n_tiles] = s[tid]


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
    "_split_feature": ["void(float64[:, ::1], float64[:, ::1], int64[:, ::1], float64, float64, float64, float64, "
                       "float64[:, ::1])"],
    "_partition_count": [f"void(int64[::1], {_B2}, int64, int64, boolean, int64, int64, int32[::1])"],
    "_partition_scatter": [f"void(int64[::1], {_B2}, int64, int64, boolean, int64, int64, int64[::1], int64[::1])"],
    "_tile_offsets": ["void(int32[::1], int64, int64[::1])"],
}


# --------------------------------------------------------------------------------------------
# launchers
# --------------------------------------------------------------------------------------------
def _is_device(x) -> bool:
    return x is not None and (hasattr(x, "__cuda_array_interface__") or hasattr(x, "copy_to_host"))


def _dev(x, dtype=None):
    if hasattr(x, "copy_to_host"):
        return x
    if hasattr(x, "__cuda_array_interface__"):
        return cuda.as_cuda_array(x)
    return cuda.to_device(np.ascontiguousarray(x) if dtype is None else np.ascontiguousarray(x, dtype=dtype))


def _threads(work):
    """Threads per block: ``NT``, or fewer (a multiple of 32) for small work (the simulator runs
    every thread as a Python thread)."""
    return int(min(NT, max(32, 32 * ((work + 31) // 32))))


def _blocks(n, per):
    return max(1, (n + per - 1) // per)


def _quantised(x, n_rows, out=None, nt=None, max_blocks=None):
    """int64 fixed-point copy of ``x`` and its scale: sums of up to ``n_rows`` values fit int64.

    ``out``: an int64 device buffer of ``x``'s length to fill (else one is allocated); ``nt`` /
    ``max_blocks``: launch shape of the two grid-stride kernels (default: a block of ``NT`` per
    ``4 * NT`` values)."""
    m = cuda.to_device(np.zeros(1))
    nt = _threads(x.shape[0]) if nt is None else nt
    blocks = _blocks(x.shape[0], nt * 4) if max_blocks is None else min(max_blocks, _blocks(x.shape[0], nt * 4))
    _absmax[blocks, nt](x, m)
    amax = float(m.copy_to_host()[0])
    scale = 1.0 if amax == 0.0 else 2.0 ** (62 - math.ceil(math.log2(amax * max(n_rows, 1) + 1e-300)))
    q = cuda.device_array(x.shape[0], dtype=np.int64) if out is None else out
    _quantise[blocks, nt](x, scale, q)
    return q, scale


def build_histogram(binned, gradients, hessians, sample_indices, n_bins, deterministic=False):
    on_device = any(_is_device(a) for a in (binned, gradients, hessians, sample_indices))
    n_samples, n_features = binned.shape
    dtype = np.dtype(gradients.dtype)
    db = _dev(binned)
    dg = _dev(gradients)
    has_hess = hessians is not None
    dh = _dev(hessians) if has_hess else dg
    use_idx = sample_indices is not None
    didx = _dev(sample_indices, np.int64) if use_idx else cuda.to_device(np.zeros(1, dtype=np.int64))
    n_rows = didx.shape[0] if use_idx else n_samples
    g = cuda.to_device(np.zeros((n_features, n_bins)))
    h = cuda.to_device(np.zeros((n_features, n_bins)))
    c = cuda.to_device(np.zeros((n_features, n_bins), dtype=np.int64))
    grid = (_blocks(n_rows, ROWS_PER_BLOCK), n_features)
    nt = _threads(min(n_rows, ROWS_PER_BLOCK))
    if n_rows and n_features:
        if deterministic:
            qg, sg = _quantised(dg, n_rows)
            qh, sh = _quantised(dh, n_rows) if has_hess else (qg, 1.0)
            ig = cuda.to_device(np.zeros((n_features, n_bins), dtype=np.int64))
            ih = cuda.to_device(np.zeros((n_features, n_bins), dtype=np.int64))
            _hist_q[grid, nt](db, qg, qh, has_hess, didx, use_idx, n_rows, ig, ih, c)
            g2 = (_blocks(n_features, 8), _blocks(n_bins, 32))
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


def find_best_split(g, h, c, l2_regularization, min_samples_leaf, min_hessian_to_split, min_gain_to_split):
    n_features, n_bins = g.shape
    res = np.full((n_features, 9), 0.0)
    res[:, 0] = -np.inf
    res[:, 1] = -1
    dres = cuda.to_device(res)
    if n_features:
        _split_feature[n_features, _threads(n_bins - 1)](_dev(g, np.float64), _dev(h, np.float64), _dev(c, np.int64),
                                       float(l2_regularization), float(min_samples_leaf),
                                       float(min_hessian_to_split), float(min_gain_to_split), dres)
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


def partition(sample_indices, binned, feature, bin, missing_go_to_left, missing_bin):
    on_device = _is_device(sample_indices) or _is_device(binned)
    didx = _dev(sample_indices, np.int64)
    db = _dev(binned)
    n = didx.shape[0]
    if n == 0:
        empty = np.zeros(0, dtype=np.int64)
        return (cuda.to_device(empty), cuda.to_device(empty)) if on_device else (empty, empty.copy())
    tiles = _blocks(n, NT)
    counts = cuda.device_array(tiles, dtype=np.int32)
    _partition_count[tiles, NT](didx, db, feature, bin, missing_go_to_left, missing_bin, 1, counts)
    hc = counts.copy_to_host().astype(np.int64)
    offsets = np.zeros(tiles + 1, dtype=np.int64)  # exclusive scan of the tile counts, then the total
    np.cumsum(hc, out=offsets[1:])
    n_left = int(offsets[-1])
    out = cuda.device_array(n, dtype=np.int64)
    _partition_scatter[tiles, NT](didx, db, feature, bin, missing_go_to_left, missing_bin, 1, cuda.to_device(offsets),
                                  out)
    if on_device:
        return out[:n_left], out[n_left:]
    host = out.copy_to_host()
    return host[:n_left], host[n_left:]
