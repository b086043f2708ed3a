"""Histogram gradient boosting estimators against scikit-learn: accuracy, conformance, pickling,
staged prediction, missing values, early stopping, sample weights (binning included), one class,
negative weights, zero hessian sums, the early-stopping split, thread-count independence, the
backend policy, bad input."""
from __future__ import annotations

import io
import pickle
import warnings
from contextlib import redirect_stdout

import numpy as np
import pytest

from bagu_fast import _dispatch
from bagu_fast.trees import HistGradientBoostingClassifier, HistGradientBoostingRegressor

from .trees_helpers import needs_sklearn


# --------------------------------------------------------------------------------------------
# estimators
# --------------------------------------------------------------------------------------------
def _sk_xfail():
    reason = "sample_weight is not equivalent to removing/repeating samples (binning; as scikit-learn's own HGB)"
    return {"check_sample_weight_equivalence_on_dense_data": reason}


@needs_sklearn
@pytest.mark.parametrize("Est", [HistGradientBoostingRegressor, HistGradientBoostingClassifier])
def test_check_estimator(Est):
    from sklearn.utils.estimator_checks import check_estimator

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_estimator(Est(max_iter=5, min_samples_leaf=5), expected_failed_checks=_sk_xfail())


@needs_sklearn
@pytest.mark.parametrize("name", ["diabetes", "breast_cancer", "wine", "digits"])
def test_accuracy_matches_sklearn(name):
    from sklearn import datasets
    from sklearn.ensemble import HistGradientBoostingClassifier as SkC
    from sklearn.ensemble import HistGradientBoostingRegressor as SkR
    from sklearn.model_selection import train_test_split

    X, y = getattr(datasets, f"load_{name}")(return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.25, random_state=0, stratify=None if name == "diabetes" else y)
    it = 10 if name == "digits" else 30
    if name == "diabetes":
        ours = HistGradientBoostingRegressor(max_iter=it).fit(Xtr, ytr)
        sk = SkR(max_iter=it).fit(Xtr, ytr)
        # R² on held-out data within 0.01; on the training data (same bins, same splits) equal
        assert ours.score(Xte, yte) == pytest.approx(sk.score(Xte, yte), abs=0.01)
        np.testing.assert_allclose(ours.predict(Xtr), sk.predict(Xtr), rtol=1e-9, atol=1e-6)
    else:
        ours = HistGradientBoostingClassifier(max_iter=it).fit(Xtr, ytr)
        sk = SkC(max_iter=it).fit(Xtr, ytr)
        assert ours.score(Xte, yte) >= sk.score(Xte, yte) - 0.01
        assert ours.score(Xtr, ytr) >= sk.score(Xtr, ytr) - 0.01


@needs_sklearn
def test_sklearn_integration():
    from sklearn.datasets import load_breast_cancer
    from sklearn.model_selection import GridSearchCV, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = load_breast_cancer(return_X_y=True)
    pipe = make_pipeline(StandardScaler(), HistGradientBoostingClassifier(max_iter=10))
    scores = cross_val_score(pipe, X, y, cv=3)
    assert scores.shape == (3,) and scores.mean() > 0.9
    grid = GridSearchCV(HistGradientBoostingClassifier(max_iter=5), {"max_leaf_nodes": [4, 15]}, cv=2).fit(X, y)
    assert grid.best_params_["max_leaf_nodes"] in (4, 15) and grid.best_score_ > 0.85


@needs_sklearn
def test_pickle_staged_and_decision(rng):
    X = rng.standard_normal((500, 4))
    X[rng.random(X.shape) < 0.1] = np.nan
    y3 = (np.nan_to_num(X[:, 0]) > 0).astype(int) + (np.nan_to_num(X[:, 1]) > 0.5)
    clf = HistGradientBoostingClassifier(max_iter=8).fit(X, y3)
    clf2 = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(clf2.predict_proba(X), clf.predict_proba(X))
    staged = list(clf.staged_predict_proba(X))
    assert len(staged) == clf.n_iter_ == 8
    np.testing.assert_allclose(staged[-1], clf.predict_proba(X), rtol=1e-12)
    np.testing.assert_allclose(clf.predict_proba(X).sum(1), 1.0)
    assert clf.decision_function(X).shape == (500, 3) and clf.n_trees_per_iteration_ == 3
    np.testing.assert_array_equal(clf.predict(X), clf.classes_[clf.decision_function(X).argmax(1)])
    reg = HistGradientBoostingRegressor(max_iter=6).fit(X, np.arange(500) % 7)
    assert len(list(reg.staged_predict(X))) == 6
    np.testing.assert_allclose(list(reg.staged_predict(X))[-1], reg.predict(X), rtol=1e-12)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(reg)).predict(X), reg.predict(X))


