"""Quantile binning of real-valued features into uint8 codes (scikit-learn's ``_BinMapper`` rule)."""
from __future__ import annotations

import numbers
from typing import Any, Optional

import numpy as np

from .._validate import ArrayLike, integer
from ._checks import array_argument, check_backend, describe

BACKENDS = ("auto", "cpu", "reference")

__all__ = ["BinMapper"]


def _check_X(X: ArrayLike, name: str = "X") -> np.ndarray:
    array_argument(X, name, "a 2-D array of real numbers")
    try:
        arr = np.asarray(X)
    except Exception as exc:
        raise TypeError(f"{name} must be array-like, got {type(X).__name__}: {exc}") from None
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_):
        raise TypeError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    if np.issubdtype(arr.dtype, np.complexfloating):
        raise TypeError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    if arr.ndim != 2:
        raise ValueError(f"{name} must be 2-D [n_samples, n_features], got shape {arr.shape}")
    if arr.dtype not in (np.float32, np.float64):
        arr = arr.astype(np.float64)
    return np.ascontiguousarray(arr)


def _check_weights(sample_weight: ArrayLike, n: int) -> np.ndarray:
    array_argument(sample_weight, "sample_weight", f"an array of {n} real numbers")
    w = np.asarray(sample_weight)
    if w.dtype == object or not (np.issubdtype(w.dtype, np.number) or w.dtype == np.bool_) \
            or np.issubdtype(w.dtype, np.complexfloating):
        raise TypeError(f"sample_weight must hold real numbers, got dtype {w.dtype}")
    if w.shape != (n,):
        raise ValueError(f"sample_weight must have shape ({n},) (one weight per row of X), got {w.shape}")
    w = np.ascontiguousarray(w, dtype=np.float64)
    if not np.all(np.isfinite(w)):
        raise ValueError("sample_weight must be finite (no NaN or inf)")
    return w


def _random_state(rng: Any) -> np.random.RandomState:
    if isinstance(rng, np.random.RandomState):
        return rng
    if rng is None or isinstance(rng, (numbers.Integral, np.integer)) and not isinstance(rng, bool):
        return np.random.RandomState(rng)
    if isinstance(rng, np.random.Generator):
        return np.random.RandomState(rng.integers(2**31))
    raise TypeError(f"random_state must be None, an int, a RandomState or a Generator, got {describe(rng)}")


def _kernels(backend: str):
    """The binning kernels of ``backend`` ("cpu": Numba, "reference": NumPy)."""
    if backend == "reference":
        from ..kernels.reference.trees import binning
    else:
        from ..kernels.cpu.trees import binning
    return binning


def _weighted_thresholds(X: np.ndarray, w: np.ndarray, max_bins: int, kb):
    """Per feature: drop NaN and zero-weight rows, sort as scikit-learn sorts (NumPy's argsort
    on the column, then again on the sorted values, as its weighted percentile does: the order of
    tied values' weights is NumPy's), and let the kernel place the thresholds."""
    n_features = X.shape[1]
    thr = np.full((n_features, max(max_bins - 1, 1)), np.inf)
    n_thr = np.zeros(n_features, dtype=np.int64)
    for f in range(n_features):
        col = X[:, f].astype(np.float64)
        keep = ~np.isnan(col) & (w != 0)
        values, weights = col[keep], w[keep]
        if values.size == 0:
            continue
        order = np.argsort(values)
        values, weights = values[order], weights[order]
        again = np.argsort(values.reshape(-1, 1), axis=0)[:, 0]
        n_thr[f] = kb.weighted_thresholds(np.ascontiguousarray(values[again]), np.ascontiguousarray(weights[again]),
                                          max_bins, thr[f])
    return thr, n_thr


