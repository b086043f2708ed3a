"""HMM family: the reference against known answers and brute-force enumeration, every backend
against the reference (random models, forbidden transitions, extreme inputs, several sequences),
the estimators (hmmlearn's formulas, monotone EM), and bad input.

The oracle ``brute`` enumerates every state path of a tiny model (N^T paths), independently of
the recursions.
"""
from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from bagu_fast import hmm
from bagu_fast.hmm import CategoricalHMM, GaussianHMM
from .conftest import CUDA_SIM, assert_close

# ----------------------------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------------------------


def log_dist(rng, shape, zeros=0.0):
    """Random log-probability vectors along the last axis; a fraction ``zeros`` set to -inf."""
    p = rng.dirichlet(np.ones(shape[-1]), size=shape[:-1])
    if zeros:
        mask = rng.random(p.shape) < zeros
        mask[..., 0] = False  # keep every row possible
        p = np.where(mask, 0.0, p)
        p /= p.sum(-1, keepdims=True)
    with np.errstate(divide="ignore"):
        return np.log(p)


def model(rng, N, T, dtype=np.float64, zeros=0.0, scale=1.0):
    ls = log_dist(rng, (N,), zeros)
    lt = log_dist(rng, (N, N), zeros)
    le = rng.standard_normal((T, N)) * scale
    return ls.astype(dtype), lt.astype(dtype), le.astype(dtype)


def brute(ls, lt, le, end=None):
    """(loglik, gamma [T, N], xi_sum [N, N], best path, best logprob) by enumerating all paths."""
    ls, lt, le = (np.asarray(x, np.float64) for x in (ls, lt, le))
    T, N = le.shape
    end = np.zeros(N) if end is None else np.asarray(end, np.float64)
    paths = np.array(list(itertools.product(range(N), repeat=T)))
    with np.errstate(invalid="ignore"):
        score = ls[paths[:, 0]] + le[np.arange(T), paths].sum(1) + end[paths[:, -1]]
        if T > 1:
            score += lt[paths[:, :-1], paths[:, 1:]].sum(1)
    m = score.max()
    w = np.exp(score - m)
    z = w.sum()
    loglik = m + math.log(z)
    p = w / z
    gamma = np.zeros((T, N))
    xi = np.zeros((N, N))
    for k, path in enumerate(paths):
        gamma[np.arange(T), path] += p[k]
        for t in range(T - 1):
            xi[path[t], path[t + 1]] += p[k]
    best = int(np.argmax(score))
    return loglik, gamma, xi, paths[best], score[best]


def run_all(backend, ls, lt, le, lengths):
    """Every inference function of one backend, as NumPy."""
    ll, alpha = hmm.forward(ls, lt, le, lengths, return_alpha=True, backend=backend)
    out = {
        "loglik": ll,
        "alpha": alpha,
        "loglik_only": hmm.forward(ls, lt, le, lengths, backend=backend),
        "beta": hmm.backward(ls, lt, le, lengths, backend=backend),
    }
    out["gamma"], out["loglik_post"] = hmm.posteriors(ls, lt, le, lengths, backend=backend)
    out["path"], out["logprob"] = hmm.viterbi(ls, lt, le, lengths, backend=backend)
    st = hmm.baum_welch_stats(ls, lt, le, lengths, backend=backend)
    out.update(start=st.start, trans=st.trans, gamma_bw=st.gamma, loglik_bw=st.loglik)
    return out


def compare(out, ref, dtype):
    for k, v in ref.items():
        if k == "path":
            np.testing.assert_array_equal(out[k], v, err_msg=k)
            assert out[k].dtype == np.int32
        else:
            assert out[k].dtype == dtype, k
            assert_close(out[k], v, dtype, err_msg=k)


