"""Numba CUDA kernels: gradients and hessians of histogram gradient boosting on the device.

One row per thread (grid-stride) with the cpu's row functions (:mod:`bagu_fast.kernels.cpu.trees.loss`,
written once in plain Python and compiled here by ``cuda.jit(device=True)``): float64 inside,
float32 stored.
"""
from __future__ import annotations

from numba import cuda

from ...cpu.trees import loss as cpu_loss
from ._launch import block_threads, launch, stride_blocks

__all__ = ["gradients"]

_squared_error_row = cuda.jit(device=True, inline=True)(cpu_loss.squared_error_row)
_binary_row = cuda.jit(device=True, inline=True)(cpu_loss.binary_row)
_multiclass_row = cuda.jit(device=True, inline=True)(cpu_loss.multiclass_row)


@cuda.jit
def _grad_squared_error(raw, y, w, use_w, grad, hess):
    """The cpu grower's row function, one row per thread (grid-stride)."""
    for i in range(cuda.grid(1), raw.shape[0], cuda.gridsize(1)):
        _squared_error_row(raw, y, w, use_w, grad, hess, i)


@cuda.jit
def _grad_binary(raw, y, w, use_w, grad, hess):
    for i in range(cuda.grid(1), raw.shape[0], cuda.gridsize(1)):
        _binary_row(raw, y, w, use_w, grad, hess, i)


@cuda.jit
def _grad_multiclass(raw, y, w, use_w, grad, hess):
    for i in range(cuda.grid(1), raw.shape[1], cuda.gridsize(1)):
        _multiclass_row(raw, y, w, use_w, grad, hess, i)


_V32 = "float32[::1]"
_GRAD_SIG = f"void(float64[::1], float64[::1], float64[::1], boolean, {_V32}, {_V32})"
PTX_SIGNATURES = {
    "_grad_squared_error": [_GRAD_SIG],
    "_grad_binary": [_GRAD_SIG],
    "_grad_multiclass": ["void(float64[:, ::1], float64[::1], float64[::1], boolean, float32[:, ::1], "
                         "float32[:, ::1])"],
}


def gradients(kind: int, raw, y, w, use_w: bool, grad, hess) -> None:
    """Fill the device arrays ``grad`` / ``hess`` ``[K, n]`` (float32) from ``raw`` ``[K, n]``
    (float64): ``kind`` 0 squared error (``hess`` untouched without weights), 1 binary log-loss,
    2 multiclass softmax.  ``w`` is a float64 device array (any length when ``use_w`` is False)."""
    n = raw.shape[1]
    if n == 0:
        return
    nt = block_threads(n)
    blocks = stride_blocks(n, nt)
    if kind == 0:
        launch(_grad_squared_error, blocks, nt)(raw[0], y, w, bool(use_w), grad[0], hess[0] if use_w else grad[0])
    elif kind == 1:
        launch(_grad_binary, blocks, nt)(raw[0], y, w, bool(use_w), grad[0], hess[0])
    else:
        launch(_grad_multiclass, blocks, nt)(raw, y, w, bool(use_w), grad, hess)
