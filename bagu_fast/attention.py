"""Attention with an API that mirrors ``torch.nn.functional.scaled_dot_product_attention``.

:func:`scaled_dot_product_attention` adds FlashAttention's sliding ``window`` and ``softcap`` and
can return the log-sum-exp of every query row; :func:`multi_head_attention` composes the input
and output projections of ``torch.nn.MultiheadAttention`` (batch-first) around the same kernel;
:func:`sinusoidal_positional_encoding` is the table of "Attention Is All You Need".

Every kernel works on ``[B, H, L, D]`` C-contiguous arrays; this module broadcasts the user's
leading dimensions, turns boolean masks into additive ``0 / -inf`` masks and checks everything
before a kernel runs.
"""
from __future__ import annotations

import math
import numbers
from typing import Any, Optional, Sequence, Tuple, Union

import numpy as np

from . import _dispatch, _validate
from ._validate import ArrayLike

__all__ = [
    "scaled_dot_product_attention",
    "scaled_dot_product_attention_backward",
    "multi_head_attention",
    "sinusoidal_positional_encoding",
]

# --------------------------------------------------------------------------------------------
# helpers (shape logic only; nothing here computes attention)
# --------------------------------------------------------------------------------------------
def _materialise(x: Any, shape: tuple, on_device: bool) -> Any:
    """``x`` broadcast to ``shape`` as a C-contiguous array, without a copy when it already is."""
    size = math.prod(x.shape)
    if size and size == math.prod(shape):
        # no dimension is expanded: only size-1 dimensions are added, a reshape suffices
        if isinstance(x, np.ndarray):
            return np.ascontiguousarray(x).reshape(shape)
        return x.reshape(*shape)  # prepare_array made device arrays C-contiguous
    if isinstance(x, np.ndarray):
        return np.ascontiguousarray(np.broadcast_to(x, shape))
    # Rare on the device (leading-dimension broadcasting that the kernel cannot express):
    # go through the host.
    from numba import cuda

    return cuda.to_device(np.ascontiguousarray(np.broadcast_to(_dispatch.host(x), shape)))


def _zeros(shape: tuple, dtype: np.dtype, on_device: bool) -> Any:
    z = np.zeros(shape, dtype=dtype)
    if on_device:
        from numba import cuda

        return cuda.to_device(z)
    return z


def _broadcast(shapes: Sequence[tuple], names: str, hint: str = "") -> tuple:
    try:
        return tuple(np.broadcast_shapes(*shapes))
    except ValueError:
        raise ValueError(
            f"{names} have leading (batch / head) dimensions {', '.join(map(str, shapes))} that do not "
            f"broadcast together{hint}"
        ) from None


def _window(window: Any) -> tuple[int, int]:
    if window is None:
        return -1, -1
    if isinstance(window, (str, bytes)) or not isinstance(window, (Sequence, np.ndarray)):
        raise TypeError(f"window must be None or a (left, right) pair, got {type(window).__name__}")
    if len(window) != 2:
        raise ValueError(f"window must be a (left, right) pair, got {len(window)} entries")
    sides = []
    for name, w in zip(("window[0] (left)", "window[1] (right)"), window):
        if w is None:
            sides.append(-1)
        else:
            sides.append(_validate.integer(w, name, minimum=0))
    return sides[0], sides[1]


def _clamp_window(side: int, L: int, S: int) -> int:
    """A window side reaching past every key (``>= L + S``) is unbounded (``-1``): this keeps
    huge Python integers (``2**70``) out of the kernels' int64 arguments."""
    return -1 if side >= L + S else side


