"""Attention backward: the reference against central finite differences of the reference forward,
the cpu and cuda backends against the reference (random and edge cases, NaN / inf), thread-count
independence, device arrays, bad input, and (when torch is installed) torch's autograd.
"""
from __future__ import annotations

import numpy as np
import pytest

import bagu_fast as bf
from bagu_fast.attention_backward import scaled_dot_product_attention_backward as sdpa_backward
from bagu_fast.kernels.cpu._parallel import thread_count
from .conftest import CUDA_SIM, assert_close

sdpa = bf.scaled_dot_product_attention


def forward(q, k, v, backend="reference", **kw):
    return sdpa(q, k, v, return_lse=True, backend=backend, **kw)


def rand(rng, shape, dtype=np.float64):
    return rng.standard_normal(shape).astype(dtype)


# ----------------------------------------------------------------------------------------------
# the reference against central finite differences of the reference forward (float64)
# ----------------------------------------------------------------------------------------------
def central_differences(loss, x, h=1e-6):
    """d loss / d x by central differences, one element at a time (``x`` is perturbed in place
    and restored)."""
    grad = np.zeros_like(x)
    for idx in np.ndindex(*x.shape):
        old = x[idx]
        x[idx] = old + h
        up = loss()
        x[idx] = old - h
        down = loss()
        x[idx] = old
        grad[idx] = (up - down) / (2 * h)
    return grad


def _fd_mask(kind, shape, rng):
    if kind == "bool":
        m = rng.random(shape) > 0.3
        m[..., 1, :] = False  # a fully masked row: zero output, zero gradient
        return m
    m = rng.standard_normal(shape)
    m[..., 0] = -np.inf  # additive -inf hides a key
    return m


# (query shape, key shape, value shape, options); masks are built from a spec below
FD_CASES = {
    "plain": ((2, 2, 4, 3), (2, 2, 5, 3), (2, 2, 5, 2), {}),
    "bool mask, broadcast": ((2, 2, 4, 3), (2, 2, 5, 3), (2, 2, 5, 2), {"attn_mask": ("bool", (2, 1, 4, 5))}),
    "additive mask, broadcast": ((1, 2, 4, 3), (1, 2, 5, 3), (1, 2, 5, 3), {"attn_mask": ("add", (2, 1, 5))}),
    "causal L > S": ((1, 2, 5, 3), (1, 2, 3, 3), (1, 2, 3, 2), {"is_causal": True}),
    "causal L < S": ((2, 1, 3, 2), (2, 1, 6, 2), (2, 1, 6, 3), {"is_causal": True}),
    "gqa causal": ((1, 4, 4, 3), (1, 2, 4, 3), (1, 2, 4, 2), {"enable_gqa": True, "is_causal": True}),
    "window": ((1, 2, 6, 3), (1, 2, 6, 3), (1, 2, 6, 2), {"window": (2, 1)}),
    "softcap and scale": ((1, 2, 4, 3), (1, 2, 5, 3), (1, 2, 5, 2), {"softcap": 0.8, "scale": 1.7}),
    "batch dims, broadcast key / value": ((2, 3, 2, 3, 2), (1, 2, 4, 2), (3, 1, 4, 3), {}),
    "2-d query, multi-query": ((3, 4), (2, 1, 5, 4), (2, 1, 5, 2), {"window": (None, 1), "softcap": 2.0}),
}


@pytest.mark.parametrize("case", list(FD_CASES))
def test_reference_matches_finite_differences(case, rng):
    qs, ks, vs, opts = FD_CASES[case]
    q, k, v = rand(rng, qs), rand(rng, ks), rand(rng, vs)
    kw = dict(opts)
    if "attn_mask" in kw:
        kw["attn_mask"] = _fd_mask(*kw["attn_mask"], rng)
    out, lse = forward(q, k, v, **kw)
    weights = rand(rng, out.shape)  # loss = sum(out * weights), so grad_out = weights

    def loss():
        return float(np.sum(forward(q, k, v, **kw)[0] * weights))

    grads = sdpa_backward(weights, q, k, v, out, lse, backend="reference", **kw)
    for name, x, g in zip(("query", "key", "value"), (q, k, v), grads):
        assert g.shape == x.shape and g.dtype == np.float64, name
        np.testing.assert_allclose(g, central_differences(loss, x), rtol=1e-6, atol=1e-8, err_msg=name)


