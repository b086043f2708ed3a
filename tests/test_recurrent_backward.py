"""Backpropagation through time: the reference backward against central finite differences of the
reference forward (float64, every layout), the cpu backward against the reference, torch autograd
when torch is installed, and bad input.
"""
from __future__ import annotations

import numpy as np
import pytest

import bagu_fast.recurrent as rec
from bagu_fast import recurrent_backward as rb
from .test_recurrent import weights

BACKENDS = ("reference", "cpu")
FAMILY = {"lstm": (rec.lstm, rb.lstm_backward), "gru": (rec.gru, rb.gru_backward),
          "rnn_tanh": (rec.rnn, rb.rnn_backward), "rnn_relu": (rec.rnn, rb.rnn_backward)}

# (mode, layers, bidirectional, proj, bias, lengths, batch_first, unbatched, initial states)
CASES = [
    ("lstm", 1, False, 0, True, None, False, False, False),
    ("lstm", 2, True, 2, True, [5, 0, 3], True, False, True),
    ("lstm", 1, True, 0, True, None, False, True, True),
    ("lstm", 1, False, 3, False, [2, 4], False, False, False),
    ("gru", 2, True, 0, True, [2, 5, 0], False, False, True),
    ("gru", 1, False, 0, False, None, False, True, True),
    ("gru", 1, False, 0, True, [3, 1], True, False, False),
    ("rnn_tanh", 2, True, 0, True, [4, 2, 5], True, False, True),
    ("rnn_relu", 1, False, 0, True, None, False, False, True),
    ("rnn_relu", 2, True, 0, False, [1, 3], False, False, False),
]
CASE_IDS = [f"{c[0]}-L{c[1]}-{'bi' if c[2] else 'uni'}-p{c[3]}-{'b' if c[4] else 'nob'}-"
            f"{'len' if c[5] else 'full'}-{'bf' if c[6] else 'tm'}-{'unb' if c[7] else 'bat'}-"
            f"{'h0' if c[8] else 'zero'}" for c in CASES]


def problem(case, dtype=np.float64, seed=0, T=5, B=None, I=3, H=4):
    """Inputs of one case: ``(call_kwargs, grads_in)``; ``call_kwargs`` feeds the forward."""
    mode, L, bi, proj, bias, lengths, bf, unbatched, states = case
    rng = np.random.default_rng(seed)
    family = "rnn" if mode.startswith("rnn") else mode
    B = (1 if unbatched else len(lengths) if lengths else 2) if B is None else B
    D, Hout = (2 if bi else 1), (proj or H)
    w = weights(rng, family, I, H, layers=L, bidirectional=bi, proj=proj, bias=bias, dtype=dtype, scale=2.0)
    xshape = (T, I) if unbatched else ((B, T, I) if bf else (T, B, I))
    kw = {"x": rng.standard_normal(xshape).astype(dtype), "weights": w, "batch_first": bf}
    if lengths is not None:
        kw["lengths"] = np.asarray(lengths)
    sshape = (L * D,) if unbatched else (L * D, B)
    if states:
        kw["h0"] = rng.standard_normal(sshape + (Hout,)).astype(dtype)
        if mode == "lstm":
            kw["c0"] = rng.standard_normal(sshape + (H,)).astype(dtype)
    if mode.startswith("rnn"):
        kw["nonlinearity"] = mode[4:]
    oshape = xshape[:-1] + (D * Hout,)
    g = {"grad_output": rng.standard_normal(oshape).astype(dtype),
         "grad_h_n": rng.standard_normal(sshape + (Hout,)).astype(dtype)}
    if mode == "lstm":
        g["grad_c_n"] = rng.standard_normal(sshape + (H,)).astype(dtype)
    return kw, g


def loss(mode, kw, g, backend="reference"):
    """``<grad_output, output> + <grad_h_n, h_n> (+ <grad_c_n, c_n>)``: its gradient is the backward's."""
    out, states = FAMILY[mode][0](**kw, backend=backend)
    states = states if isinstance(states, tuple) else (states,)
    total = np.sum(g["grad_output"] * out) + np.sum(g["grad_h_n"] * states[0])
    if mode == "lstm":
        total += np.sum(g["grad_c_n"] * states[1])
    return float(total)