def _positive(value: Any, name: str, dtype: np.dtype) -> float:
    """A real number > 0 that is finite in ``dtype`` (the kernels compute in the inputs' dtype)."""
    try:
        out = _validate.real_number(value, name)
    except OverflowError:  # e.g. a Python integer beyond float64: name the argument
        raise ValueError(f"{name} must be finite, got a number too large for a float") from None
    if not out > 0:
        raise ValueError(f"{name} must be > 0, got {value!r}")
    if out > float(np.finfo(dtype).max):
        raise ValueError(f"{name} must be finite in {dtype} (at most {np.finfo(dtype).max:.4g}), got {value!r}")
    return out


def _additive_mask(mask: Any, dtype: np.dtype, full: tuple, batch: tuple, on_device: bool, name: str):
    """Check the mask ``name`` against ``full = batch + (heads, L, S)`` and return the kernel's
    ``[Bm, Hm, Lm, S]`` additive mask of ``dtype`` (size-1 dimensions kept, never expanded to L x S
    when the user's mask does not have them)."""
    mdt = np.dtype(mask.dtype)
    if mdt != np.bool_ and mdt not in _validate.FLOAT_DTYPES:
        raise TypeError(f"{name} must be bool (True = attend) or float32 / float64 (additive), got {mdt}")
    try:
        fits = len(mask.shape) <= len(full) and tuple(np.broadcast_shapes(tuple(mask.shape), full)) == full
    except ValueError:
        fits = False
    if not fits:
        raise ValueError(f"{name} of shape {tuple(mask.shape)} does not broadcast to {full} ([..., L, S])")
    S = full[-1]
    host = _dispatch.host(mask)  # masks are read on the host (the bool -> 0/-inf conversion)
    shape = (1,) * (len(full) - host.ndim) + tuple(host.shape)
    host = host.reshape(shape)
    lead, hm, lm = shape[:-3], shape[-3], shape[-2]
    bm = 1 if all(d == 1 for d in lead) else math.prod(batch)
    target = (batch if bm > 1 else (1,) * len(batch)) + (hm, lm, S)
    host = np.broadcast_to(host, target)
    if host.dtype == np.bool_:
        add = np.where(host, dtype.type(0), dtype.type(-np.inf))
    else:
        add = np.ascontiguousarray(host, dtype=dtype)
    add = np.ascontiguousarray(add).reshape(bm, hm, lm, S)
    if on_device:
        from numba import cuda

        return cuda.to_device(add)
    return add


def _dropout(dropout_p: Any) -> None:
    """Only ``dropout_p = 0`` runs: these are inference kernels (no random number stream)."""
    p = _validate.real_number(dropout_p, "dropout_p")
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout_p must be a probability in [0, 1], got {dropout_p!r}")
    if p != 0.0:
        raise ValueError(
            f"dropout_p must be 0.0, got {dropout_p!r}: attention dropout is not implemented (inference "
            "kernels); pass dropout_p=0.0, e.g. `dropout_p=p if training else 0.0` as in torch code"
        )


