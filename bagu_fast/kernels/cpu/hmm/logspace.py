"""Log-space recurrences of one sequence (the fallback of the scaled domain), and the kernels over
many sequences whose outputs are log values (``forward`` with ``return_alpha``, ``backward``).

Each log-sum-exp runs in two vectorised passes: the max, then the sum of the polynomial exp."""
from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from ._common import _FM, NEG_INF, _exp_nonpos, _mx


@njit(inline="always", cache=True, fastmath=_FM)
def _lse_sum(x, y):
    """log sum_i exp(x[i] + y[i]) (-inf when every term is): a max pass and an exp-sum pass, both
    vectorised (the arguments of the exponentials are <= 0)."""
    m = NEG_INF
    for i in range(x.shape[0]):
        m = _mx(x[i] + y[i], m)
    if m == NEG_INF:
        return NEG_INF
    acc = 0.0
    for i in range(x.shape[0]):
        acc += _exp_nonpos(x[i] + y[i] - m)
    return m + math.log(acc)


@njit(cache=True, nogil=True, fastmath=_FM)
def _log_alpha(start, transT, e, a):
    """a[t] = log alpha_t of one sequence (e, a: [L, N]); transT[j, i] = trans[i, j]."""
    L, N = e.shape
    for j in range(N):
        a[0, j] = start[j] + e[0, j]
    for t in range(1, L):
        for j in range(N):
            a[t, j] = _lse_sum(a[t - 1], transT[j]) + e[t, j]


@njit(cache=True, nogil=True, fastmath=_FM)
def _log_beta(trans, end, e, b, w):
    """b[t] = log beta_t of one sequence; w: scratch [N]."""
    L, N = e.shape
    for i in range(N):
        b[L - 1, i] = end[i]
    for t in range(L - 2, -1, -1):
        for j in range(N):
            w[j] = e[t + 1, j] + b[t + 1, j]
        for i in range(N):
            b[t, i] = _lse_sum(trans[i], w)


@njit(cache=True, nogil=True, fastmath=_FM)
def _log_posteriors(start, trans, transT, end, e, g, xi, want_xi):
    """Log-space gamma (into g [L, N]) and xi sum (added to xi) of one sequence; returns logz."""
    L, N = e.shape
    a = np.empty((L, N))
    b = np.empty((L, N))
    w = np.empty(N)
    _log_alpha(start, transT, e, a)
    _log_beta(trans, end, e, b, w)
    logz = _lse_sum(a[L - 1], end)
    if logz == NEG_INF:
        for t in range(L):
            for j in range(N):
                g[t, j] = 0.0
        return logz
    for t in range(L):
        for j in range(N):
            g[t, j] = _exp_nonpos(a[t, j] + b[t, j] - logz)
    if want_xi:
        for t in range(L - 1):
            for j in range(N):
                w[j] = e[t + 1, j] + b[t + 1, j] - logz
            for i in range(N):
                ai = a[t, i]
                if ai == NEG_INF:
                    continue
                row = trans[i]
                xrow = xi[i]
                for j in range(N):
                    xrow[j] += _exp_nonpos(ai + row[j] + w[j])
    return logz


@njit(cache=True, nogil=True, parallel=True)
def _forward_log(start, trans, end, em, seq_start, seq_len, logz, alpha):
    S = seq_len.shape[0]
    transT = np.ascontiguousarray(trans.T)
    for s in prange(S):
        r0 = seq_start[s]
        L = seq_len[s]
        a = alpha[r0:r0 + L]
        _log_alpha(start, transT, em[r0:r0 + L], a)
        logz[s] = _lse_sum(a[L - 1], end)


@njit(cache=True, nogil=True, parallel=True)
def _backward_log(trans, end, em, seq_start, seq_len, beta):
    S = seq_len.shape[0]
    N = trans.shape[0]
    for s in prange(S):
        r0 = seq_start[s]
        L = seq_len[s]
        w = np.empty(N)
        _log_beta(trans, end, em[r0:r0 + L], beta[r0:r0 + L], w)
