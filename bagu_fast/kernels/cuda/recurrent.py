"""Numba CUDA kernels for the recurrent family (LSTM, GRU, Elman RNN).

Raw signature and semantics: see :mod:`bagu_fast.kernels.reference.recurrent`.  Inputs may be
NumPy arrays (copied in; results copied out as NumPy) or device arrays (anything with
``__cuda_array_interface__``; results stay on the device as Numba device arrays).

Per layer and direction:

1. ``_gemm_*``: the input projection of all time steps, ``xg[d] = x @ W_ih^T`` (``[T*B, I]`` by
   ``[G*H, I]``), a ``TILE x TILE`` (16 x 16) shared-memory tiled product reading both operands along their
   contiguous dimension (torch's layout, no transpose needed).
2. Per step one launch of ``_step_*`` for both directions (``blockIdx.z`` is the direction; the
   reverse direction does step ``T - 1 - s``): a block owns ``TILE`` batch rows x ``TILE`` hidden units and
   computes the ``G`` gate pre-activations of its units as a tiled product of the previous
   hidden state with the matching rows of ``W_hh`` (staged through shared memory), then applies
   the gates and the state update in registers: the recurrent product is fused with the gates.
   LSTM with ``proj_size`` writes ``o * tanh(c)`` and a second launch (``_proj_*``) multiplies it
   by ``W_hr``.
3. Rows whose sequence has ended (``t >= lengths[b]``, or not yet started in the reverse
   direction) carry their state unchanged and write zero outputs, so the final buffers are
   ``h_n`` / ``c_n``.

Hidden states are double-buffered (one read, one written per step).  Everything accumulates in
the input dtype; no warp shuffles, so the kernels also run in the CUDA simulator.  One set of
kernels per dtype (``*_f32``, ``*_f64``; shared-memory arrays need the dtype at compile time).
"""
from __future__ import annotations

import math
import os

import numpy as np
from numba import cuda, float32, float64, int64, types

__all__ = ["run"]

# Tile edge (threads per block = TILE^2).  The simulator runs every thread as a Python thread, so
# it uses 8: the same code, and small test shapes still span several tiles.
TILE = 8 if os.environ.get("NUMBA_ENABLE_CUDASIM") == "1" else 16
_TP = TILE + 1  # padded shared-memory row (a compile-time constant)
_MODES = {"lstm": 0, "gru": 1, "rnn_tanh": 2, "rnn_relu": 3}
_GATES = (4, 3, 1, 1)