def _normalise(query, key, value, attn_mask, dropout_p, is_causal, scale, enable_gqa, window, softcap, backend,
               mask_name):
    """Validate everything and return the kernel arguments and output shapes (``mask_name``: the
    mask's name in the caller's signature)."""
    _dropout(dropout_p)
    is_causal, enable_gqa = _validate.flag(is_causal, "is_causal"), _validate.flag(enable_gqa, "enable_gqa")
    backend = _dispatch.resolve_backend(backend, query, key, value, attn_mask)
    q = _dispatch.prepare_array(query, "query")
    k = _dispatch.prepare_array(key, "key")
    v = _dispatch.prepare_array(value, "value")
    dtype = _validate.float_arrays(query=q, key=k, value=v)
    for arr, name in ((q, "query"), (k, "key"), (v, "value")):
        _validate.min_ndim(arr, name, 3 if enable_gqa else 2)
    L, D = tuple(q.shape)[-2:]
    S, Dk = tuple(k.shape)[-2:]
    Sv, Dv = tuple(v.shape)[-2:]
    if Dk != D:
        raise ValueError(f"key has feature dimension {Dk} but query has {D}; they must match")
    if Sv != S:
        raise ValueError(f"value has {Sv} positions (dim -2) but key has {S}; they must match")
    if attn_mask is not None and is_causal:
        raise ValueError(f"{mask_name} must be None when is_causal=True (as torch); fold causality into the mask")
    if scale is not None:
        scale = _positive(scale, "scale", dtype)
    elif D:
        scale = 1.0 / math.sqrt(D)
    else:
        scale = 1.0  # no features: every score is 0, whatever the scale
    softcap = 0.0 if softcap is None else _positive(softcap, "softcap", dtype)
    wl, wr = (_clamp_window(w, L, S) for w in _window(window))

    on_device = not isinstance(q, np.ndarray)
    if enable_gqa:
        hq, hk, hv = tuple(q.shape)[-3], tuple(k.shape)[-3], tuple(v.shape)[-3]
        if hk != hv:
            raise ValueError(f"key has {hk} heads (dim -3) but value has {hv}; they must match")
        if hk == 0 or hq % hk:
            raise ValueError(f"query heads ({hq}, dim -3) must be a multiple of key/value heads ({hk}) with enable_gqa")
        batch = _broadcast([q.shape[:-3], k.shape[:-3], v.shape[:-3]], "query, key and value")
        heads, hkv = hq, hk
        out_lead = batch + (hq,)
        qb, kb, vb = (batch + (hq, L, D), batch + (hk, S, D), batch + (hk, S, Dv))
    else:
        lead = _broadcast(
            [q.shape[:-2], k.shape[:-2], v.shape[:-2]], "query, key and value",
            " (different head counts need enable_gqa=True)",
        )
        batch, heads = (lead[:-1], lead[-1]) if lead else ((), 1)
        out_lead = lead
        # A key/value head dimension of 1 against several query heads is multi-query attention:
        # the kernel reads it in place instead of a broadcast copy.
        k_heads = tuple(k.shape)[-3] if len(k.shape) >= 3 else 1
        v_heads = tuple(v.shape)[-3] if len(v.shape) >= 3 else 1
        hkv = 1 if (k_heads == 1 and v_heads == 1) else heads
        qb, kb, vb = (batch + (heads, L, D), batch + (hkv, S, D), batch + (hkv, S, Dv))
    B = math.prod(batch)
    q = _dispatch.reshape(_materialise(q, qb, on_device), (B, heads, L, D))
    k = _dispatch.reshape(_materialise(k, kb, on_device), (B, hkv, S, D))
    v = _dispatch.reshape(_materialise(v, vb, on_device), (B, hkv, S, Dv))
    if D == 0:
        # An empty head dimension gives the score 0 for every (query, key) pair, as torch: the
        # kernels get one zero feature instead (the mask, causality and the window still apply).
        q, k = _zeros((B, heads, L, 1), dtype, on_device), _zeros((B, hkv, S, 1), dtype, on_device)
    mask = None
    if attn_mask is not None:
        m = _dispatch.prepare_array(attn_mask, mask_name)
        mask = _additive_mask(m, dtype, batch + (heads, L, S), batch, on_device, mask_name)
    return backend, (q, k, v, mask, is_causal, scale, wl, wr, softcap), out_lead + (L,), Dv, dtype


