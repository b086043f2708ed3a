"""NumPy reference: the best split of a gradient-histogram node (histogram gradient boosting).

``find_best_split(g, h, c, l2_regularization, min_samples_leaf, min_hessian_to_split,
min_gain_to_split) -> tuple``
    ``(feature, bin, gain, missing_go_to_left, g_left, h_left, n_left, g_right, h_right,
    n_right)``; ``feature = -1`` (gain ``-inf``) when no split is valid.

Split semantics (the same on every backend): the last histogram bin, ``n_bins - 1``, holds the
missing values.  A split ``(feature, bin)`` sends codes ``<= bin`` left, other non-missing codes
right, and missing values left iff ``missing_go_to_left``.  Per feature, with ``G_L(b)`` the
sequential (bin 0 first) float64 running sum of the non-missing bins ``0..b`` and the node totals
``G, H, N`` the same running sum carried on over the missing bin:

* missing right: ``L = running(b)``; for ``b = 0 .. n_bins - 2``;
* missing left (only when the node has missing values for this feature, i.e. a non-zero count in
  the missing bin): ``L = running(b) + missing``; for ``b = 0 .. n_bins - 2``;
* ``R = total - L`` (gradients, hessians and counts alike).

A candidate is valid when both children have ``>= min_samples_leaf`` samples and
``>= min_hessian_to_split`` hessian, and the scans stop as scikit-learn's do (which only matters
when negative sample weights make hessian sums non-monotonic): the missing-right candidates at
the first bin whose right side falls below ``min_hessian_to_split`` while both counts and the
left hessian pass; the missing-left ones at and below the first bin, scanning downwards with the
non-missing bins above ``b`` on the right, whose left side fails a minimum after the right side
passed both.  Its gain is ``G_L²/(H_L+λ) + G_R²/(H_R+λ) − G²/(H+λ)`` and must be
``> min_gain_to_split``; a denominator ``H + λ`` that is exactly 0 (zero hessians with
``λ = 0``) counts as ``1e-15`` (scikit-learn adds 1e-15 to every one; only a zero one changes
here), as in the leaf value ``−G/(H+λ)``.  The best gain wins; ties go to the lowest feature,
then the lowest bin, then missing-right before missing-left (strict ``>`` comparisons in that
scan order).  When the node has no missing values for the chosen
feature, ``missing_go_to_left`` is ``n_left > n_right`` (unseen missing values follow the larger
child, as in scikit-learn).
"""
from __future__ import annotations

import numpy as np

__all__ = ["find_best_split"]


def _denominator(h, lam):
    """``h + lam``; exactly 0 (zero hessians, ``lam = 0``) becomes 1e-15."""
    d = h + lam
    return d if d != 0.0 else 1e-15


def _gain(gl, hl, gr, hr, g, h, lam):
    return gl * gl / _denominator(hl, lam) + gr * gr / _denominator(hr, lam) - g * g / _denominator(h, lam)


def _missing_left_stop(h, c, f, H, N, min_samples_leaf, min_hessian_to_split):
    """Scanning bins downwards with the non-missing bins above ``b`` on the right, the first bin
    whose left side fails a minimum after the right side passed them (-1: none)."""
    n_bins = h.shape[1]
    nr, hr = 0, 0.0
    for b in range(n_bins - 3, -1, -1):
        nr += int(c[f, b + 1])
        hr += h[f, b + 1]
        if nr < min_samples_leaf:
            continue
        if N - nr < min_samples_leaf:
            return b
        if hr < min_hessian_to_split:
            continue
        if H - hr < min_hessian_to_split:
            return b
    return -1


def find_best_split(g, h, c, l2_regularization, min_samples_leaf, min_hessian_to_split, min_gain_to_split):
    n_features, n_bins = g.shape
    lam = float(l2_regularization)
    best = (-1, -1, -np.inf, False, 0.0, 0.0, 0, 0.0, 0.0, 0)
    best_gain = -np.inf
    for f in range(n_features):
        # sequential running sums, bin 0 first (np.cumsum is sequential)
        cg = np.cumsum(g[f])
        ch = np.cumsum(h[f])
        cc = np.cumsum(c[f])
        G, H, N = cg[-1], ch[-1], int(cc[-1])
        mg, mh, mc = g[f, -1], h[f, -1], int(c[f, -1])
        has_missing = mc > 0
        stop_left = _missing_left_stop(h, c, f, H, N, min_samples_leaf, min_hessian_to_split) if has_missing else n_bins
        stopped_right = False
        for b in range(n_bins - 1):
            for miss_left in ((False, True) if has_missing else (False,)):
                if (stopped_right if not miss_left else b <= stop_left):
                    continue
                gl, hl, nl = cg[b], ch[b], int(cc[b])
                if miss_left:
                    gl, hl, nl = gl + mg, hl + mh, nl + mc
                gr, hr, nr = G - gl, H - hl, N - nl
                if nl < min_samples_leaf or nr < min_samples_leaf:
                    continue
                if hl < min_hessian_to_split:
                    continue
                if hr < min_hessian_to_split:
                    stopped_right = stopped_right or not miss_left
                    continue
                gain = _gain(gl, hl, gr, hr, G, H, lam)
                if gain > best_gain and gain > min_gain_to_split:
                    best_gain = gain
                    mleft = miss_left if has_missing else nl > nr
                    best = (f, b, float(gain), bool(mleft), float(gl), float(hl), nl, float(gr), float(hr), nr)
    return best
