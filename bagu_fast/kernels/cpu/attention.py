"""Numba CPU kernel for the attention family: tiled online softmax (FlashAttention-2).

Raw signature and semantics: see :mod:`bagu_fast.kernels.reference.attention`.

Work is split into tasks of (batch, kv head, block of ``br`` rows) run with ``prange``.  The query
heads sharing a kv head are adjacent in ``q``, so ``q`` is viewed as ``[B, Hkv, group * L, D]``
and a row block may hold several whole query heads when ``L`` is short (grouped-query decoding
then reads each key / value once, not once per query head).  Each task walks the key tiles of
``bc`` keys it can see (tiles entirely above the causal diagonal or outside the sliding window
are skipped, not masked), computes the score tile ``Q_blk K_tile^T`` with BLAS (``np.dot``),
keeps a running row maximum and row sum, rescales its ``br x Dv`` accumulator when the maximum
grows, adds ``P V_tile`` (BLAS again) and divides once at the end.  Nothing of size ``L x S`` is
ever allocated: the extra memory is a few tiles per thread.

When there are fewer tasks than ``_MIN_TASKS`` (decoding: one query row, few heads) the keys are
split into chunks as well (split-K); the partial maxima / sums / accumulators are merged in a
second pass.  Block sizes and the split depend on the shapes only, so results do not depend on
the number of threads; tasks are handed out one at a time (chunk size 1) because causal and
windowed tasks differ in cost.

BLAS is held to one thread while the kernel runs, and calls from several Python threads are
safe under any threading layer: every launch goes through
:func:`bagu_fast.kernels.cpu._parallel.run_parallel`.  The parallelism is ``prange``'s.
``exp`` for float32 is a vectorisable Cody–Waite + polynomial implementation (Numba has no SVML
here) that keeps subnormal results, so that a weight of ``1e-40`` times an inf value is inf (the
reference's answer) and not ``0 * inf = NaN``; float64 uses ``math.exp``.  fastmath is limited to
reassociation / contraction in the exp-and-sum loop and to a NaN-free ``maxnum`` in the
row-maximum loop, so -inf (masked keys) keeps its meaning.

NaN / inf (semantics in :mod:`bagu_fast.kernels.reference.attention`) cost nothing on the fast
path: a NaN or +inf score makes the row sum ``l`` NaN (``exp(NaN)``, ``exp(inf - inf)``), which
stays NaN through every rescale and split-K merge, and :func:`_finish_row` turns it into a NaN
row; a NaN the NaN-free maximum may skip is looked for only in rows that have seen nothing but
-inf.  A NaN / inf *value* of a key outside a row's causal / window bounds would leak through
BLAS's ``0 * NaN`` in tiles that cross that edge; only there, and only when the product is not
finite, is the row's product recomputed over its visible keys.
"""
from __future__ import annotations

import math
import types as pytypes

import numpy as np
import numba
from llvmlite import ir
from numba import njit, prange, types
from numba.extending import intrinsic, overload

from ._microkernel import PANEL_WIDTH, packed_matmul_window
from ._workspace import aligned_empty
from ._parallel import run_parallel
from ._vecmath import pow2_f32

BR = 256  # query rows per task (at most)
BR_CAUSAL = 256  # ... when causal (the diagonal square is sliced, see _DIAG_ROWS)
BC = 256  # keys per tile
_DIAG_ROWS = 64  # causal: the diagonal square of a row block is done in slices of this many rows
_MIN_TASKS = 16  # fewer (batch, head, query-block) tasks than this: also split the keys
_MIN_SPLIT_KEYS = 1024  # ... into chunks of at least this many keys

_SUM_FM = {"reassoc", "contract", "nsz", "arcp"}  # no nnan / ninf: -inf stays -inf