def scaled_dot_product_attention(
    query: ArrayLike,
    key: ArrayLike,
    value: ArrayLike,
    attn_mask: Optional[ArrayLike] = None,
    dropout_p: float = 0.0,
    is_causal: bool = False,
    *,
    scale: Optional[float] = None,
    enable_gqa: bool = False,
    window: Optional[Tuple[Optional[int], Optional[int]]] = None,
    softcap: Optional[float] = None,
    return_lse: bool = False,
    backend: str = "auto",
) -> Union[Any, Tuple[Any, Any]]:
    """Scaled dot-product attention, ``softmax(query @ key^T * scale + mask) @ value``.

    torch's signature (``torch.nn.functional.scaled_dot_product_attention``: the same
    positional arguments in the same order, ``scale`` and ``enable_gqa`` keyword-only) and
    broadcasting, plus keyword-only extras: FlashAttention's sliding window and logit
    soft-capping, the log-sum-exp, the backend.

    Parameters
    ----------
    query : array, shape ``[..., L, D]``
        float32 or float64.  ``D = 0`` is allowed: every score is then 0 (as torch), so each
        row is the mean of the values of the keys it may see (under the mask, causality, window).
    key : array, shape ``[..., S, D]``
        Same dtype as ``query``.
    value : array, shape ``[..., S, Dv]``
        Same dtype as ``query``.  The leading dimensions of the three arrays broadcast
        together (as torch); with ``enable_gqa`` dimension -3 is the head dimension.
    attn_mask : array, optional
        Broadcastable to ``[..., L, S]``.  bool: True = the query may attend to the key;
        float (either precision, cast to ``query``'s): added to the scores (``-inf`` hides a key;
        NaN / +inf poison the row, as in torch).  A key-padding mask ``[B, 1, 1, S]`` is never
        expanded to ``L x S``.
    dropout_p : float
        Must be ``0.0``: attention dropout is not implemented (these are inference kernels);
        any other probability raises ``ValueError``.
    is_causal : bool
        Key ``j`` is visible to query ``i`` only if ``j <= i`` (top-left aligned, as torch,
        also when ``L != S``).  As torch, it cannot be combined with ``attn_mask``.
    scale : float, optional
        Positive multiplier of the scores, finite in the inputs' dtype; default ``1 / sqrt(D)``.
    enable_gqa : bool
        Grouped-query attention: ``query`` has ``Hq`` heads on dimension -3, ``key`` / ``value``
        have ``Hkv`` heads with ``Hq % Hkv == 0``; query head ``h`` uses key/value head
        ``h // (Hq // Hkv)``.  Without it head counts must be equal or broadcast (1).
    window : (left, right), optional
        Sliding window: key ``j`` is visible to query ``i`` only if
        ``i - left <= j <= i + right``.  Non-negative integers of any size (a side wider than
        the sequences is unbounded); ``None`` for a side means unbounded.  Combines with
        ``is_causal`` and ``attn_mask``.
    softcap : float, optional
        Positive cap (finite in the inputs' dtype): scores become
        ``softcap * tanh(scores / softcap)`` after scaling and before the mask (as
        FlashAttention / Gemma 2).
    return_lse : bool
        Also return the log-sum-exp (natural log) of each query row's final scores.
    backend : {"auto", "cpu", "cuda", "reference"}
        ``"auto"`` is ``"cuda"`` for GPU inputs (anything with ``__cuda_array_interface__``),
        else ``"cpu"``.

    Returns
    -------
    out : array, shape ``[..., L, Dv]``
        Dtype of ``query``; a GPU array of the input's library for GPU inputs.
    lse : array, shape ``[..., L]``
        Only with ``return_lse=True``.

    Notes
    -----
    A query row for which every key is hidden (by the mask, causality or the window) returns
    zeros (as torch 2.13) and ``lse = -inf``, the log of an empty sum, so that partial results
    merge correctly (torch's internal flash kernel reports 0 there).  Inputs are never modified.

    NaN and inf propagate as in torch, identically on every backend:

    * a NaN or ``+inf`` score (from NaN / inf in ``query`` or ``key``, ``inf * 0``,
      ``+inf + -inf`` with the mask, or a NaN / +inf mask entry) makes that query row NaN,
      and its ``lse`` NaN; ``-inf`` scores hide the key, like the mask;
    * a NaN / inf in ``value`` propagates into that column of every row that attends to the
      key, and also of rows for which ``attn_mask`` hides it (``0 * NaN = NaN``, as torch);
      a row attends to every key whose weight ``exp(score - row max)`` is representable,
      subnormal weights included (``inf`` times a weight of ``1e-40`` is ``inf``, not NaN); a
      weight that underflows to exactly 0 (a score about 104 (float32) / 745 (float64) below
      the row's maximum) counts as masked;
    * keys outside the causal / window bounds are never read, so NaN / inf there has no
      effect (torch's flash kernel ignores their scores too, but lets a NaN value leak into
      rows of the same block, depending on its tiling; its math kernel reads them all).

    Examples
    --------
    >>> import numpy as np
    >>> q = np.zeros((1, 2, 4), dtype=np.float32)  # uniform attention ...
    >>> v = np.arange(12, dtype=np.float32).reshape(1, 3, 4)
    >>> scaled_dot_product_attention(q, q[:, :1].repeat(3, axis=1), v)[0, 0]  # ... = mean of v
    array([4., 5., 6., 7.], dtype=float32)
    """
    return _attention(query, key, value, attn_mask, dropout_p, is_causal, scale, enable_gqa, window, softcap,
                      return_lse, backend, "attn_mask")


