"""The classic split criteria (ID3 / C4.5 / CART and regression MSE) and class histograms, as
kernels with the three backends.

* :func:`build_class_histogram` counts the classes of the rows in every (feature, bin) cell of a
  binned matrix (the classification analogue of the gradient histograms of
  :func:`bagu_fast.trees.build_histogram`);
* :func:`split_criterion` scores candidate splits from the class counts of their two children:
  Gini decrease (CART), information gain ``H(D) - H(D | A)`` (ID3, entropy in bits) or gain ratio
  ``Gain(D, A) / IV(A)`` (C4.5);
* :func:`split_gain_mse` scores regression splits from target sums and counts.

All three are vectorised over candidate splits.  Cumulative sums of a class histogram over its
bins give the left counts of every threshold of a feature at once::

    hist = build_class_histogram(binned, y, n_classes)          # [F, B, C]
    left = np.cumsum(hist, axis=1)[:, :-1]                       # bins <= b go left
    right = hist.sum(axis=1, keepdims=True) - left
    gains = split_criterion(left, right, criterion="entropy")    # [F, B - 1]
"""
from __future__ import annotations

from typing import Any, Optional

import numpy as np

from .. import _dispatch, _validate
from .._validate import ArrayLike
from ._checks import array_argument

__all__ = ["build_class_histogram", "split_criterion", "split_gain_mse", "CRITERIA"]

CRITERIA = {"gini": 0, "entropy": 1, "gain_ratio": 2}
_host = _dispatch.host  # host view for the checks (device arrays are copied: checks precede every kernel)


def _integer_array(x: Any, name: str) -> None:
    if not np.issubdtype(np.dtype(x.dtype), np.integer):
        raise TypeError(f"{name} must hold integers, got dtype {x.dtype}")


def _counts_array(x: Any, name: str) -> np.dtype:
    dt = np.dtype(x.dtype)
    if dt == np.bool_ or not (np.issubdtype(dt, np.integer) or dt in _validate.FLOAT_DTYPES):
        raise TypeError(f"{name} must hold integers or float32 / float64 counts, got dtype {dt}")
    host = _host(x)
    if host.size:
        if dt.kind == "f" and not np.all(np.isfinite(host)):
            raise ValueError(f"{name} must be finite (no NaN or inf)")
        if host.min() < 0:
            raise ValueError(f"{name} must be >= 0 (counts or weights)")
    return dt