# ----------------------------------------------------------------------------------------------
# the reference against known answers
# ----------------------------------------------------------------------------------------------
def test_reference_textbook_viterbi_example():
    """Wikipedia's Viterbi example: Healthy / Fever, observations normal, cold, dizzy."""
    ls = np.log([0.6, 0.4])
    lt = np.log([[0.7, 0.3], [0.4, 0.6]])
    le = np.log([[0.5, 0.1], [0.4, 0.3], [0.1, 0.6]])
    path, logprob = hmm.viterbi(ls, lt, le, backend="reference")
    np.testing.assert_array_equal(path, [0, 0, 1])
    np.testing.assert_allclose(np.exp(logprob), [0.01512], rtol=1e-12)
    # forward by hand: alpha_2 = (0.007696, 0.028584)
    ll, alpha = hmm.forward(ls, lt, le, return_alpha=True, backend="reference")
    np.testing.assert_allclose(np.exp(ll), [0.03628], rtol=1e-12)
    np.testing.assert_allclose(np.exp(alpha), [[0.3, 0.04], [0.0904, 0.0342], [0.007696, 0.028584]], rtol=1e-12)


def test_reference_textbook_three_states_two_symbols():
    """3 states, 2 symbols (T = 2 by hand; longer against the enumeration)."""
    pi = np.array([0.5, 0.3, 0.2])
    A = np.array([[0.6, 0.3, 0.1], [0.2, 0.5, 0.3], [0.1, 0.2, 0.7]])
    Bm = np.array([[0.9, 0.1], [0.5, 0.5], [0.2, 0.8]])
    obs = np.array([0, 1])
    le = np.log(Bm[:, obs].T)
    expected = sum(pi[i] * Bm[i, 0] * A[i, j] * Bm[j, 1] for i in range(3) for j in range(3))
    ll = hmm.forward(np.log(pi), np.log(A), le, backend="reference")
    np.testing.assert_allclose(ll, [math.log(expected)], rtol=1e-13)
    obs = np.array([0, 1, 1, 0, 1, 0])
    le = np.log(Bm[:, obs].T)
    loglik, gamma, xi, best, best_lp = brute(np.log(pi), np.log(A), le)
    for backend in ("reference", "cpu"):
        out = run_all(backend, np.log(pi), np.log(A), le, None)
        np.testing.assert_allclose(out["loglik"], [loglik], rtol=1e-12)
        np.testing.assert_allclose(out["gamma"], gamma, rtol=1e-10, atol=1e-14)
        np.testing.assert_allclose(out["trans"], xi, rtol=1e-10, atol=1e-14)
        np.testing.assert_allclose(out["start"], gamma[0], rtol=1e-10)
        np.testing.assert_array_equal(out["path"], best)
        np.testing.assert_allclose(out["logprob"], [best_lp], rtol=1e-12)


@pytest.mark.parametrize("N, T", [(1, 1), (1, 4), (2, 1), (2, 6), (3, 5), (3, 6)])
def test_reference_matches_brute_force(N, T, rng):
    for zeros in (0.0, 0.3):
        ls, lt, le = model(rng, N, T, zeros=zeros)
        loglik, gamma, xi, best, best_lp = brute(ls, lt, le)
        out = run_all("reference", ls, lt, le, None)
        np.testing.assert_allclose(out["loglik"], [loglik], rtol=1e-12)
        np.testing.assert_allclose(out["gamma"], gamma, rtol=1e-10, atol=1e-13)
        np.testing.assert_allclose(out["trans"], xi, rtol=1e-10, atol=1e-13)
        np.testing.assert_array_equal(out["path"], best)
        np.testing.assert_allclose(out["logprob"], [best_lp], rtol=1e-12)
        # alpha + beta = log p(o, state_t) at every t
        np.testing.assert_allclose(np.exp(out["alpha"] + out["beta"] - loglik), gamma, rtol=1e-10, atol=1e-13)


def test_reference_sequences_are_independent(rng):
    ls, lt, le = model(rng, 3, 11)
    lengths = [4, 1, 6]
    out = run_all("reference", ls, lt, le, lengths)
    r0 = 0
    for s, L in enumerate(lengths):
        one = run_all("reference", ls, lt, le[r0:r0 + L], None)
        np.testing.assert_allclose(out["loglik"][s], one["loglik"][0], rtol=1e-14)
        np.testing.assert_allclose(out["gamma"][r0:r0 + L], one["gamma"], rtol=1e-14)
        np.testing.assert_array_equal(out["path"][r0:r0 + L], one["path"])
        r0 += L


