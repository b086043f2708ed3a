"""Numba CPU kernel: the classic decision-tree grower (ID3 / C4.5 / CART criteria, MSE).

The grower (:func:`grow_decision_tree`) is one ``@njit(nogil=True)`` function per tree, so a
forest trains its trees from Python threads in parallel; it does not use ``prange`` itself (one
tree is one thread's work), so it needs no ``parallel_region``.  Its criteria are those of
:mod:`.criteria`; :mod:`bagu_fast.kernels.reference.trees.tree_grower` grows the same trees in
NumPy.

Grower
------
Depth-first with an explicit stack.  The in-bag rows (codes padded to 8-byte words, weights,
targets) are gathered once into tree-local arrays kept in node order: each node owns a slice
``[start, end)`` of them, and a stable partition (left rows compacted in place, right rows through
a buffer, moved as words) keeps every pass over a node on contiguous memory.  Per node:

1. stop (leaf) at ``max_depth``, below ``min_samples_split`` / ``2 * min_samples_leaf`` samples,
   or when the node is pure (one class with weight / one target value);
2. the candidate features: all of them, or ``max_features`` non-constant ones drawn without
   replacement (a partial Fisher-Yates shuffle with the tree's own xorshift generator; constant
   features do not count, as scikit-learn);
3. per candidate feature a histogram ``[bin, slot]`` of the node's rows (one pass over the rows for
   the whole batch of candidates): slots are the weighted class counts, plus a row count only when
   ``min_samples_leaf > 1`` with non-unit weights (classification), or (weight, weight * y, count)
   (regression).  Nodes under 2048 rows track the range of bins they touch and clear / scan only
   that; nodes of at most 64 rows list their occupied bins and sort them, so a tiny node costs
   ``O(rows log rows)``, not ``O(256)``;
4. every threshold ``bin <= b`` goes left; when the node has missing values (the NaN bin
   ``max_bins``) both directions are tried, plus "all non-missing left, missing right"; a node
   without missing values sends them (at predict time) to its heavier child;
5. candidates with fewer than ``min_samples_leaf`` rows on a side are skipped; the best gain wins,
   ties to the first feature visited and the lowest bin (candidates are compared by a proxy that
   drops the node's constant impurity; the chosen one's exact gain is then computed, as
   :func:`split_criterion` would).  ``gain_ratio`` applies C4.5's rule: each
   feature's threshold is chosen by information gain; among features whose information gain is
   at least the average over the candidate features, the one with the largest gain ratio wins.

Results depend only on the inputs and the random seed: no thread count, no timing.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from .criteria import ENTROPY, GAIN_RATIO, GINI, MSE, _INV_LN2, _impurity, _mse_gain  # noqa: F401

__all__ = ["grow_decision_tree"]


@njit(cache=True, nogil=True, inline="always")
def _next_rand(state):
    """xorshift64* step on ``state[0]`` (uint64); returns 31 random bits as int64."""
    x = state[0]
    x ^= x >> np.uint64(12)
    x ^= x << np.uint64(25)
    x ^= x >> np.uint64(27)
    state[0] = x
    r = x * np.uint64(2685821657736338717)
    return np.int64(r >> np.uint64(33))


_SMALL_NODE = 2048  # below this many rows, per-row bin-range tracking beats scanning every bin
_TINY_NODE = 64  # up to this many rows, a list of the occupied bins (sorted) replaces the range


@njit(cache=True, nogil=True, inline="always")
def _children_impurity(L, R, C, nL, nR, code):
    """``nL/n I(L) + nR/n I(R)``: the weighted impurity of a split's children (totals > 0)."""
    n = nL + nR
    return (nL / n) * _impurity(L, 0, C, nL, code) + (nR / n) * _impurity(R, 0, C, nR, code)


@njit(cache=True, nogil=True, inline="always")
def _move_row(X, w, yv, yc, src, X_to, w_to, yv_to, yc_to, dst, regression):
    """Row ``src`` of a set of row arrays (codes, weight, target) into row ``dst`` of another set
    (or the same one): the node's gather and the steps of its stable partition."""
    for k in range(X.shape[1]):
        X_to[dst, k] = X[src, k]
    w_to[dst] = w[src]
    if regression:
        yv_to[dst] = yv[src]
    else:
        yc_to[dst] = yc[src]


