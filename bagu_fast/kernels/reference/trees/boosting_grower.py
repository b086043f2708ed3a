"""NumPy reference tree grower for histogram gradient boosting, on the reference histogram,
splitting and partition kernels.

:func:`grow_boosting_tree` makes the decisions of the cpu grower
(:func:`bagu_fast.kernels.cpu.trees.boosting_grower.grow_boosting_tree`) in the same order:

* the root's histogram over every row; a node may split when it has ``>= 2 * min_samples_leaf``
  rows and is shallower than ``max_depth``; its best split is :func:`.splitting.find_best_split`;
* best-first: the open leaf of largest gain splits next (the lowest leaf number on ties; the
  left child keeps its parent's leaf number, the right child gets the next one), until
  ``max_leaf_nodes`` leaves or no leaf can split;
* the rows of a node are split stably (:func:`.partition.partition`); the smaller child's
  histogram is built from its rows and the larger child's is the parent's minus it (the same
  float64 subtraction as the cpu's);
* leaf values ``-learning_rate * G / (H + λ)`` from the split's sums (a zero ``H + λ`` counts as
  1e-15); a root that does not split adds 0 (scikit-learn's rule).

The node records ``[n_nodes, N_FIELDS]`` float64 (columns ``F_*`` below) are the layout every
grower writes and every predictor reads.
"""
from __future__ import annotations

import numpy as np

from .histogram import build_histogram
from .partition import partition
from .splitting import _denominator, find_best_split

__all__ = ["grow_boosting_tree", "N_FIELDS", "F_FEATURE", "F_BIN", "F_MLEFT", "F_LEFT", "F_RIGHT", "F_VALUE",
           "F_LEAF", "F_COUNT", "F_GAIN", "F_DEPTH"]

# node record columns (float64 [max_nodes, N_FIELDS])
F_FEATURE, F_BIN, F_MLEFT, F_LEFT, F_RIGHT, F_VALUE, F_LEAF, F_COUNT, F_GAIN, F_DEPTH = range(10)
N_FIELDS = 10


def _running_total(x) -> float:
    """The sequential sum of ``x`` (bin 0 first, as the cpu grower sums a root's bins)."""
    return float(np.cumsum(x)[-1]) if len(x) else 0.0


def grow_boosting_tree(binned, gradients, hessians, n_bins, max_leaf_nodes, max_depth, min_samples_leaf, lam,
                       min_hessian, min_gain, learning_rate):
    """Grow one tree on every row of ``binned`` (uint8 ``[n, F]``).

    ``gradients`` / ``hessians`` float32 ``[n]`` (``hessians=None``: constant hessians 1, the
    counts serve); ``max_depth < 0`` means unlimited.  Returns ``(nodes, leaves)``: the node
    records ``[n_nodes, N_FIELDS]`` and, per leaf, ``(node, rows)`` (the rows it holds, in
    increasing order).
    """
    n, n_features = binned.shape
    rows0 = np.arange(n, dtype=np.intp)
    nodes = np.zeros((2 * max_leaf_nodes - 1, N_FIELDS), dtype=np.float64)
    root_hist = build_histogram(binned, gradients, hessians, None, n_bins)
    G = _running_total(root_hist[0][0]) if n_features else 0.0
    H = _running_total(root_hist[1][0]) if n_features else 0.0
    # per open leaf: rows, node, depth, sums (G, H, N), histogram, split (None: cannot split)
    rows, node_of, depth, sums, hists, split = [rows0], [0], [0], [(G, H, float(n))], [root_hist], [None]

    def search(j):
        g, h, c = hists[j]
        s = find_best_split(g, h, c, lam, min_samples_leaf, min_hessian, min_gain)
        return None if s[0] < 0 else s

    if n >= 2 * min_samples_leaf and max_depth != 0 and n_features:
        split[0] = search(0)
    n_nodes = 1
    while len(rows) < max_leaf_nodes:
        k, best = -1, -np.inf
        for j, s in enumerate(split):  # the largest gain, the lowest leaf on ties
            if s is not None and s[2] > best:
                k, best = j, s[2]
        if k < 0:
            break
        feature, bin_, gain, mleft, gl, hl, nl, gr, hr, nr = split[k]
        left_rows, right_rows = partition(rows[k], binned, feature, bin_, mleft, n_bins - 1)
        node = node_of[k]
        left_node, right_node = n_nodes, n_nodes + 1
        n_nodes += 2
        nodes[node, [F_FEATURE, F_BIN, F_MLEFT, F_LEFT, F_RIGHT, F_GAIN]] = (
            feature, bin_, 1.0 if mleft else 0.0, left_node, right_node, gain)
        d = depth[k] + 1
        r = len(rows)
        rows[k], node_of[k], depth[k], sums[k], split[k] = left_rows, left_node, d, (gl, hl, float(nl)), None
        rows.append(right_rows)
        node_of.append(right_node)
        depth.append(d)
        sums.append((gr, hr, float(nr)))
        split.append(None)
        nodes[left_node, F_DEPTH] = nodes[right_node, F_DEPTH] = d
        can = [len(x) >= 2 * min_samples_leaf and (max_depth < 0 or d < max_depth) for x in (left_rows, right_rows)]
        parent = hists[k]
        hists.append(None)
        if len(rows) >= max_leaf_nodes or not any(can):
            hists[k] = None
            continue
        small, large = (k, r) if len(left_rows) <= len(right_rows) else (r, k)
        hists[small] = build_histogram(binned, gradients, hessians, rows[small], n_bins)
        hists[large] = tuple(p - s for p, s in zip(parent, hists[small]))
        for j, ok in ((k, can[0]), (r, can[1])):
            if ok:
                split[j] = search(j)
    leaves = []
    for j in range(len(rows)):
        nd = node_of[j]
        nodes[nd, F_LEAF] = 1.0
        if len(rows) > 1:
            nodes[nd, F_VALUE] = -learning_rate * sums[j][0] / _denominator(sums[j][1], lam)
        nodes[nd, F_COUNT] = sums[j][2]
        leaves.append((nd, rows[j]))
    return nodes[:n_nodes].copy(), leaves
