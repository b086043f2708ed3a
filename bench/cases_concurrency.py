"""Concurrent callers: 2 Python threads x N calls against the same 2N calls one after another.

Full-width parallel regions run one at a time (they share the machine's cores), so two threads
cannot be faster than one; the hand-over between them must cost next to nothing: the concurrent
time over the sequential time should stay at or below 1.1.  Each scenario is one bench case
whose ``cpu`` row times the 2 threads; its peer ``sequential`` times the same calls on one
thread, so that row's "x vs best peer" is sequential / concurrent, the inverse of the ratio
(>= 0.91 is within 1.1x).  torch, where installed, does the same attention / LSTM calls in a
case of its own (its own threads against its own sequential calls).

``python -m bench.cases_concurrency [--quick] [--repeats R]`` measures the ratio directly: the
sequential and concurrent runs alternate R times in one process and the median ratio is printed
with the load average (the machine is shared: a ratio means little under load).
"""
from __future__ import annotations

import argparse
import os
import statistics
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

import bagu_fast as bf

from .harness import Case, installed

THREADS = 2


@dataclass
class Scenario:
    name: str
    size: str
    setup: Callable[[], Any]
    call: Callable[[Any], Any]  # one call on prepared inputs
    torch_call: Callable[[Any], Any] | None = None


def _sdpa_inputs():
    rng = np.random.default_rng(70)
    return {n: rng.standard_normal((1, 1, 1000, 64), dtype=np.float32) for n in ("q", "k", "v")}


def _sdpa_call(x):
    return bf.scaled_dot_product_attention(x["q"], x["k"], x["v"], backend="cpu")


def _torch_sdpa_call(x):
    import torch

    if "_torch" not in x:
        x["_torch"] = tuple(torch.from_numpy(x[n]) for n in ("q", "k", "v"))
    return torch.nn.functional.scaled_dot_product_attention(*x["_torch"]).numpy()


_LSTM = dict(T=8, B=16, I=64, H=256)  # a small call that still takes the parallel time loop


def _lstm_inputs():
    rng = np.random.default_rng(71)
    T, B, I, H = _LSTM["T"], _LSTM["B"], _LSTM["I"], _LSTM["H"]
    k = 1 / np.sqrt(H)
    w = {"weight_ih_l0": rng.uniform(-k, k, (4 * H, I)), "weight_hh_l0": rng.uniform(-k, k, (4 * H, H)),
         "bias_ih_l0": rng.uniform(-k, k, 4 * H), "bias_hh_l0": rng.uniform(-k, k, 4 * H)}
    return {"x": rng.standard_normal((T, B, I)).astype(np.float32),
            "w": {n: a.astype(np.float32) for n, a in w.items()}}


def _lstm_call(x):
    return bf.lstm(x["x"], x["w"], backend="cpu")[0]


def _torch_lstm_call(x):
    import torch

    if "_torch" not in x:
        model = torch.nn.LSTM(_LSTM["I"], _LSTM["H"])
        model.load_state_dict({n: torch.from_numpy(a) for n, a in x["w"].items()})
        x["_torch"] = (model.eval(), torch.from_numpy(x["x"]))
    model, xt = x["_torch"]
    with torch.no_grad():
        return model(xt)[0].numpy()


def _boosting_inputs():
    from bagu_fast.trees import HistGradientBoostingRegressor

    rng = np.random.default_rng(72)
    X = rng.standard_normal((4000, 10))
    y = X[:, 0] - 2 * X[:, 1] ** 2 + np.sin(3 * X[:, 2]) + 0.1 * rng.standard_normal(4000)
    model = HistGradientBoostingRegressor(max_iter=50, random_state=0).fit(X, y)
    return {"model": model, "X": rng.standard_normal((20000, 10))}


def _boosting_call(x):
    return x["model"].predict(x["X"])


def scenarios(quick: bool) -> tuple[list[Scenario], int]:
    """The scenarios and the calls per thread."""
    n_each = 10 if quick else 40
    out = [
        Scenario("attention sdpa", "1x1x1000x64 f32", _sdpa_inputs, _sdpa_call, _torch_sdpa_call),
        Scenario("recurrent lstm", "T=8, B=16, I=64, H=256 f32", _lstm_inputs, _lstm_call, _torch_lstm_call),
        Scenario("trees boosting predict", "20000 x 10, 50 trees", _boosting_inputs, _boosting_call),
    ]
    return out, n_each


