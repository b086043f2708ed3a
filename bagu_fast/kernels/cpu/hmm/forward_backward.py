"""Kernels over many sequences for log-likelihoods (forward) and posteriors with the expected
transition counts (forward-backward): each sequence runs in the scaled linear domain under the rule
of :mod:`~bagu_fast.kernels.cpu.hmm.scaled`, and in log space
(:mod:`~bagu_fast.kernels.cpu.hmm.logspace`) where that rule sends it."""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from ._common import _MAX_CHUNKS
from .logspace import _log_alpha, _log_posteriors, _lse_sum
from .scaled import _CHECKED, _scaled_backward, _scaled_forward_seq, _setup_scaled


@njit(cache=True, nogil=True, parallel=True)
def _forward_loglik(start, trans, end, em, seq_start, seq_len, logz):
    S = seq_len.shape[0]
    N = start.shape[0]
    scaled = _setup_scaled(start, trans, end)
    transT = np.ascontiguousarray(trans.T)
    max_len = 0
    for s in range(S):
        max_len = max(max_len, seq_len[s])
    n_chunks = min(S, _MAX_CHUNKS)
    ah = np.empty((n_chunks, max_len, N))
    cs = np.empty((n_chunks, max_len))
    ms = np.empty((n_chunks, max_len))
    tmp = np.empty((n_chunks, N))
    for c in prange(n_chunks):
        for s in range(c, S, n_chunks):
            r0 = seq_start[s]
            L = seq_len[s]
            e = em[r0:r0 + L]
            good, z = _scaled_forward_seq(scaled, e, ah[c, :L], cs[c, :L], ms[c, :L], tmp[c])
            if good:
                logz[s] = z
            else:
                a = ah[c, :L]
                _log_alpha(start, transT, e, a)
                logz[s] = _lse_sum(a[L - 1], end)


@njit(cache=True, nogil=True, parallel=True)
def _posteriors(start, trans, end, em, seq_start, seq_len, want_xi, logz, gamma, xi_chunks):
    """gamma [R, N] (zero rows outside sequences are the caller's), logz [S], and when want_xi
    the xi sums per chunk (xi_chunks [n_chunks, N, N], zeroed by the caller)."""
    S = seq_len.shape[0]
    N = start.shape[0]
    scaled = _setup_scaled(start, trans, end)
    mode, _sl, _smax, A, _tmax, el, _emax, _amin = scaled
    checked = mode == _CHECKED
    AT = np.ascontiguousarray(A.T)
    transT = np.ascontiguousarray(trans.T)
    max_len = 0
    for s in range(S):
        max_len = max(max_len, seq_len[s])
    n_chunks = xi_chunks.shape[0]
    cs = np.empty((n_chunks, max_len))
    ms = np.empty((n_chunks, max_len))
    scratch = np.empty((n_chunks, 3, N))
    xs = np.zeros((n_chunks, N, N))  # scaled-path xi (times A at the end)
    for c in prange(n_chunks):
        for s in range(c, S, n_chunks):
            r0 = seq_start[s]
            L = seq_len[s]
            e = em[r0:r0 + L]
            g = gamma[r0:r0 + L]
            good, z = _scaled_forward_seq(scaled, e, g, cs[c, :L], ms[c, :L], scratch[c, 0])
            if good:
                logz[s] = z
                _scaled_backward(AT, el, e, g, cs[c, :L], ms[c, :L], scratch[c, 1], scratch[c, 2], xs[c], want_xi,
                                checked)
            else:
                logz[s] = _log_posteriors(start, trans, transT, end, e, g, xi_chunks[c], want_xi)
        if want_xi:
            for i in range(N):
                for j in range(N):
                    if A[i, j] != 0.0:  # a forbidden pair's scaled sum is unbounded (even inf)
                        xi_chunks[c, i, j] += xs[c, i, j] * A[i, j]
