"""Backpropagation through time for :func:`bagu_fast.lstm`, :func:`~bagu_fast.gru` and :func:`~bagu_fast.rnn`.

Run the forward with ``return_cache=True``; it returns ``(output, states, cache)``.  Then::

    out, (h_n, c_n), cache = bagu_fast.lstm(x, weights, h0, c0, lengths=lengths, return_cache=True)
    grads = lstm_backward(cache, grad_output, grad_h_n, grad_c_n)
    grads["x"], grads["h0"], grads["c0"], grads["weight_ih_l0"], grads["bias_hh_l1_reverse"], ...

The gradients are those of torch's autograd through ``nn.LSTM`` / ``nn.GRU`` / ``nn.RNN`` with the
same weights (and ``pack_padded_sequence`` for ``lengths``): ``"x"`` in the forward's layout,
``"h0"`` (and ``"c0"``) always — the gradient with respect to the initial state, zeros when the
forward took the default — and one entry per weight, keyed by its ``state_dict`` name.  Steps past
a sequence's length do not touch the outputs or states, so their ``grad_output`` is ignored and
their ``"x"`` gradient is zero.

The cells work alike: ``(h1, c1), cache = lstm_cell(..., return_cache=True)``, then
``lstm_cell_backward(cache, grad_h1, grad_c1)`` gives ``"x"``, ``"h"``, ``"c"``, ``"w_ih"``,
``"w_hh"`` (and ``"b_ih"``, ``"b_hh"`` when given); ``gru_cell_backward`` / ``rnn_cell_backward``
take ``(cache, grad_h1)``.

The backend is the forward's: ``"reference"`` (NumPy) or ``"cpu"`` (Numba); the cache of a
``"cuda"`` forward is not supported yet (the forward raises ``ValueError``).
"""
from __future__ import annotations

from typing import Any, Dict, Optional

import numpy as np

from . import _dispatch
from ._validate import ArrayLike

__all__ = ["RecurrentCache", "lstm_backward", "gru_backward", "rnn_backward", "lstm_cell_backward",
           "gru_cell_backward", "rnn_cell_backward"]

_BACKENDS = ("reference", "cpu")
_KINDS = ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_hr")


class RecurrentCache:
    """What the backward of one recurrent forward needs (opaque; made by ``return_cache=True``).

    It holds references to the forward's inputs and weights, and per layer and direction the gate
    activations and states of every step.  Do not modify the forward's arrays before the backward.
    """

    __slots__ = ("mode", "backend", "dtype", "batched", "batch_first", "T", "B", "L", "D", "H",
                 "Hout", "lengths", "layers", "records", "out_shape", "h_shape", "c_shape", "cell_state")

    def __repr__(self) -> str:
        return (f"RecurrentCache(mode={self.mode!r}, backend={self.backend!r}, T={self.T}, B={self.B}, "
                f"layers={self.L}, directions={self.D}, dtype={self.dtype})")


def _kernel(backend: str):
    return _dispatch.kernels("recurrent_backward", backend)


def forward_with_cache(mode, x3, lengths, h0, c0, layers, batch_first, batched, backend):
    """The forward of :mod:`bagu_fast.recurrent` (validated, normalised arguments as its kernels
    take them) that also returns a :class:`RecurrentCache`: ``(output, h_n, c_n, cache)``."""
    if backend not in _BACKENDS:
        raise ValueError(f"return_cache=True supports backend 'reference' or 'cpu', got backend={backend!r}")
    xt = x3.transpose(1, 0, 2) if batch_first else x3
    xt = np.ascontiguousarray(xt)
    out, h_n, c_n, records = _kernel(backend).forward(mode, xt, lengths, h0, c0, layers)
    cache = RecurrentCache()
    cache.mode, cache.backend, cache.dtype = mode, backend, np.dtype(xt.dtype)
    cache.batched, cache.batch_first = batched, bool(batch_first and batched)
    cache.T, cache.B, cache.L, cache.D = int(xt.shape[0]), int(xt.shape[1]), len(layers), len(layers[0])
    cache.H, cache.Hout = int(layers[0][0][1].shape[0]) // {"lstm": 4, "gru": 3}.get(mode, 1), int(h0.shape[2])
    cache.lengths, cache.layers, cache.records = lengths, layers, records
    cache.cell_state = None  # a cell's forward sets its state shape
    if cache.batch_first:
        out = np.ascontiguousarray(out.transpose(1, 0, 2))
    cache.out_shape = tuple(out.shape) if batched else (cache.T, int(out.shape[2]))
    cache.h_shape = tuple(h_n.shape) if batched else (h_n.shape[0], h_n.shape[2])
    cache.c_shape = None if c_n is None else (tuple(c_n.shape) if batched else (c_n.shape[0], c_n.shape[2]))
    return out, h_n, c_n, cache


