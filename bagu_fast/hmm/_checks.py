"""Input checks of the sequence-model family (HMM and CRF); each names the offending argument.

Value checks of the small model arrays read a host copy of device arrays; ``log_emission`` /
``emissions`` on the device are checked by a device kernel.
"""
from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from .. import _dispatch, _validate

# |sum(exp(row)) - 1| allowed for log-probability vectors, per dtype; entries may exceed 0 by as
# much (rounding of log(1)).
NORM_TOL = {np.dtype(np.float32): 1e-4, np.dtype(np.float64): 1e-6}


def host(x: Any) -> np.ndarray:
    """NumPy view / copy of a prepared array (device arrays are copied out)."""
    return x if isinstance(x, np.ndarray) else x.copy_to_host()


def flag(value: Any, name: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a bool, got {type(value).__name__}")
    return bool(value)


def ndim(arr: Any, name: str, n: int, what: str) -> None:
    if len(arr.shape) != n:
        raise ValueError(f"{name} must have shape {what}, got {tuple(arr.shape)}")


def no_nan_or_posinf(arr: np.ndarray, name: str) -> None:
    if arr.size and not (arr < np.inf).all():  # one pass: NaN and +inf both fail `< inf`
        raise ValueError(f"{name} must not hold NaN or +inf (-inf marks an impossible entry)")


def no_nan_or_posinf_any(arr, name: str) -> None:
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
    if np.isnan(arr).any():
        raise ValueError(f"{name} must not hold NaN")
    if (arr > tol).any():
        raise ValueError(f"{name} holds entries > 0: it must hold log-probabilities (<= 0)")
    with np.errstate(under="ignore"):
        sums = np.exp(arr.astype(np.float64)).sum(axis=-1)
    bad = np.abs(sums - 1.0) > tol
    if np.any(bad):
        where = "" if arr.ndim == 1 else f" (row {int(np.argmax(np.atleast_1d(bad)))})"
        raise ValueError(
            f"{name} must be normalised: sum(exp(.)) over the last axis must be 1 within {tol:g}, "
            f"got {np.atleast_1d(sums)[np.atleast_1d(bad)][0]!r}{where}"
        )


def int_array(x: Any, name: str) -> np.ndarray:
    arr = np.asarray(x)
    if arr.dtype == np.bool_ or not (np.issubdtype(arr.dtype, np.integer) or arr.size == 0):
        raise TypeError(f"{name} must hold integers, got dtype {arr.dtype}")
    return arr.astype(np.int64, copy=False)


def hmm_lengths(lengths: Any, T: int) -> tuple[np.ndarray, np.ndarray]:
    """(seq_start, seq_len) int64 for hmmlearn-style ``lengths`` of ``T`` concatenated rows."""
    if lengths is None:
        if T < 1:
            raise ValueError("log_emission has no rows: with lengths=None it must hold one sequence of length >= 1")
        return np.zeros(1, np.int64), np.array([T], np.int64)
    if _dispatch.is_device_array(lengths) or hasattr(lengths, "copy_to_host"):
        lengths = host(_dispatch.prepare_array(lengths, "lengths"))
    if isinstance(lengths, numbers.Number):
        raise TypeError(f"lengths must be None or a 1-D sequence of integers, got {type(lengths).__name__}")
    arr = int_array(lengths, "lengths")
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
    if _dispatch.is_device_array(lengths) or hasattr(lengths, "copy_to_host"):
        lengths = host(_dispatch.prepare_array(lengths, "lengths"))
    if isinstance(lengths, numbers.Number):
        raise TypeError(f"lengths must be None or a 1-D sequence of integers, got {type(lengths).__name__}")
    arr = int_array(lengths, "lengths")
    if arr.shape != (B,):
        raise ValueError(f"lengths must have shape ({B},) (one per sequence), got {arr.shape}")
    if arr.size and arr.min() < 1:
        raise ValueError(f"lengths must be >= 1 (no empty sequences), got {int(arr.min())}")
    if arr.size and arr.max() > T:
        raise ValueError(f"lengths must not exceed the padded length T = {T}, got {int(arr.max())}")
    return np.ascontiguousarray(arr)


def float_dtype(**arrays: Any) -> np.dtype:
    return _validate.float_arrays(**arrays)