def _make_kernels(np_dtype, nb_dtype):
    """The kernels for one float dtype (closure constants: the shared-memory dtype)."""
    ZERO = np_dtype(0)
    ONE = np_dtype(1)  # typed constants keep float32 kernels in float32 arithmetic

    @cuda.jit(device=True, inline=True)
    def _sigmoid(x):
        e = math.exp(-abs(x))  # e <= 1: never overflows
        if x >= ZERO:
            return ONE / (ONE + e)
        return e / (ONE + e)

    def gemm(x, w, out):
        """out[r, c] = sum_k x[r, k] * w[c, k]  (x [N, K], w [C, K], out [N, C])."""
        N, K = x.shape
        C = w.shape[0]
        tx = cuda.threadIdx.x
        ty = cuda.threadIdx.y
        r = cuda.blockIdx.y * TILE + ty
        c = cuda.blockIdx.x * TILE + tx
        xs = cuda.shared.array((TILE, _TP), dtype=nb_dtype)
        ws = cuda.shared.array((TILE, _TP), dtype=nb_dtype)
        acc = ZERO
        wr = cuda.blockIdx.x * TILE + ty  # the w row this thread stages
        for k0 in range(0, K, TILE):
            k = k0 + tx
            xs[ty, tx] = x[r, k] if (r < N and k < K) else ZERO
            ws[ty, tx] = w[wr, k] if (wr < C and k < K) else ZERO
            cuda.syncthreads()
            for kk in range(TILE):
                acc += xs[ty, kk] * ws[tx, kk]
            cuda.syncthreads()
        if r < N and c < C:
            out[r, c] = acc

    def step(mode, s, xg, w_hh0, w_hh1, b_ih0, b_ih1, b_hh0, b_hh1, lengths, hprev, hnext, c, mbuf, y, proj):
        """One time step of both directions; see the module docstring."""
        D, T, B, GH = xg.shape
        Hout = hprev.shape[2]
        G = _GATES_T[mode]
        H = GH // G
        tx = cuda.threadIdx.x
        ty = cuda.threadIdx.y
        d = cuda.blockIdx.z
        j0 = cuda.blockIdx.x * TILE
        b0 = cuda.blockIdx.y * TILE
        j = j0 + tx
        b = b0 + ty
        t = s if d == 0 else T - 1 - s
        w = w_hh0 if d == 0 else w_hh1
        hs = cuda.shared.array((TILE, _TP), dtype=nb_dtype)
        ws = cuda.shared.array((4, TILE, _TP), dtype=nb_dtype)
        acc = cuda.local.array(4, dtype=nb_dtype)
        for g in range(4):
            acc[g] = ZERO
        ju = j0 + ty  # the unit whose W_hh rows this thread stages
        for k0 in range(0, Hout, TILE):
            k = k0 + tx
            hs[ty, tx] = hprev[d, b, k] if (b < B and k < Hout) else ZERO
            for g in range(G):
                ws[g, ty, tx] = w[g * H + ju, k] if (ju < H and k < Hout) else ZERO
            cuda.syncthreads()
            for kk in range(TILE):
                hv = hs[ty, kk]
                for g in range(G):
                    acc[g] += hv * ws[g, tx, kk]
            cuda.syncthreads()
        if b >= B or j >= H:
            return
        active = t < lengths[b]
        if not active:
            if not proj:
                hnext[d, b, j] = hprev[d, b, j]
                y[t, b, d * Hout + j] = ZERO
            return
        bi = b_ih0 if d == 0 else b_ih1
        bh = b_hh0 if d == 0 else b_hh1
        gx = xg[d, t, b]
        if mode == 0:
            gi = _sigmoid(gx[j] + bi[j] + acc[0] + bh[j])
            gf = _sigmoid(gx[H + j] + bi[H + j] + acc[1] + bh[H + j])
            gg = math.tanh(gx[2 * H + j] + bi[2 * H + j] + acc[2] + bh[2 * H + j])
            go = _sigmoid(gx[3 * H + j] + bi[3 * H + j] + acc[3] + bh[3 * H + j])
            cn = gf * c[d, b, j] + gi * gg
            c[d, b, j] = cn
            hv = go * math.tanh(cn)
            if proj:
                mbuf[d, b, j] = hv
                return
        elif mode == 1:
            r = _sigmoid(gx[j] + bi[j] + acc[0] + bh[j])
            z = _sigmoid(gx[H + j] + bi[H + j] + acc[1] + bh[H + j])
            n = math.tanh(gx[2 * H + j] + bi[2 * H + j] + r * (acc[2] + bh[2 * H + j]))
            hv = (ONE - z) * n + z * hprev[d, b, j]
        else:
            pre = gx[j] + bi[j] + acc[0] + bh[j]
            if mode == 2:
                hv = math.tanh(pre)
            else:
                hv = ZERO if pre < ZERO else pre  # NaN passes through
        hnext[d, b, j] = hv
        y[t, b, d * Hout + j] = hv

    def proj_step(s, T, mbuf, w_hr0, w_hr1, lengths, hprev, hnext, y):
        """LSTM projection of one step, both directions: h = m @ W_hr^T (carry when inactive)."""
        D, B, H = mbuf.shape
        Hout = hprev.shape[2]
        tx = cuda.threadIdx.x
        ty = cuda.threadIdx.y
        d = cuda.blockIdx.z
        o = cuda.blockIdx.x * TILE + tx
        b = cuda.blockIdx.y * TILE + ty
        t = s if d == 0 else T - 1 - s
        w = w_hr0 if d == 0 else w_hr1
        ms = cuda.shared.array((TILE, _TP), dtype=nb_dtype)
        ws = cuda.shared.array((TILE, _TP), dtype=nb_dtype)
        acc = ZERO
        wr = cuda.blockIdx.x * TILE + ty
        for k0 in range(0, H, TILE):
            k = k0 + tx
            ms[ty, tx] = mbuf[d, b, k] if (b < B and k < H) else ZERO
            ws[ty, tx] = w[wr, k] if (wr < Hout and k < H) else ZERO
            cuda.syncthreads()
            for kk in range(TILE):
                acc += ms[ty, kk] * ws[tx, kk]
            cuda.syncthreads()
        if b >= B or o >= Hout:
            return
        if t < lengths[b]:
            hnext[d, b, o] = acc
            y[t, b, d * Hout + o] = acc
        else:
            hnext[d, b, o] = hprev[d, b, o]
            y[t, b, d * Hout + o] = ZERO

    return cuda.jit(gemm), cuda.jit(step), cuda.jit(proj_step)


_GATES_T = _GATES


@cuda.jit
def _transpose01(x, out):
    """out[j, i, k] = x[i, j, k] (batch-first <-> time-major)."""
    i, j, k = cuda.grid(3)
    if i < x.shape[0] and j < x.shape[1] and k < x.shape[2]:
        out[j, i, k] = x[i, j, k]


_gemm_f32, _step_f32, _proj_f32 = _make_kernels(np.float32, float32)
_gemm_f64, _step_f64, _proj_f64 = _make_kernels(np.float64, float64)
_KERNELS = {np.dtype(np.float32): (_gemm_f32, _step_f32, _proj_f32),
            np.dtype(np.float64): (_gemm_f64, _step_f64, _proj_f64)}


def _signatures(nb):
    a1, a2, a3, a4 = nb[::1], nb[:, ::1], nb[:, :, ::1], nb[:, :, :, ::1]
    i1 = int64[::1]
    return {
        "gemm": [(a2, a2, a2)],
        "step": [(int64, int64, a4, a2, a2, a1, a1, a1, a1, i1, a3, a3, a3, a3, a3, types.boolean)],
        "proj": [(int64, int64, a3, a2, a2, i1, a3, a3, a3)],
    }


