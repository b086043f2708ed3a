"""Input checks of the sequence-model family (HMM and CRF); each names the offending argument.

Value checks read a host array's distinct memory only, in bounded chunks: a broadcast view
(``np.broadcast_to``: stride 0 along some axes) is checked through one element along each such
axis, so neither a full-size copy nor a full-size boolean temporary is ever made.  The small
model arrays of device inputs are copied to the host; ``log_emission`` / ``emissions`` on the
device are checked by a device kernel.
"""
from __future__ import annotations

import numbers
from typing import Any, Iterator

import numpy as np

from .. import _dispatch

# |sum(exp(row)) - 1| allowed for log-probability vectors, per dtype; entries may exceed 0 by as
# much (rounding of log(1)).
NORM_TOL = {np.dtype(np.float32): 1e-4, np.dtype(np.float64): 1e-6}

_CHUNK = 1 << 20  # elements per block of a value check (bounds its temporaries)


def ndim(arr: Any, name: str, n: int, what: str) -> None:
    if len(arr.shape) != n:
        raise ValueError(f"{name} must have shape {what}, got {tuple(arr.shape)}")


def distinct(arr: np.ndarray, keep_last: bool = False) -> np.ndarray:
    """View of ``arr`` with every stride-0 axis (a broadcast axis) cut to length 1: the same
    set of values, each element of memory once.  ``keep_last`` leaves the last axis whole (a
    check that reduces along it needs every entry)."""
    if arr.ndim == 0 or arr.size == 0:
        return arr
    last = arr.ndim - 1 if keep_last else arr.ndim
    index = tuple(slice(0, 1) if k < last and arr.strides[k] == 0 and arr.shape[k] > 1 else slice(None)
                  for k in range(arr.ndim))
    return arr[index]


