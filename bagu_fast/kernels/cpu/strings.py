"""Numba CPU kernels for the edit-distance (Levenshtein) family.

Raw signatures and semantics: see :mod:`bagu_fast.kernels.reference.strings`.

Unit weights (``insert == delete == substitute == w``; the result is ``w`` times the unit
distance) use the bit-parallel algorithm of Myers (1999) in Hyyrö's (2003) formulation: the
vertical deltas of one DP column are two bit vectors ``VP`` / ``VN`` (one bit per pattern row),
advanced by ~15 word operations per text character.  The distance is read off the last column,
``D[m][n] = n + popcount(VP) - popcount(VN)`` (bits below ``m``), so the inner loop keeps no
score.  Patterns longer than 64 symbols use Hyyrö's blocked version (words linked by the
horizontal +1 / -1 carries).  Bits above the pattern length only ever influence higher bits
(additions, left shifts), so they are garbage that the final mask ignores.

``insert == delete == w`` with ``substitute >= 2 w`` is the Indel distance
``w (m + n - 2 LCS)`` (a substitution never beats a delete plus an insert); it runs the
bit-parallel LCS of Allison–Dix / Hyyrö (2004), ``S = (S + u) | (S & ~u)`` with
``u = S & match``, through the same kernels (flag ``lcs``).

``cdist`` vectorises across many patterns at once (the trick behind RapidFuzz's cdist): one side
(the one that needs fewer vector operations, usually the queries) is sorted by length and cut
into blocks of ``B`` patterns; a block keeps its masks as ``pm[symbol, lane]`` (built once per
task, never per pair) and every text character updates all ``B`` lanes of ``VP`` / ``VN`` with a
plain ``for k in range(B)`` loop that LLVM turns into AVX-512 / AVX2 code.  The lane type is the
narrowest that holds the block's longest pattern (uint8 <= 8, uint16 <= 16, uint32 <= 32,
uint64 <= 64; every operation is cast back to the lane type through :func:`_as`, otherwise Numba
widens small integers to 64 bits and the loop stays 64-bit wide); longer patterns use uint64 lanes
with ``W`` words and per-lane carries.  Symbols are first mapped to a dense alphabet of the
pattern side (symbols only on the text side share one extra id whose masks are all zero).  Work
is split into (block, chunk of texts) tasks run with ``prange``.

``cpdist`` runs ``prange`` over chunks of pairs: common prefix and suffix are stripped and the
shorter string is the pattern.  Single-word pairs are queued and run four at a time, interleaved,
so that four independent dependency chains fill the core (one pair alone is latency-bound).
When the chunk's codes span fewer than 255 values a pattern is 64 bytes ``code - min`` and a
text symbol's match mask is a single vector compare (:func:`_eqmask64`, ``vpcmpeqb`` + ``kmov``):
no mask table is built or cleared.  Otherwise masks go to per-chunk scratch, rows indexed by
``code - min`` (small code range) or by local ids from a small open-addressing hash table, and
are cleared again after the pair.  Long patterns use the blocked algorithm with two columns
advancing as a wavefront (two independent carry chains).  Nothing is allocated per pair.

Other weights use Wagner–Fischer with one row over the shorter string (insert / delete costs
swapped when the roles are swapped), after stripping the common affix.

The wrappers check that offsets are non-decreasing positions inside the codes (ValueError
otherwise), so no kernel can index out of bounds whatever the caller passed.

Long pairs (pattern > 64 symbols) run the blocked algorithm in a diagonal band (Ukkonen): with
an upper bound d of the distance, only the words holding rows ``i`` with
``|i - j| + |(m - n) - (i - j)| <= d`` are advanced in column j (see :func:`_band_pass` for why
the values stay exact where it matters).  A narrow band is tried first (similar strings: a few
percent of the table), then the band of the aligned mismatches + length difference.  Masks of a
long pattern have one row per distinct symbol (hashed to local ids), or, past a budget, sparse
(word, mask) entries per symbol: memory is O(m + n) words whatever the alphabet or code range.

``editops`` is Hirschberg's divide and conquer over banded bit-parallel passes (as RapidFuzz
does): a subproblem is halved at its middle column by one forward and one backward pass, each
keeping only its last column, and the first row minimising the sum is where an
optimal path crosses; both halves then have exact distances, so their bands are tight.
Subproblems whose column vectors fit ``_EDITOPS_LEAF_WORDS`` (8 MiB, reused) keep ``VP`` /
``VN`` of every column and are traced back one bit per step.  One thread, as RapidFuzz.  The script is minimal and
deterministic (first optimal split row, fixed traceback order); memory is O(m + n) plus the
leaf store.

Block sizes, chunking and side choice depend on the shapes only (and the thread count, which
changes only how work is split), so results never depend on the number of threads.
"""
from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import get_num_threads, njit, prange, types
from numba.extending import intrinsic, overload

from ._parallel import parallel_region

REPLACE, INSERT, DELETE = 0, 1, 2

_U0 = np.uint64(0)
_U1 = np.uint64(1)
_U63 = np.uint64(63)
_ALL = np.uint64(0xFFFFFFFFFFFFFFFF)

# lanes per block for each lane type (tuned on AVX-512; multiples of a 64-byte vector)
_LANES = {np.dtype(np.uint8): 256, np.dtype(np.uint16): 128, np.dtype(np.uint32): 64, np.dtype(np.uint64): 64}
_LANES_MULTI = 32  # lanes per block for patterns longer than 64 (uint64, W words each)
_STAGE = 32  # texts whose lane results are staged before they are scattered to the output
_LOCAL_ALPHA = 1024  # cdist: larger pattern alphabets get block-local symbol ids per task
_DIRECT_PM_WORDS = 1 << 16  # cpdist: masks indexed by code - min when range * words <= this
_DIRECT_TABLE = 1 << 16  # dense alphabet by lookup table when the code range is at most this
# A long pattern's masks: a dense table (one row of ceil(m / 64) words per distinct symbol) while it
# holds at most max(_DENSE_PM_WORDS, _DENSE_PM_PER_SYMBOL * (m + n)) words, else sparse entries
# (one per symbol and word it occurs in: at most m); memory stays O(m + n) for any alphabet.
_DENSE_PM_WORDS = 1 << 20
_DENSE_PM_PER_SYMBOL = 8
# long pairs first try a diagonal band of cost 2 |m - n| + max(_PROBE_MIN, (m + n) / 64): about
# 3 % of the full table, skipped where it would cost more than 6 %
_PROBE_MIN = 64
# editops: subproblems whose stored column vectors (2 (n + 1) ceil(m / 64) words) fit this are
# traced back directly; larger ones are halved first (Hirschberg).  8 MiB.
_EDITOPS_LEAF_WORDS = 1 << 20


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------
@intrinsic
def _popcount(typingctx, x):
    """llvm.ctpop on any integer type (vectorises to vpopcnt where available)."""
    if isinstance(x, types.Integer):

        def codegen(context, builder, signature, args):
            return builder.ctpop(args[0])

        return x(x), codegen
    return None


