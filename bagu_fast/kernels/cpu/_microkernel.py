"""A register-blocked product ``C = A @ W`` against a pre-packed ``W``, written in LLVM IR.

Small products repeated many times (a recurrent layer's ``h @ W_hh^T`` per step, a few rows
against a weight block that stays in cache) lose much of their time in BLAS's per-call packing
and small-matrix paths, and a plain Numba loop cannot keep a tile of sums in vector registers
(its output array may alias its inputs, so LLVM will not promote the sums).  Here the tile of
sums is SSA vector values: one ``fma`` per (row, vector of columns) per ``k``.

Layout: ``W`` is packed as panels ``[n_panels, K, PW]`` (``PW`` = :data:`PANEL_WIDTH` columns,
two vectors of 64 bytes; zero columns pad the last panel), so each ``k`` reads one contiguous
row of the panel.  ``A`` is ``[n, K]`` and ``C`` is ``[n, n_panels * PW]``, both with unit
stride along their last axis.  Rows go in tiles of 8, 4, 2, 1; small tiles also split ``k``
into two interleaved sums so that enough independent ``fma`` chains hide its latency.
The order of the additions is fixed by the shapes alone, so results do not depend on threads.
Vectors are 512-bit in the IR; LLVM splits them where the CPU has narrower registers.
"""
from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

from ._workspace import aligned_empty

__all__ = ["PANEL_WIDTH", "pack_panels", "pack_panel_rows", "packed_matmul", "packed_matmul_prefixes", "packed_matmul_window",
           "whole_tiles"]

VECTOR_BYTES = 64
PANEL_VECTORS = 2
PANEL_WIDTH = {np.dtype(np.float32): 32, np.dtype(np.float64): 16}


