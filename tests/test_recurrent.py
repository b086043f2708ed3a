"""Recurrent family: the reference against hand-computed steps and structural properties, every
backend against the reference (random shapes, packed lengths, projection, 1-3 layers, both
directions), cells, device arrays, thread-count independence, extreme inputs, bad input.

Weights are drawn like torch's default initialisation (U(-1/sqrt(H), 1/sqrt(H))), so the
recurrences are well conditioned and float32 results can be held to a tight tolerance.
"""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import bagu_fast.recurrent as rec
from bagu_fast.kernels.reference import recurrent as ref_kernel
from .conftest import CUDA_SIM, sim_small
from .test_attention import check_wrong_argument, wrong_argument_cases, wrong_value

G = {"lstm": 4, "gru": 3, "rnn": 1}
LAYER = {"lstm": rec.lstm, "gru": rec.gru, "rnn": rec.rnn}
TOL = {np.dtype(np.float32): {"rtol": 1e-5, "atol": 1e-6}, np.dtype(np.float64): {"rtol": 1e-10, "atol": 1e-12}}


def weights(rng, mode, I, H, layers=1, bidirectional=False, proj=0, bias=True, dtype=np.float64, scale=1.0):
    """A torch-style state_dict (NumPy arrays)."""
    D = 2 if bidirectional else 1
    Hout = proj or H
    k = scale / math.sqrt(H)
    w = {}
    for layer in range(layers):
        for d in range(D):
            sfx = f"_l{layer}" + ("_reverse" if d else "")
            I_l = I if layer == 0 else D * Hout
            w["weight_ih" + sfx] = rng.uniform(-k, k, (G[mode] * H, I_l)).astype(dtype)
            w["weight_hh" + sfx] = rng.uniform(-k, k, (G[mode] * H, Hout)).astype(dtype)
            if bias:
                w["bias_ih" + sfx] = rng.uniform(-k, k, G[mode] * H).astype(dtype)
                w["bias_hh" + sfx] = rng.uniform(-k, k, G[mode] * H).astype(dtype)
            if proj:
                w["weight_hr" + sfx] = rng.uniform(-k, k, (proj, H)).astype(dtype)
    return w


def flat(result):
    """(out, h_n) or (out, (h_n, c_n)) -> list of host arrays."""
    out, states = result
    states = list(states) if isinstance(states, tuple) else [states]
    return [np.asarray(a.copy_to_host() if hasattr(a, "copy_to_host") else a) for a in [out] + states]


def assert_match(actual, expected, dtype):
    for a, e in zip(flat(actual), flat(expected)):
        assert a.dtype == e.dtype == dtype
        assert a.shape == e.shape, (a.shape, e.shape)
        np.testing.assert_allclose(a, e, **TOL[np.dtype(dtype)])


def sig(x):
    return 1.0 / (1.0 + math.exp(-x))


# ----------------------------------------------------------------------------------------------
# the reference against hand-computed steps and structure
# ----------------------------------------------------------------------------------------------
def test_reference_lstm_cell_by_hand():
    # H = 1, I = 1: every gate is a scalar, computed by the textbook formulas
    w_ih = np.array([[0.5], [-0.3], [0.8], [0.1]])
    w_hh = np.array([[0.2], [0.4], [-0.6], [0.7]])
    b_ih = np.array([0.1, 0.2, 0.3, 0.4])
    b_hh = np.array([-0.05, 0.0, 0.05, 0.1])
    x, h, c = 1.5, -0.4, 0.9
    pre = w_ih[:, 0] * x + w_hh[:, 0] * h + b_ih + b_hh
    i, f, g, o = sig(pre[0]), sig(pre[1]), math.tanh(pre[2]), sig(pre[3])
    c1 = f * c + i * g
    h1 = o * math.tanh(c1)
    got_h, got_c = rec.lstm_cell(np.array([x]), np.array([h]), np.array([c]), w_ih, w_hh, b_ih, b_hh, backend="reference")
    np.testing.assert_allclose(got_h, [h1], rtol=1e-14)
    np.testing.assert_allclose(got_c, [c1], rtol=1e-14)


def test_reference_gru_cell_by_hand():
    w_ih = np.array([[0.5], [-0.3], [0.8]])
    w_hh = np.array([[0.2], [0.4], [-0.6]])
    b_ih = np.array([0.1, 0.2, 0.3])
    b_hh = np.array([-0.05, 0.0, 0.25])
    x, h = 1.5, -0.4
    r = sig(0.5 * x + 0.1 + 0.2 * h - 0.05)
    z = sig(-0.3 * x + 0.2 + 0.4 * h + 0.0)
    n = math.tanh(0.8 * x + 0.3 + r * (-0.6 * h + 0.25))  # b_hn inside r * (...)
    h1 = (1 - z) * n + z * h
    got = rec.gru_cell(np.array([[x]]), np.array([[h]]), w_ih, w_hh, b_ih, b_hh, backend="reference")
    np.testing.assert_allclose(got, [[h1]], rtol=1e-14)


