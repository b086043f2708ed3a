"""Long patterns (more than 64 symbols): Hyyrö's blocks advanced in a diagonal band.

With an upper bound d of the distance (Ukkonen), only the words holding rows ``i`` with
``|i - j| + |(m - n) - (i - j)| <= d`` are advanced in column j (see :func:`band_pass` for why
the values stay exact where it matters).  :func:`long_distance` first tries a narrow band
(similar strings: a few percent of the table), then the band of the aligned mismatches + length
difference.  Two columns advance together as a wavefront (two independent carry chains).  Masks
come from :mod:`.masks` (dense rows or sparse entries); the Hirschberg passes of
:mod:`.edit_script` run the same band pass forwards and backwards.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from .bitparallel import ALL, U0, U1, low_mask, popcount, step_block
from .masks import clear_row, mask_row

# long pairs first try a diagonal band of cost 2 |m - n| + max(PROBE_MIN, (m + n) / 64): about
# 3 % of the full table, skipped where it would cost more than 6 %
PROBE_MIN = 64


@njit(cache=True, nogil=True, inline="always")
def band_words(j, m, dlo, dhi):
    """Words of column j (1-based) holding the rows i in [j + dlo, j + dhi] (clipped to 1..m)."""
    return (max(1, j + dlo) - 1) >> 6, (min(m, j + dhi) - 1) >> 6


@njit(cache=True, nogil=True, inline="always")
def word_delta(vp_, vn_, wd):
    return np.int64(popcount(vp_[wd])) - np.int64(popcount(vn_[wd]))


@njit(cache=True, nogil=True)
def band_pass(dense, pm, ptr, ewd, emask, t, ts, n, rev, lo, m, dlo, dhi, vp_, vn_, buf1, buf2, lcs):
    """Advance the column vectors ``vp_`` / ``vn_`` (Hyyrö's blocks over the pattern's m rows;
    the caller sets them to all ones / zeros) over the text symbols ``t[ts:ts+n]`` (``rev``:
    from the last to the first), symbol ids ``t - lo``.  Returns (first word, last word, value
    of the row above the first word) of column n: ``D[i][n]`` for rows of those words is that
    value plus the (vp - vn) bits from the first word down.

    Only the words holding rows i with ``dlo <= i - j <= dhi`` are computed in column j (a
    diagonal band; everything else is left as it was).  The row above the band's first word
    is taken to grow by +1 per column (the word above is out of the band; that is an upper
    bound), and a word entering at the bottom still holds the initial +1 deltas (also an upper
    bound), so every computed value is >= the true D and equal to it on every cell of an
    optimal path that stays in the band.  With a band holding every cell of some optimal path
    (Ukkonen: ``|i - j| + |(m - n) - (i - j)| <= d`` for any d >= the distance) the last
    column is exact where it matters.  ``lcs`` (bit-parallel LCS, ``vp_`` holds S) needs the
    full band (``dlo <= -n``, ``dhi >= m``).

    Two columns advance together as a wavefront (column j on word w while column j + 1 is on
    word w - 1): two independent carry chains instead of one keep the core busy."""
    c0 = U0 if lcs else U1  # carry into the first word: +1 boundary (Levenshtein), none (LCS)
    fbp = 0  # first word of the previous column
    top = np.int64(0)  # D of the row above word fbp in the previous column
    j = 0
    while j + 1 < n:
        if rev:
            y1 = np.uint64(t[np.uint64(ts + n - 1 - j)] - lo)
            y2 = np.uint64(t[np.uint64(ts + n - 2 - j)] - lo)
        else:
            y1 = np.uint64(t[np.uint64(ts + j)] - lo)
            y2 = np.uint64(t[np.uint64(ts + j + 1)] - lo)
        fb1, lb1 = band_words(j + 1, m, dlo, dhi)
        fb2, lb2 = band_words(j + 2, m, dlo, dhi)
        r1 = mask_row(dense, pm, ptr, ewd, emask, y1, buf1)
        r2 = mask_row(dense, pm, ptr, ewd, emask, y2, buf2)
        hpc1 = c0
        hnc1 = U0
        hpc2 = c0
        hnc2 = U0
        s = fb1
        start = fb2 + 1
        while s < start and s <= lb1:  # column j + 1 alone until column j + 2 can follow
            vp_[s], vn_[s], hpc1, hnc1 = step_block(r1[s], hpc1, hnc1, vp_[s], vn_[s], lcs)
            s += 1
        w2 = fb2
        if s == start:
            for s in range(start, lb1 + 1):  # the wavefront: both columns
                a_vp, a_vn, hpc1, hnc1 = step_block(r1[s], hpc1, hnc1, vp_[s], vn_[s], lcs)
                b_vp, b_vn, hpc2, hnc2 = step_block(r2[s - 1], hpc2, hnc2, vp_[s - 1], vn_[s - 1], lcs)
                vp_[s] = a_vp
                vn_[s] = a_vn
                vp_[s - 1] = b_vp
                vn_[s - 1] = b_vn
            w2 = max(lb1, fb2)
        for w in range(w2, lb2 + 1):  # column j + 2's remaining words
            vp_[w], vn_[w], hpc2, hnc2 = step_block(r2[w], hpc2, hnc2, vp_[w], vn_[w], lcs)
        clear_row(dense, ptr, ewd, y1, buf1)
        clear_row(dense, ptr, ewd, y2, buf2)
        # the row above the band: words leaving it hand over their column's sum, then +1
        while fbp < fb1:
            top += word_delta(vp_, vn_, fbp)
            fbp += 1
        top += 1
        while fbp < fb2:
            top += word_delta(vp_, vn_, fbp)
            fbp += 1
        top += 1
        j += 2
    if j < n:
        y1 = np.uint64(t[np.uint64(ts)] - lo) if rev else np.uint64(t[np.uint64(ts + j)] - lo)
        fb1, lb1 = band_words(j + 1, m, dlo, dhi)
        r1 = mask_row(dense, pm, ptr, ewd, emask, y1, buf1)
        hpc1 = c0
        hnc1 = U0
        for wd in range(fb1, lb1 + 1):
            vp_[wd], vn_[wd], hpc1, hnc1 = step_block(r1[wd], hpc1, hnc1, vp_[wd], vn_[wd], lcs)
        clear_row(dense, ptr, ewd, y1, buf1)
        while fbp < fb1:
            top += word_delta(vp_, vn_, fbp)
            fbp += 1
        top += 1
    fb, lb = band_words(n, m, dlo, dhi)
    return fb, lb, top


@njit(cache=True, nogil=True, inline="always")
def band_of(m, n, d):
    """Diagonal band (dlo, dhi) of i - j holding every cell of every path of cost <= d from
    (0, 0) to (m, n): such a cell has |i - j| + |(m - n) - (i - j)| <= d (Ukkonen)."""
    delta = m - n
    return -((d - delta) // 2), (delta + d) // 2


@njit(cache=True, nogil=True)
def upper_bound(p, ps, m, t, ts, n):
    """max(m, n) or the aligned mismatches plus the length difference, if smaller."""
    k = min(m, n)
    ham = abs(m - n)
    for i in range(k):
        ham += p[ps + i] != t[ts + i]
    return min(ham, max(m, n))


@njit(cache=True, nogil=True, inline="always")
def probe_width(m, n, bound):
    """Cost of the narrow band tried first for an m x n pair whose distance is at most
    ``bound``, or -1 where that band would not pay (see ``PROBE_MIN``)."""
    probe = 2 * abs(m - n) + max(PROBE_MIN, (m + n) // 64)
    return probe if probe < bound and probe < (m + n) // 32 else -1


@njit(cache=True, nogil=True)
def band_distance(dense, pm, ptr, ewd, emask, t, ts, n, lo, m, d, vp_, vn_, buf1, buf2):
    """Levenshtein D[m][n] computed in the band of cost ``d`` (exact when D[m][n] <= d, larger
    than d otherwise)."""
    nw = (m + 63) >> 6
    for wd in range(nw):
        vp_[wd] = ALL
        vn_[wd] = U0
    dlo, dhi = band_of(m, n, d)
    fb, lb, top = band_pass(dense, pm, ptr, ewd, emask, t, ts, n, False, lo, m, dlo, dhi, vp_, vn_, buf1, buf2,
                             False)
    for wd in range(fb, nw - 1):
        top += word_delta(vp_, vn_, wd)
    mask = low_mask(m - 64 * (nw - 1))
    return top + np.int64(popcount(vp_[nw - 1] & mask)) - np.int64(popcount(vn_[nw - 1] & mask))


@njit(cache=True, nogil=True)
def long_distance(dense, pm, ptr, ewd, emask, p, ps, t, ts, n, lo, m, vp_, vn_, buf1, buf2, lcs):
    """Unit distance, pattern ``p[ps:ps+m]`` of m > 64 symbols in W = ceil(m / 64) words
    (Hyyrö's blocks), masks in ``pm`` rows (``dense``) or sparse entries (:func:`.masks.sparse_masks`).

    Levenshtein runs in a diagonal band (:func:`band_pass`): first a narrow one (cost
    :func:`probe_width`: a few percent of the table), exact when the
    distance fits it (similar strings); otherwise the band of an upper bound (aligned
    mismatches + length difference), which is exact."""
    nw = (m + 63) >> 6
    if not lcs:
        ub = upper_bound(p, ps, m, t, ts, n)
        probe = probe_width(m, n, ub)
        if probe >= 0:
            d = band_distance(dense, pm, ptr, ewd, emask, t, ts, n, lo, m, probe, vp_, vn_, buf1, buf2)
            if d <= probe:
                return d
        return band_distance(dense, pm, ptr, ewd, emask, t, ts, n, lo, m, ub, vp_, vn_, buf1, buf2)
    for wd in range(nw):
        vp_[wd] = ALL
        vn_[wd] = U0
    band_pass(dense, pm, ptr, ewd, emask, t, ts, n, False, lo, m, -n - 1, m + 1, vp_, vn_, buf1, buf2, True)
    mask = low_mask(m - 64 * (nw - 1))
    common = np.int64(popcount(~vp_[nw - 1] & mask))
    for wd in range(nw - 1):
        common += np.int64(popcount(~vp_[wd]))
    return m + n - 2 * common
