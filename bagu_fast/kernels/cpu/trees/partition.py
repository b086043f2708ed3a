"""Numba CPU kernels: the stable partition of a node's rows by a split (gradient boosting).

:func:`partition_segment` partitions a segment of the grower's index array in place (stable),
reading one feature column (the grower keeps a column-major copy of the codes for this): serial
for small segments, else two parallel passes (count per chunk, scatter) over a fixed chunking,
so the result does not depend on the thread count.  :func:`partition` is the raw-signature
kernel of :func:`bagu_fast.trees.partition`.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from .._parallel import parallel_region

__all__ = ["partition"]

PARTITION_CHUNK = 16384  # nodes under 2 x PARTITION_CHUNK rows are partitioned serially


@njit(cache=True, nogil=True, inline="always")
def _goes_left(code, bin_, missing_left, missing_bin):
    if code == missing_bin:
        return missing_left
    return code <= bin_


@njit(cache=True, nogil=True, inline="always")
def _split_run(idx, lo, hi, col, bin_, missing_left, missing_bin, lefts, pl, rights, pr):
    """Rows ``idx[lo:hi]`` in order: the left-going ones to ``lefts[pl:]``, the others to
    ``rights[pr:]``; returns how many went left.  Branch-free: every row is written to both
    sides and only the taken side's cursor advances (left / right is data-dependent: a branch
    here mispredicts about half the time)."""
    pl0 = pl
    for i in range(lo, hi):
        r = idx[i]
        go = 1 if _goes_left(col[r], bin_, missing_left, missing_bin) else 0
        lefts[pl] = r
        rights[pr] = r
        pl += go
        pr += 1 - go
    return pl - pl0


@njit(cache=True, nogil=True, parallel=True)
def partition_segment(idx, tmp, col, start, end, bin_, missing_left, missing_bin, counts):
    """Stable in-place partition of ``idx[start:end]`` by the codes ``col[idx[i]]`` of one feature
    (a contiguous column: one byte per row read, instead of a cache line of a row-major matrix);
    returns the number going left.

    ``tmp`` has twice ``idx``'s length (scratch); ``counts`` is int64 scratch (even length).
    Large segments: two parallel passes over fixed chunks (split each chunk into its own runs of
    lefts and rights, then copy the runs to their places), branch-free.
    """
    n = end - start
    k = n // PARTITION_CHUNK
    if k < 2:  # lefts in place (never ahead of the reader), rights to tmp, then after them
        nl = _split_run(idx, start, end, col, bin_, missing_left, missing_bin, idx, start, tmp, 0)
        for i in range(n - nl):
            idx[start + nl + i] = tmp[i]
        return nl
    if k > counts.shape[0] // 2:
        k = counts.shape[0] // 2
    step = (n + k - 1) // k
    size = idx.shape[0]
    lefts = tmp[:size]
    rights = tmp[size:2 * size]
    # pass 1, per chunk: its lefts to lefts[lo:], its rights to rights[lo:], branch-free (both
    # cursors stay inside the chunk's own range, so chunks never touch each other's slots)
    for c in prange(k):
        lo = start + c * step
        hi = min(end, lo + step)
        counts[c] = _split_run(idx, lo, hi, col, bin_, missing_left, missing_bin, lefts, lo, rights, lo)
    total_left = 0
    for c in range(k):
        cl = counts[c]
        counts[k + c] = total_left  # where chunk c's lefts go
        total_left += cl
    right_off = total_left
    for c in range(k):
        lo = start + c * step
        size_c = min(end, lo + step) - lo
        cl = counts[c]
        counts[c] = right_off  # where chunk c's rights go
        right_off += size_c - cl
    # pass 2, per chunk: both runs copied to their final places in idx
    for c in prange(k):
        lo = start + c * step
        hi = min(end, lo + step)
        dl = start + counts[k + c]
        dr = start + counts[c]
        nl = (counts[k + c + 1] if c + 1 < k else total_left) - counts[k + c]
        for i in range(nl):
            idx[dl + i] = lefts[lo + i]
        for i in range(hi - lo - nl):
            idx[dr + i] = rights[lo + i]
    return total_left


def partition(sample_indices, binned, feature, bin, missing_go_to_left, missing_bin):
    idx = np.array(sample_indices, dtype=np.intp, copy=True)
    tmp = np.empty(2 * len(idx), dtype=idx.dtype)
    counts = np.zeros(2 * 64, dtype=np.int64)
    with parallel_region():
        nl = partition_segment(idx, tmp, np.ascontiguousarray(binned[:, feature]), 0, len(idx), int(bin),
                               bool(missing_go_to_left), int(missing_bin), counts)
    return idx[:nl], idx[nl:]
