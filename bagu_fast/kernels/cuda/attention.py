"""Numba CUDA kernel for the attention family: tiled scaled dot-product attention with an online
softmax (FlashAttention-2 style), one kernel per float dtype and value-chunk width.

Raw signature shared with the reference / cpu modules (inputs validated and normalised by
:mod:`bagu_fast.attention`):

``sdpa(q, k, v, mask, is_causal, scale, window_left, window_right, softcap) -> (out, lse)``

with ``q [B, Hq, L, D]``, ``k [B, Hkv, S, D]``, ``v [B, Hkv, S, Dv]`` (NumPy arrays or Numba
device arrays; anything exposing ``__cuda_array_interface__`` is viewed with
``cuda.as_cuda_array``), an optional additive ``mask [Bm, Hm, Lm, S]`` (size-1 dims broadcast),
top-left causal masking, a ``[i - left, i + right]`` key window (``-1`` = unbounded) and tanh
soft-capping (``0.0`` = off).  Returns ``out [B, Hq, L, Dv]`` and ``lse [B, Hq, L]`` in q's dtype:
NumPy when every input was NumPy (copy in, copy out), Numba device arrays otherwise.  NaN / inf
follow :mod:`bagu_fast.kernels.reference.attention`: a NaN / +inf score sets a per-row flag in
shared memory (the score then counts as -inf) and the epilogue writes a NaN row and NaN lse; a
row with no finite score writes its zero-weighted sum (0, or NaN from a masked NaN value) and
``lse = -inf``.

Kernel layout
-------------
One thread block (``NT = 128`` threads) per (batch, query head, value-column chunk, query tile of
``BM`` rows), flattened into a 1-D grid; the block walks only the key range its rows can see
(causal / window bounds computed per tile, so tiles entirely outside are skipped) in tiles of
``BN`` keys:

1. ``S = Q K^T`` for the ``BM x BN`` tile, accumulated over chunks of ``DC`` head dimensions (Q
   chunk and K chunk staged in shared memory, so any ``D`` works; a single-chunk Q is staged
   once).  Each thread owns one key column and ``BM * BN / NT`` rows of the tile, kept in
   registers (one K value from shared memory feeds all its rows);
2. scale, soft-cap, add the mask, hide invisible keys (``-inf``); the tile goes to shared memory;
3. per row (``NT / BM`` threads each, partial max / sum reduced through shared memory): new
   running max, correction ``exp(m_old - m_new)``, ``P = exp(S - m_new)``, running sum; a row
   that has seen only ``-inf`` keeps ``m = -inf`` and contributes nothing (no ``-inf - -inf``),
   so scores of any finite size never overflow;
4. ``acc = acc * corr + P V``: each thread owns one of the ``DVC`` value columns of the block and
   ``BM / (NT / DVC)`` rows, accumulated in registers across the whole key loop (V chunk staged in
   the shared buffer that held K).

``DVC`` is a compile-time constant (32, 64 or 128; the launcher picks the smallest that covers
``Dv``, so few threads idle); a ``Dv`` wider than 128 is split over more blocks, each recomputing
the scores of its rows.  Everything accumulates in the input dtype (the float32 kernels contain no
float64 arithmetic).  Static shared memory per block stays under 48 KiB: float32 ``BM = BN = 32,
DC = 128`` (~37 KiB), float64 ``BM = BN = 16, DC = 128`` (~35 KiB).  No warp shuffles, so the
kernels also run in the CUDA simulator.  One kernel per (dtype, DVC): ``_sdpa_f32_dv64`` etc.
"""
from __future__ import annotations

import math

import numpy as np
from numba import cuda, float32, float64, int32

__all__ = ["sdpa"]

NT = 128  # threads per block


