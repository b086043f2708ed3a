"""Dense symbol ids: the alphabet of a pattern side, and local ids by hashing.

Symbols (``codes``: uint8 / uint32 / int64 values) are mapped to ids 0..A-1 over the pattern
side's alphabet, in sorted order; symbols that occur only on the text side share the id A, whose
match masks are all zero.  A code range of at most ``DIRECT_TABLE`` values (or twice the pattern
length) uses a lookup table, wider ranges ``np.unique``.  Kernels that give each pair its own
ids use :func:`hash_slot`, an open-addressing table they clear after the pair.
"""
from __future__ import annotations

import numpy as np
from numba import njit

DIRECT_TABLE = 1 << 16  # dense ids by lookup table when the code range is at most this


@njit(cache=True, nogil=True)
def _dense_by_table(p_codes, t_codes, lo, hi, p_ids, t_ids):
    """Ids 0..A-1 for the symbols of ``p_codes`` (sorted order), A for text-only symbols."""
    r = hi - lo + 1
    table = np.full(r, -1, np.int64)
    for i in range(p_codes.shape[0]):
        table[p_codes[i] - lo] = 0
    a = 0
    for k in range(r):
        if table[k] == 0:
            table[k] = a
            a += 1
    for i in range(p_codes.shape[0]):
        p_ids[i] = table[p_codes[i] - lo]
    for i in range(t_codes.shape[0]):
        c = t_codes[i]
        v = a
        if c >= lo and c <= hi:
            v = table[c - lo]
            if v < 0:
                v = a
        t_ids[i] = v
    return a


def dense_ids(p_codes: np.ndarray, t_codes: np.ndarray):
    """(p_ids, t_ids, A): dense symbol ids over the pattern side's alphabet."""
    p_ids = np.empty(p_codes.shape[0], np.int64)
    t_ids = np.empty(t_codes.shape[0], np.int64)
    if p_codes.shape[0] == 0:
        t_ids[:] = 0
        return p_ids, t_ids, 0
    lo, hi = int(p_codes.min()), int(p_codes.max())
    if hi - lo < max(DIRECT_TABLE, 2 * p_codes.shape[0]):
        a = _dense_by_table(p_codes, t_codes, np.int64(lo), np.int64(hi), p_ids, t_ids)
        return p_ids, t_ids, int(a)
    alpha, p_ids = np.unique(p_codes, return_inverse=True)
    p_ids = p_ids.astype(np.int64).reshape(-1)
    pos = np.searchsorted(alpha, t_codes)
    pos_c = np.minimum(pos, alpha.shape[0] - 1)
    t_ids = np.where(alpha[pos_c] == t_codes, pos_c, alpha.shape[0]).astype(np.int64)
    return p_ids, t_ids, int(alpha.shape[0])


@njit(cache=True, nogil=True)
def hash_slot(keys, used, key):
    """Slot of ``key`` in an open-addressing table (linear probing; the table is never full)."""
    cap = keys.shape[0]
    h = (np.uint64(key) * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(32)
    s = np.int64(h & np.uint64(cap - 1))
    while used[s] and keys[s] != key:
        s = (s + 1) & (cap - 1)
    return s