class BinMapper:
    """Map each feature to at most ``max_bins`` quantile bins (uint8 codes), NaN to its own bin.

    Parameters
    ----------
    max_bins : int, default=255
        Number of bins for non-missing values, in ``[2, 255]``.  Missing values (NaN) get code
        ``max_bins`` (scikit-learn's convention), so the codes fit a histogram of
        ``n_bins = max_bins + 1`` bins.
    subsample : int or None, default=200_000
        Thresholds are computed from this many rows drawn at random with replacement (all rows
        when ``None`` or when there are fewer), as scikit-learn.
    random_state : int, Generator, RandomState or None
        Seed of the subsample.
    backend : {"auto", "cpu", "reference"}, default="auto"
        The kernels: "cpu" (Numba; "auto" is "cpu": binning runs on the host, also for GPU
        fits) or "reference" (NumPy, slow; the same thresholds and codes).  Any other value
        raises a ValueError naming ``backend`` and listing these.

    Attributes
    ----------
    bin_thresholds_ : list of float64 arrays
        Per feature, the increasing thresholds ``t``: a value ``x`` gets code ``b`` = the number
        of thresholds ``< x``, so ``x <= t[b]`` exactly when its code is ``<= b``.  With at most
        ``max_bins`` distinct values the thresholds are the midpoints between consecutive distinct
        values, otherwise the distinct values among the ``max_bins - 1`` inner percentiles
        (``np.percentile`` ``method="averaged_inverted_cdf"``, as scikit-learn 1.9; with sample
        weights its weighted percentiles, see :meth:`fit`), clipped to ``1e300``.  ``-inf`` gets
        code 0 and ``+inf`` the last bin ``n_bins_non_missing_[f] - 1``.
    n_bins_non_missing_ : ndarray of int
        ``len(bin_thresholds_[f]) + 1`` (1 for an all-NaN feature).
    missing_values_bin_idx_ : int
        ``max_bins``.
    n_features_in_ : int
    """

    def __init__(self, max_bins: int = 255, *, subsample: Optional[int] = 200_000, random_state: Any = None,
                 backend: str = "auto"):
        self.max_bins = max_bins
        self.subsample = subsample
        self.random_state = random_state
        self.backend = backend

    def _backend(self) -> str:
        """"cpu" or "reference" ("auto" is "cpu": binning runs on the host, also for GPU fits)."""
        backend = check_backend(self.backend, BACKENDS, "BinMapper")
        return "cpu" if backend == "auto" else backend

    def _check_params(self) -> None:
        max_bins = integer(self.max_bins, "max_bins")
        if not 2 <= max_bins <= 255:
            raise ValueError(f"max_bins must be in [2, 255], got {max_bins}")
        if self.subsample is not None:
            integer(self.subsample, "subsample", minimum=1)

    def fit(self, X: ArrayLike, y: Any = None, sample_weight: Optional[ArrayLike] = None) -> "BinMapper":
        """Compute the per-feature thresholds of ``X`` ``[n_samples, n_features]``.

        ``sample_weight`` (``[n_samples]``, finite, optional) weights the percentiles as
        scikit-learn 1.9's ``_BinMapper`` does: rows of weight 0 place no threshold, and when
        ``X`` has more than ``subsample`` rows, ``subsample`` rows are drawn with replacement
        with probabilities proportional to the weights (the weights must then be
        non-negative), and their thresholds are the unweighted ones.
        """
        self._check_params()
        self._backend()
        X = _check_X(X)
        if X.shape[0] == 0:
            raise ValueError("X must have at least one sample")
        w = None if sample_weight is None else _check_weights(sample_weight, X.shape[0])
        if self.subsample is not None and X.shape[0] > self.subsample:
            rng = _random_state(self.random_state)
            p = None
            if w is not None:
                if np.any(w < 0) or not w.sum() > 0:
                    raise ValueError("sample_weight must be non-negative with a positive sum when X has more than "
                                     f"subsample={self.subsample} rows (rows are drawn with probability proportional "
                                     "to their weight)")
                p = w / np.sum(w)
            # with replacement, also without weights, as scikit-learn: no weights is then the same
            # draw as unit weights
            X = X.take(rng.choice(X.shape[0], int(self.subsample), p=p, replace=True), axis=0)
            w = None
        from ..kernels.cpu._parallel import parallel_region

        kb = _kernels(self._backend())
        if w is None:
            with parallel_region():
                thr, n_thr = kb.thresholds(X, int(self.max_bins))
        else:
            thr, n_thr = _weighted_thresholds(X, w, int(self.max_bins), kb)
        self._pthr = kb.padded_thresholds(thr, n_thr)
        self.bin_thresholds_ = [thr[f, : n_thr[f]].copy() for f in range(X.shape[1])]
        self.n_bins_non_missing_ = (n_thr + 1).astype(np.uint32)
        self.missing_values_bin_idx_ = int(self.max_bins)
        self.n_features_in_ = X.shape[1]
        return self

    def transform(self, X: ArrayLike) -> np.ndarray:
        """Bin codes of ``X``: uint8 ``[n_samples, n_features]``, C-contiguous (row-major)."""
        if not hasattr(self, "bin_thresholds_"):
            raise ValueError("This BinMapper instance is not fitted yet; call fit first")
        X = _check_X(X)
        if X.shape[1] != self.n_features_in_:
            raise ValueError(f"X has {X.shape[1]} features but the BinMapper was fitted with {self.n_features_in_}")
        from ..kernels.cpu._parallel import parallel_region

        kb = _kernels(self._backend())
        out = np.empty(X.shape, dtype=np.uint8)
        with parallel_region():
            kb.transform(X, self._pthr, int(self.missing_values_bin_idx_), out)
        return out

    def fit_transform(self, X: ArrayLike, y: Any = None, sample_weight: Optional[ArrayLike] = None) -> np.ndarray:
        """``fit(X, sample_weight=sample_weight).transform(X)``."""
        return self.fit(X, sample_weight=sample_weight).transform(X)
