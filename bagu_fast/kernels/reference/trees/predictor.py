"""NumPy reference: prediction by traversal, for gradient boosting and for the classic trees.

Gradient boosting (node records of :mod:`.boosting_grower`):

``predict_binned(binned, nodes, missing_bin, raw)``
    ``raw[i] += tree(binned[i])`` on bin codes: code ``missing_bin`` follows the node's missing
    direction, other codes ``<= bin`` go left.
``predict_raw(X, feature, threshold, mleft, left, right, value, tree_start, tree_class, raw)``
    ``raw[k, i] +=`` the trees of class ``k`` on raw float rows: flat node arrays of all trees
    (``tree_start[t]`` is tree ``t``'s root, child indices absolute, a leaf is its own child);
    NaN follows ``mleft``, otherwise ``x <= threshold`` goes left.  Trees add up in tree order.

Classic trees (the packed int32 ``[n_nodes, 4]`` tables of :mod:`bagu_fast.trees.tree`: feature
or -1 for a leaf, threshold bin | missing-goes-left << 8, left, right; child indices local to
their tree; tree ``t`` holds nodes ``offsets[t]:offsets[t + 1]``):

``predict_forest(binned, offsets, nodes, value, missing_bin, block, out)``
    ``out[i] +=`` the leaf value of row ``i`` in every tree, in tree order (``block`` is ignored).
``apply_forest(binned, offsets, nodes, missing_bin, block, out)``
    ``out[i, t]`` = the tree-local leaf index of row ``i`` in tree ``t``.
``tree_predict_rows(binned, rows, nodes, value, missing_bin, out)``
    ``out[k] +=`` the leaf value of row ``rows[k]`` in one tree.
"""
from __future__ import annotations

import numpy as np

from .boosting_grower import F_BIN, F_FEATURE, F_LEAF, F_LEFT, F_MLEFT, F_RIGHT, F_VALUE

__all__ = ["predict_binned", "predict_raw", "predict_forest", "apply_forest", "tree_predict_rows"]


def predict_binned(binned, nodes, missing_bin, raw):
    rows = np.arange(binned.shape[0])
    node = np.zeros(binned.shape[0], dtype=np.intp)
    active = nodes[node, F_LEAF] == 0.0
    while active.any():
        r, nd = rows[active], node[active]
        code = binned[r, nodes[nd, F_FEATURE].astype(np.intp)]
        go_left = np.where(code == missing_bin, nodes[nd, F_MLEFT] != 0.0, code <= nodes[nd, F_BIN])
        node[active] = np.where(go_left, nodes[nd, F_LEFT], nodes[nd, F_RIGHT]).astype(np.intp)
        active = nodes[node, F_LEAF] == 0.0
    raw += nodes[node, F_VALUE]


def predict_raw(X, feature, threshold, mleft, left, right, value, tree_start, tree_class, raw):
    n = X.shape[0]
    rows = np.arange(n)
    for t in range(tree_start.shape[0]):
        nd = np.full(n, tree_start[t], dtype=np.intp)
        active = left[nd] != nd
        while active.any():
            r, a = rows[active], nd[active]
            x = X[r, feature[a]].astype(np.float64)
            go_left = np.where(np.isnan(x), mleft[a], x <= threshold[a])
            nd[active] = np.where(go_left, left[a], right[a])
            active = left[nd] != nd
        raw[tree_class[t]] += value[nd]


def _leaves(binned, root, nodes, missing_bin):
    """Tree-local leaf index of every row in the tree whose root is node ``root``."""
    n = binned.shape[0]
    rows = np.arange(n)
    nd = np.full(n, root, dtype=np.intp)
    active = nodes[nd, 0] >= 0
    while active.any():
        r, a = rows[active], nd[active]
        code = binned[r, nodes[a, 0]].astype(np.int64)
        packed = nodes[a, 1].astype(np.int64)
        go_left = np.where(code == missing_bin, (packed >> 8) & 1 == 1, code <= (packed & 255))
        nd[active] = root + np.where(go_left, nodes[a, 2], nodes[a, 3])
        active = nodes[nd, 0] >= 0
    return nd - root


def predict_forest(binned, offsets, nodes, value, missing_bin, block, out):
    for t in range(offsets.shape[0] - 1):
        out += value[offsets[t] + _leaves(binned, offsets[t], nodes, missing_bin)]


def apply_forest(binned, offsets, nodes, missing_bin, block, out):
    for t in range(offsets.shape[0] - 1):
        out[:, t] = _leaves(binned, offsets[t], nodes, missing_bin)


def tree_predict_rows(binned, rows, nodes, value, missing_bin, out):
    out += value[_leaves(binned[rows], 0, nodes, missing_bin)]
