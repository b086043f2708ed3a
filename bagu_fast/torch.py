"""Trainable PyTorch front ends over bagu_fast's kernels.

:func:`scaled_dot_product_attention` is a ``torch.autograd.Function`` with the signature of
``torch.nn.functional.scaled_dot_product_attention`` (plus FlashAttention's ``window`` and
``softcap``): its forward and backward run bagu_fast's kernels (cpu for CPU tensors, cuda for
CUDA tensors), so it drops into a model that torch trains.

torch is optional: importing :mod:`bagu_fast` never imports this module, and this module imports
torch when it is imported itself.
"""
from __future__ import annotations

from typing import Any, Optional, Tuple

import torch

from .attention import scaled_dot_product_attention as _sdpa_forward
from .attention_backward import scaled_dot_product_attention_backward as _sdpa_backward

__all__ = ["scaled_dot_product_attention"]


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