def test_reference_rnn_cells_by_hand(rng):
    x, h = rng.standard_normal((3, 4)), rng.standard_normal((3, 5))
    w_ih, w_hh, b = rng.standard_normal((5, 4)), rng.standard_normal((5, 5)), rng.standard_normal(5)
    pre = x @ w_ih.T + h @ w_hh.T + b
    np.testing.assert_allclose(rec.rnn_cell(x, h, w_ih, w_hh, b_ih=b, backend="reference"), np.tanh(pre), rtol=1e-13)
    relu = rec.rnn_cell(x, h, w_ih, w_hh, b_hh=b, nonlinearity="relu", backend="reference")
    np.testing.assert_allclose(relu, np.maximum(pre, 0), rtol=1e-13, atol=1e-15)


def test_reference_zero_weights_lstm_halves_the_cell():
    c = np.array([[2.0, -4.0]])
    h1, c1 = rec.lstm_cell(np.ones((1, 3)), None, c, np.zeros((8, 3)), np.zeros((8, 2)), backend="reference")
    np.testing.assert_allclose(c1, 0.5 * c)  # f = 0.5, i * g = 0
    np.testing.assert_allclose(h1, 0.5 * np.tanh(0.5 * c))


@pytest.mark.parametrize("mode", ["lstm", "gru", "rnn"])
def test_reference_sequence_is_repeated_cell(rng, mode):
    w = weights(rng, mode, 3, 4)
    x = rng.standard_normal((5, 2, 3))
    h = rng.standard_normal((2, 4))
    c = rng.standard_normal((2, 4))
    args = (w["weight_ih_l0"], w["weight_hh_l0"], w["bias_ih_l0"], w["bias_hh_l0"])
    outs = []
    hh, cc = h, c
    for t in range(5):
        if mode == "lstm":
            hh, cc = rec.lstm_cell(x[t], hh, cc, *args, backend="reference")
        else:
            hh = (rec.gru_cell if mode == "gru" else rec.rnn_cell)(x[t], hh, *args, backend="reference")
        outs.append(hh)
    if mode == "lstm":
        out, (h_n, c_n) = rec.lstm(x, w, h[None], c[None], backend="reference")
        np.testing.assert_allclose(c_n[0], cc, rtol=1e-13)
    else:
        out, h_n = LAYER[mode](x, w, h[None], backend="reference")
    np.testing.assert_allclose(out, np.stack(outs), rtol=1e-13)
    np.testing.assert_allclose(h_n[0], hh, rtol=1e-13)


@pytest.mark.parametrize("mode", ["lstm", "gru"])
def test_reference_packed_equals_each_sequence_alone(rng, mode):
    """Ragged lengths in any order == each sequence run alone on its own prefix (both directions,
    two layers): the reverse direction starts at each sequence's own end."""
    w = weights(rng, mode, 3, 4, layers=2, bidirectional=True, proj=2 if mode == "lstm" else 0)
    lengths = np.array([4, 7, 1, 0, 7])
    x = rng.standard_normal((7, 5, 3))
    fn = LAYER[mode]
    res = flat(fn(x, w, lengths=lengths, backend="reference"))
    for b, n in enumerate(lengths):
        assert np.all(res[0][n:, b] == 0)
        if n == 0:
            for s in res[1:]:
                assert np.all(s[:, b] == 0)  # zero initial state kept
            continue
        alone = flat(fn(x[:n, b:b + 1], w, backend="reference"))
        np.testing.assert_allclose(res[0][:n, b:b + 1], alone[0], rtol=1e-13, atol=1e-15)
        for s, a in zip(res[1:], alone[1:]):
            np.testing.assert_allclose(s[:, b:b + 1], a, rtol=1e-13, atol=1e-15)


def test_reference_reverse_direction_is_forward_on_flipped_input(rng):
    w = weights(rng, "gru", 3, 4, bidirectional=True)
    x = rng.standard_normal((6, 2, 3))
    out, h_n = rec.gru(x, w, backend="reference")
    rev = {k.replace("_reverse", ""): v for k, v in w.items() if k.endswith("_reverse")}
    out_r, h_r = rec.gru(x[::-1], rev, backend="reference")
    np.testing.assert_allclose(out[:, :, 4:], out_r[::-1], rtol=1e-13)
    np.testing.assert_allclose(h_n[1], h_r[0], rtol=1e-13)


def test_reference_layers_compose(rng):
    w = weights(rng, "lstm", 3, 4, layers=2)
    x = rng.standard_normal((5, 2, 3))
    out, (h_n, c_n) = rec.lstm(x, w, backend="reference")
    w0 = {k: v for k, v in w.items() if k.endswith("_l0")}
    w1 = {k.replace("_l1", "_l0"): v for k, v in w.items() if k.endswith("_l1")}
    mid, (h0, c0) = rec.lstm(x, w0, backend="reference")
    top, (h1, c1) = rec.lstm(mid, w1, backend="reference")
    np.testing.assert_allclose(out, top, rtol=1e-13)
    np.testing.assert_allclose(h_n, np.concatenate([h0, h1]), rtol=1e-13)
    np.testing.assert_allclose(c_n, np.concatenate([c0, c1]), rtol=1e-13)