@needs_sklearn
def test_missing_values_learnt(rng):
    n = 2000
    x = rng.standard_normal(n)
    y = (x > 0).astype(float)
    x[rng.random(n) < 0.3] = np.nan
    y[np.isnan(x)] = 3.0  # missing values carry their own signal
    reg = HistGradientBoostingRegressor(max_iter=30, learning_rate=0.5).fit(x[:, None], y)
    pred = reg.predict(np.array([[np.nan], [-1.0], [1.0]]))
    np.testing.assert_allclose(pred, [3.0, 0.0, 1.0], atol=0.05)


@needs_sklearn
def test_binary_probabilities_and_strings(rng):
    X = rng.standard_normal((400, 3))
    y = np.where(X[:, 0] + 0.3 * rng.standard_normal(400) > 0, "yes", "no")
    clf = HistGradientBoostingClassifier(max_iter=20).fit(X, y)
    assert list(clf.classes_) == ["no", "yes"] and clf.n_trees_per_iteration_ == 1
    assert clf.score(X, y) > 0.9
    p = clf.predict_proba(X)
    np.testing.assert_allclose(p[:, 1], 1 / (1 + np.exp(-clf.decision_function(X))))


@needs_sklearn
def test_early_stopping_and_verbose(rng):
    X = rng.standard_normal((3000, 3))
    y = X[:, 0] + 0.1 * rng.standard_normal(3000)
    buf = io.StringIO()
    with redirect_stdout(buf):
        reg = HistGradientBoostingRegressor(max_iter=500, early_stopping=True, n_iter_no_change=3, verbose=1,
                                            learning_rate=0.5, random_state=0).fit(X, y)
    assert reg.n_iter_ < 500
    assert len(reg.train_score_) == len(reg.validation_score_) == reg.n_iter_ + 1
    assert reg.validation_score_[-1] > reg.validation_score_[0]
    assert buf.getvalue().count("\n") == reg.n_iter_ and "[1/500]" in buf.getvalue()
    reg = HistGradientBoostingRegressor(max_iter=5).fit(X, y)  # "auto": off below 10 000 samples
    assert not reg.do_early_stopping_ and reg.train_score_.size == 0 and reg.n_iter_ == 5


@needs_sklearn
def test_max_depth_and_leaves(rng):
    X = rng.standard_normal((2000, 5))
    y = X @ rng.standard_normal(5) + np.sin(3 * X[:, 0])
    reg = HistGradientBoostingRegressor(max_iter=3, max_depth=2, max_leaf_nodes=None, min_samples_leaf=1).fit(X, y)
    for it in reg._trees:
        t = it[0]
        assert t[:, 9].max() <= 2 and (t[:, 6] == 1).sum() <= 4
    reg = HistGradientBoostingRegressor(max_iter=3, max_leaf_nodes=7).fit(X, y)
    assert all((it[0][:, 6] == 1).sum() == 7 for it in reg._trees)


@needs_sklearn
def test_sample_weight(rng):
    X = rng.standard_normal((600, 3))
    y = X[:, 0] + rng.standard_normal(600) * 0.1
    a = HistGradientBoostingRegressor(max_iter=5).fit(X, y).predict(X)
    b = HistGradientBoostingRegressor(max_iter=5).fit(X, y, sample_weight=np.ones(600)).predict(X)
    np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-9)
    w = np.where(X[:, 1] > 0, 10.0, 0.1)
    c = HistGradientBoostingRegressor(max_iter=5).fit(X, y, sample_weight=w).predict(X)
    assert not np.allclose(a, c)


@needs_sklearn
def test_thread_count_does_not_change_the_model(rng):
    import numba

    X = rng.standard_normal((40_000, 4)).astype(np.float32)
    y = X[:, 0] * 2 + X[:, 1] * X[:, 2]
    old = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        a = HistGradientBoostingRegressor(max_iter=3, early_stopping=False, random_state=0).fit(X, y).predict(X)
        numba.set_num_threads(old)
        b = HistGradientBoostingRegressor(max_iter=3, early_stopping=False, random_state=0).fit(X, y).predict(X)
    finally:
        numba.set_num_threads(old)
    np.testing.assert_array_equal(a, b)


