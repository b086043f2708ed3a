"""The backward pass of :func:`bagu_fast.scaled_dot_product_attention`.

:func:`scaled_dot_product_attention_backward` takes the gradient of a loss with respect to the
forward's output, the forward's inputs and options, and what the forward returned with
``return_lse=True``, and returns the gradients with respect to ``query``, ``key`` and ``value``.
The forward's own checks and normalisation (:func:`bagu_fast.attention._normalise`) are reused,
so both accept exactly the same inputs; gradients of broadcast inputs are summed back to their
shapes.
"""
from __future__ import annotations

from typing import Any, Optional, Tuple

import numpy as np

from . import _dispatch, _validate
from ._validate import ArrayLike
from .attention import _normalise

__all__ = ["scaled_dot_product_attention_backward"]


def _unbroadcast(grad: np.ndarray, shape: tuple) -> np.ndarray:
    """Sum ``grad`` (of a shape ``shape`` broadcasts to) back to ``shape``."""
    extra = grad.ndim - len(shape)
    if extra > 0:
        grad = grad.sum(axis=tuple(range(extra)))
    axes = tuple(i for i, (n, m) in enumerate(zip(shape, grad.shape)) if n == 1 and m != 1)
    if axes:
        grad = grad.sum(axis=axes, keepdims=True)
    return np.ascontiguousarray(grad.reshape(shape))


def _to_input_shape(grad: Any, full: tuple, shape: tuple) -> Any:
    """The kernel's gradient (``full`` elements, C order) as a gradient of an input of ``shape``."""
    if int(np.prod(full)) == int(np.prod(shape)):  # nothing was broadcast: a reshape suffices
        return _dispatch.reshape(grad, shape)
    host = _unbroadcast(_dispatch.host(grad).reshape(full), shape)
    if isinstance(grad, np.ndarray):
        return host
    from numba import cuda  # rare on the device (broadcast leading dimensions): via the host

    return cuda.to_device(host)


def _check_like(arr: Any, name: str, dtype: np.dtype, shape: tuple, what: str) -> None:
    _validate.float_arrays(**{name: arr})
    if np.dtype(arr.dtype) != dtype:
        raise TypeError(f"{name} has dtype {np.dtype(arr.dtype)} but query has {dtype}; pass one dtype")
    if tuple(arr.shape) != shape:
        raise ValueError(f"{name} must have shape {shape} ({what}), got {tuple(arr.shape)}")


