"""Classic trees (issue 9): split criteria and class histograms on every backend, the seed's
formulas on hand-computed tables, C4.5's gain-ratio rule, the tree grower against an independent
recursive grower built on the reference kernels, the estimators against scikit-learn (5-fold CV
accuracy), scikit-learn's estimator checks, pickling, missing values, thread-count
independence and bad input.
"""
from __future__ import annotations

import math
import pickle
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import bagu_fast.trees as bt
from bagu_fast.trees import (DecisionTreeClassifier, DecisionTreeRegressor, RandomForestClassifier,
                             RandomForestRegressor)
from .conftest import CUDA_SIM, assert_close, sim_small

CRITERIA = ("gini", "entropy", "gain_ratio")


def _h(*p):
    """Entropy in bits of the probabilities ``p`` (hand formula, independent of the package)."""
    return -sum(x * math.log2(x) for x in p if x > 0)


# ----------------------------------------------------------------------------------------------
# known answers (the seed's formulas, computed by hand)
# ----------------------------------------------------------------------------------------------
# The seed's watermelon data set: 17 melons, 8 good / 9 bad; "texture = clear" holds 7 good and
# 2 bad, the other textures 1 good and 7 bad.  Columns: (good, bad).
MELON_L = [7, 2]
MELON_R = [1, 7]


def test_known_answers_binary_split_watermelon(backend):
    left = np.array([MELON_L])
    right = np.array([MELON_R])
    # Ent(D) = -(8/17 log2 8/17 + 9/17 log2 9/17) = 0.99750 (the seed prints 0.998)
    ent_d = _h(8 / 17, 9 / 17)
    assert abs(ent_d - 0.99750) < 1e-5
    # Gain = Ent(D) - 9/17 Ent(7/9, 2/9) - 8/17 Ent(1/8, 7/8) = 0.997503 - 0.404579 - 0.255795
    gain = bt.split_criterion(left, right, criterion="entropy", backend=backend)
    assert abs(gain[0] - 0.337129) < 1e-6
    # IV = Ent(9/17, 8/17) = 0.997503, gain ratio = 0.337129 / 0.997503 = 0.337973
    ratio = bt.split_criterion(left, right, criterion="gain_ratio", backend=backend)
    assert abs(ratio[0] - 0.337973) < 1e-6
    # Gini(D) = 1 - (8/17)^2 - (9/17)^2 = 144/289; children 28/81 and 14/64
    gini = bt.split_criterion(left, right, criterion="gini", backend=backend)
    assert abs(gini[0] - (144 / 289 - 9 / 17 * 28 / 81 - 8 / 17 * 14 / 64)) < 1e-12
    assert abs(gini[0] - 0.212322) < 1e-6


def test_known_answer_table(backend):
    """A table of splits with hand-computed gains: (left, right, gini, entropy, gain ratio)."""
    table = [
        # a perfect split of 5 / 5: Gini 0.5 -> 0, H 1 -> 0, IV = 1
        ([5, 0], [0, 5], 0.5, 1.0, 1.0),
        # no information: children have the parent's distribution
        ([2, 2], [3, 3], 0.0, 0.0, 0.0),
        # an empty side is no split
        ([0, 0], [4, 6], 0.0, 0.0, 0.0),
        # three classes: parent (2, 2, 2), left (2, 0, 0), right (0, 2, 2)
        #   Gini: 2/3 - 4/6 * 1/2 = 1/3; H: log2 3 - 4/6 * 1 = 0.918296; IV = H(1/3, 2/3) = 0.918296
        ([2, 0, 0], [0, 2, 2], 1 / 3, math.log2(3) - 2 / 3, (math.log2(3) - 2 / 3) / _h(1 / 3, 2 / 3)),
        # 1 vs 3: parent (2, 2); left (1, 0), right (1, 2)
        #   Gini: 1/2 - 3/4 * 4/9 = 1/6; H: 1 - 3/4 H(1/3, 2/3) = 0.311278; IV = H(1/4, 3/4) = 0.811278
        ([1, 0], [1, 2], 1 / 6, 1 - 0.75 * _h(1 / 3, 2 / 3), (1 - 0.75 * _h(1 / 3, 2 / 3)) / _h(0.25, 0.75)),
    ]
    assert abs(table[3][3] - 0.918296) < 1e-6 and abs(table[4][3] - 0.311278) < 1e-6
    for left, right, gini, ent, ratio in table:
        L = np.array([left], dtype=np.int64)
        R = np.array([right], dtype=np.int64)
        for crit, expected in (("gini", gini), ("entropy", ent), ("gain_ratio", ratio)):
            got = bt.split_criterion(L, R, criterion=crit, backend=backend)
            assert abs(float(got[0]) - expected) < 1e-12, (left, right, crit, float(got[0]), expected)


