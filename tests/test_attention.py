"""Attention family: every backend against the reference, the reference against known answers,
properties, multi-head attention, positional encoding, and bad input.

The oracle ``naive`` below is written independently of the package's shape normalisation:
NumPy broadcasting over the leading dimensions, float64 throughout.
"""
from __future__ import annotations

import inspect
import math
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import bagu_fast as bf
from bagu_fast.kernels.reference import attention as ref_kernel
from .conftest import CUDA_SIM, assert_close

sdpa = bf.scaled_dot_product_attention


# ----------------------------------------------------------------------------------------------
# independent oracle
# ----------------------------------------------------------------------------------------------
def naive(q, k, v, mask=None, is_causal=False, scale=None, enable_gqa=False, window=None, softcap=None):
    """float64 (out, lse) by the definition, with NumPy broadcasting of leading dimensions."""
    q, k, v = (np.asarray(a, dtype=np.float64) for a in (q, k, v))
    if enable_gqa:
        group = q.shape[-3] // k.shape[-3]
        k, v = np.repeat(k, group, axis=-3), np.repeat(v, group, axis=-3)
    L, S = q.shape[-2], k.shape[-2]
    scale = 1 / math.sqrt(q.shape[-1]) if scale is None else scale
    s = q @ np.swapaxes(k, -1, -2) * scale
    if softcap:
        s = softcap * np.tanh(s / softcap)
    if mask is not None:
        mask = np.asarray(mask)
        s = np.where(mask, s, -np.inf) if mask.dtype == bool else s + mask
    i, j = np.arange(L)[:, None], np.arange(S)[None, :]
    vis = np.ones((L, S), bool)
    if is_causal:
        vis &= j <= i
    if window is not None:
        if window[0] is not None:
            vis &= j >= i - window[0]
        if window[1] is not None:
            vis &= j <= i + window[1]
    s = np.where(vis, s, -np.inf)
    m = s.max(axis=-1, keepdims=True) if S else np.full(s.shape[:-1] + (1,), -np.inf)
    m_safe = np.where(np.isfinite(m), m, 0.0)
    p = np.exp(s - m_safe)
    total = p.sum(axis=-1, keepdims=True)
    out = np.where(total > 0, (p @ v) / np.where(total > 0, total, 1), 0.0)
    lse = np.where(total > 0, m_safe + np.log(np.where(total > 0, total, 1)), -np.inf)[..., 0]
    return out, lse