def pack_panels(w: np.ndarray) -> np.ndarray:
    """``w [N, K]`` (rows are output columns) -> panels ``[ceil(N / PW), K, PW]`` (zero padded)."""
    N, K = w.shape
    pw = PANEL_WIDTH[w.dtype]
    n_panels = -(-N // pw)
    padded = np.zeros((n_panels * pw, K), dtype=w.dtype)
    padded[:N] = w
    out = aligned_empty((n_panels, K, pw), w.dtype)  # whole panel rows on cache lines
    out[...] = padded.reshape(n_panels, pw, K).transpose(0, 2, 1)
    return out


@njit(cache=True, nogil=True)
def pack_panel_rows(w, rows, extra, out):
    """Panels of a row selection in one pass: ``out[p, k, l] = w[rows[p * PW + l], k]`` for
    ``k < K``, and ``extra[rows[...]]`` at ``k = K`` when ``out`` has ``K + 1`` rows per panel
    (a bias row: the product with a constant-1 column of ``A``); zero where ``rows`` is -1
    (padding).  ``out [n_panels, K (+ 1), PW]``, ``rows [n_panels * PW]``."""
    n_panels, k_out, pw = out.shape
    K = w.shape[1]
    zero = out.dtype.type(0)
    buf = np.empty((16, pw), dtype=out.dtype)  # a 16 x PW piece, transposed in L1
    for p in range(n_panels):
        src = rows[p * pw:(p + 1) * pw]
        for k0 in range(0, K, 16):
            kn = min(16, K - k0)
            for l in range(pw):  # read 16 consecutive elements of each of the panel's rows
                if src[l] >= 0:
                    wr = w[src[l], k0:k0 + kn]
                    for kk in range(kn):
                        buf[kk, l] = wr[kk]
                else:
                    for kk in range(kn):
                        buf[kk, l] = zero
            for kk in range(kn):  # write whole panel rows
                o = out[p, k0 + kk]
                b = buf[kk]
                for l in range(pw):
                    o[l] = b[l]
        if k_out > K:
            for l in range(pw):
                out[p, K, l] = extra[src[l]] if src[l] >= 0 else zero


def _tile_codegen(rows: int, split_k: int, accumulate: bool):
    """IR for ``C[c_r0:c_r0+rows, c_col:c_col+PW] (+)= A[r0:r0+rows, :kn] @ W[panel, k0:k0+kn]``
    (``+=`` when ``accumulate``: the product is added to what ``C`` holds)."""

    def codegen(context, builder, sig, args):
        a_ty, _, w_ty, _, _, _, c_ty, _, _ = sig.args
        a_val, r0, w_val, panel, k0, K, c_val, c_r0, c_col = args
        a = context.make_array(a_ty)(context, builder, a_val)
        w = context.make_array(w_ty)(context, builder, w_val)
        c = context.make_array(c_ty)(context, builder, c_val)
        fty = context.get_value_type(a_ty.dtype)
        itemsize = context.get_abi_sizeof(fty)
        lanes = VECTOR_BYTES // itemsize
        vty = ir.VectorType(fty, lanes)
        i64 = ir.IntType(64)
        fma_name = f"llvm.fma.v{lanes}{'f32' if itemsize == 4 else 'f64'}"
        fma = cgutils.get_or_insert_function(builder.module, ir.FunctionType(vty, [vty] * 3), fma_name)
        zero_i = ir.Constant(i64, 0)

        a_ptr = cgutils.get_item_pointer(context, builder, a_ty, a, [r0, zero_i])
        w_ptr = cgutils.get_item_pointer(context, builder, w_ty, w, [panel, k0, zero_i])
        c_ptr = cgutils.get_item_pointer(context, builder, c_ty, c, [c_r0, zero_i])
        lda = builder.sdiv(cgutils.unpack_tuple(builder, a.strides, 2)[0], ir.Constant(i64, itemsize))
        ldc = builder.sdiv(cgutils.unpack_tuple(builder, c.strides, 2)[0], ir.Constant(i64, itemsize))
        pw = lanes * PANEL_VECTORS
        c_ptr = builder.gep(c_ptr, [c_col])

        zero_v = ir.Constant(vty, [ir.Constant(fty, 0.0)] * lanes)
        undef_v = ir.Constant(vty, ir.Undefined)
        splat_mask = ir.Constant(ir.VectorType(ir.IntType(32), lanes), [0] * lanes)

        def step(k, accs):
            """accs[r][v] += A[r, k] * W[panel, k, v*lanes : (v+1)*lanes]"""
            wrow = builder.gep(w_ptr, [builder.mul(k, ir.Constant(i64, pw))])
            wv = []
            for v in range(PANEL_VECTORS):
                p = builder.bitcast(builder.gep(wrow, [ir.Constant(i64, v * lanes)]), vty.as_pointer())
                wv.append(builder.load(p, align=itemsize))
            out = []
            for r in range(rows):
                ap = builder.gep(a_ptr, [builder.add(builder.mul(ir.Constant(i64, r), lda), k)])
                s = builder.load(ap, align=itemsize)
                splat = builder.shuffle_vector(builder.insert_element(undef_v, s, ir.Constant(i64, 0)), undef_v,
                                               splat_mask)
                out.append([builder.call(fma, [splat, wv[v], accs[r][v]]) for v in range(PANEL_VECTORS)])
            return out

        # C's tile is only read at the end, and it may be in memory (a recurrent step's input
        # projections): start its loads now, into L2 (L1 would lose it to the weights streaming
        # through); ~2 % of a B=64 H=512 LSTM step's product, measured.
        if accumulate:
            i8p = ir.IntType(8).as_pointer()
            i32 = ir.IntType(32)
            pf = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32]),
                                                "llvm.prefetch.p0i8")
            for r in range(rows):
                crow = builder.gep(c_ptr, [builder.mul(ir.Constant(i64, r), ldc)])
                for v in range(PANEL_VECTORS):
                    builder.call(pf, [builder.bitcast(builder.gep(crow, [ir.Constant(i64, v * lanes)]), i8p),
                                      i32(1), i32(2), i32(1)])
        n_acc = rows * PANEL_VECTORS * split_k
        # main loop: k advances by split_k, each split owning its own sums
        K_main = builder.mul(builder.sdiv(K, ir.Constant(i64, split_k)), ir.Constant(i64, split_k))
        entry = builder.block
        loop = builder.append_basic_block("mk.loop")
        after = builder.append_basic_block("mk.after")
        builder.cbranch(builder.icmp_signed(">", K_main, zero_i), loop, after)

        builder.position_at_end(loop)
        k_phi = builder.phi(i64)
        acc_phis = [builder.phi(vty) for _ in range(n_acc)]
        k_phi.add_incoming(zero_i, entry)
        for p in acc_phis:
            p.add_incoming(zero_v, entry)
        new_accs = []
        for u in range(split_k):
            base = u * rows * PANEL_VECTORS
            accs = [[acc_phis[base + r * PANEL_VECTORS + v] for v in range(PANEL_VECTORS)] for r in range(rows)]
            res = step(builder.add(k_phi, ir.Constant(i64, u)), accs)
            new_accs.extend(x for row in res for x in row)
        k_next = builder.add(k_phi, ir.Constant(i64, split_k))
        loop_end = builder.block
        k_phi.add_incoming(k_next, loop_end)
        for p, nv in zip(acc_phis, new_accs):
            p.add_incoming(nv, loop_end)
        builder.cbranch(builder.icmp_signed("<", k_next, K_main), loop, after)

        builder.position_at_end(after)
        merged = []
        for i in range(n_acc):
            ph = builder.phi(vty)
            ph.add_incoming(zero_v, entry)
            ph.add_incoming(new_accs[i], loop_end)
            merged.append(ph)
        # combine the splits, then the k left over when K is not a multiple of split_k
        sums = [[merged[r * PANEL_VECTORS + v] for v in range(PANEL_VECTORS)] for r in range(rows)]
        for u in range(1, split_k):
            base = u * rows * PANEL_VECTORS
            sums = [[builder.fadd(sums[r][v], merged[base + r * PANEL_VECTORS + v]) for v in range(PANEL_VECTORS)]
                    for r in range(rows)]
        if split_k > 1:
            tail = builder.append_basic_block("mk.tail")
            done = builder.append_basic_block("mk.done")
            before_tail = builder.block
            builder.cbranch(builder.icmp_signed("<", K_main, K), tail, done)
            builder.position_at_end(tail)
            tail_sums = step(K_main, sums)  # split_k == 2: at most one k left
            tail_end = builder.block
            builder.branch(done)
            builder.position_at_end(done)
            final = []
            for r in range(rows):
                row = []
                for v in range(PANEL_VECTORS):
                    ph = builder.phi(vty)
                    ph.add_incoming(sums[r][v], before_tail)
                    ph.add_incoming(tail_sums[r][v], tail_end)
                    row.append(ph)
                final.append(row)
            sums = final
        for r in range(rows):
            crow = builder.gep(c_ptr, [builder.mul(ir.Constant(i64, r), ldc)])
            for v in range(PANEL_VECTORS):
                p = builder.bitcast(builder.gep(crow, [ir.Constant(i64, v * lanes)]), vty.as_pointer())
                total = builder.fadd(builder.load(p, align=itemsize), sums[r][v]) if accumulate else sums[r][v]
                builder.store(total, p, align=itemsize)
        return context.get_dummy_value()

    return codegen