def test_known_answer_mse(backend):
    # y = 1, 2, 3 | 10, 11, 12: MSE(D) = 125.5 / 6, children 2/3 each: gain = 20.25
    got = bt.split_gain_mse(np.array([6.0]), np.array([3.0]), np.array([33.0]), np.array([3.0]), backend=backend)
    assert abs(got[0] - 20.25) < 1e-12
    y = np.array([1, 2, 3, 10, 11, 12.0])
    assert abs(y.var() - (y[:3].var() + y[3:].var()) / 2 - 20.25) < 1e-12
    # empty side: 0
    got = bt.split_gain_mse(np.array([0.0, 5.0]), np.array([0.0, 2.0]), np.array([4.0, 5.0]), np.array([2.0, 2.0]),
                            backend=backend)
    assert got[0] == 0.0 and got[1] == 0.0


def test_class_histogram_known_answer(backend):
    binned = np.array([[0, 2], [1, 2], [1, 0], [0, 1]], dtype=np.uint8)
    y = np.array([0, 1, 1, 0])
    h = bt.build_class_histogram(binned, y, 2, n_bins=3, backend=backend)
    assert h.dtype == np.int64 and h.shape == (2, 3, 2)
    np.testing.assert_array_equal(h[0], [[2, 0], [0, 2], [0, 0]])
    np.testing.assert_array_equal(h[1], [[0, 1], [1, 0], [1, 1]])
    h = bt.build_class_histogram(binned, y, 2, np.array([3, 3, 1]), n_bins=3, backend=backend)  # repeats count
    np.testing.assert_array_equal(h[0], [[2, 0], [0, 1], [0, 0]])


# ----------------------------------------------------------------------------------------------
# every backend against the reference
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("n,n_features,n_bins,n_classes", [(0, 3, 4, 2), (1, 1, 1, 1), (37, 3, 7, 3), (200, 5, 256, 4)])
def test_class_histogram_matches_reference(fast_backend, rng, n, n_features, n_bins, n_classes):
    if fast_backend == "cuda":
        n = sim_small(n, min(n, 40))
    binned = rng.integers(0, n_bins, (n, n_features)).astype(np.uint8)
    y = rng.integers(0, n_classes, n)
    expected = bt.build_class_histogram(binned, y, n_classes, n_bins=n_bins, backend="reference")
    got = bt.build_class_histogram(binned, y, n_classes, n_bins=n_bins, backend=fast_backend)
    np.testing.assert_array_equal(got, expected)
    assert got.dtype == np.int64
    if n:
        idx = rng.integers(0, n, 2 * n + 1)
        np.testing.assert_array_equal(
            bt.build_class_histogram(binned, y, n_classes, idx, n_bins=n_bins, backend=fast_backend),
            bt.build_class_histogram(binned, y, n_classes, idx, n_bins=n_bins, backend="reference"))
    w = rng.random(n)
    w0 = w.copy()
    got = bt.build_class_histogram(binned, y, n_classes, n_bins=n_bins, sample_weight=w, backend=fast_backend)
    expected = bt.build_class_histogram(binned, y, n_classes, n_bins=n_bins, sample_weight=w, backend="reference")
    assert got.dtype == np.float64
    assert_close(got, expected)
    np.testing.assert_array_equal(w, w0)
    # integer-valued weights: float sums are exact whatever the order
    wi = rng.integers(0, 4, n).astype(np.float64)
    np.testing.assert_array_equal(
        bt.build_class_histogram(binned, y, n_classes, n_bins=n_bins, sample_weight=wi, backend=fast_backend),
        bt.build_class_histogram(binned, y, n_classes, n_bins=n_bins, sample_weight=wi, backend="reference"))


@pytest.mark.parametrize("criterion", CRITERIA)
@pytest.mark.parametrize("count_dtype", [np.int64, np.int32, np.float32, np.float64])
def test_split_criterion_matches_reference(fast_backend, rng, criterion, count_dtype):
    shape = (3, sim_small(17, 5), 3)
    left = rng.integers(0, 6, shape).astype(count_dtype)
    right = rng.integers(0, 6, shape).astype(count_dtype)
    left[0, 0] = 0  # an empty side
    if np.dtype(count_dtype).kind == "f":
        left = left * count_dtype(0.37)
        right = right * count_dtype(1.3)
    l0, r0 = left.copy(), right.copy()
    expected = bt.split_criterion(left, right, criterion=criterion, backend="reference")
    got = bt.split_criterion(left, right, criterion=criterion, backend=fast_backend)
    out_dtype = np.float32 if count_dtype == np.float32 else np.float64
    assert got.dtype == expected.dtype == out_dtype and got.shape == shape[:2]
    assert_close(got, expected, np.float64 if out_dtype == np.float64 else np.float32)
    assert got[0, 0] == 0.0 and np.all(got >= 0)
    np.testing.assert_array_equal(left, l0)
    np.testing.assert_array_equal(right, r0)