def build_class_histogram(
    binned: ArrayLike,
    y_codes: ArrayLike,
    n_classes: int,
    sample_indices: Optional[ArrayLike] = None,
    *,
    n_bins: int = 256,
    sample_weight: Optional[ArrayLike] = None,
    backend: str = "auto",
) -> Any:
    """Class counts per (feature, bin): ``out[f, b, k]`` = rows with ``binned[i, f] == b`` and
    ``y_codes[i] == k``.

    Parameters
    ----------
    binned : array of uint8, shape ``[n_samples, n_features]``
        Bin codes (as :meth:`bagu_fast.trees.BinMapper.transform` returns them), each ``< n_bins``.
    y_codes : array of integers, shape ``[n_samples]``
        Class codes in ``[0, n_classes)``.
    n_classes : int
        Number of classes, ``>= 1``.
    sample_indices : array of integers, optional
        The rows to count (a node's rows; repeats count repeatedly), each in ``[0, n_samples)``.
        Default: every row.
    n_bins : int
        Bins per feature, in ``[1, 256]``; default 256 (codes 0..255).
    sample_weight : array of float, shape ``[n_samples]``, optional
        Non-negative finite weights; the histogram then holds float64 weight sums.
    backend : {"auto", "cpu", "cuda", "reference"}
        ``"auto"``: ``"cuda"`` for GPU inputs, else ``"cpu"``.

    Returns
    -------
    array, shape ``[n_features, n_bins, n_classes]``
        int64 counts (exact on every backend), or float64 weight sums with ``sample_weight``.
        A GPU array of the input's library for GPU inputs.
    """
    backend = _dispatch.resolve_backend(backend, binned, y_codes, sample_indices, sample_weight)
    b = _dispatch.prepare_array(array_argument(binned, "binned"), "binned")
    y = _dispatch.prepare_array(array_argument(y_codes, "y_codes"), "y_codes")
    if np.dtype(b.dtype) != np.uint8:
        raise TypeError(f"binned must be uint8 bin codes, got dtype {b.dtype}")
    if len(b.shape) != 2:
        raise ValueError(f"binned must be 2-D [n_samples, n_features], got shape {tuple(b.shape)}")
    n = int(b.shape[0])
    n_bins = _validate.integer(n_bins, "n_bins", minimum=1)
    if n_bins > 256:
        raise ValueError(f"n_bins must be <= 256 (uint8 codes), got {n_bins}")
    n_classes = _validate.integer(n_classes, "n_classes", minimum=1)
    _integer_array(y, "y_codes")
    if tuple(y.shape) != (n,):
        raise ValueError(f"y_codes must have shape ({n},) to match binned, got {tuple(y.shape)}")
    hb, hy = _host(b), _host(y)
    if hb.size and int(hb.max()) >= n_bins:
        raise ValueError(f"binned holds code {int(hb.max())} >= n_bins={n_bins}")
    if hy.size and (int(hy.min()) < 0 or int(hy.max()) >= n_classes):
        raise ValueError(f"y_codes must lie in [0, n_classes={n_classes}), got [{int(hy.min())}, {int(hy.max())}]")
    idx = None
    if sample_indices is not None:
        idx = _dispatch.prepare_array(array_argument(sample_indices, "sample_indices"), "sample_indices")
        _integer_array(idx, "sample_indices")
        if len(idx.shape) != 1:
            raise ValueError(f"sample_indices must be 1-D, got shape {tuple(idx.shape)}")
        hi = _host(idx)
        if hi.size and (int(hi.min()) < 0 or int(hi.max()) >= n):
            raise ValueError(f"sample_indices must lie in [0, {n}), got [{int(hi.min())}, {int(hi.max())}]")
    w = None
    if sample_weight is not None:
        w = _dispatch.prepare_array(array_argument(sample_weight, "sample_weight"), "sample_weight")
        _validate.float_arrays(sample_weight=w)
        if tuple(w.shape) != (n,):
            raise ValueError(f"sample_weight must have shape ({n},) to match binned, got {tuple(w.shape)}")
        hw = _host(w)
        _validate.all_finite(hw, "sample_weight")
        if hw.size and hw.min() < 0:
            raise ValueError("sample_weight must be >= 0")
    kern = _dispatch.kernels("trees", backend)
    if backend != "cuda":
        b = np.ascontiguousarray(b)
        y = y.astype(np.int64, copy=False)
        idx = None if idx is None else idx.astype(np.int64, copy=False)
        w = None if w is None else w.astype(np.float64, copy=False)
    out = kern.build_class_histogram(b, y, n_classes, idx, n_bins, w)
    return _dispatch.wrap_like(out, binned)