# ----------------------------------------------------------------------------------------------
# every backend against the reference
# ----------------------------------------------------------------------------------------------
CASES = {  # name: (N, lengths, zeros, emission scale)
    "one state": (1, [5, 1], 0.0, 1.0),
    "one row": (4, [1], 0.0, 1.0),
    "odd sizes": (7, [13, 1, 29, 2], 0.0, 1.0),
    "forbidden": (5, [17, 9, 1], 0.4, 1.0),
    "wide emissions": (6, [40, 3], 0.0, 30.0),
    "N=37": (37, [50, 21], 0.1, 2.0),
}
SMALL = {  # for the CUDA simulator
    "one state": (1, [3, 1], 0.0, 1.0),
    "odd": (3, [4, 1, 2], 0.3, 1.0),
    "wide": (5, [3, 2], 0.0, 30.0),
}


def _case(spec, rng, dtype):
    N, lengths, zeros, scale = spec
    ls, lt, le = model(rng, N, sum(lengths), dtype, zeros=zeros, scale=scale)
    if zeros:
        le[rng.random(le.shape) < 0.15] = -np.inf  # impossible emissions too
    return ls, lt, le, lengths


@pytest.mark.parametrize("case", sorted(CASES))
def test_cpu_matches_reference(case, dtype, rng):
    ls, lt, le, lengths = _case(CASES[case], rng, dtype)
    copies = [x.copy() for x in (ls, lt, le)]
    compare(run_all("cpu", ls, lt, le, lengths), run_all("reference", ls, lt, le, lengths), dtype)
    for x, c in zip((ls, lt, le), copies):
        np.testing.assert_array_equal(x, c)


@pytest.mark.parametrize("case", sorted(SMALL))
def test_cuda_matches_reference(case, dtype, rng, monkeypatch):
    from bagu_fast.kernels.cuda import hmm as cuda_hmm

    ls, lt, le, lengths = _case(SMALL[case], rng, dtype)
    ref = run_all("reference", ls, lt, le, lengths)
    compare(run_all("cuda", ls, lt, le, lengths), ref, dtype)
    if case == "wide":  # fewer threads than states: every thread loops over several states
        monkeypatch.setattr(cuda_hmm, "MAX_THREADS", 2)
        compare(run_all("cuda", ls, lt, le, lengths), ref, dtype)
    if case == "odd":  # working rows in global memory (what N too large for shared memory takes)
        monkeypatch.setattr(cuda_hmm, "MAX_SHARED_BYTES", 0)
        compare(run_all("cuda", ls, lt, le, lengths), ref, dtype)


@pytest.mark.skipif(CUDA_SIM, reason="the simulator covers SMALL; full-size cases on a real GPU")
@pytest.mark.parametrize("case", sorted(CASES))
def test_cuda_matches_reference_full(case, dtype, rng):
    ls, lt, le, lengths = _case(CASES[case], rng, dtype)
    compare(run_all("cuda", ls, lt, le, lengths), run_all("reference", ls, lt, le, lengths), dtype)


def test_cpu_log_space_fallbacks(rng):
    """Inputs the scaled linear domain cannot hold take the log-space path and stay exact."""
    N, T = 4, 30
    ls, lt, le = model(rng, N, T)
    # a transition of probability e^-1000: its exponential underflows, so every sequence is
    # computed in log space
    lt_tiny = lt.copy()
    lt_tiny[1, 2] = -1000.0
    lt_tiny[1] -= np.log(np.exp(lt_tiny[1]).sum())
    # one nearly impossible observation: every likely state emits it with log-prob -5000 and
    # only a state reached with probability e^-500 emits it well (within the scaled domain's
    # range, but the step's normaliser falls below its threshold: that sequence goes to log space)
    lt_far = log_dist(rng, (N, N))
    lt_far[:, 3] = -500.0
    lt_far -= np.log(np.exp(lt_far).sum(1, keepdims=True))
    le_far = le.copy()
    le_far[10, :3] = -5000.0
    for lt_x, le_x in ((lt_tiny, le), (lt_far, le_far)):
        lengths = [12, 18]
        ref = run_all("reference", ls, lt_x, le_x, lengths)
        assert np.all(np.isfinite(ref["loglik"]))
        compare(run_all("cpu", ls, lt_x, le_x, lengths), ref, np.dtype(np.float64))