# float32 exp: e^x = 2^n e^r, n = round(x log2 e), r = x - n ln 2 (Cephes expf coefficients)
_LOG2E = np.float32(1.4426950408889634)
_LN2_HI = np.float32(0.693359375)
_LN2_LO = np.float32(-2.12194440e-4)
_P0 = np.float32(1.9875691500e-4)
_P1 = np.float32(1.3981999507e-3)
_P2 = np.float32(8.3334519073e-3)
_P3 = np.float32(4.1665795894e-2)
_P4 = np.float32(1.6666665459e-1)
_P5 = np.float32(5.0000001201e-1)
_ONE32 = np.float32(1.0)
_HALF32 = np.float32(0.5)
_ZERO32 = np.float32(0.0)
# Below e^-87 results are subnormal, and e^x rounds to 0 only below about -103.97: arguments
# down to _LO32 keep their subnormal weights (a weight of 1e-40 times an inf value is inf, as in
# the reference, not 0 * inf = NaN).  2^n for n down to -149 (the smallest subnormal) is built as
# 2^(n + 64) * 2^-64: both factors normal, so the product is exact (also if reassociated) and
# normal results are exact scalings of the polynomial, as without subnormals.  n stops at -149
# (|r| then grows to ln 2, still accurate enough for results of one subnormal unit).
_LO32 = np.float32(-104.0)
_N_MIN = np.float32(-149.0)
_POW2_BIAS = np.float32(64.0)
_POW2_UNBIAS = np.float32(2.0**-64)


@njit(inline="always", cache=True)
def _exp_nonpos32(x):
    """e^x for float32 x <= 0, subnormal results included (-inf and x < -104 give 0, NaN stays
    NaN); relative error ~1e-7 for normal results; branch-free, vectorises."""
    # Lanes below _LO32 compute e^0 and are then replaced by 0: never a subnormal intermediate
    # for masked (-inf) keys, which would cost a microcode assist per element on some CPUs.
    xc = _ZERO32 if x < _LO32 else x  # NaN stays NaN
    n = np.floor(xc * _LOG2E + _HALF32)
    n = _N_MIN if n < _N_MIN else n
    r = xc - n * _LN2_HI - n * _LN2_LO
    p = ((((_P0 * r + _P1) * r + _P2) * r + _P3) * r + _P4) * r + _P5
    p = p * r * r + r + _ONE32
    y = p * pow2_f32(n + _POW2_BIAS) * _POW2_UNBIAS
    return _ZERO32 if x < _LO32 else y


def _exp_shift_sum(row, n, shift):  # pragma: no cover - replaced by the overload below
    """row[:n] = exp(row[:n] - shift); return the sum (shift finite, row[j] <= shift)."""
    raise NotImplementedError


@overload(_exp_shift_sum, jit_options={"fastmath": _SUM_FM})
def _exp_shift_sum_ov(row, n, shift):
    if row.dtype == types.float32:

        def impl32(row, n, shift):
            total = np.float32(0.0)
            for j in range(n):
                e = _exp_nonpos32(row[j] - shift)
                row[j] = e
                total += e
            return total

        return impl32

    def impl64(row, n, shift):
        total = 0.0
        for j in range(n):
            e = math.exp(row[j] - shift)
            row[j] = e
            total += e
        return total

    return impl64


@intrinsic
def _max_fast(typingctx, a, b):
    """``llvm.maxnum(a, b)`` flagged NaN-free so that a loop of them vectorises into a max
    reduction.  -inf is an ordinary value here; a NaN score still poisons its row through exp."""
    if a != b or not isinstance(a, types.Float):
        return None

    def codegen(context, builder, signature, args):
        ty = args[0].type
        fn = builder.module.declare_intrinsic("llvm.maxnum", [ty], ir.FunctionType(ty, [ty, ty]))
        return builder.call(fn, args, fastmath=("nnan", "nsz"))

    return a(a, b), codegen


@njit(inline="always", cache=True)
def _row_max(row, n, start):
    mx = start
    for j in range(n):
        mx = _max_fast(mx, row[j])
    return mx


@njit(inline="always", cache=True)
def _key_range(i0, i1, S, is_causal, wl, wr):
    """Keys [lo, hi) that any query row in [i0, i1) can see."""
    lo, hi = 0, S
    if is_causal:
        hi = min(hi, i1)
    if wr >= 0:
        hi = min(hi, i1 - 1 + wr + 1)
    if wl >= 0:
        lo = max(lo, i0 - wl)
    return lo, max(lo, hi)


