"""Numba CUDA kernels for the attention backward pass (FlashAttention-2's backward), two kernels
per float dtype and output-column chunk width.

Raw signature and semantics: see :mod:`bagu_fast.kernels.reference.attention_backward` (inputs
NumPy or Numba device arrays, as the forward's :mod:`bagu_fast.kernels.cuda.attention`; NumPy in,
NumPy out).

Kernel layout
-------------
Both kernels recompute tiles of ``BM`` query rows x ``BN`` keys with the same device function
(:func:`_pair`): ``S = Q K^T`` and ``dP = dO V^T`` accumulated over chunks of ``DC`` feature
columns staged in shared memory (each of the ``NT = 128`` threads owns one key column and
``BM * BN / NT`` rows of the tile, in registers), then ``P = exp(S - lse)`` and
``dS = P (dP - D) (1 - tanh^2)`` into two shared tiles.  Pairs that are not live (outside the
causal / window bounds, or in a row with ``lse = -inf``) get ``P = dS = 0``.

* ``_dq_*``: one block per (batch, query head, query tile, output-column chunk) walks the key
  tiles its rows can see and accumulates ``dQ = scale * dS K`` in registers (each thread one of
  the ``DCH`` columns and ``BM / (NT / DCH)`` rows).  It also computes ``D = rowsum(dO * O)`` of
  its rows and writes it for the second kernel.
* ``_dkdv_*``: one block per (batch, kv head, key tile, output-column chunk) walks every query
  head of its group and the query tiles that can see its keys, and accumulates
  ``dV = P^T dO`` and ``dK = scale * dS^T Q`` in registers.

Every output element is written once by one block and summed in a fixed order: no atomics, the
result is deterministic.  A tile that is not clean (it crosses a causal / window edge or holds a
dead row) accumulates only its live pairs, so ``0 * NaN`` from hidden keys never leaks in.
``DCH`` is a compile-time constant, 64 or 128: the launcher picks the smaller that covers
``max(D, Dv)``; wider feature dimensions are split over more blocks, each recomputing its
tiles.  Static shared memory stays under 48 KiB (float32 ``BM = BN = 32``: 41 KiB, float64
``BM = BN = 16``: 37 KiB, ``DC = 128``); ptxas for sm_90: 117-153 registers, no spills, 64-256
byte stack frames.  No warp shuffles, so the kernels run in the CUDA simulator.
"""
from __future__ import annotations

import math

import numpy as np
from numba import cuda, float32, float64, int32

__all__ = ["sdpa_backward"]

NT = 128  # threads per block
DC = 128  # feature columns per staged chunk of the score products


@cuda.jit(device=True)
def _visible(i, j, is_causal, wl, wr):
    if is_causal != 0 and j > i:
        return False
    if wl >= 0 and j < i - wl:
        return False
    if wr >= 0 and j > i + wr:
        return False
    return True


