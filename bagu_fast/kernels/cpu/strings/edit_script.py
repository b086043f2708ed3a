"""editops: a minimal edit script by Hirschberg's divide and conquer over banded passes.

As RapidFuzz does: a subproblem is halved at its middle column by one forward and one backward
bit-parallel pass (:func:`.banded.band_pass`), each keeping only its last column, and the first
row minimising the sum is where an optimal path crosses; both halves then have exact
distances, so their bands are tight.  Subproblems whose column vectors fit ``LEAF_WORDS``
(8 MiB, reused) keep ``VP`` / ``VN`` of every column and are traced back one bit per step.  One
thread, as RapidFuzz.  The script is minimal and deterministic (first optimal split row, fixed
traceback order); memory is O(m + n) plus the leaf store.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from .alphabet import dense_ids
from .banded import band_distance, band_of, band_pass, probe_width, upper_bound
from .bitparallel import ALL, U0, U1, popcount, step_block, strip_affix
from .masks import clear_row, mask_row, pattern_masks

REPLACE, INSERT, DELETE = 0, 1, 2  # edit kinds (the reference's codes)
# subproblems whose stored column vectors (2 (n + 1) ceil(m / 64) words) fit this are traced back
# directly; larger ones are halved first (Hirschberg).  8 MiB.
LEAF_WORDS = 1 << 20


@njit(cache=True, nogil=True)
def _colval(vps, vns, j, i):
    """D[i][j] = j + sum of the vertical deltas of column j below row i."""
    d = j
    full = i >> 6
    for wd in range(full):
        d += np.int64(popcount(vps[j, wd])) - np.int64(popcount(vns[j, wd]))
    r = i & 63
    if r:
        mask = (U1 << np.uint64(r)) - U1
        d += np.int64(popcount(vps[j, full] & mask)) - np.int64(popcount(vns[j, full] & mask))
    return d


@njit(cache=True, nogil=True)
def _column_pass(a, i0, m, rev, b, j0, n, n_sym, dlo, dhi, vp_, vn_, fbt):
    """Last column of ``a[i0:i0+m]`` (pattern) against ``b[j0:j0+n]`` (both reversed with
    ``rev``) in the band (dlo, dhi): vectors in ``vp_`` / ``vn_``, (first word, last word, value
    of the row above the first word) in ``fbt`` (see :func:`band_pass`)."""
    nw = (m + 63) >> 6
    dense, pm, ptr, ewd, emask = pattern_masks(a, i0, m, rev, n_sym, n)
    buf1 = np.zeros(nw if not dense else 0, np.uint64)
    buf2 = np.zeros(nw if not dense else 0, np.uint64)
    for wd in range(nw):
        vp_[wd] = ALL
        vn_[wd] = U0
    fbt[0], fbt[1], fbt[2] = band_pass(dense, pm, ptr, ewd, emask, b, j0, n, rev, 0, m, dlo, dhi, vp_, vn_, buf1,
                                        buf2, False)


@njit(cache=True, nogil=True)
def _split(a, i0, i1, b, j0, j1, n_sym, d):
    """Hirschberg split of the subproblem a[i0:i1] -> b[j0:j1] (j1 - j0 >= 2) whose distance
    is at most ``d``: column ``jmid`` halves b; ``imid`` is the first row minimising
    F + R = D(a[i0:imid], b[j0:jmid]) + D(a[imid:i1], b[jmid:j1]), so an optimal path crosses
    column ``jmid`` at row ``imid``.  Both passes run in the band of ``d``; their values are
    upper bounds, exact on optimal paths, so the minimum and its two parts are exact.
    Returns (imid, jmid, left distance, right distance)."""
    m = i1 - i0
    n = j1 - j0
    jmid = j0 + n // 2
    nw = (m + 63) >> 6
    vps = np.empty((2, nw), np.uint64)
    vns = np.empty((2, nw), np.uint64)
    fbt = np.empty((2, 3), np.int64)
    dlo, dhi = band_of(m, n, d)
    _column_pass(a, i0, m, False, b, j0, jmid - j0, n_sym, dlo, dhi, vps[0], vns[0], fbt[0])  # forward
    _column_pass(a, i0, m, True, b, jmid, j1 - jmid, n_sym, dlo, dhi, vps[1], vns[1], fbt[1])  # backward
    # backward column: R[k] = D(a[i1-k:i1], b[jmid:j1]) for k in [kb, ke]
    kb = 64 * fbt[1, 0]
    ke = min(m, 64 * fbt[1, 1] + 64)
    right = np.empty(ke - kb + 1, np.int64)
    right[0] = fbt[1, 2]
    for k in range(kb, ke):
        right[k - kb + 1] = right[k - kb] + np.int64((vps[1, k >> 6] >> np.uint64(k & 63)) & U1) - np.int64(
            (vns[1, k >> 6] >> np.uint64(k & 63)) & U1)
    # forward column: F[i] = D(a[i0:i0+i], b[j0:jmid]) for i in [ib, ie]
    ib = 64 * fbt[0, 0]
    ie = min(m, 64 * fbt[0, 1] + 64)
    f = fbt[0, 2]
    best = np.int64(0x7FFFFFFFFFFFFFFF)
    bi = -1
    bf = 0
    for i in range(ib, ie + 1):
        if i > ib:
            f += np.int64((vps[0, (i - 1) >> 6] >> np.uint64((i - 1) & 63)) & U1) - np.int64(
                (vns[0, (i - 1) >> 6] >> np.uint64((i - 1) & 63)) & U1)
        k = m - i
        if kb <= k <= ke:
            tot = f + right[k - kb]
            if tot < best:
                best = tot
                bi = i
                bf = f
    return i0 + bi, jmid, bf, best - bf


@njit(cache=True, nogil=True)
def _leaf(a, i0, m, b, j0, n, n_sym, store):
    """Edit script of a[i0:i0+m] -> b[j0:j0+n] (m, n >= 1) by the stored-vector traceback:
    ``VP`` / ``VN`` of every column (``2 (n + 1) ceil(m / 64)`` words), then a walk back from
    the corner reading one bit per step (as RapidFuzz does): a +1 vertical delta at (i, j) is
    a delete; else a -1 vertical delta at (i, j - 1) makes D[i][j] = D[i][j-1] + 1, an insert;
    else the diagonal step is optimal (D grows by at most one along a diagonal, and the cell
    above is not smaller).  Positions are absolute."""
    nw = (m + 63) >> 6
    dense, pm, ptr, ewd, emask = pattern_masks(a, i0, m, False, n_sym, n)
    buf = np.zeros(nw if not dense else 0, np.uint64)
    buf2 = np.zeros(nw if not dense else 0, np.uint64)
    if store.shape[0] < 2 * (n + 1) * nw:
        store = np.empty(2 * (n + 1) * nw, np.uint64)
    vps = store[:(n + 1) * nw].reshape((n + 1, nw))
    vns = store[(n + 1) * nw:2 * (n + 1) * nw].reshape((n + 1, nw))
    for wd in range(nw):
        vps[0, wd] = ALL
        vns[0, wd] = U0
    j = 1
    while j + 1 <= n:  # columns j and j + 1 as a wavefront (see band_pass)
        y1 = b[j0 + j - 1]
        y2 = b[j0 + j]
        r1 = mask_row(dense, pm, ptr, ewd, emask, y1, buf)
        r2 = mask_row(dense, pm, ptr, ewd, emask, y2, buf2)
        vps[j, 0], vns[j, 0], hpc1, hnc1 = step_block(r1[0], U1, U0, vps[j - 1, 0], vns[j - 1, 0], False)
        hpc2 = U1
        hnc2 = U0
        for wd in range(1, nw):
            vps[j, wd], vns[j, wd], hpc1, hnc1 = step_block(r1[wd], hpc1, hnc1, vps[j - 1, wd], vns[j - 1, wd], False)
            vps[j + 1, wd - 1], vns[j + 1, wd - 1], hpc2, hnc2 = step_block(r2[wd - 1], hpc2, hnc2, vps[j, wd - 1],
                                                                       vns[j, wd - 1], False)
        vps[j + 1, nw - 1], vns[j + 1, nw - 1], hpc2, hnc2 = step_block(r2[nw - 1], hpc2, hnc2, vps[j, nw - 1],
                                                                   vns[j, nw - 1], False)
        clear_row(dense, ptr, ewd, y1, buf)
        clear_row(dense, ptr, ewd, y2, buf2)
        j += 2
    if j <= n:
        sym = b[j0 + j - 1]
        row = mask_row(dense, pm, ptr, ewd, emask, sym, buf)
        hpc = U1
        hnc = U0
        for wd in range(nw):
            vps[j, wd], vns[j, wd], hpc, hnc = step_block(row[wd], hpc, hnc, vps[j - 1, wd], vns[j - 1, wd], False)
        clear_row(dense, ptr, ewd, sym, buf)
    dist = _colval(vps, vns, n, m)
    ops = np.empty((dist, 3), np.int64)
    k = dist
    i = m
    j = n
    while i > 0 and j > 0:
        wd = (i - 1) >> 6
        bit = np.uint64((i - 1) & 63)
        if (vps[j, wd] >> bit) & U1:  # D[i][j] = D[i-1][j] + 1
            i -= 1
            kind = DELETE
        elif (vns[j - 1, wd] >> bit) & U1:  # D[i][j-1] = D[i-1][j-1] - 1 = D[i][j] - 1
            j -= 1
            kind = INSERT
        else:  # D[i][j] = D[i-1][j-1] + (a[i-1] != b[j-1])
            i -= 1
            j -= 1
            if a[i0 + i] == b[j0 + j]:
                continue
            kind = REPLACE
        k -= 1
        ops[k, 0] = kind
        ops[k, 1] = i0 + i
        ops[k, 2] = j0 + j
    _trivial(ops, k - i - j, i0, i0 + i, j0, j0 + j)  # one side is used up: the rest of the other
    return ops


@njit(cache=True, nogil=True, inline="always")
def _strip(a, i0, i1, b, j0, j1):
    """Bounds of a[i0:i1] -> b[j0:j1] without the common prefix and suffix."""
    i0, m, j0, n = strip_affix(a, i0, i1 - i0, b, j0, j1 - j0)
    return i0, i0 + m, j0, j0 + n


@njit(cache=True, nogil=True)
def _trivial(ops, k0, i0, i1, j0, j1):
    """Script when one side is empty: deletes of a[i0:i1] or inserts of b[j0:j1]."""
    k = k0
    for i in range(i0, i1):
        ops[k, 0] = DELETE
        ops[k, 1] = i
        ops[k, 2] = j0
        k += 1
    for j in range(j0, j1):
        ops[k, 0] = INSERT
        ops[k, 1] = i0
        ops[k, 2] = j
        k += 1


@njit(cache=True, nogil=True)
def _editops_kernel(a, b, n_sym, leaf_words):
    """Minimal edit script a -> b (symbol ids; b's ids of symbols not in a are ``n_sym``).

    Subproblems whose stored vectors fit ``leaf_words`` (``2 (n + 1) ceil(m / 64)`` words) are
    traced back directly (:func:`_leaf`); larger ones are halved (Hirschberg, :func:`_split`),
    their scripts landing at known offsets of one output array.  One thread, as RapidFuzz's
    editops (measured on the shared 2-core machine, two threads for the two half passes and
    the leaves were slower in wall time whenever the other core was busy).  Deterministic: the
    split row is the first optimal one and the traceback's tie order is fixed."""
    i0, i1, j0, j1 = _strip(a, 0, a.shape[0], b, 0, b.shape[0])
    m = i1 - i0
    n = j1 - j0
    if m == 0 or n == 0:
        ops = np.empty((m + n, 3), np.int64)
        _trivial(ops, 0, i0, i1, j0, j1)
        return ops
    if n < 2 or 2 * (n + 1) * ((m + 63) >> 6) <= leaf_words:
        return _leaf(a, i0, m, b, j0, n, n_sym, np.empty(0, np.uint64))
    leaves = np.empty((64, 5), np.int64)  # (i0, m, j0, n, first op), run at the end
    nleaf = 0
    d = upper_bound(a, i0, m, b, j0, n)
    probe = probe_width(m, n, d)
    if probe >= 0:  # similar strings: the distance in a narrow band first
        dense, pm, ptr, ewd, emask = pattern_masks(a, i0, m, False, n_sym, n)
        nw = (m + 63) >> 6
        buf1 = np.zeros(nw if not dense else 0, np.uint64)
        buf2 = np.zeros(nw if not dense else 0, np.uint64)
        dp = band_distance(dense, pm, ptr, ewd, emask, b, j0, n, 0, m, probe, np.empty(nw, np.uint64),
                            np.empty(nw, np.uint64), buf1, buf2)
        if dp <= probe:
            d = dp
    imid, jmid, dl, dr = _split(a, i0, i1, b, j0, j1, n_sym, d)
    ops = np.empty((dl + dr, 3), np.int64)
    stack = np.empty((128, 6), np.int64)  # (i0, i1, j0, j1, first op, distance)
    stack[0, 0], stack[0, 1], stack[0, 2], stack[0, 3], stack[0, 4], stack[0, 5] = imid, i1, jmid, j1, dl, dr
    stack[1, 0], stack[1, 1], stack[1, 2], stack[1, 3], stack[1, 4], stack[1, 5] = i0, imid, j0, jmid, 0, dl
    top = 2
    while top > 0:
        top -= 1
        k0 = stack[top, 4]
        d = stack[top, 5]
        i0, i1, j0, j1 = _strip(a, stack[top, 0], stack[top, 1], b, stack[top, 2], stack[top, 3])
        m = i1 - i0
        n = j1 - j0
        if m == 0 or n == 0:
            _trivial(ops, k0, i0, i1, j0, j1)
        elif n < 2 or 2 * (n + 1) * ((m + 63) >> 6) <= leaf_words:
            if nleaf == leaves.shape[0]:
                more = np.empty((2 * nleaf, 5), np.int64)
                more[:nleaf] = leaves
                leaves = more
            leaves[nleaf, 0], leaves[nleaf, 1], leaves[nleaf, 2], leaves[nleaf, 3], leaves[nleaf, 4] = (
                i0, m, j0, n, k0)
            nleaf += 1
        else:
            imid, jmid, dl, dr = _split(a, i0, i1, b, j0, j1, n_sym, d)
            if top + 2 > stack.shape[0]:
                grown = np.empty((2 * stack.shape[0], 6), np.int64)
                grown[:top] = stack[:top]
                stack = grown
            stack[top, 0], stack[top, 1], stack[top, 2], stack[top, 3], stack[top, 4], stack[top, 5] = (
                imid, i1, jmid, j1, k0 + dl, dr)
            top += 1
            stack[top, 0], stack[top, 1], stack[top, 2], stack[top, 3], stack[top, 4], stack[top, 5] = (
                i0, imid, j0, jmid, k0, dl)
            top += 1
    store = np.empty(leaf_words, np.uint64)  # one column store for every leaf (no page faults per leaf)
    for q in range(nleaf):
        k0 = leaves[q, 4]
        sub = _leaf(a, leaves[q, 0], leaves[q, 1], b, leaves[q, 2], leaves[q, 3], n_sym, store)
        ops[k0:k0 + sub.shape[0]] = sub
    return ops


def edit_script(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``editops`` of the raw contract: int64 ``[k, 3]`` rows (kind, src_pos, dest_pos)."""
    a = np.ascontiguousarray(a, dtype=np.int64)
    b = np.ascontiguousarray(b, dtype=np.int64)
    a_ids, b_ids, n_sym = dense_ids(a, b)
    return _editops_kernel(a_ids, b_ids, np.int64(n_sym), np.int64(LEAF_WORDS))
