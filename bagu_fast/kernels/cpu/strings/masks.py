"""Match masks of long patterns (more than 64 symbols), in O(m + n) memory for any alphabet.

A pattern of m symbols has ``ceil(m / 64)`` words per symbol.  While the dense table (one row
per distinct symbol) holds at most ``max(DENSE_PM_WORDS, DENSE_PM_PER_SYMBOL * (m + n))`` words
it is used as is; past that the masks are sparse (word, mask) entries, one per symbol and word
it occurs in (at most m), which :func:`mask_row` scatters into a scratch row per text symbol and
:func:`clear_row` zeroes again.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from .bitparallel import U0, U1

DENSE_PM_WORDS = 1 << 20
DENSE_PM_PER_SYMBOL = 8


@njit(cache=True, nogil=True, inline="always")
def mask_row(dense, pm, ptr, ewd, emask, sym, buf):
    """Match masks of symbol ``sym`` over the pattern's words: a row of the dense table, or the
    symbol's sparse entries scattered into ``buf`` (all zero outside them; see :func:`clear_row`)."""
    if dense:
        return pm[sym]
    for e in range(ptr[sym], ptr[sym + 1]):
        buf[ewd[e]] = emask[e]
    return buf


@njit(cache=True, nogil=True, inline="always")
def clear_row(dense, ptr, ewd, sym, buf):
    """Zero the entries :func:`mask_row` scattered into ``buf``."""
    if not dense:
        for e in range(ptr[sym], ptr[sym + 1]):
            buf[ewd[e]] = U0


@njit(cache=True, nogil=True)
def sparse_masks(pid, ps, m, rev, n_sym):
    """Sparse match masks of the pattern ``pid[ps:ps+m]`` (reversed with ``rev``), symbols
    0..n_sym-1: symbol ``s`` has entries ``ptr[s]..ptr[s+1]-1`` of (word, mask), one per word it
    occurs in, so the table holds at most m entries whatever the alphabet (rows n_sym and
    above, the text-only symbols, are empty)."""
    nw = (m + 63) >> 6
    ptr = np.zeros(n_sym + 2, np.int64)
    last = np.full(n_sym + 1, -1, np.int64)
    for i in range(m):
        s = pid[ps + m - 1 - i] if rev else pid[ps + i]
        wd = i >> 6
        if last[s] != wd:
            last[s] = wd
            ptr[s + 1] += 1
    for s in range(n_sym + 1):
        ptr[s + 1] += ptr[s]
    total = ptr[n_sym + 1]
    ewd = np.empty(total, np.int64)
    emask = np.empty(total, np.uint64)
    pos = ptr[:n_sym + 1].copy()
    last[:] = -1
    for i in range(m):
        s = pid[ps + m - 1 - i] if rev else pid[ps + i]
        wd = i >> 6
        bit = U1 << np.uint64(i & 63)
        if last[s] != wd:
            last[s] = wd
            ewd[pos[s]] = wd
            emask[pos[s]] = bit
            pos[s] += 1
        else:
            emask[pos[s] - 1] |= bit
    return ptr, ewd, emask, nw


@njit(cache=True, nogil=True)
def pattern_masks(a, i0, m, rev, n_sym, n_text):
    """Match masks of the pattern ``a[i0:i0+m]`` (reversed with ``rev``) over symbol ids
    0..n_sym (n_sym: text-only symbols): (dense, pm, ptr, ewd, emask).  A dense table of
    ``(n_sym + 1) x ceil(m / 64)`` words while it is small (see ``DENSE_PM_WORDS``), else
    sparse entries (:func:`sparse_masks`), so memory is O(m) whatever the alphabet."""
    nw = (m + 63) >> 6
    if (n_sym + 1) * nw <= max(DENSE_PM_WORDS, DENSE_PM_PER_SYMBOL * (m + n_text)):
        pm = np.zeros((n_sym + 1, nw), np.uint64)
        for i in range(m):
            s = a[i0 + m - 1 - i] if rev else a[i0 + i]
            pm[s, i >> 6] |= U1 << np.uint64(i & 63)
        none = np.empty(0, np.int64)
        return True, pm, none, none, np.empty(0, np.uint64)
    ptr, ewd, emask, _ = sparse_masks(a, i0, m, rev, n_sym)
    return False, np.zeros((1, 1), np.uint64), ptr, ewd, emask