def numeric_gradient(mode, kw, g, arr, eps=1e-6):
    grad = np.zeros_like(arr)
    for idx in np.ndindex(arr.shape):
        keep = arr[idx]
        arr[idx] = keep + eps
        up = loss(mode, kw, g)
        arr[idx] = keep - eps
        down = loss(mode, kw, g)
        arr[idx] = keep
        grad[idx] = (up - down) / (2 * eps)
    return grad


def backward(mode, kw, g, backend="reference"):
    fwd, bwd = FAMILY[mode]
    out, states, cache = fwd(**kw, backend=backend, return_cache=True)
    return bwd(cache, **g)


# ----------------------------------------------------------------------------------------------
# the reference against finite differences
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_reference_matches_finite_differences(case):
    mode = case[0]
    kw, g = problem(case)
    kw = {k: (v.copy() if isinstance(v, np.ndarray) and k != "lengths" else v) for k, v in kw.items()}
    kw["weights"] = {k: v.copy() for k, v in kw["weights"].items()}
    grads = backward(mode, kw, g)
    targets = {"x": kw["x"], **kw["weights"]}
    for name in ("h0", "c0"):
        if name in kw:
            targets[name] = kw[name]
    expected_keys = set(targets) | {"h0"} | ({"c0"} if mode == "lstm" else set())
    assert set(grads) == expected_keys
    for name, arr in targets.items():
        num = numeric_gradient(mode, kw, g, arr)
        assert grads[name].shape == arr.shape and grads[name].dtype == arr.dtype, name
        np.testing.assert_allclose(grads[name], num, rtol=1e-6, atol=1e-7, err_msg=name)
    if case[5] is not None:  # steps past a sequence's end: no gradient for x
        lens = np.asarray(case[5])
        gx = grads["x"] if case[6] else grads["x"].transpose(1, 0, 2)
        for b, n in enumerate(lens):
            assert np.all(gx[b, n:] == 0)


def test_default_state_gradient_is_reported():
    # h0 / c0 not given: their gradient (the initial state is zeros) equals the one with explicit zeros
    case = ("lstm", 2, True, 0, True, [3, 5], False, False, False)
    kw, g = problem(case)
    implicit = backward("lstm", kw, g)
    D2, B = 4, 2
    explicit = backward("lstm", {**kw, "h0": np.zeros((D2, B, 4)), "c0": np.zeros((D2, B, 4))}, g)
    assert set(implicit) == set(explicit)
    for k in implicit:
        np.testing.assert_array_equal(implicit[k], explicit[k])


@pytest.mark.parametrize("mode", ["lstm", "gru", "rnn_tanh"])
def test_grad_output_none_and_partial_state_gradients(mode):
    case = (mode, 2, True, 0, True, [4, 2], False, False, True)
    kw, g = problem(case)
    zero = {k: np.zeros_like(v) for k, v in g.items()}
    only_h = backward(mode, kw, {"grad_output": None, "grad_h_n": g["grad_h_n"]})
    full = backward(mode, kw, {**zero, "grad_h_n": g["grad_h_n"]})
    for k in full:
        np.testing.assert_array_equal(only_h[k], full[k])


def test_forward_with_cache_returns_the_same_values():
    for case in CASES:
        mode = case[0]
        kw, _ = problem(case)
        plain = FAMILY[mode][0](**kw, backend="reference")
        cached = FAMILY[mode][0](**kw, backend="reference", return_cache=True)
        assert len(plain) == 2 and len(cached) == 3
        flat_p = [plain[0]] + list(plain[1] if isinstance(plain[1], tuple) else [plain[1]])
        flat_c = [cached[0]] + list(cached[1] if isinstance(cached[1], tuple) else [cached[1]])
        for a, b in zip(flat_p, flat_c):
            np.testing.assert_array_equal(a, b)


def test_inputs_are_not_modified():
    case = CASES[1]
    kw, g = problem(case)
    before = {"x": kw["x"].copy(), "h0": kw["h0"].copy(), "c0": kw["c0"].copy(),
              **{k: v.copy() for k, v in kw["weights"].items()}, **{k: v.copy() for k, v in g.items()}}
    for backend in BACKENDS:
        backward("lstm", kw, g, backend)
    after = {"x": kw["x"], "h0": kw["h0"], "c0": kw["c0"], **kw["weights"], **g}
    for k in before:
        np.testing.assert_array_equal(before[k], after[k])