@njit(inline="always", cache=True)
def _row_keys(i, j0, j1, is_causal, wl, wr):
    """Keys [lo, hi) of the tile [j0, j1) that query position ``i`` can see (lo <= hi)."""
    lo, hi = j0, j1
    if is_causal:
        hi = min(hi, i + 1)
    if wr >= 0:
        hi = min(hi, i + wr + 1)
    if wl >= 0:
        lo = min(max(lo, i - wl), j1)  # stay inside this row of the tile
    if hi < lo:
        hi = lo
    return lo, hi


@njit(cache=True, nogil=True)
def _drop_hidden_values(p, v, b, hk, R0, L, j0, j1, is_causal, wl, wr, pvv):
    """Keys outside a row's causal / window bounds are never read, but BLAS multiplied their
    zero weights by their values: ``0 * NaN = NaN`` would leak a NaN / inf value into rows that
    cannot see it, depending on the tiling.  Rows whose product is not finite and that have
    hidden keys in this tile are recomputed over their visible keys only (rare: only tiles that
    cross a causal / window edge, only with non-finite values)."""
    nr = pvv.shape[0]
    Dv = pvv.shape[1]
    for r in range(nr):
        ok = True
        for d in range(Dv):
            x = pvv[r, d]
            if x - x != 0:  # NaN or +-inf
                ok = False
        if ok:
            continue
        lo, hi = _row_keys((R0 + r) % L, j0, j1, is_causal, wl, wr)
        if lo == j0 and hi == j1:
            continue
        for d in range(Dv):
            pvv[r, d] = 0.0
        for j in range(lo, hi):
            w = p[r, j - j0]
            for d in range(Dv):
                pvv[r, d] += w * v[b, hk, j, d]


