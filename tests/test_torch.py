"""bagu_fast.torch: autograd over bagu_fast's kernels against torch's own operators.

Skipped where torch is not installed (the kernels never need it); `make test` installs it.
"""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
import torch.nn.functional as F  # noqa: E402

import bagu_fast.torch as bft  # noqa: E402

OPTIONS = [
    dict(),
    dict(is_causal=True),
    dict(scale=0.3),
    dict(window=(2, 1)),
    dict(softcap=2.0),
    dict(enable_gqa=True),
    dict(attn_mask="bool"),
    dict(attn_mask="float"),
]


def _inputs(dtype, gqa=False, L=5, S=7, D=4, Dv=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    Hkv = 1 if gqa else 2
    q = torch.randn(2, 2, L, D, dtype=dtype, generator=g, requires_grad=True)
    k = torch.randn(2, Hkv, S, D, dtype=dtype, generator=g, requires_grad=True)
    v = torch.randn(2, Hkv, S, Dv, dtype=dtype, generator=g, requires_grad=True)
    return q, k, v


def _mask(kind, L=5, S=7, dtype=torch.float64):
    g = torch.Generator().manual_seed(1)
    if kind == "bool":
        m = torch.rand(1, 1, L, S, generator=g) > 0.3
        m[..., 0] = True  # every row attends to something
        return m
    return torch.randn(1, 2, L, S, dtype=dtype, generator=g)


@pytest.mark.parametrize("opts", OPTIONS, ids=lambda o: ",".join(o) or "plain")
def test_gradcheck_float64(opts):
    opts = dict(opts)
    if "attn_mask" in opts:
        opts["attn_mask"] = _mask(opts["attn_mask"])
    q, k, v = _inputs(torch.float64, gqa=opts.get("enable_gqa", False))
    assert torch.autograd.gradcheck(lambda a, b, c: bft.scaled_dot_product_attention(a, b, c, **opts), (q, k, v),
                                    eps=1e-6, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("opts", [o for o in OPTIONS if "window" not in o and "softcap" not in o],
                         ids=lambda o: ",".join(o) or "plain")
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
def test_matches_torch_autograd(opts, dtype):
    opts = dict(opts)
    if "attn_mask" in opts:
        opts["attn_mask"] = _mask(opts["attn_mask"], dtype=dtype)
    ours = _inputs(dtype, gqa=opts.get("enable_gqa", False))
    theirs = [t.detach().clone().requires_grad_() for t in ours]
    grad = torch.randn(2, 2, 5, 3, dtype=dtype, generator=torch.Generator().manual_seed(5))
    out = bft.scaled_dot_product_attention(*ours, **opts)
    ref = F.scaled_dot_product_attention(*theirs, **opts)
    tol = dict(rtol=1e-4, atol=1e-5) if dtype == torch.float32 else dict(rtol=1e-9, atol=1e-11)
    torch.testing.assert_close(out, ref, **tol)
    out.backward(grad)
    ref.backward(grad)
    for a, b in zip(ours, theirs):
        torch.testing.assert_close(a.grad, b.grad, **tol)


def test_trains_like_torch():
    """A few hundred steps of a small attention model follow torch's loss curve (float64)."""
    torch.manual_seed(0)
    x = torch.randn(4, 16, 8, dtype=torch.float64)
    target = torch.randn(4, 16, 8, dtype=torch.float64)
    w0 = [torch.randn(8, 8, dtype=torch.float64) * 0.3 for _ in range(3)]
    curves = []
    for attention in (bft.scaled_dot_product_attention, F.scaled_dot_product_attention):
        w = [t.clone().requires_grad_() for t in w0]
        opt = torch.optim.SGD(w, lr=0.05)
        losses = []
        for _ in range(200):
            opt.zero_grad()
            out = attention((x @ w[0]).unsqueeze(1), (x @ w[1]).unsqueeze(1), (x @ w[2]).unsqueeze(1), is_causal=True)
            loss = ((out.squeeze(1) - target) ** 2).mean()
            loss.backward()
            opt.step()
            losses.append(loss.item())
        curves.append(np.array(losses))
    np.testing.assert_allclose(curves[0], curves[1], rtol=1e-6)
    assert curves[0][-1] < curves[0][0]


def test_bad_input():
    q, k, v = _inputs(torch.float64)
    with pytest.raises(TypeError, match="query"):
        bft.scaled_dot_product_attention(q.detach().numpy(), k, v)
    with pytest.raises(ValueError, match="dropout_p"):
        bft.scaled_dot_product_attention(q, k, v, None, 0.1)