def test_reference_projection_by_hand(rng):
    w = weights(rng, "lstm", 3, 5, proj=2)
    x = rng.standard_normal((3, 1, 3))
    out, (h_n, c_n) = rec.lstm(x, w, backend="reference")
    h, c = np.zeros(2), np.zeros(5)
    for t in range(3):
        pre = w["weight_ih_l0"] @ x[t, 0] + w["bias_ih_l0"] + w["weight_hh_l0"] @ h + w["bias_hh_l0"]
        i, f, g, o = (1 / (1 + np.exp(-pre[:5])), 1 / (1 + np.exp(-pre[5:10])), np.tanh(pre[10:15]),
                      1 / (1 + np.exp(-pre[15:])))
        c = f * c + i * g
        h = w["weight_hr_l0"] @ (o * np.tanh(c))
        np.testing.assert_allclose(out[t, 0], h, rtol=1e-13)
    np.testing.assert_allclose(c_n[0, 0], c, rtol=1e-13)


COUNTS = {"lstm": rec.lstm_param_count, "gru": rec.gru_param_count, "rnn": rec.rnn_param_count}


@pytest.mark.parametrize("mode,layers,bidirectional,proj,bias", [
    (m, *cfg) for m in COUNTS for cfg in [(1, False, 0, True), (3, True, 0, True), (2, False, 0, False)]
] + [("lstm", 2, True, 3, True)])
def test_param_count_equals_weights_size(rng, mode, layers, bidirectional, proj, bias):
    fn = COUNTS[mode]
    w = weights(rng, mode, 7, 5, layers, bidirectional, proj, bias)
    kw = {"proj_size": proj} if mode == "lstm" else {}
    assert fn(7, 5, num_layers=layers, bidirectional=bidirectional, bias=bias, **kw) == sum(a.size for a in w.values())


def test_param_count_textbook_relation():
    I, H = 10, 20
    assert rec.lstm_param_count(I, H) == ((I + H) * H + H) * 4 + 4 * H
    assert rec.lstm_param_count(I, H, bias=False) == (I + H) * H * 4
    with pytest.raises(ValueError, match="proj_size"):
        rec.lstm_param_count(I, H, proj_size=H)
    with pytest.raises(TypeError, match="num_layers"):
        rec.gru_param_count(I, H, num_layers=1.5)
    with pytest.raises(ValueError, match="hidden_size"):
        rec.rnn_param_count(I, 0)


def test_reference_sigmoid_never_overflows():
    x = np.array([-1e308, -800.0, -30.0, 0.0, 30.0, 800.0, 1e308, np.nan])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        s = ref_kernel.sigmoid(x)
        s32 = ref_kernel.sigmoid(np.float32([-1e30, 100, 0]))
    np.testing.assert_allclose(s[:-1], [0, 0, 1 / (1 + math.exp(30)), 0.5, 1 / (1 + math.exp(-30)), 1, 1], rtol=1e-15)
    assert np.isnan(s[-1])
    assert s32.dtype == np.float32 and s32[0] == 0 and s32[1] == 1 and s32[2] == 0.5


@pytest.mark.parametrize("dt", [np.float32, np.float64])
def test_microkernel_products_and_packing(rng, dt):
    """The shared CPU micro-kernel on every tile remainder (rows 1..17), odd K, a short last panel,
    overwrite and accumulate, strided A / C rows; and the one-pass packer's row selection, zero
    padding and bias row (shapes the recurrent layers use)."""
    from bagu_fast.kernels.cpu._microkernel import PANEL_WIDTH, pack_panel_rows, pack_panels, packed_matmul

    pw = PANEL_WIDTH[np.dtype(dt)]
    tol = dict(rtol=1e-5, atol=1e-5) if dt == np.float32 else dict(rtol=1e-12, atol=1e-12)
    for n, K, N in [(1, 1, 1), (3, 7, 33), (8, 65, 64), (17, 129, 70), (12, 257, 2 * pw + 5)]:
        a_full = rng.standard_normal((n, K + 3)).astype(dt)
        a = a_full[:, :K]  # rows with a stride longer than K
        w = rng.standard_normal((N, K)).astype(dt)
        wp = pack_panels(w)
        n_cols = wp.shape[0] * pw
        c = np.full((n, n_cols + 2), np.nan, dtype=dt)[:, :n_cols]
        packed_matmul(a, wp, c)
        np.testing.assert_allclose(c[:, :N], a @ w.T, **tol)
        np.testing.assert_array_equal(c[:, N:], 0)  # padding columns: products with zero weights
        base = rng.standard_normal((n, n_cols)).astype(dt)
        acc = base.copy()
        packed_matmul(a, wp, acc, True)
        np.testing.assert_allclose(acc[:, :N], base[:, :N] + a @ w.T, **tol)
        np.testing.assert_array_equal(acc[:, N:], base[:, N:])
    # pack_panel_rows: rows picked in any order, -1 -> zero column, an extra (bias) row at k = K
    K = 19
    w = rng.standard_normal((50, K)).astype(dt)
    extra = rng.standard_normal(50).astype(dt)
    rows = rng.permutation(np.concatenate([np.arange(pw + 5), -np.ones(pw - 5, dtype=np.int64)])).astype(np.int64)
    out = np.full((2, K + 1, pw), np.nan, dtype=dt)
    pack_panel_rows(w, rows, extra, out)
    picked = np.where(rows[:, None] >= 0, w[np.maximum(rows, 0)], 0).astype(dt)
    np.testing.assert_array_equal(out[:, :K], pack_panels(picked))
    np.testing.assert_array_equal(out[:, K].reshape(-1), np.where(rows >= 0, extra[np.maximum(rows, 0)], 0))
    no_extra = np.full((2, K, pw), np.nan, dtype=dt)
    pack_panel_rows(w, rows, np.zeros(0, dtype=dt), no_extra)
    np.testing.assert_array_equal(no_extra, out[:, :K])


