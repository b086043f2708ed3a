"""Linear-chain CRF: the reference against enumeration of every tag sequence, the gradient
against finite differences, every backend against the reference, padding, and bad input."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from bagu_fast import hmm
from .conftest import CUDA_SIM, assert_close


def crf_inputs(rng, B, T, K, dtype=np.float64, forbid=0.0):
    em = rng.standard_normal((B, T, K))
    tr = rng.standard_normal((K, K))
    st = rng.standard_normal(K)
    en = rng.standard_normal(K)
    if forbid:
        tr[rng.random((K, K)) < forbid] = -np.inf
        tr[:, 0] = 0.0  # every tag can still go to tag 0
    return tuple(x.astype(dtype) for x in (em, tr, st, en))


def enumerate_crf(em, tr, st, en, L):
    """(log Z, marginals [L, K], best tags, best score, all scores by tag tuple) of one sequence."""
    K = em.shape[-1]
    seqs = list(itertools.product(range(K), repeat=L))
    scores = {}
    for y in seqs:
        s = st[y[0]] + en[y[-1]] + sum(em[t, y[t]] for t in range(L)) + sum(tr[y[t - 1], y[t]] for t in range(1, L))
        scores[y] = s
    vals = np.array([scores[y] for y in seqs])
    m = vals.max()
    logz = m + np.log(np.exp(vals - m).sum())
    marg = np.zeros((L, K))
    for y, v in zip(seqs, vals):
        marg[np.arange(L), list(y)] += np.exp(v - logz)
    best = seqs[int(np.argmax(vals))]
    return logz, marg, np.array(best), vals.max(), scores


def run_all(backend, em, tr, st, en, tags, lengths):
    out = {
        "logz": hmm.crf_log_partition(em, tr, st, en, lengths, backend=backend),
        "marg": hmm.crf_marginals(em, tr, st, en, lengths, backend=backend),
    }
    out["tags"], out["best"] = hmm.crf_decode(em, tr, st, en, lengths, backend=backend)
    out["llh"], (out["g_em"], out["g_tr"], out["g_st"], out["g_en"]) = hmm.crf_log_likelihood(
        em, tags, tr, st, en, lengths, return_grad=True, backend=backend)
    out["llh_only"] = hmm.crf_log_likelihood(em, tags, tr, st, en, lengths, backend=backend)
    return out


def compare(out, ref, dtype):
    for k, v in ref.items():
        if k == "tags":
            np.testing.assert_array_equal(out[k], v)
            assert out[k].dtype == np.int32
        else:
            assert out[k].dtype == dtype, k
            assert_close(out[k], v, dtype, err_msg=k)


@pytest.mark.parametrize("K, lengths", [(1, [3, 1]), (2, [6, 4, 1]), (3, [5, 2])])
def test_reference_matches_enumeration(K, lengths, rng):
    B, T = len(lengths), max(lengths)
    em, tr, st, en = crf_inputs(rng, B, T, K)
    tags = rng.integers(0, K, (B, T))
    out = run_all("reference", em, tr, st, en, tags, lengths)
    for b, L in enumerate(lengths):
        logz, marg, best, best_score, scores = enumerate_crf(em[b], tr, st, en, L)
        np.testing.assert_allclose(out["logz"][b], logz, rtol=1e-12)
        np.testing.assert_allclose(out["marg"][b, :L], marg, rtol=1e-10, atol=1e-14)
        assert np.all(out["marg"][b, L:] == 0)
        np.testing.assert_allclose(out["marg"][b, :L].sum(-1), 1.0, rtol=1e-12)
        np.testing.assert_array_equal(out["tags"][b, :L], best)
        assert np.all(out["tags"][b, L:] == -1)
        np.testing.assert_allclose(out["best"][b], best_score, rtol=1e-12)
        np.testing.assert_allclose(out["llh"][b], scores[tuple(tags[b, :L])] - logz, rtol=1e-12)
        assert np.all(out["g_em"][b, L:] == 0)


def test_gradient_matches_finite_differences(rng):
    B, T, K = 3, 4, 3
    lengths = [4, 2, 3]
    em, tr, st, en = crf_inputs(rng, B, T, K)
    tags = rng.integers(0, K, (B, T))
    for backend in ("reference", "cpu"):
        _, grads = hmm.crf_log_likelihood(em, tags, tr, st, en, lengths, return_grad=True, backend=backend)

        def f(e, t, s, n):
            return hmm.crf_log_likelihood(e, tags, t, s, n, lengths, backend=backend).sum()

        args = [em, tr, st, en]
        h = 1e-6
        for which, g in enumerate(grads):
            num = np.zeros_like(args[which])
            for idx in np.ndindex(args[which].shape):
                plus = [a.copy() for a in args]
                minus = [a.copy() for a in args]
                plus[which][idx] += h
                minus[which][idx] -= h
                num[idx] = (f(*plus) - f(*minus)) / (2 * h)
            np.testing.assert_allclose(g, num, atol=1e-7, err_msg=f"{backend} grad {which}")


CASES = {
    "B=1 T=1": (1, 1, 4, None, 0.0),
    "odd": (5, 13, 7, [13, 1, 8, 12, 5], 0.0),
    "forbidden": (4, 9, 5, [9, 3, 1, 6], 0.3),
    "K=1": (3, 4, 1, [4, 2, 1], 0.0),
    "bench-like": (8, 32, 32, "random", 0.0),
}
SMALL = {
    "odd": (3, 4, 3, [4, 1, 2], 0.0),
    "forbidden": (2, 3, 4, [3, 2], 0.3),
}


def _case(spec, rng, dtype):
    B, T, K, lengths, forbid = spec
    if lengths == "random":
        lengths = rng.integers(1, T + 1, B)
    em, tr, st, en = crf_inputs(rng, B, T, K, dtype, forbid)
    tags = rng.integers(0, K, (B, T))
    if forbid:  # gold tags along allowed transitions only (tag 0 is always reachable)
        tags[:, 1::2] = 0
    return em, tr, st, en, tags, lengths


@pytest.mark.parametrize("case", sorted(CASES))
def test_cpu_matches_reference(case, dtype, rng):
    em, tr, st, en, tags, lengths = _case(CASES[case], rng, dtype)
    copies = [x.copy() for x in (em, tr, st, en, tags)]
    compare(run_all("cpu", em, tr, st, en, tags, lengths), run_all("reference", em, tr, st, en, tags, lengths), dtype)
    for x, c in zip((em, tr, st, en, tags), copies):
        np.testing.assert_array_equal(x, c)


@pytest.mark.parametrize("case", sorted(SMALL))
def test_cuda_matches_reference(case, dtype, rng):
    em, tr, st, en, tags, lengths = _case(SMALL[case], rng, dtype)
    compare(run_all("cuda", em, tr, st, en, tags, lengths), run_all("reference", em, tr, st, en, tags, lengths), dtype)


@pytest.mark.skipif(CUDA_SIM, reason="the simulator covers SMALL; full-size cases on a real GPU")
@pytest.mark.parametrize("case", sorted(CASES))
def test_cuda_matches_reference_full(case, dtype, rng):
    em, tr, st, en, tags, lengths = _case(CASES[case], rng, dtype)
    compare(run_all("cuda", em, tr, st, en, tags, lengths), run_all("reference", em, tr, st, en, tags, lengths), dtype)


def test_large_scores_and_extreme_transitions(rng):
    """Scores far from 0 (and a transition range too wide for the scaled domain) stay exact."""
    em, tr, st, en = crf_inputs(rng, 4, 10, 5)
    tags = rng.integers(0, 5, (4, 10))
    em = em * 200
    tr[1, 2] = -2000.0
    tr[3, 3] = 900.0
    ref = run_all("reference", em, tr, st, en, tags, [10, 7, 3, 1])
    assert np.all(np.isfinite(ref["logz"]))
    compare(run_all("cpu", em, tr, st, en, tags, [10, 7, 3, 1]), ref, np.dtype(np.float64))


def test_forbidden_gold_tags_and_empty_batch(fast_backend, rng):
    em, tr, st, en = crf_inputs(rng, 2, 3, 3)
    tr[0, 1] = -np.inf
    tags = np.array([[0, 1, 2], [2, 2, 2]])
    llh, (g_em, *_rest) = hmm.crf_log_likelihood(em, tags, tr, st, en, return_grad=True, backend=fast_backend)
    assert llh[0] == -np.inf and np.isfinite(llh[1])
    ref = hmm.crf_log_likelihood(em, tags, tr, st, en, return_grad=True, backend="reference")
    assert_close(g_em, ref[1][0])
    e0 = np.zeros((0, 5, 3))
    assert hmm.crf_log_partition(e0, tr, st, en, backend=fast_backend).shape == (0,)
    t0, s0 = hmm.crf_decode(e0, tr, st, en, backend=fast_backend)
    assert t0.shape == (0, 5) and s0.shape == (0,)


def test_decoded_tags_round_trip(backend, rng):
    """crf_decode's output (with -1 padding) is valid input of crf_log_likelihood, and the best
    path's log-likelihood is the largest."""
    em, tr, st, en = crf_inputs(rng, 3, 5, 3)
    lengths = [5, 2, 4]
    tags, best = hmm.crf_decode(em, tr, st, en, lengths, backend=backend)
    llh_best = hmm.crf_log_likelihood(em, tags, tr, st, en, lengths, backend=backend)
    logz = hmm.crf_log_partition(em, tr, st, en, lengths, backend=backend)
    assert_close(llh_best, best - logz)
    other = np.where(tags >= 0, (tags + 1) % 3, -1)
    assert np.all(hmm.crf_log_likelihood(em, other, tr, st, en, lengths, backend=backend) <= llh_best + 1e-12)