def _grad(value: Any, name: str, shape: tuple, dtype: np.dtype) -> Optional[np.ndarray]:
    if value is None:
        return None
    arr = _dispatch.prepare_array(value, name)
    if not isinstance(arr, np.ndarray):
        raise TypeError(f"{name} must be a host (NumPy) array for the reference / cpu backward")
    if arr.dtype != dtype:
        raise TypeError(f"{name} must have the forward's dtype {dtype}, got {arr.dtype}")
    if tuple(arr.shape) != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)} (as the forward's result), got {tuple(arr.shape)}")
    return arr


def _check_cache(cache: Any, family: str, cell: bool) -> None:
    fn = family + ("_cell" if cell else "")
    if not isinstance(cache, RecurrentCache):
        raise TypeError(f"cache must be the RecurrentCache returned by {fn}(..., return_cache=True), "
                        f"got {type(cache).__name__}")
    own = cache.mode.split("_")[0] + ("_cell" if cache.cell_state is not None else "")
    if own != fn:
        raise ValueError(f"cache comes from a {own} forward; pass it to {own}_backward, not {fn}_backward")


def _backward(family: str, cache: Any, grad_output, grad_h_n, grad_c_n) -> Dict[str, np.ndarray]:
    _check_cache(cache, family, cell=False)
    dt = cache.dtype
    g_out = _grad(grad_output, "grad_output", cache.out_shape, dt)
    g_h = _grad(grad_h_n, "grad_h_n", cache.h_shape, dt)
    g_c = _grad(grad_c_n, "grad_c_n", cache.c_shape, dt) if family == "lstm" else None
    if g_out is None and g_h is None and g_c is None:
        raise ValueError("grad_output, grad_h_n" + (" and grad_c_n are" if family == "lstm" else " are")
                         + " all None; pass at least one")
    T, B, L, D, H, Hout = cache.T, cache.B, cache.L, cache.D, cache.H, cache.Hout
    if g_out is None:
        g_out = np.zeros((T, B, D * Hout), dt)
    elif not cache.batched:
        g_out = g_out.reshape(T, 1, D * Hout)
    elif cache.batch_first:
        g_out = g_out.transpose(1, 0, 2)
    g_out = np.ascontiguousarray(g_out)
    g_h = np.zeros((L * D, B, Hout), dt) if g_h is None else np.ascontiguousarray(g_h).reshape(L * D, B, Hout)
    if family == "lstm":
        g_c = np.zeros((L * D, B, H), dt) if g_c is None else np.ascontiguousarray(g_c).reshape(L * D, B, H)
    dx, dh0, dc0, dlayers = _kernel(cache.backend).backward(
        cache.mode, cache.records, cache.lengths, cache.layers, g_out, g_h, g_c)
    if cache.batch_first:
        dx = dx.transpose(1, 0, 2)
    grads: Dict[str, np.ndarray] = {"x": np.ascontiguousarray(dx).reshape(
        cache.out_shape[:-1] + (dx.shape[2],))}
    grads["h0"] = dh0.reshape(cache.h_shape)
    if family == "lstm":
        grads["c0"] = dc0.reshape(cache.c_shape)
    for l, dirs in enumerate(dlayers):
        for d, tup in enumerate(dirs):
            sfx = f"_l{l}" + ("_reverse" if d else "")
            for kind, g in zip(_KINDS, tup):
                if g is not None:
                    grads[kind + sfx] = g
    return grads


def lstm_backward(
    cache: RecurrentCache,
    grad_output: Optional[ArrayLike],
    grad_h_n: Optional[ArrayLike] = None,
    grad_c_n: Optional[ArrayLike] = None,
) -> Dict[str, np.ndarray]:
    """Gradients of an :func:`bagu_fast.lstm` forward run with ``return_cache=True``.

    Parameters
    ----------
    cache : RecurrentCache
        The third value returned by ``lstm(..., return_cache=True)``.
    grad_output : array shaped like ``output``, or ``None``
        Gradient of the loss with respect to ``output`` (``None``: zero).
    grad_h_n, grad_c_n : arrays shaped like ``h_n`` / ``c_n``, optional
        Gradients with respect to the final states (``None``: zero).  At least one of the three
        must be given; all share the forward's dtype.

    Returns
    -------
    dict of str to array
        ``"x"`` (the forward's layout), ``"h0"``, ``"c0"`` (always: the gradient with respect to
        the initial states, zeros when the forward used the default) and every weight under its
        ``state_dict`` name (``"weight_ih_l0"``, ``"weight_hr_l1_reverse"``, ...).

    Examples
    --------
    >>> import numpy as np, bagu_fast.recurrent as rec
    >>> rng = np.random.default_rng(0)
    >>> w = {"weight_ih_l0": rng.standard_normal((8, 3)), "weight_hh_l0": rng.standard_normal((8, 2))}
    >>> out, (h_n, c_n), cache = rec.lstm(rng.standard_normal((4, 1, 3)), w, return_cache=True)
    >>> g = lstm_backward(cache, np.ones_like(out))
    >>> sorted(g), g["x"].shape
    (['c0', 'h0', 'weight_hh_l0', 'weight_ih_l0', 'x'], (4, 1, 3))
    """
    return _backward("lstm", cache, grad_output, grad_h_n, grad_c_n)


def gru_backward(
    cache: RecurrentCache, grad_output: Optional[ArrayLike], grad_h_n: Optional[ArrayLike] = None
) -> Dict[str, np.ndarray]:
    """Gradients of a :func:`bagu_fast.gru` forward run with ``return_cache=True``.

    Parameters
    ----------
    cache : RecurrentCache
        The third value returned by ``gru(..., return_cache=True)``.
    grad_output : array shaped like ``output``, or ``None``
    grad_h_n : array shaped like ``h_n``, optional
        At least one of the two must be given.

    Returns
    -------
    dict of str to array
        ``"x"``, ``"h0"`` (always) and every weight under its ``state_dict`` name.
    """
    return _backward("gru", cache, grad_output, grad_h_n, None)


def rnn_backward(
    cache: RecurrentCache, grad_output: Optional[ArrayLike], grad_h_n: Optional[ArrayLike] = None
) -> Dict[str, np.ndarray]:
    """Gradients of a :func:`bagu_fast.rnn` forward (``tanh`` or ``relu``) run with ``return_cache=True``.

    Parameters
    ----------
    cache : RecurrentCache
        The third value returned by ``rnn(..., return_cache=True)``.
    grad_output : array shaped like ``output``, or ``None``
    grad_h_n : array shaped like ``h_n``, optional
        At least one of the two must be given.

    Returns
    -------
    dict of str to array
        ``"x"``, ``"h0"`` (always) and every weight under its ``state_dict`` name.
    """
    return _backward("rnn", cache, grad_output, grad_h_n, None)


def _cell_backward(family: str, cache: Any, grad_h1, grad_c1) -> Dict[str, np.ndarray]:
    _check_cache(cache, family, cell=True)
    state, dt = cache.cell_state, cache.dtype
    g_h = _grad(grad_h1, "grad_h1", state, dt)
    g_c = _grad(grad_c1, "grad_c1", state, dt) if family == "lstm" else None
    if g_h is None and g_c is None:
        raise ValueError("grad_h1" + (" and grad_c1 are" if family == "lstm" else " is") + " None; pass a gradient")
    B, H = cache.B, cache.H
    zeros = np.zeros((1, B, H), dt)
    g_h = zeros if g_h is None else np.ascontiguousarray(g_h).reshape(1, B, H)
    if family == "lstm":
        g_c = zeros if g_c is None else np.ascontiguousarray(g_c).reshape(1, B, H)
    dx, dh0, dc0, dlayers = _kernel(cache.backend).backward(
        cache.mode, cache.records, cache.lengths, cache.layers, np.zeros((1, B, H), dt), g_h, g_c)
    grads = {"x": dx.reshape(state[:-1] + (dx.shape[2],)), "h": dh0.reshape(state)}
    if family == "lstm":
        grads["c"] = dc0.reshape(state)
    for name, g in zip(("w_ih", "w_hh", "b_ih", "b_hh"), dlayers[0][0]):
        if g is not None:
            grads[name] = g
    return grads


def lstm_cell_backward(
    cache: RecurrentCache, grad_h1: Optional[ArrayLike], grad_c1: Optional[ArrayLike] = None
) -> Dict[str, np.ndarray]:
    """Gradients of an :func:`bagu_fast.lstm_cell` step run with ``return_cache=True``.

    Parameters
    ----------
    cache : RecurrentCache
        The second value returned by ``lstm_cell(..., return_cache=True)``.
    grad_h1, grad_c1 : arrays shaped like ``h1`` / ``c1``, or ``None`` (zero; not both)

    Returns
    -------
    dict of str to array
        ``"x"``, ``"h"``, ``"c"`` (always, also for a default zero state), ``"w_ih"``, ``"w_hh"``
        and, when the step had them, ``"b_ih"``, ``"b_hh"``.
    """
    return _cell_backward("lstm", cache, grad_h1, grad_c1)


def gru_cell_backward(cache: RecurrentCache, grad_h1: ArrayLike) -> Dict[str, np.ndarray]:
    """Gradients of a :func:`bagu_fast.gru_cell` step run with ``return_cache=True``.

    Parameters
    ----------
    cache : RecurrentCache
        The second value returned by ``gru_cell(..., return_cache=True)``.
    grad_h1 : array shaped like ``h1``

    Returns
    -------
    dict of str to array
        ``"x"``, ``"h"`` (always), ``"w_ih"``, ``"w_hh"`` and, when given, ``"b_ih"``, ``"b_hh"``.
    """
    return _cell_backward("gru", cache, grad_h1, None)


def rnn_cell_backward(cache: RecurrentCache, grad_h1: ArrayLike) -> Dict[str, np.ndarray]:
    """Gradients of a :func:`bagu_fast.rnn_cell` step run with ``return_cache=True``.

    Parameters
    ----------
    cache : RecurrentCache
        The second value returned by ``rnn_cell(..., return_cache=True)``.
    grad_h1 : array shaped like ``h1``

    Returns
    -------
    dict of str to array
        ``"x"``, ``"h"`` (always), ``"w_ih"``, ``"w_hh"`` and, when given, ``"b_ih"``, ``"b_hh"``.
    """
    return _cell_backward("rnn", cache, grad_h1, None)