def test_exact_sigmoid_tanh_approximations():
    from bagu_fast.kernels.cpu import recurrent as cpu

    x64 = np.concatenate([np.linspace(-40, 40, 20001), [-1e300, 1e300, -0.0, 0.0, 1e-300, -750, 750]])
    for dt, rtol in ((np.float64, 1e-15), (np.float32, 5e-7)):  # a few ulp
        with np.errstate(over="ignore"):
            x = x64.astype(dt)  # +-1e300 -> +-inf in float32
        with np.errstate(over="ignore"):
            exact_sig = 1 / (1 + np.exp(-x.astype(np.float64)))
        out = np.empty_like(x)
        cpu.sigmoid_array(x, out)
        tiny = exact_sig < np.finfo(dt).tiny  # results below the normal range may flush to 0
        np.testing.assert_allclose(out[~tiny], exact_sig[~tiny], rtol=rtol)
        assert np.all(out[tiny] <= np.finfo(dt).tiny)
        cpu.tanh_array(x, out)
        np.testing.assert_allclose(out, np.tanh(x.astype(np.float64)), rtol=rtol, atol=0)
        special = np.array([np.nan, np.inf, -np.inf], dt)
        s, t = np.empty_like(special), np.empty_like(special)
        cpu.sigmoid_array(special, s)
        cpu.tanh_array(special, t)
        np.testing.assert_array_equal(s, [np.nan, 1, 0])
        np.testing.assert_array_equal(t, [np.nan, 1, -1])


# ----------------------------------------------------------------------------------------------
# every backend against the reference
# ----------------------------------------------------------------------------------------------
# (mode, T, B, I, H, layers, bidirectional, proj, lengths or None, batch_first, bias)
CPU_CASES = [
    ("lstm", 9, 5, 3, 70, 2, True, 0, [9, 2, 0, 5, 9], False, True),
    ("lstm", 6, 4, 5, 9, 3, True, 4, [1, 6, 3, 3], True, True),
    ("lstm", 1, 1, 1, 1, 1, False, 0, None, False, True),
    ("lstm", 12, 1, 7, 130, 1, False, 0, None, False, False),  # B = 1: hand-written product
    ("lstm", 4, 9, 4, 66, 1, True, 33, [4, 1, 2, 3, 4, 4, 2, 1, 3], False, True),
    ("gru", 8, 6, 4, 65, 2, True, 0, [1, 8, 3, 3, 7, 2], False, True),
    ("gru", 5, 1, 3, 1, 3, False, 0, None, True, True),
    ("gru", 7, 7, 6, 5, 1, False, 0, [7, 6, 5, 4, 3, 2, 1], False, False),
    ("rnn", 7, 5, 3, 64, 2, True, 0, [2, 7, 0, 7, 5], False, True),
    ("rnn_relu", 6, 3, 8, 3, 1, False, 0, None, True, True),
    # one direction, >= 8 rows: two row groups (in parallel when there is enough work)
    ("lstm", 10, 12, 6, 130, 1, False, 0, [10, 3, 7, 1, 10, 9, 2, 8, 5, 10, 4, 6], False, True),
    ("gru", 5, 9, 3, 7, 1, False, 0, [5, 1, 4, 2, 5, 3, 0, 5, 2], True, True),
    ("lstm", 4, 8, 3, 20, 2, False, 6, None, False, True),
]
# the simulator runs every thread in Python: tiny shapes, still several 8 x 8 tiles
CUDA_CASES = [
    ("lstm", 3, 3, 2, 9, 2, True, 0, [3, 1, 0], True, True),
    ("lstm", 2, 2, 3, 5, 1, True, 2, [1, 2], False, True),
    ("gru", 3, 9, 2, 3, 1, True, 0, [3, 1, 2, 3, 2, 1, 3, 3, 2], False, False),
    ("rnn", 2, 2, 3, 2, 2, False, 0, None, False, True),
    ("rnn_relu", 2, 1, 1, 1, 1, False, 0, None, False, True),
]


