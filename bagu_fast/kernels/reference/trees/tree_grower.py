"""NumPy reference of the classic decision-tree grower (ID3 / C4.5 / CART criteria, MSE).

:func:`grow_decision_tree` takes the arguments of the cpu grower
(:func:`bagu_fast.kernels.cpu.trees.tree_grower.grow_decision_tree`) and returns the same arrays;
it makes the same decisions in the same order, written plainly:

* depth-first, left child first (preorder node numbers); a node is a leaf at ``max_depth``, below
  ``min_samples_split`` or ``2 * min_samples_leaf`` rows, or when pure;
* candidate features: batches of draws without replacement (a partial Fisher-Yates shuffle of a
  feature order kept across the tree's nodes, with the tree's xorshift64* generator seeded from
  ``seed``) until ``max_features`` non-constant features were examined;
* per feature, every occupied bin boundary (both directions for the missing bin when the node
  has missing values, and "all values left, missing right"); children need
  ``min_samples_leaf`` rows and a positive weight; the best of a feature by the criterion's
  proxy (the parent's impurity is constant), then its exact gain; the feature of largest gain
  wins (first visited on ties), or C4.5's rule for ``gain_ratio``;
* sums run row by row in the node's row order and bin by bin, as the cpu's loops add them.
"""
from __future__ import annotations

import math

import numpy as np

__all__ = ["grow_decision_tree"]

GINI, ENTROPY, GAIN_RATIO, MSE = 0, 1, 2, 3
_INV_LN2 = 1.0 / np.log(2.0)
_MASK = (1 << 64) - 1


class _Xorshift:
    """The cpu grower's xorshift64* generator (31 random bits per draw)."""

    def __init__(self, seed: int):
        s = (seed * 0x9E3779B97F4A7C15 + 0x632BE59BD9B4E019) & _MASK
        self.state = s if s else 1

    def next(self) -> int:
        x = self.state
        x ^= x >> 12
        x ^= (x << 25) & _MASK
        x ^= x >> 27
        self.state = x
        return ((x * 2685821657736338717) & _MASK) >> 33


def _seq(values) -> float:
    """Sequential sum (left to right)."""
    acc = 0.0
    for v in values:
        acc += v
    return acc


def _impurity(counts, n, code) -> float:
    """Gini or entropy (bits) of class weights ``counts`` with total ``n > 0``."""
    acc = 0.0
    if code == GINI:
        for c in counts:
            p = c / n
            acc += p * (1.0 - p)
        return acc
    for c in counts:
        p = c / n
        if p > 0.0:
            acc += p * (math.log(p) * _INV_LN2)
    return -acc


def _xlogx(x: float) -> float:
    return x * math.log(x) if x > 0.0 else 0.0


def _mse_gain(sl, nl, sr, nr) -> float:
    if not (nl > 0.0 and nr > 0.0):
        return 0.0
    n = nl + nr
    s = sl + sr
    gain = (sl * sl / nl + sr * sr / nr - s * s / n) / n
    return gain if gain > 0.0 else 0.0


def _best_threshold(hist, tot, W, count, occupied, has_miss, regression, C, crit, cnt_mode, msl):
    """The best boundary of one feature: ``(proxy, bin, direction, left weight, L, R)`` or None.

    ``hist`` ``[n_bins, K]`` (the missing bin last), ``tot`` ``[K]`` the node's sums."""
    miss = hist[-1]
    best = None
    cum = np.zeros(hist.shape[1])
    for u, b in enumerate(occupied):
        cum = cum + hist[b]
        for direction in (0, 1):
            if direction == 1 and not has_miss:
                break
            if u == len(occupied) - 1 and (direction == 1 or not has_miss):
                break  # every row would go left
            L = cum + miss if direction == 1 else cum + 0.0
            R = tot - L
            if regression:
                wl, wr = L[0], R[0]
                ok = L[2] >= msl and R[2] >= msl
            else:
                wl = _seq(L[:C])
                wr = W - wl
                if cnt_mode == 0:
                    ok = wl >= msl and count - wl >= msl
                elif cnt_mode == 1:
                    ok = L[C] >= msl and R[C] >= msl
                else:
                    ok = wl > 0.0 and wr > 0.0
            if not (ok and wl > 0.0 and wr > 0.0):
                continue
            if regression:
                g = L[1] * L[1] / wl + R[1] * R[1] / wr
            elif crit == GINI:
                g = _seq(L[:C] * L[:C]) / wl + _seq(R[:C] * R[:C]) / wr
            else:
                g = -(_xlogx(wl) + _xlogx(wr))
                for k in range(C):
                    g += _xlogx(L[k]) + _xlogx(R[k])
            if best is None or g > best[0]:
                best = (g, b, direction, wl, L, R)
    return best