def blocks(arr: np.ndarray, keep_last: bool = False) -> Iterator[tuple[int, np.ndarray]]:
    """(first row, block) over the leading axis of ``distinct(arr)``, each block holding about
    ``_CHUNK`` elements (whole rows: a block of a 1-D array is a slice of it)."""
    d = distinct(arr, keep_last)
    if d.ndim == 0:
        yield 0, d.reshape(1)
        return
    per_row = max(1, d.size // max(1, d.shape[0]))
    step = max(1, _CHUNK // per_row)
    for r in range(0, d.shape[0], step):
        yield r, d[r:r + step]


def no_nan_or_posinf(arr: np.ndarray, name: str) -> None:
    for _, blk in blocks(arr):
        if blk.size and not (blk < np.inf).all():  # one pass: NaN and +inf both fail `< inf`
            raise ValueError(f"{name} must not hold NaN or +inf (-inf marks an impossible entry)")


def no_nan_or_posinf_any(arr: Any, name: str) -> None:
    """As :func:`no_nan_or_posinf` for a prepared host or device array; device arrays are
    checked on the device (no copy of the array to the host)."""
    if isinstance(arr, np.ndarray):
        return no_nan_or_posinf(arr, name)
    from ..kernels.cuda import hmm as cuda_hmm

    if cuda_hmm.has_nan_or_posinf(arr):
        raise ValueError(f"{name} must not hold NaN or +inf (-inf marks an impossible entry)")


def log_distribution(arr: np.ndarray, name: str, dtype: np.dtype) -> None:
    """Check that the last axis of ``arr`` holds log-probabilities of one distribution each."""
    tol = NORM_TOL[dtype]
    for r0, blk in blocks(arr, keep_last=True):
        if np.isnan(blk).any():
            raise ValueError(f"{name} must not hold NaN")
        if (blk > tol).any():
            raise ValueError(f"{name} holds entries > 0: it must hold log-probabilities (<= 0)")
        with np.errstate(under="ignore"):
            sums = np.exp(blk.astype(np.float64)).sum(axis=-1)
        bad = np.abs(np.atleast_1d(sums) - 1.0) > tol
        if np.any(bad):
            k = int(np.argmax(bad))
            where = "" if arr.ndim == 1 else f" (row {r0 + k})"
            raise ValueError(
                f"{name} must be normalised: sum(exp(.)) over the last axis must be 1 within {tol:g}, "
                f"got {np.atleast_1d(sums)[k]!r}{where}"
            )


def int_array(x: Any, name: str) -> np.ndarray:
    arr = np.asarray(x)
    if arr.dtype == np.bool_ or not (np.issubdtype(arr.dtype, np.integer) or arr.size == 0):
        what = "Python objects (None, strings or mixed types?)" if arr.dtype == np.object_ else f"dtype {arr.dtype}"
        raise TypeError(f"{name} must hold integers, got {what}")
    return arr.astype(np.int64, copy=False)


def _host_lengths(lengths: Any) -> Any:
    if _dispatch.is_device_array(lengths) or hasattr(lengths, "copy_to_host"):
        return _dispatch.host(_dispatch.prepare_array(lengths, "lengths"))
    if isinstance(lengths, (numbers.Number, str, bytes, dict)):
        raise TypeError(f"lengths must be None or a 1-D sequence of integers, got {type(lengths).__name__}")
    try:
        return _dispatch.prepare_array(lengths, "lengths")  # torch CPU tensors, pandas objects
    except TypeError:
        raise TypeError(f"lengths must be None or a 1-D sequence of integers, got {type(lengths).__name__}") from None


def hmm_lengths(lengths: Any, T: int) -> tuple[np.ndarray, np.ndarray]:
    """(seq_start, seq_len) int64 for hmmlearn-style ``lengths`` of ``T`` concatenated rows."""
    if lengths is None:
        if T < 1:
            raise ValueError("log_emission has no rows: with lengths=None it must hold one sequence of length >= 1")
        return np.zeros(1, np.int64), np.array([T], np.int64)
    arr = int_array(_host_lengths(lengths), "lengths")
    if arr.ndim != 1:
        raise ValueError(f"lengths must be 1-D, got shape {arr.shape}")
    if arr.size and arr.min() < 1:
        raise ValueError(f"lengths must be >= 1 (no empty sequences), got {int(arr.min())}")
    if int(arr.sum()) != T:
        raise ValueError(f"lengths must sum to the number of rows T = {T}, got {int(arr.sum())}")
    seq_start = np.zeros(arr.size, np.int64)
    if arr.size > 1:
        seq_start[1:] = np.cumsum(arr[:-1])
    return seq_start, np.ascontiguousarray(arr)


def padded_lengths(lengths: Any, B: int, T: int) -> np.ndarray:
    """int64 ``[B]`` lengths of padded sequences (each in ``1..T``)."""
    if lengths is None:
        if B and T < 1:
            raise ValueError("emissions has T = 0 positions: every sequence must have length >= 1")
        return np.full(B, T, np.int64)
    arr = int_array(_host_lengths(lengths), "lengths")
    if arr.shape != (B,):
        raise ValueError(f"lengths must have shape ({B},) (one per sequence), got {arr.shape}")
    if arr.size and arr.min() < 1:
        raise ValueError(f"lengths must be >= 1 (no empty sequences), got {int(arr.min())}")
    if arr.size and arr.max() > T:
        raise ValueError(f"lengths must not exceed the padded length T = {T}, got {int(arr.max())}")
    return np.ascontiguousarray(arr)


def crf_tags(tags: Any, B: int, T: int, K: int, seq_len: np.ndarray) -> np.ndarray:
    """Flat int32 ``[B * T]`` gold tags, 0 at padding positions, checked in ``[0, K)`` at every
    valid position (rows in blocks: no full-size temporaries beyond the result)."""
    if tags is None:
        raise TypeError("tags must be an integer array [B, T], got None")
    tg = _dispatch.host(_dispatch.prepare_array(tags, "tags"))
    if tg.dtype == np.object_:
        raise TypeError("tags must hold integers, got an array of Python objects (None, strings or mixed types?)")
    if tg.dtype == np.bool_ or not np.issubdtype(tg.dtype, np.integer):
        raise TypeError(f"tags must hold integers, got dtype {tg.dtype}")
    if tg.shape != (B, T):
        raise ValueError(f"tags must have shape ({B}, {T}) like emissions' [B, T], got {tg.shape}")
    out = np.zeros((B, T), np.int32)
    step = max(1, _CHUNK // max(1, T))
    pos = np.arange(T)[None, :]
    for b0 in range(0, B, step):
        blk = tg[b0:b0 + step]
        valid = pos < seq_len[b0:b0 + step, None]
        if valid.any():
            vals = blk[valid]
            lo, hi = int(vals.min()), int(vals.max())
            if lo < 0 or hi >= K:
                raise ValueError(f"tags must lie in [0, {K}) at every valid position, got values in [{lo}, {hi}]")
        out[b0:b0 + step] = np.where(valid, blk, 0)
    return out.reshape(B * T)
