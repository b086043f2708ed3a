"""Kernel-level API of histogram trees: gradient histograms, best split, partition.

All three take ``backend="auto" | "cpu" | "cuda" | "reference"``.  Bin codes come from
:class:`~bagu_fast.trees.BinMapper` (uint8, ``[n_samples, n_features]``); a histogram has
``n_bins`` bins per feature and its last bin, ``n_bins - 1``, holds the missing values
(``BinMapper(max_bins)`` codes NaN as ``max_bins``, so pass ``n_bins = max_bins + 1``).

Split semantics, shared by every backend: a split ``(feature, bin, missing_go_to_left)`` sends
codes ``<= bin`` left, the other non-missing codes right, missing values left iff
``missing_go_to_left``.  :func:`find_best_split` maximises the gain
``G_L²/(H_L+λ) + G_R²/(H_R+λ) − G²/(H+λ)`` (XGBoost's objective without the ½, as LightGBM,
XGBoost and scikit-learn implement it; ``γ = min_gain_to_split``) over every bin of every
feature, trying both directions for the missing values when the node has any.  Ties go to the
lowest feature, then the lowest bin, then missing-right; when a node has no missing value for the
chosen feature, ``missing_go_to_left`` is ``n_samples_left > n_samples_right`` (unseen missing
values follow the larger child at prediction time, as in scikit-learn).  The leaf value of a node
is ``−G/(H+λ)``.
"""
from __future__ import annotations

from typing import Any, NamedTuple, Optional, Tuple

import numpy as np

from .. import _dispatch
from .._validate import ArrayLike, float_arrays, integer, real_number
from ._checks import array_argument

__all__ = ["SplitInfo", "build_histogram", "find_best_split", "partition"]


class SplitInfo(NamedTuple):
    """Result of :func:`find_best_split`; ``feature == -1`` and ``gain == -inf`` when no split is valid."""

    feature: int
    bin: int
    gain: float
    missing_go_to_left: bool
    sum_gradient_left: float
    sum_hessian_left: float
    n_samples_left: int
    sum_gradient_right: float
    sum_hessian_right: float
    n_samples_right: int


def _prepare(x: ArrayLike, name: str):
    """``(kernel argument, host array)``: a device array stays on the device for the cuda kernels,
    and its values are checked on a host copy (the checks run before any kernel)."""
    arr = _dispatch.prepare_array(array_argument(x, name), name)
    return arr, _dispatch.host(arr)


def _binned(binned: ArrayLike, n_bins: int, *, check_codes: bool = True):
    dev, arr = _prepare(binned, "binned")
    if arr.dtype != np.uint8:
        raise TypeError(f"binned must be uint8 bin codes (BinMapper.transform), got {arr.dtype}")
    if arr.ndim != 2:
        raise ValueError(f"binned must be 2-D [n_samples, n_features], got shape {arr.shape}")
    if check_codes and n_bins < 256 and arr.size and int(arr.max()) >= n_bins:
        raise ValueError(f"binned holds code {int(arr.max())} but n_bins={n_bins} allows codes < {n_bins}")
    return dev if dev is not arr else np.ascontiguousarray(arr), arr


def _n_bins(n_bins: Any) -> int:
    n = integer(n_bins, "n_bins")
    if not 2 <= n <= 256:
        raise ValueError(f"n_bins must be in [2, 256], got {n}")
    return n


def _float_vector(x: ArrayLike, name: str, n: int):
    dev, arr = _prepare(x, name)
    float_arrays(**{name: arr})
    if arr.ndim != 1 or arr.shape[0] != n:
        raise ValueError(f"{name} must have shape ({n},) (one value per row of binned), got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite (no NaN or inf)")
    return dev if dev is not arr else np.ascontiguousarray(arr), arr


def _indices(sample_indices: ArrayLike, n: int):
    dev, arr = _prepare(sample_indices, "sample_indices")
    if arr.ndim != 1:
        raise ValueError(f"sample_indices must be 1-D, got shape {arr.shape}")
    if arr.size == 0:
        return np.zeros(0, dtype=np.intp)
    if not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"sample_indices must hold integers, got {arr.dtype}")
    if int(arr.min()) < 0 or int(arr.max()) >= n:
        raise ValueError(f"sample_indices must be in [0, {n}) (rows of binned), got values in "
                         f"[{int(arr.min())}, {int(arr.max())}]")
    if dev is not arr:  # device indices: int64 on the device
        return dev if np.dtype(arr.dtype) == np.int64 else _to_device(arr.astype(np.int64))
    return np.ascontiguousarray(arr, dtype=np.intp)


