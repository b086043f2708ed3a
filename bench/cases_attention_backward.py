"""Attention backward bench cases (part of the attention family).

* forward + backward ``[B, H, L, D]`` float32, plain and causal: ours (forward with
  ``return_lse=True``, then :func:`scaled_dot_product_attention_backward`) against torch's
  autograd (``requires_grad_()``, ``F.scaled_dot_product_attention``, ``.backward(grad)``).
  Work: the forward's ``4 B H L S D`` FLOP plus the backward's 2.5 times that (five products
  against two), halved for causal.
* backward alone at ``L = S = 8192``, one head, with peak RSS (``measure_memory``): nothing
  ``L x S`` may be allocated.  The peer is torch's CPU flash-attention backward operator
  (``aten._scaled_dot_product_flash_attention_for_cpu_backward``) on torch's own forward output.

Every result is checked against a float64 NumPy computation of sampled query rows (``dQ``) and
keys (``dK``, ``dV``); the row statistics it needs are computed in chunks of rows, so the check
never builds an ``L x S`` matrix either.
"""
from __future__ import annotations

import math

import numpy as np

import bagu_fast as bf
from bagu_fast.attention_backward import scaled_dot_product_attention_backward

from . import harness
from .harness import Case, installed, to_host


def _setup(B, H, L, D, seed, forward=False, is_causal=False):
    def make():
        rng = np.random.default_rng(seed)
        x = {n: rng.standard_normal((B, H, L, D), dtype=np.float32) for n in ("q", "k", "v", "g")}
        if forward:  # the backward-only case starts from the forward's outputs
            x["out"], x["lse"] = bf.scaled_dot_product_attention(x["q"], x["k"], x["v"], is_causal=is_causal,
                                                                 return_lse=True, backend="cpu")
        return x

    return make


def _oracle(q, k, v, g, rows, keys, is_causal, chunk=512):
    """float64 ``(dQ[rows], dK[keys], dV[keys])`` of one head ([L, D] inputs)."""
    q, k, v, g = (a.astype(np.float64) for a in (q, k, v, g))
    L, D = q.shape
    S = k.shape[0]
    scale = 1 / math.sqrt(D)

    def scores(r, j):  # scores of query rows r against keys j, -inf where causality hides them
        s = q[r] @ k[j].T * scale
        if is_causal:
            s = np.where(np.asarray(j)[None, :] <= np.asarray(r)[:, None], s, -np.inf)
        return s

    lse = np.empty(L)
    drow = np.empty(L)  # dO . O
    for r0 in range(0, L, chunk):
        r = np.arange(r0, min(r0 + chunk, L))
        s = scores(r, np.arange(S))
        m = s.max(axis=1, keepdims=True)
        p = np.exp(s - m)
        total = p.sum(axis=1, keepdims=True)
        lse[r] = (m + np.log(total))[:, 0]
        drow[r] = np.sum(g[r] * ((p @ v) / total), axis=1)
    p = np.exp(scores(rows, np.arange(S)) - lse[rows, None])
    ds = p * (g[rows] @ v.T - drow[rows, None])
    dq = ds @ k * scale
    p = np.exp(scores(np.arange(L), keys) - lse[:, None])
    ds = p * (g @ v[keys].T - drow[:, None])
    return dq, ds.T @ q * scale, p.T @ g


def _checker(is_causal, n_heads=2, n_samples=48):
    def check(inputs, result):
        q = inputs["q"]
        B, H, L, D = q.shape
        got = [to_host(a) for a in result]
        for a in got:
            assert a.shape == (B, H, L, D), f"shape {a.shape}"
            assert a.dtype == np.float32, f"dtype {a.dtype}"
        rng = np.random.default_rng(5)
        for _ in range(n_heads):
            b, h = int(rng.integers(B)), int(rng.integers(H))
            rows = np.unique(np.concatenate([[0, L - 1], rng.integers(0, L, size=n_samples)]))
            expected = _oracle(*(inputs[n][b, h] for n in ("q", "k", "v", "g")), rows, rows, is_causal)
            for name, a, e in zip(("dQ", "dK", "dV"), (got[0][b, h, rows], got[1][b, h, rows], got[2][b, h, rows]),
                                  expected):
                # float32 sums over up to L terms: tolerance relative to the gradient's size
                np.testing.assert_allclose(a, e, rtol=2e-4, atol=2e-5 * float(np.abs(e).max()), err_msg=name)

    return check