def sequential(call: Callable[[Any], Any], n_calls: int) -> Callable[[Any], list]:
    def run(x):
        return [call(x) for _ in range(n_calls)]

    return run


def concurrent(call: Callable[[Any], Any], n_each: int, n_threads: int = THREADS) -> Callable[[Any], list]:
    """``n_each`` calls in each of ``n_threads`` threads released together; every result."""
    def run(x):
        results: list = []
        errors: list = []
        barrier = threading.Barrier(n_threads)

        def worker():
            try:
                barrier.wait()
                mine = [call(x) for _ in range(n_each)]
                results.extend(mine)
            except BaseException as exc:  # reported by the caller
                errors.append(exc)

        threads = [threading.Thread(target=worker) for _ in range(n_threads)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            raise errors[0]
        return results

    return run


def _checker(n_calls: int, single: Callable[[Any], Any]):
    """Every result identical to one call made alone, whoever ran it."""
    def check(inputs, results):
        assert len(results) == n_calls, f"{len(results)} results, expected {n_calls}"
        expected = np.asarray(single(inputs))
        for r in results:
            np.testing.assert_array_equal(np.asarray(r), expected)

    return check


def cases(quick: bool) -> list[Case]:
    found, n_each = scenarios(quick)
    n_calls = THREADS * n_each
    out = []
    for sc in found:
        out.append(Case(
            "concurrency", f"{sc.name}: {THREADS} threads x {n_each} calls", sc.size, sc.setup,
            {"cpu": concurrent(sc.call, n_each)}, {"sequential": sequential(sc.call, n_calls)},
            _checker(n_calls, sc.call), work=n_calls, unit="call",
        ))
        if sc.torch_call is not None and installed("torch"):
            out.append(Case(
                "concurrency", f"{sc.name} (torch): {THREADS} threads x {n_each} calls", sc.size, sc.setup,
                {}, {f"torch {THREADS} threads": concurrent(sc.torch_call, n_each),
                     "torch sequential": sequential(sc.torch_call, n_calls)},
                lambda inputs, results: None, work=n_calls, unit="call",
            ))
    return out


def measure(quick: bool = False, repeats: int = 9, only: str | None = None) -> None:
    """Print, per scenario, the median over ``repeats`` of concurrent / sequential time (the two
    alternate, so that a change in the machine's load hits both)."""
    found, n_each = scenarios(quick)
    print(f"load average before: {os.getloadavg()}", flush=True)
    for sc in found:
        if only and only not in sc.name:
            continue
        runs = [("ours", sc.call)] + ([("torch", sc.torch_call)] if sc.torch_call and installed("torch") else [])
        inputs = sc.setup()
        for label, call in runs:
            seq, conc = sequential(call, THREADS * n_each), concurrent(call, n_each)
            seq(inputs), conc(inputs)  # warm-up: JIT, caches, thread pools
            ratios, t_seq = [], []
            for i in range(repeats):
                pair = {}
                for name, fn in ((("seq", seq), ("conc", conc)) if i % 2 == 0 else (("conc", conc), ("seq", seq))):
                    t0 = time.perf_counter()
                    fn(inputs)
                    pair[name] = time.perf_counter() - t0
                ratios.append(pair["conc"] / pair["seq"])
                t_seq.append(pair["seq"])
            print(f"{sc.name:24s} {label:5s} {THREADS} threads x {n_each}: concurrent / sequential = "
                  f"{statistics.median(ratios):.3f} (min {min(ratios):.3f}, max {max(ratios):.3f}; sequential "
                  f"{statistics.median(t_seq) / (THREADS * n_each) * 1e3:.3f} ms per call)", flush=True)
    print(f"load average after: {os.getloadavg()}", flush=True)


if __name__ == "__main__":
    p = argparse.ArgumentParser(prog="python -m bench.cases_concurrency", description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--repeats", type=int, default=9)
    p.add_argument("--only", default=None, help="scenarios whose name contains this")
    a = p.parse_args()
    measure(a.quick, a.repeats, a.only)
