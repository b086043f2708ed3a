"""The per-call fast path of the edit-distance family: one pair of byte strings, unit weights.

Users call ``levenshtein(a, b)`` in loops over millions of short pairs, where the general path's
packing and planning cost far more than the distance itself.  This kernel takes the two
``bytes`` objects directly (Numba types them without a copy: ASCII ``str`` is encoded once by the
caller) and runs Hyyrö's bit-parallel recurrence in one 64-bit word after stripping the common
prefix and suffix.  It returns -1 when the shorter side (after stripping) exceeds 64 symbols; the
caller then takes the general path.
"""
from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def unit_distance_bytes(a, b):
    """Levenshtein distance of two byte strings, or -1 when both are longer than 64 after
    stripping their common prefix and suffix."""
    m = len(a)
    n = len(b)
    lo = 0
    while lo < m and lo < n and a[lo] == b[lo]:
        lo += 1
    while m > lo and n > lo and a[m - 1] == b[n - 1]:
        m -= 1
        n -= 1
    if m - lo > n - lo:  # the shorter side is the pattern (bits of the word)
        a, b = b, a
        m, n = n, m
    plen = m - lo
    tlen = n - lo
    if plen == 0:
        return tlen
    if plen > 64:
        return -1
    peq = np.zeros(256, np.uint64)
    one = np.uint64(1)
    for i in range(plen):
        peq[a[lo + i]] |= one << np.uint64(i)
    vp = ~np.uint64(0)
    vn = np.uint64(0)
    top = one << np.uint64(plen - 1)
    score = plen
    for j in range(tlen):
        x = peq[b[lo + j]] | vn
        d0 = (((x & vp) + vp) ^ vp) | x
        hp = vn | ~(d0 | vp)
        hn = vp & d0
        if hp & top:
            score += 1
        elif hn & top:
            score -= 1
        x = (hp << one) | one
        vn = x & d0
        vp = (hn << one) | ~(d0 | x)
    return score
