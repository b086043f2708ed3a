"""Shared test fixtures: seeded RNG, per-dtype tolerances, the backend grid, simulator sizing.

Without a GPU the CUDA backend runs in Numba's simulator (NUMBA_ENABLE_CUDASIM=1, set here
before anything imports numba.cuda, unless the environment already chose); tests then keep
CUDA shapes small through ``sim_small``.
"""
from __future__ import annotations

import os

import numpy as np
import pytest


def _has_gpu() -> bool:
    return os.path.exists("/dev/nvidiactl") or os.path.exists("/dev/nvidia0")


if "NUMBA_ENABLE_CUDASIM" not in os.environ and not _has_gpu():
    os.environ["NUMBA_ENABLE_CUDASIM"] = "1"

CUDA_SIM = os.environ.get("NUMBA_ENABLE_CUDASIM") == "1"
BACKENDS = ("reference", "cpu", "cuda")
FAST_BACKENDS = ("cpu", "cuda")  # the ones compared against the reference

# Tolerances for comparing a backend with the reference, per dtype.
TOLERANCES = {
    np.dtype(np.float32): {"rtol": 2e-4, "atol": 2e-5},
    np.dtype(np.float64): {"rtol": 1e-9, "atol": 1e-11},
}


def assert_close(actual, expected, dtype=None, **override) -> None:
    """np.testing.assert_allclose with the tolerance of ``dtype`` (default: expected's)."""
    actual = np.asarray(actual)
    expected = np.asarray(expected)
    tol = dict(TOLERANCES[np.dtype(dtype or expected.dtype)])
    tol.update(override)
    assert actual.shape == expected.shape, f"shape {actual.shape} != {expected.shape}"
    np.testing.assert_allclose(actual, expected, **tol)


def sim_small(n: int, small: int) -> int:
    """``n`` normally, ``small`` when CUDA kernels run in the (slow) simulator."""
    return small if CUDA_SIM else n


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20261129)


@pytest.fixture(params=BACKENDS)
def backend(request) -> str:
    return request.param


@pytest.fixture(params=FAST_BACKENDS)
def fast_backend(request) -> str:
    return request.param


@pytest.fixture(params=[np.float32, np.float64], ids=["f32", "f64"])
def dtype(request) -> np.dtype:
    return np.dtype(request.param)
