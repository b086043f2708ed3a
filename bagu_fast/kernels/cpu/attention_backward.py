"""Numba CPU kernel for the attention backward pass (FlashAttention-2's backward).

Raw signature and semantics: see :mod:`bagu_fast.kernels.reference.attention_backward`.

Work is split into tasks of (batch, kv head, key chunk), run with ``prange`` and handed out one
at a time.  A task walks its blocks of ``bc`` keys; for each block it keeps ``dK`` and ``dV`` of
those keys in a local accumulator and visits every query head of the group and every tile of
``br`` query rows that can see the block (tiles entirely above the causal diagonal or outside the
sliding window are skipped).  Per tile it recomputes the scores from ``lse``
(``P = exp(S - lse)``), forms ``dP = dO V^T`` and ``dS = P (dP - D)`` (times the soft-cap slope
``1 - tanh^2``), and adds ``P^T dO`` to ``dV``, ``dS^T (Q scale)`` to ``dK`` and ``dS K`` to the
tile's rows of ``dQ``: five products, nothing of size ``L x S``.  ``D = rowsum(dO * O)`` is
computed first, one float per query row.

The products go through the register-blocked micro-kernel of :mod:`._microkernel` (no BLAS, so
no nested threading): K and V of a key block are packed once per block, as panels of keys for
the score products and K as panels of feature columns for ``dS K``; the scaled query tile and
the dO tile are packed per tile, ``P`` and ``dS`` transposed per tile (together a few percent
of the products' work).  Against ``np.dot`` on the same 128 x 128 tiles this ran 15-23 % faster
on one core of this project's machine (D = 64 and 128, a loaded machine; the results were the
same bit for bit).

Determinism: ``dK`` / ``dV`` of a key block are written by one task, and every sum inside a task
runs in a fixed order (query heads, then query tiles).  ``dQ`` rows receive contributions from
every key block; with one key chunk per (batch, kv head) the task owns those rows, otherwise
each chunk accumulates into its own copy of ``dQ`` and the copies are added in chunk order at the
end (split-K).  The chunk count and every tile size depend on the shapes alone, so the result
does not depend on the number of threads.  Chunks take key blocks round robin
(``c, c + nsplit, ...``) so causal chunks cost about the same.  Their ``dQ`` copies are bounded
by :data:`PARTIAL_BYTES`: extra memory is at most that, plus ``D`` (one float per query row) and
a few tiles per thread.

NaN / inf: a row with ``lse = -inf`` gets ``P = dS = 0`` and a zero ``dQ`` row; structurally
hidden pairs get ``P = dS = 0``.  The products still multiply those zeros by the other operand,
so in a tile that crosses a causal / window edge or holds such a row, a product row that is not
finite is recomputed over the live pairs only (rare: only with NaN / inf inputs in those tiles).
"""
from __future__ import annotations

import math

import numba
import numpy as np
from numba import njit, prange, types
from numba.extending import overload

from ._microkernel import PANEL_WIDTH, pack_panel_rows, packed_matmul
from ._parallel import parallel_region
from .attention import SERIAL_WORK, _exp_nonpos32, _row_keys, _serial_twin

BR = 128  # query rows per tile
BC = 128  # keys per block
MIN_TASKS = 16  # fewer (batch, kv head) tasks than this: split the keys into chunks
PARTIAL_BYTES = 16 << 20  # at most this many bytes of per-chunk dQ copies


@njit(inline="always", cache=True)
def _query_range(j0, j1, L, is_causal, wl, wr):
    """Query rows [lo, hi) that can see any key in [j0, j1)."""
    lo, hi = 0, L
    if is_causal:
        lo = max(lo, j0)
    if wr >= 0:
        lo = max(lo, j0 - wr)
    if wl >= 0:
        hi = min(hi, j1 - 1 + wl + 1)
    return lo, max(lo, hi)


@njit(inline="always", cache=True)
def _key_rows(j, i0, i1, is_causal, wl, wr):
    """Rows [lo, hi) of the tile [i0, i1) that can see key ``j`` (lo <= hi)."""
    lo, hi = i0, i1
    if is_causal:
        lo = max(lo, j)
    if wr >= 0:
        lo = max(lo, j - wr)
    if wl >= 0:
        hi = min(hi, j + wl + 1)
    return lo, max(lo, hi)