def test_split_criterion_edge_shapes(backend):
    # no candidates; one class; a single candidate without leading dimensions
    assert bt.split_criterion(np.zeros((0, 2)), np.zeros((0, 2)), criterion="gini", backend=backend).shape == (0,)
    one = bt.split_criterion(np.array([[3]]), np.array([[4]]), criterion="entropy", backend=backend)
    assert one.shape == (1,) and one[0] == 0.0
    scalar = bt.split_criterion(np.array([5, 0]), np.array([0, 5]), criterion="gini", backend=backend)
    assert np.shape(scalar) == () and abs(float(scalar) - 0.5) < 1e-12


def test_split_gain_mse_matches_reference(fast_backend, rng, dtype):
    m = sim_small(101, 9)
    sL = rng.standard_normal(m).astype(dtype) * 10
    sR = rng.standard_normal(m).astype(dtype) * 10
    nL = rng.integers(0, 5, m).astype(np.float64)
    nR = rng.integers(1, 5, m).astype(np.float64)
    expected = bt.split_gain_mse(sL, nL, sR, nR, backend="reference")
    got = bt.split_gain_mse(sL, nL, sR, nR, backend=fast_backend)
    assert got.dtype == dtype == expected.dtype
    assert_close(got, expected, dtype)
    assert np.all(got[nL == 0] == 0)


def test_vectorised_criterion_equals_brute_force(rng):
    """The module docstring's recipe: cumulative class histograms score every threshold."""
    binned = rng.integers(0, 9, (300, 4)).astype(np.uint8)
    y = rng.integers(0, 3, 300)
    hist = bt.build_class_histogram(binned, y, 3, n_bins=9)
    left = np.cumsum(hist, axis=1)[:, :-1]
    right = hist.sum(axis=1, keepdims=True) - left
    gains = bt.split_criterion(left, right, criterion="entropy")
    for f, b in ((0, 0), (2, 4), (3, 7)):
        go = binned[:, f] <= b
        pl = np.bincount(y[go], minlength=3) / go.sum()
        pr = np.bincount(y[~go], minlength=3) / (~go).sum()
        p = np.bincount(y, minlength=3) / 300
        expected = _h(*p) - go.mean() * _h(*pl) - (1 - go.mean()) * _h(*pr)
        assert abs(gains[f, b] - expected) < 1e-12


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 9), st.integers(0, 9), st.integers(0, 9)), min_size=2, max_size=2),
       st.sampled_from(CRITERIA), st.sampled_from(["reference", "cpu"]))
def test_criterion_properties(pair, criterion, backend):
    """Symmetric in the two children, invariant to relabelling the classes, 0 <= gain <=
    I(parent), and gain ratio = information gain / IV."""
    L = np.array([pair[0]], dtype=np.int64)
    R = np.array([pair[1]], dtype=np.int64)
    g = bt.split_criterion(L, R, criterion=criterion, backend=backend)[0]
    assert abs(g - bt.split_criterion(R, L, criterion=criterion, backend=backend)[0]) < 1e-12
    perm = [2, 0, 1]
    assert abs(g - bt.split_criterion(L[:, perm], R[:, perm], criterion=criterion, backend=backend)[0]) < 1e-12
    P = (L + R)[0] / max((L + R).sum(), 1)
    parent = 1 - np.sum(P ** 2) if criterion == "gini" else _h(*P)
    nl, nr = L.sum(), R.sum()
    assert g >= 0
    if criterion == "gain_ratio":
        if nl and nr:
            info = bt.split_criterion(L, R, criterion="entropy", backend=backend)[0]
            assert abs(g - info / _h(nl / (nl + nr), nr / (nl + nr))) < 1e-12
        else:
            assert g == 0
    else:
        assert g <= parent + 1e-12


# ----------------------------------------------------------------------------------------------
# C4.5's rule
# ----------------------------------------------------------------------------------------------
def _c45_data():
    """Three binary features over 50 bad / 50 good rows (columns: class-0 rows, class-1 rows):

    A isolates 2 good rows (tiny split information: the largest gain ratio, below-average gain);
    B splits (30, 20) | (20, 30) (the largest information gain, a small gain ratio);
    C splits (34, 42) | (16, 8) (above-average gain, a larger gain ratio than B's).
    """
    y = np.r_[np.zeros(50), np.ones(50)].astype(int)
    X = np.zeros((100, 3))
    X[50:52, 0] = 1
    X[30:50, 1] = 1
    X[70:100, 1] = 1
    X[34:50, 2] = 1
    X[92:100, 2] = 1
    return X, y


