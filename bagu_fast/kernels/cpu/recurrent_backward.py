"""Numba CPU backpropagation through time for the recurrent family.

Raw signatures and the record layout: see :mod:`bagu_fast.kernels.reference.recurrent_backward`
(same keys, so both backends' records read alike).

Per layer and direction:

* **Forward** (recording): the input projection of every step is one product
  ``[T * B, I] @ W_ih^T``; the time loop is one ``@njit(nogil=True)`` call per direction that
  multiplies ``h @ W_hh^T`` per step (:mod:`._microkernel`, ``W_hh`` packed once per call) and
  applies the gates, writing the activations and states the backward reads.
* **Backward**: one ``@njit`` call per direction runs the time loop backwards, producing the
  gradients of the gate pre-activations of every step (``[T, B, G * H]``, zero past a sequence's
  end) and the recurrent ``dG @ W_hh`` per step (:mod:`._microkernel` again).  The weight gradients then are **one product
  over all steps each**: ``dW_ih = dG^T @ X``, ``dW_hh = dG^T @ H_prev``, ``dW_hr = dH^T @ H_raw``
  (``[T * B]`` rows), the biases one column sum, the layer input's gradient ``dG @ W_ih``.

The per-step products run on the calling thread in an order fixed by the shapes; the products
over all steps are BLAS ``gemm`` calls on whole operands, the column sums NumPy's; results were
tested equal bit for bit under 1 and 2 BLAS threads.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit

from ._microkernel import pack_panels, packed_matmul

__all__ = ["forward", "backward"]


@njit(cache=True, nogil=True, inline="always")
def _sigmoid(v):
    if v >= 0:
        return 1.0 / (1.0 + math.exp(-v))
    e = math.exp(v)
    return e / (1.0 + e)


@njit(cache=True, nogil=True)
def _product_buffer(rows, packed):
    """The output of ``packed_matmul(a [rows, K], packed, out)``: whole panels wide."""
    return np.empty((rows, packed.shape[0] * packed.shape[2]), dtype=packed.dtype)


def _packed(w, dt):
    """Panels of ``w`` (``None``: an empty placeholder of the right type) for ``a @ w.T``."""
    return np.zeros((0, 0, 1), dt) if w is None else pack_panels(np.ascontiguousarray(w))


# --------------------------------------------------------------------------------------------
# forward time loops (xg = x @ W_ih^T + b_ih precomputed for every step)
# --------------------------------------------------------------------------------------------
@njit(cache=True, nogil=True)
def _lstm_forward(xg, lengths, h0, c0, w_hh_p, b_hh, w_hr_p, has_proj, reverse,
                  y, gates, h_prev, c_prev, tanh_c, h_raw):
    T, B, G = xg.shape
    H = G // 4
    h = h0.copy()
    c = c0.copy()
    hr = np.empty((B, H), dtype=xg.dtype)
    gh = _product_buffer(B, w_hh_p)
    h1 = _product_buffer(B, w_hr_p) if has_proj else hr
    for s in range(T):
        t = T - 1 - s if reverse else s
        h_prev[t] = h
        c_prev[t] = c
        packed_matmul(h, w_hh_p, gh)
        for b in range(B):
            for j in range(H):
                i = _sigmoid(xg[t, b, j] + gh[b, j] + b_hh[j])
                f = _sigmoid(xg[t, b, H + j] + gh[b, H + j] + b_hh[H + j])
                g = math.tanh(xg[t, b, 2 * H + j] + gh[b, 2 * H + j] + b_hh[2 * H + j])
                o = _sigmoid(xg[t, b, 3 * H + j] + gh[b, 3 * H + j] + b_hh[3 * H + j])
                c1 = f * c[b, j] + i * g
                tc = math.tanh(c1)
                gates[t, b, j] = i
                gates[t, b, H + j] = f
                gates[t, b, 2 * H + j] = g
                gates[t, b, 3 * H + j] = o
                tanh_c[t, b, j] = tc
                hr[b, j] = o * tc
                if t < lengths[b]:
                    c[b, j] = c1
        if has_proj:
            h_raw[t] = hr
            packed_matmul(hr, w_hr_p, h1)
        for b in range(B):
            if t < lengths[b]:
                for j in range(h.shape[1]):
                    h[b, j] = h1[b, j]
                    y[t, b, j] = h1[b, j]
    return h, c


@njit(cache=True, nogil=True)
def _gru_forward(xg, lengths, h0, w_hh_p, b_hh, reverse, y, gates, h_prev, ghn):
    T, B, G = xg.shape
    H = G // 3
    h = h0.copy()
    gh = _product_buffer(B, w_hh_p)
    for s in range(T):
        t = T - 1 - s if reverse else s
        h_prev[t] = h
        packed_matmul(h, w_hh_p, gh)
        for b in range(B):
            active = t < lengths[b]
            for j in range(H):
                r = _sigmoid(xg[t, b, j] + gh[b, j] + b_hh[j])
                z = _sigmoid(xg[t, b, H + j] + gh[b, H + j] + b_hh[H + j])
                hn = gh[b, 2 * H + j] + b_hh[2 * H + j]
                n = math.tanh(xg[t, b, 2 * H + j] + r * hn)
                gates[t, b, j] = r
                gates[t, b, H + j] = z
                gates[t, b, 2 * H + j] = n
                ghn[t, b, j] = hn
                if active:
                    h1 = (1.0 - z) * n + z * h[b, j]
                    h[b, j] = h1
                    y[t, b, j] = h1
    return h


@njit(cache=True, nogil=True)
def _rnn_forward(xg, lengths, h0, w_hh_p, b_hh, relu, reverse, y, h1s, h_prev):
    T, B, H = xg.shape
    h = h0.copy()
    gh = _product_buffer(B, w_hh_p)
    for s in range(T):
        t = T - 1 - s if reverse else s
        h_prev[t] = h
        packed_matmul(h, w_hh_p, gh)
        for b in range(B):
            active = t < lengths[b]
            for j in range(H):
                pre = xg[t, b, j] + gh[b, j] + b_hh[j]
                if relu:
                    h1 = 0.0 if pre < 0 else pre  # NaN stays NaN, as np.maximum
                else:
                    h1 = math.tanh(pre)
                h1s[t, b, j] = h1
                if active:
                    h[b, j] = h1
                    y[t, b, j] = h1
    return h


# --------------------------------------------------------------------------------------------
# backward time loops: gradients of the gate pre-activations of every step
# --------------------------------------------------------------------------------------------
@njit(cache=True, nogil=True)
def _masked_sum(dh, dy, t, lengths, out):
    B, Hout = dh.shape
    for b in range(B):
        active = t < lengths[b]
        for j in range(Hout):
            out[b, j] = dh[b, j] + dy[t, b, j] if active else 0.0


@njit(cache=True, nogil=True)
def _lstm_backward(gates, c_prev, tanh_c, lengths, dy, dh_n, dc_n, w_hhT_p, w_hrT_p, has_proj, reverse, dg, dh1s):
    T, B, G = gates.shape
    H = G // 4
    dh = dh_n.copy()
    dc = dc_n.copy()
    dh1 = np.empty(dh.shape, dtype=dh.dtype)
    dhh = _product_buffer(B, w_hhT_p)
    dhr = _product_buffer(B, w_hrT_p) if has_proj else dh1
    for s in range(T):
        t = s if reverse else T - 1 - s
        _masked_sum(dh, dy, t, lengths, dh1)
        if has_proj:
            dh1s[t] = dh1
            packed_matmul(dh1, w_hrT_p, dhr)
        for b in range(B):
            if t < lengths[b]:
                for j in range(H):
                    i = gates[t, b, j]
                    f = gates[t, b, H + j]
                    g = gates[t, b, 2 * H + j]
                    o = gates[t, b, 3 * H + j]
                    tc = tanh_c[t, b, j]
                    dc1 = dc[b, j] + dhr[b, j] * o * (1.0 - tc * tc)
                    dg[t, b, j] = dc1 * g * i * (1.0 - i)
                    dg[t, b, H + j] = dc1 * c_prev[t, b, j] * f * (1.0 - f)
                    dg[t, b, 2 * H + j] = dc1 * i * (1.0 - g * g)
                    dg[t, b, 3 * H + j] = dhr[b, j] * tc * o * (1.0 - o)
                    dc[b, j] = dc1 * f
        packed_matmul(dg[t], w_hhT_p, dhh)
        for b in range(B):
            if t < lengths[b]:
                for j in range(dh.shape[1]):
                    dh[b, j] = dhh[b, j]
    return dh, dc


@njit(cache=True, nogil=True)
def _gru_backward(gates, ghn, h_prev, lengths, dy, dh_n, w_hhT_p, reverse, dxg, dgh):
    T, B, G = gates.shape
    H = G // 3
    dh = dh_n.copy()
    dh1 = np.empty(dh.shape, dtype=dh.dtype)
    dhh = _product_buffer(B, w_hhT_p)
    for s in range(T):
        t = s if reverse else T - 1 - s
        _masked_sum(dh, dy, t, lengths, dh1)
        for b in range(B):
            if t < lengths[b]:
                for j in range(H):
                    r = gates[t, b, j]
                    z = gates[t, b, H + j]
                    n = gates[t, b, 2 * H + j]
                    dan = dh1[b, j] * (1.0 - z) * (1.0 - n * n)
                    dar = dan * ghn[t, b, j] * r * (1.0 - r)
                    daz = dh1[b, j] * (h_prev[t, b, j] - n) * z * (1.0 - z)
                    dxg[t, b, j] = dar
                    dxg[t, b, H + j] = daz
                    dxg[t, b, 2 * H + j] = dan
                    dgh[t, b, j] = dar
                    dgh[t, b, H + j] = daz
                    dgh[t, b, 2 * H + j] = dan * r
        packed_matmul(dgh[t], w_hhT_p, dhh)
        for b in range(B):
            if t < lengths[b]:
                for j in range(H):
                    dh[b, j] = dh1[b, j] * gates[t, b, H + j] + dhh[b, j]
    return dh


@njit(cache=True, nogil=True)
def _rnn_backward(h1s, lengths, dy, dh_n, w_hhT_p, relu, reverse, dg):
    T, B, H = h1s.shape
    dh = dh_n.copy()
    dh1 = np.empty(dh.shape, dtype=dh.dtype)
    dhh = _product_buffer(B, w_hhT_p)
    for s in range(T):
        t = s if reverse else T - 1 - s
        _masked_sum(dh, dy, t, lengths, dh1)
        for b in range(B):
            if t < lengths[b]:
                for j in range(H):
                    h1 = h1s[t, b, j]
                    if relu:
                        dg[t, b, j] = dh1[b, j] if h1 > 0 else 0.0
                    else:
                        dg[t, b, j] = dh1[b, j] * (1.0 - h1 * h1)
        packed_matmul(dg[t], w_hhT_p, dhh)
        for b in range(B):
            if t < lengths[b]:
                for j in range(H):
                    dh[b, j] = dhh[b, j]
    return dh


# --------------------------------------------------------------------------------------------
# drivers
# --------------------------------------------------------------------------------------------
def _bias(b, n, dtype):
    return np.zeros(n, dtype) if b is None else np.ascontiguousarray(b)


def _forward_direction(mode, x, lengths, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr, reverse):
    T, B, I = x.shape
    GH, Hout = w_hh.shape
    dt = x.dtype
    xg = np.dot(x.reshape(T * B, I), w_ih.T)
    if b_ih is not None:
        xg += b_ih
    xg = xg.reshape(T, B, GH)
    w_hh_p = _packed(w_hh, dt)
    bh = _bias(b_hh, GH, dt)
    y = np.zeros((T, B, Hout), dt)
    h_prev = np.empty((T, B, Hout), dt)
    rec = {"inp": x, "h_prev": h_prev}
    c = None
    if mode == "lstm":
        H = GH // 4
        rec.update(gates=np.empty((T, B, GH), dt), c_prev=np.empty((T, B, H), dt), tanh_c=np.empty((T, B, H), dt))
        has_proj = w_hr is not None
        w_hr_p = _packed(w_hr, dt)
        h_raw = np.empty((T, B, H), dt) if has_proj else np.zeros((0, 0, 0), dt)
        if has_proj:
            rec["h_raw"] = h_raw
        h, c = _lstm_forward(xg, lengths, np.ascontiguousarray(h0), np.ascontiguousarray(c0), w_hh_p, bh, w_hr_p,
                             has_proj, reverse, y, rec["gates"], h_prev, rec["c_prev"], rec["tanh_c"], h_raw)
    elif mode == "gru":
        rec.update(gates=np.empty((T, B, GH), dt), ghn=np.empty((T, B, GH // 3), dt))
        h = _gru_forward(xg, lengths, np.ascontiguousarray(h0), w_hh_p, bh, reverse, y, rec["gates"], h_prev,
                         rec["ghn"])
    else:
        rec["h1"] = np.empty((T, B, GH), dt)
        h = _rnn_forward(xg, lengths, np.ascontiguousarray(h0), w_hh_p, bh, mode == "rnn_relu", reverse, y,
                         rec["h1"], h_prev)
    return y, h, c, rec


def forward(mode, x, lengths, h0, c0, layers):
    D = len(layers[0])
    h_n = np.empty_like(h0)
    c_n = None if c0 is None else np.empty_like(c0)
    records = []
    inp = np.ascontiguousarray(x)
    for l, dirs in enumerate(layers):
        outs, recs = [], []
        for d, (w_ih, w_hh, b_ih, b_hh, w_hr) in enumerate(dirs):
            k = l * D + d
            y, h, c, rec = _forward_direction(mode, inp, lengths, h0[k], None if c0 is None else c0[k],
                                              w_ih, w_hh, b_ih, b_hh, w_hr, reverse=d == 1)
            outs.append(y)
            recs.append(rec)
            h_n[k] = h
            if c_n is not None:
                c_n[k] = c
        records.append(recs)
        inp = np.ascontiguousarray(np.concatenate(outs, axis=2)) if D > 1 else outs[0]
    return inp, h_n, c_n, records


def _backward_direction(mode, rec, lengths, w_ih, w_hh, b_ih, b_hh, w_hr, dy, dh_n, dc_n, reverse):
    """``(dinp, dh0, dc0, (dw_ih, dw_hh, db_ih, db_hh, dw_hr))``; the weight gradients one product each."""
    x = rec["inp"]
    T, B, I = x.shape
    GH, Hout = w_hh.shape
    dt = x.dtype
    w_hhT_p = _packed(w_hh.T, dt)
    dxg = np.zeros((T, B, GH), dt)
    dgh = dxg
    dc = None
    dw_hr = None
    if mode == "lstm":
        has_proj = w_hr is not None
        dh1s = np.zeros((T, B, Hout), dt) if has_proj else np.zeros((0, 0, 0), dt)
        w_hrT_p = _packed(None if w_hr is None else w_hr.T, dt)
        dh, dc = _lstm_backward(rec["gates"], rec["c_prev"], rec["tanh_c"], lengths, dy, dh_n, dc_n, w_hhT_p, w_hrT_p,
                                has_proj, reverse, dxg, dh1s)
        if has_proj:
            dw_hr = np.dot(dh1s.reshape(T * B, Hout).T, rec["h_raw"].reshape(T * B, rec["h_raw"].shape[2]))
    elif mode == "gru":
        dgh = np.zeros((T, B, GH), dt)
        dh = _gru_backward(rec["gates"], rec["ghn"], rec["h_prev"], lengths, dy, dh_n, w_hhT_p, reverse, dxg, dgh)
    else:
        dh = _rnn_backward(rec["h1"], lengths, dy, dh_n, w_hhT_p, mode == "rnn_relu", reverse, dxg)
    dxg2, dgh2 = dxg.reshape(T * B, GH), dgh.reshape(T * B, GH)
    dw_ih = np.dot(dxg2.T, x.reshape(T * B, I))
    dw_hh = np.dot(dgh2.T, rec["h_prev"].reshape(T * B, Hout))
    db_ih = None if b_ih is None else dxg2.sum(axis=0)
    db_hh = None if b_hh is None else dgh2.sum(axis=0)
    dinp = np.dot(dxg2, w_ih).reshape(T, B, I)
    return dinp, dh, dc, (dw_ih, dw_hh, db_ih, db_hh, dw_hr)


def backward(mode, records, lengths, layers, grad_out, grad_h_n, grad_c_n):
    L, D = len(layers), len(layers[0])
    Hout = grad_h_n.shape[2]
    dh0 = np.empty_like(grad_h_n)
    dc0 = None if grad_c_n is None else np.empty_like(grad_c_n)
    dlayers = [None] * L
    dy_all = grad_out
    for l in range(L - 1, -1, -1):
        dinp = None
        dirs = []
        for d, (w_ih, w_hh, b_ih, b_hh, w_hr) in enumerate(layers[l]):
            k = l * D + d
            dy = np.ascontiguousarray(dy_all[:, :, d * Hout : (d + 1) * Hout])
            di, dh, dc, grads = _backward_direction(
                mode, records[l][d], lengths, w_ih, w_hh, b_ih, b_hh, w_hr, dy,
                np.ascontiguousarray(grad_h_n[k]), None if grad_c_n is None else np.ascontiguousarray(grad_c_n[k]),
                reverse=d == 1)
            dinp = di if dinp is None else dinp + di
            dh0[k] = dh
            if dc0 is not None:
                dc0[k] = dc
            dirs.append(grads)
        dlayers[l] = dirs
        dy_all = dinp
    return dy_all, dh0, dc0, dlayers