def _make_kernel(np_dtype, nb_dtype, BM, BN, DC, DVC):
    """Build the kernel for one dtype and one value-chunk width ``DVC`` (closure constants)."""
    NEG_INF = np_dtype(-np.inf)
    POS_INF = np_dtype(np.inf)
    NAN = np_dtype(np.nan)
    ZERO = np_dtype(0.0)
    ONE = np_dtype(1.0)
    KVW = max(DC, DVC) + 1  # padded row of the K / V tile: lane n reads row n, conflict-free
    SW = BN + 1  # padded row of the score tile: thread r reads row r in the softmax step
    # score tile: thread owns key column tid % BN and rows tid // BN + t * RS, t < RPT
    assert NT % BN == 0 and (BM * BN) % NT == 0
    RS = NT // BN
    RPT = BM * BN // NT
    # output tile: thread owns value column tid % DVC and rows tid // DVC + t * GV, t < RPV
    assert NT % DVC == 0 and BM % (NT // DVC) == 0
    GV = NT // DVC
    RPV = BM // GV
    # softmax step: TPR threads per row (thread handles row tid % BM, columns tid // BM + u * TPR)
    assert NT % BM == 0
    TPR = NT // BM

    def kernel(q, k, v, mask, has_mask, is_causal, scale, softcap, wl, wr, out, lse):
        B = q.shape[0]
        Hq = q.shape[1]
        L = q.shape[2]
        D = q.shape[3]
        Hkv = k.shape[1]
        S = k.shape[2]
        Dv = v.shape[3]
        group = Hq // Hkv
        n_qt = (L + BM - 1) // BM
        n_dv = (Dv + DVC - 1) // DVC
        if n_dv < 1:
            n_dv = 1

        bid = cuda.blockIdx.x
        qt = bid % n_qt
        rest = bid // n_qt
        dvb = rest % n_dv
        rest = rest // n_dv
        h = rest % Hq
        b = rest // Hq
        if b >= B:  # uniform over the block
            return
        hk = h // group
        tid = cuda.threadIdx.x
        s_col = tid % BN
        s_row = tid // BN
        o_col = tid % DVC
        p_row = tid % BM
        p_part = tid // BM
        o_row = tid // DVC

        q0 = qt * BM
        q_end = min(q0 + BM, L)
        dv0 = dvb * DVC
        dvc = min(DVC, Dv - dv0)
        if dvc < 0:
            dvc = 0

        Qs = cuda.shared.array((BM, DC), dtype=nb_dtype)
        KVs = cuda.shared.array((BN, KVW), dtype=nb_dtype)
        Ss = cuda.shared.array((BM, SW), dtype=nb_dtype)
        m_s = cuda.shared.array(BM, dtype=nb_dtype)
        l_s = cuda.shared.array(BM, dtype=nb_dtype)
        c_s = cuda.shared.array(BM, dtype=nb_dtype)
        red_m = cuda.shared.array((TPR, BM), dtype=nb_dtype)
        red_s = cuda.shared.array((TPR, BM), dtype=nb_dtype)
        bad_s = cuda.shared.array(BM, dtype=int32)  # row saw a NaN / +inf score
        sacc = cuda.local.array(RPT, dtype=nb_dtype)
        oacc = cuda.local.array(RPV, dtype=nb_dtype)

        for t in range(RPV):
            oacc[t] = ZERO
        for r in range(tid, BM, NT):
            m_s[r] = NEG_INF
            l_s[r] = ZERO
            c_s[r] = ONE
            bad_s[r] = 0

        # keys any row of this tile can see
        last_q = q_end - 1
        k_lo = 0
        if wl >= 0:
            k_lo = max(0, q0 - wl)
        k_hi = S
        if wr >= 0:
            k_hi = min(k_hi, last_q + wr + 1)
        if is_causal != 0:
            k_hi = min(k_hi, last_q + 1)

        mb = 0
        if mask.shape[0] > 1:
            mb = b
        mh = 0
        if mask.shape[1] > 1:
            mh = h
        m_rows = mask.shape[2] > 1
        use_cap = softcap > ZERO

        n_dc = (D + DC - 1) // DC
        if n_dc == 1:  # Q fits one chunk: stage it once
            for e in range(tid, BM * D, NT):
                r = e // D
                c = e - r * D
                i = q0 + r
                if i < L:
                    Qs[r, c] = q[b, h, i, c]
                else:
                    Qs[r, c] = ZERO
        cuda.syncthreads()

        for k0 in range(k_lo, k_hi, BN):
            # ---- S = Q K^T over chunks of the head dimension (RPT scores per thread) ----
            for t in range(RPT):
                sacc[t] = ZERO
            for dci in range(n_dc):
                d0 = dci * DC
                dc = min(DC, D - d0)
                if n_dc > 1:
                    for e in range(tid, BM * dc, NT):
                        r = e // dc
                        c = e - r * dc
                        i = q0 + r
                        if i < L:
                            Qs[r, c] = q[b, h, i, d0 + c]
                        else:
                            Qs[r, c] = ZERO
                for e in range(tid, BN * dc, NT):
                    n = e // dc
                    c = e - n * dc
                    j = k0 + n
                    if j < S:
                        KVs[n, c] = k[b, hk, j, d0 + c]
                    else:
                        KVs[n, c] = ZERO
                cuda.syncthreads()
                for c in range(dc):
                    kv = KVs[s_col, c]
                    for t in range(RPT):
                        sacc[t] += Qs[s_row + t * RS, c] * kv
                cuda.syncthreads()

            # ---- scale, soft-cap, mask, visibility ----
            j = k0 + s_col
            for t in range(RPT):
                r = s_row + t * RS
                i = q0 + r
                visible = i < L and j < k_hi
                if is_causal != 0 and j > i:
                    visible = False
                if wl >= 0 and j < i - wl:
                    visible = False
                if wr >= 0 and j > i + wr:
                    visible = False
                s = NEG_INF
                if visible:
                    s = sacc[t] * scale
                    if use_cap:
                        s = softcap * math.tanh(s / softcap)
                    if has_mask != 0:
                        if m_rows:
                            s += mask[mb, mh, i, j]
                        else:
                            s += mask[mb, mh, 0, j]
                    if s != s or s == POS_INF:  # poisons the row (epilogue); -inf meanwhile
                        bad_s[r] = 1
                        s = NEG_INF
                Ss[r, s_col] = s
            cuda.syncthreads()

            # ---- online softmax: TPR threads per row, partial max / sum through shared ----
            m_old = m_s[p_row]
            mx = m_old
            for n in range(p_part, BN, TPR):
                mx = max(mx, Ss[p_row, n])
            red_m[p_part, p_row] = mx
            cuda.syncthreads()
            for u in range(TPR):
                mx = max(mx, red_m[u, p_row])
            tot = ZERO
            if mx == NEG_INF:  # nothing visible yet: keep m = -inf, l = 0
                for n in range(p_part, BN, TPR):
                    Ss[p_row, n] = ZERO
            else:
                for n in range(p_part, BN, TPR):
                    p = math.exp(Ss[p_row, n] - mx)
                    Ss[p_row, n] = p
                    tot += p
            red_s[p_part, p_row] = tot
            cuda.syncthreads()
            if p_part == 0:
                corr = ONE
                if mx != NEG_INF:
                    corr = math.exp(m_old - mx)  # m_old = -inf gives 0, never NaN
                    for u in range(1, TPR):
                        tot += red_s[u, p_row]
                    l_s[p_row] = l_s[p_row] * corr + tot
                    m_s[p_row] = mx
                c_s[p_row] = corr
            # ---- V chunk into the K buffer (all reads of K ended at the last barrier) ----
            for e in range(tid, BN * dvc, NT):
                n = e // dvc
                c = e - n * dvc
                j = k0 + n
                if j < S:
                    KVs[n, c] = v[b, hk, j, dv0 + c]
                else:
                    KVs[n, c] = ZERO
            cuda.syncthreads()

            # ---- acc = acc * corr + P V (RPV rows of one column per thread, in registers) ----
            # A tile that crosses a causal / window edge adds, per row, only the keys the row
            # can see: 0 * NaN from a hidden key's value must not leak in (tiling-dependent).
            k_last = min(k0 + BN, S) - 1
            full = True
            if is_causal != 0 and k_last > q0:
                full = False
            if wr >= 0 and k_last > q0 + wr:
                full = False
            if wl >= 0 and k0 < last_q - wl:
                full = False
            if o_col < dvc:
                for t in range(RPV):
                    oacc[t] *= c_s[o_row + t * GV]
                if full:
                    for n in range(BN):
                        vv = KVs[n, o_col]
                        for t in range(RPV):
                            oacc[t] += Ss[o_row + t * GV, n] * vv
                else:
                    for t in range(RPV):
                        r = o_row + t * GV
                        i = q0 + r
                        n_lo = 0
                        if wl >= 0:
                            n_lo = max(0, i - wl - k0)
                        hi = k_hi
                        if is_causal != 0:
                            hi = min(hi, i + 1)
                        if wr >= 0:
                            hi = min(hi, i + wr + 1)
                        n_hi = min(BN, hi - k0)
                        a = oacc[t]
                        for n in range(n_lo, n_hi):
                            a += Ss[r, n] * KVs[n, o_col]
                        oacc[t] = a
            cuda.syncthreads()

        # ---- epilogue ----
        if o_col < dvc:
            for t in range(RPV):
                r = o_row + t * GV
                i = q0 + r
                if i < L:
                    tot = l_s[r]
                    if bad_s[r] != 0:
                        out[b, h, i, dv0 + o_col] = NAN
                    elif tot > ZERO:
                        out[b, h, i, dv0 + o_col] = oacc[t] / tot
                    else:  # no key with a finite score: 0, or NaN from a masked NaN value
                        out[b, h, i, dv0 + o_col] = oacc[t]
        if dvb == 0:
            for r in range(tid, BM, NT):
                i = q0 + r
                if i < L:
                    tot = l_s[r]
                    if bad_s[r] != 0:
                        lse[b, h, i] = NAN
                    elif tot > ZERO:
                        lse[b, h, i] = m_s[r] + math.log(tot)
                    else:
                        lse[b, h, i] = NEG_INF

    return cuda.jit(kernel)


# tile sizes per dtype: (BM, BN, DC); value-chunk widths DVC; see the module docstring
TILES = {np.dtype(np.float32): (32, 32, 128), np.dtype(np.float64): (16, 16, 128)}
DV_CHUNKS = (32, 64, 128)

_sdpa_f32_dv32 = _make_kernel(np.float32, float32, 32, 32, 128, 32)
_sdpa_f32_dv64 = _make_kernel(np.float32, float32, 32, 32, 128, 64)
_sdpa_f32_dv128 = _make_kernel(np.float32, float32, 32, 32, 128, 128)
_sdpa_f64_dv32 = _make_kernel(np.float64, float64, 16, 16, 128, 32)
_sdpa_f64_dv64 = _make_kernel(np.float64, float64, 16, 16, 128, 64)
_sdpa_f64_dv128 = _make_kernel(np.float64, float64, 16, 16, 128, 128)

_KERNELS = {
    (np.dtype(np.float32), 32): _sdpa_f32_dv32,
    (np.dtype(np.float32), 64): _sdpa_f32_dv64,
    (np.dtype(np.float32), 128): _sdpa_f32_dv128,
    (np.dtype(np.float64), 32): _sdpa_f64_dv32,
    (np.dtype(np.float64), 64): _sdpa_f64_dv64,
    (np.dtype(np.float64), 128): _sdpa_f64_dv128,
}


def _sig(t: str) -> str:
    a4 = f"{t}[:, :, :, ::1]"
    return (f"void({a4}, {a4}, {a4}, {a4}, int64, int64, {t}, {t}, int64, int64, {a4}, "
            f"{t}[:, :, ::1])")


PTX_SIGNATURES = {
    f"_sdpa_{t[0]}{t[-2:]}_dv{dvc}": [_sig(t)] for t in ("float32", "float64") for dvc in DV_CHUNKS
}


def _is_device(x) -> bool:
    """GPU array: ``__cuda_array_interface__`` (CuPy, torch, Numba), or a simulator device array."""
    return hasattr(x, "__cuda_array_interface__") or hasattr(x, "copy_to_host")


def _to_device(x, dtype):
    if hasattr(x, "copy_to_host"):  # already a Numba (or simulator) device array
        return x
    if hasattr(x, "__cuda_array_interface__"):
        return cuda.as_cuda_array(x)
    return cuda.to_device(np.ascontiguousarray(x, dtype=dtype))


def sdpa(q, k, v, mask, is_causal, scale, window_left, window_right, softcap):
    inputs = [q, k, v] + ([] if mask is None else [mask])
    on_device = any(_is_device(x) for x in inputs)
    dtype = np.dtype(q.dtype)
    if dtype not in TILES:
        raise TypeError(f"sdpa cuda kernel supports float32 / float64, got {dtype}")
    B, Hq, L, _ = (int(s) for s in q.shape)
    S = int(k.shape[2])
    Dv = int(v.shape[3])
    BM = TILES[dtype][0]
    DVC = next((c for c in DV_CHUNKS if Dv <= c), DV_CHUNKS[-1])

    if B * Hq * L == 0 or S == 0:
        # nothing to launch: empty result, or every row sees no key
        out = np.zeros((B, Hq, L, Dv), dtype=dtype)
        lse = np.full((B, Hq, L), -np.inf, dtype=dtype)
        if on_device:
            return cuda.to_device(out), cuda.to_device(lse)
        return out, lse

    dq, dk, dv = (_to_device(x, dtype) for x in (q, k, v))
    if mask is None:
        dmask = cuda.to_device(np.zeros((1, 1, 1, 1), dtype=dtype))
        has_mask = 0
    else:
        dmask = _to_device(mask, dtype)
        has_mask = 1
    out = cuda.device_array((B, Hq, L, Dv), dtype=dtype)
    lse = cuda.device_array((B, Hq, L), dtype=dtype)

    n_qt = (L + BM - 1) // BM
    n_dv = max(1, (Dv + DVC - 1) // DVC)
    grid = B * Hq * n_dv * n_qt
    kernel = _KERNELS[dtype, DVC]
    t = dtype.type
    kernel[grid, NT](dq, dk, dv, dmask, np.int64(has_mask), np.int64(1 if is_causal else 0),
                     t(scale), t(softcap), np.int64(window_left), np.int64(window_right), out, lse)
    if on_device:
        return out, lse
    return out.copy_to_host(), lse.copy_to_host()