@njit(cache=True, nogil=True)
def _attend_block(qv, k, v, kp, vp, mask, has_mask, is_causal, scale, wl, wr, softcap, L, group,
                  b, hk, R0, R1, klo, khi, bc, qs, sbuf, pv, acc, m, l):
    """Accumulate keys [klo, khi) into (acc, m, l) for rows [R0, R1) of kv head (b, hk).

    ``qv`` is q viewed as ``[B, Hkv, group * L, D]``: row ``R`` is query position ``R % L`` of
    query head ``hk * group + R // L`` (the query heads sharing a kv head are adjacent in q).
    ``kp`` / ``vp``: K and V^T packed into panels (:func:`_pack_kv`) for the micro-kernel, or
    empty (few query rows per kv head: packing would cost more than it saves) for BLAS.
    """
    nr = R1 - R0
    D = qv.shape[3]
    Dv = v.shape[3]
    dt = qv.dtype.type
    neg_inf = dt(-np.inf)
    cap = dt(softcap)
    inv_cap = dt(1.0 / softcap) if softcap > 0.0 else dt(0.0)
    pmin, pmax = _positions(R0, R1, L)
    packed = kp.shape[0] > 0
    pw = kp.shape[4]
    qsv = qs[: nr * D].reshape((nr, D))
    for r in range(nr):
        for d in range(D):
            qsv[r, d] = qv[b, hk, R0 + r, d] * dt(scale)
    bm = b if mask.shape[0] > 1 else 0
    for j0 in range(klo, khi, bc):
        j1 = min(j0 + bc, khi)
        nc = j1 - j0
        if packed:  # the panels covering keys [j0, j1); s is the window of their columns
            p0 = j0 // pw
            p1 = (j1 + pw - 1) // pw
            ncp = (p1 - p0) * pw
            sfull = sbuf[: nr * ncp].reshape((nr, ncp))
            packed_matmul_window(qsv, kp[b, hk], p0, p1, 0, D, sfull)
            soff = j0 - p0 * pw
        else:
            sfull = sbuf[: nr * nc].reshape((nr, nc))
            np.dot(qsv, k[b, hk][j0:j1].T, sfull)
            soff = 0
        # is every (row, key) of this tile structurally visible?
        full = True
        if is_causal and j1 - 1 > pmin:
            full = False
        if wr >= 0 and j1 - 1 > pmin + wr:
            full = False
        if wl >= 0 and j0 < pmax - wl:
            full = False
        for r in range(nr):
            i = (R0 + r) % L
            row = sfull[r, soff:soff + nc]  # a C-contiguous row view: the loops below vectorise
            if softcap > 0.0:
                for j in range(nc):
                    row[j] = cap * np.tanh(row[j] * inv_cap)
            if has_mask:
                hm = hk * group + (R0 + r) // L if mask.shape[1] > 1 else 0
                mrow = mask[bm, hm, i if mask.shape[2] > 1 else 0, j0:j1]
                for j in range(nc):
                    row[j] += mrow[j]
            if not full:
                lo, hi = _row_keys(i, j0, j1, is_causal, wl, wr)
                for j in range(j0, lo):
                    row[j - j0] = neg_inf
                for j in range(hi, j1):
                    row[j - j0] = neg_inf
            mnew = _row_max(row, nc, m[r])
            if mnew == neg_inf:  # nothing visible yet: contributes nothing ...
                for j in range(nc):
                    if row[j] != row[j]:  # ... unless the max skipped a NaN score
                        l[r] = np.nan
                    row[j] = dt(0.0)
                continue
            total = _exp_shift_sum(row, nc, mnew)
            if mnew > m[r]:
                alpha = math.exp(m[r] - mnew)  # m[r] = -inf gives 0
                l[r] = l[r] * alpha + total
                for d in range(Dv):
                    acc[r, d] *= alpha
                m[r] = mnew
            else:
                l[r] += total
        if packed:
            pfull = pv[: nr * vp.shape[2] * pw].reshape((nr, vp.shape[2] * pw))  # whole panels of columns
            packed_matmul_window(sfull[:, soff:soff + nc], vp[b, hk], 0, vp.shape[2], j0, nc, pfull)
            pvv = pfull[:, :Dv]
        else:
            pvv = pv[: nr * Dv].reshape((nr, Dv))
            np.dot(sfull, v[b, hk][j0:j1], pvv)
        if not full:
            _drop_hidden_values(sfull[:, soff:soff + nc], v, b, hk, R0, L, j0, j1, is_causal, wl, wr, pvv)
        for r in range(nr):
            for d in range(Dv):
                acc[r, d] += pvv[r, d]


@njit(inline="always", cache=True)
def _positions(R0, R1, L):
    """Smallest and largest query position among rows [R0, R1)."""
    if R0 // L == (R1 - 1) // L:
        return R0 % L, (R1 - 1) % L
    return 0, L - 1


