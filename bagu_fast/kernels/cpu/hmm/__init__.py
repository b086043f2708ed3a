"""Numba CPU kernels for the sequence-model family (HMM and linear-chain CRF share them).

Raw signature and semantics: see :mod:`bagu_fast.kernels.reference.hmm`.  Inputs of either float
dtype are computed in float64 (the recursions are latency-bound, and long sequences need the
range); results come back in the input dtype.  Every kernel is compiled for one signature only.

* Sequences are independent: ``prange`` over sequences.  Kernels that sum over sequences (the
  expected counts, the CRF gradient) split them into ``min(S, 64)`` fixed strided chunks, each with
  its own accumulator, summed in chunk order afterwards, so the result does not depend on the
  number of threads.  Each call cuts numba's thread count to the sequences it has and to one
  thread per ``_MIN_WORK_PER_THREAD`` transitions (:func:`_region`): a single long sequence runs
  on the calling thread alone (a step of an ``N = 64`` chain is about a microsecond of work, less
  than a parallel-region barrier), small batches do not wake a team.
* Forward / backward for log-likelihoods, posteriors and counts run in the scaled linear domain:
  ``A = exp(trans - max trans)`` once per call, then per step one GEMV ``alpha_hat @ A`` times
  ``exp(em_t - max em_t)`` and a normaliser ``c_t`` (Rabiner's scaling; the backward pass reuses the
  ``c_t``).  The inner loops run over contiguous rows and vectorise.  Scaling cannot represent an
  entry below ~1e-308 of its row: once such an entry is flushed to 0 it never comes back, and
  where transitions have zeros (left-right, cyclic, banded chains, forbidden CRF tags) the path
  it carried may dominate later.  So a sequence stays in the scaled domain only while that
  provably costs nothing (:func:`_setup_scaled` picks the rule once per call):

  - *dense chains* (every ``trans`` and ``end`` entry finite, and ``log N`` plus the spread of
    ``trans``, and of ``end``, at most ``_DENSE_SPAN`` nats): no per-step test.  Underflow drops at
    most about ``N 2^-1021 / c_t`` of the normalised row (``c_t >= _TINY`` is checked), and a
    dense matrix passes at most ``e^spread`` times an entry's share into any later quantity, so a
    step changes any result by less than ``2^-64`` relative;
  - *every other chain*: a per-step test proves that no positive entry was lost: the previous
    row's smallest positive entry times the smallest positive ``A`` is at least ``_FLOOR`` (so
    every product of the GEMV is a normal number and its zero pattern is exact), and every state
    with a positive GEMV value and a finite emission keeps an entry of at least ``_FLOOR``.  A
    sequence that fails it at any step is recomputed in log space.

  The backward pass then loses nothing that matters: a scaled beta that underflows at
  ``(t, i)`` carries at most ``gamma_t(i) < 2^-1000`` of posterior mass, and states whose alpha is
  0 are left out of it.  The log-space path also takes over for every sequence when the finite
  entries of ``trans``, ``start`` or ``end`` span more than ``_MAX_RANGE`` nats (their
  exponentials would underflow), and for one sequence when a normaliser falls below ``_TINY`` (an
  impossible or nearly impossible sequence; the log path gives ``-inf`` exactly).
  ``return_alpha`` and ``backward`` return log values, so they always take the log-space path.
  Its log-sum-exps run in two vectorised passes (max, then sum of the polynomial exp).
* Viterbi is max-plus in log space (no exponentials): four source rows at a time, a contiguous
  row update ``best = max(best, delta_i + trans[i, :])`` that vectorises, without tracking an
  argmax per state: every delta row is kept (a per-chunk scratch reused
  across that chunk's sequences) and the back-pointer of the chosen state is recomputed at each
  step of the backtrace (vectorised maximum, then the first index reaching it: the lowest index
  on ties, bit-identical sums, so the same path as the reference).
* No allocation per time step: per-sequence scratch (a few rows) comes from per-chunk buffers.
"""
from __future__ import annotations

import math
from contextlib import contextmanager

import numba
import numpy as np
from numba import njit, prange

from .._parallel import parallel_region, thread_count
from .._vecmath import pow2_f64

__all__ = ["forward", "backward", "posteriors", "viterbi", "expected_counts", "crf_grad"]