def _attention(query, key, value, attn_mask, dropout_p, is_causal, scale, enable_gqa, window, softcap, return_lse,
               backend, mask_name):
    """Body of :func:`scaled_dot_product_attention` (``mask_name`` names the mask in errors)."""
    return_lse = _validate.flag(return_lse, "return_lse")
    backend, args, lead, Dv, dtype = _normalise(
        query, key, value, attn_mask, dropout_p, is_causal, scale, enable_gqa, window, softcap, backend, mask_name
    )
    q, k = args[0], args[1]
    if q.size == 0 or k.shape[2] == 0:  # nothing to attend to: no kernel call needed
        out = np.zeros(lead + (Dv,), dtype=dtype)
        lse = np.full(lead, -np.inf, dtype=dtype)
        if not isinstance(q, np.ndarray):
            from numba import cuda

            out, lse = cuda.to_device(out), cuda.to_device(lse)
    else:
        out, lse = _dispatch.kernels("attention", backend).sdpa(*args)
        out, lse = _dispatch.reshape(out, lead + (Dv,)), _dispatch.reshape(lse, lead)
    out, lse = _dispatch.wrap_like(out, query), _dispatch.wrap_like(lse, query)
    return (out, lse) if return_lse else out


# --------------------------------------------------------------------------------------------
# multi-head attention
# --------------------------------------------------------------------------------------------
def _library(x: Any) -> str:
    return type(x).__module__.split(".")[0]


def _permute(x: Any) -> Any:
    """Swap axes 1 and 2 of a 4-D array of any library (a view)."""
    if type(x).__module__.split(".")[0] == "torch":
        return x.permute(0, 2, 1, 3)
    return x.transpose(0, 2, 1, 3)


def _linear(x: Any, w: Any, b: Any) -> Any:
    """``x @ w.T + b`` in the array's own library (NumPy, CuPy or PyTorch)."""
    y = x @ w.T
    return y if b is None else y + b