def test_c45_gain_ratio_rule_among_above_average_gain():
    X, y = _c45_data()
    L = np.array([[50, 48], [30, 20], [34, 42]])
    R = np.array([[0, 2], [20, 30], [16, 8]])
    for f in range(3):  # the table matches the data
        go = X[:, f] == 0
        np.testing.assert_array_equal(L[f], np.bincount(y[go], minlength=2))
    gain = bt.split_criterion(L, R, criterion="entropy")
    ratio = bt.split_criterion(L, R, criterion="gain_ratio")
    avg = gain.mean()
    assert gain[0] < avg and gain[2] > avg and gain[1] > avg
    assert np.argmax(ratio) == 0 and np.argmax(gain) == 1 and ratio[2] > ratio[1]
    # C4.5: among features with gain >= average (B, C), the largest gain ratio: C
    assert DecisionTreeClassifier(criterion="gain_ratio", max_depth=1).fit(X, y).tree_.feature[0] == 2
    # ID3 (information gain): B;  the plain largest gain ratio would have been A
    assert DecisionTreeClassifier(criterion="entropy", max_depth=1).fit(X, y).tree_.feature[0] == 1
    for order in ([2, 0, 1], [1, 2, 0]):  # column order does not matter
        tree = DecisionTreeClassifier(criterion="gain_ratio", max_depth=1).fit(X[:, order], y).tree_
        assert order[tree.feature[0]] == 2


# ----------------------------------------------------------------------------------------------
# the grower against an independent recursive grower on the reference kernels
# ----------------------------------------------------------------------------------------------
def _reference_tree(binned, y, n_classes, criterion, max_depth, msl, n_bins):
    """Preorder list of (feature, bin) for splits and None for leaves; regression if n_classes == 0."""
    out = []

    def best_of(gains):
        """First index whose gain is within 1e-12 of the maximum (ties: first)."""
        top = gains.max()
        return int(np.flatnonzero(gains >= top - 1e-12)[0])

    def grow(rows, depth):
        if n_classes:
            counts = np.bincount(y[rows], minlength=n_classes)
            pure = (counts > 0).sum() <= 1
        else:
            pure = np.all(y[rows] == y[rows][0])
        if depth == max_depth or len(rows) < 2 * msl or pure:
            out.append(None)
            return
        F = binned.shape[1]
        if n_classes:
            hist = bt.build_class_histogram(binned, y, n_classes, rows, n_bins=n_bins, backend="reference")
            left = np.cumsum(hist, axis=1)[:, :-1]
            right = counts - left
            nl, nr = left.sum(-1), right.sum(-1)
            base = "entropy" if criterion == "gain_ratio" else criterion
            gains = bt.split_criterion(left, right, criterion=base, backend="reference")
        else:
            sums = np.stack([np.bincount(binned[rows, f], weights=y[rows], minlength=n_bins) for f in range(F)])
            cnts = np.stack([np.bincount(binned[rows, f], minlength=n_bins) for f in range(F)]).astype(float)
            sl, nl = np.cumsum(sums, 1)[:, :-1], np.cumsum(cnts, 1)[:, :-1]
            sr, nr = sums.sum(1, keepdims=True) - sl, cnts.sum(1, keepdims=True) - nl
            gains = bt.split_gain_mse(sl, nl, sr, nr, backend="reference")
        valid = (nl >= msl) & (nr >= msl)
        if not valid.any():
            out.append(None)
            return
        gains = np.where(valid, gains, -np.inf)
        feats = [f for f in range(F) if valid[f].any()]
        per = {f: best_of(gains[f]) for f in feats}
        if criterion == "gain_ratio":
            g = np.array([gains[f, per[f]] for f in feats])
            frac = np.array([nl[f, per[f]] / len(rows) for f in feats])
            iv = np.array([_h(p, 1 - p) for p in frac])
            ratio = np.where(g >= g.mean() * (1 - 1e-12), g / iv, -np.inf)
            f = feats[best_of(ratio)]
        else:
            f = feats[best_of(np.array([gains[f, per[f]] for f in feats]))]
        b = per[f]
        out.append((f, b))
        go = binned[rows, f] <= b
        grow(rows[go], depth + 1)
        grow(rows[~go], depth + 1)

    grow(np.arange(len(y)), 0)
    return out


def _preorder(tree):
    return [None if tree.feature[i] < 0 else (int(tree.feature[i]), int(tree.threshold_bin[i]))
            for i in range(tree.node_count)]