@intrinsic
def _eqmask64(typingctx, pat, off, c):
    """Bit i set where ``pat[off + i] == c`` for i < 64 (uint8 bytes): one vector compare
    (vpcmpeqb + kmov on AVX-512, two compares + movemask on AVX2)."""
    if not (isinstance(pat, types.Array) and pat.dtype == types.uint8 and isinstance(off, types.Integer)
            and isinstance(c, types.Integer)):
        return None

    def codegen(context, builder, signature, args):
        ary = context.make_array(signature.args[0])(context, builder, value=args[0])
        i8 = ir.IntType(8)
        vec = ir.VectorType(i8, 64)
        ptr = builder.gep(ary.data, [args[1]])
        v = builder.load(builder.bitcast(ptr, vec.as_pointer()), align=1)
        cv = args[2]
        if cv.type.width > 8:
            cv = builder.trunc(cv, i8)
        splat = builder.insert_element(ir.Constant(vec, None), cv, ir.Constant(ir.IntType(32), 0))
        splat = builder.shuffle_vector(splat, ir.Constant(vec, None),
                                       ir.Constant(ir.VectorType(ir.IntType(32), 64), [0] * 64))
        return builder.bitcast(builder.icmp_unsigned("==", v, splat), ir.IntType(64))

    return types.uint64(pat, off, c), codegen


def _as(x, like):  # pragma: no cover - replaced by the overload inside jitted code
    raise NotImplementedError


def _make_cast(np_type):
    def impl(x, like):
        return np_type(x)

    return impl


_CASTS = {
    types.uint8: _make_cast(np.uint8),
    types.uint16: _make_cast(np.uint16),
    types.uint32: _make_cast(np.uint32),
    types.uint64: _make_cast(np.uint64),
}


@overload(_as, inline="always")
def _as_overload(x, like):
    """Cast ``x`` to the (unsigned) type of ``like``: keeps lane arithmetic narrow."""
    return _CASTS.get(like)


@njit(cache=True, nogil=True)
def _low_mask(m):
    """uint64 with the low ``m`` bits set (0 <= m <= 64)."""
    if m >= 64:
        return _ALL
    return (_U1 << np.uint64(m)) - _U1


# --------------------------------------------------------------------------------------------
# dense alphabet
# --------------------------------------------------------------------------------------------
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


def _dense(p_codes: np.ndarray, t_codes: np.ndarray):
    """(p_ids, t_ids, A): dense symbol ids over the pattern side's alphabet."""
    p_ids = np.empty(p_codes.shape[0], np.int64)
    t_ids = np.empty(t_codes.shape[0], np.int64)
    if p_codes.shape[0] == 0:
        t_ids[:] = 0
        return p_ids, t_ids, 0
    lo, hi = int(p_codes.min()), int(p_codes.max())
    if hi - lo < max(_DIRECT_TABLE, 2 * p_codes.shape[0]):
        a = _dense_by_table(p_codes, t_codes, np.int64(lo), np.int64(hi), p_ids, t_ids)
        return p_ids, t_ids, int(a)
    alpha, p_ids = np.unique(p_codes, return_inverse=True)
    p_ids = p_ids.astype(np.int64).reshape(-1)
    pos = np.searchsorted(alpha, t_codes)
    pos_c = np.minimum(pos, alpha.shape[0] - 1)
    t_ids = np.where(alpha[pos_c] == t_codes, pos_c, alpha.shape[0]).astype(np.int64)
    return p_ids, t_ids, int(alpha.shape[0])


# --------------------------------------------------------------------------------------------
# cdist, unit weights: lanes of patterns
# --------------------------------------------------------------------------------------------
@njit(cache=True, nogil=True)
def _task_alphabet(p_ids, p_off, order, k0, nk, t_ids, t_off, j0, j1, n_sym):
    """Rows of a task's mask table.  Small alphabets: the global ids (``bmap`` empty, texts read
    ``t_ids``).  Large ones: the block's own symbols get rows 0..L-1 (``bmap``), every other
    symbol row L, and the task's texts are remapped once into ``tsrc`` (indexed ``p - tbase``),
    so the table holds L + 1 rows instead of one per symbol of the whole pattern side."""
    if n_sym + 1 <= _LOCAL_ALPHA:
        return n_sym + 1, t_ids, 0, np.empty(0, np.int64)
    bmap = np.full(n_sym + 1, -1, np.int64)
    nloc = 0
    for k in range(nk):
        q = order[k0 + k]
        for i in range(p_off[q], p_off[q + 1]):
            if bmap[p_ids[i]] < 0:
                bmap[p_ids[i]] = nloc
                nloc += 1
    tbase = t_off[j0]
    tsrc = np.empty(t_off[j1] - tbase, np.int64)
    for p in range(tbase, t_off[j1]):
        v = bmap[t_ids[p]]
        tsrc[p - tbase] = v if v >= 0 else nloc
    return nloc + 1, tsrc, tbase, bmap


@njit(cache=True, nogil=True)
def _lane_task(p_ids, p_off, order, k0, nk, lanes, t_ids, t_off, j0, j1, n_sym, w, out, marker, lcs):
    """One block of ``nk`` patterns of at most one lane word each (the lane type of ``marker``)
    against texts ``j0..j1-1``: ``out[p, t] = w * distance`` (``out`` may be a transposed view).
    ``lcs``: Indel distance m + n - 2 LCS (bit-parallel LCS; ``vp_`` holds S)."""
    z = marker[0]
    one = _as(1, z)
    ones = _as(~_U0, z)
    zero = _as(0, z)
    rows, tsrc, tbase, bmap = _task_alphabet(p_ids, p_off, order, k0, nk, t_ids, t_off, j0, j1, n_sym)
    local = bmap.shape[0] > 0
    pm = np.zeros((rows, lanes), marker.dtype)
    mask = np.zeros(lanes, marker.dtype)
    for k in range(nk):
        q = order[k0 + k]
        s = p_off[q]
        m = p_off[q + 1] - s
        for i in range(m):
            sym = p_ids[s + i]
            pm[bmap[sym] if local else sym, k] |= _as(_U1 << np.uint64(i), z)
        mask[k] = _as(_low_mask(m), z)
    vp_ = np.empty(lanes, marker.dtype)
    vn_ = np.empty(lanes, marker.dtype)
    res = np.empty((_STAGE, lanes), np.int64)
    for jb in range(j0, j1, _STAGE):
        je = min(jb + _STAGE, j1)
        for j in range(jb, je):
            s = t_off[j]
            e = t_off[j + 1]
            for k in range(lanes):
                vp_[k] = ones
                vn_[k] = zero
            if lcs:
                for p in range(s, e):
                    row = pm[tsrc[p - tbase]]
                    for k in range(lanes):  # vectorised across the block's patterns
                        sv = vp_[k]
                        u = _as(sv & row[k], z)
                        vp_[k] = _as(_as(sv + u, z) | _as(sv & _as(~u, z), z), z)
            else:
                for p in range(s, e):
                    row = pm[tsrc[p - tbase]]
                    for k in range(lanes):  # vectorised across the block's patterns
                        x = row[k]
                        vp = vp_[k]
                        vn = vn_[k]
                        d0 = _as(_as(_as(_as(x & vp, z) + vp, z) ^ vp, z) | x | vn, z)
                        hp = _as(vn | _as(~_as(d0 | vp, z), z), z)
                        hn = _as(d0 & vp, z)
                        hp = _as(_as(hp + hp, z) | one, z)  # hp << 1 | 1 (a shift would widen)
                        hn = _as(hn + hn, z)
                        vp_[k] = _as(hn | _as(~_as(d0 | hp, z), z), z)
                        vn_[k] = _as(hp & d0, z)
            n = e - s
            r = res[j - jb]
            if lcs:
                for k in range(lanes):
                    r[k] = n + np.int64(_popcount(mask[k])) - 2 * np.int64(_popcount(_as(~vp_[k] & mask[k], z)))
            else:
                for k in range(lanes):
                    r[k] = n + np.int64(_popcount(_as(vp_[k] & mask[k], z))) - np.int64(
                        _popcount(_as(vn_[k] & mask[k], z)))
        for k in range(nk):
            q = order[k0 + k]
            for j in range(jb, je):
                out[q, j] = res[j - jb, k] * w


