"""Recurrent bench cases; PyTorch's ``nn.LSTM`` / ``nn.GRU`` (same weights, loaded through the
state_dict) are the peers, with a ``PackedSequence`` for ragged lengths.

Work is the floor's FLOP count ``2 * sum(lengths) * (I + H) * G * H`` per layer and direction (the
input and recurrent products; G = 4 gates for LSTM, 3 for GRU); the first case measures the
machine's sgemm rate (a large NumPy matmul) in the same run, so every GFLOP/s has its ceiling
beside it.  Every result is checked against the NumPy reference computed once in float64 on the
same float32 weights, torch's too: this is where the reference is shown to match torch.
"""
from __future__ import annotations

import numpy as np

import bagu_fast.recurrent as rec

from . import harness
from .harness import Case, installed, to_host

GATES = {"lstm": 4, "gru": 3}


def _weights(mode, I, H, layers, bidirectional, seed):
    """torch-initialised float32 weights as a NumPy state_dict (no torch needed)."""
    rng = np.random.default_rng(seed)
    k = 1 / np.sqrt(H)
    w = {}
    D = 2 if bidirectional else 1
    for layer in range(layers):
        for d in range(D):
            sfx = f"_l{layer}" + ("_reverse" if d else "")
            I_l = I if layer == 0 else D * H
            w["weight_ih" + sfx] = rng.uniform(-k, k, (GATES[mode] * H, I_l)).astype(np.float32)
            w["weight_hh" + sfx] = rng.uniform(-k, k, (GATES[mode] * H, H)).astype(np.float32)
            w["bias_ih" + sfx] = rng.uniform(-k, k, GATES[mode] * H).astype(np.float32)
            w["bias_hh" + sfx] = rng.uniform(-k, k, GATES[mode] * H).astype(np.float32)
    return w


def _setup(mode, T, B, I, H, layers=1, bidirectional=False, lengths=None, seed=0):
    def make():
        rng = np.random.default_rng(seed + 1)
        w = _weights(mode, I, H, layers, bidirectional, seed)
        x = rng.standard_normal((T, B, I), dtype=np.float32)
        # the expected result: the reference in float64 on the same (float32) weights
        w64 = {k: v.astype(np.float64) for k, v in w.items()}
        fn = rec.lstm if mode == "lstm" else rec.gru
        out, states = fn(x.astype(np.float64), w64, lengths=lengths, backend="reference")
        h_n = states[0] if mode == "lstm" else states
        return {"mode": mode, "w": w, "x": x, "lengths": lengths, "expected": (out, h_n)}

    return make


def _check(inputs, result):
    """``result`` is ``(output, h_n)`` (any library)."""
    out, h_n = (to_host(a) for a in result)
    exp_out, exp_h = inputs["expected"]
    assert out.shape == exp_out.shape, f"output shape {out.shape} != {exp_out.shape}"
    assert out.dtype == np.float32, f"dtype {out.dtype}"
    np.testing.assert_allclose(out, exp_out, rtol=1e-4, atol=2e-5)
    np.testing.assert_allclose(h_n, exp_h, rtol=1e-4, atol=2e-5)


def _ours(backend):
    def run(x):
        fn = rec.lstm if x["mode"] == "lstm" else rec.gru
        out, states = fn(x["x"], x["w"], lengths=x["lengths"], backend=backend)
        return out, (states[0] if x["mode"] == "lstm" else states)

    return run


def _ours_cuda(x):
    fn = rec.lstm if x["mode"] == "lstm" else rec.gru
    if harness.GPU:  # inputs already on the GPU: time the kernels, not the copies
        if "_device" not in x:
            from numba import cuda

            x["_device"] = (cuda.to_device(x["x"]), {k: cuda.to_device(v) for k, v in x["w"].items()})
        dx, dw = x["_device"]
        out, states = fn(dx, dw, lengths=x["lengths"], backend="cuda")
        harness.cuda_sync()
    else:
        out, states = fn(x["x"], x["w"], lengths=x["lengths"], backend="cuda")
    return out, (states[0] if x["mode"] == "lstm" else states)


