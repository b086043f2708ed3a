"""Recurrent networks with torch's conventions: LSTM, GRU and Elman RNN cells and layers.

A trained ``torch.nn.LSTM`` / ``nn.GRU`` / ``nn.RNN`` runs here unchanged: pass its
``state_dict()`` (any mapping of torch's parameter names to arrays) and the same input::

    out, (h_n, c_n) = bagu_fast.lstm(x, model.state_dict(), batch_first=True, lengths=lengths)

The number of layers, the directions, the biases and LSTM's ``proj_size`` are read from the keys
and shapes.  ``lengths`` gives packed-sequence semantics without a ``PackedSequence``: outputs past
a sequence's end are zero, ``h_n`` / ``c_n`` are the states after its last valid step, and the
reverse direction starts at each sequence's own end.

This module only checks and reshapes; the kernels live in
``bagu_fast/kernels/{reference,cpu,cuda}/recurrent.py``.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Optional, Tuple

import numpy as np

from . import _dispatch, _validate
from ._validate import ArrayLike

__all__ = [
    "lstm_cell",
    "gru_cell",
    "rnn_cell",
    "lstm",
    "gru",
    "rnn",
    "lstm_param_count",
    "gru_param_count",
    "rnn_param_count",
]

_GATES = {"lstm": 4, "gru": 3, "rnn_tanh": 1, "rnn_relu": 1}
_KEY = re.compile(r"^(weight_ih|weight_hh|bias_ih|bias_hh|weight_hr)_l(\d+)(_reverse)?$")


# --------------------------------------------------------------------------------------------
# helpers (checks and shape logic only; nothing here computes a recurrence)
# --------------------------------------------------------------------------------------------
def _rnn_mode(nonlinearity: Any) -> str:
    if not isinstance(nonlinearity, str) or nonlinearity not in ("tanh", "relu"):
        raise ValueError(f"nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
    return "rnn_" + nonlinearity


def _shape(arr: Any) -> tuple:
    return tuple(int(s) for s in arr.shape)


def _expect_shape(arr: Any, name: str, shape: tuple, what: str = "") -> None:
    if _shape(arr) != shape:
        raise ValueError(f"{name} must have shape {shape}{what}, got {_shape(arr)}")


def _host_ints(value: Any, name: str) -> np.ndarray:
    """``value`` as a host int64 array (integer dtypes only, GPU arrays copied out)."""
    arr = _dispatch.prepare_array(value, name)
    arr = _dispatch.host(arr)
    if arr.size == 0 and arr.dtype == np.float64:  # an empty list: no values to misread
        return arr.astype(np.int64)
    if arr.dtype == np.bool_ or not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"{name} must hold integers, got dtype {arr.dtype}")
    return arr.astype(np.int64)


def _parse_weights(weights: Any, mode: str) -> tuple:
    """Check a torch-style state_dict and return ``(layers, arrays_by_name, H, Hout, L, D)``.

    ``layers[l][d] = (w_ih, w_hh, b_ih, b_hh, w_hr)`` with prepared arrays (NumPy or device).
    """
    if not isinstance(weights, Mapping):
        raise TypeError(
            f"weights must be a mapping of torch parameter names to arrays (e.g. model.state_dict()), "
            f"got {type(weights).__name__}"
        )
    G = _GATES[mode]
    entries: dict[tuple, str] = {}
    for key in weights:
        m = _KEY.match(key) if isinstance(key, str) else None
        if m is None:
            raise ValueError(
                f"weights has an unexpected key {key!r}; expected torch's names weight_ih_l<k>, "
                "weight_hh_l<k>, bias_ih_l<k>, bias_hh_l<k> (+ '_reverse', weight_hr_l<k> for LSTM proj_size)"
            )
        kind, layer, rev = m.group(1), int(m.group(2)), m.group(3) is not None
        if m.group(2) != str(layer):
            raise ValueError(f"weights has an unexpected key {key!r} (layer number with leading zeros)")
        entries[(kind, layer, rev)] = key
    if ("weight_ih", 0, False) not in entries:
        raise ValueError("weights is missing the key 'weight_ih_l0'")
    L = 1 + max(layer for _, layer, _ in entries)
    D = 2 if any(rev for _, _, rev in entries) else 1
    has_bias = ("bias_ih", 0, False) in entries or ("bias_hh", 0, False) in entries
    has_proj = ("weight_hr", 0, False) in entries
    if has_proj and mode != "lstm":
        raise ValueError("weights has the key 'weight_hr_l0', but only an LSTM has a projection (proj_size)")
    kinds = ["weight_ih", "weight_hh"] + (["bias_ih", "bias_hh"] if has_bias else []) + (["weight_hr"] if has_proj else [])
    expected = {(kind, l, d == 1) for l in range(L) for d in range(D) for kind in kinds}
    for k in sorted(expected - set(entries)):
        name = f"{k[0]}_l{k[1]}" + ("_reverse" if k[2] else "")
        raise ValueError(
            f"weights is missing the key {name!r} (the keys describe {L} layer(s), "
            f"{'bidirectional' if D == 2 else 'one direction'}{', with biases' if has_bias else ''}"
            f"{', with proj_size' if has_proj else ''})"
        )
    for k in sorted(set(entries) - expected):
        raise ValueError(f"weights has an unexpected key {entries[k]!r} (not consistent with the other keys)")

    arrays = {entries[k]: _dispatch.prepare_array(weights[entries[k]], f"weights[{entries[k]!r}]") for k in entries}
    w_hh0 = arrays["weight_hh_l0"]
    if len(w_hh0.shape) != 2 or w_hh0.shape[0] % G or w_hh0.shape[0] == 0:
        raise ValueError(
            f"weights['weight_hh_l0'] must have shape ({G} * hidden_size, hidden_size or proj_size), "
            f"got {_shape(w_hh0)}"
        )
    H = int(w_hh0.shape[0]) // G
    Hout = int(w_hh0.shape[1])
    if has_proj:
        w_hr0 = arrays["weight_hr_l0"]
        if len(w_hr0.shape) != 2 or int(w_hr0.shape[1]) != H:
            raise ValueError(f"weights['weight_hr_l0'] must have shape (proj_size, {H}), got {_shape(w_hr0)}")
        if not 1 <= Hout < H:
            raise ValueError(
                f"weights['weight_hh_l0'] must have shape ({G * H}, proj_size) with 0 < proj_size < hidden_size "
                f"= {H}, got {_shape(w_hh0)}"
            )
    elif Hout != H:
        raise ValueError(f"weights['weight_hh_l0'] must have shape ({G * H}, {H}), got {_shape(w_hh0)}")
    w_ih0 = arrays["weight_ih_l0"]
    if len(w_ih0.shape) != 2 or int(w_ih0.shape[0]) != G * H or int(w_ih0.shape[1]) < 1:
        raise ValueError(f"weights['weight_ih_l0'] must have shape ({G * H}, input_size), got {_shape(w_ih0)}")
    I0 = int(w_ih0.shape[1])
    dtype = _validate.float_arrays(**{f"weights[{k!r}]": a for k, a in arrays.items()})
    layers = []
    for l in range(L):
        dirs = []
        for d in range(D):
            sfx = f"_l{l}" + ("_reverse" if d else "")
            I_l = I0 if l == 0 else D * Hout
            spec = {"weight_ih": (G * H, I_l), "weight_hh": (G * H, Hout), "bias_ih": (G * H,),
                    "bias_hh": (G * H,), "weight_hr": (Hout, H)}
            for kind in kinds:
                what = " (input size of layer 0)" if kind == "weight_ih" and l == 0 else ""
                if kind == "weight_ih" and l > 0:
                    what = f" (layer {l} reads the {D} * {Hout} outputs of layer {l - 1})"
                _expect_shape(arrays[kind + sfx], f"weights[{kind + sfx!r}]", spec[kind], what)
            dirs.append(tuple(arrays.get(kind + sfx) for kind in ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_hr")))
        layers.append(dirs)
    return layers, arrays, dtype, H, Hout, L, D, I0


def _zeros(shape: tuple, dtype: np.dtype, on_device: bool) -> Any:
    z = np.zeros(shape, dtype=dtype)
    if on_device:
        from numba import cuda

        return cuda.to_device(z)
    return z


def _sequence(mode, x, weights, h0, c0, batch_first, lengths, backend, return_cache=False):
    """Shared body of :func:`lstm`, :func:`gru` and :func:`rnn`."""
    batch_first = _validate.flag(batch_first, "batch_first")
    return_cache = _validate.flag(return_cache, "return_cache")
    layers, arrays, wdtype, H, Hout, L, D, I0 = _parse_weights(weights, mode)
    xa = _dispatch.prepare_array(x, "x")
    states = {"h0": h0} if mode != "lstm" else {"h0": h0, "c0": c0}
    prepared = {n: _dispatch.prepare_array(v, n) for n, v in states.items() if v is not None}
    backend = _dispatch.resolve_backend(backend, x, *states.values(), *[weights[k] for k in arrays])
    dtype = _validate.float_arrays(x=xa, **prepared)
    if dtype != wdtype:
        raise TypeError(f"x has dtype {dtype} but the weights have {wdtype}; pass one dtype")
    if len(xa.shape) not in (2, 3):
        raise ValueError(
            f"x must have shape [T, B, input_size] ([B, T, input_size] with batch_first) or [T, input_size] "
            f"(unbatched), got {_shape(xa)}"
        )
    batched = len(xa.shape) == 3
    if batched:
        T, B = (xa.shape[1], xa.shape[0]) if batch_first else (xa.shape[0], xa.shape[1])
    else:
        T, B = xa.shape[0], 1
    T, B = int(T), int(B)
    if _shape(xa)[-1] != I0:
        raise ValueError(f"x has input size {_shape(xa)[-1]} (last dimension) but weights['weight_ih_l0'] "
                         f"expects {I0}")
    state_shape = {"h0": (L * D, B, Hout), "c0": (L * D, B, H)}
    for n, arr in prepared.items():
        want = state_shape[n] if batched else (state_shape[n][0], state_shape[n][2])
        _expect_shape(arr, n, want, f" ([num_layers * num_directions, {'batch, ' if batched else ''}"
                                    f"{'proj_size or hidden_size' if n == 'h0' else 'hidden_size'}])")
    if lengths is None:
        lens = np.full(B, T, dtype=np.int64)
    else:
        if not batched:
            raise ValueError("lengths needs a batched x ([T, B, input_size] or batch first); x is unbatched")
        lens = _host_ints(lengths, "lengths")
        if lens.shape != (B,):
            raise ValueError(f"lengths must have shape ({B},) (one length per sequence), got {lens.shape}")
        if B and (lens.min() < 0 or lens.max() > T):
            raise ValueError(f"lengths must lie in [0, T = {T}], got values in [{lens.min()}, {lens.max()}]")

    on_device = not isinstance(xa, np.ndarray)
    if batched:
        x3 = xa if on_device else np.ascontiguousarray(xa)
    else:
        x3 = _dispatch.reshape(xa, (T, 1, I0))
    h0a = prepared.get("h0")
    h0a = _zeros(state_shape["h0"], dtype, on_device) if h0a is None else _dispatch.reshape(h0a, state_shape["h0"])
    c0a = None
    if mode == "lstm":
        c0a = prepared.get("c0")
        c0a = _zeros(state_shape["c0"], dtype, on_device) if c0a is None else _dispatch.reshape(c0a, state_shape["c0"])
    if return_cache:
        from .recurrent_backward import forward_with_cache

        out, h_n, c_n, cache = forward_with_cache(mode, x3, lens, h0a, c0a, layers, batch_first and batched,
                                                  batched, backend)
    else:
        out, h_n, c_n = _dispatch.kernels("recurrent", backend).run(
            mode, x3, lens, h0a, c0a, layers, batch_first and batched
        )
    if not batched:
        out = _dispatch.reshape(out, (T, D * Hout))
        h_n = _dispatch.reshape(h_n, (L * D, Hout))
        c_n = None if c_n is None else _dispatch.reshape(c_n, (L * D, H))
    out, h_n = _dispatch.wrap_like(out, x), _dispatch.wrap_like(h_n, x)
    states = (h_n, _dispatch.wrap_like(c_n, x)) if mode == "lstm" else h_n
    return (out, states, cache) if return_cache else (out, states)


def _cell(mode, x, h, c, w_ih, w_hh, b_ih, b_hh, backend, return_cache=False):
    """Shared body of the cells: one step of a one-layer, one-direction sequence."""
    return_cache = _validate.flag(return_cache, "return_cache")
    G = _GATES[mode]
    named = {"x": x, "w_ih": w_ih, "w_hh": w_hh}
    optional = {"h": h, "c": c, "b_ih": b_ih, "b_hh": b_hh}
    backend = _dispatch.resolve_backend(backend, *named.values(), *[v for v in optional.values() if v is not None])
    arrs = {n: _dispatch.prepare_array(v, n) for n, v in named.items()}  # None raises, naming it
    arrs.update({n: _dispatch.prepare_array(v, n) for n, v in optional.items() if v is not None})
    dtype = _validate.float_arrays(**arrs)
    xa, wih, whh = arrs["x"], arrs["w_ih"], arrs["w_hh"]
    if len(whh.shape) != 2 or whh.shape[0] != G * whh.shape[1] or whh.shape[1] < 1:
        raise ValueError(f"w_hh must have shape ({G} * hidden_size, hidden_size), got {_shape(whh)}")
    H = int(whh.shape[1])
    if len(xa.shape) not in (1, 2):
        raise ValueError(f"x must have shape [batch, input_size] or [input_size], got {_shape(xa)}")
    batched = len(xa.shape) == 2
    B = int(xa.shape[0]) if batched else 1
    I = _shape(xa)[-1]
    if I < 1:
        raise ValueError(f"x must have input_size >= 1, got shape {_shape(xa)}")
    _expect_shape(wih, "w_ih", (G * H, I), " ([gates * hidden_size, input_size] as x's input size)")
    for n in ("b_ih", "b_hh"):
        if n in arrs:
            _expect_shape(arrs[n], n, (G * H,))
    state = (B, H) if batched else (H,)
    for n in ("h", "c"):
        if n in arrs:
            _expect_shape(arrs[n], n, state, " (as x's batch and w_hh's hidden size)")
    on_device = not isinstance(xa, np.ndarray)
    x3 = _dispatch.reshape(xa, (1, B, I))
    h0 = _dispatch.reshape(arrs["h"], (1, B, H)) if "h" in arrs else _zeros((1, B, H), dtype, on_device)
    c0 = None
    if mode == "lstm":
        c0 = _dispatch.reshape(arrs["c"], (1, B, H)) if "c" in arrs else _zeros((1, B, H), dtype, on_device)
    layers = [[(wih, whh, arrs.get("b_ih"), arrs.get("b_hh"), None)]]
    if return_cache:
        from .recurrent_backward import forward_with_cache

        _, h_n, c_n, cache = forward_with_cache(mode, x3, np.ones(B, dtype=np.int64), h0, c0, layers, False,
                                                True, backend)
        cache.cell_state = state
    else:
        _, h_n, c_n = _dispatch.kernels("recurrent", backend).run(
            mode, x3, np.ones(B, dtype=np.int64), h0, c0, layers, False
        )
    h1 = _dispatch.wrap_like(_dispatch.reshape(h_n, state), x)
    result = (h1, _dispatch.wrap_like(_dispatch.reshape(c_n, state), x)) if mode == "lstm" else h1
    return (result, cache) if return_cache else result


# --------------------------------------------------------------------------------------------
# cells
# --------------------------------------------------------------------------------------------
def lstm_cell(
    x: ArrayLike,
    h: Optional[ArrayLike],
    c: Optional[ArrayLike],
    w_ih: ArrayLike,
    w_hh: ArrayLike,
    b_ih: Optional[ArrayLike] = None,
    b_hh: Optional[ArrayLike] = None,
    *,
    backend: str = "auto",
    return_cache: bool = False,
) -> Any:
    """One LSTM step, as ``torch.nn.LSTMCell``.

    ``i, f, g, o = split(x W_ih^T + b_ih + h W_hh^T + b_hh)``;
    ``c1 = σ(f) ⊙ c + σ(i) ⊙ tanh(g)``; ``h1 = σ(o) ⊙ tanh(c1)``.

    Parameters
    ----------
    x : array ``[B, input_size]`` or ``[input_size]``
        float32 or float64 (every array shares the dtype).
    h, c : arrays ``[B, hidden_size]`` (``[hidden_size]`` for a 1-D ``x``), or ``None`` for zeros
        Hidden and cell state.
    w_ih : array ``[4 * hidden_size, input_size]``
        Input-to-hidden weights, torch's ``weight_ih`` (gate order i, f, g, o).
    w_hh : array ``[4 * hidden_size, hidden_size]``
        Hidden-to-hidden weights, torch's ``weight_hh``.
    b_ih, b_hh : arrays ``[4 * hidden_size]``, optional
        torch's ``bias_ih`` / ``bias_hh`` (``None``: no bias).
    backend : {"auto", "cpu", "cuda", "reference"}
        ``"auto"`` is ``"cuda"`` for GPU inputs, else ``"cpu"``.
    return_cache : bool
        Also return a cache for :mod:`bagu_fast.recurrent_backward`'s cell backward: the result
        is ``(result, cache)`` (backends ``"reference"`` and ``"cpu"``).

    Returns
    -------
    (h1, c1) : arrays shaped like ``h``

    Examples
    --------
    >>> import numpy as np
    >>> w_ih, w_hh = np.zeros((8, 3)), np.zeros((8, 2))
    >>> h1, c1 = lstm_cell(np.ones(3), None, np.ones(2), w_ih, w_hh)  # all gates 0.5, g = 0
    >>> c1
    array([0.5, 0.5])
    """
    return _cell("lstm", x, h, c, w_ih, w_hh, b_ih, b_hh, backend, return_cache)


def gru_cell(
    x: ArrayLike,
    h: Optional[ArrayLike],
    w_ih: ArrayLike,
    w_hh: ArrayLike,
    b_ih: Optional[ArrayLike] = None,
    b_hh: Optional[ArrayLike] = None,
    *,
    backend: str = "auto",
    return_cache: bool = False,
) -> Any:
    """One GRU step, as ``torch.nn.GRUCell``.

    ``r = σ(W_ir x + b_ir + W_hr h + b_hr)``, ``z = σ(W_iz x + b_iz + W_hz h + b_hz)``,
    ``n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))``, ``h1 = (1 - z) ⊙ n + z ⊙ h``.

    Parameters
    ----------
    x : array ``[B, input_size]`` or ``[input_size]``
        float32 or float64 (every array shares the dtype).
    h : array ``[B, hidden_size]`` (``[hidden_size]`` for a 1-D ``x``), or ``None`` for zeros
    w_ih : array ``[3 * hidden_size, input_size]``
        Input-to-hidden weights, torch's ``weight_ih`` (gate order r, z, n).
    w_hh : array ``[3 * hidden_size, hidden_size]``
        Hidden-to-hidden weights, torch's ``weight_hh``.
    b_ih, b_hh : arrays ``[3 * hidden_size]``, optional
        torch's ``bias_ih`` / ``bias_hh`` (``None``: no bias).
    backend : {"auto", "cpu", "cuda", "reference"}
        ``"auto"`` is ``"cuda"`` for GPU inputs, else ``"cpu"``.
    return_cache : bool
        Also return a cache for :mod:`bagu_fast.recurrent_backward`'s cell backward: the result
        is ``(result, cache)`` (backends ``"reference"`` and ``"cpu"``).

    Returns
    -------
    h1 : array shaped like ``h``
    """
    return _cell("gru", x, h, None, w_ih, w_hh, b_ih, b_hh, backend, return_cache)


def rnn_cell(
    x: ArrayLike,
    h: Optional[ArrayLike],
    w_ih: ArrayLike,
    w_hh: ArrayLike,
    b_ih: Optional[ArrayLike] = None,
    b_hh: Optional[ArrayLike] = None,
    *,
    nonlinearity: str = "tanh",
    backend: str = "auto",
    return_cache: bool = False,
) -> Any:
    """One Elman RNN step, as ``torch.nn.RNNCell``: ``h1 = act(x W_ih^T + b_ih + h W_hh^T + b_hh)``.

    Parameters
    ----------
    x : array ``[B, input_size]`` or ``[input_size]``
        float32 or float64 (every array shares the dtype).
    h : array ``[B, hidden_size]`` (``[hidden_size]`` for a 1-D ``x``), or ``None`` for zeros
    w_ih : array ``[1 * hidden_size, input_size]``
        Input-to-hidden weights, torch's ``weight_ih`` (gate order -).
    w_hh : array ``[1 * hidden_size, hidden_size]``
        Hidden-to-hidden weights, torch's ``weight_hh``.
    b_ih, b_hh : arrays ``[1 * hidden_size]``, optional
        torch's ``bias_ih`` / ``bias_hh`` (``None``: no bias).
    backend : {"auto", "cpu", "cuda", "reference"}
        ``"auto"`` is ``"cuda"`` for GPU inputs, else ``"cpu"``.
    return_cache : bool
        Also return a cache for :mod:`bagu_fast.recurrent_backward`'s cell backward: the result
        is ``(result, cache)`` (backends ``"reference"`` and ``"cpu"``).
    nonlinearity : {"tanh", "relu"}

    Returns
    -------
    h1 : array shaped like ``h``
    """
    return _cell(_rnn_mode(nonlinearity), x, h, None, w_ih, w_hh, b_ih, b_hh, backend, return_cache)


# --------------------------------------------------------------------------------------------
# layers
# --------------------------------------------------------------------------------------------
def lstm(
    x: ArrayLike,
    weights: Mapping,
    h0: Optional[ArrayLike] = None,
    c0: Optional[ArrayLike] = None,
    *,
    batch_first: bool = False,
    lengths: Optional[ArrayLike] = None,
    backend: str = "auto",
    return_cache: bool = False,
) -> Tuple[Any, ...]:
    """A multi-layer (optionally bidirectional, optionally projected) LSTM, as ``torch.nn.LSTM``.

    Each step is :func:`lstm_cell`; with ``proj_size`` (``weight_hr_l{k}``) the hidden state is
    ``h = (σ(o) ⊙ tanh(c)) W_hr^T``.  Layer ``k > 0`` reads layer ``k - 1``'s output (both
    directions concatenated, forward first).  No dropout (inference).

    Parameters
    ----------
    x : array ``[T, B, input_size]`` (``[B, T, input_size]`` with ``batch_first``) or ``[T, input_size]``
        float32 or float64; the weights and states share its dtype.
    weights : mapping
        torch's ``state_dict()`` names to arrays (NumPy, CPU tensors, anything ``np.asarray``
        takes, or GPU arrays): ``weight_ih_l{k}``, ``weight_hh_l{k}``, optionally ``bias_ih_l{k}``
        and ``bias_hh_l{k}``, each also with ``_reverse`` for a bidirectional network, and ``weight_hr_l{k}`` for ``proj_size``.  The
        number of layers, the directions, the biases, ``proj_size`` come from the keys and shapes;
        missing, extra or mis-shaped keys raise ``ValueError`` naming the key.
    h0 : array ``[num_layers * D, B, H_out]`` (``[num_layers * D, H_out]`` unbatched), optional
        Initial hidden state (zeros by default); ``D`` = 2 if bidirectional else 1,
        ``H_out = proj_size`` or ``hidden_size``.
    c0 : array ``[num_layers * D, B, hidden_size]``, optional
        Initial cell state (zeros by default).
    batch_first : bool
        ``x`` and ``output`` are ``[B, T, ...]`` (the states are not, as torch).
    lengths : array of int ``[B]``, optional
        Valid length of each sequence, in any order, ``0 <= lengths[b] <= T`` (torch's
        ``pack_padded_sequence(..., enforce_sorted=False)`` semantics; torch itself rejects 0, which
        here keeps the initial state).  Outputs at ``t >= lengths[b]`` are zero, the final states are
        those after step ``lengths[b] - 1``, and the reverse direction starts at ``lengths[b] - 1``.
    backend : {"auto", "cpu", "cuda", "reference"}
        ``"auto"`` is ``"cuda"`` for GPU inputs (``x``, states or weights), else ``"cpu"``.
    return_cache : bool
        Also return a :class:`~bagu_fast.recurrent_backward.RecurrentCache` for the backward
        (:mod:`bagu_fast.recurrent_backward`): the result is ``(output, states, cache)``.  Backends
        ``"reference"`` and ``"cpu"`` only; the forward then runs the backend's recording path.

    Returns
    -------
    output : array ``[T, B, D * H_out]`` (``[B, T, ...]`` with ``batch_first``; ``[T, D * H_out]`` unbatched)
        Top layer's hidden state at every step (zero past each sequence's length).
    (h_n, c_n) : arrays ``[num_layers * D, B, H_out]`` and ``[num_layers * D, B, hidden_size]``
        Final states (index ``layer * D + direction``).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> w = {"weight_ih_l0": rng.standard_normal((16, 3)), "weight_hh_l0": rng.standard_normal((16, 4))}
    >>> out, (h_n, c_n) = lstm(rng.standard_normal((5, 2, 3)), w, lengths=[5, 3])
    >>> out.shape, h_n.shape, bool(np.all(out[3:, 1] == 0)), bool(np.allclose(h_n[0, 1], out[2, 1]))
    ((5, 2, 4), (1, 2, 4), True, True)
    """
    return _sequence("lstm", x, weights, h0, c0, batch_first, lengths, backend, return_cache)


def gru(
    x: ArrayLike,
    weights: Mapping,
    h0: Optional[ArrayLike] = None,
    *,
    batch_first: bool = False,
    lengths: Optional[ArrayLike] = None,
    backend: str = "auto",
    return_cache: bool = False,
) -> Tuple[Any, Any]:
    """A multi-layer (optionally bidirectional) GRU, as ``torch.nn.GRU``; each step is :func:`gru_cell`.

    Parameters
    ----------
    x : array ``[T, B, input_size]`` (``[B, T, input_size]`` with ``batch_first``) or ``[T, input_size]``
        float32 or float64; the weights and states share its dtype.
    weights : mapping
        torch's ``state_dict()`` names to arrays (NumPy, CPU tensors, anything ``np.asarray``
        takes, or GPU arrays): ``weight_ih_l{k}``, ``weight_hh_l{k}``, optionally ``bias_ih_l{k}``
        and ``bias_hh_l{k}``, each also with ``_reverse`` for a bidirectional network.  The
        number of layers, the directions, the biases come from the keys and shapes;
        missing, extra or mis-shaped keys raise ``ValueError`` naming the key.
    h0 : array ``[num_layers * D, B, hidden_size]`` (``[num_layers * D, hidden_size]`` unbatched), optional
        Initial hidden state (zeros by default).
    batch_first : bool
        ``x`` and ``output`` are ``[B, T, ...]`` (the states are not, as torch).
    lengths : array of int ``[B]``, optional
        Valid length of each sequence, in any order, ``0 <= lengths[b] <= T`` (torch's
        ``pack_padded_sequence(..., enforce_sorted=False)`` semantics; torch itself rejects 0, which
        here keeps the initial state).  Outputs at ``t >= lengths[b]`` are zero, the final states are
        those after step ``lengths[b] - 1``, and the reverse direction starts at ``lengths[b] - 1``.
    backend : {"auto", "cpu", "cuda", "reference"}
        ``"auto"`` is ``"cuda"`` for GPU inputs (``x``, states or weights), else ``"cpu"``.
    return_cache : bool
        Also return a :class:`~bagu_fast.recurrent_backward.RecurrentCache` for the backward
        (:mod:`bagu_fast.recurrent_backward`): the result is ``(output, states, cache)``.  Backends
        ``"reference"`` and ``"cpu"`` only; the forward then runs the backend's recording path.

    Returns
    -------
    output : array ``[T, B, D * hidden_size]`` (``[B, T, ...]`` with ``batch_first``)
    h_n : array ``[num_layers * D, B, hidden_size]``
    """
    return _sequence("gru", x, weights, h0, None, batch_first, lengths, backend, return_cache)


def rnn(
    x: ArrayLike,
    weights: Mapping,
    h0: Optional[ArrayLike] = None,
    *,
    nonlinearity: str = "tanh",
    batch_first: bool = False,
    lengths: Optional[ArrayLike] = None,
    backend: str = "auto",
    return_cache: bool = False,
) -> Tuple[Any, Any]:
    """A multi-layer (optionally bidirectional) Elman RNN, as ``torch.nn.RNN``; each step is :func:`rnn_cell`.

    Parameters
    ----------
    x : array ``[T, B, input_size]`` (``[B, T, input_size]`` with ``batch_first``) or ``[T, input_size]``
        float32 or float64; the weights and states share its dtype.
    weights : mapping
        torch's ``state_dict()`` names to arrays (NumPy, CPU tensors, anything ``np.asarray``
        takes, or GPU arrays): ``weight_ih_l{k}``, ``weight_hh_l{k}``, optionally ``bias_ih_l{k}``
        and ``bias_hh_l{k}``, each also with ``_reverse`` for a bidirectional network.  The
        number of layers, the directions, the biases come from the keys and shapes;
        missing, extra or mis-shaped keys raise ``ValueError`` naming the key.
    h0 : array ``[num_layers * D, B, hidden_size]`` (``[num_layers * D, hidden_size]`` unbatched), optional
        Initial hidden state (zeros by default).
    nonlinearity : {"tanh", "relu"}
    batch_first : bool
        ``x`` and ``output`` are ``[B, T, ...]`` (the states are not, as torch).
    lengths : array of int ``[B]``, optional
        Valid length of each sequence, in any order, ``0 <= lengths[b] <= T`` (torch's
        ``pack_padded_sequence(..., enforce_sorted=False)`` semantics; torch itself rejects 0, which
        here keeps the initial state).  Outputs at ``t >= lengths[b]`` are zero, the final states are
        those after step ``lengths[b] - 1``, and the reverse direction starts at ``lengths[b] - 1``.
    backend : {"auto", "cpu", "cuda", "reference"}
        ``"auto"`` is ``"cuda"`` for GPU inputs (``x``, states or weights), else ``"cpu"``.
    return_cache : bool
        Also return a :class:`~bagu_fast.recurrent_backward.RecurrentCache` for the backward
        (:mod:`bagu_fast.recurrent_backward`): the result is ``(output, states, cache)``.  Backends
        ``"reference"`` and ``"cpu"`` only; the forward then runs the backend's recording path.

    Returns
    -------
    output : array ``[T, B, D * hidden_size]`` (``[B, T, ...]`` with ``batch_first``)
    h_n : array ``[num_layers * D, B, hidden_size]``
    """
    return _sequence(_rnn_mode(nonlinearity), x, weights, h0, None, batch_first, lengths, backend, return_cache)


# --------------------------------------------------------------------------------------------
# parameter counts
# --------------------------------------------------------------------------------------------
def _count(G: int, input_size, hidden_size, num_layers, bidirectional, proj_size, bias) -> int:
    I = _validate.integer(input_size, "input_size", minimum=1)
    H = _validate.integer(hidden_size, "hidden_size", minimum=1)
    L = _validate.integer(num_layers, "num_layers", minimum=1)
    P = _validate.integer(proj_size, "proj_size", minimum=0)
    bidirectional, bias = _validate.flag(bidirectional, "bidirectional"), _validate.flag(bias, "bias")
    if P >= H:
        raise ValueError(f"proj_size must be smaller than hidden_size = {H}, got {P}")
    D = 2 if bidirectional else 1
    Hout = P or H
    total = 0
    for layer in range(L):
        I_l = I if layer == 0 else D * Hout
        per_dir = G * H * (I_l + Hout) + (2 * G * H if bias else 0) + (P * H if P else 0)
        total += D * per_dir
    return total


def lstm_param_count(
    input_size: int,
    hidden_size: int,
    *,
    num_layers: int = 1,
    bidirectional: bool = False,
    proj_size: int = 0,
    bias: bool = True,
) -> int:
    """Number of parameters of ``torch.nn.LSTM`` with these arguments (``sum(p.numel())``).

    Per layer and direction: ``4·H·(I_l + H_out) + 2·4·H`` (bias) ``+ P·H`` (projection), where
    ``I_l`` is ``input_size`` for layer 0 and ``D·H_out`` above it, ``H_out = P or H``.  The
    textbook count ``((I + H)·H + H)·4`` has one bias vector per gate; torch keeps two
    (``bias_ih`` and ``bias_hh``), so a one-layer torch LSTM has ``4·H`` more:

    >>> I, H = 10, 20
    >>> lstm_param_count(I, H) == ((I + H) * H + H) * 4 + 4 * H
    True
    >>> lstm_param_count(I, H, bias=False) == (I + H) * H * 4
    True
    """
    return _count(4, input_size, hidden_size, num_layers, bidirectional, proj_size, bias)


def gru_param_count(
    input_size: int,
    hidden_size: int,
    *,
    num_layers: int = 1,
    bidirectional: bool = False,
    bias: bool = True,
) -> int:
    """Number of parameters of ``torch.nn.GRU``: per layer and direction ``3·H·(I_l + H) + 2·3·H``.

    The textbook ``((I + H)·H + H)·3`` counts one bias per gate; torch has two (the second one,
    ``b_hn``, sits inside ``r ⊙ (W_hn h + b_hn)`` and cannot be folded away):

    >>> gru_param_count(10, 20) == ((10 + 20) * 20 + 20) * 3 + 3 * 20
    True
    """
    return _count(3, input_size, hidden_size, num_layers, bidirectional, 0, bias)


def rnn_param_count(
    input_size: int,
    hidden_size: int,
    *,
    num_layers: int = 1,
    bidirectional: bool = False,
    bias: bool = True,
) -> int:
    """Number of parameters of ``torch.nn.RNN``: per layer and direction ``H·(I_l + H) + 2·H``.

    >>> rnn_param_count(10, 20) == (10 + 20) * 20 + 20 + 20
    True
    """
    return _count(1, input_size, hidden_size, num_layers, bidirectional, 0, bias)
