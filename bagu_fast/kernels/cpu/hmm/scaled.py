"""Scaled linear-domain recurrences of one sequence (forward and backward), and the rule that says
when a sequence may use them.

Forward / backward for log-likelihoods, posteriors and counts run in the scaled linear domain:
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
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit

from ._common import _FM, NEG_INF, _exp_nonpos, _mx

_MAX_RANGE = 600.0  # nats: exp(-600) ~ 1e-261 keeps every entry a normal float64
_TINY = 1e-100  # a per-step normaliser below this sends the sequence to the log-space path
_DENSE_SPAN = 430.0  # nats: log N + score spread up to which a dense chain needs no per-step test
_FLOOR = 2.0 ** -1000  # smallest positive entry / GEMV product the per-step test accepts


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