# ----------------------------------------------------------------------------------------------
# cpu and cuda against the reference
# ----------------------------------------------------------------------------------------------
def run_backend(backend, dtype, q, k, v, grad_out=None, rng=None, **kw):
    """The backend's gradients (inputs of ``dtype``, out / lse from the cpu forward) and the
    reference's in float64 on the same inputs; checks that no input was modified."""
    q, k, v = (np.asarray(a, dtype=dtype) for a in (q, k, v))
    out, lse = forward(q, k, v, backend="cpu", **kw)
    g = rand(rng, out.shape, dtype) if grad_out is None else np.asarray(grad_out, dtype=dtype)
    inputs = [q, k, v, g, out, lse] + ([kw["attn_mask"]] if kw.get("attn_mask") is not None else [])
    copies = [a.copy() for a in inputs]
    got = sdpa_backward(g, q, k, v, out, lse, backend=backend, **kw)
    for a, c in zip(inputs, copies):
        np.testing.assert_array_equal(a, c)
    up = [a.astype(np.float64) for a in (g, q, k, v, out, lse)]
    kw64 = dict(kw)
    if kw64.get("attn_mask") is not None and kw64["attn_mask"].dtype != bool:
        kw64["attn_mask"] = kw64["attn_mask"].astype(dtype).astype(np.float64)  # as the forward cast it
    expected = sdpa_backward(*up, backend="reference", **kw64)
    for a, e in zip(got, expected):
        assert a.dtype == dtype and a.shape == e.shape
    return got, expected


def check_backend(backend, dtype, *args, **kw):
    got, expected = run_backend(backend, dtype, *args, **kw)
    for name, a, e in zip(("grad_query", "grad_key", "grad_value"), got, expected):
        try:
            assert_close(a, e, dtype)
        except AssertionError as exc:
            raise AssertionError(f"{name}: {exc}") from None
    return got, expected


def _random_case(rng, name, small):
    """(q, k, v, options) of case ``name``; ``small``: sizes for the CUDA simulator."""
    if name == "plain":  # odd sizes across several tiles, L != S
        H, L, S, D, Dv = (1, 33, 35, 5, 3) if small else (2, 201, 267, 20, 12)
        return rand(rng, (1, H, L, D)), rand(rng, (1, H, S, D)), rand(rng, (1, H, S, Dv)), {}
    if name == "causal gqa":
        B, L, S = (1, 12, 20) if small else (2, 300, 290)
        return (rand(rng, (B, 4, L, 8)), rand(rng, (B, 2, S, 8)), rand(rng, (B, 2, S, 8)),
                {"is_causal": True, "enable_gqa": True})
    if name == "window softcap scale":
        L, S = (33, 30) if small else (260, 250)
        return (rand(rng, (1, 2, L, 6)) * 3, rand(rng, (1, 2, S, 6)), rand(rng, (1, 2, S, 4)),
                {"window": (9, 4), "softcap": 2.5, "scale": 0.6})
    if name == "masks":  # a bool padding mask with fully masked rows, broadcast over heads
        H, L, S = (2, 9, 11) if small else (3, 150, 170)
        mask = rng.random((2, 1, L, S)) > 0.4
        mask[:, :, 3] = False
        mask[1, :, L - 1] = False
        return rand(rng, (2, H, L, 8)), rand(rng, (2, H, S, 8)), rand(rng, (2, H, S, 8)), {"attn_mask": mask}
    if name == "additive mask":
        L, S = (17, 19) if small else (131, 140)
        mask = rng.standard_normal((1, 2, 1, S)) * 2
        mask[..., 5] = -np.inf
        return rand(rng, (1, 2, L, 8)), rand(rng, (1, 2, S, 8)), rand(rng, (1, 2, S, 8)), {"attn_mask": mask}
    if name == "one query row":  # decoding: L = 1
        S = 40 if small else 700
        return rand(rng, (1, 4, 1, 16)), rand(rng, (1, 1, S, 16)), rand(rng, (1, 1, S, 16)), {"enable_gqa": True}
    if name == "one key":  # S = 1: P = 1, dV = sum of dO, dQ = dK = 0
        return rand(rng, (2, 2, 9, 4)), rand(rng, (2, 2, 1, 4)), rand(rng, (2, 2, 1, 3)), {"is_causal": True}
    if name == "rows seeing nothing":  # window (0, 0) with L > S: rows >= S see no key at all
        L, S = (12, 7) if small else (140, 129)
        return rand(rng, (1, 1, L, 4)), rand(rng, (1, 1, S, 4)), rand(rng, (1, 1, S, 4)), {"window": (0, 0)}
    if name == "batch dims broadcast":
        B, L, S = (2, 5, 7) if small else (3, 70, 90)
        return rand(rng, (B, 2, L, 4)), rand(rng, (1, 2, S, 4)), rand(rng, (2, S, 4)), {}
    if name == "huge logits":  # scores of hundreds: near one-hot rows, exp never overflows
        L, S = (10, 12) if small else (150, 140)
        return rand(rng, (1, 2, L, 8)) * 20, rand(rng, (1, 2, S, 8)), rand(rng, (1, 2, S, 8)), {"is_causal": True}
    if name == "wide features":  # D, Dv past one column chunk of the cuda kernels
        L, S = (5, 6) if small else (40, 50)
        return rand(rng, (1, 1, L, 130)) * 0.3, rand(rng, (1, 1, S, 130)), rand(rng, (1, 1, S, 70)), {}
    raise KeyError(name)