def _exp_nonpos(x):  # pragma: no cover - replaced by the overload below
    """``exp(x)`` for ``x = s - lse``, read as ``min(x, 0)``: ``P <= 1`` because lse bounds every
    score, so ``x`` a rounding above 0 means 0 (NaN stays NaN).  float32: the forward's
    vectorised exp."""
    raise NotImplementedError


@overload(_exp_nonpos)
def _exp_nonpos_ov(x):
    if x == types.float32:
        zero32 = np.float32(0.0)

        def impl32(x):
            return _exp_nonpos32(zero32 if x > zero32 else x)

        return impl32

    def impl64(x):
        return math.exp(0.0 if x > 0.0 else x)

    return impl64


@njit(inline="always", cache=True)
def _finite_row(a, r, w):
    for d in range(w):
        x = a[r, d]
        if x - x != 0:  # NaN or +-inf
            return False
    return True


@njit(cache=True, nogil=True)
def _probabilities(s, dp, slope, lse, drow, mask, has_mask, is_causal, wl, wr, softcap, b, h, i0, j0, j1):
    """Turn the score tile ``s = (Q scale) K^T`` into ``P`` and ``dp = dO V^T`` into ``dS`` in place
    (rows of query head (b, h) from ``i0``, keys [j0, j1) in the first ``j1 - j0`` columns).
    Columns past the keys (panel padding) are set to 0.  Returns True when every pair of the tile
    is live (structurally visible, in a row with ``lse > -inf``)."""
    nr, ncp = s.shape
    nc = j1 - j0
    dt = s.dtype.type
    zero = dt(0.0)
    cap = dt(softcap)
    inv_cap = dt(1.0 / softcap) if softcap > 0.0 else dt(0.0)
    clean = True
    bm = b if mask.shape[0] > 1 else 0
    hm = h if mask.shape[1] > 1 else 0
    for r in range(nr):
        i = i0 + r
        l_i = lse[b, h, i]
        srow = s[r]  # C-contiguous row views: the loops below vectorise
        dprow = dp[r]
        for j in range(nc, ncp):
            srow[j] = zero
            dprow[j] = zero
        if l_i == -np.inf:  # a row that attended to nothing: no gradient
            clean = False
            for j in range(nc):
                srow[j] = zero
                dprow[j] = zero
            continue
        d_i = drow[b, h, i]
        if softcap > 0.0:
            slope_row = slope[r]
            for j in range(nc):
                t = np.tanh(srow[j] * inv_cap)
                srow[j] = cap * t
                slope_row[j] = dt(1.0) - t * t
        if has_mask:
            mrow = mask[bm, hm, i if mask.shape[2] > 1 else 0, j0:j1]
            for j in range(nc):
                srow[j] += mrow[j]
        for j in range(nc):
            p = _exp_nonpos(srow[j] - l_i)
            srow[j] = p
            dprow[j] = p * (dprow[j] - d_i)
        if softcap > 0.0:
            slope_row = slope[r]
            for j in range(nc):
                dprow[j] *= slope_row[j]
        lo, hi = _row_keys(i, j0, j1, is_causal, wl, wr)
        if lo > j0 or hi < j1:
            clean = False
            for j in range(j0, lo):
                srow[j - j0] = zero
                dprow[j - j0] = zero
            for j in range(hi, j1):
                srow[j - j0] = zero
                dprow[j - j0] = zero
    return clean


@njit(cache=True, nogil=True)
def _add_key_side(acc, prod, coef, x, lse, b, h, i0, j0, clean, is_causal, wl, wr):
    """``acc += prod`` where ``prod = coef^T x`` (a [keys, cols] product over the tile's rows;
    ``acc`` has the real width, ``prod`` may be wider); a product row that is not finite in a tile
    that is not clean is recomputed over the live rows."""
    nc, w = acc.shape
    nr = x.shape[0]
    for n in range(nc):
        if not clean and not _finite_row(prod, n, w):
            lo, hi = _key_rows(j0 + n, i0, i0 + nr, is_causal, wl, wr)
            for d in range(w):
                prod[n, d] = 0.0
            for i in range(lo, hi):
                if lse[b, h, i] != -np.inf:
                    c = coef[i - i0, n]
                    for d in range(w):
                        prod[n, d] += c * x[i - i0, d]
        for d in range(w):
            acc[n, d] += prod[n, d]


