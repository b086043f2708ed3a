"""The per-call fast path of the edit-distance family: one pair of byte strings, unit weights.

Users call ``levenshtein(a, b)`` in loops over millions of short pairs, where the general path's
packing and planning cost far more than the distance itself.  This kernel takes the two
``bytes`` objects directly (Numba types them without a copy: ASCII ``str`` is encoded once by the
caller) and runs the single-word recurrence of :mod:`.bitparallel` after stripping the common
prefix and suffix.  It returns -1 when the shorter side (after stripping) exceeds 64 symbols; the
caller then takes the general path.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from .bitparallel import ALL, U0, U1, low_mask, step_word, strip_affix, word_distance


@njit(cache=True, nogil=True)
def unit_distance_bytes(a, b):
    """Levenshtein distance of two byte strings, or -1 when both are longer than 64 after
    stripping their common prefix and suffix."""
    sa, m, sb, n = strip_affix(a, 0, len(a), b, 0, len(b))
    if m > n:  # the shorter side is the pattern (bits of the word)
        a, b = b, a
        sa, sb = sb, sa
        m, n = n, m
    if m == 0:
        return n
    if m > 64:
        return -1
    peq = np.zeros(256, np.uint64)
    for i in range(m):
        peq[a[sa + i]] |= U1 << np.uint64(i)
    vp = ALL
    vn = U0
    for j in range(n):
        vp, vn = step_word(peq[b[sb + j]], vp, vn, False)
    return word_distance(vp, vn, low_mask(m), n, False)