def multi_head_attention(
    x_q: ArrayLike,
    x_kv: ArrayLike,
    w_q: ArrayLike,
    w_k: ArrayLike,
    w_v: ArrayLike,
    w_o: ArrayLike,
    num_heads: int,
    *,
    biases: Optional[Tuple[ArrayLike, ArrayLike, ArrayLike, ArrayLike]] = None,
    mask: Optional[ArrayLike] = None,
    is_causal: bool = False,
    backend: str = "auto",
) -> Any:
    """Multi-head attention as ``torch.nn.MultiheadAttention(E, num_heads, batch_first=True)``.

    ``out = concat_h(sdpa(x_q W_q^T + b_q, x_kv W_k^T + b_k, x_kv W_v^T + b_v)) W_o^T + b_o``
    with the heads split from the projected ``E`` features in order (head ``h`` owns features
    ``h * E/H : (h + 1) * E/H``), the torch layout.

    Parameters
    ----------
    x_q : array ``[B, L, E]``
        Queries (batch first).
    x_kv : array ``[B, S, E]``
        Keys / values source (``x_q`` itself for self-attention).
    w_q, w_k, w_v, w_o : arrays ``[E, E]``
        Projection weights, applied as ``x @ w.T`` (torch's ``in_proj_weight`` split in three,
        and ``out_proj.weight``).
    num_heads : int
        Divides ``E``.
    biases : (b_q, b_k, b_v, b_o), optional
        Four ``[E]`` bias vectors (torch's ``in_proj_bias`` split in three, ``out_proj.bias``).
    mask : array, optional
        As ``attn_mask`` of :func:`scaled_dot_product_attention` (True / 0 = attend),
        broadcastable to ``[B, num_heads, L, S]``.  Note: a bool ``attn_mask`` /
        ``key_padding_mask`` of ``torch.nn.MultiheadAttention`` has the opposite convention
        (True = ignore): pass ``~attn_mask`` / ``~kpm[:, None, None, :]`` (float masks are
        additive in both).  Named ``mask``, not ``attn_mask``, so that torch's meaning is never
        assumed.
    is_causal : bool
        Causal (top-left aligned); cannot be combined with ``mask``.
    backend : {"auto", "cpu", "cuda", "reference"}
        Backend of the attention kernel; the projections run in the inputs' library.

    Returns
    -------
    array ``[B, L, E]`` of the inputs' dtype.
    """
    if isinstance(num_heads, bool) or not isinstance(num_heads, numbers.Integral):
        raise TypeError(f"num_heads must be an integer, got {type(num_heads).__name__}")
    everything = [x_q, x_kv, w_q, w_k, w_v, w_o, mask] + (list(biases) if isinstance(biases, Sequence) else [])
    if any(_dispatch.is_device_array(a) and _library(a) not in ("cupy", "torch") for a in everything):
        # Numba device arrays have no matmul: the projections run on the host, the attention
        # kernel on the GPU, and the result goes back to the device.
        backend = _dispatch.resolve_backend(backend, *everything)
        if any(a is not None and not _dispatch.is_device_array(a) for a in everything):
            raise ValueError("multi_head_attention needs all inputs on the host or all on the GPU")
        from numba import cuda

        def host(a):
            return None if a is None else _dispatch.host(a)

        out = multi_head_attention(
            *(host(a) for a in (x_q, x_kv, w_q, w_k, w_v, w_o)), num_heads,
            biases=None if biases is None else tuple(host(b) for b in biases), mask=host(mask),
            is_causal=is_causal, backend=backend,
        )
        return cuda.to_device(out)
    num_heads = int(num_heads)
    if num_heads < 1:
        raise ValueError(f"num_heads must be >= 1, got {num_heads}")
    names = ("x_q", "x_kv", "w_q", "w_k", "w_v", "w_o")
    arrays = [x_q, x_kv, w_q, w_k, w_v, w_o]
    host = not any(_dispatch.is_device_array(a) for a in arrays)
    if host:
        arrays = [_dispatch.prepare_array(a, n) for a, n in zip(arrays, names)]
    views = [_dispatch.prepare_array(a, n) for a, n in zip(arrays, names)]  # shapes and dtypes
    bias_arrays: list = [None] * 4
    bias_views: list = []
    if biases is not None:
        if isinstance(biases, (str, bytes)) or not isinstance(biases, Sequence) or len(biases) != 4:
            raise TypeError("biases must be None or a sequence (b_q, b_k, b_v, b_o) of four arrays")
        bias_arrays = [_dispatch.prepare_array(b, f"biases[{i}]") if host else b for i, b in enumerate(biases)]
        bias_views = [_dispatch.prepare_array(b, f"biases[{i}]") for i, b in enumerate(biases)]
    _validate.float_arrays(
        **dict(zip(names, views)), **{f"biases[{i}]": b for i, b in enumerate(bias_views)}
    )
    xq, xkv = views[0], views[1]
    if len(xq.shape) != 3:
        raise ValueError(f"x_q must have shape [B, L, E], got {tuple(xq.shape)}")
    if len(xkv.shape) != 3:
        raise ValueError(f"x_kv must have shape [B, S, E], got {tuple(xkv.shape)}")
    B, L, E = xq.shape
    if xkv.shape[0] != B or xkv.shape[2] != E:
        raise ValueError(f"x_kv must have shape [{B}, S, {E}] to match x_q, got {tuple(xkv.shape)}")
    S = xkv.shape[1]
    for name, w in zip(names[2:], views[2:]):
        if tuple(w.shape) != (E, E):
            raise ValueError(f"{name} must have shape ({E}, {E}), got {tuple(w.shape)}")
    for i, b in enumerate(bias_views):
        if tuple(b.shape) != (E,):
            raise ValueError(f"biases[{i}] must have shape ({E},), got {tuple(b.shape)}")
    if E % num_heads:
        raise ValueError(f"num_heads ({num_heads}) must divide the embedding size E = {E}")
    hd = E // num_heads
    xq_a, xkv_a, wq, wk, wv, wo = arrays
    if not host and any(not _dispatch.is_device_array(a) for a in arrays + list(bias_arrays) if a is not None):
        raise ValueError("multi_head_attention needs all inputs on the host or all on the GPU")

    def split(x, n):  # [B, n, E] -> [B, H, n, hd]
        return _permute(x.reshape(B, n, num_heads, hd))

    q = split(_linear(xq_a, wq, bias_arrays[0]), L)
    k = split(_linear(xkv_a, wk, bias_arrays[1]), S)
    v = split(_linear(xkv_a, wv, bias_arrays[2]), S)
    o = _attention(q, k, v, mask, 0.0, is_causal, None, False, None, None, False, backend, "mask")
    o = _permute(o).reshape(B, L, E)
    return _linear(o, wo, bias_arrays[3])