# ----------------------------------------------------------------------------------------------
# bad input
# ----------------------------------------------------------------------------------------------
def test_bad_input():
    kw, g = problem(CASES[0])
    out, states, cache = rec.lstm(**kw, return_cache=True, backend="reference")
    with pytest.raises(TypeError, match="cache"):
        rb.lstm_backward({"mode": "lstm"}, g["grad_output"])
    with pytest.raises(ValueError, match="gru_backward"):
        rb.gru_backward(cache, g["grad_output"])
    with pytest.raises(ValueError, match="grad_output"):
        rb.lstm_backward(cache, g["grad_output"][:-1])
    with pytest.raises(TypeError, match="grad_output"):
        rb.lstm_backward(cache, g["grad_output"].astype(np.float32))
    with pytest.raises(ValueError, match="grad_h_n"):
        rb.lstm_backward(cache, None, g["grad_h_n"][:, :1])
    with pytest.raises(ValueError, match="grad_c_n"):
        rb.lstm_backward(cache, None, None, g["grad_c_n"][..., :1])
    with pytest.raises(ValueError, match="all None"):
        rb.lstm_backward(cache, None)
    with pytest.raises(TypeError, match="return_cache"):
        rec.lstm(**kw, return_cache="yes")
    gkw, gg = problem(CASES[4])
    _, _, gcache = rec.gru(**gkw, return_cache=True, backend="reference")
    with pytest.raises(ValueError, match="lstm_backward|rnn_backward"):
        rb.rnn_backward(gcache, gg["grad_output"])


# ----------------------------------------------------------------------------------------------
# the cpu backend against the reference
# ----------------------------------------------------------------------------------------------
CPU_TOL = {np.float64: 1e-9, np.float32: 1e-4}


def assert_grads_close(actual, expected, rtol):
    assert set(actual) == set(expected)
    for k, e in expected.items():
        a = actual[k]
        assert a.shape == e.shape and a.dtype == e.dtype, k
        # atol relative to the gradient's scale: single entries may cancel to near zero
        np.testing.assert_allclose(a, e, rtol=rtol, atol=rtol * float(np.max(np.abs(e), initial=1e-30)), err_msg=k)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_cpu_matches_reference(case, dtype):
    mode = case[0]
    for seed, shape in ((1, {}), (2, {"T": 7, "I": 6, "H": 9})):
        if case[5] is not None:
            shape = {**shape, "T": max(shape.get("T", 5), max(case[5]))}
        kw, g = problem(case, dtype=dtype, seed=seed, **shape)
        fwd = FAMILY[mode][0]
        out_ref, st_ref, _ = fwd(**kw, backend="reference", return_cache=True)
        out_cpu, st_cpu, cache = fwd(**kw, backend="cpu", return_cache=True)
        assert cache.backend == "cpu" and out_cpu.dtype == np.dtype(dtype)
        np.testing.assert_allclose(out_cpu, out_ref, rtol=CPU_TOL[dtype], atol=CPU_TOL[dtype])
        assert_grads_close(backward(mode, kw, g, "cpu"), backward(mode, kw, g, "reference"), CPU_TOL[dtype])


def test_cpu_larger_batch_with_lengths():
    # wider than the by-hand cases: packed lengths in any order, two layers, both directions, projection
    rng = np.random.default_rng(7)
    T, B, I, H, P = 9, 6, 5, 8, 3
    lengths = np.array([9, 0, 4, 9, 1, 6])
    w = weights(rng, "lstm", I, H, layers=2, bidirectional=True, proj=P, dtype=np.float64)
    kw = {"x": rng.standard_normal((B, T, I)), "weights": w, "batch_first": True, "lengths": lengths}
    g = {"grad_output": rng.standard_normal((B, T, 2 * P)), "grad_h_n": rng.standard_normal((4, B, P)),
         "grad_c_n": rng.standard_normal((4, B, H))}
    ref, cpu = backward("lstm", kw, g, "reference"), backward("lstm", kw, g, "cpu")
    assert_grads_close(cpu, ref, 1e-9)
    assert np.all(cpu["x"][1] == 0) and np.all(cpu["x"][4, 1:] == 0)


def test_cpu_backward_does_not_depend_on_thread_count():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    case = ("gru", 2, True, 0, True, [6, 3, 5, 1], False, False, True)
    kw, g = problem(case, seed=3, T=6, I=40, H=48)
    results = []
    for n in (1, 2):
        with threadpoolctl.threadpool_limits(n):
            results.append(backward("gru", kw, g, "cpu"))
    for k in results[0]:
        np.testing.assert_array_equal(results[0][k], results[1][k], err_msg=k)