def _run_case(backend, case, dtype, rng):
    mode, T, B, I, H, L, bidir, proj, lengths, bf, bias = case
    base = "rnn" if mode.startswith("rnn") else mode
    kw = {"nonlinearity": "relu"} if mode == "rnn_relu" else {}
    w = weights(rng, base, I, H, L, bidir, proj, bias, dtype)
    D, Hout = (2 if bidir else 1), proj or H
    x = rng.standard_normal((B, T, I) if bf else (T, B, I)).astype(dtype)
    h0 = (rng.standard_normal((L * D, B, Hout)) * 0.5).astype(dtype)
    states = [h0] + ([(rng.standard_normal((L * D, B, H)) * 0.5).astype(dtype)] if base == "lstm" else [])
    copies = [x.copy()] + [a.copy() for a in states] + [a.copy() for a in w.values()]
    fn = LAYER[base]
    expected = fn(x, w, *states, batch_first=bf, lengths=lengths, backend="reference", **kw)
    got = fn(x, w, *states, batch_first=bf, lengths=lengths, backend=backend, **kw)
    assert_match(got, expected, dtype)
    for before, after in zip(copies, [x] + states + list(w.values()), strict=True):
        np.testing.assert_array_equal(before, after)  # inputs untouched


@pytest.mark.parametrize("case", CPU_CASES, ids=lambda c: "-".join(map(str, c[:8])))
def test_cpu_matches_reference(rng, case, dtype):
    _run_case("cpu", case, dtype, rng)


@pytest.mark.parametrize("case", CUDA_CASES, ids=lambda c: "-".join(map(str, c[:8])))
def test_cuda_matches_reference(rng, case, dtype):
    _run_case("cuda", case, dtype, rng)


@settings(max_examples=30, deadline=None)
@given(
    mode=st.sampled_from(["lstm", "gru", "rnn_tanh", "rnn_relu"]),
    T=st.integers(0, 6), B=st.integers(0, 10), I=st.integers(1, 5), H=st.integers(1, 9),
    layers=st.integers(1, 3), bidirectional=st.booleans(), proj=st.integers(0, 3), batch_first=st.booleans(),
    ragged=st.booleans(), f32=st.booleans(), seed=st.integers(0, 2 ** 32 - 1),
)
def test_cpu_matches_reference_on_random_shapes(mode, T, B, I, H, layers, bidirectional, proj, batch_first,
                                                ragged, f32, seed):
    rng = np.random.default_rng(seed)
    proj = proj if mode == "lstm" and proj < H else 0
    lengths = list(rng.integers(0, T + 1, B)) if ragged else None
    case = (mode, T, B, I, H, layers, bidirectional, proj, lengths, batch_first, bool(rng.integers(2)))
    _run_case("cpu", case, np.dtype(np.float32 if f32 else np.float64), rng)


@pytest.mark.parametrize("mode", ["lstm", "gru", "rnn"])
def test_cells_match_reference(rng, fast_backend, dtype, mode):
    B, I, H = sim_small(6, 3), 5, sim_small(37, 5)
    w = weights(rng, mode, I, H, dtype=dtype)
    args = (w["weight_ih_l0"], w["weight_hh_l0"], w["bias_ih_l0"], w["bias_hh_l0"])
    for batched in (True, False):
        x = rng.standard_normal((B, I) if batched else I).astype(dtype)
        h = rng.standard_normal((B, H) if batched else H).astype(dtype)
        c = rng.standard_normal((B, H) if batched else H).astype(dtype)
        if mode == "lstm":
            exp = rec.lstm_cell(x, h, c, *args, backend="reference")
            got = rec.lstm_cell(x, h, c, *args, backend=fast_backend)
        elif mode == "gru":
            exp = (rec.gru_cell(x, h, *args, backend="reference"),)
            got = (rec.gru_cell(x, h, *args, backend=fast_backend),)
        else:
            exp = (rec.rnn_cell(x, h, *args, nonlinearity="relu", backend="reference"),)
            got = (rec.rnn_cell(x, h, *args, nonlinearity="relu", backend=fast_backend),)
        for g, e in zip(got, exp):
            assert g.shape == e.shape == h.shape and g.dtype == dtype
            np.testing.assert_allclose(g, e, **TOL[np.dtype(dtype)])


@pytest.mark.parametrize("backend", ["reference", "cpu", "cuda"])
def test_unbatched_and_empty(rng, backend):
    w = weights(rng, "lstm", 3, 4, layers=2, bidirectional=True)
    x = rng.standard_normal((4, 3))
    out, (h_n, c_n) = rec.lstm(x, w, backend=backend)
    bout, (bh, bc) = rec.lstm(x[:, None], w, backend="reference")
    assert out.shape == (4, 8) and h_n.shape == (4, 4) and c_n.shape == (4, 4)
    np.testing.assert_allclose(out, bout[:, 0], rtol=1e-10)
    np.testing.assert_allclose(h_n, bh[:, 0], rtol=1e-10)
    h0 = rng.standard_normal((4, 2, 4))
    out, h_n = rec.gru(np.zeros((0, 2, 3)), weights(rng, "gru", 3, 4, layers=2, bidirectional=True), h0, backend=backend)
    assert out.shape == (0, 2, 8)
    np.testing.assert_array_equal(h_n, h0)  # T = 0: the initial state
    out, h_n = rec.rnn(np.zeros((3, 0, 3)), weights(rng, "rnn", 3, 4), backend=backend)
    assert out.shape == (3, 0, 4) and h_n.shape == (1, 0, 4)


