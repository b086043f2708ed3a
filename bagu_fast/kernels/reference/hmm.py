"""NumPy reference for the sequence-model family: the textbook recurrences of a linear chain.

One set of kernels serves hidden Markov models and linear-chain CRFs: an HMM is the chain with
``start = log pi``, ``trans = log A``, ``end = 0`` and ``em = log p(o_t | state)``; a CRF is the
chain with its (unnormalised) scores.  Raw signature shared with the cpu and cuda modules (inputs
already validated by :mod:`bagu_fast.hmm`):

* ``start [N]``, ``trans [N, N]`` (row = from, column = to), ``end [N]``: one float dtype;
* ``em [R, N]``: per-position scores of every state, rows of all sequences stored together;
* ``seq_start [S]``, ``seq_len [S]`` (int64): sequence ``s`` owns rows
  ``seq_start[s] : seq_start[s] + seq_len[s]``, ``seq_len >= 1``; rows owned by no sequence
  (a CRF's padding) are left alone and get the fill values below.

Kernels (all compute in float64 and return the input dtype; ``path`` / ``tags`` are int32):

* ``forward(..., return_alpha) -> (logz [S], alpha [R, N] or None)`` with
  ``alpha_0 = start + em_0``, ``alpha_t(j) = logsumexp_i(alpha_{t-1}(i) + trans(i, j)) + em_t(j)``,
  ``logz = logsumexp_i(alpha_{L-1}(i) + end(i))``;
* ``backward(...) -> beta [R, N]`` with ``beta_{L-1} = end``,
  ``beta_t(i) = logsumexp_j(trans(i, j) + em_{t+1}(j) + beta_{t+1}(j))``;
* ``posteriors(...) -> (gamma [R, N], logz [S])``, ``gamma = exp(alpha + beta - logz)``;
* ``viterbi(...) -> (path [R], score [S])``: ``delta_t(j) = max_i(delta_{t-1}(i) + trans(i, j)) +
  em_t(j)``, back-pointers ``psi`` (ties go to the lowest state index), best final state
  ``argmax_i(delta_{L-1}(i) + end(i))``, backtrace;
* ``expected_counts(...) -> (logz [S], start_counts [N], trans_counts [N, N], end_counts [N],
  gamma [R, N])``: ``start_counts = sum_s gamma_0``, ``end_counts = sum_s gamma_{L-1}``,
  ``trans_counts = sum_s sum_t exp(alpha_t(i) + trans(i, j) + em_{t+1}(j) + beta_{t+1}(j) - logz)``;
* ``crf_grad(..., tags [R] int) -> (llh [S], g_em [R, N], g_trans [N, N], g_start [N], g_end [N])``:
  ``llh = score(tags) - logz`` and its gradient (observed minus expected counts, summed over the
  sequences for the shared parameters).

Fill values: rows owned by no sequence get ``alpha = beta = -inf``, ``gamma = 0``, ``path = -1``.
A sequence of probability zero (``logz = -inf``) gets ``gamma = 0``, contributes nothing to the
counts, and in ``crf_grad`` has ``llh = -inf`` and a zero gradient.
"""
from __future__ import annotations

import numpy as np

__all__ = ["forward", "backward", "posteriors", "viterbi", "expected_counts", "crf_grad"]


def _lse(x: np.ndarray, axis: int) -> np.ndarray:
    """log-sum-exp along ``axis``; ``-inf`` when every entry is ``-inf``."""
    m = np.max(x, axis=axis, keepdims=True)
    m_safe = np.where(np.isfinite(m), m, 0.0)
    with np.errstate(divide="ignore"):
        out = np.log(np.sum(np.exp(x - m_safe), axis=axis, keepdims=True)) + m_safe
    return np.squeeze(out, axis=axis)


def _f64(*arrays):
    return [np.asarray(a, dtype=np.float64) for a in arrays]


def _alpha(start, trans, e):
    L, N = e.shape
    a = np.empty((L, N))
    a[0] = start + e[0]
    for t in range(1, L):
        a[t] = _lse(a[t - 1][:, None] + trans, axis=0) + e[t]
    return a


def _beta(trans, end, e):
    L, N = e.shape
    b = np.empty((L, N))
    b[L - 1] = end
    for t in range(L - 2, -1, -1):
        b[t] = _lse(trans + (e[t + 1] + b[t + 1])[None, :], axis=1)
    return b


def forward(start, trans, end, em, seq_start, seq_len, return_alpha):
    dtype = np.dtype(em.dtype)
    start, trans, end, em = _f64(start, trans, end, em)
    R, N = em.shape
    S = len(seq_len)
    logz = np.empty(S)
    alpha = np.full((R, N), -np.inf) if return_alpha else None
    for s in range(S):
        r0, L = int(seq_start[s]), int(seq_len[s])
        a = _alpha(start, trans, em[r0:r0 + L])
        logz[s] = _lse(a[L - 1] + end, axis=0)
        if return_alpha:
            alpha[r0:r0 + L] = a
    return logz.astype(dtype), (alpha.astype(dtype) if return_alpha else None)


