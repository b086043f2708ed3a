"""Random forests of the classic trees: accuracy near scikit-learn's, independence of the thread
count, out-of-bag scores, importances."""
from __future__ import annotations

import numpy as np
import pytest

from bagu_fast.trees import RandomForestClassifier

from .conftest import assert_close


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


@pytest.mark.filterwarnings("ignore:Some inputs do not have OOB scores")
def test_reference_backend_grows_the_cpu_forest(rng):
    """backend="reference" (the NumPy grower, binning, traversal and out-of-bag scores): the cpu's
    forest, tree by tree."""
    from bagu_fast.trees import RandomForestRegressor

    X = rng.standard_normal((150, 4))
    X[rng.random(X.shape) < 0.05] = np.nan
    y = (np.nan_to_num(X[:, 0]) - np.nan_to_num(X[:, 1]) > 0).astype(int)
    for Est, target in ((RandomForestClassifier, y), (RandomForestRegressor, np.nan_to_num(X[:, 0]) * 2.0)):
        kw = dict(n_estimators=8, max_features=2, oob_score=True, random_state=1, n_jobs=2)
        ref = Est(backend="reference", **kw).fit(X, target)
        cpu = Est(backend="cpu", **kw).fit(X, target)
        assert ref.backend_ == "reference" and all(e.backend_ == "reference" for e in ref.estimators_)
        for a, b in zip(ref.estimators_, cpu.estimators_):
            np.testing.assert_array_equal(a.tree_.feature, b.tree_.feature)
            np.testing.assert_array_equal(a.tree_.threshold_bin, b.tree_.threshold_bin)
            assert_close(a.tree_.value, b.tree_.value)
        np.testing.assert_array_equal(ref.apply(X), cpu.apply(X))
        out = (lambda e: e.predict_proba(X)) if Est is RandomForestClassifier else (lambda e: e.predict(X))
        assert_close(out(ref), out(cpu))
        assert ref.oob_score_ == pytest.approx(cpu.oob_score_, rel=1e-12)
