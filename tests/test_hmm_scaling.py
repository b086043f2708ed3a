"""The cpu backend's scaled linear-domain recursions against log space on chains built to break
scaling: transition matrices with zeros (cycles, left-right, banded, random sparse, forbidden CRF
tags) or with log-probabilities hundreds of nats apart, and log-emissions that differ by up to
1e3 nats, where a state whose normalised alpha underflows may carry the path that dominates later.

The bulk property check compares 10 000 sequences with a batched NumPy log-space forward (the
kernels take many sequences per call, so each random model gets a batch of sequences); the
batched oracle is itself checked against the reference backend.
"""
from __future__ import annotations

import numpy as np
import pytest

from bagu_fast import hmm
from bagu_fast.hmm import CategoricalHMM, GaussianHMM
from .conftest import assert_close

F64 = np.dtype(np.float64)


# ----------------------------------------------------------------------------------------------
# a batched log-space oracle (sequences of one length, one model)
# ----------------------------------------------------------------------------------------------
def _lse(x, axis):
    m = np.max(x, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    with np.errstate(divide="ignore", under="ignore"):
        return np.squeeze(np.log(np.exp(x - m).sum(axis=axis, keepdims=True)) + m, axis=axis)


def batched_log_forward(ls, lt, le, end=None):
    """log alpha [S, L, N] and logz [S] of S sequences of one length (le: [S, L, N])."""
    S, L, N = le.shape
    end = np.zeros(N) if end is None else end
    a = np.empty((S, L, N))
    a[:, 0] = ls + le[:, 0]
    for t in range(1, L):
        a[:, t] = _lse(a[:, t - 1, :, None] + lt[None], axis=1) + le[:, t]
    return a, _lse(a[:, L - 1] + end, axis=1)


def batched_log_posteriors(ls, lt, le, end=None):
    """gamma [S, L, N] and logz [S] (gamma 0 for an impossible sequence)."""
    S, L, N = le.shape
    end = np.zeros(N) if end is None else end
    a, logz = batched_log_forward(ls, lt, le, end)
    b = np.empty((S, L, N))
    b[:, L - 1] = end
    for t in range(L - 2, -1, -1):
        b[:, t] = _lse(lt[None] + (le[:, t + 1] + b[:, t + 1])[:, None, :], axis=2)
    finite = np.isfinite(logz)
    with np.errstate(invalid="ignore", under="ignore"):
        g = np.where(finite[:, None, None], np.exp(a + b - np.where(finite, logz, 0.0)[:, None, None]), 0.0)
    return g, logz


# ----------------------------------------------------------------------------------------------
# chains that break scaling
# ----------------------------------------------------------------------------------------------
KINDS = ("cycle", "left-right", "banded", "sparse", "permutation", "dense", "wide")


def _log(p):
    with np.errstate(divide="ignore"):
        return np.log(p)


def sparse_chain(rng, kind, N):
    """(log_startprob, log_transmat) of a chain of the given kind; every row is normalised."""
    P = rng.dirichlet(np.ones(N), size=N)
    if kind == "cycle":  # i -> i + 1 (mod N), sometimes with a self-loop
        mask = np.roll(np.eye(N, dtype=bool), 1, axis=1) | (np.eye(N, dtype=bool) & (rng.random() < 0.5))
    elif kind == "left-right":
        mask = np.triu(np.ones((N, N), bool)) & ~np.triu(np.ones((N, N), bool), int(rng.integers(2, 4)))
        mask[N - 1, N - 1] = True
    elif kind == "banded":
        d = np.abs(np.subtract.outer(np.arange(N), np.arange(N)))
        mask = d <= 1
    elif kind == "sparse":
        mask = rng.random((N, N)) < rng.uniform(0.2, 0.6)
        mask[np.arange(N), rng.integers(0, N, N)] = True
    elif kind == "permutation":
        mask = np.eye(N, dtype=bool)[rng.permutation(N)]
    elif kind == "wide":  # dense, log-probabilities spread over up to 500 nats
        P = np.exp(-rng.uniform(0, rng.uniform(50, 500), (N, N)))
        mask = np.ones((N, N), bool)
    else:
        mask = np.ones((N, N), bool)
    P = np.where(mask, P, 0.0)
    P /= P.sum(1, keepdims=True)
    p0 = rng.dirichlet(np.ones(N))
    if rng.random() < 0.3:  # some states cannot start
        p0[rng.random(N) < 0.5] = 0.0
        p0[int(rng.integers(N))] += 0.5
        p0 /= p0.sum()
    return _log(p0), _log(P)


def extreme_emissions(rng, S, L, N):
    """[S, L, N] log-emissions with a per-batch scale log-uniform in 1 .. 1000 nats, sometimes
    with impossible entries."""
    scale = 10.0 ** rng.uniform(0, 3)
    le = rng.standard_normal((S, L, N)) * scale
    if rng.random() < 0.25:
        le[rng.random(le.shape) < 0.1] = -np.inf
    return le


def _close_logz(actual, expected):
    both_inf = (actual == -np.inf) & (expected == -np.inf)
    assert np.array_equal(np.isneginf(actual), np.isneginf(expected)), (actual, expected)
    a, e = actual[~both_inf], expected[~both_inf]
    np.testing.assert_allclose(a, e, rtol=1e-9, atol=1e-9)


def test_batched_oracle_is_the_reference(rng):
    for kind in KINDS:
        N = 4
        ls, lt = sparse_chain(rng, kind, N)
        le = extreme_emissions(rng, 3, 40, N)
        g, logz = batched_log_posteriors(ls, lt, le)
        flat = le.reshape(-1, N)
        ref_g, ref_z = hmm.posteriors(ls, lt, flat, [40] * 3, backend="reference")
        _close_logz(logz, ref_z)
        np.testing.assert_allclose(g.reshape(-1, N), ref_g, rtol=1e-9, atol=1e-12)


def test_property_cpu_forward_equals_log_space_on_10000_sparse_chains():
    """10 000 sequences (200 random models x 50 sequences), lengths up to 600."""
    rng = np.random.default_rng(12345)
    n_cases = 0
    for k in range(200):
        kind = KINDS[k % len(KINDS)]
        N = int(rng.integers(2, 7))
        L = int(rng.choice([1, 2, 7, 60, 250, 600]))
        S = 50
        ls, lt = sparse_chain(rng, kind, N)
        le = extreme_emissions(rng, S, L, N)
        _, expected = batched_log_forward(ls, lt, le)
        got = hmm.forward(ls, lt, le.reshape(S * L, N), np.full(S, L), backend="cpu")
        try:
            _close_logz(got, expected)
        except AssertionError as exc:
            raise AssertionError(f"model {k} ({kind}, N={N}, L={L}): {exc}") from None
        n_cases += S
    assert n_cases == 10_000


def test_property_cpu_posteriors_equal_log_space_on_sparse_chains():
    """Posteriors and Baum-Welch counts of 1 500 sequences of the same kind of chains."""
    rng = np.random.default_rng(54321)
    for k in range(60):
        kind = KINDS[k % len(KINDS)]
        N = int(rng.integers(2, 6))
        L = int(rng.choice([1, 5, 80, 300]))
        S = 25
        ls, lt = sparse_chain(rng, kind, N)
        le = extreme_emissions(rng, S, L, N)
        g, logz = batched_log_posteriors(ls, lt, le)
        gamma, got_z = hmm.posteriors(ls, lt, le.reshape(S * L, N), np.full(S, L), backend="cpu")
        msg = f"model {k} ({kind}, N={N}, L={L})"
        _close_logz(got_z, logz)
        np.testing.assert_allclose(gamma, g.reshape(S * L, N), rtol=1e-7, atol=1e-9, err_msg=msg)
        assert np.all(np.isfinite(gamma)), msg
        st = hmm.baum_welch_stats(ls, lt, le.reshape(S * L, N), np.full(S, L), backend="cpu")
        assert np.all(np.isfinite(st.trans)) and np.all(st.trans[~np.isfinite(lt)] == 0), msg
        possible = np.isfinite(logz)
        np.testing.assert_allclose(st.trans.sum(), possible.sum() * (L - 1), rtol=1e-9, err_msg=msg)


# ----------------------------------------------------------------------------------------------
# adversarial chains against the reference, every inference function
# ----------------------------------------------------------------------------------------------
def _cycle(N):
    return np.log(np.full(N, 1.0 / N)), _log(np.roll(np.eye(N), 1, axis=1))


def test_cycle_with_wide_emissions_keeps_every_path():
    """Three paths 0 -> 1 -> 2 -> 0; their log-probabilities drift hundreds of nats apart and
    the one that falls behind early wins at the end."""
    T, N = 300, 3
    le = np.random.default_rng(0).standard_normal((T, N)) * 40
    ls, lt = _cycle(N)
    ref = hmm.forward(ls, lt, le, backend="reference")
    np.testing.assert_allclose(ref, [254.74120289], rtol=1e-9)
    np.testing.assert_allclose(hmm.forward(ls, lt, le, backend="cpu"), ref, rtol=1e-12)
    # the same with the lagging path made explicit: path p is in state (p + t) % 3 at step t;
    # path 0 loses 900 nats a step for 200 steps, then gains 2000 a step for 100: it wins by 2e4
    t = np.arange(T)
    le = np.zeros((T, N))
    le[t[:200], t[:200] % N] = -900.0
    le[t[200:], t[200:] % N] = 2000.0
    expected = -200 * 900.0 + 100 * 2000.0 + np.log(1.0 / N)
    ref = {"logz": hmm.forward(ls, lt, le, backend="reference")}
    np.testing.assert_allclose(ref["logz"], [expected], rtol=1e-12)
    ref["gamma"], _ = hmm.posteriors(ls, lt, le, backend="reference")
    ref["trans"] = hmm.baum_welch_stats(ls, lt, le, backend="reference").trans
    got = {"logz": hmm.forward(ls, lt, le, backend="cpu")}
    got["gamma"], _ = hmm.posteriors(ls, lt, le, backend="cpu")
    got["trans"] = hmm.baum_welch_stats(ls, lt, le, backend="cpu").trans
    for k, v in ref.items():
        assert_close(got[k], v, F64, err_msg=k)
    np.testing.assert_allclose(got["gamma"][t, t % N], 1.0)  # path 0 carries all the mass


@pytest.mark.parametrize("kind", ["cycle", "left-right", "banded", "sparse", "permutation"])
@pytest.mark.parametrize("scale", [3.0, 50.0, 1000.0])
def test_adversarial_chains_match_the_reference(kind, scale):
    rng = np.random.default_rng(hash((kind, scale)) % 2**32)
    N = 5
    ls, lt = sparse_chain(rng, kind, N)
    lengths = [400, 1, 37]
    le = rng.standard_normal((sum(lengths), N)) * scale
    ref = {}
    for backend in ("reference", "cpu"):
        out = {"logz": hmm.forward(ls, lt, le, lengths, backend=backend)}
        out["gamma"], out["logz_post"] = hmm.posteriors(ls, lt, le, lengths, backend=backend)
        st = hmm.baum_welch_stats(ls, lt, le, lengths, backend=backend)
        out.update(start=st.start, trans=st.trans, gamma_bw=st.gamma)
        if backend == "reference":
            ref = out
    for k, v in ref.items():
        assert_close(out[k], v, F64, err_msg=k)
        assert np.all(np.isfinite(out[k]) | np.isneginf(v)), k


@pytest.mark.parametrize("grammar, scale", [("cyclic", 40.0), ("cyclic", 1000.0), ("bio", 1000.0)])
def test_crf_with_forbidden_transitions_and_wide_scores(grammar, scale):
    """Tag grammars with forbidden transitions and end tags: a cyclic one (tag i may only be
    followed by tag i + 1 mod K) and a BIO-like one; emission scores of 40 to 1e3."""
    rng = np.random.default_rng(3)
    B, T, K = 6, 300, 4
    em = rng.standard_normal((B, T, K)) * scale
    if grammar == "cyclic":
        tr = np.full((K, K), -np.inf)
        tr[np.arange(K), (np.arange(K) + 1) % K] = rng.standard_normal(K)
        tags = np.tile((np.arange(T) + 1) % K, (B, 1))
    else:  # tags O, B, I, B2: I only after B or I
        tr = rng.standard_normal((K, K))
        tr[[0, 3], 2] = -np.inf
        tags = np.zeros((B, T), np.int64)
    st = rng.standard_normal(K)
    st[0] = 0.0 if grammar == "bio" else st[0]
    st[2] = -np.inf if grammar == "bio" else st[2]
    en = rng.standard_normal(K)
    en[3] = -np.inf
    if grammar == "cyclic":
        st[:] = -np.inf
        st[1] = 0.0
    lengths = [300, 1, 57, 300, 3, 298]
    for backend in ("reference", "cpu"):
        out = {"logz": hmm.crf_log_partition(em, tr, st, en, lengths, backend=backend),
               "marg": hmm.crf_marginals(em, tr, st, en, lengths, backend=backend)}
        out["llh"], grads = hmm.crf_log_likelihood(em, tags, tr, st, en, lengths, return_grad=True,
                                                   backend=backend)
        out.update(zip(("g_em", "g_tr", "g_st", "g_en"), grads))
        if backend == "reference":
            ref = out
    # sequence scores reach 1e5 nats, so gamma = exp(alpha + beta - logz) carries ~1e5 eps of
    # absolute rounding on either backend
    for k, v in ref.items():
        assert_close(out[k], v, F64, atol=1e-9, err_msg=k)
    assert np.all(np.isfinite(out["marg"]))


def test_cuda_uses_log_space_on_a_cycle():
    """The cuda backend computes in log space: the cycle case in the simulator."""
    T, N = 24, 3
    le = np.random.default_rng(0).standard_normal((T, N)) * 400
    ls, lt = _cycle(N)
    ref = hmm.posteriors(ls, lt, le, backend="reference")
    got = hmm.posteriors(ls, lt, le, backend="cuda")
    for a, b in zip(got, ref):
        assert_close(a, b, F64)


# ----------------------------------------------------------------------------------------------
# the estimators on such chains
# ----------------------------------------------------------------------------------------------
def test_gaussian_hmm_on_an_alternating_chain():
    """transmat_ = [[0, 1], [1, 0]]: the score is at least the Viterbi path's, posteriors are
    finite and a fit ends on finite parameters."""
    X = np.random.default_rng(2).standard_normal((2000, 1)) * 4
    m = GaussianHMM(2, init_params="", n_iter=5, backend="cpu")
    m.startprob_ = np.array([0.5, 0.5])
    m.transmat_ = np.array([[0.0, 1.0], [1.0, 0.0]])
    m.means_ = np.array([[-1.0], [1.0]])
    m.covars_ = np.array([[0.2], [0.2]])
    ref = GaussianHMM(2, init_params="", backend="reference")
    ref.startprob_, ref.transmat_, ref.means_ = m.startprob_, m.transmat_, m.means_
    ref.covars_ = np.array([[0.2], [0.2]])
    viterbi_lp, _ = m.decode(X, algorithm="viterbi")
    score = m.score(X)
    np.testing.assert_allclose(score, ref.score(X), rtol=1e-12)
    assert score >= viterbi_lp - 1e-9 * abs(viterbi_lp)
    post = m.predict_proba(X)
    assert np.all(np.isfinite(post))
    np.testing.assert_allclose(post, ref.predict_proba(X), atol=1e-9)
    m.fit(X)
    for name in ("startprob_", "transmat_", "means_", "covars_"):
        assert np.all(np.isfinite(getattr(m, name))), name
    assert np.all(np.isfinite(m.monitor_.history))


def test_categorical_left_right_fit_matches_reference():
    rng = np.random.default_rng(8)
    N = 4
    trans = np.triu(rng.random((N, N))) * (np.triu(np.ones((N, N))) - np.triu(np.ones((N, N)), 2))
    trans[N - 1, N - 1] = 1.0
    trans /= trans.sum(1, keepdims=True)
    emission = rng.dirichlet(np.full(6, 0.05), size=N)  # peaked: log-emissions far apart
    X = rng.integers(0, 6, (900, 1))
    fits = {}
    for backend in ("reference", "cpu"):
        m = CategoricalHMM(N, init_params="", n_iter=4, tol=-np.inf, backend=backend)
        m.startprob_ = np.eye(N)[0]
        m.transmat_ = trans.copy()
        m.emissionprob_ = emission + 1e-300
        m.emissionprob_ /= m.emissionprob_.sum(1, keepdims=True)
        fits[backend] = m.fit(X, [600, 300])
    np.testing.assert_allclose(fits["cpu"].monitor_.history, fits["reference"].monitor_.history, rtol=1e-10)
    np.testing.assert_allclose(fits["cpu"].transmat_, fits["reference"].transmat_, atol=1e-10)
