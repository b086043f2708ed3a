"""Trainable PyTorch front ends over bagu_fast's kernels.

:func:`scaled_dot_product_attention` is a ``torch.autograd.Function`` with the signature of
``torch.nn.functional.scaled_dot_product_attention`` (plus FlashAttention's ``window`` and
``softcap``): its forward and backward run bagu_fast's kernels (cpu for CPU tensors, cuda for
CUDA tensors), so it drops into a model that torch trains.

:class:`LSTM`, :class:`GRU`, :class:`RNN` and :class:`LSTMCell`, :class:`GRUCell`,
:class:`RNNCell` are torch's own modules (same constructor, parameters, initialisation and
``state_dict``, so ``load_state_dict`` works both ways) whose forward and backward run
bagu_fast's recurrent kernels and backpropagation through time (CPU tensors).

torch is optional: importing :mod:`bagu_fast` never imports this module, and this module imports
torch when it is imported itself.
"""
from __future__ import annotations

from typing import Any, Optional, Tuple

import torch

from .attention import scaled_dot_product_attention as _sdpa_forward
from .attention_backward import scaled_dot_product_attention_backward as _sdpa_backward

__all__ = ["scaled_dot_product_attention", "LSTM", "GRU", "RNN", "LSTMCell", "GRUCell", "RNNCell"]


def _backend(*tensors: torch.Tensor) -> str:
    return "cuda" if any(t.is_cuda for t in tensors if isinstance(t, torch.Tensor)) else "cpu"


class _ScaledDotProductAttention(torch.autograd.Function):
    """Forward: the kernel with ``return_lse=True``; backward: FlashAttention-2's backward kernel,
    which recomputes the probabilities from the saved ``lse`` (no ``L x S`` tensor is saved)."""

    @staticmethod
    def forward(ctx: Any, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                attn_mask: Optional[torch.Tensor], is_causal: bool, scale: Optional[float],
                enable_gqa: bool, window: Any, softcap: Optional[float]) -> torch.Tensor:
        options = dict(attn_mask=attn_mask, is_causal=is_causal, scale=scale, enable_gqa=enable_gqa,
                       window=window, softcap=softcap)
        backend = _backend(query, key, value)
        q, k, v = (t.detach() for t in (query, key, value))
        out, lse = _sdpa_forward(q, k, v, return_lse=True, backend=backend, **options)
        ctx.options, ctx.backend = options, backend
        ctx.save_for_backward(q, k, v, out, lse)
        return out

    @staticmethod
    def backward(ctx: Any, grad_out: torch.Tensor):
        q, k, v, out, lse = ctx.saved_tensors
        grads = _sdpa_backward(grad_out.contiguous(), q, k, v, out, lse, backend=ctx.backend, **ctx.options)
        wanted = ctx.needs_input_grad
        dq, dk, dv = (g if need else None for g, need in zip(grads, wanted[:3]))
        return dq, dk, dv, None, None, None, None, None, None


def scaled_dot_product_attention(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attn_mask: Optional[torch.Tensor] = None,
    dropout_p: float = 0.0,
    is_causal: bool = False,
    *,
    scale: Optional[float] = None,
    enable_gqa: bool = False,
    window: Optional[Tuple[Optional[int], Optional[int]]] = None,
    softcap: Optional[float] = None,
) -> torch.Tensor:
    """``torch.nn.functional.scaled_dot_product_attention`` through bagu_fast's kernels, with autograd.

    Same arguments, order and semantics as torch's (top-left causal alignment, boolean masks with
    True = attend, additive float masks, ``enable_gqa``), plus ``window=(left, right)`` and
    ``softcap`` as :func:`bagu_fast.scaled_dot_product_attention`. Gradients flow to ``query``,
    ``key`` and ``value`` (not to ``attn_mask``).

    Parameters
    ----------
    query, key, value : torch.Tensor
        ``[..., L, D]``, ``[..., S, D]``, ``[..., S, Dv]``; float32 or float64, on the CPU or one GPU.
    attn_mask : torch.Tensor, optional
        Boolean (True = attend) or additive mask broadcastable to ``[..., L, S]``.
    dropout_p : float
        Must be 0.0: attention dropout is not implemented (a ValueError says so).
    is_causal, scale, enable_gqa, window, softcap
        As :func:`bagu_fast.scaled_dot_product_attention`.

    Returns
    -------
    torch.Tensor
        ``[..., L, Dv]``, on the inputs' device, attached to the autograd graph.
    """
    for name, t in (("query", query), ("key", key), ("value", value)):
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
    if attn_mask is not None and not isinstance(attn_mask, torch.Tensor):
        raise TypeError(f"attn_mask must be None or a torch.Tensor, got {type(attn_mask).__name__}")
    if isinstance(dropout_p, bool) or not isinstance(dropout_p, (int, float)) or dropout_p != 0:
        raise ValueError(f"dropout_p must be 0.0 (attention dropout is not implemented), got {dropout_p!r}")
    if attn_mask is not None:
        attn_mask = attn_mask.detach()
    return _ScaledDotProductAttention.apply(query, key, value, attn_mask, is_causal, scale, enable_gqa,
                                            window, softcap)