def test_impossible_sequence(rng, fast_backend):
    ls, lt, le = model(rng, 3, 5)
    le[2] = -np.inf  # nothing can emit row 2
    lengths = [3, 2]
    out = run_all("reference", ls, lt, le, lengths)
    assert out["loglik"][0] == -np.inf and np.isfinite(out["loglik"][1])
    assert np.all(out["gamma"][:3] == 0) and out["logprob"][0] == -np.inf
    compare(run_all(fast_backend, ls, lt, le, lengths), out, np.dtype(np.float64))


def test_viterbi_ties_go_to_the_lowest_state(backend):
    N, T = 4, 5
    ls, lt, le = np.full(N, -math.log(N)), np.full((N, N), -math.log(N)), np.zeros((T, N))
    path, logprob = hmm.viterbi(ls, lt, le, backend=backend)
    np.testing.assert_array_equal(path, np.zeros(T))
    # state 0 forbidden everywhere: the lowest remaining index wins
    le[:, 0] = -np.inf
    path, _ = hmm.viterbi(ls, lt, le, backend=backend)
    np.testing.assert_array_equal(path, np.ones(T))


def test_forbidden_transitions_are_honoured(backend, rng):
    """A left-right model: transitions i -> j with j < i are -inf; the path never goes back."""
    N, T = 4, 12
    A = np.triu(rng.random((N, N)) + 0.1)
    A /= A.sum(1, keepdims=True)
    with np.errstate(divide="ignore"):
        lt = np.log(A)
    ls = np.log(np.array([1.0, 1e-3, 1e-3, 1e-3]) / 1.003)
    le = rng.standard_normal((T, N)) * 3
    path, logprob = hmm.viterbi(ls, lt, le, backend=backend)
    assert np.all(np.diff(path) >= 0) and np.isfinite(logprob[0])


def test_posteriors_rows_sum_to_one(backend, rng):
    ls, lt, le = model(rng, 5, 9, zeros=0.3)
    gamma, _ = hmm.posteriors(ls, lt, le, [4, 5], backend=backend)
    np.testing.assert_allclose(gamma.sum(1), 1.0, rtol=1e-12)


def test_empty_input(backend):
    ls, lt = np.log([0.5, 0.5]), np.log([[0.5, 0.5], [0.5, 0.5]])
    le = np.zeros((0, 2))
    assert hmm.forward(ls, lt, le, [], backend=backend).shape == (0,)
    path, lp = hmm.viterbi(ls, lt, le, [], backend=backend)
    assert path.shape == (0,) and lp.shape == (0,)
    st = hmm.baum_welch_stats(ls, lt, le, [], backend=backend)
    assert st.gamma.shape == (0, 2) and np.all(st.trans == 0)


@pytest.mark.parametrize("zeros", [0.0, 0.4])  # dense and checked scaled paths
def test_cpu_results_do_not_depend_on_threads(rng, monkeypatch, zeros):
    import numba

    from bagu_fast.kernels.cpu._parallel import thread_count
    from bagu_fast.kernels.cpu.hmm import _launch as cpu_hmm_launch

    monkeypatch.setattr(cpu_hmm_launch, "_MIN_WORK_PER_THREAD", 1)  # small calls use every thread too
    ls, lt, le = model(rng, 6, 400, zeros=zeros, scale=20.0)
    lengths = [7] * 40 + [120]
    with thread_count(1):
        one = run_all("cpu", ls, lt, le, lengths)
    with thread_count(max(2, numba.config.NUMBA_NUM_THREADS)):
        two = run_all("cpu", ls, lt, le, lengths)
    for k in one:
        np.testing.assert_array_equal(one[k], two[k], err_msg=k)