@pytest.mark.parametrize("criterion", CRITERIA + ("squared_error",))
def test_grower_matches_reference_grower(rng, criterion):
    n, F, n_bins = 160, 4, 12
    X = rng.integers(0, n_bins, (n, F)).astype(np.float64)
    if criterion == "squared_error":
        y = X[:, 0] * 0.5 + np.sin(X[:, 1]) + rng.standard_normal(n)
        est = DecisionTreeRegressor(max_depth=5, min_samples_leaf=3)
        n_classes = 0
    else:
        y = ((X[:, 0] + X[:, 1] + rng.integers(0, 6, n)) // 7).astype(int) % 3
        est = DecisionTreeClassifier(criterion=criterion, max_depth=5, min_samples_leaf=3)
        n_classes = 3
    est.fit(X, y)
    binned = est._bin_mapper.transform(X)
    np.testing.assert_array_equal(binned, X.astype(np.uint8))  # integer features: bin = value
    expected = _reference_tree(binned, y, n_classes, criterion, 5, 3, 256)
    assert _preorder(est.tree_) == expected
    # leaf values: class fractions / means of the rows in each leaf
    leaves = est.apply(X)
    for leaf in np.unique(leaves):
        rows = leaves == leaf
        if n_classes:
            assert_close(est.tree_.value[leaf], np.bincount(y[rows], minlength=3) / rows.sum())
        else:
            assert_close(est.tree_.value[leaf, 0], y[rows].mean())


def test_tree_structure_and_attributes(rng):
    X = rng.standard_normal((300, 5))
    y = (X[:, 0] + 0.3 * X[:, 2] > 0).astype(int)
    est = DecisionTreeClassifier(max_depth=4, random_state=0).fit(X, y)
    t = est.tree_
    assert est.get_depth() <= 4 and est.get_n_leaves() == t.n_leaves == int((t.children_left < 0).sum())
    assert t.node_count == 2 * t.n_leaves - 1
    leaves = est.apply(X)
    assert np.all(t.children_left[leaves] == -1)
    assert t.n_node_samples[0] == 300 and np.all(t.n_node_samples[leaves] >= 1)
    imp = est.feature_importances_
    assert abs(imp.sum() - 1) < 1e-12 and np.argmax(imp) == 0
    # real thresholds agree with the binned ones: x <= threshold goes left
    inner = np.flatnonzero(t.feature >= 0)
    for node in inner[:5]:
        f, thr = t.feature[node], t.threshold[node]
        codes = est._bin_mapper.transform(X)[:, f]
        np.testing.assert_array_equal(X[:, f] <= thr, codes <= t.threshold_bin[node])
    proba = est.predict_proba(X)
    assert proba.shape == (300, 2) and np.allclose(proba.sum(1), 1)
    np.testing.assert_array_equal(est.predict(X), est.classes_[proba.argmax(1)])


# ----------------------------------------------------------------------------------------------
# accuracy against scikit-learn (5-fold CV)
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dataset", ["iris", "wine", "breast_cancer", "digits"])
def test_cv_accuracy_within_one_point_of_sklearn(dataset):
    """Mean 5-fold CV accuracy over 4 shuffles within 1 point of scikit-learn's, per criterion
    (scikit-learn has no gain ratio: C4.5 is compared with its entropy tree)."""
    from sklearn import datasets
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.tree import DecisionTreeClassifier as SkTree

    X, y = getattr(datasets, f"load_{dataset}")(return_X_y=True)
    for criterion in CRITERIA:
        ours, theirs = [], []
        for seed in range(4):
            cv = StratifiedKFold(5, shuffle=True, random_state=seed)
            ours.append(cross_val_score(DecisionTreeClassifier(criterion=criterion, random_state=seed), X, y, cv=cv).mean())
            sk_crit = "entropy" if criterion == "gain_ratio" else criterion
            theirs.append(cross_val_score(SkTree(criterion=sk_crit, random_state=seed), X, y, cv=cv).mean())
        assert np.mean(ours) >= np.mean(theirs) - 0.01, (dataset, criterion, np.mean(ours), np.mean(theirs))


def test_forest_accuracy_near_sklearn():
    from sklearn.datasets import load_breast_cancer, load_digits
    from sklearn.ensemble import RandomForestClassifier as SkForest
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    for load in (load_breast_cancer, load_digits):
        X, y = load(return_X_y=True)
        cv = StratifiedKFold(5, shuffle=True, random_state=0)
        ours = cross_val_score(RandomForestClassifier(30, random_state=0, n_jobs=2), X, y, cv=cv).mean()
        theirs = cross_val_score(SkForest(30, random_state=0, n_jobs=2), X, y, cv=cv).mean()
        assert ours >= theirs - 0.015, (load.__name__, ours, theirs)


def test_regressor_against_sklearn():
    from sklearn.datasets import load_diabetes
    from sklearn.ensemble import RandomForestRegressor as SkForest
    from sklearn.tree import DecisionTreeRegressor as SkTree

    X, y = load_diabetes(return_X_y=True)
    ours = DecisionTreeRegressor(max_depth=4).fit(X, y)
    theirs = SkTree(max_depth=4, random_state=0).fit(X, y)
    mse = lambda m: np.mean((m.predict(X) - y) ** 2)  # noqa: E731
    assert mse(ours) <= mse(theirs) * 1.05
    full = DecisionTreeRegressor().fit(X, y)  # fully grown: interpolates the (distinct) rows
    assert full.score(X, y) > 0.99
    tr, te = slice(0, 350), slice(350, None)
    ours = RandomForestRegressor(50, random_state=0, oob_score=True).fit(X[tr], y[tr])
    theirs = SkForest(50, random_state=0).fit(X[tr], y[tr])
    assert ours.score(X[te], y[te]) >= theirs.score(X[te], y[te]) - 0.05
    assert 0.2 < ours.oob_score_ < 0.7 and ours.oob_prediction_.shape == (350,)


# ----------------------------------------------------------------------------------------------
# forests: threads, OOB, importances
# ----------------------------------------------------------------------------------------------
def test_forest_independent_of_thread_count(rng):
    X = rng.standard_normal((400, 6))
    X[rng.random(X.shape) < 0.05] = np.nan
    y = (np.nan_to_num(X[:, 0]) + np.nan_to_num(X[:, 1]) ** 2 > 0.5).astype(int)
    a = RandomForestClassifier(12, random_state=3, n_jobs=1, max_samples=0.7).fit(X, y)
    b = RandomForestClassifier(12, random_state=3, n_jobs=2).set_params(max_samples=0.7).fit(X, y)
    c = RandomForestClassifier(12, random_state=3, n_jobs=-1, max_samples=0.7).fit(X, y)
    for other in (b, c):
        np.testing.assert_array_equal(a.predict_proba(X), other.predict_proba(X))
        for ta, tb in zip(a.estimators_, other.estimators_):
            np.testing.assert_array_equal(ta.tree_.feature, tb.tree_.feature)
            np.testing.assert_array_equal(ta.tree_.threshold_bin, tb.tree_.threshold_bin)
    d = RandomForestClassifier(12, random_state=4, n_jobs=2, max_samples=0.7).fit(X, y)
    assert not np.array_equal(a.predict_proba(X), d.predict_proba(X))
    assert a.apply(X).shape == (400, 12)
    # the forest averages its trees
    mean = np.mean([t.predict_proba(X) for t in a.estimators_], axis=0)
    assert_close(a.predict_proba(X), mean)


def test_forest_oob_and_importances():
    from sklearn.datasets import load_breast_cancer

    X, y = load_breast_cancer(return_X_y=True)
    rf = RandomForestClassifier(40, oob_score=True, random_state=0, n_jobs=2).fit(X, y)
    assert 0.9 < rf.oob_score_ < 1.0
    assert rf.oob_decision_function_.shape == (len(y), 2)
    assert abs(rf.feature_importances_.sum() - 1) < 1e-12
    assert all(abs(e.feature_importances_.sum() - 1) < 1e-12 for e in rf.estimators_)
    # no bootstrap + all features: every tree is the same tree
    same = RandomForestClassifier(3, bootstrap=False, max_features=None, random_state=0).fit(X, y)
    trees = [e.tree_ for e in same.estimators_]
    assert all(np.array_equal(trees[0].feature, t.feature) for t in trees)


# ----------------------------------------------------------------------------------------------
# missing values, weights, determinism
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("Est", [DecisionTreeClassifier, RandomForestClassifier])
def test_missing_values_learn_a_direction(rng, Est):
    X = rng.standard_normal((300, 2))
    y = (X[:, 0] > 0.5).astype(int)
    X[y == 1, 1] = np.nan  # missingness itself is the signal (feature 0 is noise-free too)
    X[:, 0] = rng.standard_normal(300)  # ... but feature 0 becomes pure noise
    est = Est(random_state=0, **({"n_estimators": 10, "max_features": None} if Est is RandomForestClassifier else {}))
    est.fit(X, y)
    assert est.score(X, y) == 1.0
    Xt = np.array([[0.0, np.nan], [0.0, 1.0]])
    np.testing.assert_array_equal(est.predict(Xt), [1, 0])


def test_missing_unseen_at_fit_goes_to_heavier_child(rng):
    X = rng.standard_normal((200, 1))
    y = (X[:, 0] > 1.0).astype(int)  # the left child (x <= ~1) is heavier
    est = DecisionTreeClassifier(max_depth=1).fit(X, y)
    assert est.tree_.missing_go_to_left[0] == 1
    assert est.predict([[np.nan]])[0] == 0


def test_sample_weight_zero_is_absent_and_integer_weight_is_repetition(rng):
    X = rng.integers(0, 20, (120, 3)).astype(float)
    y = rng.integers(0, 2, 120)
    w = rng.integers(0, 3, 120).astype(float)
    a = DecisionTreeClassifier(random_state=0).fit(X, y, sample_weight=w)
    keep = w > 0
    b = DecisionTreeClassifier(random_state=0).fit(X[keep], y[keep], sample_weight=w[keep])
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))
    rep = np.repeat(np.arange(120), w.astype(int))
    c = DecisionTreeClassifier(random_state=0).fit(X[rep], y[rep])
    np.testing.assert_array_equal(a.predict_proba(X), c.predict_proba(X))


