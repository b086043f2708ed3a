"""Checks shared by the trees family's functions and estimators.

* :func:`check_backend`: the one backend policy of every estimator of the family (the same
  accepted values and the same error wording everywhere);
* :func:`array_argument`: array arguments that are None or not array-like at all (a string, a
  dict, a number) are named, with what they got, before any conversion turns them into a 0-d
  array with a puzzling error further on;
* :func:`check_random_state`: scikit-learn's rule, with an error naming ``random_state``;
* :func:`host_copy`: GPU inputs copied to the host, for the steps that run there.
"""
from __future__ import annotations

import numbers
from typing import Any, Sequence

import numpy as np

ESTIMATOR_BACKENDS = ("auto", "cpu", "cuda", "reference")


def describe(value: Any) -> str:
    """``"None"`` or the type name of ``value`` (for error messages)."""
    return "None" if value is None else type(value).__name__


def check_backend(backend: Any, supported: Sequence[str], owner: str) -> str:
    """Return ``backend`` when ``owner`` (an estimator's name) can run it.

    Every estimator takes ``backend="auto" | "cpu" | "cuda" | "reference"``; one that cannot run
    a backend raises this ValueError, naming ``backend`` and listing what it supports.
    """
    if not isinstance(backend, str) or backend not in supported:
        extra = ""
        if isinstance(backend, str) and backend in ESTIMATOR_BACKENDS:
            extra = f" ({owner} has no {backend!r} backend)"
        raise ValueError(f"backend must be one of {tuple(supported)} for {owner}, got {backend!r}{extra}")
    return backend


def array_argument(value: Any, name: str, what: str = "an array") -> Any:
    """``value`` unchanged, unless it is None or plainly not an array (str, bytes, dict, set, a
    number): then a TypeError naming ``name`` and what it got."""
    plain_dict = isinstance(value, dict) and not hasattr(value, "tocsr")  # a scipy dok_matrix is a dict
    if value is None or plain_dict or isinstance(value, (str, bytes, set, numbers.Number)):
        raise TypeError(f"{name} must be {what}, got {describe(value)}")
    return value


def host_copy(x: Any, name: str) -> Any:
    """A NumPy copy of a GPU array (CuPy, PyTorch CUDA, Numba device array); anything else as is
    (for the steps that run on the host)."""
    from .. import _dispatch

    if x is None or not _dispatch.is_device_array(x):
        return x
    return _dispatch.host(_dispatch.prepare_array(x, name))


def check_random_state(seed: Any) -> np.random.RandomState:
    """scikit-learn's ``check_random_state`` (None, an int or a RandomState), with an error that
    names ``random_state``."""
    if isinstance(seed, np.random.RandomState):
        return seed
    if seed is None or (isinstance(seed, (numbers.Integral, np.integer)) and not isinstance(seed, (bool, np.bool_))):
        return np.random.RandomState(seed)
    raise TypeError(f"random_state must be None, an int or a numpy RandomState, got {describe(seed)}")


__all__ = ["ESTIMATOR_BACKENDS", "array_argument", "check_backend", "check_random_state", "describe", "host_copy"]
