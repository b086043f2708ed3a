"""NumPy reference for the attention family: the textbook formula, one (batch, head) at a time.

Raw signature shared with the cpu and cuda modules (inputs already validated and normalised by
:mod:`bagu_fast.attention`):

``sdpa(q, k, v, mask, is_causal, scale, window_left, window_right, softcap) -> (out, lse)``

* ``q`` ``[B, Hq, L, D]``, ``k`` ``[B, Hkv, S, D]``, ``v`` ``[B, Hkv, S, Dv]``: C-contiguous, one
  float dtype, ``Hq % Hkv == 0``; query head ``h`` reads key/value head ``h // (Hq // Hkv)``.
* ``mask``: ``None`` or an additive float array of q's dtype, shape ``[Bm, Hm, Lm, S]`` with
  ``Bm in {1, B}``, ``Hm in {1, Hq}``, ``Lm in {1, L}`` (size-1 dimensions broadcast).
* ``is_causal``: key ``j`` visible to query ``i`` only if ``j <= i`` (top-left aligned).
* ``window_left`` / ``window_right``: key ``j`` visible only if ``i - left <= j <= i + right``;
  ``-1`` means that side is unbounded.
* ``softcap``: ``0.0`` = off, else scores become ``softcap * tanh(scores / softcap)`` (after
  scaling, before the mask).

Returns ``out`` ``[B, Hq, L, Dv]`` and ``lse`` ``[B, Hq, L]`` (natural-log log-sum-exp of the final
scores), both of q's dtype.

NaN / inf semantics (shared by every backend; torch's where torch is consistent):

* Keys outside the causal / window bounds (*structurally hidden*) are never read: whatever their
  key or value rows hold has no effect on that query row.
* Every other key gets the score ``scale * q.k`` (soft-capped), plus the additive mask, in IEEE
  arithmetic: ``NaN + -inf = NaN``, ``+inf + -inf = NaN``.
* A row with a NaN or ``+inf`` score gets ``out = NaN`` (every column) and ``lse = NaN``.
* Otherwise ``-inf`` scores (masked keys) get weight exactly 0, and
  ``out = sum_j p_j v_j / sum_j p_j`` over the structurally visible keys, in IEEE arithmetic:
  a NaN / inf value of a masked key still poisons its column (``0 * NaN = NaN``), as in torch.
* A row whose scores are all ``-inf`` (or that sees no key) gets ``lse = -inf`` and
  ``out = sum_j 0 * v_j`` (zeros, unless a visible value is NaN / inf).
"""
from __future__ import annotations

import numpy as np


def visible(L: int, S: int, is_causal: bool, window_left: int, window_right: int) -> np.ndarray:
    """Boolean ``[L, S]``: True where key ``j`` is structurally visible to query ``i``."""
    i = np.arange(L)[:, None]
    j = np.arange(S)[None, :]
    vis = np.ones((L, S), dtype=bool)
    if is_causal:
        vis &= j <= i
    if window_left >= 0:
        vis &= j >= i - window_left
    if window_right >= 0:
        vis &= j <= i + window_right
    return vis


def scores(q2, k2, mask2, scale, softcap, vis):
    """Final scores ``[L, S]`` of one (batch, head): scaled, capped, masked (-inf = hidden)."""
    s = (q2 @ k2.T) * q2.dtype.type(scale)
    if softcap > 0.0:
        c = q2.dtype.type(softcap)
        s = c * np.tanh(s / c)
    if mask2 is not None:
        s = s + mask2
    return np.where(vis, s, q2.dtype.type(-np.inf))


def weighted_values(p, v2, vis):
    """``out[i] = sum over structurally visible j of p[i, j] * v2[j]`` (IEEE: 0 * NaN = NaN)."""
    if vis.all() or np.isfinite(v2).all():
        return p @ v2  # p is 0 on hidden keys and 0 * finite = 0: the same sum
    out = np.zeros((p.shape[0], v2.shape[1]), dtype=p.dtype)
    for i in range(p.shape[0]):
        out[i] = p[i, vis[i]] @ v2[vis[i]]
    return out


def sdpa(q, k, v, mask, is_causal, scale, window_left, window_right, softcap):
    B, Hq, L, _ = q.shape
    Hkv, S, Dv = k.shape[1], k.shape[2], v.shape[3]
    group = Hq // Hkv
    dtype = q.dtype
    out = np.zeros((B, Hq, L, Dv), dtype=dtype)
    lse = np.full((B, Hq, L), -np.inf, dtype=dtype)
    vis = visible(L, S, is_causal, window_left, window_right)
    for b in range(B):
        for h in range(Hq):
            m2 = None
            if mask is not None:
                m2 = mask[b if mask.shape[0] > 1 else 0, h if mask.shape[1] > 1 else 0]
            with np.errstate(invalid="ignore", over="ignore"):
                s = scores(q[b, h], k[b, h // group], m2, scale, softcap, vis)
            poisoned = np.isnan(s).any(axis=1) | np.isposinf(s).any(axis=1)  # NaN / +inf score
            s[poisoned] = -np.inf
            row_max = s.max(axis=1, initial=-np.inf, keepdims=True)
            shift = np.where(np.isfinite(row_max), row_max, 0)  # all-hidden rows: exp(-inf) = 0
            p = np.exp(s - shift)
            total = p.sum(axis=1, keepdims=True)
            with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
                num = weighted_values(p, v[b, h // group], vis)
                seen = total[:, 0] > 0
                o = np.where(seen[:, None], num / np.where(total > 0, total, 1), num)
                lo = np.where(seen, (shift + np.log(np.where(total > 0, total, 1)))[:, 0], -np.inf)
            o[poisoned] = np.nan
            lo[poisoned] = np.nan
            out[b, h] = o
            lse[b, h] = lo
    return out, lse