def _torch_model(x, device="cpu"):
    import torch

    key = "_torch_" + device
    if key not in x:
        w = x["w"]
        layers = 1 + max(int(k.split("_l")[1].split("_")[0]) for k in w)
        bidir = any(k.endswith("_reverse") for k in w)
        H = w["weight_hh_l0"].shape[1]
        I = w["weight_ih_l0"].shape[1]
        cls = torch.nn.LSTM if x["mode"] == "lstm" else torch.nn.GRU
        m = cls(I, H, num_layers=layers, bidirectional=bidir)
        m.load_state_dict({k: torch.from_numpy(v) for k, v in w.items()})
        m = m.to(device).eval()
        xt = torch.from_numpy(x["x"]).to(device)
        lengths = None if x["lengths"] is None else torch.from_numpy(x["lengths"])
        x[key] = (m, xt, lengths)
    return x[key]


def _torch(device):
    def run(x):
        import torch

        m, xt, lengths = _torch_model(x, device)
        with torch.inference_mode():
            if lengths is None:
                out, states = m(xt)
            else:
                packed = torch.nn.utils.rnn.pack_padded_sequence(xt, lengths, enforce_sorted=False)
                out, states = m(packed)
                out, _ = torch.nn.utils.rnn.pad_packed_sequence(out, total_length=xt.shape[0])
            if device != "cpu":
                torch.cuda.synchronize()
        return out, (states[0] if x["mode"] == "lstm" else states)

    return run


def _runners(backends=("reference", "cpu", "cuda")):
    ours = {b: _ours(b) for b in backends if b != "cuda"}
    if "cuda" in backends:
        ours["cuda"] = _ours_cuda
    peers = {}
    if installed("torch"):
        peers["torch"] = _torch("cpu")
        if harness.GPU:
            peers["torch-cuda"] = _torch("cuda")
    return ours, peers


def _gflop(mode, lengths_sum, I, H, layers=1, D=1):
    total = 0.0
    for layer in range(layers):
        I_l = I if layer == 0 else D * H
        total += D * 2.0 * lengths_sum * (I_l + H) * GATES[mode] * H
    return total / 1e9


def _sgemm_case(quick):
    n = 2048 if quick else 4096

    def make():
        rng = np.random.default_rng(5)
        return {"a": rng.standard_normal((n, n), dtype=np.float32), "b": rng.standard_normal((n, n), dtype=np.float32)}

    def check(inputs, result):
        a, b = inputs["a"], inputs["b"]
        np.testing.assert_allclose(result[:4, :4], a[:4].astype(np.float64) @ b[:, :4], rtol=1e-3, atol=1e-2)

    return Case("recurrent", "sgemm peak (NumPy matmul: the floor)", f"{n}x{n}x{n} f32", make,
                {"cpu": lambda x: x["a"] @ x["b"]}, {}, check, work=2.0 * n ** 3 / 1e9, unit="GFLOP")


def cases(quick: bool) -> list[Case]:
    out = [_sgemm_case(quick)]
    T, B, I, H = (50, 32, 256, 512) if quick else (100, 64, 256, 512)
    for mode in ("lstm", "gru"):
        ours, peers = _runners()
        out.append(Case(
            "recurrent", f"{mode} throughput", f"T={T} B={B} I={I} H={H} f32",
            _setup(mode, T, B, I, H, seed=10 + len(mode)), ours, peers, _check,
            work=_gflop(mode, T * B, I, H), unit="GFLOP", slow=("reference",),
        ))
    T_lat = 300 if quick else 1000
    for mode in ("lstm", "gru"):
        ours, peers = _runners()
        out.append(Case(
            "recurrent", f"{mode} latency (B=1)", f"T={T_lat} B=1 I=H=256 f32",
            _setup(mode, T_lat, 1, 256, 256, seed=20 + len(mode)), ours, peers, _check,
            work=_gflop(mode, T_lat, 256, 256), unit="GFLOP", slow=("reference",),
        ))
    T_p, B_p, H_p = (100, 16, 256) if quick else (200, 32, 256)
    lo = 25 if quick else 50
    lengths = np.random.default_rng(31).integers(lo, T_p + 1, B_p)
    ours, peers = _runners()
    out.append(Case(
        "recurrent", "lstm packed 2-layer bidir", f"T={T_p} B={B_p} I=H={H_p} lengths {lo}..{T_p} f32",
        _setup("lstm", T_p, B_p, H_p, H_p, layers=2, bidirectional=True, lengths=lengths, seed=30), ours, peers,
        _check, work=_gflop("lstm", int(lengths.sum()), H_p, H_p, layers=2, D=2), unit="GFLOP", slow=("reference",),
    ))
    return out