@needs_sklearn
def test_estimator_bad_input(rng):
    from sklearn.exceptions import NotFittedError

    X = rng.standard_normal((50, 3))
    y = rng.standard_normal(50)
    reg = HistGradientBoostingRegressor(max_iter=2)
    with pytest.raises(NotFittedError):
        reg.predict(X)
    with pytest.raises(ValueError, match="y"):
        reg.fit(X, np.where(np.arange(50) == 3, np.nan, y))
    with pytest.raises(ValueError, match="y"):
        reg.fit(X, np.where(np.arange(50) == 3, np.inf, y))
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        reg.fit(X, y[:-1])
    with pytest.raises(ValueError, match="sample_weight"):  # negative weights are valid, a zero sum is not
        reg.fit(X, y, sample_weight=np.r_[np.ones(25), -np.ones(25)])
    with pytest.raises(ValueError, match="sample_weight"):
        reg.fit(X, y, sample_weight=np.where(np.arange(50) == 3, np.nan, 1.0))
    with pytest.raises(ValueError, match="max_bins"):
        HistGradientBoostingRegressor(max_bins=256).fit(X, y)
    with pytest.raises(ValueError, match="max_bins"):
        HistGradientBoostingRegressor(max_bins=1).fit(X, y)
    with pytest.raises(ValueError, match="learning_rate"):
        HistGradientBoostingRegressor(learning_rate=0).fit(X, y)
    with pytest.raises(ValueError, match="loss"):
        HistGradientBoostingRegressor(loss="absolute_error").fit(X, y)
    with pytest.raises(ValueError, match="early_stopping"):
        HistGradientBoostingRegressor(early_stopping="yes").fit(X, y)
    reg.fit(X, y)
    with pytest.raises(ValueError, match="features"):
        reg.predict(X[:, :2])
    with pytest.raises(ValueError, match="Unknown label type"):  # one class is valid, a continuous target is not
        HistGradientBoostingClassifier().fit(X, y)
    X_before, y_before = X.copy(), y.copy()
    reg.fit(X, y)
    np.testing.assert_array_equal(X, X_before)
    np.testing.assert_array_equal(y, y_before)


@needs_sklearn
def test_estimator_bad_backend(rng, monkeypatch):
    from sklearn.base import clone

    X = rng.standard_normal((40, 2))
    y = rng.standard_normal(40)
    for Est in (HistGradientBoostingRegressor, HistGradientBoostingClassifier):
        est = Est(backend="cuda")
        assert est.get_params()["backend"] == "cuda" and clone(est).backend == "cuda"
        assert Est().backend == "auto"
    yc = (y > 0).astype(int)
    for bad in ("gpu", "CUDA", None, 1):
        for Est, target in ((HistGradientBoostingRegressor, y), (HistGradientBoostingClassifier, yc)):
            with pytest.raises(ValueError, match="backend"):
                Est(backend=bad, max_iter=1).fit(X, target)
    # "reference" is a backend of every estimator (the NumPy reference kernels)
    assert HistGradientBoostingRegressor(backend="reference", max_iter=1).fit(X, y).backend_ == "reference"
    # no GPU and no simulator: a clear error before any work
    monkeypatch.setattr(_dispatch, "cuda_available", lambda: False)
    with pytest.raises(RuntimeError, match="backend='cuda' needs an NVIDIA GPU"):
        HistGradientBoostingRegressor(backend="cuda", max_iter=1).fit(X, y)
    assert HistGradientBoostingRegressor(backend="auto", max_iter=1).fit(X, y).backend_ == "cpu"


@needs_sklearn
def test_sample_weight_binning_matches_sklearn(rng):
    """Half the weights zero: the same bins (the zero-weight rows place no threshold) and so the
    same model as scikit-learn."""
    from sklearn.ensemble import HistGradientBoostingRegressor as SkR

    X = rng.standard_normal((2000, 4))
    y = X[:, 0] + np.sin(3 * X[:, 1]) * 0.5 + 0.2 * rng.standard_normal(2000)
    w = (rng.random(2000) < 0.5).astype(float)
    ours = HistGradientBoostingRegressor(max_iter=30).fit(X, y, sample_weight=w)
    theirs = SkR(max_iter=30).fit(X, y, sample_weight=w)
    for a, b in zip(ours._bin_mapper.bin_thresholds_, theirs._bin_mapper.bin_thresholds_):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(ours.predict(X), theirs.predict(X), rtol=1e-9, atol=1e-9)


