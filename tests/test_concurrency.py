"""Concurrent callers: the parallel CPU kernels called from several Python threads at once.

Each threading layer Numba can load here runs in its own subprocess (the layer is chosen once per
process, by ``NUMBA_THREADING_LAYER``).  There every entry of ``CALLS`` is called once
sequentially (warm-up, JIT), then ``N_THREADS`` threads released together by a barrier call it
``N_EACH`` times each; every result must equal the sequential one exactly (the kernels do not
depend on the thread count or on who else is running).  Under ``workqueue``, which is not
thread-safe, an unprotected parallel launch aborts the whole process ("Concurrent access has
been detected"), so the test fails loudly.  No clock is read here: the speed of concurrent
against sequential calls is a bench case (bench/cases_concurrency.py).

The second half tests the hand-over itself in this process (:func:`run_parallel` while another
thread holds the cores): the waiting thread's call runs on the holder's thread, its result or
its exception comes back to the caller, nested regions inside it do not deadlock, a waiting
``parallel_region`` body is handed the cores, small calls of busy threads run side by side on a
share of the cores, and large ones wait for all of them.

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


def _lstm():
    import bagu_fast

    return bagu_fast.lstm


def _lstm_inputs():
    """Big enough for the parallel time loop (one worker per thread, waiting on each other)."""
    rng = np.random.default_rng(9)
    H, I = 128, 32
    w = {"weight_ih_l0": rng.uniform(-0.1, 0.1, (4 * H, I)).astype(np.float32),
         "weight_hh_l0": rng.uniform(-0.1, 0.1, (4 * H, H)).astype(np.float32),
         "bias_ih_l0": rng.uniform(-0.1, 0.1, 4 * H).astype(np.float32),
         "bias_hh_l0": rng.uniform(-0.1, 0.1, 4 * H).astype(np.float32)}
    x = rng.standard_normal((24, 8, I), dtype=np.float32)
    return (x, w), dict(lengths=np.array([24, 3, 17, 24, 9, 1, 24, 12]), backend="cpu")


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
    Call("recurrent lstm packed", _lstm, _lstm_inputs),
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
        # speed (concurrent against sequential calls) is measured in bench/cases_concurrency.py
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


# ----------------------------------------------------------------------------------------------
# the hand-over, in this process
# ----------------------------------------------------------------------------------------------
JOIN_S = 60  # a thread still alive after this long is deadlocked


def _start(target, *args) -> threading.Thread:
    t = threading.Thread(target=target, args=args, daemon=True)
    t.start()
    return t


def _joined(*threads: threading.Thread) -> None:
    for t in threads:
        t.join(JOIN_S)
    assert not any(t.is_alive() for t in threads), "deadlock: a thread did not finish"


def _waiters() -> int:
    from bagu_fast.kernels.cpu import _parallel

    with _parallel._cores._cond:
        return len(_parallel._cores._queue)


def _wait_for_waiters(n: int) -> None:
    import time

    deadline = time.monotonic() + JOIN_S
    while _waiters() < n:
        assert time.monotonic() < deadline, "the caller never queued up"
        time.sleep(0.001)


def _hold_cores(release: threading.Event, held: threading.Event, ident: list) -> None:
    """A thread inside a parallel region until ``release`` is set."""
    from bagu_fast.kernels.cpu._parallel import parallel_region

    with parallel_region():
        ident.append(threading.get_ident())
        held.set()
        release.wait(JOIN_S)


def _holder():
    release, held, ident = threading.Event(), threading.Event(), []
    t = _start(_hold_cores, release, held, ident)
    assert held.wait(JOIN_S)
    return t, release, ident


def test_queued_call_runs_on_the_holders_thread_and_returns_its_result():
    from bagu_fast.kernels.cpu._parallel import parallel_region, run_parallel

    holder, release, ident = _holder()
    results = []

    def kernel(a, b):
        with parallel_region():  # nested inside the holder's region: no second wait
            nested = run_parallel(lambda: "nested")
        return a + b, threading.get_ident(), nested

    caller = _start(lambda: results.append(run_parallel(kernel, 2, 3)))
    _wait_for_waiters(1)
    assert not results  # queued while the cores are taken
    release.set()
    _joined(holder, caller)
    assert results == [(5, ident[0], "nested")]


def test_queued_call_exception_reaches_its_caller():
    from bagu_fast.kernels.cpu._parallel import run_parallel

    holder, release, _ = _holder()
    errors = []

    def failing():
        raise ZeroDivisionError("from the queued call")

    def caller():
        try:
            run_parallel(failing)
        except ZeroDivisionError as exc:
            errors.append(exc)

    t = _start(caller)
    _wait_for_waiters(1)
    release.set()
    _joined(holder, t)
    assert len(errors) == 1 and "queued call" in str(errors[0])
    assert run_parallel(lambda: 7) == 7  # the cores were given back


def test_queued_region_body_is_handed_the_cores():
    from bagu_fast.kernels.cpu._parallel import parallel_region, run_parallel

    holder, release, ident = _holder()
    where = []

    def body():
        with parallel_region():
            where.append(threading.get_ident())
            where.append(run_parallel(threading.get_ident))  # nested: this thread again

    t = _start(body)
    _wait_for_waiters(1)
    release.set()
    _joined(holder, t)
    assert where == [t.ident, t.ident] and t.ident != ident[0]


def test_many_threads_each_get_their_own_answer():
    """Calls queued from several threads at once (more than one holder's serving allowance):
    each gets its own answer, with its own thread count, whoever runs it."""
    import numba

    from bagu_fast.kernels.cpu import _parallel

    def kernel(i):
        return i * i, numba.get_num_threads()

    out: dict = {}

    def worker(w):
        with _parallel.thread_count(1 + w % 2):
            for i in range(40):
                out[w, i] = _parallel.run_parallel(kernel, 100 * w + i)

    threads = [_start(worker, w) for w in range(5)]
    _joined(*threads)
    total = numba.config.NUMBA_NUM_THREADS
    assert out == {(w, i): ((100 * w + i) ** 2, min(1 + w % 2, total)) for w in range(5) for i in range(40)}
    assert _waiters() == 0


@pytest.fixture
def sharing(monkeypatch):
    """A threading layer that allows concurrent regions, and every thread counted as calling."""
    import numba

    from bagu_fast.kernels.cpu import _parallel

    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("needs at least 2 Numba threads")
    monkeypatch.setattr(_parallel, "_layer", "omp")
    monkeypatch.setattr(_parallel._CoreBudget, "ACTIVE_S", 3600.0)
    monkeypatch.setattr(_parallel._cores, "_recent", {})
    return _parallel


def _two_callers(parallel, second_work):
    """Threads A and B both call once (so both count as calling); then A's call blocks inside
    its kernel while B calls with ``second_work``.  Returns what each kernel saw, in order."""
    import numba

    seen: list = []
    inside, release = threading.Event(), threading.Event()
    go = {"A": threading.Event(), "B": threading.Event()}

    def kernel(name, block):
        seen.append((name, numba.get_num_threads(), threading.get_ident()))
        if block:
            inside.set()
            release.wait(JOIN_S)
        seen.append((name, "done"))

    def caller(name, work):
        parallel.run_parallel(lambda: None, work=1)
        go[name].wait(JOIN_S)
        parallel.run_parallel(kernel, name, name == "A", work=work)

    a, b = _start(caller, "A", 1), _start(caller, "B", second_work)
    _wait_for(lambda: len(parallel._cores._recent) == 2)
    go["A"].set()
    assert inside.wait(JOIN_S)
    go["B"].set()
    return a, b, seen, release


def _wait_for(condition) -> None:
    import time

    deadline = time.monotonic() + JOIN_S
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.001)


def test_small_calls_from_two_threads_run_side_by_side_on_a_share(sharing):
    import numba

    a, b, seen, release = _two_callers(sharing, second_work=1)
    _joined(b)  # B's small call ran and returned while A's is still running
    share = numba.config.NUMBA_NUM_THREADS // 2
    assert seen == [("A", share, a.ident), ("B", share, b.ident), ("B", "done")]
    release.set()
    _joined(a)
    assert seen[-1] == ("A", "done") and _waiters() == 0


@pytest.mark.parametrize("work", [None, 2 * (1 << 28)], ids=["unknown", "large"])
def test_large_calls_wait_and_take_every_core(sharing, work):
    import numba

    a, b, seen, release = _two_callers(sharing, second_work=work)
    _wait_for_waiters(1)  # B waits: it wants every core
    assert [s[0] for s in seen] == ["A"]
    release.set()
    _joined(a, b)
    total = numba.config.NUMBA_NUM_THREADS
    assert seen[1:] == [("A", "done"), ("B", total, b.ident), ("B", "done")]


if __name__ == "__main__":
    _child(sys.argv[1])
