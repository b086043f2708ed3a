"""cpdist, unit weights: pairs one at a time, single-word pairs four at a time.

``prange`` runs over chunks of pairs.  Common prefix and suffix are stripped and the shorter
string is the pattern.  Single-word pairs are queued and run four at a time, interleaved
(:func:`_group4`), so that four independent dependency chains fill the core (one pair alone is
latency-bound).  When the chunk's codes span fewer than 255 values a pattern is 64 bytes
``code - min`` and a text symbol's match mask is a single vector compare
(:func:`.bitparallel.eqmask64`, ``vpcmpeqb`` + ``kmov``): no mask table is built or cleared.
Otherwise masks go to per-chunk scratch, rows indexed by ``code - min`` (small code range) or
by local ids from a small open-addressing hash table (:func:`.alphabet.hash_slot`), and are
cleared again after the pair.  Long patterns run the banded blocked algorithm
(:mod:`.banded`).  Nothing is allocated per pair.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange, types
from numba.extending import overload

from .alphabet import hash_slot
from .banded import long_distance
from .bitparallel import ALL, U0, U1, eqmask64, low_mask, step_word, strip_affix, word_distance
from .masks import DENSE_PM_PER_SYMBOL, DENSE_PM_WORDS, sparse_masks

_DIRECT_PM_WORDS = 1 << 16  # masks indexed by code - min when range * words <= this


@njit(cache=True, nogil=True)
def _hyyro_word(pm, t, ts, n, lo, m, lcs):
    """Unit (or Indel) distance, pattern of 1..64 symbols whose masks are pm[:, 0]; text t[ts:ts+n]."""
    vp = ALL
    vn = U0
    for j in range(n):
        vp, vn = step_word(pm[np.uint64(t[np.uint64(ts + j)] - lo), 0], vp, vn, lcs)
    return word_distance(vp, vn, low_mask(m), n, lcs)


@njit(cache=True, nogil=True)
def _unit_pair(pa, sa, m, pb, sb, n, pm, lo, vp_, vn_, buf1, buf2, lcs):
    """Unit distance of a[sa:sa+m] (pattern, m >= 1) and b[sb:sb+n] with masks in pm rows
    ``code - lo`` (already built by the caller)."""
    if m <= 64:
        return _hyyro_word(pm, pb, sb, n, lo, m, lcs)
    none = np.empty(0, np.int64)
    return long_distance(True, pm, none, none, buf1, pa, sa, pb, sb, n, lo, m, vp_, vn_, buf1, buf2, lcs)


# A group's masks are one of two kinds, chosen by the type of the ``masks`` array (so _group4 is
# compiled once per kind, with no branch in its loops):
# * uint64 [4, range]: a table per pattern, row ``code - lo`` = the symbol's match mask;
# * uint8 [256] (code range below 255): each pattern as 64 bytes ``code - lo``, padded with 255
#   (a value no text symbol has); a text symbol's mask is one vector compare.
def _load_pattern(masks, g, pa, sa, m, lo):  # pragma: no cover - replaced by the overload in jitted code
    raise NotImplementedError


def _symbol_mask(masks, g, c):  # pragma: no cover - replaced by the overload in jitted code
    raise NotImplementedError


def _clear_pattern(masks, g, pa, sa, m, lo):  # pragma: no cover - replaced by the overload in jitted code
    raise NotImplementedError


def _bytes(masks) -> bool:
    return masks.dtype == types.uint8


@overload(_load_pattern, inline="always")
def _load_pattern_overload(masks, g, pa, sa, m, lo):
    """Store pattern ``pa[sa:sa+m]`` as group member ``g``."""
    if _bytes(masks):
        def as_bytes(masks, g, pa, sa, m, lo):
            base = 64 * g
            for i in range(64):
                masks[base + i] = 255
            for i in range(m):
                masks[base + i] = np.uint8(pa[sa + i] - lo)

        return as_bytes

    def as_table(masks, g, pa, sa, m, lo):
        for i in range(m):
            masks[g, pa[sa + i] - lo] |= U1 << np.uint64(i)

    return as_table


@overload(_symbol_mask, inline="always")
def _symbol_mask_overload(masks, g, c):
    """Match mask of the text symbol ``c`` (code - lo) in the pattern of group member ``g``."""
    if _bytes(masks):
        return lambda masks, g, c: eqmask64(masks, 64 * g, c)
    return lambda masks, g, c: masks[g, np.uint64(c)]  # unsigned: no negative-index wraparound code


@overload(_clear_pattern, inline="always")
def _clear_pattern_overload(masks, g, pa, sa, m, lo):
    """Leave the masks of member ``g`` as :func:`_load_pattern` found them (table rows zero)."""
    if _bytes(masks):
        return lambda masks, g, pa, sa, m, lo: None

    def as_table(masks, g, pa, sa, m, lo):
        for i in range(m):
            masks[g, pa[sa + i] - lo] = U0

    return as_table


@njit(cache=True, nogil=True, inline="always")
def _interleaved(masks, t0, t1, t2, t3, s0, s1, s2, s3, lo, nmin, lcs):
    """The first ``nmin`` text symbols of the four pairs of a group, one step of each chain per
    symbol: (vp, vn) of the four columns."""
    vp0 = vp1 = vp2 = vp3 = ALL
    vn0 = vn1 = vn2 = vn3 = U0
    for j in range(nmin):
        vp0, vn0 = step_word(_symbol_mask(masks, 0, t0[np.uint64(s0 + j)] - lo), vp0, vn0, lcs)
        vp1, vn1 = step_word(_symbol_mask(masks, 1, t1[np.uint64(s1 + j)] - lo), vp1, vn1, lcs)
        vp2, vn2 = step_word(_symbol_mask(masks, 2, t2[np.uint64(s2 + j)] - lo), vp2, vn2, lcs)
        vp3, vn3 = step_word(_symbol_mask(masks, 3, t3[np.uint64(s3 + j)] - lo), vp3, vn3, lcs)
    return vp0, vn0, vp1, vn1, vp2, vn2, vp3, vn3


@njit(cache=True, nogil=True)
def _group4(masks, a_codes, b_codes, g_sa, g_m, g_sb, g_n, g_swap, g_pair, lo, out, lcs):
    """Four single-word pairs interleaved (four independent dependency chains).  Text indices
    are cast to unsigned so Numba emits no negative-index wraparound (fewer registers, no
    spills)."""
    for g in range(4):
        _load_pattern(masks, g, b_codes if g_swap[g] else a_codes, g_sa[g], g_m[g], lo)
    t0 = a_codes if g_swap[0] else b_codes
    t1 = a_codes if g_swap[1] else b_codes
    t2 = a_codes if g_swap[2] else b_codes
    t3 = a_codes if g_swap[3] else b_codes
    s0 = g_sb[0]
    s1 = g_sb[1]
    s2 = g_sb[2]
    s3 = g_sb[3]
    nmin = min(min(g_n[0], g_n[1]), min(g_n[2], g_n[3]))
    if lcs:  # one copy of the loop per recurrence: no branch per text symbol
        vp0, vn0, vp1, vn1, vp2, vn2, vp3, vn3 = _interleaved(masks, t0, t1, t2, t3, s0, s1, s2, s3, lo, nmin, True)
    else:
        vp0, vn0, vp1, vn1, vp2, vn2, vp3, vn3 = _interleaved(masks, t0, t1, t2, t3, s0, s1, s2, s3, lo, nmin, False)
    for j in range(nmin, g_n[0]):
        vp0, vn0 = step_word(_symbol_mask(masks, 0, t0[np.uint64(s0 + j)] - lo), vp0, vn0, lcs)
    for j in range(nmin, g_n[1]):
        vp1, vn1 = step_word(_symbol_mask(masks, 1, t1[np.uint64(s1 + j)] - lo), vp1, vn1, lcs)
    for j in range(nmin, g_n[2]):
        vp2, vn2 = step_word(_symbol_mask(masks, 2, t2[np.uint64(s2 + j)] - lo), vp2, vn2, lcs)
    for j in range(nmin, g_n[3]):
        vp3, vn3 = step_word(_symbol_mask(masks, 3, t3[np.uint64(s3 + j)] - lo), vp3, vn3, lcs)
    for g in range(4):
        if g == 0:
            vp, vn = vp0, vn0
        elif g == 1:
            vp, vn = vp1, vn1
        elif g == 2:
            vp, vn = vp2, vn2
        else:
            vp, vn = vp3, vn3
        out[g_pair[g]] = word_distance(vp, vn, low_mask(g_m[g]), g_n[g], lcs)
        _clear_pattern(masks, g, b_codes if g_swap[g] else a_codes, g_sa[g], g_m[g], lo)


@njit(cache=True, nogil=True)
def cpdist_chunk(a_codes, a_off, b_codes, b_off, out, p0, p1, lcs):
    """Unit distances of pairs p0..p1-1.  Masks in rows ``code - lo`` (direct: the chunk's code
    range is small; below 255 values the single-word pairs use byte compares instead) or in rows
    of per-pair local ids (hash table)."""
    max_m = 0
    max_n = 0
    for p in range(p0, p1):
        la = a_off[p + 1] - a_off[p]
        lb = b_off[p + 1] - b_off[p]
        max_m = max(max_m, min(la, lb))
        max_n = max(max_n, max(la, lb))
    lo = np.int64(0x7FFFFFFFFFFFFFFF)
    hi = np.int64(-0x7FFFFFFFFFFFFFFF - 1)
    for i in range(a_off[p0], a_off[p1]):
        lo = min(lo, a_codes[i])
        hi = max(hi, a_codes[i])
    for i in range(b_off[p0], b_off[p1]):
        lo = min(lo, b_codes[i])
        hi = max(hi, b_codes[i])
    if hi < lo:  # no symbols at all
        lo = 0
        hi = 0
    span = hi - lo  # wraps negative when the true span is >= 2**63
    direct = 0 <= span < _DIRECT_PM_WORDS and (span + 1) * (((max_m + 63) >> 6) + 4) <= _DIRECT_PM_WORDS
    n_rows = span + 1 if direct else 0
    if not direct:
        lo = 0
    nw = max((max_m + 63) >> 6, 1)
    pm = np.zeros((n_rows if direct else 1, nw), np.uint64)
    pmflat = np.zeros(0 if direct else 65 * nw, np.uint64)  # hashed ids: grown to the distinct symbols
    vp_ = np.empty(nw, np.uint64)
    vn_ = np.empty(nw, np.uint64)
    buf1 = np.zeros(nw, np.uint64)
    buf2 = np.zeros(nw, np.uint64)
    cap = 16
    if not direct:
        while cap < 2 * max_m + 2:
            cap *= 2
    keys = np.zeros(cap if not direct else 1, np.int64)
    vals = np.zeros(cap if not direct else 1, np.int64)
    used = np.zeros(cap if not direct else 1, np.bool_)
    pid = np.empty(max_m if not direct else 0, np.int64)
    slots = np.empty(max_m if not direct else 0, np.int64)
    tid = np.empty(max_n if not direct else 0, np.int64)
    use_bytes = direct and span < 255
    pm4 = np.zeros((4, n_rows if direct and not use_bytes else 1), np.uint64)
    pat = np.empty(256, np.uint8)
    g_sa = np.empty(4, np.int64)
    g_m = np.empty(4, np.int64)
    g_sb = np.empty(4, np.int64)
    g_n = np.empty(4, np.int64)
    g_swap = np.empty(4, np.bool_)
    g_pair = np.empty(4, np.int64)
    ng = 0
    for p in range(p0, p1):
        sa = a_off[p]
        m = a_off[p + 1] - sa
        sb = b_off[p]
        n = b_off[p + 1] - sb
        sa, m, sb, n = strip_affix(a_codes, sa, m, b_codes, sb, n)
        if m == 0 or n == 0:
            out[p] = m + n
            continue
        swap = m > n
        if swap:  # the shorter string is the pattern
            sa, sb = sb, sa
            m, n = n, m
        if direct and m <= 64:  # queue it: four such pairs run interleaved
            g_sa[ng] = sa
            g_m[ng] = m
            g_sb[ng] = sb
            g_n[ng] = n
            g_swap[ng] = swap
            g_pair[ng] = p
            ng += 1
            if ng == 4:
                if use_bytes:  # (not through a helper: passing the arrays on costs ~5 % here)
                    _group4(pat, a_codes, b_codes, g_sa, g_m, g_sb, g_n, g_swap, g_pair, lo, out, lcs)
                else:
                    _group4(pm4, a_codes, b_codes, g_sa, g_m, g_sb, g_n, g_swap, g_pair, lo, out, lcs)
                ng = 0
            continue
        pa, pb = a_codes, b_codes
        if swap:
            pa, pb = b_codes, a_codes
        if direct:
            for i in range(m):
                pm[pa[sa + i] - lo, i >> 6] |= U1 << np.uint64(i & 63)
            out[p] = _unit_pair(pa, sa, m, pb, sb, n, pm, lo, vp_, vn_, buf1, buf2, lcs)
            for i in range(m):
                pm[pa[sa + i] - lo, i >> 6] = U0
        else:
            nloc = 0
            for i in range(m):
                key = pa[sa + i]
                s = hash_slot(keys, used, key)
                if not used[s]:
                    used[s] = True
                    keys[s] = key
                    vals[s] = nloc
                    slots[nloc] = s
                    nloc += 1
                pid[i] = vals[s]
            for j in range(n):
                s = hash_slot(keys, used, pb[sb + j])
                tid[j] = vals[s] if used[s] else nloc  # text-only symbols: row nloc (all zero)
            nwp = (m + 63) >> 6
            if m <= 64 or (nloc + 1) * nwp <= max(DENSE_PM_WORDS, DENSE_PM_PER_SYMBOL * (m + n)):
                need = (nloc + 1) * nwp  # one row per distinct symbol (+ the text-only row)
                if pmflat.shape[0] < need:
                    pmflat = np.zeros(max(need, min(2 * pmflat.shape[0], DENSE_PM_WORDS)), np.uint64)
                pmp = pmflat[:need].reshape((nloc + 1, nwp))
                for i in range(m):
                    pmp[pid[i], i >> 6] |= U1 << np.uint64(i & 63)
                out[p] = _unit_pair(pid, 0, m, tid, 0, n, pmp, 0, vp_, vn_, buf1, buf2, lcs)
                for i in range(m):
                    pmp[pid[i], i >> 6] = U0
            else:  # many distinct symbols: sparse masks, O(m) whatever the alphabet
                ptr, ewd, emask, _ = sparse_masks(pid, 0, m, False, nloc)
                out[p] = long_distance(False, pm, ptr, ewd, emask, pid, 0, tid, 0, n, 0, m, vp_, vn_, buf1, buf2, lcs)
            for u in range(nloc):
                used[slots[u]] = False
    if ng > 0:  # leftovers: pad the group with copies of its first pair
        for g in range(ng, 4):
            g_sa[g] = g_sa[0]
            g_m[g] = g_m[0]
            g_sb[g] = g_sb[0]
            g_n[g] = g_n[0]
            g_swap[g] = g_swap[0]
            g_pair[g] = g_pair[0]
        if use_bytes:  # (not through a helper: passing the arrays on costs ~5 % here)
            _group4(pat, a_codes, b_codes, g_sa, g_m, g_sb, g_n, g_swap, g_pair, lo, out, lcs)
        else:
            _group4(pm4, a_codes, b_codes, g_sa, g_m, g_sb, g_n, g_swap, g_pair, lo, out, lcs)


@njit(cache=True, nogil=True, parallel=True)
def cpdist_unit(a_codes, a_off, b_codes, b_off, out, nchunk, lcs):
    npairs = a_off.shape[0] - 1
    for ch in prange(nchunk):
        cpdist_chunk(a_codes, a_off, b_codes, b_off, out, npairs * ch // nchunk, npairs * (ch + 1) // nchunk, lcs)