@njit(cache=True, nogil=True)
def _add_query_side(acc, prod, ds, kb, i0, j0, clean, is_causal, wl, wr):
    """``acc += prod`` where ``prod = dS K`` (rows of the tile, keys ``kb``); like
    :func:`_add_key_side`."""
    nr, w = acc.shape
    nc = kb.shape[0]
    for r in range(nr):
        if not clean and not _finite_row(prod, r, w):
            lo, hi = _row_keys(i0 + r, j0, j0 + nc, is_causal, wl, wr)
            for d in range(w):
                prod[r, d] = 0.0
            for j in range(lo, hi):
                c = ds[r, j - j0]
                for d in range(w):
                    prod[r, d] += c * kb[j - j0, d]
        for d in range(w):
            acc[r, d] += prod[r, d]


@njit(cache=True, nogil=True)
def _aligned(n, dtype):
    """A scratch vector of ``n`` elements starting on a 64-byte boundary (whole panel rows on
    cache lines for the micro-kernel)."""
    raw = np.empty(n + 64, dtype)
    off = ((-raw.ctypes.data) % 64) // raw.itemsize
    return raw[off:off + n]


@njit(cache=True, nogil=True)
def _pack_columns(x, out):
    """Column panels of ``x [n, w]``: ``out[p, r, l] = x[r, p * PW + l]`` (0 past ``w``, and in
    rows past ``n`` when ``out`` has more)."""
    n_p, n_out, pw = out.shape
    n, w = x.shape
    zero = out.dtype.type(0.0)
    for p in range(n_p):
        c0 = p * pw
        cw = min(pw, w - c0)
        for r in range(n_out):
            o = out[p, r]
            if r < n:
                xr = x[r]
                for l in range(cw):
                    o[l] = xr[c0 + l]
            else:
                for l in range(cw):
                    o[l] = zero
            for l in range(cw, pw):
                o[l] = zero


@njit(cache=True, nogil=True)
def _transpose(src, nc, out):
    """``out[n, r] = src[r, n]`` for the first ``nc`` columns of ``src``."""
    nr = src.shape[0]
    for r0 in range(0, nr, 16):  # 16-row strips: each write stream stays in few cache lines
        r1 = min(r0 + 16, nr)
        for n in range(nc):
            for r in range(r0, r1):
                out[n, r] = src[r, n]