@njit(inline="always", cache=True)
def _n_blocks(L, group, br):
    """Row blocks per kv head: ``br``-row blocks inside each query head when L >= br, else
    blocks of whole query heads (decoding with grouped heads: one pass over the keys)."""
    if L >= br:
        return group * ((L + br - 1) // br)
    hpb = br // L
    return (group + hpb - 1) // hpb


@njit(inline="always", cache=True)
def _block_rows(t, L, group, br):
    """Rows [R0, R1) of block ``t`` of a kv head (see _n_blocks)."""
    if L >= br:
        per_head = (L + br - 1) // br
        hh = t // per_head
        i0 = (t % per_head) * br
        return hh * L + i0, hh * L + min(i0 + br, L)
    rows = (br // L) * L
    return t * rows, min((t + 1) * rows, group * L)


@njit(inline="always", cache=True)
def _finish_row(acc, m, l, r, outv, lsev, b, hk, R):
    """Normalise row ``r``.  ``l = 0``: no key had a finite score (out = the zero-weighted sum,
    lse = -inf); ``l = NaN``: a NaN or +inf score (exp(inf - inf)) poisoned the row."""
    Dv = acc.shape[1]
    if l[r] > 0:
        inv = 1.0 / l[r]
        for d in range(Dv):
            outv[b, hk, R, d] = acc[r, d] * inv
        lsev[b, hk, R] = m[r] + math.log(l[r])
    elif l[r] == 0:
        for d in range(Dv):
            outv[b, hk, R, d] = acc[r, d]  # 0, or NaN where a masked value is NaN / inf
        lsev[b, hk, R] = -np.inf
    else:
        for d in range(Dv):
            outv[b, hk, R, d] = np.nan
        lsev[b, hk, R] = np.nan


@njit(cache=True, nogil=True, parallel=True)
def _sdpa_blocks(qv, k, v, kp, vp, mask, has_mask, is_causal, scale, wl, wr, softcap, L, br, bc, outv, lsev):
    """One task per (batch, kv head, row block), all its keys."""
    B, Hkv, R, D = qv.shape
    group = R // L
    S = k.shape[2]
    Dv = v.shape[3]
    nblk = _n_blocks(L, group, br)
    for t in prange(B * Hkv * nblk):
        b = t // (Hkv * nblk)
        hk = (t // nblk) % Hkv
        R0, R1 = _block_rows(t % nblk, L, group, br)
        nr = R1 - R0
        qs = np.empty(br * D, qv.dtype)
        sbuf = np.empty(br * (bc + 2 * kp.shape[4]), qv.dtype)  # panels may overhang the tile
        pv = np.empty(br * (Dv + kp.shape[4]), qv.dtype)
        acc = np.zeros((nr, Dv), qv.dtype)
        m = np.full(nr, -np.inf, qv.dtype)
        l = np.zeros(nr, qv.dtype)
        pmin, pmax = _positions(R0, R1, L)
        klo, khi = _key_range(pmin, pmax + 1, S, is_causal, wl, wr)
        if is_causal and pmax - pmin + 1 == nr and nr > _DIAG_ROWS and pmin < khi:
            # causal block inside one head: the keys left of the diagonal are seen by every row;
            # the diagonal square [pmin, khi) goes in row slices that stop at their own diagonal
            diag = max(klo, pmin)
            _attend_block(qv, k, v, kp, vp, mask, has_mask, is_causal, scale, wl, wr, softcap, L, group,
                          b, hk, R0, R1, klo, diag, bc, qs, sbuf, pv, acc, m, l)
            for r0 in range(0, nr, _DIAG_ROWS):
                r1 = min(r0 + _DIAG_ROWS, nr)
                _attend_block(qv, k, v, kp, vp, mask, has_mask, is_causal, scale, wl, wr, softcap, L, group,
                              b, hk, R0 + r0, R0 + r1, diag, min(khi, pmin + r1), bc, qs, sbuf, pv,
                              acc[r0:r1], m[r0:r1], l[r0:r1])
        else:
            _attend_block(qv, k, v, kp, vp, mask, has_mask, is_causal, scale, wl, wr, softcap, L, group,
                          b, hk, R0, R1, klo, khi, bc, qs, sbuf, pv, acc, m, l)
        for r in range(nr):
            _finish_row(acc, m, l, r, outv, lsev, b, hk, R0 + r)


@njit(cache=True, nogil=True, parallel=True)
def _sdpa_split(qv, k, v, kp, vp, mask, has_mask, is_causal, scale, wl, wr, softcap, L, br, bc, nsplit, outv,
                lsev):
    """Split-K: one task per (batch, kv head, row block, key chunk), then a merge pass."""
    B, Hkv, R, D = qv.shape
    group = R // L
    S = k.shape[2]
    Dv = v.shape[3]
    nblk = _n_blocks(L, group, br)
    ntask = B * Hkv * nblk
    pacc = np.zeros((ntask, nsplit, br, Dv), qv.dtype)
    pm = np.full((ntask, nsplit, br), -np.inf, qv.dtype)
    pl = np.zeros((ntask, nsplit, br), qv.dtype)
    for u in prange(ntask * nsplit):
        t = u // nsplit
        c = u % nsplit
        b = t // (Hkv * nblk)
        hk = (t // nblk) % Hkv
        R0, R1 = _block_rows(t % nblk, L, group, br)
        nr = R1 - R0
        pmin, pmax = _positions(R0, R1, L)
        klo, khi = _key_range(pmin, pmax + 1, S, is_causal, wl, wr)
        # chunk c of [klo, khi), chunk boundaries on multiples of bc
        nkb = (khi - klo + bc - 1) // bc
        per = (nkb + nsplit - 1) // nsplit
        c0 = min(khi, klo + c * per * bc)
        c1 = min(khi, klo + (c + 1) * per * bc)
        if c1 <= c0:
            continue
        qs = np.empty(br * D, qv.dtype)
        sbuf = np.empty(br * (bc + 2 * kp.shape[4]), qv.dtype)  # panels may overhang the tile
        pv = np.empty(br * (Dv + kp.shape[4]), qv.dtype)
        _attend_block(qv, k, v, kp, vp, mask, has_mask, is_causal, scale, wl, wr, softcap, L, group,
                      b, hk, R0, R1, c0, c1, bc, qs, sbuf, pv,
                      pacc[t, c, :nr], pm[t, c, :nr], pl[t, c, :nr])
    for t in prange(ntask):
        b = t // (Hkv * nblk)
        hk = (t // nblk) % Hkv
        R0, R1 = _block_rows(t % nblk, L, group, br)
        nr = R1 - R0
        acc = np.zeros((nr, Dv), qv.dtype)
        m = np.full(nr, -np.inf, qv.dtype)
        l = np.zeros(nr, qv.dtype)
        for r in range(nr):
            mx = m[r]
            for c in range(nsplit):
                mx = max(mx, pm[t, c, r])
            for c in range(nsplit):
                # all chunks empty: plain sums (0, or NaN from a poisoned chunk / masked value)
                w = 1.0 if mx == -np.inf else math.exp(pm[t, c, r] - mx)  # inf - inf: NaN row
                l[r] += w * pl[t, c, r]
                for d in range(Dv):
                    acc[r, d] += w * pacc[t, c, r, d]
            m[r] = mx
        for r in range(nr):
            _finish_row(acc, m, l, r, outv, lsev, b, hk, R0 + r)


def _serial_twin(kernel, name: str):
    """``kernel`` compiled again without threads, under its own name (so its disk-cache entry
    never collides with the parallel one's).  ``prange`` runs as ``range`` there."""
    f = kernel.py_func
    twin = pytypes.FunctionType(f.__code__, f.__globals__, name, f.__defaults__, f.__closure__)
    twin.__qualname__ = name
    return njit(cache=True, nogil=True)(twin)


# Tiny calls (toy shapes, a decode step over a short cache) cost less than waking the thread pool:
# below this many multiply-adds they run on the calling thread, with no parallel region at all.
SERIAL_WORK = 1 << 19
_sdpa_blocks_serial = _serial_twin(_sdpa_blocks, "_sdpa_blocks_serial")


PACK_MIN_ROWS = 64  # query rows per kv head from which K and V are packed for the micro-kernel


def _pack_kv(k: np.ndarray, v: np.ndarray, rows: int) -> tuple[np.ndarray, np.ndarray]:
    """K as panels of keys ``[B, Hkv, ceil(S / PW), D, PW]`` and V^T as panels of value columns
    ``[B, Hkv, ceil(Dv / PW), S, PW]`` (zero padded), for :mod:`._microkernel`: on this project's
    AMD EPYC it ran the 128 x 64 x 256 score tile and the 128 x 256 x 64 value tile at 116
    GFLOP/s on one core, OpenBLAS at 82 / 86.  Packing is one pass over K and V, so it is done
    only when each kv head has at least ``PACK_MIN_ROWS`` query rows (not for decoding); else
    both are empty and the tiles go to BLAS."""
    pw = PANEL_WIDTH[k.dtype]
    B, Hkv, S, D = k.shape
    Dv = v.shape[3]
    if rows < PACK_MIN_ROWS:
        return np.empty((0, 0, 0, 0, pw), k.dtype), np.empty((0, 0, 0, 0, pw), k.dtype)
    nks, nvs = -(-S // pw), -(-Dv // pw)
    kpad = np.zeros((B, Hkv, nks * pw, D), k.dtype)
    kpad[:, :, :S] = k
    kp = aligned_empty((B, Hkv, nks, D, pw), k.dtype)  # panel rows on whole cache lines
    kp[...] = kpad.reshape(B, Hkv, nks, pw, D).transpose(0, 1, 2, 4, 3)
    vpad = np.zeros((B, Hkv, S, nvs * pw), v.dtype)
    vpad[..., :Dv] = v
    vp = aligned_empty((B, Hkv, nvs, S, pw), v.dtype)
    vp[...] = vpad.reshape(B, Hkv, S, nvs, pw).transpose(0, 1, 3, 2, 4)
    return kp, vp


def _tiles(B: int, Hkv: int, group: int, L: int, S: int, is_causal: bool) -> tuple[int, int, int]:
    """(rows per task, keys per tile, key chunks per task) from the shapes alone, so the
    result never depends on the thread count.  Big tiles keep BLAS efficient; causal attention
    uses shorter row blocks (less work wasted on the diagonal); too few tasks shrink the row
    block, then split the keys (decoding)."""
    def n_tasks(br):
        if L >= br:
            return B * Hkv * group * ((L + br - 1) // br)
        hpb = br // L
        return B * Hkv * ((group + hpb - 1) // hpb)

    br = BR_CAUSAL if is_causal else BR
    while br > 16 and n_tasks(br) < _MIN_TASKS:
        br //= 2
    ntask = n_tasks(br)
    nsplit = 1
    if ntask < _MIN_TASKS and S >= 2 * _MIN_SPLIT_KEYS:
        nsplit = int(max(1, min((_MIN_TASKS + ntask - 1) // ntask, S // _MIN_SPLIT_KEYS)))
    return br, BC, nsplit


def sdpa(q, k, v, mask, is_causal, scale, window_left, window_right, softcap):
    B, Hq, L, _ = q.shape
    Hkv, S, Dv = k.shape[1], k.shape[2], v.shape[3]
    group = Hq // Hkv
    out = np.empty((B, Hq, L, Dv), dtype=q.dtype)
    lse = np.empty((B, Hq, L), dtype=q.dtype)
    if out.size == 0 and lse.size == 0:
        return out, lse
    if S == 0:
        out[...] = 0
        lse[...] = -np.inf
        return out, lse
    has_mask = mask is not None
    if not has_mask:
        mask = np.zeros((1, 1, 1, 1), dtype=q.dtype)
    # The query heads that share a kv head are adjacent: view them as one block of rows.
    qv = q.reshape(B, Hkv, group * L, q.shape[3])
    outv = out.reshape(B, Hkv, group * L, Dv)
    lsev = lse.reshape(B, Hkv, group * L)
    kp, vp = _pack_kv(k, v, group * L)
    args = (qv, k, v, kp, vp, mask, has_mask, bool(is_causal), float(scale), int(window_left),
            int(window_right), float(softcap), L)
    br, bc, nsplit = _tiles(B, Hkv, group, L, S, bool(is_causal))
    work = B * Hq * L * S * (q.shape[3] + Dv)
    if work <= SERIAL_WORK:
        _sdpa_blocks_serial(*args, br, bc, outv, lsev)
        return out, lse
    if nsplit == 1:
        run_parallel(_one_task_at_a_time, _sdpa_blocks, (*args, br, bc, outv, lsev), single_thread_blas=True,
                     work=work)
    else:
        run_parallel(_one_task_at_a_time, _sdpa_split, (*args, br, bc, nsplit, outv, lsev), single_thread_blas=True,
                     work=work)
    return out, lse


def _one_task_at_a_time(kernel, args: tuple) -> None:
    """``kernel(*args)`` with its ``prange`` tasks handed out one at a time (chunk size 1, a
    per-thread Numba setting, so set on whichever thread launches it): causal and windowed
    tasks differ in cost, equal halves would leave a thread idle."""
    saved = numba.set_parallel_chunksize(1)
    try:
        kernel(*args)
    finally:
        numba.set_parallel_chunksize(saved)