def test_bad_input(rng):
    em, tr, st, en = crf_inputs(rng, 2, 3, 4)
    tags = np.zeros((2, 3), np.int64)
    f = hmm.crf_log_likelihood
    cases = [
        (dict(emissions=em[0]), ValueError, "emissions"),
        (dict(emissions=em.astype(np.float32)), TypeError, "transitions|emissions"),
        (dict(emissions=np.where(em > 1, np.nan, em)), ValueError, "emissions"),
        (dict(emissions=np.where(em > 1, np.inf, em)), ValueError, "emissions"),
        (dict(transitions=tr[:3]), ValueError, "transitions"),
        (dict(transitions=np.full((4, 4), np.nan)), ValueError, "transitions"),
        (dict(start_transitions=st[:2]), ValueError, "start_transitions"),
        (dict(end_transitions=np.full(4, np.inf)), ValueError, "end_transitions"),
        (dict(tags=np.full((2, 3), 4)), ValueError, "tags"),
        (dict(tags=np.full((2, 3), -1)), ValueError, "tags"),
        (dict(tags=np.zeros((2, 4), np.int64)), ValueError, "tags"),
        (dict(tags=np.zeros((2, 3))), TypeError, "tags"),
        (dict(lengths=[3, 0]), ValueError, "lengths"),
        (dict(lengths=[3, 4]), ValueError, "lengths"),
        (dict(lengths=[3]), ValueError, "lengths"),
        (dict(lengths=[1.5, 2]), TypeError, "lengths"),
        (dict(emissions=np.zeros((2, 0, 4))), ValueError, "emissions"),
        (dict(return_grad="yes"), TypeError, "return_grad"),
    ]
    for override, exc, name in cases:
        kw = dict(emissions=em, tags=tags, transitions=tr, start_transitions=st, end_transitions=en, lengths=None)
        kw.update(override)
        with pytest.raises(exc, match=name):
            f(**kw)
    # tags past a sequence's length are ignored
    tags_pad = np.array([[0, 1, 2], [3, -7, 99]])
    assert np.isfinite(f(em, tags_pad, tr, st, en, [3, 1])).all()
    with pytest.raises(ValueError, match="lengths"):
        hmm.crf_decode(em, tr, st, en, [[3, 3]])


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=25, deadline=None)
@given(K=st.integers(1, 4), lengths=st.lists(st.integers(1, 5), min_size=1, max_size=3),
       seed=st.integers(0, 2**31 - 1), scale=st.sampled_from([0.3, 50.0]), forbid=st.sampled_from([0.0, 0.4]))
def test_property_cpu_equals_reference(K, lengths, seed, scale, forbid):
    rng = np.random.default_rng(seed)
    B, T = len(lengths), max(lengths)
    em, tr, st_, en = crf_inputs(rng, B, T, K, forbid=forbid)
    em = em * scale
    tags = rng.integers(0, K, (B, T))
    if forbid:
        tags[:, :] = 0  # always allowed (transitions into tag 0 are never forbidden)
    ref = run_all("reference", em, tr, st_, en, tags, lengths)
    compare(run_all("cpu", em, tr, st_, en, tags, lengths), ref, np.dtype(np.float64))
    valid = np.arange(T)[None, :] < np.asarray(lengths)[:, None]
    np.testing.assert_allclose(ref["marg"].sum(-1)[valid], 1.0, rtol=1e-12)
    assert np.all(ref["llh"] <= 1e-12)
    assert np.all(ref["best"] <= ref["logz"] + 1e-9)