CPU_CASES = ["plain", "causal gqa", "window softcap scale", "masks", "additive mask", "one query row", "one key",
             "rows seeing nothing", "batch dims broadcast", "huge logits", "wide features"]
# The simulator runs every CUDA thread in Python: a few small cases, one dtype each.
CUDA_CASES = [("plain", np.float32), ("causal gqa", np.float64), ("window softcap scale", np.float32),
              ("masks", np.float64), ("additive mask", np.float32), ("rows seeing nothing", np.float64),
              ("wide features", np.float32)]


@pytest.mark.parametrize("case", CPU_CASES)
def test_cpu_matches_reference(case, dtype, rng):
    q, k, v, kw = _random_case(rng, case, small=False)
    check_backend("cpu", dtype, q, k, v, rng=rng, **kw)


@pytest.mark.parametrize("case, dtype", CUDA_CASES, ids=[f"{c}-{np.dtype(d).name}" for c, d in CUDA_CASES])
def test_cuda_matches_reference(case, dtype, rng):
    q, k, v, kw = _random_case(rng, case, small=CUDA_SIM)
    check_backend("cuda", np.dtype(dtype), q, k, v, rng=rng, **kw)


@pytest.mark.parametrize("backend", ["reference", "cpu"])
def test_dead_rows_and_lone_keys(backend, rng):
    """Rows with lse = -inf get zero gradients and add nothing; S = 1 has closed forms."""
    q, k, v, kw = _random_case(rng, "masks", small=True)
    out, lse = forward(q, k, v, backend="cpu", **kw)
    g = rand(rng, out.shape)
    g[:, :, 3] = np.nan  # the upstream gradient of a dead row is never read
    dq, dk, dv = sdpa_backward(g, q, k, v, out, lse, backend=backend, **kw)
    assert np.all(np.isinf(lse[:, :, 3])) and np.all(dq[:, :, 3] == 0)
    assert np.all(dq[1, :, -1] == 0)
    assert np.all(np.isfinite(dq)) and np.all(np.isfinite(dk)) and np.all(np.isfinite(dv))
    g[:, :, 3] = 0
    ref = sdpa_backward(g, q, k, v, out, lse, backend="reference", **kw)
    for a, e in zip((dq, dk, dv), ref):
        assert_close(a, e)
    q, k, v, kw = _random_case(rng, "one key", small=True)
    out, lse = forward(q, k, v, **kw)
    g = rand(rng, out.shape)
    dq, dk, dv = sdpa_backward(g, q, k, v, out, lse, backend=backend, **kw)
    np.testing.assert_allclose(dv, g.sum(axis=2, keepdims=True), rtol=1e-12)
    np.testing.assert_allclose(dq, 0, atol=1e-12)
    np.testing.assert_allclose(dk, 0, atol=1e-12)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # the simulator computes NaN in NumPy scalars