@needs_sklearn
@pytest.mark.parametrize("backend", ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(
    not __import__("bagu_fast")._dispatch.cuda_available(), reason="needs a GPU or the simulator"))])
@pytest.mark.parametrize("task", ["regression", "binary", "multiclass"])
def test_zero_hessian_sums_fit(rng, backend, task):
    """Weights so small that every float32 hessian (and gradient) is 0, l2_regularization=0:
    no split, no division by zero, the baseline's predictions (as scikit-learn)."""
    from sklearn.ensemble import HistGradientBoostingClassifier as SkC
    from sklearn.ensemble import HistGradientBoostingRegressor as SkR

    X = rng.standard_normal((80, 3))
    y = {"regression": X[:, 0], "binary": (X[:, 0] > 0).astype(int),
         "multiclass": np.digitize(X[:, 0], [-0.5, 0.5])}[task]
    w = np.full(80, 1e-50)
    Est, Sk = (HistGradientBoostingRegressor, SkR) if task == "regression" else (HistGradientBoostingClassifier, SkC)
    ours = Est(max_iter=3, min_samples_leaf=5, backend=backend).fit(X, y, sample_weight=w)
    theirs = Sk(max_iter=3, min_samples_leaf=5).fit(X, y, sample_weight=w)
    out = ours.predict(X) if task == "regression" else ours.predict_proba(X)
    ref = theirs.predict(X) if task == "regression" else theirs.predict_proba(X)
    assert np.all(np.isfinite(out))
    np.testing.assert_allclose(out, ref, rtol=1e-12, atol=1e-12)