def _to_device(host: np.ndarray):
    from numba import cuda

    return cuda.to_device(host)


def build_histogram(
    binned: ArrayLike,
    gradients: ArrayLike,
    hessians: Optional[ArrayLike] = None,
    sample_indices: Optional[ArrayLike] = None,
    *,
    n_bins: int = 256,
    deterministic: bool = False,
    backend: str = "auto",
) -> Tuple[Any, Any, Any]:
    """Per-feature histograms of gradients, hessians and counts over a node's rows.

    Parameters
    ----------
    binned : uint8 array ``[n_samples, n_features]``
        Bin codes, each ``< n_bins``.
    gradients : float32 / float64 array ``[n_samples]``
        One gradient per row of ``binned`` (rows outside ``sample_indices`` are not read).
    hessians : float32 / float64 array ``[n_samples]`` or None
        ``None`` means constant hessians: the counts serve as ``sum_hessians`` (scikit-learn's
        convention; scale by your constant hessian).  Must be ``> 0``.
    sample_indices : integer array ``[m]`` or None
        The node's rows (``None``: every row).
    n_bins : int, default=256
        Bins per feature, in ``[2, 256]``; the last one is the missing-value bin.
    deterministic : bool, default=False
        cuda only (the other backends always are): sum integer-quantised gradients and hessians
        (int64 fixed point, as XGBoost) so that the result does not depend on the order of the
        GPU's atomics; the quantisation error is at most ``m * max|g| / 2**63`` per bin.
    backend : {"auto", "cpu", "cuda", "reference"}

    Returns
    -------
    sum_gradients, sum_hessians : float64 ``[n_features, n_bins]``
        Sums in float64 (of float32 or float64 inputs).
    counts : int64 ``[n_features, n_bins]``
        NumPy arrays for host inputs; device arrays (of the inputs' library) when the cuda
        backend got device inputs.  Device inputs are validated on a host copy.

    Notes
    -----
    A sibling's histogram is ``parent − child`` (entry-wise, counts exactly); the estimators'
    grower builds only the smaller child and subtracts.  Sums may differ between backends by
    float64 rounding (different summation orders); counts are exact.
    """
    backend = _dispatch.resolve_backend(backend, binned, gradients, hessians, sample_indices)
    nb = _n_bins(n_bins)
    if not isinstance(deterministic, (bool, np.bool_)):
        raise TypeError(f"deterministic must be a bool, got {type(deterministic).__name__}")
    b, b_host = _binned(binned, nb)
    g, g_host = _float_vector(gradients, "gradients", b_host.shape[0])
    h = None
    if hessians is not None:
        h, h_host = _float_vector(hessians, "hessians", b_host.shape[0])
        if h_host.dtype != g_host.dtype:
            raise TypeError(f"hessians has dtype {h_host.dtype} but gradients has {g_host.dtype}; pass one dtype")
        if h_host.size and not np.all(h_host > 0):
            raise ValueError("hessians must be > 0")
    idx = None if sample_indices is None else _indices(sample_indices, b_host.shape[0])
    kern = _dispatch.kernels("trees", backend)
    if backend == "cuda":
        g_, h_, c_ = kern.build_histogram(b, g, h, idx, nb, deterministic=bool(deterministic))
        return tuple(_dispatch.wrap_like(x, gradients) for x in (g_, h_, c_))
    if backend == "cpu" and not isinstance(b, np.ndarray):  # pragma: no cover - resolve_backend forbids it
        raise ValueError("backend='cpu' needs host arrays")
    return kern.build_histogram(b, g, h, idx, nb)


