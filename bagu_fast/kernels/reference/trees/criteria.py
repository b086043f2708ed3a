"""NumPy reference of the classic split criteria (ID3 / C4.5 / CART, regression MSE).

Raw signatures shared with the cpu and cuda modules (inputs validated and normalised by
:mod:`bagu_fast.trees.criteria`):

``split_criterion(left, right, code)``
    ``left`` / ``right`` ``[m, n_classes]`` class counts (int64, float32 or float64, one dtype)
    of the two children of ``m`` candidate splits; ``code`` 0 = Gini, 1 = entropy (information
    gain, bits), 2 = gain ratio.  Returns ``[m]``: float32 for float32 counts, else float64.

``split_gain_mse(sum_left, count_left, sum_right, count_right)``
    ``[m]`` each (float32 or float64, one dtype).  Returns ``[m]`` in that dtype.

Formulas (all computed in float64; ``n = n_L + n_R``, ``p_k = c_k / n``):

* ``Gini(c) = sum_k p_k (1 - p_k)``, ``H(c) = -sum_k p_k log2 p_k`` (``0 log 0 = 0``);
* gain ``= I(L + R) - (n_L / n) I(L) - (n_R / n) I(R)`` for ``I`` = Gini or H (H gives ID3's
  information gain ``H(D) - H(D | A)``);
* gain ratio ``= Gain(D, A) / IV(A)``, ``IV = -(n_L/n) log2 (n_L/n) - (n_R/n) log2 (n_R/n)``;
* MSE gain ``= (S_L^2 / n_L + S_R^2 / n_R - S^2 / n) / n``: the parent's mean squared error minus
  the children's weighted mean squared errors.

A candidate with an empty side (``n_L == 0`` or ``n_R == 0``) is no split: its gain is 0.
Gains are clipped below at 0 (rounding can otherwise give ``-1e-17``).
"""
from __future__ import annotations

import numpy as np

__all__ = ["split_criterion", "split_gain_mse"]

GINI, ENTROPY, GAIN_RATIO = 0, 1, 2


def _impurity(counts, total, code):
    """Gini or entropy (bits) of each row of ``counts`` (float64), 0 for empty rows."""
    safe = np.where(total > 0, total, 1.0)
    p = counts / safe[:, None]
    if code == GINI:
        return np.sum(p * (1.0 - p), axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, p * np.log2(np.where(p > 0, p, 1.0)), 0.0)
    return -np.sum(terms, axis=1)


def split_criterion(left, right, code):
    out_dtype = np.float32 if left.dtype == np.float32 else np.float64
    L = np.asarray(left, dtype=np.float64)
    R = np.asarray(right, dtype=np.float64)
    nL = L.sum(axis=1)
    nR = R.sum(axis=1)
    n = nL + nR
    valid = (nL > 0) & (nR > 0)
    safe_n = np.where(valid, n, 1.0)
    base = GINI if code == GINI else ENTROPY
    gain = _impurity(L + R, n, base) - (nL / safe_n) * _impurity(L, nL, base) - (nR / safe_n) * _impurity(R, nR, base)
    gain = np.where(valid, np.maximum(gain, 0.0), 0.0)
    if code == GAIN_RATIO:
        fl = np.where(valid, nL / safe_n, 0.5)
        fr = np.where(valid, nR / safe_n, 0.5)
        iv = -(fl * np.log2(fl) + fr * np.log2(fr))
        gain = np.where(valid, gain / iv, 0.0)
    return gain.astype(out_dtype)


def split_gain_mse(sum_left, count_left, sum_right, count_right):
    out_dtype = sum_left.dtype
    sL = sum_left.astype(np.float64)
    sR = sum_right.astype(np.float64)
    nL = count_left.astype(np.float64)
    nR = count_right.astype(np.float64)
    n = nL + nR
    valid = (nL > 0) & (nR > 0)
    nL1 = np.where(valid, nL, 1.0)
    nR1 = np.where(valid, nR, 1.0)
    n1 = np.where(valid, n, 1.0)
    s = sL + sR
    gain = (sL * sL / nL1 + sR * sR / nR1 - s * s / n1) / n1
    gain = np.where(valid, np.maximum(gain, 0.0), 0.0)
    return gain.astype(out_dtype)
