"""NumPy reference for backpropagation through time of the recurrent family.

Raw signatures shared with :mod:`bagu_fast.kernels.cpu.recurrent_backward` (inputs validated by
:mod:`bagu_fast.recurrent` / :mod:`bagu_fast.recurrent_backward`; everything time major):

``forward(mode, x, lengths, h0, c0, layers) -> (output, h_n, c_n, records)``
    The forward of :mod:`bagu_fast.kernels.reference.recurrent` (same arguments, ``x`` ``[T, B, I]``)
    that also keeps, per layer and direction, what the backward needs: ``records[l][d]`` is a dict
    of ``[T, B, .]`` arrays indexed by time step (not processing order):

    * ``"inp"``: the layer's input, ``"h_prev"``: the hidden state the step read;
    * LSTM: ``"gates"`` (``σ(i), σ(f), tanh(g), σ(o)``), ``"c_prev"``, ``"tanh_c"`` (``tanh(c1)``),
      and with ``proj_size`` ``"h_raw"`` (``σ(o) ⊙ tanh(c1)`` before ``W_hr``);
    * GRU: ``"gates"`` (``r, z, n``) and ``"ghn"`` (``W_hn h + b_hn``);
    * RNN: ``"h1"`` (the step's new state).

``backward(mode, records, lengths, layers, grad_out, grad_h_n, grad_c_n) -> (dx, dh0, dc0, dlayers)``
    ``grad_out`` ``[T, B, D * Hout]``, ``grad_h_n`` ``[L * D, B, Hout]``, ``grad_c_n`` ``[L * D, B, H]``
    (LSTM) or ``None``, all arrays (zeros where no gradient flows).  ``dlayers[l][d]`` is
    ``(dw_ih, dw_hh, db_ih | None, db_hh | None, dw_hr | None)``, as the layer tuples.

A step at ``t >= lengths[b]`` leaves the state unchanged and writes a zero output, so its gradient
passes the state's gradient through and adds nothing else.
"""
from __future__ import annotations

import numpy as np

from .recurrent import GATES, sigmoid


def _step(mode, xg, h, c, w_hh, b_hh, w_hr):
    """One step for a batch (``xg = x_t @ w_ih.T + b_ih``): ``(h1, c1, saved)``."""
    gh = h @ w_hh.T
    if b_hh is not None:
        gh = gh + b_hh
    if mode == "lstm":
        H = c.shape[1]
        g = xg + gh
        i, f = sigmoid(g[:, :H]), sigmoid(g[:, H : 2 * H])
        gg, o = np.tanh(g[:, 2 * H : 3 * H]), sigmoid(g[:, 3 * H :])
        c1 = f * c + i * gg
        tanh_c = np.tanh(c1)
        h_raw = o * tanh_c
        h1 = h_raw if w_hr is None else h_raw @ w_hr.T
        saved = {"gates": np.concatenate([i, f, gg, o], axis=1), "c_prev": c, "tanh_c": tanh_c}
        if w_hr is not None:
            saved["h_raw"] = h_raw
        return h1, c1, saved
    if mode == "gru":
        H = h.shape[1]
        r = sigmoid(xg[:, :H] + gh[:, :H])
        z = sigmoid(xg[:, H : 2 * H] + gh[:, H : 2 * H])
        ghn = gh[:, 2 * H :]
        n = np.tanh(xg[:, 2 * H :] + r * ghn)
        return (1 - z) * n + z * h, None, {"gates": np.concatenate([r, z, n], axis=1), "ghn": ghn}
    pre = xg + gh
    h1 = np.tanh(pre) if mode == "rnn_tanh" else np.maximum(pre, pre.dtype.type(0))
    return h1, None, {"h1": h1}


def _forward_direction(mode, x, lengths, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr, reverse):
    T, B, _ = x.shape
    y = np.zeros((T, B, h0.shape[1]), dtype=x.dtype)
    h, c = h0.copy(), (None if c0 is None else c0.copy())
    steps = [None] * T
    for t in (range(T - 1, -1, -1) if reverse else range(T)):
        active = (t < lengths)[:, None]
        xg = x[t] @ w_ih.T
        if b_ih is not None:
            xg = xg + b_ih
        h1, c1, saved = _step(mode, xg, h, c, w_hh, b_hh, w_hr)
        saved["h_prev"] = h
        steps[t] = saved
        h = np.where(active, h1, h)
        if c is not None:
            c = np.where(active, c1, c)
        y[t] = np.where(active, h1, 0)
    record = {k: np.stack([s[k] for s in steps]) for k in steps[0]} if T else {}
    record["inp"] = x
    return y, h, c, record


