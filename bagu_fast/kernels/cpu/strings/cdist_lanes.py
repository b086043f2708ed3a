"""cdist, unit weights: many patterns at once, one lane each.

The trick behind RapidFuzz's cdist: one side (the one that needs fewer vector operations,
usually the queries) is sorted by length and cut into blocks of ``B`` patterns; a block keeps
its masks as ``pm[symbol, lane]`` (built once per task, never per pair) and every text symbol
updates all ``B`` lanes of ``VP`` / ``VN`` with a plain ``for k in range(B)`` loop over
:func:`.bitparallel.step_word` that LLVM turns into AVX-512 / AVX2 code.  The lane type is the
narrowest that holds the block's longest pattern (uint8 <= 8, uint16 <= 16, uint32 <= 32,
uint64 <= 64); longer patterns use uint64 lanes with ``W`` words and per-lane carries
(:func:`.bitparallel.step_block`).  Symbols are first mapped to the dense alphabet of the
pattern side (:mod:`.alphabet`).  Work is split into (block, chunk of texts) tasks run with
``prange``; block sizes, chunking and side choice depend on the shapes only (and the thread
count, which changes only how work is split), so results never depend on the number of threads.
"""
from __future__ import annotations

import numpy as np
from numba import get_num_threads, njit, prange

from .._parallel import parallel_region
from .alphabet import dense_ids
from .bitparallel import ALL, U0, U1, as_lane, low_mask, popcount, step_block, step_word, word_distance

# lanes per block for each lane type (tuned on AVX-512; multiples of a 64-byte vector)
_LANES = {np.dtype(np.uint8): 256, np.dtype(np.uint16): 128, np.dtype(np.uint32): 64, np.dtype(np.uint64): 64}
_LANES_MULTI = 32  # lanes per block for patterns longer than 64 (uint64, W words each)
_STAGE = 32  # texts whose lane results are staged before they are scattered to the output
_LOCAL_ALPHA = 1024  # larger pattern alphabets get block-local symbol ids per task
_CLASS_DTYPES = (np.dtype(np.uint8), np.dtype(np.uint16), np.dtype(np.uint32), np.dtype(np.uint64))


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


@njit(cache=True, nogil=True, inline="always")
def _scatter(res, order, k0, nk, jb, je, w, out):
    """``out[pattern, text] = w * distance`` for the staged results of texts ``jb..je-1``."""
    for k in range(nk):
        q = order[k0 + k]
        for j in range(jb, je):
            out[q, j] = res[j - jb, k] * w


@njit(cache=True, nogil=True)
def _lane_task(p_ids, p_off, order, k0, nk, lanes, t_ids, t_off, j0, j1, n_sym, w, out, marker, lcs):
    """One block of ``nk`` patterns of at most one lane word each (the lane type of ``marker``)
    against texts ``j0..j1-1``: ``out[p, t] = w * distance`` (``out`` may be a transposed view).
    ``lcs``: Indel distance m + n - 2 LCS (bit-parallel LCS; ``vp_`` holds S)."""
    z = marker[0]
    ones = as_lane(~U0, z)
    zero = as_lane(0, z)
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
            pm[bmap[sym] if local else sym, k] |= as_lane(U1 << np.uint64(i), z)
        mask[k] = as_lane(low_mask(m), z)
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
            # the branch on lcs stays outside the loops over the lanes, so each loop vectorises
            if lcs:
                for p in range(s, e):
                    row = pm[tsrc[p - tbase]]
                    for k in range(lanes):  # vectorised across the block's patterns
                        vp_[k] = step_word(row[k], vp_[k], zero, True)[0]
            else:
                for p in range(s, e):
                    row = pm[tsrc[p - tbase]]
                    for k in range(lanes):  # vectorised across the block's patterns
                        vp_[k], vn_[k] = step_word(row[k], vp_[k], vn_[k], False)
            n = e - s
            r = res[j - jb]
            if lcs:
                for k in range(lanes):
                    r[k] = word_distance(vp_[k], zero, mask[k], n, True)
            else:
                for k in range(lanes):
                    r[k] = word_distance(vp_[k], vn_[k], mask[k], n, False)
        _scatter(res, order, k0, nk, jb, je, w, out)


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
            pm[bmap[sym] if local else sym, i >> 6, k] |= U1 << np.uint64(i & 63)
        for wd in range(nw):
            mask[wd, k] = low_mask(min(max(m - 64 * wd, 0), 64))
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
                    vp_[wd, k] = ALL
                    vn_[wd, k] = U0
            for p in range(s, e):
                row = pm[tsrc[p - tbase]]
                for k in range(lanes):
                    hpc_[k] = U0 if lcs else U1
                    hnc_[k] = U0
                if lcs:
                    for wd in range(nw):
                        roww = row[wd]
                        vpw = vp_[wd]
                        for k in range(lanes):  # vectorised across the block's patterns
                            vpw[k], _, hpc_[k], _ = step_block(roww[k], hpc_[k], U0, vpw[k], U0, True)
                    continue
                for wd in range(nw):
                    roww = row[wd]
                    vpw = vp_[wd]
                    vnw = vn_[wd]
                    for k in range(lanes):  # vectorised across the block's patterns
                        vpw[k], vnw[k], hpc_[k], hnc_[k] = step_block(roww[k], hpc_[k], hnc_[k], vpw[k], vnw[k],
                                                                      False)
            n = e - s
            r = res[j - jb]
            for k in range(lanes):
                r[k] = n
            if lcs:
                for wd in range(nw):
                    for k in range(lanes):
                        r[k] += np.int64(popcount(mask[wd, k])) - 2 * np.int64(popcount(~vp_[wd, k] & mask[wd, k]))
            else:
                for wd in range(nw):
                    for k in range(lanes):
                        r[k] += np.int64(popcount(vp_[wd, k] & mask[wd, k])) - np.int64(
                            popcount(vn_[wd, k] & mask[wd, k]))
        _scatter(res, order, k0, nk, jb, je, w, out)


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


def cdist_unit(q_codes, q_off, c_codes, c_off, w: int, out: np.ndarray, lcs: bool) -> None:
    q_len = np.diff(q_off)
    c_len = np.diff(c_off)
    plan_q = _plan(q_len)
    plan_c = _plan(c_len)
    # the side whose blocks need fewer vector operations becomes the patterns
    if _plan_cost(plan_q, int(c_len.sum()), c_len.shape[0]) <= _plan_cost(plan_c, int(q_len.sum()), q_len.shape[0]):
        p_codes, p_off, t_codes, t_off, plan, target = q_codes, q_off, c_codes, c_off, plan_q, out
    else:
        p_codes, p_off, t_codes, t_off, plan, target = c_codes, c_off, q_codes, q_off, plan_c, out.T
    p_ids, t_ids, n_sym = dense_ids(p_codes, t_codes)
    order, cls, lo, hi, lanes, words = plan
    chunks = _chunks(t_off, lo.shape[0], n_sym)
    with parallel_region():
        _cdist_lanes(p_ids, p_off, order, cls, lo, hi, lanes, words, t_ids, t_off, chunks, np.int64(n_sym),
                     np.int64(w), target, lcs)