@pytest.mark.parametrize("fast_backend_name", ["cpu", "cuda"])
def test_nan_and_inf_follow_the_reference(fast_backend_name, rng):
    """Hidden keys' NaN never reaches anything; a poisoned row and a NaN value of a masked key
    give NaN exactly where the reference has it."""
    small = fast_backend_name == "cuda" and CUDA_SIM
    L = 20 if small else 300
    q, k, v = rand(rng, (1, 1, L, 4)), rand(rng, (1, 1, L, 4)), rand(rng, (1, 1, L, 4))
    k[0, 0, L - 2] = np.nan  # hidden from every earlier row by causality
    v[0, 0, L - 3, 1] = np.inf
    q[0, 0, L - 5] = np.nan  # poisons that row (NaN scores)
    got, expected = run_backend(fast_backend_name, np.float64, q, k, v, rng=rng, is_causal=True)
    for a, e in zip(got, expected):
        assert_close(a, e)  # NaN positions must match too
    assert np.all(np.isfinite(got[0][0, 0, : L - 5]))  # rows before the poisoned one stay finite
    assert np.isnan(got[0][0, 0, L - 5]).all()
    mask = np.ones((L, L), bool)
    mask[:, 7] = False
    v2 = v.copy()
    v2[0, 0, L - 3] = 0.5
    v2[0, 0, 7, 2] = np.nan  # a masked key's NaN value: 0 * NaN reaches the rows, as in the forward
    q2 = rand(rng, q.shape)
    k2 = rand(rng, k.shape)
    got, expected = run_backend(fast_backend_name, np.float64, q2, k2, v2, rng=rng, attn_mask=mask)
    for a, e in zip(got, expected):
        assert_close(a, e)
    assert np.isnan(got[0]).any()


@pytest.mark.parametrize("backend", ["reference", "cpu", "cuda"])
def test_empty_inputs_give_zero_gradients(backend, rng):
    q, k, v = rand(rng, (1, 2, 0, 4)), rand(rng, (1, 2, 5, 4)), rand(rng, (1, 2, 5, 3))
    out, lse = forward(q, k, v)
    dq, dk, dv = sdpa_backward(out, q, k, v, out, lse, backend=backend)
    assert dq.shape == q.shape and np.all(dk == 0) and np.all(dv == 0) and dv.shape == v.shape
    q, k, v = rand(rng, (2, 3, 4)), rand(rng, (2, 0, 4)), rand(rng, (2, 0, 3))
    out, lse = forward(q, k, v)
    dq, dk, dv = sdpa_backward(out + 1, q, k, v, out, lse, backend=backend)
    assert np.all(dq == 0) and dq.shape == q.shape and dk.shape == k.shape


# ----------------------------------------------------------------------------------------------
# determinism, device arrays
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("shape, kw", [
    ((4, 4, 200, 16), {"is_causal": True}),  # one task per (batch, kv head)
    ((1, 1, 700, 16), {"window": (300, 20), "softcap": 5.0}),  # keys split over chunks (split-K)
], ids=["tasks", "split"])
def test_cpu_independent_of_thread_count(shape, kw, rng):
    q, k, v = (rand(rng, shape, np.float32) for _ in range(3))
    out, lse = forward(q, k, v, backend="cpu", **kw)
    g = rand(rng, out.shape, np.float32)

    def run():
        return sdpa_backward(g, q, k, v, out, lse, backend="cpu", **kw)

    with thread_count(1):
        one = run()
    with thread_count(64):
        many = run()
    for a, b in zip(one, many):
        np.testing.assert_array_equal(a, b)


def test_device_arrays_stay_on_the_device(rng):
    from numba import cuda

    q, k, v, kw = _random_case(rng, "batch dims broadcast", small=True)
    out, lse = forward(q, k, v, **kw)
    g = rand(rng, out.shape)
    dev = [cuda.to_device(np.ascontiguousarray(a)) for a in (g, q, k, v, out, lse)]
    got = sdpa_backward(*dev, **kw)  # backend "auto" -> cuda
    expected = sdpa_backward(g, q, k, v, out, lse, backend="reference", **kw)
    for a, e in zip(got, expected):
        assert hasattr(a, "copy_to_host")
        assert_close(a.copy_to_host(), e)
    with pytest.raises(ValueError, match="GPU"):
        sdpa_backward(dev[0], q, k, v, out, lse, backend="cpu", **kw)