def test_float32_input_and_inputs_not_modified(rng):
    X = rng.standard_normal((150, 4)).astype(np.float32)
    X[3, 1] = np.nan
    y = (X[:, 0] > 0).astype(int)
    X0, y0 = X.copy(), y.copy()
    est = RandomForestClassifier(5, random_state=0).fit(X, y)
    est.predict(X)
    np.testing.assert_array_equal(X, X0)
    np.testing.assert_array_equal(y, y0)
    assert DecisionTreeClassifier(random_state=1).fit(X, y).score(X, y) == 1.0


def test_string_labels_and_one_row_per_class():
    X = np.array([[0.0], [1.0]])
    est = DecisionTreeClassifier().fit(X, np.array(["b", "a"]))
    np.testing.assert_array_equal(est.predict(X), ["b", "a"])
    assert est.get_depth() == 1 and est.get_n_leaves() == 2


# ----------------------------------------------------------------------------------------------
# scikit-learn conformance and pickling
# ----------------------------------------------------------------------------------------------
def _estimators():
    return [DecisionTreeClassifier(random_state=0), DecisionTreeRegressor(random_state=0),
            RandomForestClassifier(8, random_state=0), RandomForestRegressor(8, random_state=0)]


@pytest.mark.parametrize("est", _estimators(), ids=lambda e: type(e).__name__)
def test_sklearn_check_estimator(est):
    from sklearn.utils.estimator_checks import check_estimator

    # scikit-learn's own forests fail these for the same reason (bootstrap weights)
    xfail = {}
    if isinstance(est, (RandomForestClassifier, RandomForestRegressor)):
        xfail = {"check_sample_weight_equivalence_on_dense_data":
                 "bootstrap draws differ between weights and repeated rows (as scikit-learn's forests)"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = check_estimator(est, expected_failed_checks=xfail, on_fail=None)
    failed = [r for r in results if r["status"] == "failed"]
    assert not failed, [(r["check_name"], str(r["exception"])[:300]) for r in failed]


@pytest.mark.parametrize("est", _estimators(), ids=lambda e: type(e).__name__)
def test_pickle_round_trip(est, rng):
    X = rng.standard_normal((120, 4))
    X[::7, 2] = np.nan
    y = (X[:, 0] > 0).astype(int) if hasattr(est, "predict_proba") else X[:, 0] * 2 + X[:, 1]
    est.fit(X, y)
    clone = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(clone.predict(X), est.predict(X))
    np.testing.assert_array_equal(clone.apply(X), est.apply(X))


# ----------------------------------------------------------------------------------------------
# bad input
# ----------------------------------------------------------------------------------------------
def _xy(rng, n=30):
    X = rng.standard_normal((n, 3))
    return X, (X[:, 0] > 0).astype(int)


@pytest.mark.parametrize("kwargs,match", [
    ({"criterion": "mse"}, "criterion"),
    ({"criterion": "squared_error"}, "criterion"),
    ({"max_features": 0}, "max_features"),
    ({"max_features": 4}, "max_features"),
    ({"max_features": 1.5}, "max_features"),
    ({"max_features": "all"}, "max_features"),
    ({"max_depth": 0}, "max_depth"),
    ({"min_samples_leaf": 0}, "min_samples_leaf"),
    ({"min_samples_split": 1}, "min_samples_split"),
    ({"max_bins": 1}, "max_bins"),
    ({"max_bins": 256}, "max_bins"),
    ({"min_impurity_decrease": -1.0}, "min_impurity_decrease"),
])
def test_bad_tree_parameters(rng, kwargs, match):
    X, y = _xy(rng)
    with pytest.raises(ValueError, match=match):
        DecisionTreeClassifier(**kwargs).fit(X, y)


def test_bad_estimator_input(rng):
    X, y = _xy(rng)
    with pytest.raises(ValueError, match="criterion"):
        DecisionTreeRegressor(criterion="gain_ratio").fit(X, X[:, 0])
    with pytest.raises(ValueError, match="criterion"):
        RandomForestRegressor(criterion="gain_ratio").fit(X, X[:, 0])
    for ne in (0, -3):
        with pytest.raises(ValueError, match="n_estimators"):
            RandomForestClassifier(n_estimators=ne).fit(X, y)
    with pytest.raises(ValueError, match="max_features"):
        RandomForestClassifier(3, max_features=10).fit(X, y)
    with pytest.raises(ValueError, match="oob_score"):
        RandomForestClassifier(3, bootstrap=False, oob_score=True).fit(X, y)
    with pytest.raises(ValueError, match="max_samples"):
        RandomForestClassifier(3, max_samples=1.5).fit(X, y)
    with pytest.raises(ValueError, match="n_jobs"):
        RandomForestClassifier(3, n_jobs=0).fit(X, y)
    with pytest.raises(ValueError):  # NaN target
        DecisionTreeRegressor().fit(X, np.r_[np.nan, X[1:, 0]])
    with pytest.raises(ValueError):  # inf in X (NaN is valid, inf is not)
        DecisionTreeClassifier().fit(np.r_[X[:1] * np.inf, X[1:]], y)
    with pytest.raises(ValueError):  # lengths
        DecisionTreeClassifier().fit(X, y[:-1])
    with pytest.raises(ValueError, match="sample_weight"):
        DecisionTreeClassifier().fit(X, y, sample_weight=-np.ones(len(y)))
    with pytest.raises(ValueError, match="class"):
        DecisionTreeClassifier().fit(X, np.zeros(len(y)))
    with pytest.raises(ValueError, match="class"):
        RandomForestClassifier(2).fit(X, y, sample_weight=(y == 1).astype(float))
    from sklearn.exceptions import NotFittedError

    for est in _estimators():
        with pytest.raises(NotFittedError):
            est.predict(X)
    fitted = DecisionTreeClassifier().fit(X, y)
    with pytest.raises(ValueError, match="features"):
        fitted.predict(X[:, :2])
    forest = RandomForestClassifier(2).fit(X, y)
    with pytest.raises(ValueError, match="features"):
        forest.predict(X[:, :2])


def test_bad_kernel_input(rng):
    b = rng.integers(0, 4, (10, 2)).astype(np.uint8)
    y = rng.integers(0, 2, 10)
    with pytest.raises(TypeError, match="binned"):
        bt.build_class_histogram(b.astype(np.int64), y, 2)
    with pytest.raises(ValueError, match="binned"):
        bt.build_class_histogram(b[:, 0], y, 2)
    with pytest.raises(ValueError, match="n_bins"):
        bt.build_class_histogram(b, y, 2, n_bins=3)  # code 3 >= n_bins
    with pytest.raises(ValueError, match="n_bins"):
        bt.build_class_histogram(b, y, 2, n_bins=257)
    with pytest.raises(ValueError, match="y_codes"):
        bt.build_class_histogram(b, y + 1, 2)
    with pytest.raises(ValueError, match="y_codes"):
        bt.build_class_histogram(b, y[:-1], 2)
    with pytest.raises(TypeError, match="y_codes"):
        bt.build_class_histogram(b, y.astype(float), 2)
    with pytest.raises(ValueError, match="n_classes"):
        bt.build_class_histogram(b, y, 0)
    with pytest.raises(ValueError, match="sample_indices"):
        bt.build_class_histogram(b, y, 2, np.array([0, 10]))
    with pytest.raises(ValueError, match="sample_indices"):
        bt.build_class_histogram(b, y, 2, np.array([-1]))
    with pytest.raises(ValueError, match="sample_weight"):
        bt.build_class_histogram(b, y, 2, sample_weight=-np.ones(10))
    with pytest.raises(ValueError, match="sample_weight"):
        bt.build_class_histogram(b, y, 2, sample_weight=np.full(10, np.nan))
    L = np.array([[1, 2]])
    with pytest.raises(ValueError, match="criterion"):
        bt.split_criterion(L, L, criterion="misclassification")
    with pytest.raises(ValueError, match="class_counts_left"):
        bt.split_criterion(-L, L, criterion="gini")
    with pytest.raises(ValueError, match="class_counts_right"):
        bt.split_criterion(L, np.array([[1.0, np.nan]]), criterion="gini")
    with pytest.raises(ValueError, match="shape"):
        bt.split_criterion(L, np.array([[1, 2, 3]]), criterion="gini")
    with pytest.raises(TypeError, match="class_counts_left"):
        bt.split_criterion(L.astype(bool), L, criterion="gini")
    with pytest.raises(ValueError, match="backend"):
        bt.split_criterion(L, L, criterion="gini", backend="gpu")
    s = np.array([1.0, 2.0])
    with pytest.raises(ValueError, match="count_left"):
        bt.split_gain_mse(s, -s, s, s)
    with pytest.raises(ValueError, match="sum_right"):
        bt.split_gain_mse(s, s, np.array([1.0, np.inf]), s)
    with pytest.raises(TypeError, match="sum_left"):
        bt.split_gain_mse(s.astype(int), s, s, s)
    with pytest.raises(ValueError, match="count_right"):
        bt.split_gain_mse(s, s, s, s[:1])
