"""Edit distance with any weights: Wagner–Fischer, one row over the shorter string.

Used for the weights the bit-parallel kernels do not cover (those need ``insert == delete`` and
a substitution costing the same or at least twice as much).  The common affix is stripped; the
row runs over the shorter string, the insert and delete costs swapped when the roles swap.
``cdist`` splits the queries and ``cpdist`` the pairs into ``nchunk`` chunks run with ``prange``.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from .bitparallel import strip_affix


@njit(cache=True, nogil=True)
def _wf(a, sa, m, b, sb, n, ins, dele, sub, row):
    """Cost of turning a[sa:sa+m] into b[sb:sb+n]; one row of n + 1 entries."""
    for j in range(n + 1):
        row[j] = j * ins
    for i in range(1, m + 1):
        diag = row[0]
        left = i * dele
        row[0] = left
        ca = a[sa + i - 1]
        for j in range(1, n + 1):
            up = row[j]
            # the part that does not depend on the left neighbour first: the loop-carried chain
            # is then one add and one min
            v = min(up + dele, diag + (0 if ca == b[sb + j - 1] else sub))
            v = min(v, left + ins)
            row[j] = v
            diag = up
            left = v
    return row[n]


@njit(cache=True, nogil=True)
def _weighted_pair(a, sa, m, b, sb, n, ins, dele, sub, row):
    """Weighted distance after stripping the common affix; the row runs over the shorter."""
    sa, m, sb, n = strip_affix(a, sa, m, b, sb, n)
    if m == 0:
        return n * ins
    if n == 0:
        return m * dele
    if n <= m:
        return _wf(a, sa, m, b, sb, n, ins, dele, sub, row)
    return _wf(b, sb, n, a, sa, m, dele, ins, sub, row)  # b -> a: inserts and deletes swap


@njit(cache=True, nogil=True, parallel=True)
def cdist_weighted(q_codes, q_off, c_codes, c_off, ins, dele, sub, out, nchunk):
    nq = q_off.shape[0] - 1
    nc = c_off.shape[0] - 1
    maxlen = 0
    for j in range(nc):
        maxlen = max(maxlen, c_off[j + 1] - c_off[j])
    for i in range(nq):
        maxlen = max(maxlen, q_off[i + 1] - q_off[i])
    for ch in prange(nchunk):
        row = np.empty(maxlen + 1, np.int64)
        for i in range(nq * ch // nchunk, nq * (ch + 1) // nchunk):
            sa = q_off[i]
            m = q_off[i + 1] - sa
            for j in range(nc):
                sb = c_off[j]
                out[i, j] = _weighted_pair(q_codes, sa, m, c_codes, sb, c_off[j + 1] - sb, ins, dele, sub, row)


@njit(cache=True, nogil=True, parallel=True)
def cpdist_weighted(a_codes, a_off, b_codes, b_off, ins, dele, sub, out, nchunk):
    n = a_off.shape[0] - 1
    for ch in prange(nchunk):
        p0 = n * ch // nchunk
        p1 = n * (ch + 1) // nchunk
        maxlen = 0
        for p in range(p0, p1):
            maxlen = max(maxlen, min(a_off[p + 1] - a_off[p], b_off[p + 1] - b_off[p]))
        row = np.empty(maxlen + 1, np.int64)
        for p in range(p0, p1):
            sa = a_off[p]
            sb = b_off[p]
            out[p] = _weighted_pair(a_codes, sa, a_off[p + 1] - sa, b_codes, sb, b_off[p + 1] - sb, ins, dele, sub,
                                    row)