def _device(x):
    if "_device" not in x:
        from numba import cuda

        x["_device"] = {n: cuda.to_device(a) for n, a in x.items() if isinstance(a, np.ndarray)}
    return x["_device"]


def _forward_backward_runners(is_causal):
    def run(x, backend):
        out, lse = bf.scaled_dot_product_attention(x["q"], x["k"], x["v"], is_causal=is_causal, return_lse=True,
                                                   backend=backend)
        return scaled_dot_product_attention_backward(x["g"], x["q"], x["k"], x["v"], out, lse, is_causal=is_causal,
                                                     backend=backend)

    def run_cuda(x):
        if not harness.GPU:
            return run(x, "cuda")
        d = _device(x)  # inputs already on the GPU: time the kernels, not the copies
        grads = run(d, "cuda")
        harness.cuda_sync()
        return grads

    ours = {"reference": lambda x: run(x, "reference"), "cpu": lambda x: run(x, "cpu"), "cuda": run_cuda}
    peers = {}
    if installed("torch"):
        import torch

        sdpa = torch.nn.functional.scaled_dot_product_attention

        def run_torch(x):
            q, k, v = (torch.from_numpy(x[n]).requires_grad_() for n in ("q", "k", "v"))
            sdpa(q, k, v, is_causal=is_causal).backward(torch.from_numpy(x["g"]))
            return q.grad, k.grad, v.grad

        peers["torch"] = run_torch
    return ours, peers


def _backward_runners():
    def run(x):
        return scaled_dot_product_attention_backward(x["g"], x["q"], x["k"], x["v"], x["out"], x["lse"], backend="cpu")

    peers = {}
    if installed("torch"):
        import torch

        def run_torch(x):
            if "_torch" not in x:  # torch's own forward output and log-sum-exp, made once
                t = {n: torch.from_numpy(x[n]) for n in ("q", "k", "v", "g")}
                t["out"], t["lse"] = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu(
                    t["q"], t["k"], t["v"], 0.0, False)
                x["_torch"] = t
            t = x["_torch"]
            return torch.ops.aten._scaled_dot_product_flash_attention_for_cpu_backward(
                t["g"], t["q"], t["k"], t["v"], t["out"], t["lse"], 0.0, False)

        peers["torch"] = run_torch
    return {"cpu": run}, peers


def _gflop(B, H, L, S, D, causal=False):
    return 4 * B * H * L * S * D / 1e9 * (0.5 if causal else 1.0)


def cases(quick: bool) -> list[Case]:
    B, H, L, D = (2, 8, 512, 64) if quick else (4, 8, 1024, 64)
    L_mem = 4096 if quick else 8192
    out = []
    for causal in (False, True):
        ours, peers = _forward_backward_runners(causal)
        out.append(Case(
            "attention", "sdpa forward + backward" + (" causal" if causal else ""), f"{B}x{H}x{L}x{D} f32",
            _setup(B, H, L, D, seed=70 + causal), ours, peers, _checker(causal),
            work=3.5 * _gflop(B, H, L, L, D, causal), unit="GFLOP", slow=("reference",),
        ))
    ours, peers = _backward_runners()
    out.append(Case(
        "attention", "sdpa backward long (memory)", f"1x1x{L_mem}x64 f32",
        _setup(1, 1, L_mem, 64, seed=72, forward=True), ours, peers, _checker(False, n_heads=1, n_samples=64),
        work=2.5 * _gflop(1, 1, L_mem, L_mem, 64), unit="GFLOP", measure_memory=True,
    ))
    return out


if __name__ == "__main__":  # a quick run of every case, once: `python -m bench.cases_attention_backward`
    import time

    for case in cases(quick=True):
        inputs = case.setup()
        for name, fn in list(case.ours.items()) + list(case.peers.items()):
            if name == "cuda":
                continue
            t0 = time.perf_counter()
            case.check(inputs, fn(inputs))
            print(f"{case.name} [{case.size}] {name}: ok, {time.perf_counter() - t0:.2f} s (JIT included)")