_MAX_RANGE = 600.0  # nats: exp(-600) ~ 1e-261 keeps every entry a normal float64
_TINY = 1e-100  # a per-step normaliser below this sends the sequence to the log-space path
_DENSE_SPAN = 430.0  # nats: log N + score spread up to which a dense chain needs no per-step test
_FLOOR = 2.0 ** -1000  # smallest positive entry / GEMV product the per-step test accepts
_MAX_CHUNKS = 64  # accumulator chunks for the kernels that sum over sequences
_FM = {"reassoc", "contract", "nsz"}  # no nnan / ninf: -inf keeps its meaning

NEG_INF = -np.inf

# e^x for x <= 0: 2^n e^r, n = round(x log2 e), r = x - n ln 2 (Cody-Waite), degree-12 Taylor
# polynomial (relative error < 4e-16); branch-free so the loops that call it vectorise (Numba has
# no SVML here).  x < -708 gives 0 (exp would be subnormal there), -inf gives 0.
_LOG2E = 1.4426950408889634
_LN2_HI = 0.693147180369123816490
_LN2_LO = 1.90821492927058770002e-10
_C2, _C3, _C4, _C5, _C6, _C7, _C8, _C9, _C10, _C11, _C12 = (1.0 / math.factorial(k) for k in range(2, 13))


@njit(inline="always", cache=True, fastmath=_FM)
def _exp_nonpos(x):
    xc = -708.0 if x < -708.0 else x
    n = np.floor(xc * _LOG2E + 0.5)
    r = xc - n * _LN2_HI - n * _LN2_LO
    p = _C12 * r + _C11
    p = p * r + _C10
    p = p * r + _C9
    p = p * r + _C8
    p = p * r + _C7
    p = p * r + _C6
    p = p * r + _C5
    p = p * r + _C4
    p = p * r + _C3
    p = p * r + _C2
    p = p * r + 1.0
    p = p * r + 1.0
    y = p * pow2_f64(n)
    return 0.0 if x < -708.0 else y


@njit(inline="always", cache=True, fastmath=_FM)
def _vecmat(x, M, out):
    """out[j] = sum_i x[i] M[i, j]: contiguous row updates, four rows at a time."""
    N = x.shape[0]
    K = out.shape[0]
    for j in range(K):
        out[j] = 0.0
    N4 = N - N % 4
    for i in range(0, N4, 4):
        a0 = x[i]
        a1 = x[i + 1]
        a2 = x[i + 2]
        a3 = x[i + 3]
        r0 = M[i]
        r1 = M[i + 1]
        r2 = M[i + 2]
        r3 = M[i + 3]
        for j in range(K):
            out[j] += (a0 * r0[j] + a1 * r1[j]) + (a2 * r2[j] + a3 * r3[j])
    for i in range(N4, N):
        a = x[i]
        r = M[i]
        for j in range(K):
            out[j] += a * r[j]


@njit(inline="always", cache=True)
def _mx(a, b):
    return a if a > b else b


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


# --------------------------------------------------------------------------------------------
# log-space recursions of one sequence (fallback, and the log-valued outputs)
# --------------------------------------------------------------------------------------------
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


# --------------------------------------------------------------------------------------------
# scaled linear-domain recursions of one sequence
# --------------------------------------------------------------------------------------------
_LOG_ONLY, _DENSE, _CHECKED = 0, 1, 2  # how _setup_scaled lets sequences use the scaled domain


@njit(inline="always", cache=True, fastmath=_FM)
def _scaled_logz(ah, el, emax, total):
    """(ok, logz) from the last normalised row: the end weights, and the scales summed so far."""
    L, N = ah.shape
    z = 0.0
    for j in range(N):
        z += ah[L - 1, j] * el[j]
    if not z >= _TINY:
        return False, 0.0
    return True, total + math.log(z) + emax


