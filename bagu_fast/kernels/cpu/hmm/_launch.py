"""Launchers with the raw signature of :mod:`bagu_fast.kernels.reference.hmm`: inputs converted to
contiguous float64, the thread count cut to what each call can use (:func:`_region`), results back
in the input dtype."""
from __future__ import annotations

from contextlib import contextmanager

import numba
import numpy as np

from .._parallel import parallel_region, thread_count
from ._common import _MAX_CHUNKS
from .crf import _crf_observed
from .forward_backward import _forward_loglik, _posteriors
from .logspace import _backward_log, _forward_log
from .decoding import _viterbi

_MIN_WORK_PER_THREAD = 2_000_000  # transitions (rows x N^2, ~1 ms) per extra thread woken


@contextmanager
def _region(n_seq: int, rows: int, N: int):
    """parallel_region() with the thread count cut to what the call can use: one per sequence at
    most (a single long sequence runs on the calling thread alone, without waiting on a team
    barrier), and one per ``_MIN_WORK_PER_THREAD`` transitions.  The count only changes who runs
    which sequence, never the result."""
    want = min(n_seq, (rows * N * N) // _MIN_WORK_PER_THREAD)
    if want > 1:  # (small calls skip the query: thread_count makes it anyway)
        want = min(want, numba.get_num_threads())
    with thread_count(want), parallel_region():
        yield


def _prep(start, trans, end, em, seq_start, seq_len):
    f = lambda x: np.ascontiguousarray(x, dtype=np.float64)  # noqa: E731
    return (f(start), f(trans), f(end), f(em), np.ascontiguousarray(seq_start, dtype=np.int64),
            np.ascontiguousarray(seq_len, dtype=np.int64))


def _n_chunks(S: int) -> int:
    return max(1, min(S, _MAX_CHUNKS))


def forward(start, trans, end, em, seq_start, seq_len, return_alpha):
    dtype = np.dtype(em.dtype)
    start, trans, end, em, seq_start, seq_len = _prep(start, trans, end, em, seq_start, seq_len)
    S = seq_len.shape[0]
    logz = np.empty(S)
    alpha = None
    if S:
        if return_alpha:
            alpha = np.full(em.shape, -np.inf)
            with _region(S, em.shape[0], em.shape[1]):
                _forward_log(start, trans, end, em, seq_start, seq_len, logz, alpha)
        else:
            with _region(S, em.shape[0], em.shape[1]):
                _forward_loglik(start, trans, end, em, seq_start, seq_len, logz)
    elif return_alpha:
        alpha = np.full(em.shape, -np.inf)
    return logz.astype(dtype, copy=False), (None if alpha is None else alpha.astype(dtype, copy=False))


def backward(start, trans, end, em, seq_start, seq_len):
    dtype = np.dtype(em.dtype)
    start, trans, end, em, seq_start, seq_len = _prep(start, trans, end, em, seq_start, seq_len)
    beta = np.full(em.shape, -np.inf)
    if seq_len.shape[0]:
        with _region(seq_len.shape[0], em.shape[0], em.shape[1]):
            _backward_log(trans, end, em, seq_start, seq_len, beta)
    return beta.astype(dtype, copy=False)


def _run_posteriors(start, trans, end, em, seq_start, seq_len, want_xi):
    S = seq_len.shape[0]
    N = start.shape[0]
    logz = np.empty(S)
    gamma = np.zeros(em.shape)
    xi = np.zeros((_n_chunks(S), N, N))
    if S:
        with _region(S, em.shape[0], N):
            _posteriors(start, trans, end, em, seq_start, seq_len, want_xi, logz, gamma, xi)
    return logz, gamma, xi


def posteriors(start, trans, end, em, seq_start, seq_len):
    dtype = np.dtype(em.dtype)
    args = _prep(start, trans, end, em, seq_start, seq_len)
    logz, gamma, _ = _run_posteriors(*args, False)
    return gamma.astype(dtype, copy=False), logz.astype(dtype, copy=False)


def _start_end_counts(gamma, seq_start, seq_len):
    if seq_len.shape[0] == 0:
        return np.zeros(gamma.shape[1]), np.zeros(gamma.shape[1])
    return gamma[seq_start].sum(axis=0), gamma[seq_start + seq_len - 1].sum(axis=0)


def expected_counts(start, trans, end, em, seq_start, seq_len):
    dtype = np.dtype(em.dtype)
    args = _prep(start, trans, end, em, seq_start, seq_len)
    logz, gamma, xi = _run_posteriors(*args, True)
    c_start, c_end = _start_end_counts(gamma, args[4], args[5])
    xi = xi.sum(axis=0)
    return tuple(x.astype(dtype, copy=False) for x in (logz, c_start, xi, c_end, gamma))


def viterbi(start, trans, end, em, seq_start, seq_len):
    dtype = np.dtype(em.dtype)
    start, trans, end, em, seq_start, seq_len = _prep(start, trans, end, em, seq_start, seq_len)
    S = seq_len.shape[0]
    path = np.full(em.shape[0], -1, dtype=np.int32)
    score = np.empty(S)
    if S:
        with _region(S, em.shape[0], em.shape[1]):
            _viterbi(start, trans, end, em, seq_start, seq_len, path, score)
    return path, score.astype(dtype, copy=False)


def crf_grad(start, trans, end, em, tags, seq_start, seq_len):
    dtype = np.dtype(em.dtype)
    args = _prep(start, trans, end, em, seq_start, seq_len)
    start, trans, end, em, seq_start, seq_len = args
    tags = np.ascontiguousarray(tags, dtype=np.int32)
    S = seq_len.shape[0]
    N = start.shape[0]
    logz, gamma, xi = _run_posteriors(*args, True)
    llh = np.empty(S)
    obs = np.zeros((_n_chunks(S), N + 2, N))
    g_em = -gamma
    if S:
        with _region(S, em.shape[0], 1):  # O(rows) work: one thread unless it is large
            _crf_observed(start, trans, end, em, tags, seq_start, seq_len, logz, llh, g_em, obs)
    obs = obs.sum(axis=0)
    c_start, c_end = _start_end_counts(gamma, seq_start, seq_len)
    g_trans = obs[:N] - xi.sum(axis=0)
    g_start = obs[N] - c_start
    g_end = obs[N + 1] - c_end
    g_em += 0.0  # -0.0 from the negation becomes 0.0
    return tuple(x.astype(dtype, copy=False) for x in (llh, g_em, g_trans, g_start, g_end))