# --------------------------------------------------------------------------------------------
# recurrent modules
# --------------------------------------------------------------------------------------------
def _as_tensor(value: Any, like: torch.Tensor) -> Optional[torch.Tensor]:
    if value is None:
        return None
    if isinstance(value, torch.Tensor):
        return value.to(device=like.device, dtype=like.dtype)
    import numpy as np

    return torch.from_numpy(np.ascontiguousarray(value)).to(device=like.device, dtype=like.dtype)


def _host_only(*tensors: Optional[torch.Tensor]) -> None:
    if any(t is not None and t.is_cuda for t in tensors):
        raise ValueError("bagu_fast.torch's recurrent modules run on CPU tensors (the recurrent backward has "
                         "no cuda kernel yet); move the module and its input to the CPU")


class _Recurrent(torch.autograd.Function):
    """One call of ``lstm`` / ``gru`` / ``rnn`` with ``return_cache=True``; backward: BPTT."""

    @staticmethod
    def forward(ctx: Any, mode: str, names: tuple, options: dict, x: torch.Tensor, h0: Optional[torch.Tensor],
                c0: Optional[torch.Tensor], *weights: torch.Tensor):
        from . import recurrent

        wd = {n: w.detach() for n, w in zip(names, weights)}
        h0d = None if h0 is None else h0.detach()
        if mode == "lstm":
            out, (h_n, c_n), cache = recurrent.lstm(x.detach(), wd, h0d, None if c0 is None else c0.detach(),
                                                    return_cache=True, backend="cpu", **options)
        else:
            fn = recurrent.gru if mode == "gru" else recurrent.rnn  # options hold rnn's nonlinearity
            out, h_n, cache = fn(x.detach(), wd, h0d, return_cache=True, backend="cpu", **options)
            c_n = None
        ctx.mode, ctx.names, ctx.cache = mode, names, cache
        ctx.has_h0, ctx.has_c0 = h0 is not None, c0 is not None
        ctx.like = x
        return (out, h_n, c_n) if mode == "lstm" else (out, h_n)

    @staticmethod
    def backward(ctx: Any, grad_out: torch.Tensor, grad_h_n: torch.Tensor, grad_c_n: Optional[torch.Tensor] = None):
        from . import recurrent_backward as rb

        g = lambda t: None if t is None else t.detach().contiguous()  # noqa: E731
        if ctx.mode == "lstm":
            grads = rb.lstm_backward(ctx.cache, g(grad_out), g(grad_h_n), g(grad_c_n))
        else:
            fn = rb.gru_backward if ctx.mode == "gru" else rb.rnn_backward
            grads = fn(ctx.cache, g(grad_out), g(grad_h_n))
        like = ctx.like
        dx = _as_tensor(grads["x"], like)
        dh0 = _as_tensor(grads.get("h0"), like) if ctx.has_h0 else None
        dc0 = _as_tensor(grads.get("c0"), like) if ctx.has_c0 else None
        dweights = [_as_tensor(grads[n], like) for n in ctx.names]
        return (None, None, None, dx, dh0, dc0, *dweights)


def _run_sequence(module: torch.nn.RNNBase, mode: str, input: Any, hx: Any, extra: dict):
    from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

    if module.training and module.dropout > 0 and module.num_layers > 1:
        raise ValueError(f"dropout={module.dropout} between layers is not implemented in bagu_fast.torch; "
                         "use dropout=0 (or call .eval())")
    packed = isinstance(input, PackedSequence)
    lengths = None
    if packed:
        enforce_sorted = input.sorted_indices is None
        x, lengths = pad_packed_sequence(input, batch_first=module.batch_first)
    else:
        x = input
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"input must be a torch.Tensor or a PackedSequence, got {type(input).__name__}")
    if mode == "lstm":
        h0, c0 = (None, None) if hx is None else hx
    else:
        h0, c0 = hx, None
    _host_only(x, h0, c0)
    names = tuple(name for name, _ in module.named_parameters())
    weights = [p for _, p in module.named_parameters()]
    options = dict(batch_first=module.batch_first, lengths=None if lengths is None else lengths.tolist(), **extra)
    result = _Recurrent.apply(mode, names, options, x, h0, c0, *weights)
    out = result[0]
    if packed:
        out = pack_padded_sequence(out, lengths, batch_first=module.batch_first, enforce_sorted=enforce_sorted)
    return (out, (result[1], result[2])) if mode == "lstm" else (out, result[1])


