"""Numba CPU kernels: the best split of a gradient-histogram node (histogram gradient boosting).

:func:`best_split` scans every bin of every feature of a node histogram ``[F, B, 3]`` (see
:mod:`.histogram` for its layout) with the split semantics and tie rule documented in
:mod:`bagu_fast.kernels.reference.trees.splitting`; the boosting grower (:mod:`.boosting_grower`)
calls it on every node.  :func:`find_best_split` is the raw-signature kernel of
:func:`bagu_fast.trees.find_best_split`.  A sequential scan per feature, then an arg-max in
feature order (serial: the work per node is too small for a parallel region).
"""
from __future__ import annotations

import numpy as np
from numba import njit

from .._parallel import parallel_region

__all__ = ["find_best_split"]

ZERO_DENOMINATOR = 1e-15  # what a zero hessian sum + lambda is replaced by


def denominator(h, lam):
    """``h + lam``, or ``ZERO_DENOMINATOR`` where that is exactly 0 (a node of saturated or
    zero-weight hessians with ``lam = 0``).  scikit-learn adds 1e-15 to every such denominator;
    only a zero one changes here, so that no other result moves.  Plain Python, compiled by
    ``njit`` here and by ``cuda.jit(device=True)`` for the cuda kernels."""
    d = h + lam
    if d == 0.0:
        return ZERO_DENOMINATOR
    return d


_denominator = njit(inline="always", cache=True)(denominator)


@njit(cache=True, nogil=True)
def _missing_left_stop(hist, f, has_hess, hconst, H, N, min_samples_leaf, min_hessian):
    """The bin at and below which no missing-left candidate of feature ``f`` counts: scanning
    the bins downwards (right side = the non-missing bins above ``b``), the first bin whose left
    side falls below ``min_samples_leaf`` / ``min_hessian`` after the right side passed them
    (scikit-learn's right-to-left scan stops there).  -1 when it never stops.  With
    non-negative hessians every candidate at or below it is invalid anyway."""
    n_bins = hist.shape[1]
    nr = 0.0
    hr = 0.0
    for b in range(n_bins - 3, -1, -1):
        nr += hist[f, b + 1, 2]
        if has_hess:
            hr += hist[f, b + 1, 1]
        else:
            hr += hist[f, b + 1, 2] * hconst
        if nr < min_samples_leaf:
            continue
        if N - nr < min_samples_leaf:
            return b
        if hr < min_hessian:
            continue
        if H - hr < min_hessian:
            return b
    return -1


@njit(cache=True, nogil=True)
def _feature_best(hist, f, has_hess, hconst, lam, min_samples_leaf, min_hessian, min_gain, res):
    """Best split of feature ``f`` (sequential scan); writes ``res[f, :]``:
    gain, bin, missing_left, g_l, h_l, n_l, g_r, h_r, n_r.  gain = -inf when none.

    The missing-right candidates stop at the first bin whose right side falls below
    ``min_hessian`` while its left side passed (and the missing-left ones below
    :func:`_missing_left_stop`), as scikit-learn's scans: the same candidates as checking every
    bin when hessians are non-negative, and scikit-learn's when negative sample weights make
    the hessian sums non-monotonic."""
    n_bins = hist.shape[1]
    miss = n_bins - 1
    # node totals: sequential running sum over every bin, bin 0 first
    G = 0.0
    H = 0.0
    N = 0.0
    for b in range(n_bins):
        G += hist[f, b, 0]
        N += hist[f, b, 2]
        if has_hess:
            H += hist[f, b, 1]
        else:
            H += hist[f, b, 2] * hconst
    mg = hist[f, miss, 0]
    mc = hist[f, miss, 2]
    mh = hist[f, miss, 1] if has_hess else mc * hconst
    has_missing = mc > 0
    stop_left = _missing_left_stop(hist, f, has_hess, hconst, H, N, min_samples_leaf, min_hessian) if has_missing \
        else n_bins
    stopped_right = False
    parent = G * G / _denominator(H, lam)
    best = -np.inf
    bbin = -1
    bleft = False
    gl = 0.0
    hl = 0.0
    nl = 0.0
    for b in range(n_bins - 1):
        gl += hist[f, b, 0]
        nl += hist[f, b, 2]
        if has_hess:
            hl += hist[f, b, 1]
        else:
            hl += hist[f, b, 2] * hconst
        for side in range(2 if has_missing else 1):
            if side == 0:
                if stopped_right:
                    continue
                tgl = gl
                thl = hl
                tnl = nl
            else:
                if b <= stop_left:
                    continue
                tgl = gl + mg
                thl = hl + mh
                tnl = nl + mc
            tgr = G - tgl
            thr = H - thl
            tnr = N - tnl
            if tnl < min_samples_leaf or tnr < min_samples_leaf:
                continue
            if thl < min_hessian:
                continue
            if thr < min_hessian:
                stopped_right = stopped_right or side == 0
                continue
            gain = tgl * tgl / _denominator(thl, lam) + tgr * tgr / _denominator(thr, lam) - parent
            if gain > best and gain > min_gain:
                best = gain
                bbin = b
                bleft = side == 1
                res[f, 3] = tgl
                res[f, 4] = thl
                res[f, 5] = tnl
                res[f, 6] = tgr
                res[f, 7] = thr
                res[f, 8] = tnr
    res[f, 0] = best
    res[f, 1] = bbin
    if bbin >= 0 and not has_missing:
        bleft = res[f, 5] > res[f, 8]
    res[f, 2] = 1.0 if bleft else 0.0


@njit(cache=True, nogil=True)
def best_split(hist, has_hess, hconst, lam, min_samples_leaf, min_hessian, min_gain, res):
    """Best split of a node histogram ``[F, B, 3]``; ``res`` is ``[F, 9]`` scratch.

    Returns the winning feature (-1 when none); its numbers are in ``res[feature]``.  Serial: a
    node's scan is ~F x B x 2 candidates (tens of µs), less than a parallel region's start-up
    and barrier on a loaded 2-core machine.
    """
    n_features = hist.shape[0]
    for f in range(n_features):
        _feature_best(hist, f, has_hess, hconst, lam, min_samples_leaf, min_hessian, min_gain, res)
    best_f = -1
    best = -np.inf
    for f in range(n_features):
        if res[f, 0] > best:
            best = res[f, 0]
            best_f = f
    return best_f


def find_best_split(g, h, c, l2_regularization, min_samples_leaf, min_hessian_to_split, min_gain_to_split):
    n_features, n_bins = g.shape
    hist = np.empty((n_features, n_bins, 3), dtype=np.float64)
    hist[:, :, 0] = g
    hist[:, :, 1] = h
    hist[:, :, 2] = c
    res = np.zeros((n_features, 9), dtype=np.float64)
    with parallel_region():
        f = best_split(hist, True, 1.0, float(l2_regularization), float(min_samples_leaf),
                       float(min_hessian_to_split), float(min_gain_to_split), res)
    if f < 0:
        return (-1, -1, -np.inf, False, 0.0, 0.0, 0, 0.0, 0.0, 0)
    r = res[f]
    return (int(f), int(r[1]), float(r[0]), bool(r[2]), float(r[3]), float(r[4]), int(r[5]),
            float(r[6]), float(r[7]), int(r[8]))