@njit(cache=True, nogil=True, fastmath=_FM)
def _scaled_forward(sl, smax, A, tmax, el, emax, e, ah, cs, ms, tmp):
    """Normalised alpha (into ah [L, N]), normalisers cs [L] and emission maxima ms [L] of a
    dense chain (no per-step test: the module docstring says why none is needed).

    Returns (ok, logz): ok is False when a normaliser fell below _TINY (use the log path)."""
    L, N = e.shape
    total = 0.0
    for t in range(L):
        m = NEG_INF
        for j in range(N):
            m = _mx(e[t, j], m)
        if m == NEG_INF:
            return False, 0.0
        if t == 0:
            for j in range(N):
                tmp[j] = sl[j]
        else:
            _vecmat(ah[t - 1], A, tmp)
        c = 0.0
        for j in range(N):
            v = tmp[j] * _exp_nonpos(e[t, j] - m)
            tmp[j] = v
            c += v
        if not c >= _TINY:
            return False, 0.0
        inv = 1.0 / c
        for j in range(N):
            ah[t, j] = tmp[j] * inv
        cs[t] = c
        ms[t] = m
        total += math.log(c) + m + (smax if t == 0 else tmax)
    return _scaled_logz(ah, el, emax, total)


@njit(cache=True, nogil=True, fastmath=_FM)
def _scaled_forward_checked(sl, smax, A, tmax, el, emax, amin, e, ah, cs, ms, tmp):
    """As :func:`_scaled_forward` for any chain, with the per-step test of the module docstring
    (amin: the smallest positive entry of A); ok is False (use the log path) when it fails."""
    L, N = e.shape
    total = 0.0
    lo = 1.0  # smallest positive entry of the previous alpha_hat row
    for t in range(L):
        m = NEG_INF
        for j in range(N):
            m = _mx(e[t, j], m)
        if m == NEG_INF:
            return False, 0.0
        if t == 0:
            for j in range(N):
                tmp[j] = sl[j]
        else:
            if not lo * amin >= _FLOOR:
                return False, 0.0
            _vecmat(ah[t - 1], A, tmp)
        c = 0.0
        lost = False
        for j in range(N):
            s = tmp[j]
            ej = e[t, j]
            v = s * _exp_nonpos(ej - m)
            tmp[j] = v
            c += v
            lost |= (s > 0.0) & (ej > NEG_INF) & (v < _FLOOR)
        if lost or not c >= _TINY:
            return False, 0.0
        inv = 1.0 / c
        lo = np.inf
        for j in range(N):
            v = tmp[j] * inv
            ah[t, j] = v
            lo = min(lo, v if v > 0.0 else np.inf)
        cs[t] = c
        ms[t] = m
        total += math.log(c) + m + (smax if t == 0 else tmax)
    return _scaled_logz(ah, el, emax, total)


@njit(cache=True, nogil=True, fastmath=_FM)
def _scaled_backward(AT, el, e, ah, cs, ms, bh, w, xi, want_xi, checked):
    """Turn ah [L, N] (normalised alpha from _scaled_forward) into gamma in place, and when
    want_xi add sum_t outer(ah_t, w_{t+1}) to xi (the caller multiplies by A elementwise), where
    w_t = exp(e_t - m_t) * bh_t / c_t and bh_t = A w_{t+1} is the scaled beta.  bh, w: [N].

    With ``checked`` (a chain with zeros) w_t is 0 where alpha_t is 0: such a state carries no
    posterior mass at t, and its scaled beta (unbounded there: nothing ties it to 1 / alpha) must
    not overflow into a product with a zero.  In a dense chain every scaled beta stays within
    e^spread of the others, so the plain loop is safe."""
    L, N = e.shape
    z = 0.0
    for j in range(N):
        z += ah[L - 1, j] * el[j]
    for j in range(N):
        bh[j] = el[j] / z
    for t in range(L - 1, -1, -1):
        if t < L - 1:
            _vecmat(w, AT, bh)  # bh_t = A w_{t+1}
            if want_xi:
                for i in range(N):
                    ai = ah[t, i]
                    if ai != 0.0:
                        xrow = xi[i]
                        for j in range(N):
                            xrow[j] += ai * w[j]
        s = 0.0
        for j in range(N):
            s += ah[t, j] * bh[j]
        if t > 0:
            inv_c = 1.0 / cs[t]
            mt = ms[t]
            if checked:
                for j in range(N):
                    v = _exp_nonpos(e[t, j] - mt) * bh[j] * inv_c
                    w[j] = v if ah[t, j] != 0.0 else 0.0
            else:
                for j in range(N):
                    w[j] = _exp_nonpos(e[t, j] - mt) * bh[j] * inv_c
        inv = 1.0 / s  # gamma_t sums to 1 up to rounding: renormalise
        for j in range(N):
            ah[t, j] = ah[t, j] * bh[j] * inv


