"""NumPy reference for the attention backward pass: the full ``L x S`` matrices, one (batch, head)
at a time.

Raw signature shared with the cpu and cuda modules (inputs validated and normalised by
:mod:`bagu_fast.attention_backward`; the forward's arguments as in
:mod:`bagu_fast.kernels.reference.attention`):

``sdpa_backward(grad_out, q, k, v, out, lse, mask, is_causal, scale, window_left, window_right,
softcap) -> (grad_q, grad_k, grad_v)``

* ``grad_out`` and ``out`` ``[B, Hq, L, Dv]``, ``lse`` ``[B, Hq, L]``: what the forward returned
  and the gradient of the loss with respect to ``out``; same dtype as ``q``.
* Returns ``grad_q`` ``[B, Hq, L, D]``, ``grad_k`` ``[B, Hkv, S, D]``, ``grad_v``
  ``[B, Hkv, S, Dv]`` in q's dtype; the gradients of a key / value head shared by several query
  heads are summed over them.

With ``u = scale * q_i . k_j``, ``s_ij = softcap * tanh(u / softcap) + mask_ij`` (or ``u + mask``)
and ``P_ij = exp(s_ij - lse_i)``::

    dV_j  = sum_i P_ij dO_i
    dP_ij = dO_i . V_j
    D_i   = dO_i . O_i                  (= sum_j P_ij dP_ij)
    dS_ij = P_ij (dP_ij - D_i) (1 - tanh(u / softcap)^2)     (the last factor only with softcap)
    dQ_i  = scale * sum_j dS_ij K_j
    dK_j  = scale * sum_i dS_ij Q_i

Every sum runs over the *live* pairs ``(i, j)``: key ``j`` structurally visible to query ``i``
(causal / window bounds, as the forward, which never reads the others) and row ``i`` not dead.
A row is dead when ``lse_i = -inf`` (it attended to nothing, its output is a constant zero): it
gets ``dQ_i = 0`` and adds nothing to ``dK`` / ``dV``.  Inside the live pairs the arithmetic is
IEEE, as in the forward: a NaN ``lse`` (a poisoned row) makes that row's gradients and the
``dK`` / ``dV`` of every key it sees NaN, and ``0 * NaN = NaN`` lets a NaN / inf value, key or
upstream gradient of a *masked* (``-inf`` mask) key reach its row.
"""
from __future__ import annotations

import numpy as np

from .attention import visible


def live_matmul(a: np.ndarray, b: np.ndarray, live: np.ndarray) -> np.ndarray:
    """``out[i] = sum over j with live[i, j] of a[i, j] * b[j]``: ``a @ b`` without the pairs that
    are not live (``0 * NaN`` from them would otherwise leak in)."""
    if live.all() or (np.isfinite(a).all() and np.isfinite(b).all()):
        return a @ b  # a is 0 outside the live pairs and 0 * finite = 0: the same sum
    out = np.zeros((a.shape[0], b.shape[1]), dtype=a.dtype)
    for i in range(a.shape[0]):
        out[i] = a[i, live[i]] @ b[live[i]]
    return out


def sdpa_backward(grad_out, q, k, v, out, lse, mask, is_causal, scale, window_left, window_right, softcap):
    B, Hq, L, D = q.shape
    Hkv, S, Dv = k.shape[1], k.shape[2], v.shape[3]
    group = Hq // Hkv
    dtype = q.dtype
    t = dtype.type
    grad_q = np.zeros((B, Hq, L, D), dtype=dtype)
    grad_k = np.zeros((B, Hkv, S, D), dtype=dtype)
    grad_v = np.zeros((B, Hkv, S, Dv), dtype=dtype)
    vis = visible(L, S, is_causal, window_left, window_right)
    for b in range(B):
        for h in range(Hq):
            hk = h // group
            q2, k2, v2 = q[b, h], k[b, hk], v[b, hk]
            do2, o2, lse2 = grad_out[b, h], out[b, h], lse[b, h]
            live = vis & (lse2 != -np.inf)[:, None]
            with np.errstate(invalid="ignore", over="ignore"):
                u = (q2 @ k2.T) * t(scale)
                if softcap > 0.0:
                    c = t(softcap)
                    tanh = np.tanh(u / c)
                    s = c * tanh
                    slope = t(1) - tanh * tanh
                else:
                    s = u
                    slope = t(1)
                if mask is not None:
                    s = s + mask[b if mask.shape[0] > 1 else 0, h if mask.shape[1] > 1 else 0]
                p = np.where(live, np.exp(s - lse2[:, None]), t(0))
                dp = do2 @ v2.T
                d_row = np.sum(do2 * o2, axis=1)
                ds = np.where(live, p * (dp - d_row[:, None]) * slope, t(0))
                grad_v[b, hk] += live_matmul(p.T, do2, live.T)
                grad_k[b, hk] += live_matmul(ds.T, q2, live.T) * t(scale)
                grad_q[b, h] = live_matmul(ds, k2, live) * t(scale)
    return grad_q, grad_k, grad_v