def _make_kernels(np_dtype, nb_dtype, BM, BN, DCH):
    """The two kernels for one dtype, tile sizes and output-column chunk ``DCH``."""
    NEG_INF = np_dtype(-np.inf)
    ZERO = np_dtype(0.0)
    ONE = np_dtype(1.0)
    BW = DC + 1  # padded rows of the key-side staging buffer: lane n reads row n, conflict-free
    PW = BN + 1
    assert NT % BN == 0 and (BM * BN) % NT == 0 and NT % DCH == 0
    RS = NT // BN  # score tile: thread owns key column tid % BN, rows tid // BN + t * RS
    RPT = BM * BN // NT
    GO = NT // DCH  # output tile: thread owns column tid % DCH, rows tid // DCH + t * GO
    assert BM % GO == 0 and BN % GO == 0
    RPQ = BM // GO
    RPK = BN // GO

    @cuda.jit(device=True)
    def _pair(q, k, v, g, mask, has_mask, is_causal, scale, softcap, wl, wr, b, h, hk, q0, k0,
              A, Bs, Ps, dSs, lse_s, drow_s, dead_s, clean_s, tid):
        """P and dS of query rows [q0, q0 + BM) of head (b, h) and keys [k0, k0 + BN) of kv head
        (b, hk) into ``Ps`` / ``dSs``; ``clean_s[0]`` = 0 when some in-range pair is not live.
        ``lse_s`` / ``drow_s`` / ``dead_s`` hold the rows' lse, D and lse == -inf."""
        L = q.shape[2]
        D = q.shape[3]
        S = k.shape[2]
        Dv = v.shape[3]
        s_col = tid % BN
        s_row = tid // BN
        sacc = cuda.local.array(RPT, dtype=nb_dtype)
        dpacc = cuda.local.array(RPT, dtype=nb_dtype)
        for t in range(RPT):
            sacc[t] = ZERO
            dpacc[t] = ZERO
        if tid == 0:
            clean_s[0] = 1
        # S = Q K^T, then dP = dO V^T, over chunks of DC feature columns
        for which in range(2):
            width = D if which == 0 else Dv
            for d0 in range(0, width, DC):
                dc = min(DC, width - d0)
                for e in range(tid, BM * dc, NT):
                    r = e // dc
                    c = e - r * dc
                    i = q0 + r
                    x = ZERO
                    if i < L:
                        x = q[b, h, i, d0 + c] if which == 0 else g[b, h, i, d0 + c]
                    A[r, c] = x
                for e in range(tid, BN * dc, NT):
                    n = e // dc
                    c = e - n * dc
                    j = k0 + n
                    x = ZERO
                    if j < S:
                        x = k[b, hk, j, d0 + c] if which == 0 else v[b, hk, j, d0 + c]
                    Bs[n, c] = x
                cuda.syncthreads()
                if which == 0:
                    for c in range(dc):
                        kv = Bs[s_col, c]
                        for t in range(RPT):
                            sacc[t] += A[s_row + t * RS, c] * kv
                else:
                    for c in range(dc):
                        kv = Bs[s_col, c]
                        for t in range(RPT):
                            dpacc[t] += A[s_row + t * RS, c] * kv
                cuda.syncthreads()
        mb = b if mask.shape[0] > 1 else 0
        mh = h if mask.shape[1] > 1 else 0
        j = k0 + s_col
        for t in range(RPT):
            r = s_row + t * RS
            i = q0 + r
            p = ZERO
            ds = ZERO
            if i < L and j < S:
                if dead_s[r] == 0 and _visible(i, j, is_causal, wl, wr):
                    u = sacc[t] * scale
                    slope = ONE
                    if softcap > ZERO:
                        th = math.tanh(u / softcap)
                        u = softcap * th
                        slope = ONE - th * th
                    if has_mask != 0:
                        u += mask[mb, mh, i if mask.shape[2] > 1 else 0, j]
                    x = u - lse_s[r]
                    if x > ZERO:  # lse bounds every score: a rounding above it means 0 (NaN stays)
                        x = ZERO
                    p = math.exp(x)
                    ds = p * (dpacc[t] - drow_s[r]) * slope
                else:
                    clean_s[0] = 0
            Ps[r, s_col] = p
            dSs[r, s_col] = ds
        cuda.syncthreads()

    @cuda.jit(device=True)
    def _stage_rows(lse, drow, b, h, q0, L, lse_s, drow_s, dead_s, tid):
        for r in range(tid, BM, NT):
            i = q0 + r
            if i < L:
                x = lse[b, h, i]
                lse_s[r] = x
                drow_s[r] = drow[b, h, i]
                dead_s[r] = 1 if x == NEG_INF else 0
            else:
                lse_s[r] = NEG_INF
                drow_s[r] = ZERO
                dead_s[r] = 1

    def dq_kernel(g, q, k, v, o, lse, mask, has_mask, is_causal, scale, softcap, wl, wr, drow, dq):
        B = q.shape[0]
        Hq = q.shape[1]
        L = q.shape[2]
        D = q.shape[3]
        Hkv = k.shape[1]
        S = k.shape[2]
        Dv = v.shape[3]
        group = Hq // Hkv
        n_qt = (L + BM - 1) // BM
        n_cb = (D + DCH - 1) // DCH
        bid = cuda.blockIdx.x
        qt = bid % n_qt
        rest = bid // n_qt
        cb = rest % n_cb
        rest = rest // n_cb
        h = rest % Hq
        b = rest // Hq
        if b >= B:
            return
        hk = h // group
        tid = cuda.threadIdx.x
        q0 = qt * BM
        c0 = cb * DCH
        dch = min(DCH, D - c0)
        o_col = tid % DCH
        o_row = tid // DCH

        A = cuda.shared.array((BM, DC), dtype=nb_dtype)
        Bs = cuda.shared.array((BN, BW), dtype=nb_dtype)
        Ps = cuda.shared.array((BM, PW), dtype=nb_dtype)
        dSs = cuda.shared.array((BM, PW), dtype=nb_dtype)
        lse_s = cuda.shared.array(BM, dtype=nb_dtype)
        drow_s = cuda.shared.array(BM, dtype=nb_dtype)
        dead_s = cuda.shared.array(BM, dtype=int32)
        clean_s = cuda.shared.array(1, dtype=int32)
        acc = cuda.local.array(RPQ, dtype=nb_dtype)
        for t in range(RPQ):
            acc[t] = ZERO

        # rows' lse and D = dO . O (written for the dK / dV kernel by the first column chunk)
        for r in range(tid, BM, NT):
            i = q0 + r
            dsum = ZERO
            if i < L:
                x = lse[b, h, i]
                lse_s[r] = x
                dead_s[r] = 1 if x == NEG_INF else 0
                for d in range(Dv):
                    dsum += g[b, h, i, d] * o[b, h, i, d]
                if cb == 0:
                    drow[b, h, i] = dsum
            else:
                lse_s[r] = NEG_INF
                dead_s[r] = 1
            drow_s[r] = dsum
        cuda.syncthreads()

        last_q = min(q0 + BM, L) - 1
        k_lo = 0
        if wl >= 0:
            k_lo = max(0, q0 - wl)
        k_hi = S
        if wr >= 0:
            k_hi = min(k_hi, last_q + wr + 1)
        if is_causal != 0:
            k_hi = min(k_hi, last_q + 1)
        for k0 in range(k_lo, k_hi, BN):
            _pair(q, k, v, g, mask, has_mask, is_causal, scale, softcap, wl, wr, b, h, hk, q0, k0,
                  A, Bs, Ps, dSs, lse_s, drow_s, dead_s, clean_s, tid)
            for e in range(tid, BN * dch, NT):
                n = e // dch
                c = e - n * dch
                j = k0 + n
                Bs[n, c] = k[b, hk, j, c0 + c] if j < S else ZERO
            cuda.syncthreads()
            if o_col < dch:
                clean = clean_s[0] != 0
                for t in range(RPQ):
                    r = o_row + t * GO
                    i = q0 + r
                    a = acc[t]
                    if clean:
                        for n in range(BN):
                            a += dSs[r, n] * Bs[n, o_col]
                    elif i < L and dead_s[r] == 0:
                        for n in range(BN):
                            j = k0 + n
                            if j < S and _visible(i, j, is_causal, wl, wr):
                                a += dSs[r, n] * Bs[n, o_col]
                    acc[t] = a
            cuda.syncthreads()

        if o_col < dch:
            for t in range(RPQ):
                r = o_row + t * GO
                i = q0 + r
                if i < L:
                    dq[b, h, i, c0 + o_col] = ZERO if dead_s[r] != 0 else acc[t] * scale

    def dkdv_kernel(g, q, k, v, lse, mask, has_mask, is_causal, scale, softcap, wl, wr, drow, dk, dv):
        B = q.shape[0]
        Hq = q.shape[1]
        L = q.shape[2]
        D = q.shape[3]
        Hkv = k.shape[1]
        S = k.shape[2]
        Dv = v.shape[3]
        group = Hq // Hkv
        n_kt = (S + BN - 1) // BN
        n_cb = (max(D, Dv) + DCH - 1) // DCH
        bid = cuda.blockIdx.x
        kt = bid % n_kt
        rest = bid // n_kt
        cb = rest % n_cb
        rest = rest // n_cb
        hk = rest % Hkv
        b = rest // Hkv
        if b >= B:
            return
        tid = cuda.threadIdx.x
        k0 = kt * BN
        c0 = cb * DCH
        dchk = max(0, min(DCH, D - c0))
        dchv = max(0, min(DCH, Dv - c0))
        o_col = tid % DCH
        o_row = tid // DCH

        A = cuda.shared.array((BM, DC), dtype=nb_dtype)
        Bs = cuda.shared.array((BN, BW), dtype=nb_dtype)
        Ps = cuda.shared.array((BM, PW), dtype=nb_dtype)
        dSs = cuda.shared.array((BM, PW), dtype=nb_dtype)
        lse_s = cuda.shared.array(BM, dtype=nb_dtype)
        drow_s = cuda.shared.array(BM, dtype=nb_dtype)
        dead_s = cuda.shared.array(BM, dtype=int32)
        clean_s = cuda.shared.array(1, dtype=int32)
        acc_k = cuda.local.array(RPK, dtype=nb_dtype)
        acc_v = cuda.local.array(RPK, dtype=nb_dtype)
        for t in range(RPK):
            acc_k[t] = ZERO
            acc_v[t] = ZERO

        # query rows that can see a key of [k0, k_last]
        k_last = min(k0 + BN, S) - 1
        q_lo = 0
        if is_causal != 0:
            q_lo = k0
        if wr >= 0:
            q_lo = max(q_lo, k0 - wr)
        q_hi = L
        if wl >= 0:
            q_hi = min(q_hi, k_last + wl + 1)
        for gh in range(group):
            h = hk * group + gh
            for q0 in range(q_lo, q_hi, BM):
                _stage_rows(lse, drow, b, h, q0, L, lse_s, drow_s, dead_s, tid)
                cuda.syncthreads()
                _pair(q, k, v, g, mask, has_mask, is_causal, scale, softcap, wl, wr, b, h, hk, q0, k0,
                      A, Bs, Ps, dSs, lse_s, drow_s, dead_s, clean_s, tid)
                clean = clean_s[0] != 0
                # dV += P^T dO, then dK += dS^T Q, each operand's column chunk staged in A
                for which in range(2):
                    width = dchv if which == 0 else dchk
                    for e in range(tid, BM * width, NT):
                        r = e // width
                        c = e - r * width
                        i = q0 + r
                        x = ZERO
                        if i < L:
                            x = g[b, h, i, c0 + c] if which == 0 else q[b, h, i, c0 + c]
                        A[r, c] = x
                    cuda.syncthreads()
                    if o_col < width:
                        for t in range(RPK):
                            n = o_row + t * GO
                            j = k0 + n
                            a = acc_v[t] if which == 0 else acc_k[t]
                            if clean:
                                for r in range(BM):
                                    w = Ps[r, n] if which == 0 else dSs[r, n]
                                    a += w * A[r, o_col]
                            elif j < S:
                                for r in range(BM):
                                    i = q0 + r
                                    if i < L and dead_s[r] == 0 and _visible(i, j, is_causal, wl, wr):
                                        w = Ps[r, n] if which == 0 else dSs[r, n]
                                        a += w * A[r, o_col]
                            if which == 0:
                                acc_v[t] = a
                            else:
                                acc_k[t] = a
                    cuda.syncthreads()

        for t in range(RPK):
            n = o_row + t * GO
            j = k0 + n
            if j < S:
                if o_col < dchv:
                    dv[b, hk, j, c0 + o_col] = acc_v[t]
                if o_col < dchk:
                    dk[b, hk, j, c0 + o_col] = acc_k[t] * scale

    return cuda.jit(dq_kernel), cuda.jit(dkdv_kernel)