@needs_sklearn
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_single_class_matches_sklearn(rng, weighted):
    from sklearn.ensemble import HistGradientBoostingClassifier as SkC

    X = rng.standard_normal((120, 3))
    y = np.full(120, "only")
    w = rng.random(120) + 0.1 if weighted else None
    ours = HistGradientBoostingClassifier(max_iter=5).fit(X, y, sample_weight=w)
    theirs = SkC(max_iter=5).fit(X, y, sample_weight=w)
    assert list(ours.classes_) == list(theirs.classes_) == ["only"]
    assert ours.n_trees_per_iteration_ == theirs.n_trees_per_iteration_ == 1 and ours.n_iter_ == theirs.n_iter_
    np.testing.assert_array_equal(ours.predict(X), theirs.predict(X))
    assert ours.predict_proba(X).shape == theirs.predict_proba(X).shape == (120, 2)
    np.testing.assert_allclose(ours.predict_proba(X), theirs.predict_proba(X), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(ours.decision_function(X), theirs.decision_function(X), rtol=1e-12)


@needs_sklearn
@pytest.mark.parametrize("task", ["regression", "binary", "multiclass"])
def test_negative_sample_weight_matches_sklearn(rng, task):
    """Negative weights are accepted, as scikit-learn (hessian sums then stop being monotonic,
    and the split scans stop where scikit-learn's do).  The models agree but for scikit-learn's
    1e-15 in every denominator ``H + λ`` (here only a zero one is changed): leaves of small
    hessian sums move by ~1e-15 / H relative."""
    from sklearn.ensemble import HistGradientBoostingClassifier as SkC
    from sklearn.ensemble import HistGradientBoostingRegressor as SkR

    X = rng.standard_normal((300, 3))
    t = X[:, 0] + 0.3 * rng.standard_normal(300)
    w = rng.standard_normal(300) + 0.5
    assert (w < 0).any()
    if task == "regression":
        ours = HistGradientBoostingRegressor(max_iter=10).fit(X, t, sample_weight=w)
        theirs = SkR(max_iter=10).fit(X, t, sample_weight=w)
        np.testing.assert_allclose(ours.predict(X), theirs.predict(X), rtol=1e-9, atol=1e-9)
        return
    y = (t > 0).astype(int) if task == "binary" else np.digitize(t, [-0.5, 0.5])
    ours = HistGradientBoostingClassifier(max_iter=10).fit(X, y, sample_weight=w)
    theirs = SkC(max_iter=10).fit(X, y, sample_weight=w)
    np.testing.assert_allclose(ours._baseline_prediction, theirs._baseline_prediction.ravel(), rtol=1e-12)
    np.testing.assert_allclose(ours.predict_proba(X), theirs.predict_proba(X), atol=1e-5)
    np.testing.assert_array_equal(ours.predict(X), theirs.predict(X))


@needs_sklearn
@pytest.mark.parametrize("task", ["regression", "binary"])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_early_stopping_split_matches_sklearn(rng, task, weighted):
    """The validation rows are scikit-learn's for the same random_state (same seed, same
    train_test_split call): the same bins (fitted on the training rows), baseline (their mean),
    scores and n_iter_."""
    from sklearn.ensemble import HistGradientBoostingClassifier as SkC
    from sklearn.ensemble import HistGradientBoostingRegressor as SkR

    X = rng.standard_normal((2500, 4))
    t = X[:, 0] + np.sin(3 * X[:, 1]) * 0.5 + 0.5 * rng.standard_normal(2500)
    y = t if task == "regression" else (t > 0).astype(int)
    w = np.abs(t) + 0.1 if weighted else None
    Est, Sk = (HistGradientBoostingRegressor, SkR) if task == "regression" else (HistGradientBoostingClassifier, SkC)
    for seed in (0, 3):
        kw = dict(max_iter=200, early_stopping=True, n_iter_no_change=5, random_state=seed)
        ours = Est(**kw).fit(X, y, sample_weight=w)
        theirs = Sk(**kw).fit(X, y, sample_weight=w)
        for a, b in zip(ours._bin_mapper.bin_thresholds_, theirs._bin_mapper.bin_thresholds_):
            np.testing.assert_array_equal(a, b)
        np.testing.assert_allclose(ours._baseline_prediction, theirs._baseline_prediction.ravel(), rtol=1e-12)
        assert ours.n_iter_ == theirs.n_iter_ < 200
        np.testing.assert_allclose(ours.validation_score_, theirs.validation_score_, rtol=1e-9)
        np.testing.assert_allclose(ours.train_score_, theirs.train_score_, rtol=1e-9)


# --------------------------------------------------------------------------------------------
# backend="reference": the NumPy reference grower gives the cpu's trees
# --------------------------------------------------------------------------------------------
_NODE_STRUCTURE = [0, 1, 2, 3, 4, 6, 7, 9]  # feature, bin, missing-left, children, leaf, count, depth


def _assert_same_trees(ref, cpu, X):
    assert (ref.backend_, cpu.backend_) == ("reference", "cpu") and ref.n_iter_ == cpu.n_iter_
    for it_r, it_c in zip(ref._trees, cpu._trees):
        for tr, tc in zip(it_r, it_c):
            assert tr.shape == tc.shape
            np.testing.assert_array_equal(tr[:, _NODE_STRUCTURE], tc[:, _NODE_STRUCTURE])
            np.testing.assert_allclose(tr[:, [5, 8]], tc[:, [5, 8]], rtol=1e-9, atol=1e-12)  # values, gains
    assert sum(int(t[:, 6].sum()) for it in ref._trees for t in it) > 2 * len(ref._trees)
    np.testing.assert_allclose(ref._raw_predict(X), cpu._raw_predict(X), rtol=1e-9, atol=1e-12)


@needs_sklearn
@pytest.mark.parametrize("task", ["regression", "weighted_regression", "binary", "multiclass", "early_stopping"])
def test_reference_backend_grows_the_cpu_trees(rng, task):
    X = rng.standard_normal((240, 3))
    X[rng.random(X.shape) < 0.1] = np.nan
    Z = np.nan_to_num(X)
    t = 2 * Z[:, 0] + np.sin(3 * Z[:, 1]) + 1.5 * np.isnan(X[:, 0]) + 0.1 * rng.standard_normal(240)
    w = rng.random(240) * 2 + 0.1 if task == "weighted_regression" else None
    kw = dict(max_iter=4, max_bins=15, max_leaf_nodes=8, min_samples_leaf=5, learning_rate=0.3, random_state=0)
    if task == "early_stopping":
        kw.update(early_stopping=True, validation_fraction=0.25, n_iter_no_change=2)
    if task in ("binary", "multiclass"):
        Est = HistGradientBoostingClassifier
        y = (t > np.median(t)).astype(int) if task == "binary" else np.digitize(t, np.quantile(t, [1 / 3, 2 / 3]))
    else:
        Est, y = HistGradientBoostingRegressor, t
    ref = Est(**kw, backend="reference").fit(X, y, sample_weight=w)
    cpu = Est(**kw, backend="cpu").fit(X, y, sample_weight=w)
    _assert_same_trees(ref, cpu, X)
    if task == "early_stopping":
        np.testing.assert_allclose(ref.validation_score_, cpu.validation_score_, rtol=1e-9)
    np.testing.assert_allclose(ref.predict(X), cpu.predict(X), rtol=1e-9, atol=1e-12)