class LSTM(torch.nn.LSTM):
    """``torch.nn.LSTM`` (same arguments, parameters and ``state_dict``) run by bagu_fast's kernels.

    Input: a tensor (``[T, B, I]``, ``[B, T, I]`` with ``batch_first``, or unbatched ``[T, I]``) or a
    ``PackedSequence``; ``hx = (h_0, c_0)`` optional. Returns ``(output, (h_n, c_n))`` as torch.
    Between-layer ``dropout`` in training mode raises a ValueError (not implemented).
    """

    def forward(self, input: Any, hx: Any = None):  # type: ignore[override]
        return _run_sequence(self, "lstm", input, hx, {})


class GRU(torch.nn.GRU):
    """``torch.nn.GRU`` (same arguments, parameters and ``state_dict``) run by bagu_fast's kernels."""

    def forward(self, input: Any, hx: Any = None):  # type: ignore[override]
        return _run_sequence(self, "gru", input, hx, {})


class RNN(torch.nn.RNN):
    """``torch.nn.RNN`` (same arguments, parameters and ``state_dict``) run by bagu_fast's kernels."""

    def forward(self, input: Any, hx: Any = None):  # type: ignore[override]
        return _run_sequence(self, "rnn", input, hx, {"nonlinearity": self.nonlinearity})


class _Cell(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, mode: str, nonlinearity: str, x: torch.Tensor, h: Optional[torch.Tensor],
                c: Optional[torch.Tensor], w_ih: torch.Tensor, w_hh: torch.Tensor, b_ih: Optional[torch.Tensor],
                b_hh: Optional[torch.Tensor]):
        from . import recurrent

        d = lambda t: None if t is None else t.detach()  # noqa: E731
        if mode == "lstm":
            (h1, c1), cache = recurrent.lstm_cell(d(x), d(h), d(c), d(w_ih), d(w_hh), d(b_ih), d(b_hh),
                                                  return_cache=True, backend="cpu")
        else:
            fn = recurrent.gru_cell if mode == "gru" else recurrent.rnn_cell
            extra = {} if mode == "gru" else {"nonlinearity": nonlinearity}
            h1, cache = fn(d(x), d(h), d(w_ih), d(w_hh), d(b_ih), d(b_hh), return_cache=True, backend="cpu", **extra)
            c1 = None
        ctx.mode, ctx.cache, ctx.like = mode, cache, x
        ctx.present = (h is not None, c is not None, b_ih is not None, b_hh is not None)
        return (h1, c1) if mode == "lstm" else h1

    @staticmethod
    def backward(ctx: Any, grad_h1: torch.Tensor, grad_c1: Optional[torch.Tensor] = None):
        from . import recurrent_backward as rb

        g = lambda t: None if t is None else t.detach().contiguous()  # noqa: E731
        if ctx.mode == "lstm":
            grads = rb.lstm_cell_backward(ctx.cache, g(grad_h1), g(grad_c1))
        else:
            fn = rb.gru_cell_backward if ctx.mode == "gru" else rb.rnn_cell_backward
            grads = fn(ctx.cache, g(grad_h1))
        t = lambda key, present=True: _as_tensor(grads.get(key), ctx.like) if present else None  # noqa: E731
        has_h, has_c, has_bih, has_bhh = ctx.present
        return (None, None, t("x"), t("h", has_h), t("c", has_c), t("w_ih"), t("w_hh"), t("b_ih", has_bih),
                t("b_hh", has_bhh))


def _run_cell(module: torch.nn.RNNCellBase, mode: str, input: torch.Tensor, hx: Any, nonlinearity: str = "tanh"):
    if not isinstance(input, torch.Tensor):
        raise TypeError(f"input must be a torch.Tensor, got {type(input).__name__}")
    if mode == "lstm":
        h, c = (None, None) if hx is None else hx
    else:
        h, c = hx, None
    _host_only(input, h, c)
    return _Cell.apply(mode, nonlinearity, input, h, c, module.weight_ih, module.weight_hh,
                       getattr(module, "bias_ih", None), getattr(module, "bias_hh", None))


class LSTMCell(torch.nn.LSTMCell):
    """``torch.nn.LSTMCell`` run by bagu_fast's kernels: ``(h_1, c_1) = cell(input, (h_0, c_0))``."""

    def forward(self, input: torch.Tensor, hx: Any = None):  # type: ignore[override]
        return _run_cell(self, "lstm", input, hx)


class GRUCell(torch.nn.GRUCell):
    """``torch.nn.GRUCell`` run by bagu_fast's kernels: ``h_1 = cell(input, h_0)``."""

    def forward(self, input: torch.Tensor, hx: Any = None):  # type: ignore[override]
        return _run_cell(self, "gru", input, hx)


class RNNCell(torch.nn.RNNCell):
    """``torch.nn.RNNCell`` run by bagu_fast's kernels: ``h_1 = cell(input, h_0)``."""

    def forward(self, input: torch.Tensor, hx: Any = None):  # type: ignore[override]
        return _run_cell(self, "rnn", input, hx, self.nonlinearity)
