"""Viterbi decoding of many sequences.

Viterbi is max-plus in log space (no exponentials): four source rows at a time, a contiguous
row update ``best = max(best, delta_i + trans[i, :])`` that vectorises, without tracking an
argmax per state: every delta row is kept (a per-chunk scratch reused
across that chunk's sequences) and the back-pointer of the chosen state is recomputed at each
step of the backtrace (vectorised maximum, then the first index reaching it: the lowest index
on ties, bit-identical sums, so the same path as the reference).
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from ._common import _MAX_CHUNKS, NEG_INF, _mx


@njit(inline="always", cache=True)
def _maxplus(d, M, out):
    """out[j] = max_i d[i] + M[i, j] (values only; back-pointers are recomputed on the way back)."""
    N = d.shape[0]
    K = out.shape[0]
    for j in range(K):
        out[j] = NEG_INF
    N4 = N - N % 4
    for i in range(0, N4, 4):
        d0 = d[i]
        d1 = d[i + 1]
        d2 = d[i + 2]
        d3 = d[i + 3]
        r0 = M[i]
        r1 = M[i + 1]
        r2 = M[i + 2]
        r3 = M[i + 3]
        for j in range(K):
            c = _mx(_mx(d0 + r0[j], d1 + r1[j]), _mx(d2 + r2[j], d3 + r3[j]))
            out[j] = _mx(c, out[j])
    for i in range(N4, N):
        di = d[i]
        r = M[i]
        for j in range(K):
            out[j] = _mx(di + r[j], out[j])


@njit(inline="always", cache=True, fastmath={"nnan", "nsz", "reassoc"})
def _colmax(prev, col):
    """max_i prev[i] + col[i] as a vectorised reduction.  nnan is safe: the inputs hold no NaN
    and no +inf (checked before any kernel runs), so no sum can be NaN; -inf keeps its meaning."""
    best = NEG_INF
    for i in range(prev.shape[0]):
        v = prev[i] + col[i]
        best = v if v > best else best
    return best


@njit(cache=True, nogil=True)
def _viterbi_seq(start, trans, transT, end, e, d, path):
    """Viterbi of one sequence (e, d: [L, N]; path: [L]); returns the best score.

    Max-plus forward pass keeping every delta row in d; the back-pointer of the chosen state is
    recomputed at each step of the backtrace (the same sums, so the same maximum, and the lowest
    index among ties) instead of tracking an argmax for every state at every step."""
    L, N = e.shape
    for j in range(N):
        d[0, j] = start[j] + e[0, j]
    for t in range(1, L):
        row = d[t]
        _maxplus(d[t - 1], trans, row)
        for j in range(N):
            row[j] += e[t, j]
    k = 0
    top = d[L - 1, 0] + end[0]
    for j in range(1, N):
        v = d[L - 1, j] + end[j]
        if v > top:
            top = v
            k = j
    path[L - 1] = k
    for t in range(L - 1, 0, -1):
        col = transT[k]
        prev = d[t - 1]
        best = _colmax(prev, col)
        k = 0
        for i in range(N):  # the first index reaching the maximum: lowest index on ties
            if prev[i] + col[i] == best:
                k = i
                break
        path[t - 1] = k
    return top


@njit(cache=True, nogil=True, parallel=True)
def _viterbi(start, trans, end, em, seq_start, seq_len, path, score):
    """Sequences in min(S, 64) strided chunks, each reusing one delta history buffer (a cache-sized
    scratch when sequences are short, instead of an [R, N] array through memory)."""
    S = seq_len.shape[0]
    N = start.shape[0]
    transT = np.ascontiguousarray(trans.T)
    max_len = 0
    for s in range(S):
        max_len = max(max_len, seq_len[s])
    n_chunks = min(S, _MAX_CHUNKS)
    hist = np.empty((n_chunks, max_len, N))
    for c in prange(n_chunks):
        for s in range(c, S, n_chunks):
            r0 = seq_start[s]
            L = seq_len[s]
            score[s] = _viterbi_seq(start, trans, transT, end, em[r0:r0 + L], hist[c, :L], path[r0:r0 + L])
