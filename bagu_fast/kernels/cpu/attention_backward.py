"""Numba CPU kernel for the attention backward pass (FlashAttention-2's backward).

Raw signature and semantics: see :mod:`bagu_fast.kernels.reference.attention_backward`.

Work is split into tasks of (batch, kv head, key chunk), run with ``prange`` and handed out one
at a time.  A task walks its blocks of ``bc`` keys; for each block it keeps ``dK`` and ``dV`` of
those keys in a local accumulator and visits every query head of the group and every tile of
``br`` query rows that can see the block (tiles entirely above the causal diagonal or outside the
sliding window are skipped).  Per tile it recomputes the scores from ``lse``
(``P = exp(S - lse)``), forms ``dP = dO V^T`` and ``dS = P (dP - D)`` (times the soft-cap slope
``1 - tanh^2``), and adds ``P^T dO`` to ``dV``, ``dS^T (Q scale)`` to ``dK`` and ``dS K`` to the
tile's rows of ``dQ``: five products, nothing of size ``L x S``.

The tiles are kept transposed (``[keys, query rows]``: ``S^T = K (Q scale)^T``), the layout in
which ``P^T`` and ``dS^T`` are the left operands of the ``dV`` / ``dK`` products, and ``dQ`` is
accumulated transposed (``dQ^T += K^T dS^T``), so no tile is ever transposed.  The products go
through the register-blocked micro-kernel of :mod:`._microkernel` (no BLAS, so no nested
threading): a first parallel pass computes ``D = rowsum(dO * O)`` and packs ``Q scale`` and
``dO`` of every head as panels of rows (right operands of the score products) and as panels of
feature columns (of the ``dV`` / ``dK`` products); per key block ``K^T`` is formed once, per tile
``dS^T`` is copied into panels.  Query tiles start on panel boundaries.

Determinism: ``dK`` / ``dV`` of a key block are written by one task, and every sum inside a task
runs in a fixed order (query heads, then query tiles).  ``dQ`` rows receive contributions from
every key block; with one key chunk per (batch, kv head) the task owns those rows, otherwise
each chunk accumulates into its own copy of ``dQ`` and the copies are added in chunk order at the
end (split-K).  The chunk count and every tile size depend on the shapes alone, so the result
does not depend on the number of threads.  Chunks take key blocks round robin
(``c, c + nsplit, ...``) so causal chunks cost about the same.

Extra memory: the packed ``Q scale`` and ``dO`` (about twice each, padded to whole panels), the
transposed ``dQ`` accumulator (one, or one per key chunk, their total then bounded by
:data:`PARTIAL_BYTES`), ``D`` (one float per query row) and a few tiles per thread.

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

from ._microkernel import PANEL_WIDTH, pack_panel_rows, packed_matmul, packed_matmul_window
from ._parallel import parallel_region
from ._workspace import aligned_empty
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
def _probabilities(st, dpt, slope, lse_t, d_t, lse, drow, mask, has_mask, is_causal, wl, wr, softcap,
                   b, h, i0, i1, j0, j1):
    """Turn the transposed score tile ``st = K (Q scale)^T`` into ``P^T`` and ``dpt = V dO^T``
    into ``dS^T`` in place (keys [j0, j1) of query head (b, h) in rows, query rows [i0, i1) in the
    first ``i1 - i0`` columns; the padding columns are left as they are).  Returns True when
    every pair of the tile is live (structurally visible, in a row with ``lse > -inf``)."""
    nc = j1 - j0
    nr = i1 - i0
    dt = st.dtype.type
    zero = dt(0.0)
    cap = dt(softcap)
    inv_cap = dt(1.0 / softcap) if softcap > 0.0 else dt(0.0)
    dead = False
    for r in range(nr):  # the rows' lse (+inf for a row that attended to nothing: P = 0) and D
        x = lse[b, h, i0 + r]
        if x == -np.inf:
            dead = True
            lse_t[r] = np.inf
            d_t[r] = zero
        else:
            lse_t[r] = x
            d_t[r] = drow[b, h, i0 + r]
    clean = not dead
    bm = b if mask.shape[0] > 1 else 0
    hm = h if mask.shape[1] > 1 else 0
    for n in range(nc):
        j = j0 + n
        srow = st[n]  # C-contiguous row views: the loops below vectorise
        dprow = dpt[n]
        if softcap > 0.0:
            slope_row = slope[n]
            for r in range(nr):
                t = np.tanh(srow[r] * inv_cap)
                srow[r] = cap * t
                slope_row[r] = dt(1.0) - t * t
        if has_mask:
            if mask.shape[2] > 1:
                mcol = mask[bm, hm, i0:i1, j]
                for r in range(nr):
                    srow[r] += mcol[r]
            else:
                mj = mask[bm, hm, 0, j]
                for r in range(nr):
                    srow[r] += mj
        for r in range(nr):
            p = _exp_nonpos(srow[r] - lse_t[r])
            srow[r] = p
            dprow[r] = p * (dprow[r] - d_t[r])
        if softcap > 0.0:
            slope_row = slope[n]
            for r in range(nr):
                dprow[r] *= slope_row[r]
        lo, hi = _key_rows(j, i0, i1, is_causal, wl, wr)
        if lo > i0 or hi < i1:
            clean = False
            for r in range(lo - i0):
                srow[r] = zero
                dprow[r] = zero
            for r in range(hi - i0, nr):
                srow[r] = zero
                dprow[r] = zero
        if dead:  # exactly 0, also where dP is not finite
            for r in range(nr):
                if lse_t[r] == np.inf:
                    srow[r] = zero
                    dprow[r] = zero
    return clean


@njit(cache=True, nogil=True)
def _add_key_side(acc, prod, coef_t, x, x_scale, lse, b, h, i0, j0, clean, is_causal, wl, wr):
    """``acc += prod`` where ``prod = coef_t (x x_scale)`` (a [keys, cols] product over the
    tile's rows; ``prod`` may be wider than ``acc``); a product row that is not finite in a tile
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
                    c = coef_t[n, i - i0]
                    for d in range(w):
                        prod[n, d] += c * (x[i - i0, d] * x_scale)
        for d in range(w):
            acc[n, d] += prod[n, d]


@njit(cache=True, nogil=True)
def _add_query_side(acc_t, prod_t, ds_t, kb, i0, j0, clean, is_causal, wl, wr):
    """``acc_t += prod_t`` where ``prod_t = K^T dS^T`` ([D, rows of the tile]; ``prod_t`` may
    be wider); like :func:`_add_key_side`, column by column."""
    D, nr = acc_t.shape
    nc = kb.shape[0]
    if not clean:
        for r in range(nr):
            finite = True
            for d in range(D):
                x = prod_t[d, r]
                if x - x != 0:  # NaN or +-inf
                    finite = False
            if finite:
                continue
            lo, hi = _row_keys(i0 + r, j0, j0 + nc, is_causal, wl, wr)
            for d in range(D):
                prod_t[d, r] = 0.0
            for j in range(lo, hi):
                c = ds_t[j - j0, r]
                for d in range(D):
                    prod_t[d, r] += c * kb[j - j0, d]
    for d in range(D):
        arow = acc_t[d]
        prow = prod_t[d]
        for r in range(nr):
            arow[r] += prow[r]


@njit(cache=True, nogil=True)
def _key_block(g, q, k, v, lse, drow, mask, has_mask, is_causal, scale, wl, wr, softcap, group, br, pw,
               q_rows, g_rows, q_cols, g_cols, b, hk, j0, j1, dq_t, dk_blk, dv_blk, bufs):
    """All the work of keys [j0, j1) of kv head (b, hk): dK / dV of the block into ``dk_blk`` /
    ``dv_blk`` (overwritten), ``K^T dS^T`` added to the columns of ``dq_t`` [Hq, D, L] they
    reach.  ``q_rows`` / ``g_rows``: Q scale and dO as panels of rows [B, Hq, nLp, D, PW];
    ``q_cols`` / ``g_cols``: as panels of columns [B, Hq, nDp, L, PW].  ``bufs``: K^T of the
    block, the tiles ``st`` / ``dpt`` / ``slope``, dS^T as panels, the rows' lse and D, and the
    three products (they may need the live-pairs fix-up)."""
    kt_b, st_b, dpt_b, slope_b, dsw_b, lse_t, d_t, tv_b, tk_b, tq_b = bufs
    L, D = q.shape[2], q.shape[3]
    Dv = v.shape[3]
    nc = j1 - j0
    nDp = q_cols.shape[2]
    nDvp = g_cols.shape[2]
    kb = k[b, hk][j0:j1]
    vb = v[b, hk][j0:j1]
    kt = kt_b[: D * nc].reshape((D, nc))
    for n in range(nc):
        for d in range(D):
            kt[d, n] = kb[n, d]
    dk_blk[:, :] = 0.0
    dv_blk[:, :] = 0.0
    qlo, qhi = _query_range(j0, j1, L, is_causal, wl, wr)
    qlo = qlo // pw * pw  # tiles start on panel boundaries
    for gh in range(group):
        h = hk * group + gh
        for i0 in range(qlo, qhi, br):
            i1 = min(i0 + br, qhi)
            nr = i1 - i0
            p0 = i0 // pw
            p1 = (i1 + pw - 1) // pw
            nrp = (p1 - p0) * pw
            st = st_b[: nc * nrp].reshape((nc, nrp))
            dpt = dpt_b[: nc * nrp].reshape((nc, nrp))
            slope = slope_b[: nc * nrp].reshape((nc, nrp))
            packed_matmul_window(kb, q_rows[b, h], p0, p1, 0, D, st)
            packed_matmul_window(vb, g_rows[b, h], p0, p1, 0, Dv, dpt)
            clean = _probabilities(st, dpt, slope, lse_t, d_t, lse, drow, mask, has_mask, is_causal, wl, wr,
                                   softcap, b, h, i0, i1, j0, j1)
            tv = tv_b[: nc * nDvp * pw].reshape((nc, nDvp * pw))
            packed_matmul_window(st, g_cols[b, h], 0, nDvp, i0, nr, tv)
            _add_key_side(dv_blk, tv, st, g[b, h][i0:i1], q.dtype.type(1.0), lse, b, h, i0, j0, clean,
                          is_causal, wl, wr)
            tk = tk_b[: nc * nDp * pw].reshape((nc, nDp * pw))
            packed_matmul_window(dpt, q_cols[b, h], 0, nDp, i0, nr, tk)
            _add_key_side(dk_blk, tk, dpt, q[b, h][i0:i1], q.dtype.type(scale), lse, b, h, i0, j0, clean,
                          is_causal, wl, wr)
            dsw = dsw_b[: nrp * nc].reshape((nrp // pw, nc, pw))
            _pack_columns(dpt, dsw)
            tq = tq_b[: D * nrp].reshape((D, nrp))
            packed_matmul(kt, dsw, tq)
            _add_query_side(dq_t[h][:, i0:i1], tq, dpt, kb, i0, j0, clean, is_causal, wl, wr)


@njit(cache=True, nogil=True)
def _pack_head(x, scale, rows, dummy, x_rows, x_cols):
    """``x [L, W]`` times ``scale`` as panels of rows ``x_rows [nLp, W, PW]`` and of columns
    ``x_cols [nWp, L, PW]`` (zero padded); ``rows`` [nLp * PW] is scratch."""
    L = x.shape[0]
    for i in range(rows.shape[0]):
        rows[i] = i if i < L else -1
    pack_panel_rows(x, rows, dummy, x_rows)
    _pack_columns(x, x_cols)
    if scale != 1.0:
        s = x.dtype.type(scale)
        xr = x_rows.reshape(-1)
        for e in range(xr.shape[0]):
            xr[e] *= s
        xc = x_cols.reshape(-1)
        for e in range(xc.shape[0]):
            xc[e] *= s


@njit(cache=True, nogil=True, parallel=True)
def _backward(g, q, k, v, o, lse, mask, has_mask, is_causal, scale, wl, wr, softcap, br, bc, pw, nsplit,
              drow, q_rows, g_rows, q_cols, g_cols, dq_acc, dq, dk, dv):
    """``drow`` and the packed Q scale / dO, then one task per (batch, kv head, key chunk), then
    ``dq`` from ``dq_acc`` [nsplit, B, Hq, D, L] (the chunks' transposed copies, added in chunk
    order)."""
    B, Hq, L, D = q.shape
    Hkv, S, Dv = k.shape[1], k.shape[2], v.shape[3]
    group = Hq // Hkv
    dt = q.dtype
    for t in prange(B * Hq):
        b = t // Hq
        h = t % Hq
        for i in range(L):
            acc = dt.type(0.0)
            for d in range(Dv):
                acc += g[b, h, i, d] * o[b, h, i, d]
            drow[b, h, i] = acc
        rows = np.empty(q_rows.shape[2] * pw, np.int64)
        dummy = np.empty(1, dt)
        _pack_head(q[b, h], scale, rows, dummy, q_rows[b, h], q_cols[b, h])
        _pack_head(g[b, h], 1.0, rows, dummy, g_rows[b, h], g_cols[b, h])
    nkb = (S + bc - 1) // bc
    nDp = q_cols.shape[2]
    nDvp = g_cols.shape[2]
    for t in prange(B * Hkv * nsplit):
        c = t % nsplit
        hk = (t // nsplit) % Hkv
        b = t // (nsplit * Hkv)
        bufs = (_aligned(D * bc, dt), _aligned(bc * br, dt), _aligned(bc * br, dt), _aligned(bc * br, dt),
                _aligned(br * bc, dt), np.empty(br, dt), np.empty(br, dt), _aligned(bc * nDvp * pw, dt),
                _aligned(bc * nDp * pw, dt), _aligned(D * br, dt))
        dk_blk = np.empty((bc, D), dt)
        dv_blk = np.empty((bc, Dv), dt)
        for kbi in range(c, nkb, nsplit):
            j0 = kbi * bc
            j1 = min(j0 + bc, S)
            nc = j1 - j0
            _key_block(g, q, k, v, lse, drow, mask, has_mask, is_causal, scale, wl, wr, softcap, group, br, pw,
                       q_rows, g_rows, q_cols, g_cols, b, hk, j0, j1, dq_acc[c, b], dk_blk[:nc], dv_blk[:nc],
                       bufs)
            dk[b, hk, j0:j1] = dk_blk[:nc]
            dv[b, hk, j0:j1] = dv_blk[:nc]
    for t in prange(B * Hq):
        b = t // Hq
        h = t % Hq
        for d in range(D):
            for i in range(L):
                acc = dq_acc[0, b, h, d, i]
                for c in range(1, nsplit):
                    acc += dq_acc[c, b, h, d, i]
                dq[b, h, i, d] = 0.0 if lse[b, h, i] == -np.inf else acc * scale


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
    dk = np.empty((B, Hkv, S, D), dtype=dtype)  # every key block is written by its task (zeros
    dv = np.empty((B, Hkv, S, Dv), dtype=dtype)  # where no query row can see it)
    if dq.size == 0 and dk.size == 0 and dv.size == 0:
        return dq, dk, dv
    has_mask = mask is not None
    if not has_mask:
        mask = np.zeros((1, 1, 1, 1), dtype=dtype)
    br, bc, pw = BR, BC, PANEL_WIDTH[dtype]
    assert bc % pw == 0 and br % pw == 0  # key blocks and query tiles are whole panels
    nsplit = _split(B, Hkv, Hq, L, S, D, dtype.itemsize, bc)
    dq_acc = np.zeros((nsplit, B, Hq, D, L), dtype=dtype)
    drow = np.empty((B, Hq, L), dtype=dtype)
    n_rows = -(-L // pw)
    packed = (aligned_empty((B, Hq, n_rows, D, pw), dtype), aligned_empty((B, Hq, n_rows, Dv, pw), dtype),
              aligned_empty((B, Hq, -(-D // pw), L, pw), dtype), aligned_empty((B, Hq, -(-Dv // pw), L, pw), dtype))
    args = (grad_out, q, k, v, out, lse, mask, has_mask, bool(is_causal), float(scale), int(window_left),
            int(window_right), float(softcap), br, bc, pw, nsplit, drow, *packed, dq_acc, dq, dk, dv)
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