# --------------------------------------------------------------------------------------------
# positional encoding
# --------------------------------------------------------------------------------------------
def sinusoidal_positional_encoding(max_len: int, d_model: int, dtype: Any = np.float64) -> np.ndarray:
    """Sinusoidal positional encoding of "Attention Is All You Need" (Vaswani et al., 2017).

    ``PE[pos, 2i] = sin(pos / 10000^(2i / d_model))`` and
    ``PE[pos, 2i + 1] = cos(pos / 10000^(2i / d_model))``.  For odd ``d_model`` the last column
    is a sine (its cosine partner is dropped).

    Parameters
    ----------
    max_len : int
        Number of positions (>= 0).
    d_model : int
        Embedding size (>= 1).
    dtype : float32 or float64

    Returns
    -------
    numpy.ndarray ``[max_len, d_model]``
    """
    max_len = _validate.integer(max_len, "max_len", minimum=0)
    d_model = _validate.integer(d_model, "d_model", minimum=1)
    if dtype is None:
        raise TypeError("dtype must be float32 or float64, got None")
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"dtype must be float32 or float64, got {dtype!r}") from None
    if dt not in _validate.FLOAT_DTYPES:
        raise TypeError(f"dtype must be float32 or float64, got {dt}")
    pos = np.arange(max_len, dtype=np.float64)[:, None]
    two_i = np.arange(0, d_model, 2, dtype=np.float64)
    angle = pos / np.power(10000.0, two_i / d_model)
    pe = np.empty((max_len, d_model), dtype=np.float64)
    pe[:, 0::2] = np.sin(angle)
    pe[:, 1::2] = np.cos(angle[:, : d_model // 2])
    return pe.astype(dt)


# The backward pass reuses this module's input normalisation, so it is imported last.
from .attention_backward import scaled_dot_product_attention_backward  # noqa: E402