@njit(cache=True, nogil=True)
def _key_block(g, q, k, v, lse, drow, mask, has_mask, is_causal, scale, wl, wr, softcap, group, br, pw,
               b, hk, j0, j1, dq_acc, dk_blk, dv_blk, bufs, rows):
    """All the work of keys [j0, j1) of kv head (b, hk): dK / dV of the block into ``dk_blk`` /
    ``dv_blk`` (overwritten), ``dS K`` added to the rows of ``dq_acc`` [Hq, L, D] they reach.
    Products go through the register-blocked micro-kernel, operands packed here (per block and
    per tile: a few percent of the products' work).  ``bufs``: K / V of the block as panels of
    keys (score products), K of the block as panels of feature columns (dQ), the query tile times
    scale (plain and as column panels), the dO tile as column panels, the score tiles ``s`` /
    ``dp`` / ``slope``, ``P^T`` and ``dS^T``, and two products that may need the live-pairs
    fix-up."""
    kkp_b, vkp_b, kcp_b, qs_b, qsp_b, dop_b, s_b, dp_b, slope_b, pt_b, dst_b, tmpk_b, tmpq_b = bufs
    L, D = q.shape[2], q.shape[3]
    Dv = v.shape[3]
    nc = j1 - j0
    nkp = (nc + pw - 1) // pw
    ncp = nkp * pw
    nDp = (D + pw - 1) // pw
    nDvp = (Dv + pw - 1) // pw
    dt = q.dtype.type
    kb = k[b, hk][j0:j1]
    for n in range(ncp):
        rows[n] = j0 + n if n < nc else -1
    kkp = kkp_b[: nkp * D * pw].reshape((nkp, D, pw))
    pack_panel_rows(k[b, hk], rows[:ncp], qs_b, kkp)
    vkp = vkp_b[: nkp * Dv * pw].reshape((nkp, Dv, pw))
    pack_panel_rows(v[b, hk], rows[:ncp], qs_b, vkp)
    kcp = kcp_b[: nDp * ncp * pw].reshape((nDp, ncp, pw))  # zero rows past the keys
    _pack_columns(kb, kcp)
    dk_blk[:, :] = 0.0
    dv_blk[:, :] = 0.0
    qlo, qhi = _query_range(j0, j1, L, is_causal, wl, wr)
    for gh in range(group):
        h = hk * group + gh
        qh = q[b, h]
        for i0 in range(qlo, qhi, br):
            i1 = min(i0 + br, qhi)
            nr = i1 - i0
            qs = qs_b[: nr * D].reshape((nr, D))
            for r in range(nr):
                for d in range(D):
                    qs[r, d] = qh[i0 + r, d] * dt(scale)
            do = g[b, h][i0:i1]
            qsp = qsp_b[: nDp * nr * pw].reshape((nDp, nr, pw))
            _pack_columns(qs, qsp)
            dop = dop_b[: nDvp * nr * pw].reshape((nDvp, nr, pw))
            _pack_columns(do, dop)
            s = s_b[: nr * ncp].reshape((nr, ncp))
            dp = dp_b[: nr * ncp].reshape((nr, ncp))
            slope = slope_b[: nr * ncp].reshape((nr, ncp))
            packed_matmul(qs, kkp, s)
            packed_matmul(do, vkp, dp)
            clean = _probabilities(s, dp, slope, lse, drow, mask, has_mask, is_causal, wl, wr, softcap,
                                   b, h, i0, j0, j1)
            pt = pt_b[: nc * nr].reshape((nc, nr))
            _transpose(s, nc, pt)
            dst = dst_b[: nc * nr].reshape((nc, nr))
            _transpose(dp, nc, dst)
            if clean:  # the common case: accumulate in place
                packed_matmul(pt, dop, dv_blk, True)
                packed_matmul(dst, qsp, dk_blk, True)
            else:
                pv = tmpk_b[: nc * nDvp * pw].reshape((nc, nDvp * pw))
                packed_matmul(pt, dop, pv)
                _add_key_side(dv_blk[:, :Dv], pv, s, do, lse, b, h, i0, j0, clean, is_causal, wl, wr)
                pk = tmpk_b[: nc * nDp * pw].reshape((nc, nDp * pw))
                packed_matmul(dst, qsp, pk)
                _add_key_side(dk_blk[:, :D], pk, dp, qs, lse, b, h, i0, j0, clean, is_causal, wl, wr)
            pq = tmpq_b[: nr * nDp * pw].reshape((nr, nDp * pw))
            packed_matmul(dp, kcp, pq)  # dp's columns past the keys hold 0
            _add_query_side(dq_acc[h, i0:i1], pq, dp, kb, i0, j0, clean, is_causal, wl, wr)


