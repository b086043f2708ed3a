"""NumPy reference for the recurrent family: the textbook step, a Python loop over time, one layer
and one direction at a time.

Raw signature shared with the cpu and cuda modules (inputs validated and normalised by
:mod:`bagu_fast.recurrent`):

``run(mode, x, lengths, h0, c0, layers, batch_first) -> (output, h_n, c_n)``

* ``mode``: ``"lstm"``, ``"gru"``, ``"rnn_tanh"`` or ``"rnn_relu"``.
* ``x`` ``[T, B, I]`` (time major; ``[B, T, I]`` when ``batch_first``), float32 or float64.
* ``lengths`` int64 ``[B]`` with ``0 <= lengths[b] <= T``: step ``t`` of sequence ``b`` is valid iff
  ``t < lengths[b]`` (packed-sequence semantics).
* ``h0`` ``[L * D, B, Hout]``, ``c0`` ``[L * D, B, H]`` (LSTM) or ``None``; index ``l * D + d``.
* ``layers``: a list of ``L`` layers, each a list of ``D`` (1 or 2) direction tuples
  ``(w_ih [G*H, I_l], w_hh [G*H, Hout], b_ih [G*H] | None, b_hh [G*H] | None, w_hr [Hout, H] | None)``
  laid out as torch (gate order LSTM ``i, f, g, o``; GRU ``r, z, n``; ``G`` = 4, 3, 1), with
  ``I_0 = I`` and ``I_l = D * Hout`` above; ``w_hr`` (LSTM ``proj_size``) makes ``Hout < H``.

Returns ``output`` ``[T, B, D * Hout]`` (``[B, T, D * Hout]`` when ``batch_first``; zero at invalid steps), ``h_n`` ``[L * D, B, Hout]`` (state
after each sequence's last valid step; the reverse direction starts at each sequence's own end, so
its final state is the one after step 0) and ``c_n`` ``[L * D, B, H]`` (LSTM) or ``None``.
A sequence of length 0 keeps its initial state.
"""
from __future__ import annotations

import numpy as np

GATES = {"lstm": 4, "gru": 3, "rnn_tanh": 1, "rnn_relu": 1}


def sigmoid(x: np.ndarray) -> np.ndarray:
    """``1 / (1 + e^-x)`` without overflow for any ``x`` (e^-|x| <= 1 is all that is computed)."""
    e = np.exp(-np.abs(x))
    one = x.dtype.type(1)
    return np.where(x >= 0, one / (one + e), e / (one + e))


def step(mode, xg, h, c, w_hh, b_hh, w_hr):
    """One time step for a batch: ``xg = x_t @ w_ih.T + b_ih`` already computed.

    Returns ``(h1, c1)`` (``c1`` is ``None`` except for LSTM).
    """
    gh = h @ w_hh.T
    if b_hh is not None:
        gh = gh + b_hh
    if mode == "lstm":
        H = c.shape[1]
        g = xg + gh
        i = sigmoid(g[:, :H])
        f = sigmoid(g[:, H : 2 * H])
        gg = np.tanh(g[:, 2 * H : 3 * H])
        o = sigmoid(g[:, 3 * H :])
        c1 = f * c + i * gg
        h1 = o * np.tanh(c1)
        if w_hr is not None:
            h1 = h1 @ w_hr.T
        return h1, c1
    if mode == "gru":
        H = h.shape[1]
        r = sigmoid(xg[:, :H] + gh[:, :H])
        z = sigmoid(xg[:, H : 2 * H] + gh[:, H : 2 * H])
        n = np.tanh(xg[:, 2 * H :] + r * gh[:, 2 * H :])
        return (1 - z) * n + z * h, None
    pre = xg + gh
    if mode == "rnn_tanh":
        return np.tanh(pre), None
    return np.maximum(pre, pre.dtype.type(0)), None  # relu; np.maximum keeps NaN (as torch)


def run_direction(mode, x, lengths, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr, reverse):
    """One layer, one direction: returns ``(y [T, B, Hout], h_n [B, Hout], c_n [B, H] | None)``."""
    T, B, _ = x.shape
    Hout = h0.shape[1]
    y = np.zeros((T, B, Hout), dtype=x.dtype)
    h, c = h0.copy(), (None if c0 is None else c0.copy())
    order = range(T - 1, -1, -1) if reverse else range(T)
    for t in order:
        active = (t < lengths)[:, None]  # the reverse direction starts at each sequence's end
        xg = x[t] @ w_ih.T
        if b_ih is not None:
            xg = xg + b_ih
        h1, c1 = step(mode, xg, h, c, w_hh, b_hh, w_hr)
        h = np.where(active, h1, h)
        if c is not None:
            c = np.where(active, c1, c)
        y[t] = np.where(active, h1, 0)
    return y, h, c


def run(mode, x, lengths, h0, c0, layers, batch_first=False):
    if batch_first:
        x = x.transpose(1, 0, 2)
    D = len(layers[0])
    h_n = np.empty_like(h0)
    c_n = None if c0 is None else np.empty_like(c0)
    inp = x
    for l, dirs in enumerate(layers):
        outs = []
        for d, (w_ih, w_hh, b_ih, b_hh, w_hr) in enumerate(dirs):
            k = l * D + d
            y, h, c = run_direction(mode, inp, lengths, h0[k], None if c0 is None else c0[k],
                                    w_ih, w_hh, b_ih, b_hh, w_hr, reverse=d == 1)
            outs.append(y)
            h_n[k] = h
            if c_n is not None:
                c_n[k] = c
        inp = np.concatenate(outs, axis=2) if D > 1 else outs[0]
    out = inp.transpose(1, 0, 2) if batch_first else inp
    return np.ascontiguousarray(out), h_n, c_n