def test_cuda_forward_cache_is_refused():
    kw, _ = problem(CASES[0])
    with pytest.raises(ValueError, match="backend"):
        rec.lstm(**kw, backend="cuda", return_cache=True)


# ----------------------------------------------------------------------------------------------
# torch autograd (only where torch is installed)
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["lstm", "gru"])
@pytest.mark.parametrize("packed", [False, True])
def test_against_torch_autograd(mode, packed):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    T, B, I, H = 5, 3, 4, 3
    net = (torch.nn.LSTM if mode == "lstm" else torch.nn.GRU)(I, H, num_layers=2, bidirectional=True).double()
    rng = np.random.default_rng(0)
    x = rng.standard_normal((T, B, I))
    h0 = rng.standard_normal((4, B, H))
    c0 = rng.standard_normal((4, B, H))
    lengths = np.array([3, 5, 2]) if packed else None
    g_out = rng.standard_normal((T, B, 2 * H))
    g_h = rng.standard_normal((4, B, H))
    g_c = rng.standard_normal((4, B, H))

    xt = torch.tensor(x, requires_grad=True)
    h0t = torch.tensor(h0, requires_grad=True)
    c0t = torch.tensor(c0, requires_grad=True)
    state = (h0t, c0t) if mode == "lstm" else h0t
    if packed:
        seq = torch.nn.utils.rnn.pack_padded_sequence(xt, torch.tensor(lengths), enforce_sorted=False)
        out_p, st = net(seq, state)
        out_t, _ = torch.nn.utils.rnn.pad_packed_sequence(out_p, total_length=T)
    else:
        out_t, st = net(xt, state)
    h_t = st[0] if mode == "lstm" else st
    total = (out_t * torch.tensor(g_out)).sum() + (h_t * torch.tensor(g_h)).sum()
    if mode == "lstm":
        total = total + (st[1] * torch.tensor(g_c)).sum()
    total.backward()

    sd = {k: v.detach().numpy() for k, v in net.state_dict().items()}
    kw = {"x": x, "weights": sd, "h0": h0, "lengths": lengths}
    g = {"grad_output": g_out, "grad_h_n": g_h}
    if mode == "lstm":
        kw["c0"], g["grad_c_n"] = c0, g_c
    expected = {"x": xt.grad.numpy(), "h0": h0t.grad.numpy(),
                **{k: p.grad.numpy() for k, p in net.named_parameters()}}
    if mode == "lstm":
        expected["c0"] = c0t.grad.numpy()
    for backend in BACKENDS:
        got = backward(mode, kw, g, backend)
        assert set(got) == set(expected)
        for k in expected:
            np.testing.assert_allclose(got[k], expected[k], rtol=1e-9, atol=1e-11, err_msg=f"{backend} {k}")


# ----------------------------------------------------------------------------------------------
# cells
# ----------------------------------------------------------------------------------------------
CELL = {"lstm": (rec.lstm_cell, rb.lstm_cell_backward), "gru": (rec.gru_cell, rb.gru_cell_backward),
        "rnn_tanh": (rec.rnn_cell, rb.rnn_cell_backward), "rnn_relu": (rec.rnn_cell, rb.rnn_cell_backward)}
# (mode, batched, bias, initial state given)
CELL_CASES = [("lstm", True, True, True), ("lstm", False, False, False), ("gru", True, True, True),
              ("gru", False, True, False), ("rnn_tanh", True, False, True), ("rnn_relu", True, True, True)]


def cell_problem(case, dtype=np.float64, seed=0, B=3, I=3, H=4):
    mode, batched, bias, state = case
    rng = np.random.default_rng(seed)
    G = {"lstm": 4, "gru": 3}.get(mode, 1)
    shape = (B,) if batched else ()
    kw = {"x": rng.standard_normal(shape + (I,)).astype(dtype),
          "w_ih": rng.uniform(-1, 1, (G * H, I)).astype(dtype), "w_hh": rng.uniform(-1, 1, (G * H, H)).astype(dtype),
          "h": rng.standard_normal(shape + (H,)).astype(dtype) if state else None}
    if mode == "lstm":
        kw["c"] = rng.standard_normal(shape + (H,)).astype(dtype) if state else None
    if bias:
        kw["b_ih"], kw["b_hh"] = rng.uniform(-1, 1, G * H).astype(dtype), rng.uniform(-1, 1, G * H).astype(dtype)
    if mode.startswith("rnn"):
        kw["nonlinearity"] = mode[4:]
    g = {"grad_h1": rng.standard_normal(shape + (H,)).astype(dtype)}
    if mode == "lstm":
        g["grad_c1"] = rng.standard_normal(shape + (H,)).astype(dtype)
    return kw, g