def grow_decision_tree(binned, samples, weight, yc, yv, n_classes, code, n_bins, missing_bin, max_depth,
                       min_samples_split, min_samples_leaf, max_features, min_impurity_decrease, seed, unit_weight):
    n_features = binned.shape[1]
    regression = n_classes == 0
    C = int(n_classes)
    cnt_mode = 0 if unit_weight else (1 if min_samples_leaf > 1 else 2)
    count_slot = (not regression) and cnt_mode == 1
    crit = ENTROPY if code == GAIN_RATIO else code
    depth_cap = max_depth if max_depth >= 0 else 1 << 30
    rng = _Xorshift(int(seed))
    feats = list(range(n_features))  # the draw order, kept across the tree's nodes
    sample_features = max_features < n_features
    out = {k: [] for k in ("feature", "threshold", "miss_left", "left", "right", "value", "n_node", "w_node",
                           "impurity")}
    importances = np.zeros(n_features)
    max_seen_depth = 0
    stack = [(np.asarray(samples, dtype=np.int64), 0, -1, False)] if len(samples) else []
    while stack:
        rows, depth, parent, is_left = stack.pop()
        nid = len(out["feature"])
        for key, v in (("feature", -1), ("threshold", 0), ("miss_left", 0), ("left", -1), ("right", -1)):
            out[key].append(v)
        if parent >= 0:
            out["left" if is_left else "right"][parent] = nid
        max_seen_depth = max(max_seen_depth, depth)
        count = len(rows)
        w = weight[rows]
        if regression:
            y = yv[rows]
            tot = np.array([_seq(w), _seq(w * y), float(count)])
            s2 = _seq(w * y * y)
            W = tot[0]
            mean = tot[1] / W
            imp = s2 / W - mean * mean
            value, node_imp = [mean], (imp if imp > 0.0 else 0.0)
            pure = bool(np.all(y == y[0]))
        else:
            y = yc[rows]
            tot = np.zeros(C + 1)
            tot[:C] = np.bincount(y, weights=w, minlength=C)
            tot[C] = count
            W = _seq(tot[:C])
            pure = int(np.count_nonzero(tot[:C] > 0.0)) <= 1
            value, node_imp = list(tot[:C] / W), _impurity(tot[:C], W, crit)
        out["value"].append(value)
        out["n_node"].append(count)
        out["w_node"].append(W)
        out["impurity"].append(node_imp)
        if depth >= depth_cap or count < min_samples_split or count < 2 * min_samples_leaf or pure:
            continue
        cands = []  # (feature, exact gain, bin, missing_left, gain ratio)
        visited = 0
        j = 0
        while visited < max_features and j < n_features:
            nb = min(max_features - visited, n_features - j)
            batch = []
            for _ in range(nb):
                if sample_features:
                    r = j + rng.next() % (n_features - j)
                    feats[j], feats[r] = feats[r], feats[j]
                batch.append(feats[j])
                j += 1
            for f in batch:
                codes = binned[rows, f].astype(np.int64)
                if regression:
                    hist = np.stack([np.bincount(codes, weights=w, minlength=n_bins),
                                     np.bincount(codes, weights=w * y, minlength=n_bins),
                                     np.bincount(codes, minlength=n_bins).astype(np.float64)], axis=1)
                    occupancy = hist[:, 2]
                else:
                    hist = np.zeros((n_bins, C + 1))
                    flat = np.bincount(codes * C + y, weights=w, minlength=n_bins * C)
                    hist[:, :C] = flat.reshape(n_bins, C)
                    hist[:, C] = np.bincount(codes, minlength=n_bins) if count_slot else 0.0
                    occupancy = hist[:, C] if count_slot else np.array([_seq(r_) for r_ in hist[:, :C]])
                occupied = [b for b in range(missing_bin) if occupancy[b] > 0.0]
                has_miss = occupancy[missing_bin] > 0.0
                if not (len(occupied) >= 2 or (len(occupied) == 1 and has_miss)):
                    continue  # constant feature: not counted
                visited += 1
                best = _best_threshold(hist, tot, W, count, occupied, has_miss, regression, C, crit, cnt_mode,
                                       min_samples_leaf)
                if best is None:
                    continue
                _, fb, fml, fwl, L, R = best
                if regression:
                    fg = _mse_gain(L[1], L[0], R[1], R[0])
                else:
                    n = fwl + (W - fwl)
                    fg = node_imp - ((fwl / n) * _impurity(L[:C], fwl, crit)
                                     + ((W - fwl) / n) * _impurity(R[:C], W - fwl, crit))
                    fg = fg if fg > 0.0 else 0.0
                if not has_miss:
                    fml = 1 if fwl >= W - fwl else 0  # unseen missing values: the heavier child
                ratio = 0.0
                if code == GAIN_RATIO:
                    fl = fwl / W
                    fr = 1.0 - fl
                    iv = 0.0
                    if fl > 0.0:
                        iv -= fl * (math.log(fl) * _INV_LN2)
                    if fr > 0.0:
                        iv -= fr * (math.log(fr) * _INV_LN2)
                    ratio = fg / iv if iv > 0.0 else 0.0
                cands.append((f, fg, fb, fml, ratio))
        if not cands:
            continue
        if code == GAIN_RATIO:  # C4.5: the best ratio among the features of at least average gain
            avg = _seq([c[1] for c in cands]) / len(cands)
            pick, best_r = None, -np.inf
            for c in cands:
                if c[1] >= avg * (1.0 - 1e-12) and c[4] > best_r:
                    pick, best_r = c, c[4]
        else:
            pick, best_g = None, -np.inf
            for c in cands:
                if c[1] > best_g:
                    pick, best_g = c, c[1]
        f, best_gain, best_bin, best_ml, _ = pick
        if min_impurity_decrease > 0.0 and (W / out["w_node"][0]) * best_gain + 1e-12 < min_impurity_decrease:
            continue
        codes = binned[rows, f].astype(np.int64)
        go_left = np.where(codes == missing_bin, best_ml == 1, codes <= best_bin)
        left_rows, right_rows = rows[go_left], rows[~go_left]
        if len(left_rows) == 0 or len(right_rows) == 0:
            continue
        out["feature"][nid], out["threshold"][nid], out["miss_left"][nid] = f, best_bin, best_ml
        importances[f] += W * best_gain
        stack.append((right_rows, depth + 1, nid, False))
        stack.append((left_rows, depth + 1, nid, True))
    V = 1 if regression else C
    return (np.array(out["feature"], dtype=np.int32), np.array(out["threshold"], dtype=np.int32),
            np.array(out["miss_left"], dtype=np.uint8), np.array(out["left"], dtype=np.int32),
            np.array(out["right"], dtype=np.int32), np.array(out["value"], dtype=np.float64).reshape(-1, V),
            np.array(out["n_node"], dtype=np.int64), np.array(out["w_node"], dtype=np.float64),
            np.array(out["impurity"], dtype=np.float64), importances, max_seen_depth)