_S32, _S64 = _signatures(float32), _signatures(float64)
PTX_SIGNATURES = {
    "_gemm_f32": _S32["gemm"], "_gemm_f64": _S64["gemm"],
    "_step_f32": _S32["step"], "_step_f64": _S64["step"],
    "_proj_f32": _S32["proj"], "_proj_f64": _S64["proj"],
    "_transpose01": [(float32[:, :, ::1], float32[:, :, ::1]), (float64[:, :, ::1], float64[:, :, ::1])],
}


# --------------------------------------------------------------------------------------------
# launcher
# --------------------------------------------------------------------------------------------
def _dev(a, dtype=None):
    """A device array for ``a`` (device arrays are viewed, host arrays copied in)."""
    if hasattr(a, "__cuda_array_interface__"):
        return cuda.as_cuda_array(a)
    return cuda.to_device(np.ascontiguousarray(a, dtype=dtype))


def _transpose(x):
    A, Bd, C = x.shape
    out = cuda.device_array((Bd, A, C), dtype=x.dtype)
    if x.size:
        tpb = (4, 4, 8)
        grid = (-(-A // 4), -(-Bd // 4), -(-C // 8))
        _transpose01[grid, tpb](x, out)
    return out


def _blocks(n):
    return max(1, -(-n // TILE))


def run(mode, x, lengths, h0, c0, layers, batch_first=False):
    host = not hasattr(x, "__cuda_array_interface__")
    xd = _dev(x)
    dtype = np.dtype(xd.dtype)
    gemm, step, proj_step = _KERNELS[dtype]
    if batch_first:
        xd = _transpose(xd)
    T, B, _ = xd.shape
    D = len(layers[0])
    L = len(layers)
    m = _MODES[mode]
    G = _GATES[m]
    Hout = int(h0.shape[2])
    H = int(layers[0][0][1].shape[0]) // G
    lens = cuda.to_device(np.ascontiguousarray(lengths, dtype=np.int64))
    h0d = _dev(h0)
    c0d = None if c0 is None else _dev(c0)
    h_n = cuda.device_array((L * D, B, Hout), dtype=dtype)
    c_n = None if c0 is None else cuda.device_array((L * D, B, H), dtype=dtype)
    zeros = cuda.to_device(np.zeros(G * H, dtype=dtype))
    dummy3 = cuda.device_array((1, 1, 1), dtype=dtype)
    dummy2 = cuda.device_array((1, 1), dtype=dtype)
    inp = xd
    tpb = (TILE, TILE)
    for l, dirs in enumerate(layers):
        I_l = int(inp.shape[2])
        proj = dirs[0][4] is not None
        xg = cuda.device_array((D, T, B, G * H), dtype=dtype)
        w_hh, b_ih, b_hh, w_hr = [], [], [], []
        for d, (wi, wh, bi, bh, wr) in enumerate(dirs):
            wi = _dev(wi, dtype)
            if T * B:
                gemm[(_blocks(G * H), _blocks(T * B)), tpb](inp.reshape(T * B, I_l), wi, xg[d].reshape(T * B, G * H))
            w_hh.append(_dev(wh, dtype))
            b_ih.append(zeros if bi is None else _dev(bi, dtype))
            b_hh.append(zeros if bh is None else _dev(bh, dtype))
            w_hr.append(_dev(wr, dtype) if proj else dummy2)
        if D == 1:
            w_hh, b_ih, b_hh, w_hr = w_hh * 2, b_ih * 2, b_hh * 2, w_hr * 2
        hbuf = [cuda.device_array((D, B, Hout), dtype=dtype) for _ in range(2)]
        hbuf[0].copy_to_device(h0d[l * D:(l + 1) * D])
        if c0d is not None:
            c = cuda.device_array((D, B, H), dtype=dtype)
            c.copy_to_device(c0d[l * D:(l + 1) * D])
        else:
            c = dummy3
        mbuf = cuda.device_array((D, B, H), dtype=dtype) if proj else dummy3
        y = cuda.device_array((T, B, D * Hout), dtype=dtype)
        if B:
            step_k = step[(_blocks(H), _blocks(B), D), tpb]  # configured once, launched T times
            proj_k = proj_step[(_blocks(Hout), _blocks(B), D), tpb]
            for s in range(T):
                hp, hq = hbuf[s % 2], hbuf[1 - s % 2]
                step_k(m, s, xg, w_hh[0], w_hh[1], b_ih[0], b_ih[1], b_hh[0], b_hh[1], lens, hp, hq, c, mbuf, y, proj)
                if proj:
                    proj_k(s, T, mbuf, w_hr[0], w_hr[1], lens, hp, hq, y)
        h_n[l * D:(l + 1) * D].copy_to_device(hbuf[T % 2])
        if c_n is not None:
            c_n[l * D:(l + 1) * D].copy_to_device(c)
        inp = y
    out = _transpose(inp) if batch_first else inp
    if host:
        return out.copy_to_host(), h_n.copy_to_host(), None if c_n is None else c_n.copy_to_host()
    return out, h_n, c_n