# tile sizes per dtype: (BM, BN); output-column chunk widths DCH (see the module docstring)
TILES = {np.dtype(np.float32): (32, 32), np.dtype(np.float64): (16, 16)}
COLUMN_CHUNKS = (64, 128)

_dq_f32_c64, _dkdv_f32_c64 = _make_kernels(np.float32, float32, 32, 32, 64)
_dq_f32_c128, _dkdv_f32_c128 = _make_kernels(np.float32, float32, 32, 32, 128)
_dq_f64_c64, _dkdv_f64_c64 = _make_kernels(np.float64, float64, 16, 16, 64)
_dq_f64_c128, _dkdv_f64_c128 = _make_kernels(np.float64, float64, 16, 16, 128)

_KERNELS = {
    (np.dtype(np.float32), 64): (_dq_f32_c64, _dkdv_f32_c64),
    (np.dtype(np.float32), 128): (_dq_f32_c128, _dkdv_f32_c128),
    (np.dtype(np.float64), 64): (_dq_f64_c64, _dkdv_f64_c64),
    (np.dtype(np.float64), 128): (_dq_f64_c128, _dkdv_f64_c128),
}


def _sigs(t: str) -> tuple[str, str]:
    a4 = f"{t}[:, :, :, ::1]"
    a3 = f"{t}[:, :, ::1]"
    opts = f"{a4}, int64, int64, {t}, {t}, int64, int64, {a3}"  # mask ... window right, drow
    return (f"void({a4}, {a4}, {a4}, {a4}, {a4}, {a3}, {opts}, {a4})",
            f"void({a4}, {a4}, {a4}, {a4}, {a3}, {opts}, {a4}, {a4})")


