"""Numba CUDA kernels for the edit-distance family.

Raw signatures shared with :mod:`bagu_fast.kernels.reference.strings` (inputs already validated):
``cdist(q_codes, q_offsets, c_codes, c_offsets, weights) -> int64 [nq, nc]`` and
``cpdist(a_codes, a_offsets, b_codes, b_offsets, weights) -> int64 [n]``; NumPy in, NumPy out.
(``editops`` is CPU / reference only.)

Design
------
One thread per (pattern, text) pair, grid-stride loop over the pairs.

* **Equal weights** ``w``: the distance is ``w`` times the unit Levenshtein distance, computed
  with the bit-parallel algorithm of Myers / Hyyrö.  The host maps the pattern symbols to a dense
  alphabet (``np.unique``) and the text symbols to the same ids (a symbol absent from the pattern
  gets an id whose mask is zero); a small kernel then builds the pattern masks
  ``pm[pattern, word, symbol]`` (uint64, ragged: pattern ``p`` owns ``words_p * stride_p`` words
  from ``pm_off[p]``).  Patterns of at most 64 symbols use the single-word kernel (all state in
  registers); longer ones use Hyyrö's block version with carries between words, whose per-word
  ``VP`` / ``VN`` vectors live in a global scratch buffer ``[2 * max_words, n_threads]``
  (interleaved per thread, so a warp's accesses coalesce) sized for the threads actually launched.

  - ``cdist``: the queries are the patterns; one alphabet per chunk of queries (the union of
    their symbols), so the masks of a chunk are ``[query, word, alphabet + 1]``.
  - ``cpdist``: the masks are per pair, and since unit Levenshtein is symmetric the shorter string
    of each pair is the pattern; each pair gets its own local alphabet (its pattern's distinct
    symbols + 1 zero slot), so the masks stay ``O(words * len)`` per pair.

  Patterns are processed in chunks whose masks fit in :data:`PM_BUDGET_BYTES`.

* **Other weights**: Wagner–Fischer, one DP row per thread in a global scratch buffer
  ``[row_len, n_threads]`` (interleaved).  The row runs along the shorter string of the pair
  (swapping the strings swaps the insert / delete costs).

The scratch-using kernels launch at most enough threads for the scratch to fit in
:data:`SCRATCH_BUDGET_BYTES` (and at most :data:`MAX_THREADS`); the grid-stride loop covers the
rest.  Nothing is launched for an empty grid.
"""
from __future__ import annotations

import contextlib
import warnings

import numpy as np
from numba import config, cuda, uint64

__all__ = ["cdist", "cpdist"]

THREADS_PER_BLOCK = 128
MAX_THREADS = 1 << 18  # threads of one launch (grid-stride beyond)
SCRATCH_BUDGET_BYTES = 256 << 20  # global scratch of the block / Wagner–Fischer kernels
PM_BUDGET_BYTES = 256 << 20  # pattern masks of one chunk of patterns
WORD = 64


# ----------------------------------------------------------------------------------------------
# kernels
# ----------------------------------------------------------------------------------------------
@cuda.jit
def _zero_u64(arr):
    """arr[:] = 0 (grid-stride)."""
    start = cuda.grid(1)
    stride = cuda.gridsize(1)
    for i in range(start, arr.size, stride):
        arr[i] = uint64(0)


