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

BACKENDS = ("reference",)
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