def rand(rng, shape, dtype, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(dtype)


def check(backend, dtype, q, k, v, **kw):
    """Run ``backend`` with return_lse and compare with the oracle at ``dtype``'s tolerance."""
    expected_out, expected_lse = naive(q, k, v, **{("mask" if a == "attn_mask" else a): b for a, b in kw.items()})
    q0, k0, v0 = q.copy(), k.copy(), v.copy()
    out, lse = sdpa(q, k, v, return_lse=True, backend=backend, **kw)
    assert out.dtype == dtype and lse.dtype == dtype
    assert_close(out, expected_out, dtype)
    assert_close(lse, expected_lse, dtype)
    np.testing.assert_array_equal(q, q0)
    np.testing.assert_array_equal(k, k0)
    np.testing.assert_array_equal(v, v0)
    return out, lse


# ----------------------------------------------------------------------------------------------
# the reference kernel against known answers
# ----------------------------------------------------------------------------------------------
def test_reference_uniform_attention_gives_mean_of_values(rng, dtype):
    q = np.zeros((2, 3, 5, 4), dtype)
    k = rand(rng, (2, 3, 7, 4), dtype)
    v = rand(rng, (2, 3, 7, 6), dtype)
    out, lse = sdpa(q, k, v, return_lse=True, backend="reference")
    assert_close(out, np.broadcast_to(v.mean(axis=2, keepdims=True), out.shape), dtype)
    assert_close(lse, np.full(lse.shape, math.log(7)), dtype)


def test_reference_one_hot_large_score_picks_that_value(dtype):
    S, D = 6, 3
    k = np.zeros((S, D), dtype)
    k[4, 0] = 1.0
    q = np.array([[50.0, 0, 0]], dtype)
    v = np.arange(S * 2, dtype=dtype).reshape(S, 2)
    out = sdpa(q, k, v, scale=1.0, backend="reference")
    assert_close(out, v[4:5], dtype)


def test_reference_hand_computed_example():
    q = np.array([[1.0, 0.0], [0.0, 2.0]])
    k = np.array([[1.0, 0.0], [0.0, 1.0]])
    v = np.array([[1.0, 2.0], [3.0, 4.0]])
    out, lse = sdpa(q, k, v, scale=1.0, return_lse=True, backend="reference")
    e = math.e
    w0 = np.array([e, 1.0]) / (e + 1)  # scores [1, 0]
    w1 = np.array([1.0, e * e]) / (1 + e * e)  # scores [0, 2]
    np.testing.assert_allclose(out, [w0 @ v, w1 @ v], rtol=1e-14)
    np.testing.assert_allclose(lse, [math.log(e + 1), math.log(1 + e * e)], rtol=1e-14)
    causal = sdpa(q, k, v, scale=1.0, is_causal=True, backend="reference")
    np.testing.assert_allclose(causal, [v[0], w1 @ v], rtol=1e-14)


def test_reference_kernel_matches_oracle_directly(rng):
    q, k, v = rand(rng, (2, 4, 9, 5), np.float64), rand(rng, (2, 2, 11, 5), np.float64), rand(rng, (2, 2, 11, 3), np.float64)
    mask = np.where(rng.random((2, 1, 9, 11)) < 0.3, -np.inf, rng.standard_normal((2, 1, 9, 11)))
    out, lse = ref_kernel.sdpa(q, k, v, mask, False, 0.7, 3, 2, 1.5)
    exp_out, exp_lse = naive(q, k, v, mask=mask, scale=0.7, enable_gqa=True, window=(3, 2), softcap=1.5)
    np.testing.assert_allclose(out, exp_out, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(lse, exp_lse, rtol=1e-12)


# ----------------------------------------------------------------------------------------------
# every backend against the oracle
# ----------------------------------------------------------------------------------------------
# (name, q shape, k shape, v shape, kwargs builder) -- shapes for the simulator are in SMALL
CASES = {
    "plain odd": ((2, 3, 37, 16), (2, 3, 53, 16), (2, 3, 53, 16), {}),
    "D=1": ((1, 2, 19, 1), (1, 2, 23, 1), (1, 2, 23, 1), {}),
    "D=63 Dv=17": ((1, 2, 33, 63), (1, 2, 301, 63), (1, 2, 301, 17), {}),
    "D=64 long": ((1, 1, 300, 64), (1, 1, 700, 64), (1, 1, 700, 64), {}),
    "D=128": ((1, 2, 17, 128), (1, 2, 29, 128), (1, 2, 29, 128), {"scale": 0.05}),
    "gqa": ((2, 6, 21, 16), (2, 2, 27, 16), (2, 2, 27, 8), {"enable_gqa": True}),
    "causal L<S": ((2, 2, 37, 16), (2, 2, 300, 16), (2, 2, 300, 16), {"is_causal": True}),
    "causal L>S": ((1, 2, 300, 16), (1, 2, 37, 16), (1, 2, 37, 16), {"is_causal": True}),
    "causal big": ((1, 2, 515, 32), (1, 2, 515, 32), (1, 2, 515, 32), {"is_causal": True}),
    "window": ((1, 2, 300, 16), (1, 2, 301, 16), (1, 2, 301, 16), {"window": (5, 70)}),
    "window left only causal": ((1, 1, 333, 16), (1, 1, 333, 16), (1, 1, 333, 16),
                                {"window": (40, None), "is_causal": True}),
    "window right only": ((1, 1, 41, 16), (1, 1, 333, 16), (1, 1, 333, 16), {"window": (None, 0)}),
    "softcap": ((1, 2, 31, 16), (1, 2, 45, 16), (1, 2, 45, 16), {"softcap": 0.3, "scale": 1.0}),
    "bool mask": ((2, 2, 29, 16), (2, 2, 35, 16), (2, 2, 35, 16), {"mask": "bool full"}),
    "float mask": ((2, 2, 29, 16), (2, 2, 35, 16), (2, 2, 35, 16), {"mask": "float full"}),
    "key padding": ((3, 2, 29, 16), (3, 2, 300, 16), (3, 2, 300, 16), {"mask": "key padding"}),
    "per-head mask": ((2, 3, 29, 16), (2, 3, 35, 16), (2, 3, 35, 16), {"mask": "per head"}),
    "decode split-K": ((1, 2, 1, 32), (1, 2, 5000, 32), (1, 2, 5000, 32), {}),
    "gqa decode per-head mask": ((1, 8, 3, 16), (1, 2, 4100, 16), (1, 2, 4100, 16),
                                 {"enable_gqa": True, "mask": "per head"}),
    "gqa blocks of several heads": ((8, 8, 50, 8), (8, 2, 37, 8), (8, 2, 37, 8),
                                    {"enable_gqa": True, "mask": "per head", "window": (3, 5)}),
    "gqa causal odd": ((2, 6, 133, 16), (2, 3, 140, 16), (2, 3, 140, 4), {"enable_gqa": True, "is_causal": True}),
    "decode split-K masked": ((1, 1, 3, 16), (1, 1, 4100, 16), (1, 1, 4100, 16),
                              {"mask": "key padding", "window": (None, 2500)}),
}
SMALL = {
    "plain odd": ((1, 2, 7, 5), (1, 2, 9, 5), (1, 2, 9, 5), {}),
    "gqa causal": ((1, 4, 9, 8), (1, 2, 13, 8), (1, 2, 13, 3), {"enable_gqa": True, "is_causal": True}),
    "key padding window softcap": ((2, 1, 5, 16), (2, 1, 16, 16), (2, 1, 16, 16),
                                   {"mask": "key padding", "window": (2, 1), "softcap": 0.5}),
}


def make_mask(kind, rng, B, H, L, S, dtype):
    if kind == "bool full":
        m = rng.random((B, H, L, S)) < 0.7
        m[0, 0, 3] = False  # one fully masked row
        return m
    if kind == "float full":
        m = rng.standard_normal((L, S)).astype(dtype)
        m[rng.random((L, S)) < 0.2] = -np.inf
        return m
    if kind == "key padding":
        m = np.ones((B, 1, 1, S), bool)
        for b in range(B):
            m[b, ..., S - 1 - b * (S // 4):] = False
        return m
    if kind == "per head":
        return np.where(rng.random((1, H, L, S)) < 0.5, 0.0, -3.0).astype(dtype)
    raise AssertionError(kind)


def run_case(spec, backend, dtype, rng):
    qs, ks, vs, kw = spec
    kw = dict(kw)
    q, k, v = rand(rng, qs, dtype), rand(rng, ks, dtype), rand(rng, vs, dtype)
    if "mask" in kw:
        kw["attn_mask"] = make_mask(kw.pop("mask"), rng, qs[0], qs[1], qs[2], ks[2], dtype)
    return check(backend, dtype, q, k, v, **kw)


@pytest.mark.parametrize("case", sorted(CASES))
def test_cpu_and_reference_match_oracle(case, dtype, rng):
    for backend in ("reference", "cpu"):
        run_case(CASES[case], backend, dtype, rng)


@pytest.mark.parametrize("case", sorted(SMALL))
def test_backend_matches_oracle_small(case, backend, dtype, rng):
    run_case(SMALL[case], backend, dtype, rng)


@pytest.mark.skipif(CUDA_SIM, reason="full-size cases are too slow for the CUDA simulator (SMALL covers it)")
@pytest.mark.parametrize("case", sorted(CASES))
def test_cuda_matches_oracle(case, dtype, rng):
    run_case(CASES[case], "cuda", dtype, rng)


def test_fast_backends_agree_with_reference_backend(fast_backend, dtype, rng):
    L, S = (7, 11) if CUDA_SIM else (130, 257)
    q, k, v = rand(rng, (2, 4, L, 16), dtype), rand(rng, (2, 2, S, 16), dtype), rand(rng, (2, 2, S, 16), dtype)
    kw = dict(enable_gqa=True, attn_mask=rng.random((2, 1, 1, S)) < 0.8, window=(9, 3), softcap=2.0, return_lse=True)
    out_r, lse_r = sdpa(q, k, v, backend="reference", **kw)
    out, lse = sdpa(q, k, v, backend=fast_backend, **kw)
    assert_close(out, out_r, dtype)
    assert_close(lse, lse_r, dtype)


# ----------------------------------------------------------------------------------------------
# edge cases
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("L,S", [(1, 1), (1, 9), (9, 1)])
def test_length_one(L, S, backend, dtype, rng):
    B = 1 if backend == "cuda" and CUDA_SIM else 2
    q, k, v = rand(rng, (B, 2, L, 8), dtype), rand(rng, (B, 2, S, 8), dtype), rand(rng, (B, 2, S, 4), dtype)
    check(backend, dtype, q, k, v, is_causal=True)
    if not (backend == "cuda" and CUDA_SIM):
        check(backend, dtype, q, k, v)


def test_fully_masked_rows_give_zeros_and_minus_inf(backend, dtype, rng):
    L, S = 5, 7
    q, k, v = rand(rng, (1, 2, L, 8), dtype), rand(rng, (1, 2, S, 8), dtype), rand(rng, (1, 2, S, 8), dtype)
    mask = rng.random((1, 2, L, S)) < 0.5
    mask[0, 0, 1] = False
    mask[0, 1, 4] = False
    out, lse = sdpa(q, k, v, attn_mask=mask, return_lse=True, backend=backend)
    assert np.all(out[0, 0, 1] == 0) and np.all(out[0, 1, 4] == 0)
    assert lse[0, 0, 1] == -np.inf and lse[0, 1, 4] == -np.inf
    assert np.all(np.isfinite(out))
    check(backend, dtype, q, k, v, attn_mask=mask)
    # all keys hidden by a float mask of -inf, and by a window that sees nothing (L > S, right=0
    # and left=0 hides every row past S)
    out, lse = sdpa(q, k, v, attn_mask=np.full((L, S), -np.inf, dtype), return_lse=True, backend=backend)
    assert np.all(out == 0) and np.all(lse == -np.inf)
    q2 = rand(rng, (1, 1, 9, 8), dtype)
    out, lse = sdpa(q2, k[:, :1, :4], v[:, :1, :4], window=(0, 0), return_lse=True, backend=backend)
    assert np.all(out[0, 0, 4:] == 0) and np.all(lse[0, 0, 4:] == -np.inf)
    check(backend, dtype, q2, k[:, :1, :4], v[:, :1, :4], window=(0, 0))


def test_huge_scores_do_not_overflow(backend, dtype, rng):
    # D = 1 and scale = 1: every score is one rounded product, the same in every backend
    L, S = (6, 9) if backend == "cuda" and CUDA_SIM else (40, 300)
    q = (rng.choice([-1.0, 1.0], (1, 2, L, 1)) * 100).astype(dtype)
    k = (rng.standard_normal((1, 2, S, 1)) * 100).astype(dtype)
    v = rand(rng, (1, 2, S, 3), dtype)
    out, lse = sdpa(q, k, v, scale=1.0, return_lse=True, backend=backend)
    assert np.all(np.isfinite(out)) and np.all(np.isfinite(lse))
    assert np.abs(lse).max() > 1e3
    check(backend, dtype, q, k, v, scale=1.0)


# ----------------------------------------------------------------------------------------------
# NaN and inf: as torch 2.13 (scaled_dot_product_attention on CPU), the same on every backend
# ----------------------------------------------------------------------------------------------
def same_values(actual, expected, dtype):
    """Same NaN positions, same infinities, finite values within ``dtype``'s tolerance."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape
    np.testing.assert_array_equal(np.isnan(actual), np.isnan(expected), err_msg="NaN positions differ")
    np.testing.assert_array_equal(np.isposinf(actual), np.isposinf(expected), err_msg="+inf positions differ")
    np.testing.assert_array_equal(np.isneginf(actual), np.isneginf(expected), err_msg="-inf positions differ")
    finite = np.isfinite(expected)
    assert_close(actual[finite], expected[finite], dtype)


def agree(backend, dtype, q, k, v, **kw):
    """``backend``'s (out, lse), checked against the reference backend NaN for NaN."""
    copies = [a.copy() for a in (q, k, v)]
    out, lse = sdpa(q, k, v, return_lse=True, backend=backend, **kw)
    ref_out, ref_lse = sdpa(q, k, v, return_lse=True, backend="reference", **kw)
    same_values(out, ref_out, dtype)
    same_values(lse, ref_lse, dtype)
    for a, c in zip((q, k, v), copies):
        np.testing.assert_array_equal(a, c)
    return out[0, 0], lse[0, 0]


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # NumPy scalars in the CUDA simulator
def test_nan_and_inf_propagate_as_in_torch(backend, dtype, rng):
    """Each expectation is torch 2.13's CPU answer, except for keys outside the causal / window
    bounds: we never read them, torch's flash kernel ignores their scores but lets a NaN value
    leak into rows of the same block (tiling-dependent), its math kernel reads everything."""
    L, S = 5, 6
    q0, k0, v0 = rand(rng, (1, 1, L, 4), dtype), rand(rng, (1, 1, S, 4), dtype), rand(rng, (1, 1, S, 3), dtype)
    clean_out, clean_lse = naive(q0, k0, v0)
    nan, inf = np.nan, np.inf

    q = q0.copy()
    q[0, 0, 1, 2] = nan  # NaN in one query row: that row (and its lse) is NaN, the others exact
    out, lse = agree(backend, dtype, q, k0, v0)
    assert np.isnan(out[1]).all() and np.isnan(lse[1])
    assert_close(np.delete(out, 1, 0), np.delete(clean_out[0, 0], 1, 0), dtype)

    k = k0.copy()
    k[0, 0, 3, 0] = nan  # NaN in one key row every query sees: every row is NaN
    out, lse = agree(backend, dtype, q0, k, v0)
    assert np.isnan(out).all() and np.isnan(lse).all()
    out, lse = agree(backend, dtype, q0, k, v0, is_causal=True)  # ... only the rows that see it
    assert np.isnan(out[3:]).all() and np.isnan(lse[3:]).all()
    c_out, c_lse = naive(q0, k0, v0, is_causal=True)
    assert_close(out[:3], c_out[0, 0, :3], dtype)
    assert_close(lse[:3], c_lse[0, 0, :3], dtype)
    out, _ = agree(backend, dtype, q0, k, v0, window=(0, 1))  # hidden by the window: no effect
    assert np.isnan(out[2:4]).all() and np.isfinite(out[[0, 1, 4]]).all()

    v = v0.copy()
    v[0, 0, 2, 1] = nan  # NaN in a value: that column of every row that attends to the key
    out, lse = agree(backend, dtype, q0, k0, v)
    assert np.isnan(out[:, 1]).all()
    assert_close(out[:, [0, 2]], clean_out[0, 0][:, [0, 2]], dtype)
    assert_close(lse, clean_lse[0, 0], dtype)
    mask = np.zeros((L, S), dtype)
    mask[:, 2] = -inf  # ... also where the mask hides the key (0 * NaN = NaN, as torch)
    out, lse = agree(backend, dtype, q0, k0, v, attn_mask=mask)
    m_out, m_lse = naive(q0, k0, v0, mask=mask)
    assert np.isnan(out[:, 1]).all()
    assert_close(out[:, [0, 2]], m_out[0, 0][:, [0, 2]], dtype)
    assert_close(lse, m_lse[0, 0], dtype)
    v = v0.copy()
    v[0, 0, 3, 0] = inf  # causal: rows that cannot see the key are untouched
    out, lse = agree(backend, dtype, q0, k0, v, is_causal=True)
    assert_close(out[:3], c_out[0, 0, :3], dtype)
    assert np.isposinf(out[3:, 0]).all() and np.isfinite(out[:, 1:]).all()

    q = q0.copy()
    q[0, 0, 0] = [inf, 0, 0, 0]
    k = k0.copy()
    k[0, 0, :, 0] = np.abs(k[0, 0, :, 0]) + 0.5
    k[0, 0, 1, 0] *= -1  # row 0 scores: +inf and -inf -> NaN row
    out, lse = agree(backend, dtype, q, k, v0)
    assert np.isnan(out[0]).all() and np.isnan(lse[0]) and np.isfinite(out[1:]).all()
    k[0, 0, :, 0] = -np.abs(k[0, 0, :, 0])  # all -inf: every key hidden -> zeros, lse -inf
    out, lse = agree(backend, dtype, q, k, v0)
    assert (out[0] == 0).all() and lse[0] == -inf and np.isfinite(out[1:]).all()
    k[0, 0, 4, 0] = 0.0  # inf * 0 = NaN
    out, lse = agree(backend, dtype, q, k, v0)
    assert np.isnan(out[0]).all() and np.isnan(lse[0])
    k[0, 0, :, 0] = np.abs(k[0, 0, :, 0]) + 0.5  # +inf scores, soft-capped to `softcap`: uniform
    out, lse = agree(backend, dtype, q, k, v0, softcap=2.0)
    assert_close(out[0], v0[0, 0].mean(axis=0), dtype)
    assert_close(lse[0], 2.0 + math.log(S), dtype)
    mask = np.zeros((L, S), dtype)
    mask[0, 3] = -inf  # +inf score + -inf mask = NaN
    out, lse = agree(backend, dtype, q, k, v0, attn_mask=mask)
    assert np.isnan(out[0]).all() and np.isnan(lse[0])

    mask = np.zeros((L, S), dtype)
    mask[2, 1], mask[3, 4] = nan, inf  # NaN / +inf in an additive mask: that row is NaN
    mask[1] = -inf  # a fully masked row: zeros and lse -inf ...
    out, lse = agree(backend, dtype, q0, k0, v0, attn_mask=mask)
    assert np.isnan(out[2:4]).all() and np.isnan(lse[2:4]).all()
    assert (out[1] == 0).all() and lse[1] == -inf
    v = v0.copy()
    v[0, 0, 4, 1] = nan  # ... but a NaN value still reaches it through 0 * NaN (as torch)
    out, lse = agree(backend, dtype, q0, k0, v, attn_mask=mask)
    assert np.isnan(out[1, 1]) and out[1, 0] == 0 and out[1, 2] == 0 and lse[1] == -inf


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_nan_and_inf_at_tile_edges(fast_backend, dtype, rng):
    """Tiles that cross the causal diagonal / window edge, and split-K decoding: a non-finite
    key or value outside a row's bounds never reaches it, whatever the tiling."""
    sim = fast_backend == "cuda" and CUDA_SIM
    n, D, Dv = (34, 8, 5) if sim else (70, 40, 24)  # cuda: 16 / 32-key tiles; cpu: one, and
    # enough work for the parallel kernel (not the serial path of tiny calls)
    q, k, v = rand(rng, (1, 2, n, D), dtype), rand(rng, (1, 2, n, D), dtype), rand(rng, (1, 2, n, Dv), dtype)
    k[0, 0, n - 3, 2] = np.nan
    v[0, 0, n - 4, 1] = np.nan
    v[0, 1, n - 7, 4] = -np.inf
    v[0, 1, n // 2, 0] = np.inf
    out, _ = agree(fast_backend, dtype, q, k, v, is_causal=True)
    assert np.isfinite(out[: n - 4]).all() and np.isnan(out[n - 4:, 1]).all()
    for kw in ({"window": (3, 2)}, {"window": (None, 1), "is_causal": True}):
        agree(fast_backend, dtype, q, k, v, **kw)
    mask = rng.random((n, n)) < 0.8
    mask[5] = False
    agree(fast_backend, dtype, q, k, v, attn_mask=mask)
    if fast_backend == "cpu":  # split-K: one query row, the keys in chunks
        S = 8200
        q, k, v = rand(rng, (1, 1, 2, 32), dtype), rand(rng, (1, 1, S, 32), dtype), rand(rng, (1, 1, S, 32), dtype)
        v[0, 0, 3000, 2] = np.nan
        out, lse = agree("cpu", dtype, q, k, v)
        assert np.isnan(out[:, 2]).all() and np.isfinite(lse).all()
        agree("cpu", dtype, q, k, v, window=(None, 2500))  # row 0 cannot see key 3000
        mask = np.zeros((2, S), dtype)
        mask[1] = -np.inf
        agree("cpu", dtype, q, k, v, attn_mask=mask)
        k[0, 0, 1000, 0] = np.nan
        out, lse = agree("cpu", dtype, q, k, v)
        assert np.isnan(out).all() and np.isnan(lse).all()


def _scored(dtype, H, L, S, D, Dv, score):
    """Inputs whose score (query i, key j) is ``score[j]`` for every row (scale 1)."""
    q, k = np.zeros((1, H, L, D), dtype), np.zeros((1, H, S, D), dtype)
    q[..., 0] = 1
    k[..., 0] = score
    v = np.random.default_rng(5).standard_normal((1, H, S, Dv)).astype(dtype)
    return q, k, v


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # NumPy scalars in the CUDA simulator
@pytest.mark.parametrize("layout", ["one tile", "max grows later", "split-K"])
def test_inf_value_reaches_rows_through_subnormal_weights(backend, dtype, layout):
    """A key whose weight exp(score - max) is subnormal still attends: inf * 1e-40 = inf, not
    0 * inf = NaN (torch's answer).  Scores 90 (float32) / 720 (float64) below the maximum give
    subnormal weights; the max-rescaling factor of the online softmax and the split-K merge
    weight are subnormal in the last two layouts."""
    if layout == "split-K" and backend != "cpu":
        pytest.skip("split-K is the cpu kernel's decode path")
    sim = backend == "cuda" and CUDA_SIM
    low = -90.0 if dtype == np.float32 else -720.0
    if layout == "split-K":
        H, L, S = 1, 1, 8200  # one query row: the keys in chunks, the low ones in the first
    else:
        H, L, S = (1, 3, 40) if sim else (2, 70, 600)  # cpu: the parallel, packed kernel
    score = np.zeros(S)
    if layout == "one tile":
        score[[3, 7]] = low, low - 5
    else:  # the low keys come first: the row maximum grows in a later tile / chunk
        score[: S // 2] = low
    q, k, v = _scored(dtype, H, L, S, 8, 4, score)
    v[0, :, 3, 1], v[0, :, 7, 2] = np.inf, -np.inf
    out, _ = agree(backend, dtype, q, k, v, scale=1.0)
    assert np.isposinf(out[:, 1]).all() and np.isneginf(out[:, 2]).all()
    assert np.isfinite(out[:, [0, 3]]).all()
    out, _ = agree(backend, dtype, q, k, v, scale=1.0, is_causal=L > 1)
    if L > 1:  # rows 0..2 cannot see keys 3 / 7, the rest can
        assert np.isfinite(out[:3]).all() and np.isposinf(out[7:, 1]).all() and np.isneginf(out[7:, 2]).all()


@settings(max_examples=30, deadline=None)
@given(
    L=st.integers(1, 9), S=st.integers(1, 12), seed=st.integers(0, 2**32 - 1),
    n_bad=st.integers(1, 4), option=st.sampled_from(["none", "causal", "window", "mask", "softcap"]),
)
def test_non_finite_inputs_cpu_agrees_with_reference(L, S, seed, n_bad, option):
    rng = np.random.default_rng(seed)
    dtype = np.float32 if seed % 2 else np.float64
    arrays = [rand(rng, (1, 2, L, 3), dtype), rand(rng, (1, 2, S, 3), dtype), rand(rng, (1, 2, S, 2), dtype)]
    for _ in range(n_bad):
        a = arrays[rng.integers(3)]
        a[tuple(int(rng.integers(d)) for d in a.shape)] = rng.choice([np.nan, np.inf, -np.inf])
    kw = {
        "none": {}, "causal": {"is_causal": True}, "window": {"window": (1, 2)}, "softcap": {"softcap": 1.5},
        "mask": {"attn_mask": np.where(rng.random((L, S)) < 0.4, -np.inf, 0.0).astype(dtype)},
    }[option]
    agree("cpu", dtype, *arrays, **kw)


def test_empty_shapes(backend):
    q, k, v = np.zeros((2, 0, 4)), np.zeros((2, 5, 4)), np.zeros((2, 5, 3))
    out, lse = sdpa(q, k, v, return_lse=True, backend=backend)
    assert out.shape == (2, 0, 3) and lse.shape == (2, 0)
    q = np.ones((2, 3, 4))
    out, lse = sdpa(q, k[:, :0], v[:, :0], return_lse=True, backend=backend)  # no keys at all
    assert np.all(out == 0) and out.shape == (2, 3, 3) and np.all(lse == -np.inf)


def test_broadcasting_of_leading_dimensions(rng):
    q = rand(rng, (5, 8), np.float64)  # no batch: broadcast over key's batch / heads
    k, v = rand(rng, (2, 3, 7, 8), np.float64), rand(rng, (2, 3, 7, 4), np.float64)
    out = sdpa(q, k, v, backend="cpu")
    assert out.shape == (2, 3, 5, 4)
    assert_close(out, naive(q, k, v)[0])
    # multi-query attention: one key / value head for all query heads (read in place)
    q = rand(rng, (2, 4, 5, 8), np.float64)
    out = sdpa(q, k[:, :1], v[:, :1], backend="cpu")
    assert_close(out, naive(q, k[:, :1], v[:, :1])[0])
    # extra leading dimensions with gqa
    q, k, v = rand(rng, (2, 1, 4, 3, 8), np.float64), rand(rng, (3, 2, 5, 8), np.float64), rand(rng, (3, 2, 5, 2), np.float64)
    out = sdpa(q, k, v, enable_gqa=True, backend="cpu")
    assert out.shape == (2, 3, 4, 3, 2)
    exp = naive(np.broadcast_to(q, (2, 3, 4, 3, 8)), k, v, enable_gqa=True)[0]
    assert_close(out, exp)


def test_float64_mask_with_float32_inputs_and_lists(rng):
    q, k, v = rand(rng, (1, 4, 6, 8), np.float32), rand(rng, (1, 4, 7, 8), np.float32), rand(rng, (1, 4, 7, 8), np.float32)
    mask = rng.standard_normal((6, 7))
    out = sdpa(q, k, v, attn_mask=mask, backend="cpu")
    assert out.dtype == np.float32
    assert_close(out, naive(q, k, v, mask=mask)[0], np.float32)
    out = sdpa(q[0, 0].tolist(), k[0, 0].tolist(), v[0, 0].tolist(), backend="cpu")  # nested lists
    assert out.dtype == np.float64


def test_non_contiguous_inputs_are_not_modified(rng):
    base = rand(rng, (2, 9, 3, 16), np.float32)
    q = base.transpose(0, 2, 1, 3)  # [2, 3, 9, 16] view
    k, v = base[:, ::-1].transpose(0, 2, 1, 3), base.transpose(0, 2, 1, 3)[..., ::2]
    copy = base.copy()
    out = sdpa(q, k, v, is_causal=True, backend="cpu")
    np.testing.assert_array_equal(base, copy)
    assert_close(out, naive(q, k, v, is_causal=True)[0], np.float32)


def test_results_do_not_depend_on_thread_count(rng):
    import numba

    q, k, v = rand(rng, (2, 3, 300, 32), np.float32), rand(rng, (2, 3, 400, 32), np.float32), rand(rng, (2, 3, 400, 32), np.float32)
    saved = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = sdpa(q, k, v, is_causal=True, backend="cpu")
        one_d = sdpa(q[:1, :1, :1], k[:1, :1], v[:1, :1], backend="cpu")
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
        many = sdpa(q, k, v, is_causal=True, backend="cpu")
        many_d = sdpa(q[:1, :1, :1], k[:1, :1], v[:1, :1], backend="cpu")
    finally:
        numba.set_num_threads(saved)
    np.testing.assert_array_equal(one, many)
    np.testing.assert_array_equal(one_d, many_d)


def test_device_arrays_end_to_end(rng):
    """Numba device arrays (real, or the simulator's) pick the cuda backend and come back as
    device arrays: masks, lse, broadcasting through the host, empty inputs, and MHA."""
    from numba import cuda

    from bagu_fast import _dispatch

    q, k, v = rand(rng, (1, 2, 4, 8), np.float32), rand(rng, (1, 2, 5, 8), np.float32), rand(rng, (1, 2, 5, 8), np.float32)
    dq, dk, dv = cuda.to_device(q), cuda.to_device(k), cuda.to_device(v)
    mask = rng.random((4, 5)) < 0.7
    mask[:, 0] = True
    out, lse = sdpa(dq, dk, dv, attn_mask=cuda.to_device(mask), return_lse=True)  # backend "auto"
    assert _dispatch.is_device_array(out) and _dispatch.is_device_array(lse)
    exp_out, exp_lse = naive(q, k, v, mask=mask)
    assert_close(out.copy_to_host(), exp_out, np.float32)
    assert_close(lse.copy_to_host(), exp_lse, np.float32)
    out = sdpa(cuda.to_device(q[:, :1]), dk, dv, is_causal=True)  # query heads broadcast (a copy)
    assert _dispatch.is_device_array(out)
    assert_close(out.copy_to_host(), naive(q[:, :1], k, v, is_causal=True)[0], np.float32)
    out, lse = sdpa(cuda.to_device(q[:, :, :0]), dk, dv, return_lse=True)
    assert _dispatch.is_device_array(out) and out.shape == (1, 2, 0, 8) and lse.shape == (1, 2, 0)
    with pytest.raises(ValueError, match="backend"):
        sdpa(dq, dk, dv, backend="cpu")
    B, L, E, H = 1, 3, 4, 2
    xq = rand(rng, (B, L, E), np.float32)
    ws = [rand(rng, (E, E), np.float32, 0.3) for _ in range(4)]
    out = bf.multi_head_attention(cuda.to_device(xq), cuda.to_device(xq), *map(cuda.to_device, ws), H, is_causal=True)
    assert _dispatch.is_device_array(out)
    assert_close(out.copy_to_host(), mha_oracle(xq, xq, *ws, H, is_causal=True), np.float32)
    with pytest.raises(ValueError, match="all on the GPU"):
        bf.multi_head_attention(cuda.to_device(xq), xq, *ws, H)


# ----------------------------------------------------------------------------------------------
# properties
# ----------------------------------------------------------------------------------------------
@settings(max_examples=25, deadline=None)
@given(
    L=st.integers(1, 9), S=st.integers(1, 12), D=st.integers(1, 8),
    shift=st.floats(-30, 30), seed=st.integers(0, 2**32 - 1), backend=st.sampled_from(["reference", "cpu"]),
)
def test_adding_a_constant_to_a_mask_row_changes_only_lse(L, S, D, shift, seed, backend):
    rng = np.random.default_rng(seed)
    q, k, v = rand(rng, (L, D), np.float64), rand(rng, (S, D), np.float64), rand(rng, (S, 3), np.float64)
    mask = rng.standard_normal((L, S))
    out, lse = sdpa(q, k, v, attn_mask=mask, return_lse=True, backend=backend)
    out2, lse2 = sdpa(q, k, v, attn_mask=mask + shift, return_lse=True, backend=backend)
    np.testing.assert_allclose(out2, out, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(lse2, lse + shift, rtol=1e-9, atol=1e-9)


@settings(max_examples=25, deadline=None)
@given(L=st.integers(1, 8), S=st.integers(1, 10), seed=st.integers(0, 2**32 - 1))
def test_output_is_a_convex_combination_of_values(L, S, seed):
    rng = np.random.default_rng(seed)
    q, k, v = rand(rng, (2, L, 4), np.float32, 3), rand(rng, (2, S, 4), np.float32, 3), rand(rng, (2, S, 5), np.float32)
    out = sdpa(q, k, v, backend="cpu")
    lo, hi = v.min(axis=1, keepdims=True), v.max(axis=1, keepdims=True)
    assert np.all(out >= lo - 1e-5) and np.all(out <= hi + 1e-5)


# ----------------------------------------------------------------------------------------------
# multi-head attention and positional encoding
# ----------------------------------------------------------------------------------------------
def mha_oracle(xq, xkv, wq, wk, wv, wo, H, biases=None, mask=None, is_causal=False):
    bq, bk, bv, bo = biases if biases is not None else (0, 0, 0, 0)
    B, L, E = xq.shape
    S = xkv.shape[1]
    q = (xq @ wq.T + bq).reshape(B, L, H, E // H).transpose(0, 2, 1, 3)
    k = (xkv @ wk.T + bk).reshape(B, S, H, E // H).transpose(0, 2, 1, 3)
    v = (xkv @ wv.T + bv).reshape(B, S, H, E // H).transpose(0, 2, 1, 3)
    o = naive(q, k, v, mask=mask, is_causal=is_causal)[0]
    return o.transpose(0, 2, 1, 3).reshape(B, L, E) @ wo.T + bo


def test_multi_head_attention(backend, dtype, rng):
    B, L, S, E, H = (1, 5, 6, 8, 2) if backend == "cuda" and CUDA_SIM else (2, 7, 9, 12, 3)
    xq, xkv = rand(rng, (B, L, E), dtype), rand(rng, (B, S, E), dtype)
    ws = [rand(rng, (E, E), dtype, 0.3) for _ in range(4)]
    biases = tuple(rand(rng, (E,), dtype) for _ in range(4))
    out = bf.multi_head_attention(xq, xkv, *ws, H, biases=biases, backend=backend)
    assert out.dtype == dtype and out.shape == (B, L, E)
    assert_close(out, mha_oracle(xq, xkv, *ws, H, biases=biases), dtype)
    kpm = np.ones((B, 1, 1, S), bool)
    kpm[0, ..., -2:] = False
    out = bf.multi_head_attention(xq, xkv, *ws, H, mask=kpm, backend=backend)
    assert_close(out, mha_oracle(xq, xkv, *ws, H, mask=kpm), dtype)
    out = bf.multi_head_attention(xq, xq, *ws, H, is_causal=True, backend=backend)
    assert_close(out, mha_oracle(xq, xq, *ws, H, is_causal=True), dtype)


def test_positional_encoding_matches_formula():
    pe = bf.sinusoidal_positional_encoding(50, 7)
    assert pe.shape == (50, 7) and pe.dtype == np.float64
    for pos, i in [(0, 0), (1, 0), (3, 1), (17, 2), (49, 3), (49, 6), (10, 5)]:
        angle = pos / 10000 ** ((i - i % 2) / 7)
        assert pe[pos, i] == pytest.approx(math.sin(angle) if i % 2 == 0 else math.cos(angle), rel=1e-12, abs=1e-15)
    pe32 = bf.sinusoidal_positional_encoding(4, 6, dtype=np.float32)
    assert pe32.dtype == np.float32
    assert_close(pe32, bf.sinusoidal_positional_encoding(4, 6), np.float32)
    assert bf.sinusoidal_positional_encoding(0, 4).shape == (0, 4)
    assert bf.sinusoidal_positional_encoding(3, 1)[:, 0].tolist() == pytest.approx([0, math.sin(1), math.sin(2)])


# ----------------------------------------------------------------------------------------------
# bad input
# ----------------------------------------------------------------------------------------------
Q = np.zeros((2, 4, 5, 8), np.float32)
K = np.zeros((2, 4, 6, 8), np.float32)
V = np.zeros((2, 4, 6, 3), np.float32)


@pytest.mark.parametrize(
    "args,kwargs,exc,match",
    [
        ((Q, K[..., :7], V), {}, ValueError, "key"),
        ((Q, K, V[..., :5, :]), {}, ValueError, "value"),
        ((Q, K, V), {"attn_mask": np.ones((5, 5), bool)}, ValueError, "attn_mask"),
        ((Q, K, V), {"attn_mask": np.ones((3, 4, 5, 6), bool)}, ValueError, "attn_mask"),
        ((Q, K, V), {"attn_mask": np.ones((5, 6), np.int32)}, TypeError, "attn_mask"),
        ((Q, K, V), {"attn_mask": np.ones((5, 6), bool), "is_causal": True}, ValueError, "attn_mask"),
        ((Q, K[:, :3], V[:, :3]), {"enable_gqa": True}, ValueError, "heads"),
        ((Q, K[:, :2], V[:, :1]), {"enable_gqa": True}, ValueError, "heads"),
        ((Q, K[:, :2], V[:, :2]), {}, ValueError, "enable_gqa"),
        ((Q, K, V), {"window": (-1, 3)}, ValueError, "window"),
        ((Q, K, V), {"window": (2, -5)}, ValueError, "window"),
        ((Q, K, V), {"window": (1.5, 2)}, TypeError, "window"),
        ((Q, K, V), {"window": (1, 2, 3)}, ValueError, "window"),
        ((Q, K, V), {"window": 3}, TypeError, "window"),
        ((Q, K, V.astype(np.float64)), {}, TypeError, "value"),
        ((Q.astype(np.int64), K, V), {}, TypeError, "query"),
        ((Q, K.astype(np.float16), V), {}, TypeError, "key"),
        ((Q, K, V), {"scale": float("nan")}, ValueError, "scale"),
        ((Q, K, V), {"scale": float("inf")}, ValueError, "scale"),
        ((Q, K, V), {"scale": 0.0}, ValueError, "scale"),
        ((Q, K, V), {"scale": -1.0}, ValueError, "scale"),
        ((Q, K, V), {"scale": "1"}, TypeError, "scale"),
        ((Q, K, V), {"softcap": 0.0}, ValueError, "softcap"),
        ((Q, K, V), {"softcap": -2.0}, ValueError, "softcap"),
        ((Q, K, V), {"scale": 2**2000}, ValueError, "scale"),  # beyond float64: no bare OverflowError
        ((Q, K, V), {"softcap": 10**400}, ValueError, "softcap"),
        ((Q, K, V), {"scale": 1e39}, ValueError, "scale"),  # not finite in float32
        ((Q, K, V), {"softcap": 1e39}, ValueError, "softcap"),
        ((Q, K, V), {"window": (-(2**70), 1)}, ValueError, "window"),
        ((Q[0, 0, 0], K[0, 0], V[0, 0]), {}, ValueError, "query"),
        ((Q[0], K[0], V[0, 0]), {"enable_gqa": True}, ValueError, "value"),
        ((Q[..., :0], K, V), {}, ValueError, "key"),
        ((Q, K, V), {"dropout_p": 0.1}, ValueError, "dropout_p"),
        ((Q, K, V), {"dropout_p": 1.5}, ValueError, "dropout_p"),
        ((Q, K, V), {"dropout_p": -0.1}, ValueError, "dropout_p"),
        ((Q, K, V), {"dropout_p": float("nan")}, ValueError, "dropout_p"),
        ((Q, K, V), {"dropout_p": "0"}, TypeError, "dropout_p"),
        ((Q, K, V), {"is_causal": 1}, TypeError, "is_causal"),
        ((Q, K, V), {"backend": "gpu"}, ValueError, "backend"),
        ((Q, K, V), {"return_lse": "yes"}, TypeError, "return_lse"),
    ],
)
def test_sdpa_bad_input(args, kwargs, exc, match):
    copies = [a.copy() for a in args]
    with pytest.raises(exc, match=match):
        sdpa(*args, **kwargs)
    for a, c in zip(args, copies):
        np.testing.assert_array_equal(a, c)


# torch.nn.functional.scaled_dot_product_attention's parameters, in order (scale and enable_gqa
# keyword-only); ours follow, keyword-only
TORCH_SDPA = [("query", "POSITIONAL_OR_KEYWORD", inspect.Parameter.empty),
              ("key", "POSITIONAL_OR_KEYWORD", inspect.Parameter.empty),
              ("value", "POSITIONAL_OR_KEYWORD", inspect.Parameter.empty),
              ("attn_mask", "POSITIONAL_OR_KEYWORD", None), ("dropout_p", "POSITIONAL_OR_KEYWORD", 0.0),
              ("is_causal", "POSITIONAL_OR_KEYWORD", False), ("scale", "KEYWORD_ONLY", None),
              ("enable_gqa", "KEYWORD_ONLY", False)]


def test_sdpa_signature_is_torchs():
    params = list(inspect.signature(sdpa).parameters.values())
    assert [(p.name, p.kind.name, p.default) for p in params[:len(TORCH_SDPA)]] == TORCH_SDPA
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in params[len(TORCH_SDPA):])


def test_sdpa_positional_calls_as_in_torch_code(rng):
    q, k = rand(rng, (2, 3, 5, 4), np.float64), rand(rng, (2, 3, 6, 4), np.float64)
    v = rand(rng, (2, 3, 6, 2), np.float64)
    mask = rng.random((5, 6)) < 0.7
    np.testing.assert_array_equal(sdpa(q, k, v, None, 0.0, True), sdpa(q, k, v, is_causal=True))
    np.testing.assert_array_equal(sdpa(q, k, v, mask, 0.0), sdpa(q, k, v, attn_mask=mask))
    np.testing.assert_array_equal(sdpa(q, k, v, mask, 0), sdpa(q, k, v, attn_mask=mask))
    assert_close(sdpa(q, k, v, None, 0.0, True), naive(q, k, v, is_causal=True)[0])
    with pytest.raises(TypeError):
        sdpa(q, k, v, None, 0.0, False, 0.5)  # scale is keyword-only, as in torch


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # NumPy scalars in the CUDA simulator
@pytest.mark.parametrize("option", ["none", "causal", "mask", "window"])
def test_empty_head_dimension_gives_the_mean_of_visible_values(backend, dtype, rng, option):
    """D = 0: every score is 0 (torch's answer), so each row is the mean of the values of the
    keys it may see, and lse = log(number of those keys)."""
    L, S, Dv = 5, 7, 3
    q, k, v = np.zeros((2, 2, L, 0), dtype), np.zeros((2, 2, S, 0), dtype), rand(rng, (2, 2, S, Dv), dtype)
    kw = {"none": {}, "causal": {"is_causal": True}, "window": {"window": (1, 2)},
          "mask": {"attn_mask": rng.random((L, S)) < 0.6}}[option]
    vis = ref_kernel.visible(L, S, option == "causal", *((1, 2) if option == "window" else (-1, -1)))
    if option == "mask":
        vis = vis & kw["attn_mask"]
    count = vis.sum(axis=1)
    expected = np.where(count[:, None] > 0, (vis.astype(np.float64) @ v) / np.maximum(count, 1)[:, None], 0.0)
    for scale in (None, 3.0):
        out, lse = sdpa(q, k, v, return_lse=True, backend=backend, scale=scale, **kw)
        assert out.shape == (2, 2, L, Dv) and out.dtype == dtype
        assert_close(out, expected, dtype)
        assert_close(lse, np.broadcast_to(np.log(np.where(count > 0, count, 0.0)), (2, 2, L)), dtype)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("shape", [(1, 2, 3, 5), (2, 4, 70, 300)], ids=["small", "parallel"])
def test_empty_value_dimension(backend, dtype, rng, shape):
    """Dv = 0: an empty output [..., L, 0] (torch's), and the same lse as with values."""
    if backend == "cuda" and CUDA_SIM and shape[2] > 3:
        pytest.skip("large for the simulator")
    B, H, L, S = shape
    q, k = rand(rng, (B, H, L, 8), dtype), rand(rng, (B, H, S, 8), dtype)
    out, lse = sdpa(q, k, np.zeros((B, H, S, 0), dtype), return_lse=True, backend=backend, is_causal=True)
    assert out.shape == (B, H, L, 0) and out.dtype == dtype
    assert_close(lse, naive(q, k, rand(rng, (B, H, S, 2), dtype), is_causal=True)[1], dtype)


def test_huge_integers_in_window_scale_and_softcap(rng):
    q, k, v = rand(rng, (2, 5, 4), np.float64), rand(rng, (2, 7, 4), np.float64), rand(rng, (2, 7, 3), np.float64)
    # a window side wider than the sequences is unbounded, however large the integer
    for huge in (2**70, 2**63, np.uint64(2**64 - 1), 10**30):
        out = sdpa(q, k, v, window=(huge, 1), backend="cpu")
        np.testing.assert_array_equal(out, sdpa(q, k, v, window=(None, 1), backend="cpu"))
        out = sdpa(q, k, v, window=(2, huge), backend="reference")
        np.testing.assert_array_equal(out, sdpa(q, k, v, window=(2, None), backend="reference"))
    # large but finite scale / softcap are valid numbers (in float64)
    out = sdpa(q, k, v, scale=2**100, softcap=2**200, backend="cpu")
    assert_close(out, naive(q, k, v, scale=2.0**100, softcap=2.0**200)[0], rtol=1e-6, atol=1e-9)


# ----------------------------------------------------------------------------------------------
# every public function: None and wrong types in every argument, named in the error
# ----------------------------------------------------------------------------------------------
WRONG_VALUES = {"None": None, "str": "abc", "bytes": b"ab", "dict": {"a": 1}, "set": {1.0},
                "mixed list": [1.0, "a", None]}


def wrong_argument_cases(table: dict) -> list:
    """``(function name, argument, kind)`` for every argument of every function of ``table``.

    ``table`` maps a name to ``(function, make, optional)``: ``make()`` returns valid keyword
    arguments (every argument given), ``optional`` the arguments for which None is valid.
    Array arguments also get copies of other dtypes (int64 and float16 for float arrays, float64
    and bool for integer ones) and a ragged list."""
    cases = []
    for fname, (_, make, optional) in table.items():
        for arg, good in make().items():
            kinds = [k for k in WRONG_VALUES if not (k == "None" and arg in optional)]
            if isinstance(good, np.ndarray):
                kinds += ["float64", "bool"] if good.dtype.kind in "iu" else ["int64", "float16"]
                kinds += ["ragged list"]
            cases += [pytest.param(fname, arg, kind, id=f"{fname}-{arg}-{kind}") for kind in kinds]
    return cases


def wrong_value(good, kind):
    if kind in ("int64", "float16", "float64", "bool"):
        return good.astype(kind)
    if kind == "ragged list":
        return [good, "x"]
    return WRONG_VALUES[kind]


def check_wrong_argument(table: dict, fname: str, arg: str, kind: str) -> None:
    """The call with ``arg`` replaced raises TypeError / ValueError naming ``arg`` (and nothing
    else escapes: no KeyError, no Numba typing error); no input is modified."""
    fn, make, _ = table[fname]
    kwargs = make()
    fn(**kwargs)  # the valid call runs
    kwargs[arg] = wrong_value(kwargs[arg], kind)
    copies = {n: a.copy() for n, a in kwargs.items() if isinstance(a, np.ndarray)}
    with pytest.raises((TypeError, ValueError)) as info:
        fn(**kwargs)
    message = f"{fname}({arg}={kind}): {type(info.value).__name__}: {info.value}"
    assert arg in str(info.value), message
    if kind == "None":
        assert "None" in str(info.value), message  # says what it got, not "object"
    for n, c in copies.items():
        np.testing.assert_array_equal(kwargs[n], c)


def _sdpa_args():
    r = np.random.default_rng(1)
    return dict(query=r.standard_normal((1, 2, 3, 4)), key=r.standard_normal((1, 2, 5, 4)),
                value=r.standard_normal((1, 2, 5, 3)), attn_mask=np.ones((3, 5), bool), dropout_p=0.0,
                is_causal=False, scale=0.5, enable_gqa=False, window=(2, 2), softcap=5.0, return_lse=True,
                backend="cpu")


def _mha_args():
    r = np.random.default_rng(2)
    w = [r.standard_normal((4, 4)) for _ in range(4)]
    return dict(x_q=r.standard_normal((2, 3, 4)), x_kv=r.standard_normal((2, 5, 4)), w_q=w[0], w_k=w[1], w_v=w[2],
                w_o=w[3], num_heads=2, biases=tuple(np.zeros(4) for _ in range(4)), mask=np.ones((3, 5), bool),
                is_causal=False, backend="cpu")


def _sdpa_backward_args():
    forward = _sdpa_args()
    out, lse = bf.scaled_dot_product_attention(**forward)
    args = {k: v for k, v in forward.items() if k not in ("dropout_p", "return_lse")}
    return dict(grad_out=np.ones_like(out), out=out, lse=lse, **args)


ATTENTION_API = {
    "scaled_dot_product_attention": (sdpa, _sdpa_args, {"attn_mask", "scale", "window", "softcap"}),
    "scaled_dot_product_attention_backward": (bf.scaled_dot_product_attention_backward, _sdpa_backward_args,
                                              {"attn_mask", "scale", "window", "softcap"}),
    "multi_head_attention": (bf.multi_head_attention, _mha_args, {"biases", "mask"}),
    "sinusoidal_positional_encoding": (bf.sinusoidal_positional_encoding,
                                       lambda: dict(max_len=3, d_model=4, dtype=np.float32), set()),
}


def test_attention_api_table_is_complete():
    import bagu_fast.attention as attention

    assert set(ATTENTION_API) == set(attention.__all__)
    for name, (fn, make, _) in ATTENTION_API.items():
        assert set(make()) == set(inspect.signature(fn).parameters), name


@pytest.mark.parametrize("fname, arg, kind", wrong_argument_cases(ATTENTION_API))
def test_attention_wrong_argument_types(fname, arg, kind):
    check_wrong_argument(ATTENTION_API, fname, arg, kind)


@pytest.mark.parametrize("i", range(4))
@pytest.mark.parametrize("kind", ["None", "str", "mixed list", "int64"])
def test_mha_wrong_bias_types(i, kind):
    kwargs = _mha_args()
    biases = list(kwargs["biases"])
    biases[i] = wrong_value(biases[i], kind)
    kwargs["biases"] = tuple(biases)
    with pytest.raises(TypeError, match=re.escape(f"biases[{i}]")):
        bf.multi_head_attention(**kwargs)


def test_mha_bad_input(rng):
    xq, xkv, w = np.zeros((2, 3, 6)), np.zeros((2, 4, 6)), np.zeros((6, 6))
    with pytest.raises(ValueError, match="num_heads"):
        bf.multi_head_attention(xq, xkv, w, w, w, w, 4)
    with pytest.raises(ValueError, match="num_heads"):
        bf.multi_head_attention(xq, xkv, w, w, w, w, 0)
    with pytest.raises(TypeError, match="num_heads"):
        bf.multi_head_attention(xq, xkv, w, w, w, w, 2.0)
    with pytest.raises(ValueError, match="w_k"):
        bf.multi_head_attention(xq, xkv, w, w[:5], w, w, 2)
    with pytest.raises(ValueError, match="x_kv"):
        bf.multi_head_attention(xq, xkv[:1], w, w, w, w, 2)
    with pytest.raises(ValueError, match="x_q"):
        bf.multi_head_attention(xq[0], xkv, w, w, w, w, 2)
    with pytest.raises(TypeError, match="w_o"):
        bf.multi_head_attention(xq, xkv, w, w, w, w.astype(np.float32), 2)
    with pytest.raises(TypeError, match="biases"):
        bf.multi_head_attention(xq, xkv, w, w, w, w, 2, biases=(np.zeros(6),) * 3)
    with pytest.raises(ValueError, match=r"biases\[2\]"):
        bf.multi_head_attention(xq, xkv, w, w, w, w, 2, biases=(np.zeros(6), np.zeros(6), np.zeros(5), np.zeros(6)))


def test_positional_encoding_bad_input():
    with pytest.raises(ValueError, match="max_len"):
        bf.sinusoidal_positional_encoding(-1, 4)
    with pytest.raises(ValueError, match="d_model"):
        bf.sinusoidal_positional_encoding(4, 0)
    with pytest.raises(TypeError, match="dtype"):
        bf.sinusoidal_positional_encoding(4, 4, dtype=np.int32)
    with pytest.raises(TypeError, match="max_len"):
        bf.sinusoidal_positional_encoding(4.0, 4)


# ----------------------------------------------------------------------------------------------
# cpu kernel internals: the float32 exp and the row maximum
# ----------------------------------------------------------------------------------------------
def test_cpu_float32_exp_is_accurate_and_keeps_inf_nan_semantics():
    from numba import njit

    from bagu_fast.kernels.cpu import attention as cpu

    @njit
    def exp_shift(row, shift):
        return cpu._exp_shift_sum(row, row.size, shift)

    x = np.concatenate([-np.geomspace(1e-8, 110.0, 2000), [0.0, -np.inf, -86.9, -87.1]]).astype(np.float32)
    row = x.copy()
    total = exp_shift(row, np.float32(0.0))
    expected = np.exp(x.astype(np.float64))
    tiny = float(np.finfo(np.float32).smallest_subnormal)
    np.testing.assert_allclose(row, expected, rtol=5e-7, atol=2 * tiny)  # subnormal results too
    assert row[-3] == 0.0 and total == pytest.approx(expected.sum(), rel=1e-6)
    nan_row = np.array([0.0, np.nan, -1.0], np.float32)
    exp_shift(nan_row, np.float32(0.0))
    assert np.isnan(nan_row[1])


def test_cpu_float32_exp_keeps_every_subnormal_result():
    """e^x is 0 exactly where float32 rounds it to 0 (below about -103.97) and subnormal above."""
    from numba import njit

    from bagu_fast.kernels.cpu import attention as cpu

    @njit
    def exp_shift(row, shift):
        return cpu._exp_shift_sum(row, row.size, shift)

    x = np.concatenate([-np.linspace(86.0, 110.0, 40001), [-103.9, -103.97, -103.98, -104.0]]).astype(np.float32)
    row = x.copy()
    exp_shift(row, np.float32(0.0))
    expected = np.exp(x.astype(np.float64)).astype(np.float32)  # correctly rounded
    np.testing.assert_array_equal(row == 0, expected == 0)
    tiny = float(np.finfo(np.float32).smallest_subnormal)
    np.testing.assert_allclose(row, expected, rtol=5e-7, atol=3 * tiny)


@pytest.mark.skipif(__import__("platform").machine() not in ("x86_64", "AMD64"), reason="x86 assembly check")
def test_cpu_exp_and_max_loops_vectorise():
    import re

    from numba import njit

    from bagu_fast.kernels.cpu import attention as cpu

    @njit
    def exp_shift(row, shift):
        return cpu._exp_shift_sum(row, row.size, shift)

    @njit
    def row_max(row):
        return cpu._row_max(row, row.size, row[0])

    row = np.zeros(64, np.float32)
    exp_shift(row, np.float32(0.0))
    row_max(row)
    asm_exp = exp_shift.inspect_asm(exp_shift.signatures[0])
    asm_max = row_max.inspect_asm(row_max.signatures[0])
    assert re.search(r"\bv?(fmadd\w*|mul)ps\b", asm_exp), "float32 exp loop is not vectorised"
    assert re.search(r"\bv?maxps\b", asm_max), "row max loop is not vectorised"


@pytest.mark.parametrize("serial_work", [0, 1 << 40], ids=["always-parallel", "always-serial"])
def test_cpu_serial_and_parallel_paths_agree(rng, monkeypatch, serial_work):
    """Tiny calls run a thread-free twin of the kernel: both paths give the reference's answer."""
    import bagu_fast.kernels.cpu.attention as cpu_attention

    monkeypatch.setattr(cpu_attention, "SERIAL_WORK", serial_work)
    q = rng.standard_normal((2, 4, 37, 16)).astype(np.float32)
    k = rng.standard_normal((2, 2, 45, 16)).astype(np.float32)
    v = rng.standard_normal((2, 2, 45, 8)).astype(np.float32)
    for causal in (False, True):
        out, lse = bf.scaled_dot_product_attention(q, k, v, is_causal=causal, enable_gqa=True, return_lse=True)
        ref, ref_lse = bf.scaled_dot_product_attention(q, k, v, is_causal=causal, enable_gqa=True, return_lse=True,
                                                       backend="reference")
        assert_close(out, ref)
        assert_close(lse, ref_lse)