@njit(cache=True, nogil=True)
def _multi_task(p_ids, p_off, order, k0, nk, lanes, nw, t_ids, t_off, j0, j1, n_sym, w, out, lcs):
    """One block of patterns longer than 64: uint64 lanes of ``nw`` words with per-lane carries."""
    rows, tsrc, tbase, bmap = _task_alphabet(p_ids, p_off, order, k0, nk, t_ids, t_off, j0, j1, n_sym)
    local = bmap.shape[0] > 0
    pm = np.zeros((rows, nw, lanes), np.uint64)
    mask = np.zeros((nw, lanes), np.uint64)
    for k in range(nk):
        q = order[k0 + k]
        s = p_off[q]
        m = p_off[q + 1] - s
        for i in range(m):
            sym = p_ids[s + i]
            pm[bmap[sym] if local else sym, i >> 6, k] |= _U1 << np.uint64(i & 63)
        for wd in range(nw):
            mask[wd, k] = _low_mask(min(max(m - 64 * wd, 0), 64))
    vp_ = np.empty((nw, lanes), np.uint64)
    vn_ = np.empty((nw, lanes), np.uint64)
    hpc_ = np.empty(lanes, np.uint64)
    hnc_ = np.empty(lanes, np.uint64)
    res = np.empty((_STAGE, lanes), np.int64)
    for jb in range(j0, j1, _STAGE):
        je = min(jb + _STAGE, j1)
        for j in range(jb, je):
            s = t_off[j]
            e = t_off[j + 1]
            for wd in range(nw):
                for k in range(lanes):
                    vp_[wd, k] = _ALL
                    vn_[wd, k] = _U0
            for p in range(s, e):
                row = pm[tsrc[p - tbase]]
                for k in range(lanes):
                    hpc_[k] = _U0 if lcs else _U1
                    hnc_[k] = _U0
                if lcs:
                    for wd in range(nw):
                        roww = row[wd]
                        vpw = vp_[wd]
                        for k in range(lanes):  # LCS: S = (S + u + carry) | (S & ~u), u = S & match
                            sv = vpw[k]
                            u = sv & roww[k]
                            sm = sv + u + hpc_[k]
                            hpc_[k] = ((sv & u) | ((sv | u) & ~sm)) >> _U63
                            vpw[k] = sm | (sv & ~u)
                    continue
                for wd in range(nw):
                    roww = row[wd]
                    vpw = vp_[wd]
                    vnw = vn_[wd]
                    for k in range(lanes):  # vectorised across the block's patterns
                        hnc = hnc_[k]
                        hpc = hpc_[k]
                        x = roww[k] | hnc
                        vp = vpw[k]
                        vn = vnw[k]
                        d0 = (((x & vp) + vp) ^ vp) | x | vn
                        hp = vn | ~(d0 | vp)
                        hn = d0 & vp
                        hpc_[k] = hp >> _U63
                        hnc_[k] = hn >> _U63
                        hp = (hp << _U1) | hpc
                        hn = (hn << _U1) | hnc
                        vpw[k] = hn | ~(d0 | hp)
                        vnw[k] = hp & d0
            n = e - s
            r = res[j - jb]
            for k in range(lanes):
                r[k] = n
            if lcs:
                for wd in range(nw):
                    for k in range(lanes):
                        r[k] += np.int64(_popcount(mask[wd, k])) - 2 * np.int64(_popcount(~vp_[wd, k] & mask[wd, k]))
            else:
                for wd in range(nw):
                    for k in range(lanes):
                        r[k] += np.int64(_popcount(vp_[wd, k] & mask[wd, k])) - np.int64(
                            _popcount(vn_[wd, k] & mask[wd, k]))
        for k in range(nk):
            q = order[k0 + k]
            for j in range(jb, je):
                out[q, j] = res[j - jb, k] * w


@njit(cache=True, nogil=True, parallel=True)
def _cdist_lanes(p_ids, p_off, order, blk_cls, blk_lo, blk_hi, blk_lanes, blk_words, t_ids, t_off, chunks, n_sym,
                 w, out, lcs):
    """All (block, text chunk) tasks in one parallel region; each block runs the kernel of its
    lane class (0: uint8, 1: uint16, 2: uint32, 3: uint64, 4: several uint64 words)."""
    nblk = blk_lo.shape[0]
    nch = chunks.shape[0] - 1
    for task in prange(nblk * nch):
        b = task % nblk
        ch = task // nblk
        c = blk_cls[b]
        k0 = blk_lo[b]
        nk = blk_hi[b] - k0
        lanes = blk_lanes[b]
        j0 = chunks[ch]
        j1 = chunks[ch + 1]
        if c == 0:
            _lane_task(p_ids, p_off, order, k0, nk, lanes, t_ids, t_off, j0, j1, n_sym, w, out,
                       np.zeros(1, np.uint8), lcs)
        elif c == 1:
            _lane_task(p_ids, p_off, order, k0, nk, lanes, t_ids, t_off, j0, j1, n_sym, w, out,
                       np.zeros(1, np.uint16), lcs)
        elif c == 2:
            _lane_task(p_ids, p_off, order, k0, nk, lanes, t_ids, t_off, j0, j1, n_sym, w, out,
                       np.zeros(1, np.uint32), lcs)
        elif c == 3:
            _lane_task(p_ids, p_off, order, k0, nk, lanes, t_ids, t_off, j0, j1, n_sym, w, out,
                       np.zeros(1, np.uint64), lcs)
        else:
            _multi_task(p_ids, p_off, order, k0, nk, lanes, blk_words[b], t_ids, t_off, j0, j1, n_sym, w, out, lcs)


_CLASS_DTYPES = (np.dtype(np.uint8), np.dtype(np.uint16), np.dtype(np.uint32), np.dtype(np.uint64))


