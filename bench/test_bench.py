"""The bench cases as pytest-benchmark tests (quick sizes):

    pytest bench --benchmark-only [--benchmark-autosave] [--benchmark-compare]

Each test times one runner of one case, then checks its result like ``python -m bench``.
"""
from __future__ import annotations

import functools

import pytest

from . import harness

pytest.importorskip("pytest_benchmark")


@functools.lru_cache(maxsize=None)
def _inputs(index: int):
    return _CASES[index].setup()


_CASES = harness.load_cases(harness.FAMILIES, quick=True)
_PARAMS = [
    pytest.param(i, name, id=f"{c.family}-{c.name}-{name}".replace(" ", "_"))
    for i, c in enumerate(_CASES)
    for name in list(c.ours) + list(c.peers)
    if name != "cuda" and name not in c.slow
]


@pytest.mark.parametrize("index, runner", _PARAMS)
def test_case(benchmark, index, runner):
    case = _CASES[index]
    fn = case.ours.get(runner) or case.peers[runner]
    inputs = _inputs(index)
    case.check(inputs, fn(inputs))  # warm-up (JIT) and correctness
    benchmark(fn, inputs)