def test_device_arrays_in_device_arrays_out(rng):
    from numba import cuda

    ls, lt, le = model(rng, 3, 6)
    d = [cuda.to_device(x) for x in (ls, lt, le)]
    ll = hmm.forward(*d, [2, 4], backend="cuda")
    assert hasattr(ll, "copy_to_host")
    assert_close(ll.copy_to_host(), hmm.forward(ls, lt, le, [2, 4], backend="reference"))
    st = hmm.baum_welch_stats(*d, [2, 4], backend="cuda")
    ref = hmm.baum_welch_stats(ls, lt, le, [2, 4], backend="reference")
    for a, b in zip(st, ref):
        assert_close(a.copy_to_host(), b)
    # values of device inputs are checked on the device
    bad = le.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="log_emission"):
        hmm.forward(d[0], d[1], cuda.to_device(bad), backend="cuda")
    bad[3, 1] = np.inf
    with pytest.raises(ValueError, match="log_emission"):
        hmm.viterbi(d[0], d[1], cuda.to_device(bad), backend="cuda")
    bad[3, 1] = -np.inf
    assert np.isfinite(hmm.forward(d[0], d[1], cuda.to_device(bad), backend="cuda").copy_to_host()[0])


# ----------------------------------------------------------------------------------------------
# estimators
# ----------------------------------------------------------------------------------------------
def _categorical_data(rng, n_seq=6, L=40):
    true = CategoricalHMM(3, random_state=1)
    true.startprob_ = np.array([0.6, 0.3, 0.1])
    true.transmat_ = np.array([[0.8, 0.15, 0.05], [0.1, 0.8, 0.1], [0.2, 0.2, 0.6]])
    true.emissionprob_ = np.array([[0.7, 0.2, 0.1, 0.0], [0.1, 0.6, 0.2, 0.1], [0.0, 0.1, 0.2, 0.7]])
    X = np.concatenate([true.sample(L, random_state=int(rng.integers(1 << 30)))[0] for _ in range(n_seq)])
    return X, [L] * n_seq


def test_categorical_fit_is_monotone_and_backends_agree(rng):
    X, lengths = _categorical_data(rng)
    fits = {}
    for backend in ("reference", "cpu"):
        m = CategoricalHMM(3, n_iter=15, tol=-np.inf, random_state=7, backend=backend).fit(X, lengths)
        h = np.array(m.monitor_.history)
        assert len(h) == 15
        assert np.all(np.diff(h) >= -1e-8 * np.abs(h[1:])), h
        fits[backend] = m
    np.testing.assert_allclose(fits["cpu"].monitor_.history, fits["reference"].monitor_.history, rtol=1e-10)
    np.testing.assert_allclose(fits["cpu"].emissionprob_, fits["reference"].emissionprob_, rtol=1e-8, atol=1e-12)
    m = fits["cpu"]
    # history[k] is the log-likelihood under the parameters before the k-th M-step
    np.testing.assert_allclose(m.score(X, lengths) >= m.monitor_.history[-1] - 1e-8, True)
    for name in ("startprob_", "transmat_", "emissionprob_"):
        np.testing.assert_allclose(getattr(m, name).sum(-1), 1.0, rtol=1e-12)


def test_categorical_one_em_step_is_hmmlearns_formula(rng):
    """One iteration equals the M-step of hmmlearn written out from baum_welch_stats."""
    X, lengths = _categorical_data(rng, n_seq=3, L=20)
    m = CategoricalHMM(3, n_iter=1, init_params="", n_features=4)
    m.startprob_ = np.array([0.5, 0.25, 0.25])
    m.transmat_ = np.full((3, 3), 1 / 3)
    m.emissionprob_ = rng.dirichlet(np.ones(4), size=3)
    le = np.log(m.emissionprob_)[:, X[:, 0]].T
    st = hmm.baum_welch_stats(np.log(m.startprob_), np.log(m.transmat_), le, lengths, backend="reference")
    obs = np.zeros((3, 4))
    np.add.at(obs.T, X[:, 0], st.gamma)
    m.fit(X, lengths)
    np.testing.assert_allclose(m.monitor_.history[0], st.loglik.sum(), rtol=1e-12)
    np.testing.assert_allclose(m.startprob_, st.start / st.start.sum(), rtol=1e-10)
    np.testing.assert_allclose(m.transmat_, st.trans / st.trans.sum(1, keepdims=True), rtol=1e-10)
    np.testing.assert_allclose(m.emissionprob_, obs / obs.sum(1, keepdims=True), rtol=1e-10)