@cuda.jit
def _build_pm(p_ids, p_off, p_base, pm_off, pm_stride, pm):
    """One thread per pattern ``p_base + i``: set bit ``pos % 64`` of word ``pos // 64`` of the
    mask of symbol ``p_ids[pos]`` (ids are relative to the pattern's own alphabet / stride)."""
    n = pm_off.size - 1
    start = cuda.grid(1)
    stride = cuda.gridsize(1)
    one = uint64(1)
    for i in range(start, n, stride):
        p = p_base + i
        s0 = p_off[p]
        s1 = p_off[p + 1]
        base = pm_off[i]
        st = pm_stride[i]
        for pos in range(s1 - s0):
            idx = base + (pos // WORD) * st + p_ids[s0 + pos]
            pm[idx] = pm[idx] | (one << uint64(pos % WORD))


@cuda.jit(device=True)
def _pair_slots(k, plist, n_cols, paired):
    """(pattern, text, output index) of pair ``k``: pattern ``p = plist[k // n_cols]``; text
    ``t = p`` when ``paired`` (output ``out[p]``), else ``t = k % n_cols`` (output
    ``out[p * n_cols + t]``)."""
    pi = k // n_cols
    p = plist[pi]
    if paired != 0:
        return p, p, p
    col = k - pi * n_cols
    return p, col, p * n_cols + col


@cuda.jit
def _lev_word(pm, pm_off, p_base, p_len, t_ids, t_off, plist, n_cols, paired, w, out):
    """Unit Levenshtein, patterns of 0..64 symbols, one pair per thread (Hyyrö's single word);
    pairs numbered as :func:`_pair_slots` says."""
    n_pairs = plist.size * n_cols
    start = cuda.grid(1)
    stride = cuda.gridsize(1)
    zero = uint64(0)
    one = uint64(1)
    for k in range(start, n_pairs, stride):
        p, t, o = _pair_slots(k, plist, n_cols, paired)
        m = p_len[p]
        t0 = t_off[t]
        t1 = t_off[t + 1]
        if m == 0:
            out[o] = (t1 - t0) * w
            continue
        base = pm_off[p - p_base]
        vp = ~zero
        vn = zero
        last = one << uint64(m - 1)
        score = m
        for idx in range(t0, t1):
            x = pm[base + t_ids[idx]] | vn
            d0 = (((x & vp) + vp) ^ vp) | x
            hp = vn | ~(d0 | vp)
            hn = vp & d0
            if hp & last:
                score += 1
            elif hn & last:
                score -= 1
            x = (hp << one) | one
            vn = x & d0
            vp = (hn << one) | ~(x | d0)
        out[o] = score * w


@cuda.jit
def _lev_block(pm, pm_off, pm_stride, p_base, p_len, t_ids, t_off, plist, n_cols, paired, w, out,
               scratch):
    """Unit Levenshtein, patterns of any length, Hyyrö's block version (carries between words).

    Pairs numbered as :func:`_pair_slots` says.  Thread ``tid`` keeps ``VP`` / ``VN`` of word ``j``
    in ``scratch[2 j, tid]`` / ``scratch[2 j + 1, tid]``."""
    n_pairs = plist.size * n_cols
    tid = cuda.grid(1)
    stride = cuda.gridsize(1)
    if tid >= scratch.shape[1]:
        return
    max_words = scratch.shape[0] // 2
    zero = uint64(0)
    one = uint64(1)
    top = uint64(WORD - 1)
    for k in range(tid, n_pairs, stride):
        p, t, o = _pair_slots(k, plist, n_cols, paired)
        m = p_len[p]
        t0 = t_off[t]
        t1 = t_off[t + 1]
        if m == 0:
            out[o] = (t1 - t0) * w
            continue
        words = (m + WORD - 1) // WORD
        if words > max_words:  # cannot happen with a consistent launcher; never write out of bounds
            out[o] = -1
            continue
        base = pm_off[p - p_base]
        st = pm_stride[p - p_base]
        for j in range(words):
            scratch[2 * j, tid] = ~zero
            scratch[2 * j + 1, tid] = zero
        last_word = words - 1
        last = one << uint64((m - 1) % WORD)
        score = m
        for idx in range(t0, t1):
            c = t_ids[idx]
            hp_carry = one
            hn_carry = zero
            for j in range(words):
                eq = pm[base + j * st + c]
                vp = scratch[2 * j, tid]
                vn = scratch[2 * j + 1, tid]
                x = eq | hn_carry
                d0 = (((x & vp) + vp) ^ vp) | x | vn
                hp = vn | ~(d0 | vp)
                hn = d0 & vp
                if j == last_word:
                    if hp & last:
                        score += 1
                    elif hn & last:
                        score -= 1
                hp_out = hp >> top
                hn_out = hn >> top
                hp = (hp << one) | hp_carry
                hn = (hn << one) | hn_carry
                hp_carry = hp_out
                hn_carry = hn_out
                scratch[2 * j, tid] = hn | ~(d0 | hp)
                scratch[2 * j + 1, tid] = hp & d0
        out[o] = score * w


@cuda.jit
def _wagner_fischer(a_codes, a_off, b_codes, b_off, plist, n_cols, paired, ins, dele, sub, out,
                    scratch):
    """Weighted edit distance, one pair per thread, one DP row in ``scratch[:, tid]``.

    Pairs numbered as :func:`_pair_slots` says (``a`` = pattern side, ``b`` = text side).  The row
    runs along the shorter string; swapping the strings swaps the insert and delete costs."""
    n_pairs = plist.size * n_cols
    tid = cuda.grid(1)
    stride = cuda.gridsize(1)
    if tid >= scratch.shape[1]:
        return
    row_cap = scratch.shape[0]
    for k in range(tid, n_pairs, stride):
        p, t, o = _pair_slots(k, plist, n_cols, paired)
        a0 = a_off[p]
        la = a_off[p + 1] - a0
        b0 = b_off[t]
        lb = b_off[t + 1] - b0
        if lb <= la:  # rows over a (long, outer), columns over b (short, in scratch)
            swapped = False
            m = la
            n = lb
            ci = ins
            cd = dele
        else:
            swapped = True
            m = lb
            n = la
            ci = dele
            cd = ins
        if n + 1 > row_cap:  # cannot happen with a consistent launcher
            out[o] = -1
            continue
        for j in range(n + 1):
            scratch[j, tid] = j * ci
        for i in range(1, m + 1):
            if swapped:
                ch = b_codes[b0 + i - 1]
            else:
                ch = a_codes[a0 + i - 1]
            diag = scratch[0, tid]
            left = i * cd
            scratch[0, tid] = left
            for j in range(1, n + 1):
                if swapped:
                    other = a_codes[a0 + j - 1]
                else:
                    other = b_codes[b0 + j - 1]
                up = scratch[j, tid]
                v = diag
                if ch != other:
                    v += sub
                if up + cd < v:
                    v = up + cd
                if left + ci < v:
                    v = left + ci
                diag = up
                scratch[j, tid] = v
                left = v
        out[o] = scratch[n, tid]


_I64 = "int64[::1]"
_I32 = "int32[::1]"
_U64 = "uint64[::1]"
PTX_SIGNATURES = {
    "_zero_u64": [f"void({_U64})"],
    "_build_pm": [f"void({_I32}, {_I64}, int64, {_I64}, {_I64}, {_U64})"],
    "_lev_word": [
        f"void({_U64}, {_I64}, int64, {_I64}, {_I32}, {_I64}, {_I64}, int64, int64, int64, {_I64})"
    ],
    "_lev_block": [
        f"void({_U64}, {_I64}, {_I64}, int64, {_I64}, {_I32}, {_I64}, {_I64}, int64, int64, int64, "
        f"{_I64}, uint64[:, ::1])"
    ],
    "_wagner_fischer": [
        f"void({_I64}, {_I64}, {_I64}, {_I64}, {_I64}, int64, int64, int64, int64, int64, {_I64}, "
        "int64[:, ::1])"
    ],
}


# ----------------------------------------------------------------------------------------------
# launch helpers
# ----------------------------------------------------------------------------------------------
def _blocks_for(n_items: int, cap_threads: int = MAX_THREADS) -> int:
    threads = max(1, min(int(n_items), int(cap_threads)))
    return (threads + THREADS_PER_BLOCK - 1) // THREADS_PER_BLOCK


def _scratch_threads(n_pairs: int, bytes_per_thread: int) -> int:
    """Threads to launch for a scratch-using kernel: enough for the pairs, bounded by memory."""
    cap = max(THREADS_PER_BLOCK, SCRATCH_BUDGET_BYTES // max(1, bytes_per_thread))
    cap = min(cap, MAX_THREADS)
    return _blocks_for(n_pairs, cap) * THREADS_PER_BLOCK


def _i64(x) -> np.ndarray:
    return np.ascontiguousarray(x, dtype=np.int64)


def _chunks(sizes: np.ndarray, budget: int):
    """Split ``range(len(sizes))`` into contiguous ranges whose sizes sum to at most ``budget``
    (every range holds at least one item)."""
    n = len(sizes)
    start = 0
    csum = np.cumsum(sizes)
    while start < n:
        before = csum[start - 1] if start > 0 else 0
        stop = int(np.searchsorted(csum, before + budget, side="right"))
        stop = max(stop, start + 1)
        yield start, stop
        start = stop


@contextlib.contextmanager
def _quiet_sim():
    """The simulator runs the kernels on NumPy uint64 scalars, whose (intended) wrap-around in the
    bit-parallel addition warns; silence that there (the GPU wraps silently)."""
    if not config.ENABLE_CUDASIM:
        yield
        return
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="overflow encountered", category=RuntimeWarning)
        yield


def _mask_chunks(words: np.ndarray, lens: np.ndarray, n_alpha: int, budget: int):
    """Contiguous ranges of patterns sharing one alphabet whose masks fit ``budget`` bytes:
    ``8 * sum(words) * (min(sum(lens), n_alpha) + 1)`` (every range holds at least one pattern)."""
    n = len(words)
    cw = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(words, out=cw[1:])
    cl = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(lens, out=cl[1:])

    def cost(a, b):
        return 8 * int(cw[b] - cw[a]) * (min(int(cl[b] - cl[a]), n_alpha) + 1)

    start = 0
    while start < n:
        lo, hi = start + 1, n  # cost is monotone in the stop: largest stop that fits
        if cost(start, hi) <= budget:
            lo = hi
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if cost(start, mid) <= budget:
                lo = mid
            else:
                hi = mid - 1
        yield start, lo
        start = lo


def _launch_lev(pm_d, pm_off, pm_stride, p_base, p_len_d, t_ids_d, t_off_d, plist, n_cols, paired,
                w, out_d, p_len_host):
    """Launch the single-word kernel for the short patterns of ``plist`` and the block kernel for
    the long ones."""
    if len(plist) == 0 or n_cols == 0:
        return
    lens = p_len_host[plist]
    short = _i64(plist[lens <= WORD])
    long_ = _i64(plist[lens > WORD])
    pm_off_d = cuda.to_device(_i64(pm_off))
    with _quiet_sim():
        _launch_lev_kernels(pm_d, pm_off_d, pm_stride, p_base, p_len_d, t_ids_d, t_off_d, short,
                            long_, lens, n_cols, paired, w, out_d)


def _launch_lev_kernels(pm_d, pm_off_d, pm_stride, p_base, p_len_d, t_ids_d, t_off_d, short, long_,
                        lens, n_cols, paired, w, out_d):
    if len(short):
        n_pairs = len(short) * n_cols
        _lev_word[_blocks_for(n_pairs), THREADS_PER_BLOCK](
            pm_d, pm_off_d, p_base, p_len_d, t_ids_d, t_off_d, cuda.to_device(short), n_cols,
            paired, w, out_d)
    if len(long_):
        n_pairs = len(long_) * n_cols
        max_words = int((lens.max() + WORD - 1) // WORD)
        n_threads = _scratch_threads(n_pairs, 2 * max_words * 8)
        scratch = cuda.device_array((2 * max_words, n_threads), dtype=np.uint64)
        _lev_block[n_threads // THREADS_PER_BLOCK, THREADS_PER_BLOCK](
            pm_d, pm_off_d, cuda.to_device(_i64(pm_stride)), p_base, p_len_d, t_ids_d, t_off_d,
            cuda.to_device(long_), n_cols, paired, w, out_d, scratch)


def _build_masks(p_ids, p_off_d, p_base, words, strides):
    """Zeroed + filled ragged masks for patterns ``p_base .. p_base + len(words)``; returns the
    device masks and the host offsets (relative to the chunk)."""
    sizes = words.astype(np.int64) * strides.astype(np.int64)
    pm_off = np.zeros(len(sizes) + 1, dtype=np.int64)
    np.cumsum(sizes, out=pm_off[1:])
    total = max(1, int(pm_off[-1]))
    pm_d = cuda.device_array(total, dtype=np.uint64)
    _zero_u64[_blocks_for(total), THREADS_PER_BLOCK](pm_d)
    n = len(sizes)
    _build_pm[_blocks_for(n), THREADS_PER_BLOCK](
        cuda.to_device(np.ascontiguousarray(p_ids, dtype=np.int32)), p_off_d, p_base,
        cuda.to_device(pm_off), cuda.to_device(_i64(strides)), pm_d)
    return pm_d, pm_off


def _lookup(sorted_vals: np.ndarray, x: np.ndarray):
    """Positions of ``x`` in ``sorted_vals`` (``searchsorted``) and whether each is present."""
    pos = np.searchsorted(sorted_vals, x)
    if len(sorted_vals) == 0:
        return pos, np.zeros(len(x), dtype=bool)
    found = sorted_vals[np.minimum(pos, len(sorted_vals) - 1)] == x
    found &= pos < len(sorted_vals)
    return pos, found


def _launch_weighted(a_codes, a_off, b_codes, b_off, n_rows, n_cols, paired, shortest, weights, out_d):
    """Wagner–Fischer for ``n_rows`` patterns of side a against ``n_cols`` texts of side b (or
    pair by pair with ``paired``); ``shortest`` bounds the shorter string of every pair, whose
    row of ``shortest + 1`` entries each thread keeps in scratch."""
    ins, dele, sub = (int(x) for x in weights)
    row = shortest + 1
    n_threads = _scratch_threads(n_rows * n_cols, row * 8)
    scratch = cuda.device_array((row, n_threads), dtype=np.int64)
    _wagner_fischer[n_threads // THREADS_PER_BLOCK, THREADS_PER_BLOCK](
        cuda.to_device(a_codes if len(a_codes) else np.zeros(1, np.int64)), cuda.to_device(a_off),
        cuda.to_device(b_codes if len(b_codes) else np.zeros(1, np.int64)), cuda.to_device(b_off),
        cuda.to_device(np.arange(n_rows, dtype=np.int64)), n_cols, paired, ins, dele, sub, out_d, scratch)


def _unit_weight(weights: np.ndarray):
    ins, dele, sub = (int(x) for x in weights)
    return ins if ins == dele == sub else None


# ----------------------------------------------------------------------------------------------
# public raw kernels
# ----------------------------------------------------------------------------------------------
def cdist(q_codes, q_offsets, c_codes, c_offsets, weights) -> np.ndarray:
    q_codes, q_offsets = _i64(q_codes), _i64(q_offsets)
    c_codes, c_offsets = _i64(c_codes), _i64(c_offsets)
    weights = _i64(weights)
    nq, nc = len(q_offsets) - 1, len(c_offsets) - 1
    if nq <= 0 or nc <= 0:
        return np.zeros((max(nq, 0), max(nc, 0)), dtype=np.int64)
    out_d = cuda.device_array(nq * nc, dtype=np.int64)
    q_len = np.diff(q_offsets)
    c_len = np.diff(c_offsets)
    w = _unit_weight(weights)
    if w is None:
        _launch_weighted(q_codes, q_offsets, c_codes, c_offsets, nq, nc, 0, int(min(q_len.max(), c_len.max())),
                         weights, out_d)
        return out_d.copy_to_host().reshape(nq, nc)

    q_words = (q_len + WORD - 1) // WORD
    q_off_d = cuda.to_device(q_offsets)
    q_len_d = cuda.to_device(q_len)
    c_off_d = cuda.to_device(c_offsets)
    # Chunks of queries whose masks (sum of words * (chunk alphabet + 1)) fit the budget; the
    # chunk alphabet is bounded by the chunk's symbol count and by the whole query alphabet.
    n_alpha = len(np.unique(q_codes))
    for qa, qb in _mask_chunks(q_words, q_len, n_alpha, PM_BUDGET_BYTES):
        s0, s1 = int(q_offsets[qa]), int(q_offsets[qb])
        alphabet = np.unique(q_codes[s0:s1])
        a_size = len(alphabet)
        p_ids = np.searchsorted(alphabet, q_codes[s0:s1]).astype(np.int32)
        p_ids_full = np.zeros(max(1, len(q_codes)), dtype=np.int32)
        p_ids_full[s0:s1] = p_ids
        pos, found = _lookup(alphabet, c_codes)
        t_ids = np.where(found, pos, a_size).astype(np.int32)
        if len(t_ids) == 0:
            t_ids = np.zeros(1, dtype=np.int32)
        words = q_words[qa:qb]
        strides = np.full(qb - qa, a_size + 1, dtype=np.int64)
        pm_d, pm_off = _build_masks(p_ids_full, q_off_d, qa, words, strides)
        _launch_lev(pm_d, pm_off, strides, qa, q_len_d, cuda.to_device(t_ids), c_off_d,
                    np.arange(qa, qb, dtype=np.int64), nc, 0, w, out_d, q_len)
    return out_d.copy_to_host().reshape(nq, nc)


def cpdist(a_codes, a_offsets, b_codes, b_offsets, weights) -> np.ndarray:
    a_codes, a_offsets = _i64(a_codes), _i64(a_offsets)
    b_codes, b_offsets = _i64(b_codes), _i64(b_offsets)
    weights = _i64(weights)
    n = len(a_offsets) - 1
    if n <= 0:
        return np.zeros(0, dtype=np.int64)
    out_d = cuda.device_array(n, dtype=np.int64)
    a_len = np.diff(a_offsets)
    b_len = np.diff(b_offsets)
    w = _unit_weight(weights)
    if w is None:
        _launch_weighted(a_codes, a_offsets, b_codes, b_offsets, n, 1, 1, int(np.minimum(a_len, b_len).max()),
                         weights, out_d)
        return out_d.copy_to_host()

    # Unit Levenshtein is symmetric: the shorter string of each pair is the pattern.
    a_is_pat = a_len <= b_len
    p_len = np.where(a_is_pat, a_len, b_len)
    t_len = np.where(a_is_pat, b_len, a_len)
    p_off = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(p_len, out=p_off[1:])
    t_off = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(t_len, out=t_off[1:])

    def gather(lens, offs, src_a):
        """Concatenate, pair by pair, the a-string where src_a else the b-string."""
        total = int(lens.sum())
        if total == 0:
            return np.zeros(0, dtype=np.int64)
        pair = np.repeat(np.arange(n), lens)
        within = np.arange(total) - np.repeat(offs[:-1], lens)
        from_a = src_a[pair]
        res = np.empty(total, dtype=np.int64)
        res[from_a] = a_codes[a_offsets[pair[from_a]] + within[from_a]]
        res[~from_a] = b_codes[b_offsets[pair[~from_a]] + within[~from_a]]
        return res

    p_codes = gather(p_len, p_off, a_is_pat)
    t_codes = gather(t_len, t_off, ~a_is_pat)

    # Per-pair local alphabets: ranks of (pair, global symbol id) among the pattern's symbols.
    glob = np.unique(p_codes)
    n_glob = len(glob) + 1
    p_pair = np.repeat(np.arange(n, dtype=np.int64), p_len)
    t_pair = np.repeat(np.arange(n, dtype=np.int64), t_len)
    p_key = p_pair * n_glob + np.searchsorted(glob, p_codes)
    uniq = np.unique(p_key)
    first = np.searchsorted(uniq, np.arange(n, dtype=np.int64) * n_glob)
    k_pair = np.searchsorted(uniq, np.arange(1, n + 1, dtype=np.int64) * n_glob) - first
    p_ids = (np.searchsorted(uniq, p_key) - first[p_pair]).astype(np.int32)
    if len(t_codes):
        gpos, g_found = _lookup(glob, t_codes)
        upos, u_found = _lookup(uniq, t_pair * n_glob + gpos)
        u_found &= g_found
        t_ids = np.where(u_found, upos - first[t_pair], k_pair[t_pair]).astype(np.int32)
    else:
        t_ids = np.zeros(1, dtype=np.int32)
    if len(p_ids) == 0:
        p_ids = np.zeros(1, dtype=np.int32)

    words = (p_len + WORD - 1) // WORD
    strides = k_pair + 1
    p_off_d = cuda.to_device(p_off)
    p_len_d = cuda.to_device(p_len)
    t_off_d = cuda.to_device(t_off)
    t_ids_d = cuda.to_device(t_ids)
    est = np.maximum(words, 1) * strides * 8
    for pa, pb in _chunks(est, PM_BUDGET_BYTES):
        pm_d, pm_off = _build_masks(p_ids, p_off_d, pa, words[pa:pb], strides[pa:pb])
        _launch_lev(pm_d, pm_off, strides[pa:pb], pa, p_len_d, t_ids_d, t_off_d,
                    np.arange(pa, pb, dtype=np.int64), 1, 1, w, out_d, p_len)
    return out_d.copy_to_host()