PTX_SIGNATURES = {}
for _t in ("float32", "float64"):
    for _c in COLUMN_CHUNKS:
        _dq_sig, _dkdv_sig = _sigs(_t)
        PTX_SIGNATURES[f"_dq_{_t[0]}{_t[-2:]}_c{_c}"] = [_dq_sig]
        PTX_SIGNATURES[f"_dkdv_{_t[0]}{_t[-2:]}_c{_c}"] = [_dkdv_sig]


def _is_device(x) -> bool:
    return hasattr(x, "__cuda_array_interface__") or hasattr(x, "copy_to_host")


def _to_device(x, dtype):
    if hasattr(x, "copy_to_host"):  # already a Numba (or simulator) device array
        return x
    if hasattr(x, "__cuda_array_interface__"):
        return cuda.as_cuda_array(x)
    return cuda.to_device(np.ascontiguousarray(x, dtype=dtype))


def sdpa_backward(grad_out, q, k, v, out, lse, mask, is_causal, scale, window_left, window_right, softcap):
    inputs = [grad_out, q, k, v, out, lse] + ([] if mask is None else [mask])
    on_device = any(_is_device(x) for x in inputs)
    dtype = np.dtype(q.dtype)
    if dtype not in TILES:
        raise TypeError(f"sdpa_backward cuda kernel supports float32 / float64, got {dtype}")
    B, Hq, L, D = (int(s) for s in q.shape)
    Hkv, S = int(k.shape[1]), int(k.shape[2])
    Dv = int(v.shape[3])
    BM, BN = TILES[dtype]
    width = max(D, Dv)
    DCH = next((c for c in COLUMN_CHUNKS if width <= c), COLUMN_CHUNKS[-1])

    if B * Hq * L == 0 or S == 0:
        grads = (np.zeros((B, Hq, L, D), dtype), np.zeros((B, Hkv, S, D), dtype), np.zeros((B, Hkv, S, Dv), dtype))
        return tuple(cuda.to_device(x) for x in grads) if on_device else grads

    dg, dq_in, dk_in, dv_in, do_, dlse = (_to_device(x, dtype) for x in (grad_out, q, k, v, out, lse))
    if mask is None:
        dmask = cuda.to_device(np.zeros((1, 1, 1, 1), dtype=dtype))
        has_mask = 0
    else:
        dmask = _to_device(mask, dtype)
        has_mask = 1
    drow = cuda.device_array((B, Hq, L), dtype=dtype)
    dq = cuda.device_array((B, Hq, L, D), dtype=dtype)
    # keys no query row can see keep a zero gradient (their blocks still run, and write zeros)
    dk = cuda.device_array((B, Hkv, S, D), dtype=dtype)
    dv = cuda.device_array((B, Hkv, S, Dv), dtype=dtype)
    dq_kernel, dkdv_kernel = _KERNELS[dtype, DCH]
    t = dtype.type
    opts = (dmask, np.int64(has_mask), np.int64(1 if is_causal else 0), t(scale), t(softcap),
            np.int64(window_left), np.int64(window_right), drow)
    grid_q = B * Hq * ((L + BM - 1) // BM) * ((D + DCH - 1) // DCH)
    dq_kernel[grid_q, NT](dg, dq_in, dk_in, dv_in, do_, dlse, *opts, dq)
    grid_k = B * Hkv * ((S + BN - 1) // BN) * ((width + DCH - 1) // DCH)
    dkdv_kernel[grid_k, NT](dg, dq_in, dk_in, dv_in, dlse, *opts, dk, dv)
    if on_device:
        return dq, dk, dv
    return dq.copy_to_host(), dk.copy_to_host(), dv.copy_to_host()