def cell_loss(mode, kw, g):
    res = CELL[mode][0](**kw, backend="reference")
    res = res if isinstance(res, tuple) else (res,)
    return float(sum(np.sum(gv * r) for gv, r in zip(g.values(), res)))


@pytest.mark.parametrize("case", CELL_CASES, ids=[f"{c[0]}-{c[1]}-{c[2]}-{c[3]}" for c in CELL_CASES])
def test_cell_backward_matches_finite_differences_and_cpu(case):
    mode = case[0]
    kw, g = cell_problem(case)
    res, cache = CELL[mode][0](**kw, backend="reference", return_cache=True)
    grads = CELL[mode][1](cache, **g)
    expected_keys = {"x", "h", "w_ih", "w_hh"} | ({"c"} if mode == "lstm" else set()) | \
        ({"b_ih", "b_hh"} if case[2] else set())
    assert set(grads) == expected_keys
    for name in expected_keys:
        if kw.get(name) is None:  # the default zero state: its gradient, at zeros
            kw = {**kw, name: np.zeros_like(g["grad_h1"])}
    for name in expected_keys:
        arr = kw[name]
        num = np.zeros_like(arr)
        for idx in np.ndindex(arr.shape):
            keep = arr[idx]
            arr[idx] = keep + 1e-6
            up = cell_loss(mode, kw, g)
            arr[idx] = keep - 1e-6
            down = cell_loss(mode, kw, g)
            arr[idx] = keep
            num[idx] = (up - down) / 2e-6
        np.testing.assert_allclose(grads[name], num, rtol=1e-6, atol=1e-7, err_msg=name)
    for dtype in (np.float64, np.float32):
        kw, g = cell_problem(case, dtype=dtype, seed=1)
        ref = CELL[mode][1](CELL[mode][0](**kw, backend="reference", return_cache=True)[1], **g)
        cpu = CELL[mode][1](CELL[mode][0](**kw, backend="cpu", return_cache=True)[1], **g)
        assert_grads_close(cpu, ref, CPU_TOL[dtype])


def test_cell_and_sequence_caches_do_not_mix():
    kw, g = cell_problem(CELL_CASES[0])
    _, cache = rec.lstm_cell(**kw, return_cache=True)
    with pytest.raises(ValueError, match="lstm_cell_backward"):
        rb.lstm_backward(cache, None, g["grad_h1"])
    with pytest.raises(ValueError, match="grad_h1"):
        rb.lstm_cell_backward(cache, g["grad_h1"][:1])
    with pytest.raises(ValueError, match="None"):
        rb.lstm_cell_backward(cache, None)
    skw, _ = problem(CASES[0])
    _, _, scache = rec.lstm(**skw, return_cache=True)
    with pytest.raises(ValueError, match="lstm_backward"):
        rb.lstm_cell_backward(scache, g["grad_h1"])


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("T, lengths", [(0, [0, 0]), (3, [0, 0]), (3, [])])
def test_empty_sequences(backend, T, lengths):
    # no step runs: the state gradients pass straight to h0 / c0, everything else is zero
    rng = np.random.default_rng(5)
    B = len(lengths)
    w = weights(rng, "lstm", 3, 4, layers=2, bidirectional=True, proj=2)
    x = rng.standard_normal((T, B, 3))
    out, (h_n, c_n), cache = rec.lstm(x, w, lengths=np.array(lengths, dtype=np.int64), backend=backend,
                                      return_cache=True)
    g_h, g_c = rng.standard_normal(h_n.shape), rng.standard_normal(c_n.shape)
    grads = rb.lstm_backward(cache, rng.standard_normal(out.shape), g_h, g_c)
    np.testing.assert_array_equal(grads["h0"], g_h)
    np.testing.assert_array_equal(grads["c0"], g_c)
    assert grads["x"].shape == x.shape and not np.any(grads["x"])
    for k in w:
        assert grads[k].shape == w[k].shape and not np.any(grads[k]), k
