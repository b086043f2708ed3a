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


# ----------------------------------------------------------------------------- recurrent modules
RECURRENT = [
    ("LSTM", dict()),
    ("LSTM", dict(num_layers=2, bidirectional=True)),
    ("LSTM", dict(proj_size=2, batch_first=True)),
    ("GRU", dict(num_layers=2, bidirectional=True, batch_first=True)),
    ("RNN", dict(nonlinearity="relu", bias=False)),
    ("RNN", dict(num_layers=2)),
]


def _twins(name, kwargs, I=3, H=4):
    torch.manual_seed(0)
    ours = getattr(bft, name)(I, H, dtype=torch.float64, **kwargs)
    theirs = getattr(torch.nn, name)(I, H, dtype=torch.float64, **kwargs)
    theirs.load_state_dict(ours.state_dict())
    return ours, theirs


@pytest.mark.parametrize("name, kwargs", RECURRENT, ids=[f"{n}-{','.join(k) or 'plain'}" for n, k in RECURRENT])
def test_recurrent_module_matches_torch(name, kwargs):
    ours, theirs = _twins(name, kwargs)
    g = torch.Generator().manual_seed(1)
    shape = (2, 5, 3) if kwargs.get("batch_first") else (5, 2, 3)
    x = torch.randn(*shape, dtype=torch.float64, generator=g)
    xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
    out_a, st_a = ours(xa)
    out_b, st_b = theirs(xb)
    torch.testing.assert_close(out_a, out_b, rtol=1e-10, atol=1e-12)
    loss_a = out_a.sin().sum() + sum(s.square().sum() for s in (st_a if name == "LSTM" else (st_a,)))
    loss_b = out_b.sin().sum() + sum(s.square().sum() for s in (st_b if name == "LSTM" else (st_b,)))
    loss_a.backward()
    loss_b.backward()
    torch.testing.assert_close(xa.grad, xb.grad, rtol=1e-9, atol=1e-11)
    for (n, pa), (_, pb) in zip(ours.named_parameters(), theirs.named_parameters()):
        torch.testing.assert_close(pa.grad, pb.grad, rtol=1e-9, atol=1e-11, msg=n)


def test_recurrent_gradcheck_with_initial_states():
    torch.manual_seed(0)
    lstm = bft.LSTM(2, 3, num_layers=2, bidirectional=True, dtype=torch.float64)
    x = torch.randn(4, 2, 2, dtype=torch.float64, requires_grad=True)
    h0 = torch.randn(4, 2, 3, dtype=torch.float64, requires_grad=True)
    c0 = torch.randn(4, 2, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x, h0, c0: lstm(x, (h0, c0))[0], (x, h0, c0), eps=1e-6, atol=1e-6)


def test_packed_sequence_matches_torch():
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

    ours, theirs = _twins("GRU", dict(bidirectional=True))
    x = torch.randn(6, 3, 3, dtype=torch.float64)
    lengths = torch.tensor([4, 6, 2])
    packed = pack_padded_sequence(x, lengths, enforce_sorted=False)
    out_a, h_a = ours(packed)
    out_b, h_b = theirs(packed)
    pa, _ = pad_packed_sequence(out_a)
    pb, _ = pad_packed_sequence(out_b)
    torch.testing.assert_close(pa, pb, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(h_a, h_b, rtol=1e-10, atol=1e-12)


def test_state_dict_both_ways():
    torch.manual_seed(3)
    theirs = torch.nn.LSTM(3, 4, num_layers=2, proj_size=2)
    ours = bft.LSTM(3, 4, num_layers=2, proj_size=2)
    ours.load_state_dict(theirs.state_dict())
    back = torch.nn.LSTM(3, 4, num_layers=2, proj_size=2)
    back.load_state_dict(ours.state_dict())
    x = torch.randn(5, 2, 3)
    torch.testing.assert_close(ours(x)[0], back(x)[0], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", ["LSTMCell", "GRUCell", "RNNCell"])
def test_cells_match_torch(name):
    torch.manual_seed(0)
    ours = getattr(bft, name)(3, 4, dtype=torch.float64)
    theirs = getattr(torch.nn, name)(3, 4, dtype=torch.float64)
    theirs.load_state_dict(ours.state_dict())
    x = torch.randn(2, 3, dtype=torch.float64)
    h = torch.randn(2, 4, dtype=torch.float64)
    hx = (h, torch.randn(2, 4, dtype=torch.float64)) if name == "LSTMCell" else h
    ya, yb = ours(x, hx), theirs(x, hx)
    la = sum(t.sin().sum() for t in (ya if name == "LSTMCell" else (ya,)))
    lb = sum(t.sin().sum() for t in (yb if name == "LSTMCell" else (yb,)))
    la.backward()
    lb.backward()
    for (n, pa), (_, pb) in zip(ours.named_parameters(), theirs.named_parameters()):
        torch.testing.assert_close(pa.grad, pb.grad, rtol=1e-9, atol=1e-11, msg=n)


def test_lstm_trains_like_torch():
    """200 SGD steps of an LSTM regressor follow torch's loss curve (float64, 1e-6 per step)."""
    torch.manual_seed(0)
    x = torch.randn(12, 4, 3, dtype=torch.float64)
    y = torch.randn(4, 2, dtype=torch.float64)
    curves = []
    init = torch.nn.LSTM(3, 5, num_layers=2, dtype=torch.float64).state_dict()
    head0 = torch.nn.Linear(5, 2, dtype=torch.float64).state_dict()
    for cls in (bft.LSTM, torch.nn.LSTM):
        lstm = cls(3, 5, num_layers=2, dtype=torch.float64)
        lstm.load_state_dict(init)
        head = torch.nn.Linear(5, 2, dtype=torch.float64)
        head.load_state_dict(head0)
        opt = torch.optim.SGD(list(lstm.parameters()) + list(head.parameters()), lr=0.1)
        losses = []
        for _ in range(200):
            opt.zero_grad()
            out, _ = lstm(x)
            loss = ((head(out[-1]) - y) ** 2).mean()
            loss.backward()
            opt.step()
            losses.append(loss.item())
        curves.append(np.array(losses))
    np.testing.assert_allclose(curves[0], curves[1], rtol=1e-6)
    assert curves[0][-1] < 0.5 * curves[0][0]


def test_dropout_between_layers_is_refused_in_training():
    lstm = bft.LSTM(3, 4, num_layers=2, dropout=0.5)
    with pytest.raises(ValueError, match="dropout"):
        lstm(torch.randn(5, 2, 3))
    lstm.eval()
    lstm(torch.randn(5, 2, 3))  # no dropout in eval mode, as torch
