"""Numba CPU tree grower for histogram gradient boosting.

``grow_boosting_tree`` grows one tree best-first (leaf-wise, as LightGBM) entirely inside ``@njit``:

* rows live in one index array; every node owns a contiguous segment of it, and a split
  partitions that segment in place (stable), so children are contiguous again;
* only the smaller child's histogram is built (its gradients gathered through the index
  segment); the larger child's is the parent's minus the smaller one, computed in place in the
  parent's slot of a histogram pool (one ``[F, B, 3]`` slot per open leaf, allocated once per
  fit: no allocation per node);
* the leaf with the largest gain is split next, until ``max_leaf_nodes`` leaves, no valid split,
  or ``max_depth``.

Trees are flat float64 node records (the ``F_*`` columns below): feature, bin threshold,
missing-goes-left, left and right child, leaf value, count, gain, depth; the cuda grower writes
the same records.  The raw predictions of the training rows are updated from the leaf segments
(:func:`update_raw_from_leaves`, no traversal); validation rows and new data are predicted by
:mod:`.predictor`.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

# the node record layout, one definition for every backend
from ...reference.trees.boosting_grower import (  # noqa: F401
    F_BIN, F_COUNT, F_DEPTH, F_FEATURE, F_GAIN, F_LEAF, F_LEFT, F_MLEFT, F_RIGHT, F_VALUE, N_FIELDS,
)
from .histogram import hist_node, hist_subtract
from .partition import partition_segment
from .splitting import _denominator, best_split

__all__ = ["grow_boosting_tree", "update_raw_from_leaves"]


@njit(cache=True, nogil=True)
def _store_split(res, f, splits, leaf):
    splits[leaf, 0] = res[f, 0]  # gain
    splits[leaf, 1] = f
    for j in range(1, 9):
        splits[leaf, j + 1] = res[f, j]


@njit(cache=True, nogil=True)
def grow_boosting_tree(binned, binned_cols, grad, hess, has_hess, hconst, n_bins, max_leaf_nodes, max_depth,
                       min_samples_leaf, lam, min_hessian, min_gain, learning_rate, idx, tmp, pool, scratch, res,
                       counts, nodes, leaf_start, leaf_end, leaf_node):
    """Grow one tree on all rows (``idx`` is reset to ``0..n-1``, then partitioned in place).

    ``binned`` ``[n, F]`` (row-major, for histograms) and ``binned_cols`` ``[F, n]`` (the same
    codes column-major, for partitions).

    ``pool`` is ``[max_leaf_nodes + 1, F, B, 3]``, ``scratch`` ``[MAX_CHUNKS, F, B, 3]``,
    ``res`` ``[F, 9]``, ``counts`` int64 scratch, ``nodes`` ``[2 * max_leaf_nodes - 1, N_FIELDS]``.
    Returns ``(n_nodes, n_leaves)``; leaf ``k`` covers ``idx[leaf_start[k]:leaf_end[k]]`` and is
    node ``leaf_node[k]``.  ``max_depth < 0`` means unlimited.
    """
    n = idx.shape[0]
    missing_bin = n_bins - 1
    # per open leaf: split record [gain, feature, bin, mleft, gl, hl, nl, gr, hr, nr], slot, sums
    splits = np.empty((max_leaf_nodes, 11), dtype=np.float64)
    slot = np.empty(max_leaf_nodes, dtype=np.int64)
    sums = np.empty((max_leaf_nodes, 3), dtype=np.float64)  # G, H, N of each leaf
    depth = np.empty(max_leaf_nodes, dtype=np.int64)
    free = np.empty(max_leaf_nodes + 1, dtype=np.int64)
    n_free = 0
    for s in range(pool.shape[0] - 1, -1, -1):
        free[n_free] = s
        n_free += 1

    nodes[:, :] = 0.0
    for i in range(n):  # sorted rows: children stay sorted (stable partition), memory access in order
        idx[i] = i
    # root
    n_free -= 1
    s0 = free[n_free]
    hist_node(binned, grad, hess, has_hess, idx, 0, n, False, scratch, pool[s0])
    G = 0.0
    H = 0.0
    for b in range(n_bins):
        G += pool[s0, 0, b, 0]
        if has_hess:
            H += pool[s0, 0, b, 1]
        else:
            H += pool[s0, 0, b, 2] * hconst
    n_leaves = 1
    n_nodes = 1
    leaf_start[0] = 0
    leaf_end[0] = n
    leaf_node[0] = 0
    sums[0, 0] = G
    sums[0, 1] = H
    sums[0, 2] = n
    depth[0] = 0
    slot[0] = s0
    splits[0, 0] = -np.inf
    if n >= 2 * min_samples_leaf and max_depth != 0:
        f = best_split(pool[s0], has_hess, hconst, lam, min_samples_leaf, min_hessian, min_gain, res)
        if f >= 0:
            _store_split(res, f, splits, 0)

    while n_leaves < max_leaf_nodes:
        # best-first: the open leaf with the largest gain (lowest leaf index on ties)
        k = -1
        best = -np.inf
        for j in range(n_leaves):
            if splits[j, 0] > best:
                best = splits[j, 0]
                k = j
        if k < 0:
            break
        feature = int(splits[k, 1])
        bin_ = int(splits[k, 2])
        mleft = splits[k, 3] != 0.0
        start = leaf_start[k]
        end = leaf_end[k]
        nl = partition_segment(idx, tmp, binned_cols[feature], start, end, bin_, mleft, missing_bin, counts)
        node = leaf_node[k]
        left_node = n_nodes
        right_node = n_nodes + 1
        n_nodes += 2
        nodes[node, F_FEATURE] = feature
        nodes[node, F_BIN] = bin_
        nodes[node, F_MLEFT] = 1.0 if mleft else 0.0
        nodes[node, F_LEFT] = left_node
        nodes[node, F_RIGHT] = right_node
        nodes[node, F_GAIN] = splits[k, 0]
        # the right child becomes a new open leaf r, the left child takes over leaf k
        r = n_leaves
        n_leaves += 1
        d = depth[k] + 1
        leaf_start[r] = start + nl
        leaf_end[r] = end
        leaf_node[r] = right_node
        leaf_end[k] = start + nl
        leaf_node[k] = left_node
        depth[k] = d
        depth[r] = d
        sums[r, 0] = splits[k, 7]
        sums[r, 1] = splits[k, 8]
        sums[r, 2] = splits[k, 9]
        sums[k, 0] = splits[k, 4]
        sums[k, 1] = splits[k, 5]
        sums[k, 2] = splits[k, 6]
        nodes[left_node, F_DEPTH] = d
        nodes[right_node, F_DEPTH] = d
        splits[k, 0] = -np.inf
        splits[r, 0] = -np.inf
        # children that may split need histograms
        can_l = (nl >= 2 * min_samples_leaf) and (max_depth < 0 or d < max_depth)
        can_r = ((end - start - nl) >= 2 * min_samples_leaf) and (max_depth < 0 or d < max_depth)
        parent_slot = slot[k]
        if n_leaves >= max_leaf_nodes or not (can_l or can_r):
            free[n_free] = parent_slot
            n_free += 1
            slot[k] = -1
            slot[r] = -1
            continue
        # smaller child built, larger = parent - smaller (in the parent's slot)
        n_free -= 1
        small_slot = free[n_free]
        if nl <= end - start - nl:
            small, large = k, r
        else:
            small, large = r, k
        hist_node(binned, grad, hess, has_hess, idx, leaf_start[small], leaf_end[small], True, scratch,
                  pool[small_slot])
        hist_subtract(pool[parent_slot], pool[small_slot])
        slot[small] = small_slot
        slot[large] = parent_slot
        for j in (k, r):
            ok = can_l if j == k else can_r
            if ok:
                f = best_split(pool[slot[j]], has_hess, hconst, lam, min_samples_leaf, min_hessian, min_gain, res)
                if f >= 0:
                    _store_split(res, f, splits, j)
            if splits[j, 0] == -np.inf:  # closed leaf: its histogram is no longer needed
                free[n_free] = slot[j]
                n_free += 1
                slot[j] = -1

    for j in range(n_leaves):
        node = leaf_node[j]
        nodes[node, F_LEAF] = 1.0
        # a root that does not split adds nothing (scikit-learn's rule: the baseline, or the
        # trees so far, already fit the node as well as one constant can)
        if n_leaves > 1:
            nodes[node, F_VALUE] = -learning_rate * sums[j, 0] / _denominator(sums[j, 1], lam)
        nodes[node, F_COUNT] = sums[j, 2]
    return n_nodes, n_leaves


@njit(cache=True, nogil=True, parallel=True)
def update_raw_from_leaves(raw, idx, nodes, leaf_start, leaf_end, leaf_node, n_leaves):
    """``raw[idx[i]] += value of the leaf holding position i`` (training rows)."""
    n = idx.shape[0]
    pos_leaf = np.empty(n, dtype=np.float64)
    for j in range(n_leaves):
        v = nodes[leaf_node[j], F_VALUE]
        for i in range(leaf_start[j], leaf_end[j]):
            pos_leaf[i] = v
    for i in prange(n):
        raw[idx[i]] += pos_leaf[i]