@njit(cache=True, nogil=True, parallel=True)
def _backward(g, q, k, v, o, lse, mask, has_mask, is_causal, scale, wl, wr, softcap, br, bc, pw, nsplit,
              drow, dq_acc, dq, dk, dv):
    """``drow``, then one task per (batch, kv head, key chunk), then ``dq`` from ``dq_acc``
    [nsplit, B, Hq, L, D] (the chunks' copies, added in chunk order; ``dq_acc[0]`` may be ``dq``)."""
    B, Hq, L, D = q.shape
    Hkv, S, Dv = k.shape[1], k.shape[2], v.shape[3]
    group = Hq // Hkv
    for t in prange(B * Hq):
        b = t // Hq
        h = t % Hq
        for i in range(L):
            acc = q.dtype.type(0.0)
            for d in range(Dv):
                acc += g[b, h, i, d] * o[b, h, i, d]
            drow[b, h, i] = acc
    nkb = (S + bc - 1) // bc
    nDp = (D + pw - 1) // pw
    nDvp = (Dv + pw - 1) // pw
    for t in prange(B * Hkv * nsplit):
        c = t % nsplit
        hk = (t // nsplit) % Hkv
        b = t // (nsplit * Hkv)
        dt = q.dtype
        bufs = (_aligned(bc * D, dt), _aligned(bc * Dv, dt), _aligned(nDp * bc * pw, dt), _aligned(br * D, dt),
                _aligned(nDp * br * pw, dt), _aligned(nDvp * br * pw, dt), _aligned(br * bc, dt),
                _aligned(br * bc, dt), _aligned(br * bc, dt), _aligned(bc * br, dt), _aligned(bc * br, dt),
                _aligned(bc * max(nDp, nDvp) * pw, dt), _aligned(br * nDp * pw, dt))
        rows = np.empty(bc, np.int64)
        dk_blk = _aligned(bc * nDp * pw, dt).reshape((bc, nDp * pw))
        dv_blk = _aligned(bc * nDvp * pw, dt).reshape((bc, nDvp * pw))
        for kbi in range(c, nkb, nsplit):
            j0 = kbi * bc
            j1 = min(j0 + bc, S)
            nc = j1 - j0
            _key_block(g, q, k, v, lse, drow, mask, has_mask, is_causal, scale, wl, wr, softcap, group, br, pw,
                       b, hk, j0, j1, dq_acc[c, b], dk_blk[:nc], dv_blk[:nc], bufs, rows)
            dk[b, hk, j0:j1] = dk_blk[:nc, :D]
            dv[b, hk, j0:j1] = dv_blk[:nc, :Dv]
    for t in prange(B * Hq):
        b = t // Hq
        h = t % Hq
        for i in range(L):
            dead = lse[b, h, i] == -np.inf
            for d in range(D):
                acc = dq_acc[0, b, h, i, d]
                for c in range(1, nsplit):
                    acc += dq_acc[c, b, h, i, d]
                dq[b, h, i, d] = 0.0 if dead else acc * scale


_backward_serial = _serial_twin(_backward, "_backward_serial")


def _split(B: int, Hkv: int, Hq: int, L: int, S: int, D: int, itemsize: int, bc: int) -> int:
    """Key chunks per (batch, kv head), from the shapes alone: enough tasks for the cores, as
    many as the dQ copies' budget allows."""
    tasks = B * Hkv
    if tasks >= MIN_TASKS:
        return 1
    nkb = -(-S // bc)
    want = min(-(-MIN_TASKS // tasks), nkb)
    copy_bytes = B * Hq * L * D * itemsize
    return int(max(1, min(want, PARTIAL_BYTES // max(1, copy_bytes))))


def sdpa_backward(grad_out, q, k, v, out, lse, mask, is_causal, scale, window_left, window_right, softcap):
    B, Hq, L, D = q.shape
    Hkv, S, Dv = k.shape[1], k.shape[2], v.shape[3]
    dtype = q.dtype
    dq = np.empty((B, Hq, L, D), dtype=dtype)
    dk = np.zeros((B, Hkv, S, D), dtype=dtype)  # keys no query row can see keep 0
    dv = np.zeros((B, Hkv, S, Dv), dtype=dtype)
    if dq.size == 0 and dk.size == 0 and dv.size == 0:
        return dq, dk, dv
    has_mask = mask is not None
    if not has_mask:
        mask = np.zeros((1, 1, 1, 1), dtype=dtype)
    br, bc = BR, BC
    assert bc % PANEL_WIDTH[dtype] == 0  # key blocks are whole panels
    nsplit = _split(B, Hkv, Hq, L, S, D, dtype.itemsize, bc)
    if nsplit == 1:
        dq_acc = dq.reshape((1,) + dq.shape)
        dq_acc[...] = 0
    else:
        dq_acc = np.zeros((nsplit,) + dq.shape, dtype=dtype)
    drow = np.empty((B, Hq, L), dtype=dtype)
    args = (grad_out, q, k, v, out, lse, mask, has_mask, bool(is_causal), float(scale), int(window_left),
            int(window_right), float(softcap), br, bc, PANEL_WIDTH[dtype], nsplit, drow, dq_acc, dq, dk, dv)
    if B * Hq * L * S * (3 * D + 2 * Dv) <= SERIAL_WORK:
        _backward_serial(*args)
        return dq, dk, dv
    # Tasks differ in cost (causal / window): hand them out one at a time, not in equal halves.
    saved_chunk = numba.set_parallel_chunksize(1)
    try:
        with parallel_region():
            _backward(*args)
    finally:
        numba.set_parallel_chunksize(saved_chunk)
    return dq, dk, dv
