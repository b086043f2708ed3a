"""Quantile binning of real-valued features into uint8 codes (scikit-learn's ``_BinMapper`` rule)."""
from __future__ import annotations

import numbers
from typing import Any, Optional

import numpy as np

from .._validate import integer

__all__ = ["BinMapper"]

ArrayLike = Any


def _check_X(X: ArrayLike, name: str = "X") -> np.ndarray:
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


class BinMapper:
    """Map each feature to at most ``max_bins`` quantile bins (uint8 codes), NaN to its own bin.

    Parameters
    ----------
    max_bins : int, default=255
        Number of bins for non-missing values, in ``[2, 255]``.  Missing values (NaN) get code
        ``max_bins`` (scikit-learn's convention), so the codes fit a histogram of
        ``n_bins = max_bins + 1`` bins.
    subsample : int or None, default=200_000
        Thresholds are computed from a random subsample of this many rows (all rows when
        ``None`` or when there are fewer).
    random_state : int, Generator, RandomState or None
        Seed of the subsample.

    Attributes
    ----------
    bin_thresholds_ : list of float64 arrays
        Per feature, the increasing thresholds ``t``: a value ``x`` gets code ``b`` = the number
        of thresholds ``< x``, so ``x <= t[b]`` exactly when its code is ``<= b``.  With at most
        ``max_bins`` distinct values the thresholds are the midpoints between consecutive distinct
        values, otherwise the distinct values among the ``max_bins - 1`` inner percentiles
        (``np.percentile`` ``method="averaged_inverted_cdf"``, as scikit-learn 1.9 without sample
        weights), clipped to ``1e300``.  ``-inf`` gets code 0 and ``+inf`` the last
        bin ``n_bins_non_missing_[f] - 1``.
    n_bins_non_missing_ : ndarray of int
        ``len(bin_thresholds_[f]) + 1`` (1 for an all-NaN feature).
    missing_values_bin_idx_ : int
        ``max_bins``.
    n_features_in_ : int
    """

    def __init__(self, max_bins: int = 255, *, subsample: Optional[int] = 200_000, random_state: Any = None):
        self.max_bins = max_bins
        self.subsample = subsample
        self.random_state = random_state

    def _check_params(self) -> None:
        max_bins = integer(self.max_bins, "max_bins")
        if not 2 <= max_bins <= 255:
            raise ValueError(f"max_bins must be in [2, 255], got {max_bins}")
        if self.subsample is not None:
            integer(self.subsample, "subsample", minimum=1)

    def fit(self, X: ArrayLike, y: Any = None) -> "BinMapper":
        """Compute the per-feature thresholds of ``X`` ``[n_samples, n_features]``."""
        self._check_params()
        X = _check_X(X)
        if X.shape[0] == 0:
            raise ValueError("X must have at least one sample")
        if self.subsample is not None and X.shape[0] > self.subsample:
            rng = self.random_state
            if not isinstance(rng, np.random.RandomState):
                if rng is None or isinstance(rng, (numbers.Integral, np.integer)):
                    rng = np.random.RandomState(rng)
                elif isinstance(rng, np.random.Generator):
                    rng = np.random.RandomState(rng.integers(2**31))
                else:
                    raise TypeError(f"random_state must be None, an int, a RandomState or a Generator, "
                                    f"got {type(rng).__name__}")
            rows = rng.choice(X.shape[0], int(self.subsample), replace=False)
            rows.sort()
            X = X[rows]
        from ..kernels.cpu.trees import binning as kb
        from ..kernels.cpu._parallel import parallel_region

        with parallel_region():
            thr, n_thr = kb.thresholds(X, int(self.max_bins))
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
        from ..kernels.cpu.trees import binning as kb
        from ..kernels.cpu._parallel import parallel_region

        out = np.empty(X.shape, dtype=np.uint8)
        with parallel_region():
            kb.transform(X, self._pthr, int(self.missing_values_bin_idx_), out)
        return out

    def fit_transform(self, X: ArrayLike, y: Any = None) -> np.ndarray:
        """``fit(X).transform(X)``."""
        return self.fit(X).transform(X)
