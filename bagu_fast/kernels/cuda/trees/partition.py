"""Numba CUDA kernels: the stable partition of a node's rows by a split (gradient boosting).

Raw signature shared with :mod:`bagu_fast.kernels.reference.trees.partition`.

``_partition_count`` / ``_partition_scatter`` / ``_tile_offsets``
    Per tile of ``blockDim.x * rows_per_thread`` rows the number going left (shared-memory
    reduction), an exclusive scan of the tile counts (on the host in :func:`partition`, on the
    device by ``_tile_offsets`` in the tree grower), then per tile a shared-memory
    (Hillis–Steele) scan of the threads' left counts gives each row its position.  A GPU runs
    ``NT`` threads of one row each (coalesced); the simulator, whose ``syncthreads`` costs
    milliseconds, runs a few threads of many rows.  No warp shuffles.
"""
from __future__ import annotations

import numpy as np
from numba import cuda, int32, int64

from ._launch import NT, blocks, device_view, is_device

__all__ = ["partition"]


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
    "_partition_count": [f"void(int64[::1], {_B2}, int64, int64, boolean, int64, int64, int32[::1])"],
    "_partition_scatter": [f"void(int64[::1], {_B2}, int64, int64, boolean, int64, int64, int64[::1], int64[::1])"],
    "_tile_offsets": ["void(int32[::1], int64, int64[::1])"],
}


def partition(sample_indices, binned, feature, bin, missing_go_to_left, missing_bin):
    on_device = is_device(sample_indices) or is_device(binned)
    didx = device_view(sample_indices, np.int64)
    db = device_view(binned)
    n = didx.shape[0]
    if n == 0:
        empty = np.zeros(0, dtype=np.int64)
        return (cuda.to_device(empty), cuda.to_device(empty)) if on_device else (empty, empty.copy())
    tiles = blocks(n, NT)
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