def split_criterion(
    class_counts_left: ArrayLike,
    class_counts_right: ArrayLike,
    *,
    criterion: str,
    backend: str = "auto",
) -> Any:
    """Score candidate splits from the class counts of their children.

    With ``n_L``, ``n_R`` the children's totals, ``n = n_L + n_R`` and ``p_k`` class fractions:

    * ``"gini"`` (CART): ``Gini(D) - n_L/n Gini(L) - n_R/n Gini(R)``, ``Gini = sum_k p_k (1 - p_k)``;
    * ``"entropy"`` (ID3's information gain): ``H(D) - H(D | A)`` with ``H = -sum_k p_k log2 p_k``
      (bits) and ``H(D | A) = n_L/n H(L) + n_R/n H(R)``;
    * ``"gain_ratio"`` (C4.5): the information gain divided by the split information
      ``IV(A) = -n_L/n log2(n_L/n) - n_R/n log2(n_R/n)``.

    Parameters
    ----------
    class_counts_left, class_counts_right : array, shape ``[..., n_classes]``
        Non-negative counts (integers) or weight sums (float32 / float64) of each child; same
        shape.  Leading dimensions index the candidate splits (e.g. ``[features, bins]``).
    criterion : {"gini", "entropy", "gain_ratio"}
    backend : {"auto", "cpu", "cuda", "reference"}

    Returns
    -------
    array, shape ``[...]``
        float32 for float32 counts, float64 otherwise.  A candidate with an empty child is no
        split and scores 0; gains are clipped at 0 against rounding.  Everything is computed in
        float64, so every backend agrees to rounding.
    """
    if not isinstance(criterion, str) or criterion not in CRITERIA:
        raise ValueError(f"criterion must be one of {tuple(CRITERIA)}, got {criterion!r}")
    backend = _dispatch.resolve_backend(backend, class_counts_left, class_counts_right)
    left = _dispatch.prepare_array(array_argument(class_counts_left, "class_counts_left"), "class_counts_left")
    right = _dispatch.prepare_array(array_argument(class_counts_right, "class_counts_right"), "class_counts_right")
    dl = _counts_array(left, "class_counts_left")
    dr = _counts_array(right, "class_counts_right")
    if (dl.kind == "f" or dr.kind == "f") and dl != dr:
        raise TypeError(f"class_counts_right has dtype {dr} but class_counts_left has {dl}; pass one dtype")
    _validate.min_ndim(left, "class_counts_left", 1)
    if tuple(left.shape) != tuple(right.shape):
        raise ValueError(f"class_counts_left {tuple(left.shape)} and class_counts_right {tuple(right.shape)} "
                         "must have the same shape [..., n_classes]")
    lead = tuple(left.shape[:-1])
    C = int(left.shape[-1])
    m = int(np.prod(lead, dtype=np.int64))
    if isinstance(left, np.ndarray):
        if dl.kind in "iu":
            left, right = left.astype(np.int64), right.astype(np.int64)
        left = np.ascontiguousarray(left).reshape(m, C)
        right = np.ascontiguousarray(right).reshape(m, C)
    else:
        left, right = left.reshape(m, C), right.reshape(m, C)
    out = _dispatch.kernels("trees", backend).split_criterion(left, right, CRITERIA[criterion])
    out = out.reshape(lead) if isinstance(out, np.ndarray) else out.reshape(*lead) if lead else out
    return _dispatch.wrap_like(out, class_counts_left)


def split_gain_mse(
    sum_left: ArrayLike,
    count_left: ArrayLike,
    sum_right: ArrayLike,
    count_right: ArrayLike,
    *,
    backend: str = "auto",
) -> Any:
    """Score regression splits by the decrease of the mean squared error (CART's criterion).

    ``gain = (S_L^2 / n_L + S_R^2 / n_R - S^2 / n) / n`` with ``S = S_L + S_R`` and
    ``n = n_L + n_R``: the parent's mean squared error minus the children's weighted ones
    (``MSE(D) - n_L/n MSE(L) - n_R/n MSE(R)``).

    Parameters
    ----------
    sum_left, sum_right : array of float32 / float64
        (Weighted) target sums of the children; one dtype, same shape.
    count_left, count_right : array
        (Weighted) counts, non-negative, the same shape as the sums.
    backend : {"auto", "cpu", "cuda", "reference"}

    Returns
    -------
    array
        Same shape and dtype as ``sum_left``; 0 where a child is empty.
    """
    backend = _dispatch.resolve_backend(backend, sum_left, count_left, sum_right, count_right)
    names = ("sum_left", "count_left", "sum_right", "count_right")
    arrs = [_dispatch.prepare_array(array_argument(a, n), n) for a, n in zip((sum_left, count_left, sum_right, count_right), names)]
    dtype = _validate.float_arrays(sum_left=arrs[0], sum_right=arrs[2])
    for a, n in zip(arrs, names):
        if tuple(a.shape) != tuple(arrs[0].shape):
            raise ValueError(f"{n} has shape {tuple(a.shape)} but sum_left has {tuple(arrs[0].shape)}; they must match")
    for k in (0, 2):
        _validate.all_finite(_host(arrs[k]), names[k])
    for k in (1, 3):
        _counts_array(arrs[k], names[k])
    shape = tuple(arrs[0].shape)
    m = int(np.prod(shape, dtype=np.int64))
    if isinstance(arrs[0], np.ndarray):
        flat = [np.ascontiguousarray(a, dtype=dtype if k in (0, 2) else np.float64).reshape(m) for k, a in enumerate(arrs)]
    else:
        flat = [a.reshape(m) for a in arrs]
    out = _dispatch.kernels("trees", backend).split_gain_mse(*flat)
    out = out.reshape(shape) if isinstance(out, np.ndarray) else out.reshape(*shape) if shape else out
    return _dispatch.wrap_like(out, sum_left)
