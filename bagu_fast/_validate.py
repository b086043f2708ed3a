"""Input checks shared by all families.

Every check raises ``ValueError`` / ``TypeError`` whose message names the offending argument
and says what was expected.  Checks only read their inputs.
"""
from __future__ import annotations

import math
import numbers
from typing import Any, Sequence

import numpy as np

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))

ArrayLike = Any  # NumPy array, nested sequence, torch CPU tensor, pandas object, or a GPU array


def float_arrays(**arrays: Any) -> np.dtype:
    """Check that every array is float32 or float64 and that they share one dtype.

    Returns the common dtype.  ``arrays`` maps argument name to array (``.dtype`` is read).
    """
    dtype = None
    first = None
    for name, arr in arrays.items():
        if arr is None:
            raise TypeError(f"{name} must be a float32 or float64 array, got None")
        dt = np.dtype(arr.dtype)
        if dt == np.object_:
            raise TypeError(f"{name} must be a float32 or float64 array, got an array of Python objects "
                            "(None, strings or mixed types?)")
        if dt not in FLOAT_DTYPES:
            raise TypeError(f"{name} must be float32 or float64, got {dt}")
        if dtype is None:
            dtype, first = dt, name
        elif dt != dtype:
            raise TypeError(f"{name} has dtype {dt} but {first} has {dtype}; pass one dtype")
    return dtype


def flag(value: Any, name: str) -> bool:
    """Require a bool (Python or NumPy) and return it as a Python bool."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a bool, got {type(value).__name__}")
    return bool(value)


def min_ndim(arr: Any, name: str, ndim: int) -> None:
    """Require at least ``ndim`` dimensions."""
    if len(arr.shape) < ndim:
        raise ValueError(f"{name} must have at least {ndim} dimensions, got shape {tuple(arr.shape)}")


def all_finite(arr: np.ndarray, name: str) -> None:
    """Require that a host array holds no NaN / inf."""
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite (no NaN or inf)")


def real_number(value: Any, name: str, *, minimum: float | None = None, finite: bool = True) -> float:
    """Return ``value`` as a float, requiring a real number (not bool), finite and >= minimum."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    out = float(value)
    if finite and not math.isfinite(out):
        raise ValueError(f"{name} must be finite, got {value!r}")
    if minimum is not None and not out >= minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value!r}")
    return out


def integer(value: Any, name: str, *, minimum: int | None = None) -> int:
    """Return ``value`` as an int, requiring an integer (not bool) >= minimum."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}")
    out = int(value)
    if minimum is not None and out < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {out}")
    return out


def number_tuple(value: Any, name: str, length: int, *, minimum: float | None = None) -> tuple:
    """Require a sequence of ``length`` real numbers (each >= minimum) and return it as a tuple."""
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) and not isinstance(value, np.ndarray):
        raise TypeError(f"{name} must be a sequence of {length} numbers, got {type(value).__name__}")
    if len(value) != length:
        raise ValueError(f"{name} must have {length} entries, got {len(value)}")
    return tuple(real_number(v, f"{name}[{i}]", minimum=minimum) for i, v in enumerate(value))


def choice(value: Any, name: str, options: Sequence[Any]) -> Any:
    """Require ``value`` to be one of ``options``."""
    if value not in options:
        raise ValueError(f"{name} must be one of {tuple(options)}, got {value!r}")
    return value
