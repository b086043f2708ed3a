"""Recurrent training-step cases: forward with a cache plus backpropagation through time, against
torch 2.13's autograd through ``nn.LSTM`` / ``nn.GRU`` (forward + ``backward``) on the same weights.

Work is the forward's ``2·T·B·(I + H)·G·H`` FLOPs times 3 (the backward has twice the forward's
products); the floor is the sgemm rate printed by the run.  Every runner's gradients are checked
against the float64 reference BPTT.
"""
from __future__ import annotations

import numpy as np

import bagu_fast as bf

from .cases_recurrent import GATES, _weights
from .harness import Case, installed

_FORWARD = {"lstm": bf.lstm, "gru": bf.gru}
_BACKWARD = {"lstm": bf.lstm_backward, "gru": bf.gru_backward}


def _setup(mode, T, B, I, H, seed):
    def make():
        rng = np.random.default_rng(seed)
        w = _weights(mode, I, H, 1, False, seed)
        x = rng.standard_normal((T, B, I), dtype=np.float32)
        grad = rng.standard_normal((T, B, H), dtype=np.float32)
        w64 = {k: v.astype(np.float64) for k, v in w.items()}
        _, _, cache = _FORWARD[mode](x.astype(np.float64), w64, return_cache=True, backend="reference")
        expected = _BACKWARD[mode](cache, grad.astype(np.float64))
        return {"mode": mode, "w": w, "x": x, "grad": grad, "expected": expected}

    return make


def _check(inputs, result):
    for name in ("x", "weight_ih_l0", "weight_hh_l0", "bias_hh_l0"):
        got, exp = np.asarray(result[name], dtype=np.float64), inputs["expected"][name]
        assert got.shape == exp.shape, f"{name}: shape {got.shape} != {exp.shape}"
        np.testing.assert_allclose(got, exp, rtol=1e-3, atol=1e-4 * float(np.abs(exp).max()), err_msg=name)


def _ours(backend):
    def run(inputs):
        mode = inputs["mode"]
        _, _, cache = _FORWARD[mode](inputs["x"], inputs["w"], return_cache=True, backend=backend)
        return _BACKWARD[mode](cache, inputs["grad"])

    return run


def _torch(inputs):
    import torch

    if "_torch" not in inputs:
        w = inputs["w"]
        I, H = w["weight_ih_l0"].shape[1], w["weight_hh_l0"].shape[1]
        cls = torch.nn.LSTM if inputs["mode"] == "lstm" else torch.nn.GRU
        m = cls(I, H)
        m.load_state_dict({k: torch.from_numpy(v) for k, v in w.items()})
        inputs["_torch"] = (m, torch.from_numpy(inputs["x"]), torch.from_numpy(inputs["grad"]))
    m, x, grad = inputs["_torch"]
    m.zero_grad()
    x = x.clone().requires_grad_()
    out, _ = m(x)
    out.backward(grad)
    grads = {name: p.grad.numpy() for name, p in m.named_parameters()}
    grads["x"] = x.grad.numpy()
    return grads


def cases(quick: bool) -> list[Case]:
    T, B, I, H = (50, 32, 256, 512) if quick else (100, 64, 256, 512)
    out = []
    for mode in ("lstm", "gru"):
        peers = {"torch": _torch} if installed("torch") else {}
        out.append(Case(
            "recurrent", f"{mode} training step (forward + BPTT)", f"T={T} B={B} I={I} H={H} f32",
            _setup(mode, T, B, I, H, seed=40 + len(mode)), {"cpu": _ours("cpu")}, peers, _check,
            work=3 * 2.0 * T * B * (I + H) * GATES[mode] * H / 1e9, unit="GFLOP",
        ))
    return out
