"""Concurrent callers: the parallel CPU kernels called from several Python threads at once.

Each threading layer Numba can load here runs in its own subprocess (the layer is chosen once per
process, by ``NUMBA_THREADING_LAYER``).  There every entry of ``CALLS`` is called once
sequentially (warm-up, JIT), then ``N_THREADS`` threads released together by a barrier call it
``N_EACH`` times each; every result must equal the sequential one exactly (the kernels do not
depend on the thread count or on who else is running).  Under ``workqueue``, which is not
thread-safe, an unprotected parallel launch aborts the whole process ("Concurrent access has
been detected"), so the test fails loudly.  No clock is read here: the speed of concurrent
against sequential calls is a bench case (bench/cases_attention.py).

To cover a new kernel, add a ``Call`` to ``CALLS``: a name, the function, and a zero-argument
``make`` returning its ``(args, kwargs)`` (deterministic inputs, built in the subprocess).
"""
from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import threading
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import pytest

N_THREADS = 4
N_EACH = 3
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@dataclass
class Call:
    name: str
    fn: Callable[[], Callable[..., Any]]  # returns the function (imported in the subprocess)
    make: Callable[[], tuple[tuple, dict]]


def _sdpa():
    import bagu_fast

    return bagu_fast.scaled_dot_product_attention


def _cdist():
    import bagu_fast

    return bagu_fast.cdist


def _attention_inputs(shape_q, shape_kv, **kw):
    def make():
        rng = np.random.default_rng(7)
        q = rng.standard_normal(shape_q, dtype=np.float32)
        k = rng.standard_normal(shape_kv, dtype=np.float32)
        v = rng.standard_normal(shape_kv, dtype=np.float32)
        return (q, k, v), dict(backend="cpu", **kw)

    return make


def _strings_inputs():
    rng = np.random.default_rng(8)
    alphabet = np.array(list("abcdefghij"))
    words = ["".join(rng.choice(alphabet, int(n))) for n in rng.integers(0, 90, 300)]
    return (words[:150], words[150:]), dict(workers=2, backend="cpu")


CALLS = [
    # row blocks over (batch, head) tasks, causal tile skipping, BLAS held to one thread
    Call("attention sdpa causal", _sdpa, _attention_inputs((2, 4, 200, 32), (2, 4, 200, 32), is_causal=True)),
    # one query row: split-K over the keys, then a merge pass (a second prange); big enough
    # to take the parallel path, not the serial one of tiny calls
    Call("attention decode split-K", _sdpa, _attention_inputs((1, 2, 1, 32), (1, 2, 8192, 32))),
    Call("strings cdist workers=2", _cdist, _strings_inputs),
]


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, tuple):
        return isinstance(b, tuple) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return np.array_equal(np.asarray(a), np.asarray(b), equal_nan=np.asarray(a).dtype.kind == "f")


def _child(layer: str) -> None:
    """Run in the subprocess: every call sequentially, then from N_THREADS threads at once."""
    import numba

    for call in CALLS:
        fn = call.fn()
        args, kwargs = call.make()
        expected = fn(*args, **kwargs)  # warm-up (JIT / cache load), and the sequential answer
        assert numba.threading_layer() == layer, (numba.threading_layer(), layer)

        barrier = threading.Barrier(N_THREADS)
        results: list = []
        errors: list = []

        def worker() -> None:
            try:
                barrier.wait()
                for _ in range(N_EACH):
                    results.append(fn(*args, **kwargs))
            except BaseException as exc:  # reported by the main thread
                errors.append(exc)

        threads = [threading.Thread(target=worker) for _ in range(N_THREADS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            raise errors[0]
        assert len(results) == N_THREADS * N_EACH
        bad = sum(not _same(r, expected) for r in results)
        assert bad == 0, f"{call.name}: {bad} of {len(results)} concurrent results differ from the sequential one"
        # speed (concurrent against sequential calls) is measured in bench/cases_attention.py
        print(f"{layer:9s} {call.name:28s} {N_THREADS * N_EACH} calls from {N_THREADS} threads: identical",
              flush=True)


def _layer_available(layer: str) -> bool:
    """Whether Numba can load ``layer`` here (checked without starting it)."""
    if layer == "workqueue":
        return True
    module = {"omp": "numba.np.ufunc.omppool", "tbb": "numba.np.ufunc.tbbpool"}[layer]
    if importlib.util.find_spec(module) is None:
        return False
    code = f"import {module}"  # a missing libgomp / libtbb fails the import
    return subprocess.run([sys.executable, "-c", code], capture_output=True).returncode == 0


@pytest.mark.parametrize("layer", ["workqueue", "omp", "tbb"])
def test_concurrent_callers_get_sequential_results(layer):
    if not _layer_available(layer):
        pytest.skip(f"numba's {layer} threading layer cannot be loaded here")
    env = dict(os.environ, NUMBA_THREADING_LAYER=layer, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run(
        [sys.executable, os.path.abspath(__file__), layer], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=600,
    )
    print(proc.stdout)
    assert proc.returncode == 0, f"exit code {proc.returncode}\n{proc.stdout}\n{proc.stderr[-3000:]}"
    assert proc.stdout.count(f"{layer} ") == len(CALLS)


if __name__ == "__main__":
    _child(sys.argv[1])