def test_cuda_device_arrays_stay_on_device(rng):
    from numba import cuda

    w = weights(rng, "gru", 3, 4, bidirectional=True, dtype=np.float32)
    x = rng.standard_normal((3, 2, 3)).astype(np.float32)
    dx = cuda.to_device(x)
    dw = {k: cuda.to_device(v) for k, v in w.items()}
    exp = rec.gru(x, w, lengths=[3, 2], backend="reference")
    if CUDA_SIM:  # simulator arrays have no __cuda_array_interface__: "auto" cannot see them
        out, h_n = rec.gru(dx, dw, lengths=[3, 2], backend="cuda")
    else:
        out, h_n = rec.gru(dx, dw, lengths=[3, 2])  # "auto" -> cuda, results stay on the device
        assert hasattr(out, "__cuda_array_interface__") and hasattr(h_n, "__cuda_array_interface__")
        with pytest.raises(ValueError, match="GPU"):
            rec.gru(dx, dw, backend="cpu")
    host = [a.copy_to_host() if hasattr(a, "copy_to_host") else np.asarray(a) for a in (out, h_n)]
    np.testing.assert_allclose(host[0], exp[0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(host[1], exp[1], rtol=1e-5, atol=1e-6)
    h1 = rec.rnn_cell(cuda.to_device(x[0]), None, cuda.to_device(w["weight_ih_l0"][:4]),
                      cuda.to_device(w["weight_hh_l0"][:4]), backend="cuda")
    h1 = h1.copy_to_host() if hasattr(h1, "copy_to_host") else np.asarray(h1)
    np.testing.assert_allclose(h1, np.tanh(x[0] @ w["weight_ih_l0"][:4].T), rtol=1e-5, atol=1e-6)


def _on_one_and_all_threads(run):
    """``(run() on 1 Numba thread, run() on all of them)``, the thread count restored after."""
    import numba

    saved = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = run()
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
        return one, run()
    finally:
        numba.set_num_threads(saved)


@pytest.mark.parametrize("bidirectional", [True, False])
def test_cpu_independent_of_thread_count(rng, bidirectional):
    w = weights(rng, "lstm", 8, 70, layers=2, bidirectional=bidirectional, dtype=np.float32)
    x = rng.standard_normal((6, 9, 8)).astype(np.float32)
    lengths = [6, 1, 3, 5, 6, 2, 4, 6, 1]
    one, many = _on_one_and_all_threads(lambda: flat(rec.lstm(x, w, lengths=lengths, backend="cpu")))
    for a, b in zip(one, many):
        np.testing.assert_array_equal(a, b)


def test_cpu_more_workers_than_threads_cannot_deadlock(rng, monkeypatch):
    """The time loop's workers wait for each other; with one thread running all of them in turn
    they must still finish (and give the same result as one worker)."""
    from bagu_fast.kernels.cpu import recurrent as cpu

    w = weights(rng, "lstm", 8, 70, layers=2, bidirectional=True, proj=5, dtype=np.float32)
    x = rng.standard_normal((6, 40, 8)).astype(np.float32)
    lengths = rng.integers(0, 7, 40)
    monkeypatch.setattr(cpu, "PARALLEL_MACS", 0)
    monkeypatch.setattr(cpu, "_workers", lambda: 1)
    one = flat(rec.lstm(x, w, lengths=lengths, backend="cpu"))
    monkeypatch.setattr(cpu, "_workers", lambda: 5)
    serial, wide = _on_one_and_all_threads(lambda: flat(rec.lstm(x, w, lengths=lengths, backend="cpu")))
    for a, b, c in zip(one, serial, wide):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, c)


def test_cpu_threads_calling_at_once(rng):
    from concurrent.futures import ThreadPoolExecutor

    w = weights(rng, "gru", 4, 130, dtype=np.float32)
    # small problems run on the calling thread, large ones (10 x 12 rows) in a parallel region
    xs = [rng.standard_normal((5, 3, 4) if i % 2 else (10, 12, 4)).astype(np.float32) for i in range(6)]
    expected = [rec.gru(x, w, backend="cpu")[0] for x in xs]
    with ThreadPoolExecutor(3) as ex:
        got = list(ex.map(lambda x: rec.gru(x, w, backend="cpu")[0], xs))
    for g, e in zip(got, expected):
        np.testing.assert_array_equal(g, e)


@pytest.mark.parametrize("backend", ["reference", "cpu", "cuda"])
def test_huge_inputs_saturate_without_warnings_and_nan_propagates(rng, backend):
    w = weights(rng, "lstm", 3, 4, dtype=np.float32)
    x = np.array([[[1e4, -1e4, 3e4]], [[-1e30, 1e30, 0]]], dtype=np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out, (h_n, c_n) = rec.lstm(x, w, backend=backend)
    assert np.all(np.isfinite(out)) and np.all(np.abs(out) <= 1)
    exp = rec.lstm(x, w, backend="reference")
    np.testing.assert_allclose(out, exp[0], rtol=1e-5, atol=1e-6)
    w["weight_hh_l0"][2, 1] = np.nan  # NaN in the weights is allowed and propagates
    gw = weights(rng, "gru", 3, 4, dtype=np.float32)
    gw["weight_hh_l0"][:] = np.nan
    out, h_n = rec.gru(x, gw, backend=backend)
    assert np.isnan(out).all() and np.isnan(h_n).all()  # NaN * h0 (= 0) is NaN already at step 0
    out, _ = rec.lstm(x, w, backend=backend)
    exp, _ = rec.lstm(x, w, backend="reference")
    np.testing.assert_array_equal(np.isnan(out), np.isnan(exp))
    assert np.isnan(out[1]).any()


# ----------------------------------------------------------------------------------------------
# bad input
# ----------------------------------------------------------------------------------------------
def _bad(rng):
    return weights(rng, "lstm", 3, 4, layers=2, bidirectional=True), rng.standard_normal((5, 2, 3))


@pytest.mark.parametrize("mutate,exc,match", [
    (lambda w: w.pop("weight_hh_l1"), ValueError, "missing the key 'weight_hh_l1'"),
    (lambda w: w.pop("bias_ih_l1_reverse"), ValueError, "missing the key 'bias_ih_l1_reverse'"),
    (lambda w: w.update(foo=np.zeros(3)), ValueError, "unexpected key 'foo'"),
    (lambda w: w.update(weight_ih_l3=np.zeros((16, 8))), ValueError, "missing the key"),
    (lambda w: w.update(weight_hr_l1=np.zeros((2, 4))), ValueError, "weight_hr_l1"),
    (lambda w: w.update(weight_ih_l1=np.zeros((16, 7))), ValueError, "weight_ih_l1"),
    (lambda w: w.update(bias_hh_l0=np.zeros(15)), ValueError, "bias_hh_l0"),
    (lambda w: w.update(weight_hh_l0=np.zeros((15, 4))), ValueError, "weight_hh_l0"),
    (lambda w: w.update(weight_hh_l0_reverse=np.zeros((16, 4), np.float32)), TypeError, "weight_hh_l0_reverse"),
    (lambda w: w.update(weight_ih_l0=np.zeros((16, 3), np.int64)), TypeError, "weight_ih_l0"),
])
def test_bad_weights(rng, mutate, exc, match):
    w, x = _bad(rng)
    mutate(w)
    with pytest.raises(exc, match=match):
        rec.lstm(x, w)


def test_bad_weights_kinds(rng):
    w, x = _bad(rng)
    with pytest.raises(TypeError, match="weights must be a mapping"):
        rec.lstm(x, list(w.values()))
    with pytest.raises(ValueError, match="weight_ih_l0"):
        rec.lstm(x, {})
    gw = weights(rng, "gru", 3, 4)
    with pytest.raises(ValueError, match="weight_hh_l0"):
        rec.lstm(x, gw)  # GRU weights (3 gates) given to an LSTM
    with pytest.raises(ValueError, match="only an LSTM"):
        rec.gru(x, gw | {"weight_hr_l0": np.zeros((2, 4))})
    pw = weights(rng, "lstm", 3, 4, proj=2)
    pw["weight_hr_l0"] = np.zeros((2, 5))
    with pytest.raises(ValueError, match="weight_hr_l0"):
        rec.lstm(x, pw)


def test_bad_inputs_and_states(rng):
    w, x = _bad(rng)
    with pytest.raises(ValueError, match="input size"):
        rec.lstm(rng.standard_normal((5, 2, 4)), w)
    with pytest.raises(ValueError, match="x must have shape"):
        rec.lstm(rng.standard_normal((5, 2, 3, 1)), w)
    with pytest.raises(TypeError, match="x"):
        rec.lstm(x.astype(np.float32), w)
    with pytest.raises(TypeError, match="x must be float32 or float64"):
        rec.lstm(x.astype(np.int64), w)
    with pytest.raises(ValueError, match="h0 must have shape"):
        rec.lstm(x, w, np.zeros((4, 3, 4)))
    with pytest.raises(ValueError, match="c0 must have shape"):
        rec.lstm(x, w, None, np.zeros((2, 2, 4)))
    with pytest.raises(TypeError, match="c0"):
        rec.lstm(x, w, None, np.zeros((4, 2, 4), np.float32))
    with pytest.raises(ValueError, match="lengths must lie in"):
        rec.lstm(x, w, lengths=[6, 2])
    with pytest.raises(ValueError, match="lengths must lie in"):
        rec.lstm(x, w, lengths=[-1, 2])
    with pytest.raises(ValueError, match="lengths must have shape"):
        rec.lstm(x, w, lengths=[5, 2, 1])
    with pytest.raises(TypeError, match="lengths must hold integers"):
        rec.lstm(x, w, lengths=[5.0, 2.0])
    with pytest.raises(ValueError, match="lengths needs a batched x"):
        rec.lstm(x[:, 0], w, lengths=[5])
    with pytest.raises(ValueError, match="nonlinearity"):
        rec.rnn(x, weights(rng, "rnn", 3, 4), nonlinearity="sigmoid")
    with pytest.raises(TypeError, match="batch_first"):
        rec.lstm(x, w, batch_first=1)
    with pytest.raises(ValueError, match="backend"):
        rec.lstm(x, w, backend="gpu")


def _cell_args(mode):
    def make():
        r = np.random.default_rng(3)
        g = G[mode]
        kw = dict(x=r.standard_normal((2, 3)), h=r.standard_normal((2, 4)), c=r.standard_normal((2, 4)),
                  w_ih=r.standard_normal((g * 4, 3)), w_hh=r.standard_normal((g * 4, 4)),
                  b_ih=r.standard_normal(g * 4), b_hh=r.standard_normal(g * 4), backend="cpu", return_cache=False)
        if mode != "lstm":
            del kw["c"]
        if mode == "rnn":
            kw["nonlinearity"] = "relu"
        return kw

    return make


def _layer_args(mode):
    def make():
        r = np.random.default_rng(4)
        kw = dict(x=r.standard_normal((2, 4, 3)), weights=weights(r, mode, 3, 4), h0=r.standard_normal((1, 2, 4)),
                  batch_first=True, lengths=np.array([4, 2]), backend="cpu", return_cache=False)
        if mode == "lstm":
            kw["c0"] = r.standard_normal((1, 2, 4))
        if mode == "rnn":
            kw["nonlinearity"] = "tanh"
        return kw

    return make


def _count_args(mode):
    def make():
        kw = dict(input_size=3, hidden_size=4, num_layers=2, bidirectional=True, bias=True)
        if mode == "lstm":
            kw["proj_size"] = 2
        return kw

    return make


RECURRENT_API = {}
for _mode in ("lstm", "gru", "rnn"):
    RECURRENT_API[f"{_mode}_cell"] = (getattr(rec, f"{_mode}_cell"), _cell_args(_mode), {"h", "c", "b_ih", "b_hh"})
    RECURRENT_API[_mode] = (LAYER[_mode], _layer_args(_mode), {"h0", "c0", "lengths"})
    RECURRENT_API[f"{_mode}_param_count"] = (getattr(rec, f"{_mode}_param_count"), _count_args(_mode), set())


def test_recurrent_api_table_is_complete():
    import inspect

    assert set(RECURRENT_API) == set(rec.__all__)
    for name, (fn, make, _) in RECURRENT_API.items():
        assert set(make()) == set(inspect.signature(fn).parameters), name


@pytest.mark.parametrize("fname, arg, kind", wrong_argument_cases(RECURRENT_API))
def test_recurrent_wrong_argument_types(fname, arg, kind):
    check_wrong_argument(RECURRENT_API, fname, arg, kind)


@pytest.mark.parametrize("mode", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("kind", ["None", "str", "mixed list", "int64"])
def test_wrong_types_inside_weights(mode, kind):
    kwargs = _layer_args(mode)()
    kwargs["weights"] = dict(kwargs["weights"])
    kwargs["weights"]["weight_hh_l0"] = wrong_value(kwargs["weights"]["weight_hh_l0"], kind)
    with pytest.raises((TypeError, ValueError), match="weight_hh_l0"):
        LAYER[mode](**kwargs)


def test_bad_cells(rng):
    x, h = rng.standard_normal((2, 3)), rng.standard_normal((2, 4))
    w_ih, w_hh = rng.standard_normal((16, 3)), rng.standard_normal((16, 4))
    with pytest.raises(ValueError, match="w_hh"):
        rec.lstm_cell(x, h, h, w_ih, w_hh[:12])
    with pytest.raises(ValueError, match="w_ih"):
        rec.lstm_cell(x, h, h, w_ih[:, :2], w_hh)
    with pytest.raises(ValueError, match="b_ih"):
        rec.lstm_cell(x, h, h, w_ih, w_hh, np.zeros(15))
    with pytest.raises(ValueError, match="c must have shape"):
        rec.lstm_cell(x, h, h[:1], w_ih, w_hh)
    with pytest.raises(ValueError, match="h must have shape"):
        rec.gru_cell(x, h[:, :3], w_ih[:12], w_hh[:12])
    with pytest.raises(ValueError, match="x must have shape"):
        rec.gru_cell(x[None], h, w_ih[:12], w_hh[:12])
    with pytest.raises(TypeError, match="h"):
        rec.gru_cell(x, h.astype(np.float32), w_ih[:12], w_hh[:12])
    with pytest.raises(ValueError, match="nonlinearity"):
        rec.rnn_cell(x, h, w_ih[:4], w_hh[:4], nonlinearity="gelu")
    with pytest.raises(TypeError, match="x must be array-like"):
        rec.rnn_cell([[1.0], [1.0, 2.0]], None, w_ih[:4], w_hh[:4])
