"""Classic decision trees (ID3 / C4.5 / CART): C4.5's gain-ratio rule, the tree grower against an
independent recursive grower built on the reference kernels, the estimators against
scikit-learn (5-fold CV accuracy), scikit-learn's estimator checks, pickling, missing values,
weights and bad input (forests included where the rule is shared)."""
from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest

import bagu_fast.trees as bt
from bagu_fast.trees import (DecisionTreeClassifier, DecisionTreeRegressor, RandomForestClassifier,
                             RandomForestRegressor)

from .conftest import assert_close
from .trees_helpers import CRITERIA
from .trees_helpers import entropy_bits as _h


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


def test_classic_trees_weight_rounding_to_zero_side():
    """A row 1e20 times heavier than the rest: every split's lighter side rounds to weight 0
    (its total is found by subtraction); no such split, no division by zero."""
    from bagu_fast.trees import DecisionTreeClassifier, DecisionTreeRegressor, RandomForestClassifier

    X = np.arange(10.0)[:, None]
    y = np.array([0, 1] * 5)
    w = np.ones(10)
    w[0] = 1e20
    for est, target in ((DecisionTreeClassifier(min_samples_leaf=2), y), (DecisionTreeClassifier(), y),
                        (DecisionTreeClassifier(criterion="gain_ratio", min_samples_leaf=2), y),
                        (DecisionTreeRegressor(), y * 1.0), (DecisionTreeRegressor(min_samples_leaf=2), y * 1.0),
                        (RandomForestClassifier(3, min_samples_leaf=2, bootstrap=False, random_state=0), y)):
        est.fit(X, target, sample_weight=w)
        assert np.all(np.isfinite(est.predict(X)))
    tree = DecisionTreeClassifier(min_samples_leaf=2).fit(X, y, sample_weight=w).tree_
    assert tree.node_count == 1
    np.testing.assert_allclose(tree.value[0], [1.0, 5e-20], rtol=1e-12)  # weighted class fractions


# ----------------------------------------------------------------------------------------------
# backend="reference": the NumPy reference grower, binning and traversal give the cpu's trees
# ----------------------------------------------------------------------------------------------
def _assert_same_tree(a, b):
    for name in ("feature", "threshold_bin", "missing_go_to_left", "children_left", "children_right",
                 "n_node_samples"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    for name in ("threshold", "value", "impurity", "weighted_n_node_samples", "raw_importances"):
        np.testing.assert_allclose(getattr(a, name), getattr(b, name), rtol=1e-12, atol=1e-15, err_msg=name)
    assert a.max_depth == b.max_depth and a.node_count == b.node_count > 3


@pytest.mark.parametrize("criterion,kw", [
    ("gini", {}), ("entropy", {"max_features": 2, "min_samples_leaf": 3}), ("gain_ratio", {"max_depth": 4}),
    ("gini", {"weighted": True, "min_samples_leaf": 2}), ("entropy", {"weighted": True}),
    ("squared_error", {}), ("squared_error", {"weighted": True, "max_features": 0.5, "min_impurity_decrease": 0.01}),
])
def test_reference_backend_grows_the_cpu_tree(rng, criterion, kw):
    kw = dict(kw)
    weighted = kw.pop("weighted", False)
    X = rng.standard_normal((160, 4))
    X[:, 3] = np.round(X[:, 3] * 2)  # ties
    X[rng.random(X.shape) < 0.08] = np.nan
    Z = np.nan_to_num(X)
    w = rng.integers(0, 4, 160).astype(float) if weighted else None
    if criterion == "squared_error":
        y, Est = Z[:, 0] + np.sin(2 * Z[:, 1]) + 0.3 * rng.standard_normal(160), DecisionTreeRegressor
    else:
        y = ((Z[:, 0] + Z[:, 1] + rng.standard_normal(160)) > 0).astype(int) + (Z[:, 2] > 1)
        Est = DecisionTreeClassifier
    ref = Est(criterion=criterion, random_state=3, backend="reference", **kw).fit(X, y, sample_weight=w)
    cpu = Est(criterion=criterion, random_state=3, backend="cpu", **kw).fit(X, y, sample_weight=w)
    assert (ref.backend_, cpu.backend_) == ("reference", "cpu")
    _assert_same_tree(ref.tree_, cpu.tree_)
    np.testing.assert_array_equal(ref.apply(X), cpu.apply(X))
    np.testing.assert_allclose(ref.predict(X), cpu.predict(X), rtol=1e-12)


def test_gpu_inputs_fit_on_the_host(rng):
    """backend="auto" with GPU inputs: the classic trees have no GPU kernels, so the inputs are
    copied to the host and the fit is the cpu's."""
    from bagu_fast import _dispatch

    if not _dispatch.cuda_available():
        pytest.skip("needs a GPU or NUMBA_ENABLE_CUDASIM=1")
    from numba import cuda

    X = rng.standard_normal((80, 3))
    y = (X[:, 0] > 0).astype(int)
    host = DecisionTreeClassifier(random_state=0).fit(X, y)
    dev = DecisionTreeClassifier(random_state=0).fit(cuda.to_device(X), cuda.to_device(y))
    assert dev.backend_ == "cpu"
    np.testing.assert_array_equal(dev.tree_.feature, host.tree_.feature)
    np.testing.assert_array_equal(dev.predict_proba(cuda.to_device(X)), host.predict_proba(X))