def forward(mode, x, lengths, h0, c0, layers):
    D = len(layers[0])
    h_n = np.empty_like(h0)
    c_n = None if c0 is None else np.empty_like(c0)
    records = []
    inp = x
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
        inp = np.concatenate(outs, axis=2) if D > 1 else outs[0]
    return np.ascontiguousarray(inp), h_n, c_n, records


def _step_backward(mode, s, dh1, dc, w_hr):
    """Gradients of one step: ``(d_xg, d_gh, dh_prev_direct, dc_prev, dw_hr)``.

    ``d_xg`` is the gradient of ``x_t @ w_ih.T + b_ih``, ``d_gh`` of ``h @ w_hh.T + b_hh``
    (equal except for GRU, where ``r`` multiplies ``W_hn h + b_hn``).
    """
    if mode == "lstm":
        H = s["tanh_c"].shape[1]
        g = s["gates"]
        i, f, gg, o = g[:, :H], g[:, H : 2 * H], g[:, 2 * H : 3 * H], g[:, 3 * H :]
        dw_hr = None
        if w_hr is not None:
            dw_hr = dh1.T @ s["h_raw"]
            dh1 = dh1 @ w_hr
        tc = s["tanh_c"]
        dc1 = dc + dh1 * o * (1 - tc * tc)
        d = np.concatenate([dc1 * gg * i * (1 - i), dc1 * s["c_prev"] * f * (1 - f),
                            dc1 * i * (1 - gg * gg), dh1 * tc * o * (1 - o)], axis=1)
        return d, d, 0, dc1 * f, dw_hr
    if mode == "gru":
        H = s["ghn"].shape[1]
        g = s["gates"]
        r, z, n = g[:, :H], g[:, H : 2 * H], g[:, 2 * H :]
        dan = dh1 * (1 - z) * (1 - n * n)
        dar = dan * s["ghn"] * r * (1 - r)
        daz = dh1 * (s["h_prev"] - n) * z * (1 - z)
        d_xg = np.concatenate([dar, daz, dan], axis=1)
        d_gh = np.concatenate([dar, daz, dan * r], axis=1)
        return d_xg, d_gh, dh1 * z, None, None
    h1 = s["h1"]
    d = dh1 * (1 - h1 * h1) if mode == "rnn_tanh" else dh1 * (h1 > 0)
    return d, d, 0, None, None


def _backward_direction(mode, rec, lengths, w_ih, w_hh, b_ih, b_hh, w_hr, dy, dh, dc, reverse):
    """One layer, one direction: ``(dinp, dh0, dc0, (dw_ih, dw_hh, db_ih, db_hh, dw_hr))``."""
    x = rec["inp"]
    T = x.shape[0]
    dinp = np.zeros_like(x)
    dw_ih, dw_hh = np.zeros_like(w_ih), np.zeros_like(w_hh)
    db_ih = None if b_ih is None else np.zeros_like(b_ih)
    db_hh = None if b_hh is None else np.zeros_like(b_hh)
    dw_hr = None if w_hr is None else np.zeros_like(w_hr)
    dh = dh.copy()
    dc = None if dc is None else dc.copy()
    for t in (range(T) if reverse else range(T - 1, -1, -1)):
        active = (t < lengths)[:, None]
        s = {k: v[t] for k, v in rec.items()}
        dh1 = np.where(active, dh + dy[t], 0)
        dc1 = None if dc is None else np.where(active, dc, 0)
        d_xg, d_gh, dh_direct, dc_prev, dw_hr_t = _step_backward(mode, s, dh1, dc1, w_hr)
        dinp[t] = d_xg @ w_ih
        dw_ih += d_xg.T @ s["inp"]
        dw_hh += d_gh.T @ s["h_prev"]
        if db_ih is not None:
            db_ih += d_xg.sum(axis=0)
            db_hh += d_gh.sum(axis=0)
        if dw_hr is not None:
            dw_hr += dw_hr_t
        dh = np.where(active, dh_direct + d_gh @ w_hh, dh)
        if dc is not None:
            dc = np.where(active, dc_prev, dc)
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
            dy = dy_all[:, :, d * Hout : (d + 1) * Hout]
            di, dh, dc, grads = _backward_direction(
                mode, records[l][d], lengths, w_ih, w_hh, b_ih, b_hh, w_hr, dy, grad_h_n[k],
                None if grad_c_n is None else grad_c_n[k], reverse=d == 1)
            dinp = di if dinp is None else dinp + di
            dh0[k] = dh
            if dc0 is not None:
                dc0[k] = dc
            dirs.append(grads)
        dlayers[l] = dirs
        dy_all = dinp
    return dy_all, dh0, dc0, dlayers