def find_best_split(
    sum_gradients: ArrayLike,
    sum_hessians: ArrayLike,
    counts: ArrayLike,
    *,
    l2_regularization: float = 0.0,
    min_samples_leaf: int = 20,
    min_hessian_to_split: float = 1e-3,
    min_gain_to_split: float = 0.0,
    backend: str = "auto",
) -> SplitInfo:
    """The best split of a node from its histograms (see the module doc for the exact rule).

    Parameters
    ----------
    sum_gradients, sum_hessians : float array ``[n_features, n_bins]``
        As returned by :func:`build_histogram` (``n_bins >= 2``; the last bin is missing values).
    counts : integer array ``[n_features, n_bins]``
    l2_regularization : float, default=0.0
        λ, ``>= 0``.
    min_samples_leaf : int, default=20
        Each child needs at least this many samples (``>= 1``).
    min_hessian_to_split : float, default=1e-3
        Each child needs at least this hessian sum.
    min_gain_to_split : float, default=0.0
        The gain must exceed this (γ).
    backend : {"auto", "cpu", "cuda", "reference"}

    Returns
    -------
    SplitInfo
        ``(feature, bin, gain, missing_go_to_left, sum_gradient_left, sum_hessian_left,
        n_samples_left, sum_gradient_right, sum_hessian_right, n_samples_right)``.
    """
    backend = _dispatch.resolve_backend(backend, sum_gradients, sum_hessians, counts)
    arrays = []
    for x, name in ((sum_gradients, "sum_gradients"), (sum_hessians, "sum_hessians"), (counts, "counts")):
        _, a = _prepare(x, name)  # split finding returns host scalars: work on host copies
        if a.ndim != 2:
            raise ValueError(f"{name} must be 2-D [n_features, n_bins], got shape {a.shape}")
        arrays.append(a)
    g, h, c = arrays
    if g.shape[1] < 2:
        raise ValueError(f"sum_gradients must have >= 2 bins (the last is the missing bin), got {g.shape[1]}")
    for a, name in ((h, "sum_hessians"), (c, "counts")):
        if a.shape != g.shape:
            raise ValueError(f"{name} has shape {a.shape} but sum_gradients has {g.shape}; they must match")
    for a, name in ((g, "sum_gradients"), (h, "sum_hessians")):
        if not (np.issubdtype(a.dtype, np.floating) or np.issubdtype(a.dtype, np.integer)):
            raise TypeError(f"{name} must hold real numbers, got {a.dtype}")
        if not np.all(np.isfinite(a)):
            raise ValueError(f"{name} must be finite (no NaN or inf)")
    if not np.issubdtype(c.dtype, np.integer):
        raise TypeError(f"counts must hold integers, got {c.dtype}")
    if c.size and int(c.min()) < 0:
        raise ValueError("counts must be >= 0")
    lam = real_number(l2_regularization, "l2_regularization", minimum=0.0)
    msl = integer(min_samples_leaf, "min_samples_leaf", minimum=1)
    mh = real_number(min_hessian_to_split, "min_hessian_to_split", minimum=0.0)
    mg = real_number(min_gain_to_split, "min_gain_to_split", minimum=0.0)
    g = np.ascontiguousarray(g, dtype=np.float64)
    h = np.ascontiguousarray(h, dtype=np.float64)
    c = np.ascontiguousarray(c, dtype=np.int64)
    kern = _dispatch.kernels("trees", backend)
    return SplitInfo(*kern.find_best_split(g, h, c, lam, msl, mh, mg))


def partition(
    sample_indices: ArrayLike,
    binned: ArrayLike,
    feature: int,
    bin: int,
    missing_go_to_left: bool,
    *,
    n_bins: int = 256,
    backend: str = "auto",
) -> Tuple[Any, Any]:
    """Split a node's rows: ``(left, right)`` index arrays, each in the input order (stable).

    Parameters
    ----------
    sample_indices : integer array ``[m]``
        The node's rows of ``binned``.
    binned : uint8 array ``[n_samples, n_features]``
    feature, bin : int
        Codes ``<= bin`` of column ``feature`` go left.
    missing_go_to_left : bool
        Where code ``n_bins - 1`` (missing) goes.
    n_bins : int, default=256
        Histogram bins (``BinMapper.max_bins + 1``); code ``n_bins - 1`` is missing.
    backend : {"auto", "cpu", "cuda", "reference"}

    Returns
    -------
    left, right : intp arrays (int64 device arrays for device inputs on the cuda backend)
    """
    backend = _dispatch.resolve_backend(backend, sample_indices, binned)
    nb = _n_bins(n_bins)
    b, b_host = _binned(binned, nb, check_codes=False)
    f = integer(feature, "feature", minimum=0)
    if f >= b_host.shape[1]:
        raise ValueError(f"feature must be < n_features={b_host.shape[1]}, got {f}")
    bn = integer(bin, "bin", minimum=0)
    if bn >= nb - 1:
        raise ValueError(f"bin must be < n_bins - 1 = {nb - 1} (a non-missing bin), got {bn}")
    if not isinstance(missing_go_to_left, (bool, np.bool_)):
        raise TypeError(f"missing_go_to_left must be a bool, got {type(missing_go_to_left).__name__}")
    idx = _indices(sample_indices, b_host.shape[0])
    kern = _dispatch.kernels("trees", backend)
    left, right = kern.partition(idx, b, f, bn, bool(missing_go_to_left), nb - 1)
    return _dispatch.wrap_like(left, sample_indices), _dispatch.wrap_like(right, sample_indices)