@njit(cache=True, nogil=True)
def grow_decision_tree(binned, samples, weight, yc, yv, n_classes, code, n_bins, missing_bin, max_depth,
                       min_samples_split, min_samples_leaf, max_features, min_impurity_decrease, seed, unit_weight):
    """Grow one tree; see the module docstring.

    ``binned`` uint8 ``[n, F]``; ``samples`` int64 in-bag row indices (each with weight > 0;
    read only); ``weight`` float64 ``[n]``; ``yc`` int64 class codes
    (classification, ``n_classes >= 1``) or ``yv`` float64 targets (regression, ``n_classes = 0``,
    ``code = MSE``); ``max_depth < 0`` = unlimited; ``max_features`` in ``[1, F]``;
    ``unit_weight``: every weight is 1 (the count slot is then the class sum).

    Returns ``(feature, threshold_bin, missing_left, left, right, value, n_node_samples,
    weighted_n_node_samples, impurity, importances, depth)`` trimmed to the node count; leaves
    have ``feature = -1``; ``value`` is ``[nodes, n_classes]`` class probabilities or
    ``[nodes, 1]`` means; ``importances`` are unnormalised weighted impurity decreases.
    """
    n_features = binned.shape[1]
    m = samples.shape[0]
    regression = n_classes == 0
    C = n_classes
    # classification row counts: 0 = unit weights (count = weight), 1 = a count slot per bin,
    # 2 = not needed (min_samples_leaf == 1 and every in-bag row has a positive weight)
    cnt_mode = 0 if unit_weight else (1 if min_samples_leaf > 1 else 2)
    count_slot = (not regression) and cnt_mode == 1
    K = 3 if regression else (C + 1 if count_slot else C)  # histogram slots per bin
    CNT = 2 if regression else C  # the count slot (a spare entry of the totals without one)
    V = 1 if regression else C
    depth_cap = max_depth if max_depth >= 0 else 1 << 30

    cap = 2 * m - 1 if m > 0 else 1
    if depth_cap < 30:
        full = (1 << (depth_cap + 1)) - 1
        if full < cap:
            cap = full
    feature = np.full(cap, -1, dtype=np.int32)
    threshold = np.zeros(cap, dtype=np.int32)
    miss_left = np.zeros(cap, dtype=np.uint8)
    left = np.full(cap, -1, dtype=np.int32)
    right = np.full(cap, -1, dtype=np.int32)
    value = np.zeros((cap, V), dtype=np.float64)
    n_node = np.zeros(cap, dtype=np.int64)
    w_node = np.zeros(cap, dtype=np.float64)
    impurity = np.zeros(cap, dtype=np.float64)
    importances = np.zeros(n_features, dtype=np.float64)

    stack_cap = (m if m < depth_cap else depth_cap) + 4
    st_start = np.zeros(stack_cap, dtype=np.int64)
    st_end = np.zeros(stack_cap, dtype=np.int64)
    st_depth = np.zeros(stack_cap, dtype=np.int64)
    st_parent = np.zeros(stack_cap, dtype=np.int64)
    st_isleft = np.zeros(stack_cap, dtype=np.uint8)

    feats = np.arange(n_features)
    batch = np.zeros(n_features, dtype=np.int64)
    lo = np.zeros(n_features, dtype=np.int64)
    hi = np.zeros(n_features, dtype=np.int64)
    hist = np.zeros(n_features * n_bins * K, dtype=np.float64)
    tot = np.zeros(K + 1, dtype=np.float64)
    cumL = np.zeros(K + 1, dtype=np.float64)
    Lb = np.zeros(K + 1, dtype=np.float64)
    Rb = np.zeros(K + 1, dtype=np.float64)
    bestL = np.zeros(K + 1, dtype=np.float64)
    bestR = np.zeros(K + 1, dtype=np.float64)
    f_gain = np.zeros(n_features, dtype=np.float64)
    f_ratio = np.zeros(n_features, dtype=np.float64)
    f_bin = np.zeros(n_features, dtype=np.int64)
    f_ml = np.zeros(n_features, dtype=np.uint8)
    occ = np.zeros(n_features * _TINY_NODE, dtype=np.int64)
    nocc = np.zeros(n_features, dtype=np.int64)
    mark = np.zeros(n_features * n_bins, dtype=np.uint8)
    lst = np.zeros(n_bins, dtype=np.int64)
    f_id = np.zeros(n_features, dtype=np.int64)
    # the in-bag rows, gathered once and kept in node order (partitioned with the nodes), so
    # every pass over a node reads contiguous memory instead of gathering rows at random
    # rows padded to whole 8-byte words: the partition moves words, the histograms read bytes
    Fw = (n_features + 7) // 8
    Xl = np.zeros((m, Fw * 8), dtype=np.uint8)
    Xw = Xl.reshape(m * Fw * 8).view(np.uint64).reshape(m, Fw)
    wloc = np.empty(m, dtype=np.float64)
    ycl = np.empty(0 if regression else m, dtype=np.int64)
    yvl = np.empty(m if regression else 0, dtype=np.float64)
    for q in range(m):
        _move_row(binned, weight, yv, yc, samples[q], Xl, wloc, yvl, ycl, q, regression)
    tX = np.empty((m, Fw), dtype=np.uint64)
    tw = np.empty(m, dtype=np.float64)
    tyc = np.empty(0 if regression else m, dtype=np.int64)
    tyv = np.empty(m if regression else 0, dtype=np.float64)
    state = np.zeros(1, dtype=np.uint64)
    state[0] = np.uint64(seed) * np.uint64(0x9E3779B97F4A7C15) + np.uint64(0x632BE59BD9B4E019)
    if state[0] == np.uint64(0):
        state[0] = np.uint64(1)
    sample_features = max_features < n_features
    crit = ENTROPY if code == GAIN_RATIO else code

    n_nodes = 0
    max_seen_depth = 0
    sp = 0
    if m > 0:
        st_start[0] = 0
        st_end[0] = m
        st_depth[0] = 0
        st_parent[0] = -1
        sp = 1
    while sp > 0:
        sp -= 1
        s = st_start[sp]
        e = st_end[sp]
        depth = st_depth[sp]
        parent = st_parent[sp]
        nid = n_nodes
        n_nodes += 1
        if parent >= 0:
            if st_isleft[sp]:
                left[parent] = nid
            else:
                right[parent] = nid
        if depth > max_seen_depth:
            max_seen_depth = depth
        count = e - s

        # node statistics: totals, value, impurity, purity
        for k in range(K):
            tot[k] = 0.0
        pure = True
        if regression:
            y0 = yvl[s]
            s2 = 0.0
            for q in range(s, e):
                i = q
                wi = wloc[i]
                tot[0] += wi
                tot[1] += wi * yvl[i]
                s2 += wi * yvl[i] * yvl[i]
                if yvl[i] != y0:
                    pure = False
            tot[2] = count
            W = tot[0]
            mean = tot[1] / W
            value[nid, 0] = mean
            imp = s2 / W - mean * mean
            impurity[nid] = imp if imp > 0.0 else 0.0
        else:
            for q in range(s, e):
                i = q
                tot[ycl[i]] += wloc[i]
            tot[CNT] = count
            W = 0.0
            nz = 0
            for k in range(C):
                W += tot[k]
                if tot[k] > 0.0:
                    nz += 1
            pure = nz <= 1
            for k in range(C):
                value[nid, k] = tot[k] / W
            impurity[nid] = _impurity(tot, 0, C, W, crit)
        n_node[nid] = count
        w_node[nid] = W

        if depth >= depth_cap or count < min_samples_split or count < 2 * min_samples_leaf or pure:
            continue

        # candidate features: batches of draws until max_features non-constant ones were seen
        n_cand = 0
        visited = 0
        j = 0
        best_gain = -np.inf
        best_f = -1
        best_bin = 0
        best_ml = 0
        node_imp = impurity[nid]
        tiny = count <= _TINY_NODE
        small = count < _SMALL_NODE
        while visited < max_features and j < n_features:
            nb = max_features - visited
            if nb > n_features - j:
                nb = n_features - j
            for t in range(nb):
                if sample_features:
                    r = j + _next_rand(state) % (n_features - j)
                    tmpf = feats[j]
                    feats[j] = feats[r]
                    feats[r] = tmpf
                batch[t] = feats[j]
                j += 1
                lo[t] = n_bins
                hi[t] = -1
                nocc[t] = 0
            # histograms of the batch in one pass over the node's rows
            for q in range(s, e):
                i = q
                wi = wloc[i]
                if regression:
                    yi = yvl[i]
                    c = 0
                else:
                    yi = 0.0
                    c = ycl[i]
                for t in range(nb):
                    b = np.int64(Xl[i, batch[t]])
                    key = t * n_bins + b
                    base = key * K
                    if regression:
                        hist[base] += wi
                        hist[base + 1] += wi * yi
                        hist[base + 2] += 1.0
                    else:
                        hist[base + c] += wi
                        if count_slot:
                            hist[base + CNT] += 1.0
                    if tiny:
                        if mark[key] == 0:
                            mark[key] = 1
                            occ[t * _TINY_NODE + nocc[t]] = b
                            nocc[t] += 1
                    elif small:
                        if b < lo[t]:
                            lo[t] = b
                        if b > hi[t]:
                            hi[t] = b
            for t in range(nb):
                f = batch[t]
                hb = t * n_bins * K
                mb = hb + missing_bin * K
                # the occupied non-missing bins, increasing
                nl_bins = 0
                if tiny:
                    o = t * _TINY_NODE
                    for u in range(nocc[t]):  # insertion sort (a few dozen entries at most)
                        v = occ[o + u]
                        if v == missing_bin:
                            continue
                        w2 = nl_bins
                        while w2 > 0 and lst[w2 - 1] > v:
                            lst[w2] = lst[w2 - 1]
                            w2 -= 1
                        lst[w2] = v
                        nl_bins += 1
                else:
                    a = lo[t] if small else 0
                    z = hi[t] if small else n_bins - 1
                    if z > missing_bin - 1:
                        z = missing_bin - 1
                    for b in range(a, z + 1):
                        if _bin_count(hist, hb + b * K, K, C, CNT, regression, count_slot) > 0.0:
                            lst[nl_bins] = b
                            nl_bins += 1
                has_miss = _bin_count(hist, mb, K, C, CNT, regression, count_slot) > 0.0
                if nl_bins >= 2 or (nl_bins == 1 and has_miss):
                    visited += 1
                    fg = -np.inf
                    fb = 0
                    fml = 0
                    fwl = 0.0
                    for k in range(K):
                        cumL[k] = 0.0
                    for u in range(nl_bins):
                        b = lst[u]
                        off = hb + b * K
                        for k in range(K):
                            cumL[k] += hist[off + k]
                        for direction in range(2):
                            if direction == 1 and not has_miss:
                                break
                            if u == nl_bins - 1 and (direction == 1 or not has_miss):
                                break  # every row would go left: no split
                            for k in range(K):
                                Lb[k] = cumL[k] + (hist[mb + k] if direction == 1 else 0.0)
                                Rb[k] = tot[k] - Lb[k]
                            if regression:
                                wl = Lb[0]
                                wr = Rb[0]
                                ok = Lb[2] >= min_samples_leaf and Rb[2] >= min_samples_leaf
                            else:
                                wl = 0.0
                                for k in range(C):
                                    wl += Lb[k]
                                wr = W - wl
                                if cnt_mode == 0:  # unit weights: the weight is the count
                                    ok = wl >= min_samples_leaf and count - wl >= min_samples_leaf
                                elif cnt_mode == 1:
                                    ok = Lb[CNT] >= min_samples_leaf and Rb[CNT] >= min_samples_leaf
                                else:  # min_samples_leaf == 1: any positive weight is a row
                                    ok = wl > 0.0 and wr > 0.0
                            # each child carries weight (a side's total, found by subtraction,
                            # can round to 0 next to a much heavier row: no split, no 0 / 0)
                            if not (ok and wl > 0.0 and wr > 0.0):
                                continue
                            # proxy of the gain (the parent's impurity is constant in the node)
                            if regression:
                                g = Lb[1] * Lb[1] / wl + Rb[1] * Rb[1] / wr
                            elif crit == GINI:
                                sl = 0.0
                                sr = 0.0
                                for k in range(C):
                                    sl += Lb[k] * Lb[k]
                                    sr += Rb[k] * Rb[k]
                                g = sl / wl + sr / wr
                            else:
                                g = -(_xlogx(wl) + _xlogx(wr))
                                for k in range(C):
                                    g += _xlogx(Lb[k]) + _xlogx(Rb[k])
                            if g > fg:
                                fg = g
                                fb = b
                                fml = direction
                                fwl = wl
                                for k in range(K):
                                    bestL[k] = Lb[k]
                                    bestR[k] = Rb[k]
                    if fg > -np.inf:
                        # the exact gain of the feature's best threshold
                        if regression:
                            fg = _mse_gain(bestL[1], bestL[0], bestR[1], bestR[0])
                        else:
                            fg = node_imp - _children_impurity(bestL, bestR, C, fwl, W - fwl, crit)
                            if fg < 0.0:
                                fg = 0.0
                        if not has_miss:
                            fml = 1 if fwl >= W - fwl else 0  # unseen missing: the heavier child
                        f_id[n_cand] = f
                        f_gain[n_cand] = fg
                        f_bin[n_cand] = fb
                        f_ml[n_cand] = fml
                        if code == GAIN_RATIO:
                            fl = fwl / W
                            fr = 1.0 - fl
                            iv = 0.0
                            if fl > 0.0:
                                iv -= fl * (np.log(fl) * _INV_LN2)
                            if fr > 0.0:
                                iv -= fr * (np.log(fr) * _INV_LN2)
                            f_ratio[n_cand] = fg / iv if iv > 0.0 else 0.0
                        n_cand += 1
                # clear this feature's histogram
                if tiny:
                    o = t * _TINY_NODE
                    for u in range(nocc[t]):
                        b = occ[o + u]
                        mark[t * n_bins + b] = 0
                        for k in range(K):
                            hist[hb + b * K + k] = 0.0
                elif small:
                    for b in range(lo[t], hi[t] + 1):
                        for k in range(K):
                            hist[hb + b * K + k] = 0.0
                else:
                    for q in range(hb, hb + n_bins * K):
                        hist[q] = 0.0

        if n_cand == 0:
            continue
        # choose among the candidate features
        pick = -1
        if code == GAIN_RATIO:
            avg = 0.0
            for c2 in range(n_cand):
                avg += f_gain[c2]
            avg /= n_cand
            best_r = -np.inf
            for c2 in range(n_cand):
                if f_gain[c2] >= avg * (1.0 - 1e-12) and f_ratio[c2] > best_r:
                    best_r = f_ratio[c2]
                    pick = c2
        else:
            for c2 in range(n_cand):
                if f_gain[c2] > best_gain:
                    best_gain = f_gain[c2]
                    pick = c2
        best_gain = f_gain[pick]
        # scikit-learn's min_impurity_decrease: (W / W_root) * decrease >= threshold
        if min_impurity_decrease > 0.0 and (W / w_node[0]) * best_gain + 1e-12 < min_impurity_decrease:
            continue
        best_f = f_id[pick]
        best_bin = f_bin[pick]
        best_ml = f_ml[pick]

        # stable partition of [s, e): left rows first
        nl = 0
        nr = 0
        for q in range(s, e):
            b = np.int64(Xl[q, best_f])
            go_left = (best_ml == 1) if b == missing_bin else (b <= best_bin)
            if go_left:
                d = s + nl
                if d != q:
                    _move_row(Xw, wloc, yvl, ycl, q, Xw, wloc, yvl, ycl, d, regression)
                nl += 1
            else:
                _move_row(Xw, wloc, yvl, ycl, q, tX, tw, tyv, tyc, nr, regression)
                nr += 1
        for q in range(nr):
            _move_row(tX, tw, tyv, tyc, q, Xw, wloc, yvl, ycl, s + nl + q, regression)
        if nl == 0 or nr == 0:  # cannot happen with consistent histograms; stay a leaf
            continue

        feature[nid] = best_f
        threshold[nid] = best_bin
        miss_left[nid] = best_ml
        importances[best_f] += W * best_gain
        # push right, then left (left is grown first: preorder ids as scikit-learn)
        st_start[sp] = s + nl
        st_end[sp] = e
        st_depth[sp] = depth + 1
        st_parent[sp] = nid
        st_isleft[sp] = 0
        sp += 1
        st_start[sp] = s
        st_end[sp] = s + nl
        st_depth[sp] = depth + 1
        st_parent[sp] = nid
        st_isleft[sp] = 1
        sp += 1

    return (feature[:n_nodes].copy(), threshold[:n_nodes].copy(), miss_left[:n_nodes].copy(),
            left[:n_nodes].copy(), right[:n_nodes].copy(), value[:n_nodes].copy(), n_node[:n_nodes].copy(),
            w_node[:n_nodes].copy(), impurity[:n_nodes].copy(), importances, max_seen_depth)


@njit(cache=True, nogil=True, inline="always")
def _xlogx(x):
    return x * np.log(x) if x > 0.0 else 0.0


@njit(cache=True, nogil=True, inline="always")
def _bin_count(hist, off, K, C, CNT, regression, count_slot):
    """Occupancy of one histogram bin: the count slot, or the class weight sum (> 0 iff rows)."""
    if regression or count_slot:
        return hist[off + CNT]
    acc = 0.0
    for k in range(C):
        acc += hist[off + k]
    return acc