# ----------------------------------------------------------------------------------------------
# bad input
# ----------------------------------------------------------------------------------------------
def test_bad_input_is_named(rng):
    q, k, v = rand(rng, (1, 2, 4, 3)), rand(rng, (1, 2, 5, 3)), rand(rng, (1, 2, 5, 2))
    out, lse = forward(q, k, v)
    g = np.ones_like(out)
    for name in ("grad_out", "out", "lse"):
        args = {"grad_out": g, "out": out, "lse": lse}
        with pytest.raises(TypeError, match=name):
            sdpa_backward(**{**args, name: None}, query=q, key=k, value=v)
        with pytest.raises(ValueError, match=name):
            sdpa_backward(**{**args, name: args[name][..., :-1]}, query=q, key=k, value=v)
        with pytest.raises(TypeError, match=name):
            sdpa_backward(**{**args, name: args[name].astype(np.float32)}, query=q, key=k, value=v)
        with pytest.raises(TypeError, match=name):
            sdpa_backward(**{**args, name: args[name].astype(np.int64)}, query=q, key=k, value=v)
    with pytest.raises(TypeError, match="query"):
        sdpa_backward(g, None, k, v, out, lse)
    with pytest.raises(ValueError, match="grad_out"):  # the forward's shape, not a broadcastable one
        sdpa_backward(g[:, :1], q, k, v, out, lse)
    with pytest.raises(ValueError, match="key"):  # the forward's own checks
        sdpa_backward(g, q, k[..., :2], v, out, lse)
    with pytest.raises(ValueError, match="backend"):
        sdpa_backward(g, q, k, v, out, lse, backend="gpu")
    with pytest.raises(TypeError, match="is_causal"):
        sdpa_backward(g, q, k, v, out, lse, is_causal=1)


# ----------------------------------------------------------------------------------------------
# torch's autograd (only where torch is installed)
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kw", [{}, {"is_causal": True, "enable_gqa": True}, {"attn_mask": "bool", "scale": 0.4}],
                         ids=["plain", "causal gqa", "bool mask"])
def test_cpu_matches_torch_autograd(kw, rng):
    torch = pytest.importorskip("torch")
    q, k, v = rand(rng, (2, 4, 33, 8)), rand(rng, (2, 2 if kw.get("enable_gqa") else 4, 40, 8)), None
    v = rand(rng, k.shape[:-1] + (6,))
    kw = dict(kw)
    if kw.get("attn_mask") == "bool":
        kw["attn_mask"] = rng.random((2, 1, 33, 40)) > 0.3
    out, lse = forward(q, k, v, backend="cpu", **kw)
    g = rand(rng, out.shape)
    tq, tk, tv = (torch.tensor(a, requires_grad=True) for a in (q, k, v))
    tkw = {n: (torch.from_numpy(a) if n == "attn_mask" else a) for n, a in kw.items()}
    tout = torch.nn.functional.scaled_dot_product_attention(tq, tk, tv, **tkw)
    tout.backward(torch.from_numpy(g))
    np.testing.assert_allclose(out, tout.detach().numpy(), rtol=1e-9, atol=1e-11)
    for a, t in zip(sdpa_backward(g, q, k, v, out, lse, backend="cpu", **kw), (tq, tk, tv)):
        np.testing.assert_allclose(a, t.grad.numpy(), rtol=1e-9, atol=1e-11)
    # torch CPU tensors (even ones that require grad) in, torch tensors out
    got = sdpa_backward(torch.from_numpy(g), tq, tk, tv, torch.from_numpy(out), torch.from_numpy(lse), **tkw)
    for a, t in zip(got, (tq, tk, tv)):
        assert isinstance(a, torch.Tensor)
        np.testing.assert_allclose(a.numpy(), t.grad.numpy(), rtol=1e-9, atol=1e-11)


def test_nested_lists_are_accepted(rng):
    q, k, v = rand(rng, (2, 3, 4)), rand(rng, (2, 5, 4)), rand(rng, (2, 5, 2))
    out, lse = forward(q, k, v)
    expected = sdpa_backward(np.ones_like(out), q, k, v, out, lse, backend="cpu")
    got = sdpa_backward(np.ones_like(out).tolist(), q.tolist(), k.tolist(), v.tolist(), out.tolist(), lse.tolist())
    for a, e in zip(got, expected):
        assert isinstance(a, np.ndarray)
        np.testing.assert_array_equal(a, e)


@pytest.mark.parametrize("backend", ["reference", "cpu"])
def test_empty_head_dimension(backend):
    """D = 0: every score is 0, so causal row i averages values 0..i; dV[j] = sum_{i >= j} 1 / (i + 1)."""
    L, Dv = 5, 3
    q = np.zeros((1, 2, L, 0))
    v = np.random.default_rng(0).standard_normal((1, 2, L, Dv))
    out, lse = bf.scaled_dot_product_attention(q, q, v, is_causal=True, return_lse=True, backend=backend)
    dq, dk, dv = bf.scaled_dot_product_attention_backward(np.ones_like(out), q, q, v, out, lse, is_causal=True,
                                                          backend=backend)
    assert dq.shape == q.shape and dk.shape == q.shape
    expected = np.array([sum(1 / (i + 1) for i in range(j, L)) for j in range(L)])
    np.testing.assert_allclose(dv[0, 0, :, 0], expected, rtol=1e-12)