def test_categorical_inference_methods(rng):
    X, lengths = _categorical_data(rng, n_seq=2, L=15)
    m = CategoricalHMM(3, n_iter=3, random_state=0).fit(X, lengths)
    ls, lt = np.log(m.startprob_), np.log(m.transmat_)
    with np.errstate(divide="ignore"):
        le = np.log(m.emissionprob_)[:, X[:, 0]].T
    ll = hmm.forward(ls, lt, le, lengths, backend="reference")
    np.testing.assert_allclose(m.score(X, lengths), ll.sum(), rtol=1e-12)
    logprob, post = m.score_samples(X, lengths)
    np.testing.assert_allclose(post, hmm.posteriors(ls, lt, le, lengths, backend="reference")[0], atol=1e-12)
    np.testing.assert_allclose(m.predict_proba(X, lengths), post)
    lp, states = m.decode(X, lengths)
    path, vlp = hmm.viterbi(ls, lt, le, lengths, backend="reference")
    np.testing.assert_array_equal(states, path)
    np.testing.assert_allclose(lp, vlp.sum(), rtol=1e-12)
    np.testing.assert_array_equal(m.predict(X, lengths), path)
    _, map_states = m.decode(X, lengths, algorithm="map")
    np.testing.assert_array_equal(map_states, post.argmax(1))
    Xs, Zs = m.sample(25, random_state=3)
    Xs2, Zs2 = m.sample(25, random_state=3)
    assert Xs.shape == (25, 1) and Zs.shape == (25,)
    np.testing.assert_array_equal(Xs, Xs2)
    np.testing.assert_array_equal(Zs, Zs2)


@pytest.mark.parametrize("covariance_type", ["diag", "spherical", "full", "tied"])
def test_gaussian_fit_is_monotone(covariance_type, rng):
    means = np.array([[0.0, 0.0], [4.0, 4.0], [-4.0, 3.0]])
    states = np.repeat(np.arange(3), 30)[rng.permutation(90)]
    X = means[states] + rng.standard_normal((90, 2))
    m = GaussianHMM(3, covariance_type=covariance_type, n_iter=12, tol=-np.inf, random_state=0).fit(X, [50, 40])
    h = np.array(m.monitor_.history)
    assert np.all(np.diff(h) >= -1e-8 * np.abs(h[1:])), h
    assert m.covars_.shape == (3, 2, 2)
    # the log-density is the Gaussian's
    from scipy.stats import multivariate_normal

    le = m._log_emission(X)
    for k in range(3):
        np.testing.assert_allclose(le[:, k], multivariate_normal(m.means_[k], m.covars_[k]).logpdf(X), rtol=1e-10)
    np.testing.assert_allclose(m.score(X, [50, 40]), hmm.forward(
        np.log(m.startprob_), np.log(m.transmat_), le, [50, 40], backend="reference").sum(), rtol=1e-12)
    Xs, Zs = m.sample(10, random_state=0)
    assert Xs.shape == (10, 2)


# ----------------------------------------------------------------------------------------------
# bad input
# ----------------------------------------------------------------------------------------------
def _good():
    return np.log([0.5, 0.5]), np.log([[0.9, 0.1], [0.2, 0.8]]), np.zeros((4, 2))