def scaled_dot_product_attention_backward(
    grad_out: ArrayLike,
    query: ArrayLike,
    key: ArrayLike,
    value: ArrayLike,
    out: ArrayLike,
    lse: ArrayLike,
    *,
    attn_mask: Optional[ArrayLike] = None,
    is_causal: bool = False,
    scale: Optional[float] = None,
    enable_gqa: bool = False,
    window: Optional[Tuple[Optional[int], Optional[int]]] = None,
    softcap: Optional[float] = None,
    backend: str = "auto",
) -> Tuple[Any, Any, Any]:
    """Gradients of :func:`bagu_fast.scaled_dot_product_attention` (FlashAttention-2 backward).

    Parameters
    ----------
    grad_out : array, shape of the forward's ``out`` (``[..., L, Dv]``)
        Gradient of the loss with respect to ``out``; dtype of ``query``.
    query, key, value : arrays
        The forward's inputs (same shapes, dtypes and broadcasting rules).
    out, lse : arrays, shapes ``[..., L, Dv]`` and ``[..., L]``
        What ``scaled_dot_product_attention(..., return_lse=True)`` returned for these inputs and
        options; the score tiles are recomputed from ``lse`` (``P = exp(S - lse)``), so no
        ``L x S`` matrix is ever stored.
    attn_mask, is_causal, scale, enable_gqa, window, softcap
        The forward's options, with the same meaning (the mask gets no gradient).
    backend : {"auto", "cpu", "cuda", "reference"}
        ``"auto"`` is ``"cuda"`` when any input is a GPU array, else ``"cpu"``.

    Returns
    -------
    grad_query, grad_key, grad_value : arrays
        Shapes of ``query``, ``key`` and ``value``, dtype of ``query``; the gradient of an input
        broadcast over leading dimensions (or a key / value head shared by several query heads)
        is summed over them.  GPU arrays of the input's library for GPU inputs.

    Raises
    ------
    TypeError
        An argument is None, not a float32 / float64 array, or of another dtype than ``query``.
    ValueError
        ``grad_out``, ``out`` or ``lse`` does not have the shape the forward returns, or any check
        of the forward fails.

    Notes
    -----
    A row that attended to nothing (``lse = -inf``; the forward returned zeros) gets a zero
    ``grad_query`` row and adds nothing to ``grad_key`` / ``grad_value``.  Keys outside a row's
    causal / window bounds are never read, as in the forward.  Otherwise NaN / inf propagate in
    IEEE arithmetic: a poisoned row (``lse`` NaN) makes its own gradients and those of every key
    it sees NaN; a NaN / inf in ``value``, ``key`` or ``grad_out`` reaches every gradient it
    multiplies, also through masked keys (``0 * NaN = NaN``), like the forward's output.
    The cpu backend's result does not depend on the number of threads.

    Examples
    --------
    >>> import numpy as np
    >>> import bagu_fast as bf
    >>> rng = np.random.default_rng(0)
    >>> q, k, v = (rng.standard_normal((2, 5, 4)) for _ in range(3))
    >>> out, lse = bf.scaled_dot_product_attention(q, k, v, is_causal=True, return_lse=True)
    >>> dq, dk, dv = scaled_dot_product_attention_backward(np.ones_like(out), q, k, v, out, lse,
    ...                                                     is_causal=True)
    >>> bool(np.allclose(dv.sum(axis=-2), 5.0))  # each row's weights sum to 1, and dO = 1
    True
    """
    g = _dispatch.prepare_array(grad_out, "grad_out")
    o = _dispatch.prepare_array(out, "out")
    lse_arr = _dispatch.prepare_array(lse, "lse")
    backend = _dispatch.resolve_backend(backend, grad_out, query, key, value, out, lse, attn_mask)
    backend, args, lead, Dv, dtype = _normalise(
        query, key, value, attn_mask, 0.0, is_causal, scale, enable_gqa, window, softcap, backend, "attn_mask"
    )
    _check_like(g, "grad_out", dtype, lead + (Dv,), "the forward's output")
    _check_like(o, "out", dtype, lead + (Dv,), "the forward's output")
    _check_like(lse_arr, "lse", dtype, lead, "the forward's log-sum-exp")
    q, k, v = args[0], args[1], args[2]
    B, Hq, L, D = (int(n) for n in q.shape)
    Hkv, S = int(k.shape[1]), int(k.shape[2])
    batch = lead[:-2]  # the forward's leading dimensions, without heads and L
    on_device = not isinstance(q, np.ndarray)
    if q.size == 0 or S == 0 or Dv == 0:  # the output does not depend on anything: zero gradients
        grads = [np.zeros(shape, dtype=dtype) for shape in ((B, Hq, L, D), (B, Hkv, S, D), (B, Hkv, S, Dv))]
        if on_device:
            from numba import cuda

            grads = [cuda.to_device(x) for x in grads]
    else:
        g = _dispatch.reshape(g, (B, Hq, L, Dv))
        o = _dispatch.reshape(o, (B, Hq, L, Dv))
        lse_arr = _dispatch.reshape(lse_arr, (B, Hq, L))
        grads = _dispatch.kernels("attention_backward", backend).sdpa_backward(g, *args[:3], o, lse_arr, *args[3:])
    inputs = (query, key, value)
    shapes = [tuple(x.shape) if hasattr(x, "shape") else np.shape(x) for x in inputs]
    if shapes[0][-1] == 0:  # D = 0 ran as one zero feature column (every score 0): drop it again
        D = 0
        grads = [grads[0][..., :0], grads[1][..., :0], grads[2]]
    fulls = (batch + (Hq, L, D), batch + (Hkv, S, D), batch + (Hkv, S, Dv))
    result = []
    for grad, full, x, shape in zip(grads, fulls, inputs, shapes):
        result.append(_dispatch.wrap_like(_to_input_shape(grad, full, shape), x))
    return tuple(result)