def _make_tile(rows: int, split_k: int, accumulate: bool = False):
    @intrinsic
    def tile(typingctx, a, r0, w, panel, k0, kn, c, c_r0, c_col):
        ok = (isinstance(a, types.Array) and isinstance(w, types.Array) and isinstance(c, types.Array)
              and a.ndim == 2 and w.ndim == 3 and c.ndim == 2 and a.dtype == w.dtype == c.dtype
              and a.dtype in (types.float32, types.float64) and w.layout == "C")  # a, c: unit stride along the last axis (the caller's contract)
        if not ok:
            return None
        i = types.intp
        return types.none(a, i, w, i, i, i, c, i, i), _tile_codegen(rows, split_k, accumulate)

    return tile


_tile8 = _make_tile(8, 1)
_tile4 = _make_tile(4, 2)
_tile2 = _make_tile(2, 2)
_tile1 = _make_tile(1, 2)
_tile8_add = _make_tile(8, 1, True)
_tile4_add = _make_tile(4, 2, True)
_tile2_add = _make_tile(2, 2, True)
_tile1_add = _make_tile(1, 2, True)


_BLOCK_BYTES = 1 << 18  # panels per pass over the rows: about this many bytes of W (stays in L2)


@njit(cache=True, nogil=True)
def whole_tiles(n, available):
    """``n`` rounded up to whole tiles of 8 rows, at most ``available``: when the rows past ``n``
    exist (and their results are thrown away), one 8-row tile beats a 4 + 2 + 1 remainder."""
    return min((n + 7) // 8 * 8, max(n, available))


@njit(cache=True, nogil=True)
def _panels_per_block(w):
    return max(1, _BLOCK_BYTES // (w.shape[1] * w.shape[2] * w.itemsize))


@njit(cache=True, nogil=True, inline="always")
def _tile(rows, accumulate, a, r0, w, panel, k0, kn, c, c_col):
    """The tile of ``rows`` (8, 4, 2 or 1) rows from ``r0``, overwriting or accumulating."""
    if rows == 8:
        if accumulate:
            _tile8_add(a, r0, w, panel, k0, kn, c, r0, c_col)
        else:
            _tile8(a, r0, w, panel, k0, kn, c, r0, c_col)
    elif rows == 4:
        if accumulate:
            _tile4_add(a, r0, w, panel, k0, kn, c, r0, c_col)
        else:
            _tile4(a, r0, w, panel, k0, kn, c, r0, c_col)
    elif rows == 2:
        if accumulate:
            _tile2_add(a, r0, w, panel, k0, kn, c, r0, c_col)
        else:
            _tile2(a, r0, w, panel, k0, kn, c, r0, c_col)
    elif accumulate:
        _tile1_add(a, r0, w, panel, k0, kn, c, r0, c_col)
    else:
        _tile1(a, r0, w, panel, k0, kn, c, r0, c_col)


@njit(cache=True, nogil=True)
def _rows_by_panels(a, w, c, p0, p1, k0, kn, col0, accumulate=False):
    """``c[:, col0 + (p - p0) * PW ...] (+)= a[:, :kn] @ W[p, k0:k0 + kn]`` for panels
    ``p0 <= p < p1``, rows in tiles of 8, then at most one each of 4, 2, 1 (``+=`` when
    ``accumulate``)."""
    n = a.shape[0]
    pw = w.shape[2]
    r = 0
    for rows in (8, 4, 2, 1):
        while r + rows <= n:
            for p in range(p0, p1):
                _tile(rows, accumulate, a, r, w, p, k0, kn, c, col0 + (p - p0) * pw)
            r += rows


@njit(cache=True, nogil=True)
def packed_matmul_window(a, w, p0, p1, k0, kn, c):
    """``c[:, :(p1 - p0) * PW] = a[:, :kn] @ W[p0:p1, k0:k0 + kn]``: the product with a window of
    the packed matrix (a tile of keys or values, in attention), no copy."""
    _rows_by_panels(a, w, c, p0, p1, k0, kn, 0)


@njit(cache=True, nogil=True)
def packed_matmul(a, w, c, accumulate=False):
    """``c[:, :n_panels * PW] = a @ W`` for panels ``w [n_panels, K, PW]`` (see :func:`pack_panels`);
    ``a [n, K]`` and ``c`` with unit stride along their last axis.  With ``accumulate``,
    ``c[:, :n_panels * PW] += a @ W`` (the product is summed first, then added to ``c``).

    The panels go in blocks of about 256 KiB, each block against every tile of rows, so that a
    block is read from memory once and then from L2."""
    n_panels = w.shape[0]
    per_block = _panels_per_block(w)
    for p0 in range(0, n_panels, per_block):
        _rows_by_panels(a, w, c, p0, min(p0 + per_block, n_panels), 0, w.shape[1], p0 * w.shape[2], accumulate)


@njit(cache=True, nogil=True)
def packed_matmul_prefixes(x, w, out, n_rows, t0, t1):
    """``out[t, :n] = x[t, :n] @ W`` with ``n = n_rows[t]`` (or more, up to whole tiles of rows
    when ``x`` has them), for ``t`` in ``[t0, t1)``: many short products against one ``W`` share
    each block of panels while it is in cache."""
    n_panels = w.shape[0]
    per_block = _panels_per_block(w)
    for p0 in range(0, n_panels, per_block):
        p1 = min(p0 + per_block, n_panels)
        for t in range(t0, t1):
            n = whole_tiles(n_rows[t], x.shape[1])
            if n > 0:
                _rows_by_panels(x[t, :n], w, out[t, :n], p0, p1, 0, w.shape[1], p0 * w.shape[2])