@pytest.mark.parametrize("fn", [hmm.forward, hmm.backward, hmm.posteriors, hmm.viterbi, hmm.baum_welch_stats])
def test_bad_input(fn):
    ls, lt, le = _good()
    bad = [
        (dict(log_startprob=np.log([0.6, 0.6])), ValueError, "log_startprob"),
        (dict(log_startprob=np.array([0.1, -3.0])), ValueError, "log_startprob"),
        (dict(log_startprob=np.array([np.nan, 0.0])), ValueError, "log_startprob"),
        (dict(log_startprob=np.zeros((1, 2))), ValueError, "log_startprob"),
        (dict(log_startprob=np.zeros(0)), ValueError, "log_startprob"),
        (dict(log_transmat=np.log([[0.5, 0.4], [0.5, 0.5]])), ValueError, "log_transmat"),
        (dict(log_transmat=np.log([[0.5, 0.5, 1e-300], [0.5, 0.5, 1e-300]])), ValueError, "log_transmat"),
        (dict(log_transmat=np.array([[np.nan, 0.0], [0.0, -np.inf]])), ValueError, "log_transmat"),
        (dict(log_emission=np.array([[0.0, np.nan]] * 4)), ValueError, "log_emission"),
        (dict(log_emission=np.array([[0.0, np.inf]] * 4)), ValueError, "log_emission"),
        (dict(log_emission=np.zeros((4, 3))), ValueError, "log_emission"),
        (dict(log_emission=np.zeros(4)), ValueError, "log_emission"),
        (dict(log_emission=np.zeros((4, 2), np.float32)), TypeError, "log_emission"),
        (dict(log_emission=np.zeros((4, 2), np.int64)), TypeError, "log_emission"),
        (dict(lengths=[2, 1]), ValueError, "lengths"),
        (dict(lengths=[2, 3]), ValueError, "lengths"),
        (dict(lengths=[4, 0]), ValueError, "lengths"),
        (dict(lengths=[2.0, 2.0]), TypeError, "lengths"),
        (dict(lengths=[[4]]), ValueError, "lengths"),
        (dict(log_emission=np.zeros((0, 2))), ValueError, "log_emission"),
        (dict(backend="gpu"), ValueError, "backend"),
    ]
    for override, exc, name in bad:
        kw = dict(log_startprob=ls, log_transmat=lt, log_emission=le, lengths=None, backend="cpu")
        kw.update(override)
        with pytest.raises(exc, match=name):
            fn(**kw)
    with pytest.raises(TypeError, match="return_alpha"):
        hmm.forward(ls, lt, le, return_alpha=1)


def test_positive_log_densities_are_valid():
    ls, lt, _ = _good()
    le = np.array([[5.0, 3.0], [2.5, 8.0]])  # densities above 1
    assert np.isfinite(hmm.forward(ls, lt, le)[0])


def test_estimator_bad_input(rng):
    X = np.array([[0], [1], [2], [1]])
    with pytest.raises(TypeError, match="X"):
        CategoricalHMM(2).fit(X.astype(float))
    with pytest.raises(ValueError, match="X"):
        CategoricalHMM(2).fit(-X)
    with pytest.raises(ValueError, match="lengths"):
        CategoricalHMM(2).fit(X, [3])
    with pytest.raises(ValueError, match="n_components"):
        CategoricalHMM(0).fit(X)
    with pytest.raises(ValueError, match="params"):
        CategoricalHMM(2, params="sz").fit(X)
    m = CategoricalHMM(2, n_iter=1, random_state=0).fit(X)
    with pytest.raises(ValueError, match="X"):
        m.score(np.array([[5]]))
    with pytest.raises(ValueError, match="not fitted"):
        CategoricalHMM(2).score(X)
    with pytest.raises(ValueError, match="covariance_type"):
        GaussianHMM(2, covariance_type="banded").fit(rng.standard_normal((10, 2)))
    with pytest.raises(ValueError, match="X"):
        GaussianHMM(2).fit(np.array([[np.nan, 1.0], [0.0, 1.0]]))


# ----------------------------------------------------------------------------------------------
# properties
# ----------------------------------------------------------------------------------------------
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=30, deadline=None)
@given(N=st.integers(1, 4), lengths=st.lists(st.integers(1, 6), min_size=1, max_size=3),
       seed=st.integers(0, 2**31 - 1), zeros=st.sampled_from([0.0, 0.4]), scale=st.sampled_from([0.5, 40.0]))
def test_property_cpu_equals_reference_and_bounds(N, lengths, seed, zeros, scale):
    rng = np.random.default_rng(seed)
    ls, lt, le = model(rng, N, sum(lengths), zeros=zeros, scale=scale)
    ref = run_all("reference", ls, lt, le, lengths)
    out = run_all("cpu", ls, lt, le, lengths)
    compare(out, ref, np.dtype(np.float64))
    # the best path is one of the paths: its probability never exceeds the total
    assert np.all(out["logprob"] <= out["loglik"] + 1e-9)
    np.testing.assert_allclose(out["gamma"].sum(1), 1.0, rtol=1e-12)
    np.testing.assert_allclose(out["trans"].sum(), sum(lengths) - len(lengths), rtol=1e-10)
