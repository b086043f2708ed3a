"""Sequence-model bench cases: HMM inference and fitting against hmmlearn, the CRF against
pytorch-crf, 1-thread vs 2-thread scaling over many sequences, and GPU cases (``--gpu``).

Every runner starts from the same inputs as the peer: the HMM runners gather the log-emission
matrix from the categorical emission table inside the timed call (hmmlearn does the same work),
the CRF runners read the same float32 arrays as torch.  Throughput counts ``2 T N^2`` FLOP per
forward / Viterbi pass (one multiply-add or add-max per transition) and ``4 T N^2`` for
posteriors (forward and backward); the floor beside it is this machine's single-thread float64
GEMM rate (measured once, printed in the case size).
"""
from __future__ import annotations

import functools
import time

import numpy as np

from bagu_fast import hmm
from bagu_fast.hmm import CategoricalHMM

from . import harness
from .harness import Case, installed, to_host


@functools.lru_cache(maxsize=None)
def _dgemm_peak() -> float:
    """Single-thread float64 GEMM GFLOP/s (the floor printed beside the HMM throughputs)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover
        return float("nan")
    a = np.random.default_rng(0).standard_normal((768, 768))
    with threadpool_limits(1, user_api="blas"):
        a @ a
        best = min(_timed(lambda: a @ a) for _ in range(5))
    return 2 * 768 ** 3 / best / 1e9


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


# ----------------------------------------------------------------------------------------------
# HMM inputs
# ----------------------------------------------------------------------------------------------
def _hmm_setup(N, n_symbols, lengths, seed):
    def make():
        rng = np.random.default_rng(seed)
        startprob = rng.dirichlet(np.ones(N))
        transmat = rng.dirichlet(np.ones(N), size=N)
        emission = rng.dirichlet(np.ones(n_symbols), size=N)
        X = rng.integers(0, n_symbols, size=(int(np.sum(lengths)), 1))
        return {"startprob": startprob, "transmat": transmat, "emission": emission, "X": X,
                "lengths": np.asarray(lengths), "ls": np.log(startprob), "lt": np.log(transmat),
                "logE": np.log(emission)}

    return make


def _le(x):
    return np.ascontiguousarray(x["logE"][:, x["X"][:, 0]].T)


def _hmmlearn_model(x):
    if "_hl" not in x:
        from hmmlearn.hmm import CategoricalHMM as HL

        m = HL(n_components=len(x["startprob"]), n_features=x["emission"].shape[1], init_params="", params="")
        m.startprob_, m.transmat_, m.emissionprob_ = x["startprob"], x["transmat"], x["emission"]
        x["_hl"] = m
    return x["_hl"]


def _device_inputs(x):
    if "_dev" not in x:
        from numba import cuda

        x["_dev"] = tuple(cuda.to_device(a) for a in (x["ls"], x["lt"], _le(x)))
    return x["_dev"]


def _hmm_runners(kind, backends, threads=None):
    fn = {"forward": hmm.forward, "viterbi": hmm.viterbi, "posteriors": hmm.posteriors}[kind]

    def run(x, b):
        lengths = None if len(x["lengths"]) == 1 else x["lengths"]
        if threads is None:
            return fn(x["ls"], x["lt"], _le(x), lengths, backend=b)
        from bagu_fast.kernels.cpu._parallel import thread_count

        with thread_count(threads):
            return fn(x["ls"], x["lt"], _le(x), lengths, backend=b)

    def run_cuda(x):
        if harness.GPU:
            lengths = None if len(x["lengths"]) == 1 else x["lengths"]
            out = fn(*_device_inputs(x), lengths, backend="cuda")
            harness.cuda_sync()
            return out
        return run(x, "cuda")

    ours = {b: (lambda x, b=b: run(x, b)) for b in backends if b != "cuda"}
    if "cuda" in backends:
        ours["cuda"] = run_cuda
    peers = {}
    if installed("hmmlearn") and threads is None:
        method = {"forward": "score", "viterbi": "decode", "posteriors": "predict_proba"}[kind]
        peers["hmmlearn"] = lambda x: getattr(_hmmlearn_model(x), method)(x["X"], x["lengths"])
    return ours, peers


def _hmm_check(kind):
    """Compare with hmmlearn when installed (it is the reference's peer), else with our reference
    on a prefix of the sequences."""

    def check(x, result):
        if kind == "forward" and isinstance(result, float):  # hmmlearn score
            return
        if isinstance(result, tuple) and len(result) == 2 and np.isscalar(result[0]):  # hmmlearn decode
            return
        if kind == "posteriors" and not isinstance(result, tuple):  # hmmlearn predict_proba
            gamma = np.asarray(result)
            np.testing.assert_allclose(gamma.sum(1), 1.0, rtol=1e-9)
            return
        n = min(3, len(x["lengths"]))
        rows = int(np.sum(x["lengths"][:n]))
        lengths = x["lengths"][:n]
        le = _le(x)[:rows]
        if installed("hmmlearn"):  # every runner, the reference included, against hmmlearn
            m = _hmmlearn_model(x)
            r0 = 0
            for s, L in enumerate(lengths):
                Xs = x["X"][r0:r0 + L]
                if kind == "forward":
                    np.testing.assert_allclose(to_host(result)[s], m.score(Xs), rtol=1e-9)
                elif kind == "viterbi":
                    lp, states = m.decode(Xs)
                    np.testing.assert_allclose(to_host(result[1])[s], lp, rtol=1e-9)
                    np.testing.assert_array_equal(to_host(result[0])[r0:r0 + L], states)
                else:
                    np.testing.assert_allclose(to_host(result[0])[r0:r0 + L], m.predict_proba(Xs), rtol=1e-7,
                                               atol=1e-10)
                r0 += L
            return
        if kind == "forward":
            expected = hmm.forward(x["ls"], x["lt"], le, lengths, backend="reference")
            np.testing.assert_allclose(to_host(result)[:n], expected, rtol=1e-9)
        elif kind == "viterbi":
            path, lp = hmm.viterbi(x["ls"], x["lt"], le, lengths, backend="reference")
            np.testing.assert_array_equal(to_host(result[0])[:rows], path)
            np.testing.assert_allclose(to_host(result[1])[:n], lp, rtol=1e-9)
        else:
            gamma, ll = hmm.posteriors(x["ls"], x["lt"], le, lengths, backend="reference")
            np.testing.assert_allclose(to_host(result[0])[:rows], gamma, rtol=1e-7, atol=1e-10)
            np.testing.assert_allclose(to_host(result[1])[:n], ll, rtol=1e-9)

    return check


def _hmm_check_vs_hmmlearn(kind):
    """Long single sequence: the reference is slow, so hmmlearn's answer is the check."""
    base = _hmm_check(kind)

    def check(x, result):
        if not installed("hmmlearn"):
            return base(x, result)
        m = _hmmlearn_model(x)
        if kind == "forward" and not isinstance(result, float):
            np.testing.assert_allclose(to_host(result).sum(), m.score(x["X"]), rtol=1e-9)
        elif kind == "viterbi" and not np.isscalar(result[0]):
            lp, states = m.decode(x["X"])
            np.testing.assert_allclose(to_host(result[1]).sum(), lp, rtol=1e-9)
            assert np.mean(to_host(result[0]) == states) == 1.0, "Viterbi path differs from hmmlearn's"
        elif kind == "posteriors" and isinstance(result, tuple):
            np.testing.assert_allclose(to_host(result[0]), m.predict_proba(x["X"]), rtol=1e-6, atol=1e-9)

    return check


# ----------------------------------------------------------------------------------------------
# CategoricalHMM.fit
# ----------------------------------------------------------------------------------------------
def _fit_setup(N, n_symbols, n_seq, L, seed):
    def make():
        rng = np.random.default_rng(seed)
        return {"X": rng.integers(0, n_symbols, size=(n_seq * L, 1)), "lengths": np.full(n_seq, L),
                "start": rng.dirichlet(np.ones(N)), "trans": rng.dirichlet(np.ones(N), size=N),
                "emission": rng.dirichlet(np.ones(n_symbols), size=N), "N": N, "nf": n_symbols}

    return make


def _fit_runners(n_iter, backends):
    def ours(x, b):
        m = CategoricalHMM(x["N"], n_features=x["nf"], n_iter=n_iter, tol=-np.inf, init_params="", backend=b)
        m.startprob_, m.transmat_, m.emissionprob_ = x["start"].copy(), x["trans"].copy(), x["emission"].copy()
        return m.fit(x["X"], x["lengths"])

    out = {b: (lambda x, b=b: ours(x, b)) for b in backends if b != "cuda"}
    if "cuda" in backends:
        out["cuda"] = lambda x: ours(x, "cuda")
    peers = {}
    if installed("hmmlearn"):
        from hmmlearn.hmm import CategoricalHMM as HL

        def theirs(x):
            m = HL(x["N"], n_features=x["nf"], n_iter=n_iter, tol=-np.inf, init_params="")
            m.startprob_, m.transmat_, m.emissionprob_ = x["start"].copy(), x["trans"].copy(), x["emission"].copy()
            return m.fit(x["X"], x["lengths"])

        peers["hmmlearn"] = theirs
    return out, peers


def _fit_check(x, model):
    h = np.array(model.monitor_.history)
    assert len(h) > 0 and np.all(np.diff(h) >= -1e-8 * np.abs(h[1:])), f"history not monotone: {h}"
    if "_history" not in x:
        if installed("hmmlearn"):
            from hmmlearn.hmm import CategoricalHMM as HL

            m = HL(x["N"], n_features=x["nf"], n_iter=len(h), tol=-np.inf, init_params="")
            m.startprob_, m.transmat_, m.emissionprob_ = x["start"].copy(), x["trans"].copy(), x["emission"].copy()
            x["_history"] = np.array(m.fit(x["X"], x["lengths"]).monitor_.history)
        else:
            x["_history"] = h
    np.testing.assert_allclose(h, x["_history"], rtol=1e-6, err_msg="log-likelihood history differs from hmmlearn")


# ----------------------------------------------------------------------------------------------
# GaussianHMM.fit (diag): same start as hmmlearn, same history
# ----------------------------------------------------------------------------------------------
def _gauss_setup(N, F, n_seq, L, seed):
    def make():
        rng = np.random.default_rng(seed)
        centers = rng.standard_normal((N, F)) * 3
        X = centers[rng.integers(0, N, n_seq * L)] + rng.standard_normal((n_seq * L, F))
        return {"X": X, "lengths": np.full(n_seq, L), "start": rng.dirichlet(np.ones(N)),
                "trans": rng.dirichlet(np.ones(N), size=N), "means": rng.standard_normal((N, F)),
                "covars": np.full((N, F), 2.0), "N": N}

    return make


def _gauss_model(cls, x, n_iter, **kw):
    m = cls(x["N"], covariance_type="diag", n_iter=n_iter, tol=-np.inf, init_params="", **kw)
    m.startprob_, m.transmat_, m.means_ = x["start"].copy(), x["trans"].copy(), x["means"].copy()
    m.covars_ = x["covars"].copy()
    return m


def _gauss_runners(n_iter, backends):
    from bagu_fast.hmm import GaussianHMM

    ours = {b: (lambda x, b=b: _gauss_model(GaussianHMM, x, n_iter, backend=b).fit(x["X"], x["lengths"]))
            for b in backends}
    peers = {}
    if installed("hmmlearn"):
        from hmmlearn.hmm import GaussianHMM as HL

        peers["hmmlearn"] = lambda x: _gauss_model(HL, x, n_iter).fit(x["X"], x["lengths"])
    return ours, peers


def _gauss_check(x, model):
    h = np.array(model.monitor_.history)
    assert np.all(np.diff(h) >= -1e-8 * np.abs(h[1:])), f"history not monotone: {h}"
    if "_history" not in x and installed("hmmlearn"):
        from hmmlearn.hmm import GaussianHMM as HL

        x["_history"] = np.array(_gauss_model(HL, x, len(h)).fit(x["X"], x["lengths"]).monitor_.history)
    if "_history" in x:
        np.testing.assert_allclose(h, x["_history"], rtol=1e-6, err_msg="history differs from hmmlearn")


# ----------------------------------------------------------------------------------------------
# CRF
# ----------------------------------------------------------------------------------------------
def _crf_setup(B, T, K, seed):
    def make():
        rng = np.random.default_rng(seed)
        lengths = rng.integers(T // 2, T + 1, B)
        lengths[0] = T
        return {"em": rng.standard_normal((B, T, K), dtype=np.float32),
                "tags": rng.integers(0, K, (B, T)),
                "tr": (rng.standard_normal((K, K)) * 0.5).astype(np.float32),
                "st": (rng.standard_normal(K) * 0.5).astype(np.float32),
                "en": (rng.standard_normal(K) * 0.5).astype(np.float32),
                "lengths": lengths}

    return make


def _torch_crf(x):
    if "_crf" not in x:
        import torch
        from torchcrf import CRF

        K = x["em"].shape[2]
        crf = CRF(K, batch_first=True)
        with torch.no_grad():
            crf.transitions.copy_(torch.from_numpy(x["tr"]))
            crf.start_transitions.copy_(torch.from_numpy(x["st"]))
            crf.end_transitions.copy_(torch.from_numpy(x["en"]))
        mask = torch.from_numpy(np.arange(x["em"].shape[1])[None, :] < x["lengths"][:, None])
        x["_crf"] = (crf, mask, torch.from_numpy(x["tags"]))
    return x["_crf"]


def _crf_runners(kind, backends):
    def run(x, b):
        if kind == "llh+grad":
            return hmm.crf_log_likelihood(x["em"], x["tags"], x["tr"], x["st"], x["en"], x["lengths"],
                                          return_grad=True, backend=b)
        return hmm.crf_decode(x["em"], x["tr"], x["st"], x["en"], x["lengths"], backend=b)

    ours = {b: (lambda x, b=b: run(x, b)) for b in backends}
    peers = {}
    if installed("torchcrf") and installed("torch"):
        import torch

        def torch_run(x):
            crf, mask, tags = _torch_crf(x)
            if kind == "llh+grad":
                em = torch.from_numpy(x["em"]).requires_grad_(True)
                crf.zero_grad()
                llh = crf(em, tags, mask=mask, reduction="sum")
                llh.backward()
                return float(llh.detach()), em.grad.numpy(), crf.transitions.grad.numpy()
            return crf.decode(torch.from_numpy(x["em"]), mask=mask)

        peers["pytorch-crf"] = torch_run
    return ours, peers


def _crf_check(kind):
    def check(x, result):
        if kind == "llh+grad":
            if isinstance(result[0], float):  # pytorch-crf: compare with our reference
                llh, (g_em, g_tr, _, _) = hmm.crf_log_likelihood(
                    x["em"], x["tags"], x["tr"], x["st"], x["en"], x["lengths"], return_grad=True,
                    backend="reference")
                np.testing.assert_allclose(result[0], float(np.sum(llh)), rtol=1e-4)
                np.testing.assert_allclose(result[1], g_em, atol=1e-4)
                np.testing.assert_allclose(result[2], g_tr, atol=1e-3)
                return
            llh, grads = result
            n = 4  # the reference on a few sequences
            ref_llh, ref_grads = hmm.crf_log_likelihood(
                x["em"][:n], x["tags"][:n], x["tr"], x["st"], x["en"], x["lengths"][:n], return_grad=True,
                backend="reference")
            np.testing.assert_allclose(to_host(llh)[:n], ref_llh, rtol=2e-4)
            np.testing.assert_allclose(to_host(grads[0])[:n], ref_grads[0], atol=2e-5)
            return
        if isinstance(result, list):  # pytorch-crf decode (float32): its paths score as ours
            B, T = x["tags"].shape
            theirs = np.full((B, T), -1)
            for b, seq in enumerate(result):
                theirs[b, :len(seq)] = seq
            em64, tr64, st64, en64 = (x[k].astype(np.float64) for k in ("em", "tr", "st", "en"))
            _, best = hmm.crf_decode(em64, tr64, st64, en64, x["lengths"], backend="cpu")
            llh = hmm.crf_log_likelihood(em64, theirs, tr64, st64, en64, x["lengths"], backend="cpu")
            logz = hmm.crf_log_partition(em64, tr64, st64, en64, x["lengths"], backend="cpu")
            np.testing.assert_allclose(llh + logz, best, rtol=1e-5, err_msg="pytorch-crf path is not optimal")
            return
        n = 4
        tags, score = hmm.crf_decode(x["em"][:n], x["tr"], x["st"], x["en"], x["lengths"][:n], backend="reference")
        np.testing.assert_array_equal(to_host(result[0])[:n], tags)

    return check


# ----------------------------------------------------------------------------------------------
def cases(quick: bool) -> list[Case]:
    peak = _dgemm_peak()
    floor = f"; dgemm 1 thr {peak:.0f} GFLOP/s"
    out: list[Case] = []
    all3 = ("reference", "cpu", "cuda")
    # one long sequence: N = 64, T = 20 000; the reference only in quick mode
    N, T = 64, (4000 if quick else 20000)
    long_backends = all3 if quick else ("cpu", "cuda")
    for kind, mult in (("viterbi", 2), ("forward", 2), ("posteriors", 4)):
        ours, peers = _hmm_runners(kind, long_backends)
        out.append(Case(
            "hmm", f"{kind} 1 sequence", f"N={N} T={T} f64{floor}", _hmm_setup(N, 32, [T], seed=1), ours, peers,
            _hmm_check_vs_hmmlearn(kind), work=mult * T * N * N / 1e9, unit="GFLOP", slow=("reference",),
        ))
    # many sequences: 1 thread vs 2 threads (thread_count inside the runner)
    S, L, N2 = (200 if quick else 1000), 200, 32
    for kind, mult in (("viterbi", 2), ("posteriors", 4)):
        for threads in (1, 2):
            ours, peers = _hmm_runners(kind, ("cpu",), threads=threads)
            if threads == 2:
                ours2, peers = _hmm_runners(kind, ("reference",))
                ours.update(ours2)
            out.append(Case(
                "hmm", f"{kind} {S} sequences, {threads} thread{'s' if threads > 1 else ''}",
                f"N={N2} T={L} each f64", _hmm_setup(N2, 32, [L] * S, seed=2), ours, peers, _hmm_check(kind),
                work=mult * S * L * N2 * N2 / 1e9, unit="GFLOP", slow=("reference",),
            ))
    # CategoricalHMM.fit: 10 iterations, N = 16, 32 symbols, 50 sequences of 500
    n_seq = 10 if quick else 50
    ours, peers = _fit_runners(10, ("reference", "cpu"))
    out.append(Case(
        "hmm", "CategoricalHMM.fit (10 iter)", f"N=16 M=32 {n_seq}x500", _fit_setup(16, 32, n_seq, 500, seed=3),
        ours, peers, _fit_check, slow=("reference",),
    ))
    n_seq = 5 if quick else 20
    ours, peers = _gauss_runners(10, ("reference", "cpu"))
    out.append(Case(
        "hmm", "GaussianHMM.fit diag (10 iter)", f"N=8 F=3 {n_seq}x500", _gauss_setup(8, 3, n_seq, 500, seed=6),
        ours, peers, _gauss_check, slow=("reference",),
    ))
    # CRF: B = 64, T = 128, K = 32, float32
    B, Tc, K = (16 if quick else 64), 128, 32
    for kind in ("llh+grad", "decode"):
        ours, peers = _crf_runners(kind, all3 if harness.GPU else ("reference", "cpu"))
        out.append(Case(
            "hmm", f"CRF {kind}", f"B={B} T={Tc} K={K} f32", _crf_setup(B, Tc, K, seed=4), ours, peers,
            _crf_check(kind), work=(6 if kind == "llh+grad" else 2) * B * Tc * K * K / 1e9, unit="GFLOP",
            slow=("reference",),
        ))
    if harness.GPU:
        # a large GPU batch: 10 000 sequences x T = 200 x N = 64, Viterbi and forward
        # (the cpu runner only in full runs: it takes seconds per call at this size)
        S3, L3, N3 = 10000, 200, 64
        for kind in ("viterbi", "forward"):
            ours, _ = _hmm_runners(kind, ("cuda",) if quick else ("cpu", "cuda"))
            out.append(Case(
                "hmm", f"GPU {kind} {S3} sequences", f"N={N3} T={L3} each f64", _hmm_setup(N3, 32, [L3] * S3, seed=5),
                ours, {}, _hmm_check(kind), work=2 * S3 * L3 * N3 * N3 / 1e9, unit="GFLOP",
            ))
    return out
