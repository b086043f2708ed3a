"""Scratch buffers kept between calls, one set per thread.

A large ``np.empty`` is fresh memory from the kernel: its first touch page-faults, and when two
threads fault in the same region at once (a ``prange`` writing its output) the faults serialise.
On this project's bench machine that made a 52 MB projection buffer cost 60-75 ms on first touch
against 22 ms to fill it once mapped.  Internal buffers that never reach the user (a recurrent
layer's input projections, the outputs of its inner layers) are therefore reused from call to
call.  Each thread has its own, so concurrent callers never share one; buffers above
:data:`MAX_KEPT_BYTES` are not kept.
"""
from __future__ import annotations

import threading

import numpy as np

__all__ = ["scratch", "MAX_KEPT_BYTES"]

MAX_KEPT_BYTES = 512 << 20
_local = threading.local()


def scratch(name: str, shape: tuple[int, ...], dtype) -> np.ndarray:
    """An uninitialised C-contiguous array of ``shape`` that stays valid until this thread asks
    for ``name`` again (never hand it to the user)."""
    dtype = np.dtype(dtype)
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    pool = getattr(_local, "pool", None)
    if pool is None:
        pool = _local.pool = {}
    buf = pool.get(name)
    if buf is None or buf.nbytes < nbytes:
        pool.pop(name, None)  # drop the old one before allocating its successor
        buf = np.empty(max(nbytes, 1), dtype=np.uint8)
        if nbytes <= MAX_KEPT_BYTES:
            pool[name] = buf
    return buf[:nbytes].view(dtype).reshape(shape)