def backward(start, trans, end, em, seq_start, seq_len):
    dtype = np.dtype(em.dtype)
    start, trans, end, em = _f64(start, trans, end, em)
    R, N = em.shape
    beta = np.full((R, N), -np.inf)
    for s in range(len(seq_len)):
        r0, L = int(seq_start[s]), int(seq_len[s])
        beta[r0:r0 + L] = _beta(trans, end, em[r0:r0 + L])
    return beta.astype(dtype)


def _sequence_posteriors(start, trans, end, e):
    """(logz, gamma [L, N], xi_sum [N, N]) of one sequence, float64."""
    a = _alpha(start, trans, e)
    b = _beta(trans, end, e)
    L, N = e.shape
    logz = _lse(a[L - 1] + end, axis=0)
    if not np.isfinite(logz):
        return logz, np.zeros((L, N)), np.zeros((N, N))
    gamma = np.exp(a + b - logz)
    xi = np.zeros((N, N))
    for t in range(L - 1):
        xi += np.exp(a[t][:, None] + trans + (e[t + 1] + b[t + 1])[None, :] - logz)
    return logz, gamma, xi


def posteriors(start, trans, end, em, seq_start, seq_len):
    logz, _, _, _, gamma = expected_counts(start, trans, end, em, seq_start, seq_len)
    return gamma, logz


def expected_counts(start, trans, end, em, seq_start, seq_len):
    dtype = np.dtype(em.dtype)
    start, trans, end, em = _f64(start, trans, end, em)
    R, N = em.shape
    S = len(seq_len)
    logz = np.empty(S)
    gamma = np.zeros((R, N))
    c_start, c_end, c_trans = np.zeros(N), np.zeros(N), np.zeros((N, N))
    for s in range(S):
        r0, L = int(seq_start[s]), int(seq_len[s])
        logz[s], g, xi = _sequence_posteriors(start, trans, end, em[r0:r0 + L])
        gamma[r0:r0 + L] = g
        c_start += g[0]
        c_end += g[L - 1]
        c_trans += xi
    return (logz.astype(dtype), c_start.astype(dtype), c_trans.astype(dtype), c_end.astype(dtype),
            gamma.astype(dtype))


def viterbi(start, trans, end, em, seq_start, seq_len):
    dtype = np.dtype(em.dtype)
    start, trans, end, em = _f64(start, trans, end, em)
    R, N = em.shape
    S = len(seq_len)
    path = np.full(R, -1, dtype=np.int32)
    score = np.empty(S)
    for s in range(S):
        r0, L = int(seq_start[s]), int(seq_len[s])
        e = em[r0:r0 + L]
        psi = np.zeros((L, N), dtype=np.int32)
        delta = start + e[0]
        for t in range(1, L):
            cand = delta[:, None] + trans  # [from, to]
            psi[t] = np.argmax(cand, axis=0)  # first maximum: the lowest index wins ties
            delta = cand[psi[t], np.arange(N)] + e[t]
        final = delta + end
        best = int(np.argmax(final))
        score[s] = final[best]
        path[r0 + L - 1] = best
        for t in range(L - 1, 0, -1):
            best = int(psi[t, best])
            path[r0 + t - 1] = best
    return path, score.astype(dtype)


def crf_grad(start, trans, end, em, tags, seq_start, seq_len):
    dtype = np.dtype(em.dtype)
    start, trans, end, em = _f64(start, trans, end, em)
    R, N = em.shape
    S = len(seq_len)
    llh = np.empty(S)
    g_em = np.zeros((R, N))
    g_trans, g_start, g_end = np.zeros((N, N)), np.zeros(N), np.zeros(N)
    for s in range(S):
        r0, L = int(seq_start[s]), int(seq_len[s])
        e = em[r0:r0 + L]
        y = np.asarray(tags[r0:r0 + L], dtype=np.int64)
        logz, g, xi = _sequence_posteriors(start, trans, end, e)
        if not np.isfinite(logz):
            llh[s] = -np.inf
            continue
        gold = start[y[0]] + e[np.arange(L), y].sum() + trans[y[:-1], y[1:]].sum() + end[y[L - 1]]
        llh[s] = gold - logz
        obs = np.zeros((L, N))
        obs[np.arange(L), y] = 1.0
        g_em[r0:r0 + L] = obs - g
        g_start += obs[0] - g[0]
        g_end += obs[L - 1] - g[L - 1]
        pairs = np.zeros((N, N))
        np.add.at(pairs, (y[:-1], y[1:]), 1.0)
        g_trans += pairs - xi
    return (llh.astype(dtype), g_em.astype(dtype), g_trans.astype(dtype), g_start.astype(dtype),
            g_end.astype(dtype))
