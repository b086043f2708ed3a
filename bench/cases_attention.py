"""Attention bench cases; PyTorch's ``scaled_dot_product_attention`` is the peer.

Work is counted as ``4 * B * H * L * S * D`` FLOP (two matrix products), halved for causal.
Every result is checked against a float64 NumPy computation of a sample of query rows, so the
check stays cheap on big shapes (the memory case never builds an ``L x S`` matrix, not even in
the check).
"""
from __future__ import annotations

import math

import numpy as np

import bagu_fast as bf

from . import harness
from .harness import Case, installed, to_host


def _setup(B, H, L, S, D, seed, Hkv=None):
    def make():
        rng = np.random.default_rng(seed)
        q = rng.standard_normal((B, H, L, D), dtype=np.float32)
        k = rng.standard_normal((B, Hkv or H, S, D), dtype=np.float32)
        v = rng.standard_normal((B, Hkv or H, S, D), dtype=np.float32)
        return {"q": q, "k": k, "v": v}

    return make


def _rows_oracle(q, k, v, rows, is_causal):
    """float64 attention output of query rows ``rows`` of one (batch, head) ([len(rows), Dv])."""
    qr = q[rows].astype(np.float64)
    s = qr @ k.astype(np.float64).T / math.sqrt(q.shape[-1])
    if is_causal:
        s = np.where(np.arange(k.shape[0])[None, :] <= np.asarray(rows)[:, None], s, -np.inf)
    p = np.exp(s - s.max(axis=1, keepdims=True))
    return (p @ v.astype(np.float64)) / p.sum(axis=1, keepdims=True)


def _checker(is_causal, n_rows=48, n_heads=2):
    def check(inputs, result):
        q, k, v = inputs["q"], inputs["k"], inputs["v"]
        out = to_host(result)
        B, H, L, _ = q.shape
        assert out.shape == (B, H, L, v.shape[-1]), f"shape {out.shape}"
        assert out.dtype == np.float32, f"dtype {out.dtype}"
        rng = np.random.default_rng(3)
        group = H // k.shape[1]
        for _ in range(n_heads):
            b, h = int(rng.integers(B)), int(rng.integers(H))
            rows = np.unique(np.concatenate([[0, L - 1], rng.integers(0, L, size=min(n_rows, L))]))
            expected = _rows_oracle(q[b, h], k[b, h // group], v[b, h // group], rows, is_causal)
            np.testing.assert_allclose(out[b, h, rows], expected, rtol=2e-4, atol=5e-5)

    return check


def _device(inputs):
    """Numba device copies of the inputs, made once per input set (GPU runs time the kernel)."""
    if "_device" not in inputs:
        from numba import cuda

        inputs["_device"] = tuple(cuda.to_device(inputs[n]) for n in ("q", "k", "v"))
    return inputs["_device"]


def _torch_cuda(inputs):
    if "_torch_cuda" not in inputs:
        import torch

        inputs["_torch_cuda"] = tuple(torch.from_numpy(inputs[n]).cuda() for n in ("q", "k", "v"))
    return inputs["_torch_cuda"]


def _runners(is_causal, backends, gqa=False):
    def run(x, b):
        return bf.scaled_dot_product_attention(x["q"], x["k"], x["v"], is_causal=is_causal, enable_gqa=gqa, backend=b)

    def run_cuda(x):
        if harness.GPU:  # inputs already on the GPU: time the kernel, not the copies
            dq, dk, dv = _device(x)
            out = bf.scaled_dot_product_attention(dq, dk, dv, is_causal=is_causal, enable_gqa=gqa, backend="cuda")
            harness.cuda_sync()
            return out
        return run(x, "cuda")

    ours = {b: (lambda x, b=b: run(x, b)) for b in backends if b != "cuda"}
    if "cuda" in backends:
        ours["cuda"] = run_cuda
    peers = {}
    if installed("torch"):
        import torch

        sdpa = torch.nn.functional.scaled_dot_product_attention

        def run_torch(x):
            return sdpa(torch.from_numpy(x["q"]), torch.from_numpy(x["k"]), torch.from_numpy(x["v"]),
                        is_causal=is_causal, enable_gqa=gqa)

        peers["torch"] = run_torch
        if harness.GPU:

            def run_torch_cuda(x):
                q, k, v = _torch_cuda(x)
                out = sdpa(q, k, v, is_causal=is_causal, enable_gqa=gqa)
                torch.cuda.synchronize()
                return out

            peers["torch-cuda"] = run_torch_cuda
    return ours, peers


def _gflop(B, H, L, S, D, causal=False):
    return 4 * B * H * L * S * D / 1e9 * (0.5 if causal else 1.0)


def cases(quick: bool) -> list[Case]:
    all3 = ("reference", "cpu", "cuda")
    B, H, L, D = (2, 8, 512, 64) if quick else (4, 8, 1024, 64)
    S_dec = 8192 if quick else 32768
    L_mem = 4096 if quick else 16384
    out = []
    for causal in (False, True):
        ours, peers = _runners(causal, all3)
        out.append(Case(
            "attention", "sdpa causal" if causal else "sdpa", f"{B}x{H}x{L}x{D} f32",
            _setup(B, H, L, L, D, seed=20 + causal), ours, peers, _checker(causal),
            work=_gflop(B, H, L, L, D, causal), unit="GFLOP", slow=("reference",),
        ))
    ours, peers = _runners(False, all3)
    out.append(Case(
        "attention", "decode (1 query row)", f"1x32x1x128 vs S={S_dec} f32",
        _setup(1, 32, 1, S_dec, 128, seed=30), ours, peers, _checker(False),
        work=_gflop(1, 32, 1, S_dec, 128), unit="GFLOP", slow=("reference",),
    ))
    ours, peers = _runners(True, all3, gqa=True)
    out.append(Case(
        "attention", "sdpa gqa causal", f"{B}x{H}(kv {H // 4})x{L}x{D} f32",
        _setup(B, H, L, L, D, seed=40, Hkv=H // 4), ours, peers, _checker(True),
        work=_gflop(B, H, L, L, D, True), unit="GFLOP", slow=("reference",),
    ))
    # Long sequence: the reference would need an L x S matrix (1 GiB at 16384^2), so it is left
    # out; the check samples rows.  Peak RSS shows that nothing L x S is allocated.
    ours, peers = _runners(False, ("cpu", "cuda"))
    out.append(Case(
        "attention", "sdpa long (memory)", f"1x1x{L_mem}x64 f32",
        _setup(1, 1, L_mem, L_mem, 64, seed=50), ours, peers, _checker(False, n_rows=64, n_heads=1),
        work=_gflop(1, 1, L_mem, L_mem, 64), unit="GFLOP", measure_memory=True,
    ))
    # Per-call overhead: a toy shape and a decode step over a short cache, called in a loop as a
    # user would; the reference is beside them, torch is the peer.
    for name, shape, seed in (("tiny call", (1, 2, 4, 4, 8), 60), ("decode step, short cache", (1, 32, 1, 512, 128), 61)):
        B_, H_, L_, S_, D_ = shape
        ours, peers = _runners(False, all3)
        out.append(Case(
            "attention", name, f"{B_}x{H_}x{L_}x{D_} vs S={S_} f32",
            _setup(B_, H_, L_, S_, D_, seed=seed), ours, peers, _checker(False),
            work=1.0, unit="call",
        ))
    return out  # concurrent callers: bench/cases_concurrency.py
