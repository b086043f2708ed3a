"""Launch helpers shared by the trees family's CUDA modules: device views of inputs, block and
grid sizes, and the simulator's launch shapes.

On a GPU a block has ``NT`` threads (fewer, a multiple of 32, for small work).  In the simulator
(``NUMBA_ENABLE_CUDASIM=1``) every CUDA thread is a Python thread and each ``syncthreads`` a
polling handshake (milliseconds), and its shared-array allocation is not thread-safe (two threads
of a block can get different "shared" arrays when the GIL switches between its lookup and its
store): the grower's launches there use ``SIM_THREADS`` (1) thread per block with many rows.  The
multi-thread paths of the kernels are tested directly (tests/test_trees_gpu_fit.py).
"""
from __future__ import annotations

import warnings

import numba
import numpy as np
from numba import cuda

NT = 256  # threads per block
MAX_BINS = 256  # bins per feature at most (shared-memory arrays)
MAX_BLOCKS = 4096  # blocks of the criteria kernels' grid-stride launches at most
SIMULATOR = bool(numba.config.ENABLE_CUDASIM)
SIM_THREADS = 1
MAX_GRID = 1024  # blocks of the grower's grid-stride launches at most


def is_device(x) -> bool:
    """A device array (anything with ``__cuda_array_interface__``, or a Numba device array)."""
    return x is not None and (hasattr(x, "__cuda_array_interface__") or hasattr(x, "copy_to_host"))


def device_view(x, dtype=None):
    """A Numba device array of ``x``: itself, a view of a foreign device array, or a copy of a host
    array (converted to ``dtype`` when given)."""
    if hasattr(x, "copy_to_host"):
        return x
    if hasattr(x, "__cuda_array_interface__"):
        return cuda.as_cuda_array(x)
    return cuda.to_device(np.ascontiguousarray(x) if dtype is None else np.ascontiguousarray(x, dtype=dtype))


def to_device_as(x, dtype):
    """Device view of ``x`` when it already has ``dtype``; else a converted device copy."""
    if is_device(x):
        if np.dtype(x.dtype) == np.dtype(dtype):
            return x if hasattr(x, "copy_to_host") else cuda.as_cuda_array(x)
        host = x.copy_to_host() if hasattr(x, "copy_to_host") else cuda.as_cuda_array(x).copy_to_host()
        return cuda.to_device(np.ascontiguousarray(host, dtype=dtype))
    return cuda.to_device(np.ascontiguousarray(x, dtype=dtype))


def threads(work):
    """Threads per block: ``NT``, or fewer (a multiple of 32) for small work (the simulator runs
    every thread as a Python thread)."""
    return int(min(NT, max(32, 32 * ((work + 31) // 32))))


def blocks(n, per):
    """Blocks of ``per`` items covering ``n`` (at least 1)."""
    return max(1, (n + per - 1) // per)


def capped_blocks(work: int) -> int:
    """Blocks of ``NT`` threads for ``work`` grid-stride items, at most ``MAX_BLOCKS``."""
    return max(1, min(MAX_BLOCKS, (work + NT - 1) // NT))


def block_threads(work: int) -> int:
    """Threads per block for ``work`` items: ``SIM_THREADS`` in the simulator, else 32..NT."""
    return SIM_THREADS if SIMULATOR else threads(work)


def stride_blocks(work: int, nt: int) -> int:
    """Blocks of a grid-stride launch (1 in the simulator: blocks run one after another there)."""
    return 1 if SIMULATOR else max(1, min(MAX_GRID, (work + nt - 1) // nt))


_CONFIGS: dict = {}


def launch(kernel, grid, block):
    """``kernel[grid, block]``; on a GPU the launch configuration is made once per shape and
    reused (numba builds one, and checks the grid for low occupancy, on every ``[...]``: host time
    a small launch should not pay), without numba's low-occupancy warning (a small node's grid is
    small by design).  The simulator configures the kernel object itself: no cache there."""
    if SIMULATOR:
        return kernel[grid, block]
    key = (kernel, grid, block)
    cfg = _CONFIGS.get(key)
    if cfg is None:
        if len(_CONFIGS) > 8192:
            _CONFIGS.clear()
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r"Grid size \d+ will likely result in GPU under-utilization")
            cfg = _CONFIGS[key] = kernel[grid, block]
    return cfg