@njit(inline="always", cache=True)
def _scaled_forward_seq(scaled, e, ah, cs, ms, tmp):
    """The scaled forward of one sequence under _setup_scaled's rule; (False, 0) sends it to the
    log path."""
    mode, sl, smax, A, tmax, el, emax, amin = scaled
    if mode == _DENSE:
        return _scaled_forward(sl, smax, A, tmax, el, emax, e, ah, cs, ms, tmp)
    if mode == _CHECKED:
        return _scaled_forward_checked(sl, smax, A, tmax, el, emax, amin, e, ah, cs, ms, tmp)
    return False, 0.0


@njit(cache=True, nogil=True)
def _setup_scaled(start, trans, end):
    """Scaled parameters (mode, sl, smax, A, tmax, el, emax, amin); mode is _LOG_ONLY, _DENSE or
    _CHECKED (the rule in the module docstring), amin the smallest positive entry of A."""
    N = start.shape[0]

    def span(x):
        hi = NEG_INF
        lo = np.inf
        zeros = False
        for v in x.ravel():
            if v != NEG_INF:
                hi = max(hi, v)
                lo = min(lo, v)
            else:
                zeros = True
        return hi, lo, zeros

    shi, slo, _ = span(start)
    thi, tlo, t_zeros = span(trans)
    ehi, elo, e_zeros = span(end)
    mode = _CHECKED
    if not (t_zeros or e_zeros) and math.log(N) + max(thi - tlo, ehi - elo) <= _DENSE_SPAN:
        mode = _DENSE
    for hi, lo in ((shi, slo), (thi, tlo), (ehi, elo)):
        if hi != NEG_INF and hi - lo > _MAX_RANGE:
            mode = _LOG_ONLY
    if shi == NEG_INF or ehi == NEG_INF:
        mode = _LOG_ONLY  # nothing can start / end: every sequence is impossible (log path says -inf)
    if thi == NEG_INF:
        thi = 0.0
    ok = mode != _LOG_ONLY
    sl = np.empty(N)
    el = np.empty(N)
    A = np.empty((N, N))
    amin = np.inf
    for i in range(N):
        sl[i] = math.exp(start[i] - shi) if ok else 0.0
        el[i] = math.exp(end[i] - ehi) if ok else 0.0
        for j in range(N):
            A[i, j] = math.exp(trans[i, j] - thi)
            if A[i, j] > 0.0:
                amin = min(amin, A[i, j])
    return mode, sl, shi, A, thi, el, ehi, amin


# --------------------------------------------------------------------------------------------
# kernels over many sequences
# --------------------------------------------------------------------------------------------
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


@njit(cache=True, nogil=True, parallel=True)
def _crf_observed(start, trans, end, em, tags, seq_start, seq_len, logz, llh, g_em, obs_chunks):
    """Gold scores, llh = gold - logz, g_em = onehot - gamma (in place), observed counts per chunk
    (obs_chunks [n_chunks, N + 2, N]: rows 0..N-1 transitions, row N start, row N + 1 end);
    sequences with logz = -inf get llh = -inf and no gradient."""
    S = seq_len.shape[0]
    N = start.shape[0]
    n_chunks = obs_chunks.shape[0]
    for c in prange(n_chunks):
        for s in range(c, S, n_chunks):
            r0 = seq_start[s]
            L = seq_len[s]
            if logz[s] == NEG_INF:
                llh[s] = NEG_INF
                for t in range(L):
                    for j in range(N):
                        g_em[r0 + t, j] = 0.0
                continue
            y0 = tags[r0]
            gold = start[y0] + em[r0, y0]
            g_em[r0, y0] += 1.0
            obs_chunks[c, N, y0] += 1.0
            for t in range(1, L):
                y = tags[r0 + t]
                yp = tags[r0 + t - 1]
                gold += trans[yp, y] + em[r0 + t, y]
                g_em[r0 + t, y] += 1.0
                obs_chunks[c, yp, y] += 1.0
            yl = tags[r0 + L - 1]
            gold += end[yl]
            obs_chunks[c, N + 1, yl] += 1.0
            llh[s] = gold - logz[s]


# --------------------------------------------------------------------------------------------
# launchers (raw signature of the reference module)
# --------------------------------------------------------------------------------------------
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