def _plan(lengths: np.ndarray):
    """Patterns sorted by length, cut into blocks: (order, cls, lo, hi, lanes, words) arrays.

    Class 0..3: one lane word of uint8 / uint16 / uint32 / uint64 (length <= 8 / 16 / 32 / 64);
    class 4: several uint64 words.  Lanes are padded to whole 64-byte vectors."""
    order = np.argsort(lengths, kind="stable").astype(np.int64)
    sl = lengths[order]
    cls_of = np.searchsorted(np.array([8, 16, 32, 64]), sl, side="left")
    cls_l, lo_l, hi_l, lanes_l, words_l = [], [], [], [], []
    for c in range(5):
        idx = np.nonzero(cls_of == c)[0]
        if idx.shape[0] == 0:
            continue
        start, stop = int(idx[0]), int(idx[-1]) + 1
        if c < 4:
            dt = _CLASS_DTYPES[c]
            bmax, vec = _LANES[dt], 64 // dt.itemsize
        else:
            bmax, vec = _LANES_MULTI, 8
        for s in range(start, stop, bmax):
            e = min(s + bmax, stop)
            cls_l.append(c)
            lo_l.append(s)
            hi_l.append(e)
            lanes_l.append(-(-(e - s) // vec) * vec)
            words_l.append(-(-int(sl[e - 1]) // 64) if c == 4 else 1)
    as64 = lambda v: np.array(v, np.int64)  # noqa: E731
    return order, as64(cls_l), as64(lo_l), as64(hi_l), as64(lanes_l), as64(words_l)


def _plan_cost(plan, text_total: int, n_text: int) -> float:
    """Bytes of lane state touched per text symbol, times the text symbols (+ per-text work)."""
    order, cls, lo, hi, lanes, words = plan
    item = np.where(cls < 4, 1 << np.minimum(cls, 3), 8)
    return float(np.sum(lanes * words * item)) * (text_total + 4 * n_text)


def _chunks(t_off: np.ndarray, nblk: int, n_sym: int) -> np.ndarray:
    """Split the texts into chunks of about equal total length (enough tasks for the threads,
    few enough that rebuilding a block's masks per task stays cheap)."""
    nt = t_off.shape[0] - 1
    total = int(t_off[-1] - t_off[0])
    want = -(-16 * get_num_threads() // max(nblk, 1))
    rows = min(n_sym + 1, _LOCAL_ALPHA)
    nch = max(1, min(want, nt // 16, max(total, 1) // (2 * rows)))
    if nch <= 1:
        return np.array([0, nt], np.int64)
    targets = t_off[0] + (np.arange(1, nch, dtype=np.int64) * total) // nch
    cuts = np.searchsorted(t_off, targets, side="left")
    return np.unique(np.concatenate(([0], cuts, [nt]))).astype(np.int64)


def _cdist_unit(q_codes, q_off, c_codes, c_off, w: int, out: np.ndarray, lcs: bool) -> None:
    q_len = np.diff(q_off)
    c_len = np.diff(c_off)
    plan_q = _plan(q_len)
    plan_c = _plan(c_len)
    # the side whose blocks need fewer vector operations becomes the patterns
    if _plan_cost(plan_q, int(c_len.sum()), c_len.shape[0]) <= _plan_cost(plan_c, int(q_len.sum()), q_len.shape[0]):
        p_codes, p_off, t_codes, t_off, plan, target = q_codes, q_off, c_codes, c_off, plan_q, out
    else:
        p_codes, p_off, t_codes, t_off, plan, target = c_codes, c_off, q_codes, q_off, plan_c, out.T
    p_ids, t_ids, n_sym = _dense(p_codes, t_codes)
    order, cls, lo, hi, lanes, words = plan
    chunks = _chunks(t_off, lo.shape[0], n_sym)
    with parallel_region():
        _cdist_lanes(p_ids, p_off, order, cls, lo, hi, lanes, words, t_ids, t_off, chunks, np.int64(n_sym),
                     np.int64(w), target, lcs)


# --------------------------------------------------------------------------------------------
# Wagner–Fischer (any weights)
# --------------------------------------------------------------------------------------------
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
    while m > 0 and n > 0 and a[sa] == b[sb]:
        sa += 1
        sb += 1
        m -= 1
        n -= 1
    while m > 0 and n > 0 and a[sa + m - 1] == b[sb + n - 1]:
        m -= 1
        n -= 1
    if m == 0:
        return n * ins
    if n == 0:
        return m * dele
    if n <= m:
        return _wf(a, sa, m, b, sb, n, ins, dele, sub, row)
    return _wf(b, sb, n, a, sa, m, dele, ins, sub, row)  # b -> a: inserts and deletes swap


@njit(cache=True, nogil=True, parallel=True)
def _cdist_weighted(q_codes, q_off, c_codes, c_off, ins, dele, sub, out, nchunk):
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
def _cpdist_weighted(a_codes, a_off, b_codes, b_off, ins, dele, sub, out, nchunk):
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


# --------------------------------------------------------------------------------------------
# cpdist, unit weights: one pair at a time
# --------------------------------------------------------------------------------------------
@njit(cache=True, nogil=True, inline="always")
def _result1(vp, vn, m, n, lcs):
    """Distance from the last column of a single-word pattern of length m (1..64)."""
    mask = _low_mask(m)
    if lcs:  # Indel distance m + n - 2 LCS
        return m + n - 2 * np.int64(_popcount(~vp & mask))
    return n + np.int64(_popcount(vp & mask)) - np.int64(_popcount(vn & mask))


@njit(cache=True, nogil=True)
def _hyyro_word(pm, t, ts, n, lo, m, lcs):
    """Unit (or Indel) distance, pattern of 1..64 symbols whose masks are pm[:, 0]; text t[ts:ts+n]."""
    vp = _ALL
    vn = _U0
    for j in range(n):
        vp, vn = _step1(pm[np.uint64(t[np.uint64(ts + j)] - lo), 0], vp, vn, lcs)
    return _result1(vp, vn, m, n, lcs)


@njit(cache=True, nogil=True, inline="always")
def _step(x, hpc, hnc, vp, vn, lcs):
    """One word of one column of Hyyrö's blocked algorithm: (vp, vn, hp carry, hn carry).

    With ``lcs`` it is one word of the bit-parallel LCS (Allison–Dix / Hyyrö 2004) instead:
    ``vp`` holds S, ``hpc`` the addition carry (``vn`` and ``hnc`` unused)."""
    if lcs:
        u = vp & x
        sm = vp + u + hpc
        return sm | (vp & ~u), vn, ((vp & u) | ((vp | u) & ~sm)) >> _U63, hnc
    x = x | hnc
    d0 = (((x & vp) + vp) ^ vp) | x | vn
    hp = vn | ~(d0 | vp)
    hn = d0 & vp
    hpo = hp >> _U63
    hno = hn >> _U63
    hp = (hp << _U1) | hpc
    hn = (hn << _U1) | hnc
    return hn | ~(d0 | hp), hp & d0, hpo, hno


@njit(cache=True, nogil=True, inline="always")
def _row(dense, pm, ptr, ewd, emask, sym, buf):
    """Match masks of symbol ``sym`` over the pattern's words: a row of the dense table, or the
    symbol's sparse entries scattered into ``buf`` (all zero outside them; see :func:`_unrow`)."""
    if dense:
        return pm[sym]
    for e in range(ptr[sym], ptr[sym + 1]):
        buf[ewd[e]] = emask[e]
    return buf


@njit(cache=True, nogil=True, inline="always")
def _unrow(dense, ptr, ewd, sym, buf):
    """Zero the entries :func:`_row` scattered into ``buf``."""
    if not dense:
        for e in range(ptr[sym], ptr[sym + 1]):
            buf[ewd[e]] = _U0


@njit(cache=True, nogil=True)
def _sparse_masks(pid, ps, m, rev, n_sym):
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
        bit = _U1 << np.uint64(i & 63)
        if last[s] != wd:
            last[s] = wd
            ewd[pos[s]] = wd
            emask[pos[s]] = bit
            pos[s] += 1
        else:
            emask[pos[s] - 1] |= bit
    return ptr, ewd, emask, nw


@njit(cache=True, nogil=True, inline="always")
def _band_words(j, m, dlo, dhi):
    """Words of column j (1-based) holding the rows i in [j + dlo, j + dhi] (clipped to 1..m)."""
    return (max(1, j + dlo) - 1) >> 6, (min(m, j + dhi) - 1) >> 6


@njit(cache=True, nogil=True, inline="always")
def _word_delta(vp_, vn_, wd):
    return np.int64(_popcount(vp_[wd])) - np.int64(_popcount(vn_[wd]))


@njit(cache=True, nogil=True)
def _band_pass(dense, pm, ptr, ewd, emask, t, ts, n, rev, lo, m, dlo, dhi, vp_, vn_, buf1, buf2, lcs):
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
    c0 = _U0 if lcs else _U1  # carry into the first word: +1 boundary (Levenshtein), none (LCS)
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
        fb1, lb1 = _band_words(j + 1, m, dlo, dhi)
        fb2, lb2 = _band_words(j + 2, m, dlo, dhi)
        r1 = _row(dense, pm, ptr, ewd, emask, y1, buf1)
        r2 = _row(dense, pm, ptr, ewd, emask, y2, buf2)
        hpc1 = c0
        hnc1 = _U0
        hpc2 = c0
        hnc2 = _U0
        s = fb1
        start = fb2 + 1
        while s < start and s <= lb1:  # column j + 1 alone until column j + 2 can follow
            vp_[s], vn_[s], hpc1, hnc1 = _step(r1[s], hpc1, hnc1, vp_[s], vn_[s], lcs)
            s += 1
        w2 = fb2
        if s == start:
            for s in range(start, lb1 + 1):  # the wavefront: both columns
                a_vp, a_vn, hpc1, hnc1 = _step(r1[s], hpc1, hnc1, vp_[s], vn_[s], lcs)
                b_vp, b_vn, hpc2, hnc2 = _step(r2[s - 1], hpc2, hnc2, vp_[s - 1], vn_[s - 1], lcs)
                vp_[s] = a_vp
                vn_[s] = a_vn
                vp_[s - 1] = b_vp
                vn_[s - 1] = b_vn
            w2 = max(lb1, fb2)
        for w in range(w2, lb2 + 1):  # column j + 2's remaining words
            vp_[w], vn_[w], hpc2, hnc2 = _step(r2[w], hpc2, hnc2, vp_[w], vn_[w], lcs)
        _unrow(dense, ptr, ewd, y1, buf1)
        _unrow(dense, ptr, ewd, y2, buf2)
        # the row above the band: words leaving it hand over their column's sum, then +1
        while fbp < fb1:
            top += _word_delta(vp_, vn_, fbp)
            fbp += 1
        top += 1
        while fbp < fb2:
            top += _word_delta(vp_, vn_, fbp)
            fbp += 1
        top += 1
        j += 2
    if j < n:
        y1 = np.uint64(t[np.uint64(ts)] - lo) if rev else np.uint64(t[np.uint64(ts + j)] - lo)
        fb1, lb1 = _band_words(j + 1, m, dlo, dhi)
        r1 = _row(dense, pm, ptr, ewd, emask, y1, buf1)
        hpc1 = c0
        hnc1 = _U0
        for wd in range(fb1, lb1 + 1):
            vp_[wd], vn_[wd], hpc1, hnc1 = _step(r1[wd], hpc1, hnc1, vp_[wd], vn_[wd], lcs)
        _unrow(dense, ptr, ewd, y1, buf1)
        while fbp < fb1:
            top += _word_delta(vp_, vn_, fbp)
            fbp += 1
        top += 1
    fb, lb = _band_words(n, m, dlo, dhi)
    return fb, lb, top


@njit(cache=True, nogil=True, inline="always")
def _band_of(m, n, d):
    """Diagonal band (dlo, dhi) of i - j holding every cell of every path of cost <= d from
    (0, 0) to (m, n): such a cell has |i - j| + |(m - n) - (i - j)| <= d (Ukkonen)."""
    delta = m - n
    return -((d - delta) // 2), (delta + d) // 2


@njit(cache=True, nogil=True)
def _upper_bound(p, ps, m, t, ts, n):
    """max(m, n) or the aligned mismatches plus the length difference, if smaller."""
    k = min(m, n)
    ham = abs(m - n)
    for i in range(k):
        ham += p[ps + i] != t[ts + i]
    return min(ham, max(m, n))


@njit(cache=True, nogil=True)
def _band_distance(dense, pm, ptr, ewd, emask, t, ts, n, lo, m, d, vp_, vn_, buf1, buf2):
    """Levenshtein D[m][n] computed in the band of cost ``d`` (exact when D[m][n] <= d, larger
    than d otherwise)."""
    nw = (m + 63) >> 6
    for wd in range(nw):
        vp_[wd] = _ALL
        vn_[wd] = _U0
    dlo, dhi = _band_of(m, n, d)
    fb, lb, top = _band_pass(dense, pm, ptr, ewd, emask, t, ts, n, False, lo, m, dlo, dhi, vp_, vn_, buf1, buf2,
                             False)
    for wd in range(fb, nw - 1):
        top += _word_delta(vp_, vn_, wd)
    mask = _low_mask(m - 64 * (nw - 1))
    return top + np.int64(_popcount(vp_[nw - 1] & mask)) - np.int64(_popcount(vn_[nw - 1] & mask))


@njit(cache=True, nogil=True)
def _hyyro_block(dense, pm, ptr, ewd, emask, p, ps, t, ts, n, lo, m, vp_, vn_, buf1, buf2, lcs):
    """Unit distance, pattern ``p[ps:ps+m]`` of m > 64 symbols in W = ceil(m / 64) words
    (Hyyrö's blocks), masks in ``pm`` rows (``dense``) or sparse entries (:func:`_sparse_masks`).

    Levenshtein runs in a diagonal band (:func:`_band_pass`): first a narrow one (cost
    ``2 |m - n| + max(_PROBE_MIN, (m + n) / 64)``: a few percent of the table), exact when the
    distance fits it (similar strings); otherwise the band of an upper bound (aligned
    mismatches + length difference), which is exact."""
    nw = (m + 63) >> 6
    if not lcs:
        ub = _upper_bound(p, ps, m, t, ts, n)
        probe = 2 * abs(m - n) + max(_PROBE_MIN, (m + n) // 64)
        if probe < ub and probe < (m + n) // 32:
            d = _band_distance(dense, pm, ptr, ewd, emask, t, ts, n, lo, m, probe, vp_, vn_, buf1, buf2)
            if d <= probe:
                return d
        return _band_distance(dense, pm, ptr, ewd, emask, t, ts, n, lo, m, ub, vp_, vn_, buf1, buf2)
    for wd in range(nw):
        vp_[wd] = _ALL
        vn_[wd] = _U0
    _band_pass(dense, pm, ptr, ewd, emask, t, ts, n, False, lo, m, -n - 1, m + 1, vp_, vn_, buf1, buf2, True)
    mask = _low_mask(m - 64 * (nw - 1))
    common = np.int64(_popcount(~vp_[nw - 1] & mask))
    for wd in range(nw - 1):
        common += np.int64(_popcount(~vp_[wd]))
    return m + n - 2 * common


@njit(cache=True, nogil=True)
def _hash_slot(keys, used, key):
    """Slot of ``key`` in an open-addressing table (linear probing; the table is never full)."""
    cap = keys.shape[0]
    h = (np.uint64(key) * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(32)
    s = np.int64(h & np.uint64(cap - 1))
    while used[s] and keys[s] != key:
        s = (s + 1) & (cap - 1)
    return s


@njit(cache=True, nogil=True)
def _unit_pair(pa, sa, m, pb, sb, n, pm, lo, vp_, vn_, buf1, buf2, lcs):
    """Unit distance of a[sa:sa+m] (pattern, m >= 1) and b[sb:sb+n] with masks in pm rows
    ``code - lo`` (already built by the caller)."""
    if m <= 64:
        return _hyyro_word(pm, pb, sb, n, lo, m, lcs)
    none = np.empty(0, np.int64)
    return _hyyro_block(True, pm, none, none, buf1, pa, sa, pb, sb, n, lo, m, vp_, vn_, buf1, buf2, lcs)


@njit(cache=True, nogil=True, inline="always")
def _step1(x, vp, vn, lcs):
    """One column of the single-word algorithm: (vp, vn); with ``lcs`` the LCS step on S = vp."""
    if lcs:
        u = vp & x
        return (vp + u) | (vp & ~u), vn
    d0 = (((x & vp) + vp) ^ vp) | x | vn
    hp = vn | ~(d0 | vp)
    hn = d0 & vp
    hp = (hp << _U1) | _U1
    hn = hn << _U1
    return hn | ~(d0 | hp), hp & d0


@njit(cache=True, nogil=True)
def _group4(pm4, a_codes, b_codes, g_sa, g_m, g_sb, g_n, g_swap, g_pair, lo, out, lcs):
    """Four single-word pairs interleaved (four independent dependency chains).  Indices are
    cast to unsigned so Numba emits no negative-index wraparound (fewer registers, no spills)."""
    for g in range(4):
        pa = b_codes if g_swap[g] else a_codes
        sa = g_sa[g]
        for i in range(g_m[g]):
            pm4[g, pa[sa + i] - lo] |= _U1 << np.uint64(i)
    t0 = a_codes if g_swap[0] else b_codes
    t1 = a_codes if g_swap[1] else b_codes
    t2 = a_codes if g_swap[2] else b_codes
    t3 = a_codes if g_swap[3] else b_codes
    s0 = g_sb[0]
    s1 = g_sb[1]
    s2 = g_sb[2]
    s3 = g_sb[3]
    p0 = pm4[0]
    p1 = pm4[1]
    p2 = pm4[2]
    p3 = pm4[3]
    nmin = min(min(g_n[0], g_n[1]), min(g_n[2], g_n[3]))
    vp0 = vp1 = vp2 = vp3 = _ALL
    vn0 = vn1 = vn2 = vn3 = _U0
    for j in range(nmin):
        vp0, vn0 = _step1(p0[np.uint64(t0[np.uint64(s0 + j)] - lo)], vp0, vn0, lcs)
        vp1, vn1 = _step1(p1[np.uint64(t1[np.uint64(s1 + j)] - lo)], vp1, vn1, lcs)
        vp2, vn2 = _step1(p2[np.uint64(t2[np.uint64(s2 + j)] - lo)], vp2, vn2, lcs)
        vp3, vn3 = _step1(p3[np.uint64(t3[np.uint64(s3 + j)] - lo)], vp3, vn3, lcs)
    for j in range(nmin, g_n[0]):
        vp0, vn0 = _step1(p0[np.uint64(t0[np.uint64(s0 + j)] - lo)], vp0, vn0, lcs)
    for j in range(nmin, g_n[1]):
        vp1, vn1 = _step1(p1[np.uint64(t1[np.uint64(s1 + j)] - lo)], vp1, vn1, lcs)
    for j in range(nmin, g_n[2]):
        vp2, vn2 = _step1(p2[np.uint64(t2[np.uint64(s2 + j)] - lo)], vp2, vn2, lcs)
    for j in range(nmin, g_n[3]):
        vp3, vn3 = _step1(p3[np.uint64(t3[np.uint64(s3 + j)] - lo)], vp3, vn3, lcs)
    for g in range(4):
        if g == 0:
            vp, vn = vp0, vn0
        elif g == 1:
            vp, vn = vp1, vn1
        elif g == 2:
            vp, vn = vp2, vn2
        else:
            vp, vn = vp3, vn3
        out[g_pair[g]] = _result1(vp, vn, g_m[g], g_n[g], lcs)
        pa = b_codes if g_swap[g] else a_codes
        sa = g_sa[g]
        for i in range(g_m[g]):
            pm4[g, pa[sa + i] - lo] = _U0


@njit(cache=True, nogil=True)
def _group4_bytes(pat, a_codes, b_codes, g_sa, g_m, g_sb, g_n, g_swap, g_pair, lo, out, lcs):
    """As :func:`_group4` when the codes span fewer than 255 values: each pattern is 64 bytes
    ``code - lo`` (padded with 255) and a text symbol's match mask is one vector compare, so
    no mask table is built or cleared."""
    for g in range(4):
        pa = b_codes if g_swap[g] else a_codes
        sa = g_sa[g]
        base = 64 * g
        for i in range(64):
            pat[base + i] = 255
        for i in range(g_m[g]):
            pat[base + i] = np.uint8(pa[sa + i] - lo)
    t0 = a_codes if g_swap[0] else b_codes
    t1 = a_codes if g_swap[1] else b_codes
    t2 = a_codes if g_swap[2] else b_codes
    t3 = a_codes if g_swap[3] else b_codes
    s0 = g_sb[0]
    s1 = g_sb[1]
    s2 = g_sb[2]
    s3 = g_sb[3]
    nmin = min(min(g_n[0], g_n[1]), min(g_n[2], g_n[3]))
    vp0 = vp1 = vp2 = vp3 = _ALL
    vn0 = vn1 = vn2 = vn3 = _U0
    for j in range(nmin):
        vp0, vn0 = _step1(_eqmask64(pat, 0, t0[np.uint64(s0 + j)] - lo), vp0, vn0, lcs)
        vp1, vn1 = _step1(_eqmask64(pat, 64, t1[np.uint64(s1 + j)] - lo), vp1, vn1, lcs)
        vp2, vn2 = _step1(_eqmask64(pat, 128, t2[np.uint64(s2 + j)] - lo), vp2, vn2, lcs)
        vp3, vn3 = _step1(_eqmask64(pat, 192, t3[np.uint64(s3 + j)] - lo), vp3, vn3, lcs)
    for j in range(nmin, g_n[0]):
        vp0, vn0 = _step1(_eqmask64(pat, 0, t0[np.uint64(s0 + j)] - lo), vp0, vn0, lcs)
    for j in range(nmin, g_n[1]):
        vp1, vn1 = _step1(_eqmask64(pat, 64, t1[np.uint64(s1 + j)] - lo), vp1, vn1, lcs)
    for j in range(nmin, g_n[2]):
        vp2, vn2 = _step1(_eqmask64(pat, 128, t2[np.uint64(s2 + j)] - lo), vp2, vn2, lcs)
    for j in range(nmin, g_n[3]):
        vp3, vn3 = _step1(_eqmask64(pat, 192, t3[np.uint64(s3 + j)] - lo), vp3, vn3, lcs)
    for g in range(4):
        if g == 0:
            vp, vn = vp0, vn0
        elif g == 1:
            vp, vn = vp1, vn1
        elif g == 2:
            vp, vn = vp2, vn2
        else:
            vp, vn = vp3, vn3
        out[g_pair[g]] = _result1(vp, vn, g_m[g], g_n[g], lcs)


@njit(cache=True, nogil=True)
def _cpdist_chunk(a_codes, a_off, b_codes, b_off, out, p0, p1, lcs):
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
        while m > 0 and n > 0 and a_codes[sa] == b_codes[sb]:
            sa += 1
            sb += 1
            m -= 1
            n -= 1
        while m > 0 and n > 0 and a_codes[sa + m - 1] == b_codes[sb + n - 1]:
            m -= 1
            n -= 1
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
                if use_bytes:
                    _group4_bytes(pat, a_codes, b_codes, g_sa, g_m, g_sb, g_n, g_swap, g_pair, lo, out, lcs)
                else:
                    _group4(pm4, a_codes, b_codes, g_sa, g_m, g_sb, g_n, g_swap, g_pair, lo, out, lcs)
                ng = 0
            continue
        pa, pb = a_codes, b_codes
        if swap:
            pa, pb = b_codes, a_codes
        if direct:
            for i in range(m):
                pm[pa[sa + i] - lo, i >> 6] |= _U1 << np.uint64(i & 63)
            out[p] = _unit_pair(pa, sa, m, pb, sb, n, pm, lo, vp_, vn_, buf1, buf2, lcs)
            for i in range(m):
                pm[pa[sa + i] - lo, i >> 6] = _U0
        else:
            nloc = 0
            for i in range(m):
                key = pa[sa + i]
                s = _hash_slot(keys, used, key)
                if not used[s]:
                    used[s] = True
                    keys[s] = key
                    vals[s] = nloc
                    slots[nloc] = s
                    nloc += 1
                pid[i] = vals[s]
            for j in range(n):
                s = _hash_slot(keys, used, pb[sb + j])
                tid[j] = vals[s] if used[s] else nloc  # text-only symbols: row nloc (all zero)
            nwp = (m + 63) >> 6
            if m <= 64 or (nloc + 1) * nwp <= max(_DENSE_PM_WORDS, _DENSE_PM_PER_SYMBOL * (m + n)):
                need = (nloc + 1) * nwp  # one row per distinct symbol (+ the text-only row)
                if pmflat.shape[0] < need:
                    pmflat = np.zeros(max(need, min(2 * pmflat.shape[0], _DENSE_PM_WORDS)), np.uint64)
                pmp = pmflat[:need].reshape((nloc + 1, nwp))
                for i in range(m):
                    pmp[pid[i], i >> 6] |= _U1 << np.uint64(i & 63)
                out[p] = _unit_pair(pid, 0, m, tid, 0, n, pmp, 0, vp_, vn_, buf1, buf2, lcs)
                for i in range(m):
                    pmp[pid[i], i >> 6] = _U0
            else:  # many distinct symbols: sparse masks, O(m) whatever the alphabet
                ptr, ewd, emask, _ = _sparse_masks(pid, 0, m, False, nloc)
                out[p] = _hyyro_block(False, pm, ptr, ewd, emask, pid, 0, tid, 0, n, 0, m, vp_, vn_, buf1, buf2, lcs)
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
        if use_bytes:
            _group4_bytes(pat, a_codes, b_codes, g_sa, g_m, g_sb, g_n, g_swap, g_pair, lo, out, lcs)
        else:
            _group4(pm4, a_codes, b_codes, g_sa, g_m, g_sb, g_n, g_swap, g_pair, lo, out, lcs)


@njit(cache=True, nogil=True, parallel=True)
def _cpdist_unit(a_codes, a_off, b_codes, b_off, out, nchunk, lcs):
    npairs = a_off.shape[0] - 1
    for ch in prange(nchunk):
        _cpdist_chunk(a_codes, a_off, b_codes, b_off, out, npairs * ch // nchunk, npairs * (ch + 1) // nchunk, lcs)


_NATIVE_CODE_DTYPES = (np.dtype(np.uint8), np.dtype(np.uint32), np.dtype(np.int64))


def _packed(codes, offsets, name: str):
    """C-contiguous (codes, offsets); offsets must be non-decreasing within the codes, so that no
    kernel can read out of bounds whatever the caller passed.  Narrow code arrays (uint8 ASCII,
    uint32 Unicode) are kept as they are: widening them costs a fresh allocation per call that
    is slower than the kernels themselves; the kernels compile one specialisation per dtype."""
    codes = np.asarray(codes).reshape(-1)
    if codes.dtype not in _NATIVE_CODE_DTYPES or not codes.flags.c_contiguous:
        codes = np.ascontiguousarray(codes, dtype=np.int64)
    offsets = np.ascontiguousarray(offsets, dtype=np.int64).reshape(-1)
    if offsets.shape[0] == 0:
        raise ValueError(f"{name} offsets must hold n + 1 >= 1 entries")
    if offsets[0] < 0 or offsets[-1] > codes.shape[0] or np.any(offsets[1:] < offsets[:-1]):
        raise ValueError(f"{name} offsets must be non-decreasing positions within its codes")
    return codes, offsets


def _same_dtype(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both code arrays in one dtype (the kernels pick either side as the pattern)."""
    if a.dtype == b.dtype:
        return a, b
    common = np.promote_types(a.dtype, b.dtype)
    return a.astype(common), b.astype(common)


def cpdist(a_codes, a_offsets, b_codes, b_offsets, weights) -> np.ndarray:
    a_codes, a_off = _packed(a_codes, a_offsets, "a")
    b_codes, b_off = _packed(b_codes, b_offsets, "b")
    a_codes, b_codes = _same_dtype(a_codes, b_codes)
    if a_off.shape[0] != b_off.shape[0]:
        raise ValueError("a and b must hold the same number of strings")
    npairs = a_off.shape[0] - 1
    out = np.zeros(npairs, np.int64)
    if npairs <= 0:
        return out
    ins, dele, sub = (int(x) for x in weights)
    nchunk = max(1, min(npairs, 8 * get_num_threads(), (a_codes.shape[0] + b_codes.shape[0]) // 4096))
    if ins == dele and sub >= ins:  # Levenshtein (sub == ins) or Indel (sub >= 2 ins) times ins
        if ins == 0:
            return out
        if sub == ins or sub >= 2 * ins:
            lcs = sub != ins
            if nchunk == 1:  # no thread launch for a single pair / tiny inputs
                _cpdist_chunk(a_codes, a_off, b_codes, b_off, out, 0, npairs, lcs)
            else:
                with parallel_region():
                    _cpdist_unit(a_codes, a_off, b_codes, b_off, out, nchunk, lcs)
            if ins != 1:
                out *= ins
            return out
    with parallel_region():
        _cpdist_weighted(a_codes, a_off, b_codes, b_off, np.int64(ins), np.int64(dele), np.int64(sub), out, nchunk)
    return out


def cdist(q_codes, q_offsets, c_codes, c_offsets, weights) -> np.ndarray:
    q_codes, q_off = _packed(q_codes, q_offsets, "q")
    c_codes, c_off = _packed(c_codes, c_offsets, "c")
    q_codes, c_codes = _same_dtype(q_codes, c_codes)
    nq = q_off.shape[0] - 1
    nc = c_off.shape[0] - 1
    ins, dele, sub = (int(x) for x in weights)
    if nq == 0 or nc == 0 or (ins == dele == 0):
        return np.zeros((nq, nc), np.int64)
    out = np.empty((nq, nc), np.int64)
    if ins == dele and (sub == ins or sub >= 2 * ins):  # Levenshtein / Indel, times ins
        _cdist_unit(q_codes, q_off, c_codes, c_off, ins, out, sub != ins)
        return out
    nchunk = max(1, min(nq, 8 * get_num_threads()))
    with parallel_region():
        _cdist_weighted(q_codes, q_off, c_codes, c_off, np.int64(ins), np.int64(dele), np.int64(sub), out, nchunk)
    return out


# --------------------------------------------------------------------------------------------
# editops
# --------------------------------------------------------------------------------------------
@njit(cache=True, nogil=True)
def _colval(vps, vns, j, i):
    """D[i][j] = j + sum of the vertical deltas of column j below row i."""
    d = j
    full = i >> 6
    for wd in range(full):
        d += np.int64(_popcount(vps[j, wd])) - np.int64(_popcount(vns[j, wd]))
    r = i & 63
    if r:
        mask = (_U1 << np.uint64(r)) - _U1
        d += np.int64(_popcount(vps[j, full] & mask)) - np.int64(_popcount(vns[j, full] & mask))
    return d


@njit(cache=True, nogil=True)
def _masks(a, i0, m, rev, n_sym, n_text):
    """Match masks of the pattern ``a[i0:i0+m]`` (reversed with ``rev``) over symbol ids
    0..n_sym (n_sym: text-only symbols): (dense, pm, ptr, ewd, emask).  A dense table of
    ``(n_sym + 1) x ceil(m / 64)`` words while it is small (see ``_DENSE_PM_WORDS``), else
    sparse entries (:func:`_sparse_masks`), so memory is O(m) whatever the alphabet."""
    nw = (m + 63) >> 6
    if (n_sym + 1) * nw <= max(_DENSE_PM_WORDS, _DENSE_PM_PER_SYMBOL * (m + n_text)):
        pm = np.zeros((n_sym + 1, nw), np.uint64)
        for i in range(m):
            s = a[i0 + m - 1 - i] if rev else a[i0 + i]
            pm[s, i >> 6] |= _U1 << np.uint64(i & 63)
        none = np.empty(0, np.int64)
        return True, pm, none, none, np.empty(0, np.uint64)
    ptr, ewd, emask, _ = _sparse_masks(a, i0, m, rev, n_sym)
    return False, np.zeros((1, 1), np.uint64), ptr, ewd, emask


@njit(cache=True, nogil=True)
def _column_pass(a, i0, m, rev, b, j0, n, n_sym, dlo, dhi, vp_, vn_, fbt):
    """Last column of ``a[i0:i0+m]`` (pattern) against ``b[j0:j0+n]`` (both reversed with
    ``rev``) in the band (dlo, dhi): vectors in ``vp_`` / ``vn_``, (first word, last word, value
    of the row above the first word) in ``fbt`` (see :func:`_band_pass`)."""
    nw = (m + 63) >> 6
    dense, pm, ptr, ewd, emask = _masks(a, i0, m, rev, n_sym, n)
    buf1 = np.zeros(nw if not dense else 0, np.uint64)
    buf2 = np.zeros(nw if not dense else 0, np.uint64)
    for wd in range(nw):
        vp_[wd] = _ALL
        vn_[wd] = _U0
    fbt[0], fbt[1], fbt[2] = _band_pass(dense, pm, ptr, ewd, emask, b, j0, n, rev, 0, m, dlo, dhi, vp_, vn_, buf1,
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
    dlo, dhi = _band_of(m, n, d)
    _column_pass(a, i0, m, False, b, j0, jmid - j0, n_sym, dlo, dhi, vps[0], vns[0], fbt[0])  # forward
    _column_pass(a, i0, m, True, b, jmid, j1 - jmid, n_sym, dlo, dhi, vps[1], vns[1], fbt[1])  # backward
    # backward column: R[k] = D(a[i1-k:i1], b[jmid:j1]) for k in [kb, ke]
    kb = 64 * fbt[1, 0]
    ke = min(m, 64 * fbt[1, 1] + 64)
    right = np.empty(ke - kb + 1, np.int64)
    right[0] = fbt[1, 2]
    for k in range(kb, ke):
        right[k - kb + 1] = right[k - kb] + np.int64((vps[1, k >> 6] >> np.uint64(k & 63)) & _U1) - np.int64(
            (vns[1, k >> 6] >> np.uint64(k & 63)) & _U1)
    # forward column: F[i] = D(a[i0:i0+i], b[j0:jmid]) for i in [ib, ie]
    ib = 64 * fbt[0, 0]
    ie = min(m, 64 * fbt[0, 1] + 64)
    f = fbt[0, 2]
    best = np.int64(0x7FFFFFFFFFFFFFFF)
    bi = -1
    bf = 0
    for i in range(ib, ie + 1):
        if i > ib:
            f += np.int64((vps[0, (i - 1) >> 6] >> np.uint64((i - 1) & 63)) & _U1) - np.int64(
                (vns[0, (i - 1) >> 6] >> np.uint64((i - 1) & 63)) & _U1)
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
    dense, pm, ptr, ewd, emask = _masks(a, i0, m, False, n_sym, n)
    buf = np.zeros(nw if not dense else 0, np.uint64)
    buf2 = np.zeros(nw if not dense else 0, np.uint64)
    if store.shape[0] < 2 * (n + 1) * nw:
        store = np.empty(2 * (n + 1) * nw, np.uint64)
    vps = store[:(n + 1) * nw].reshape((n + 1, nw))
    vns = store[(n + 1) * nw:2 * (n + 1) * nw].reshape((n + 1, nw))
    for wd in range(nw):
        vps[0, wd] = _ALL
        vns[0, wd] = _U0
    j = 1
    while j + 1 <= n:  # columns j and j + 1 as a wavefront (see _band_pass)
        y1 = b[j0 + j - 1]
        y2 = b[j0 + j]
        r1 = _row(dense, pm, ptr, ewd, emask, y1, buf)
        r2 = _row(dense, pm, ptr, ewd, emask, y2, buf2)
        vps[j, 0], vns[j, 0], hpc1, hnc1 = _step(r1[0], _U1, _U0, vps[j - 1, 0], vns[j - 1, 0], False)
        hpc2 = _U1
        hnc2 = _U0
        for wd in range(1, nw):
            vps[j, wd], vns[j, wd], hpc1, hnc1 = _step(r1[wd], hpc1, hnc1, vps[j - 1, wd], vns[j - 1, wd], False)
            vps[j + 1, wd - 1], vns[j + 1, wd - 1], hpc2, hnc2 = _step(r2[wd - 1], hpc2, hnc2, vps[j, wd - 1],
                                                                       vns[j, wd - 1], False)
        vps[j + 1, nw - 1], vns[j + 1, nw - 1], hpc2, hnc2 = _step(r2[nw - 1], hpc2, hnc2, vps[j, nw - 1],
                                                                   vns[j, nw - 1], False)
        _unrow(dense, ptr, ewd, y1, buf)
        _unrow(dense, ptr, ewd, y2, buf2)
        j += 2
    if j <= n:
        sym = b[j0 + j - 1]
        row = _row(dense, pm, ptr, ewd, emask, sym, buf)
        hpc = _U1
        hnc = _U0
        for wd in range(nw):
            vps[j, wd], vns[j, wd], hpc, hnc = _step(row[wd], hpc, hnc, vps[j - 1, wd], vns[j - 1, wd], False)
        _unrow(dense, ptr, ewd, sym, buf)
    dist = _colval(vps, vns, n, m)
    ops = np.empty((dist, 3), np.int64)
    k = dist
    i = m
    j = n
    while i > 0 and j > 0:
        wd = (i - 1) >> 6
        bit = np.uint64((i - 1) & 63)
        if (vps[j, wd] >> bit) & _U1:  # D[i][j] = D[i-1][j] + 1
            i -= 1
            kind = DELETE
        elif (vns[j - 1, wd] >> bit) & _U1:  # D[i][j-1] = D[i-1][j-1] - 1 = D[i][j] - 1
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
    while i > 0:
        i -= 1
        k -= 1
        ops[k, 0] = DELETE
        ops[k, 1] = i0 + i
        ops[k, 2] = j0 + j
    while j > 0:
        j -= 1
        k -= 1
        ops[k, 0] = INSERT
        ops[k, 1] = i0 + i
        ops[k, 2] = j0 + j
    return ops


@njit(cache=True, nogil=True)
def _strip(a, i0, i1, b, j0, j1):
    """Bounds without the common prefix and suffix (they need no edit operation)."""
    while i0 < i1 and j0 < j1 and a[i0] == b[j0]:
        i0 += 1
        j0 += 1
    while i0 < i1 and j0 < j1 and a[i1 - 1] == b[j1 - 1]:
        i1 -= 1
        j1 -= 1
    return i0, i1, j0, j1


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
    d = _upper_bound(a, i0, m, b, j0, n)
    probe = 2 * abs(m - n) + max(_PROBE_MIN, (m + n) // 64)
    if probe < d and probe < (m + n) // 32:  # similar strings: the distance in a narrow band first
        dense, pm, ptr, ewd, emask = _masks(a, i0, m, False, n_sym, n)
        nw = (m + 63) >> 6
        buf1 = np.zeros(nw if not dense else 0, np.uint64)
        buf2 = np.zeros(nw if not dense else 0, np.uint64)
        dp = _band_distance(dense, pm, ptr, ewd, emask, b, j0, n, 0, m, probe, np.empty(nw, np.uint64),
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


def editops(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = np.ascontiguousarray(a, dtype=np.int64)
    b = np.ascontiguousarray(b, dtype=np.int64)
    a_ids, b_ids, n_sym = _dense(a, b)
    return _editops_kernel(a_ids, b_ids, np.int64(n_sym), np.int64(_EDITOPS_LEAF_WORDS))
