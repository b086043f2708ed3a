"""Every public function and estimator of the trees family names None and wrong types (the
argument and what it got) in a TypeError / ValueError."""
from __future__ import annotations

import numpy as np
import pytest

from .trees_helpers import needs_sklearn


def _bad_argument_cases():
    import bagu_fast.trees as bt

    B = np.zeros((4, 2), np.uint8)
    g = np.zeros(4, np.float32)
    gh, c = np.zeros((2, 4)), np.zeros((2, 4), np.int64)
    idx, y4 = np.arange(4), np.array([0, 1, 0, 1])
    cases = []
    for bad in (None, "abc", 3.5, {"a": 1}):
        kind = "None" if bad is None else type(bad).__name__
        cases += [
            ("build_histogram", "binned", kind, lambda b=bad: bt.build_histogram(b, g)),
            ("build_histogram", "gradients", kind, lambda b=bad: bt.build_histogram(B, b)),
            ("build_histogram", "sample_indices", kind, lambda b=bad: bt.build_histogram(B, g, sample_indices=b))
            if bad is not None else None,
            ("find_best_split", "sum_gradients", kind, lambda b=bad: bt.find_best_split(b, gh, c)),
            ("find_best_split", "counts", kind, lambda b=bad: bt.find_best_split(gh, gh, b)),
            ("partition", "sample_indices", kind, lambda b=bad: bt.partition(b, B, 0, 0, False)),
            ("partition", "binned", kind, lambda b=bad: bt.partition(idx, b, 0, 0, False)),
            ("build_class_histogram", "binned", kind, lambda b=bad: bt.build_class_histogram(b, y4, 2)),
            ("build_class_histogram", "y_codes", kind, lambda b=bad: bt.build_class_histogram(B, b, 2)),
            ("build_class_histogram", "sample_weight", kind,
             lambda b=bad: bt.build_class_histogram(B, y4, 2, sample_weight=b)) if bad is not None else None,
            ("split_criterion", "class_counts_left", kind, lambda b=bad: bt.split_criterion(b, c, criterion="gini")),
            ("split_criterion", "class_counts_right", kind, lambda b=bad: bt.split_criterion(c, b, criterion="gini")),
            ("split_gain_mse", "sum_left", kind, lambda b=bad: bt.split_gain_mse(b, g, g, g)),
            ("split_gain_mse", "count_right", kind, lambda b=bad: bt.split_gain_mse(g, g, g, b)),
            ("BinMapper.fit", "X", kind, lambda b=bad: bt.BinMapper().fit(b)),
            ("BinMapper.fit", "sample_weight", kind,
             lambda b=bad: bt.BinMapper().fit(np.zeros((4, 2)), sample_weight=b))
            if bad is not None else None,
            ("BinMapper.transform", "X", kind, lambda b=bad: bt.BinMapper().fit(np.zeros((4, 2))).transform(b)),
        ]
    for bad, kind in ((None, "None"), ("8", "str"), (2.5, "float")):
        cases += [
            ("build_histogram", "n_bins", kind, lambda b=bad: bt.build_histogram(B, g, n_bins=b)),
            ("find_best_split", "min_samples_leaf", kind,
             lambda b=bad: bt.find_best_split(gh, gh, c, min_samples_leaf=b)),
            ("partition", "feature", kind, lambda b=bad: bt.partition(idx, B, b, 0, False)),
            ("build_class_histogram", "n_classes", kind, lambda b=bad: bt.build_class_histogram(B, y4, b)),
            ("BinMapper", "max_bins", kind, lambda b=bad: bt.BinMapper(max_bins=b).fit(np.zeros((4, 2)))),
        ]
    for bad, kind in ((None, "None"), ("x", "str|'x'")):  # a string among choices: its value is named
        cases += [
            ("find_best_split", "l2_regularization", kind,
             lambda b=bad: bt.find_best_split(gh, gh, c, l2_regularization=b)),
            ("build_histogram", "deterministic", kind, lambda b=bad: bt.build_histogram(B, g, deterministic=b)),
            ("partition", "missing_go_to_left", kind, lambda b=bad: bt.partition(idx, B, 0, 0, b)),
            ("split_criterion", "criterion", kind, lambda b=bad: bt.split_criterion(c, c, criterion=b)),
            ("build_histogram", "backend", kind, lambda b=bad: bt.build_histogram(B, g, backend=b)),
        ]
    return [c for c in cases if c is not None]


@pytest.mark.parametrize("where,name,kind,call", _bad_argument_cases(),
                         ids=lambda v: v if isinstance(v, str) else "")
def test_kernel_api_names_none_and_wrong_types(where, name, kind, call):
    with pytest.raises((TypeError, ValueError), match=rf"{name}\b.*({kind})|({kind}).*\b{name}\b"):
        call()


def _estimator_cases():
    import bagu_fast.trees as bt

    small = {"HistGradientBoostingRegressor": {"max_iter": 2}, "HistGradientBoostingClassifier": {"max_iter": 2},
             "RandomForestClassifier": {"n_estimators": 2}, "RandomForestRegressor": {"n_estimators": 2}}
    params = {  # (parameter, bad value, type name in the message)
        "HistGradientBoostingRegressor": [("max_iter", None), ("learning_rate", "x"), ("max_leaf_nodes", "x"),
                                          ("min_samples_leaf", None), ("l2_regularization", None), ("max_bins", "x"),
                                          ("tol", None), ("verbose", None), ("random_state", "x"), ("backend", None),
                                          ("early_stopping", None), ("loss", None)],
        "DecisionTreeClassifier": [("max_depth", "x"), ("min_samples_leaf", None), ("min_samples_split", "x"),
                                   ("min_impurity_decrease", None), ("max_bins", None), ("random_state", "x"),
                                   ("criterion", None), ("max_features", "x")],
        "RandomForestClassifier": [("n_estimators", None), ("bootstrap", None), ("oob_score", "x"),
                                   ("max_samples", "x"), ("n_jobs", "x"), ("random_state", "x")],
    }
    cases = []
    for est_name in ("HistGradientBoostingRegressor", "HistGradientBoostingClassifier", "DecisionTreeClassifier",
                     "DecisionTreeRegressor", "RandomForestClassifier", "RandomForestRegressor"):
        Est, kw = getattr(bt, est_name), small.get(est_name, {})
        for bad in (None, "abc", 7):
            kind = "None" if bad is None else type(bad).__name__
            cases.append((est_name, "fit", "X", kind, lambda Est=Est, kw=kw, b=bad: ("fit", Est(**kw), b, None)))
            cases.append((est_name, "predict", "X", kind,
                          lambda Est=Est, kw=kw, b=bad: ("predict", Est(**kw), b, None)))
            if bad is not None:
                cases.append((est_name, "fit", "sample_weight", kind,
                              lambda Est=Est, kw=kw, b=bad: ("fit", Est(**kw), "X", b)))
            cases.append((est_name, "fit", "y", kind, lambda Est=Est, kw=kw, b=bad: ("fit_y", Est(**kw), b, None)))
        for p, bad in params.get(est_name, []):
            kind = "None" if bad is None else "str|'x'"  # a string among choices: its value is named
            cases.append((est_name, "fit", p, kind, lambda Est=Est, kw=kw, p=p, b=bad: ("fit", Est(**{**kw, p: b}),
                                                                                       "X", None)))
    return cases


@needs_sklearn
@pytest.mark.parametrize("est_name,method,name,kind,make", _estimator_cases(),
                         ids=lambda v: v if isinstance(v, str) else "")
def test_estimators_name_none_and_wrong_types(rng, est_name, method, name, kind, make):
    X = rng.standard_normal((30, 2))
    y = (X[:, 0] > 0).astype(int)
    what, est, arg, sw = make()
    with pytest.raises((TypeError, ValueError), match=rf"\b{name}\b.*({kind})|({kind}).*\b{name}\b"):
        if what == "fit":
            est.fit(X if isinstance(arg, str) and arg == "X" else arg, y, sample_weight=sw)
        elif what == "fit_y":
            est.fit(X, arg)
        else:
            est.fit(X, y).predict(arg)


def _estimators_and_backends():
    import bagu_fast.trees as bt

    boosting = ("auto", "cpu", "cuda", "reference")
    classic = ("auto", "cpu", "reference")
    return [(bt.HistGradientBoostingRegressor, {"max_iter": 1}, boosting),
            (bt.HistGradientBoostingClassifier, {"max_iter": 1}, boosting),
            (bt.DecisionTreeClassifier, {}, classic), (bt.DecisionTreeRegressor, {}, classic),
            (bt.RandomForestClassifier, {"n_estimators": 2}, classic),
            (bt.RandomForestRegressor, {"n_estimators": 2}, classic),
            (bt.BinMapper, {}, classic)]


@needs_sklearn
@pytest.mark.parametrize("Est,kw,supported", _estimators_and_backends(), ids=lambda v: getattr(v, "__name__", ""))
def test_one_backend_policy_for_every_estimator(rng, Est, kw, supported):
    """Every estimator takes ``backend`` (default "auto"); one it cannot run, or no backend at
    all, raises the same ValueError naming ``backend`` and listing what it supports."""
    import re

    X = rng.standard_normal((30, 2))
    y = (X[:, 0] > 0).astype(int)
    assert Est().backend == "auto"
    unsupported = [b for b in ("cuda",) if b not in supported]
    for bad in unsupported + ["gpu", "CPU", None, 3]:
        expected = re.escape(f"backend must be one of {supported} for {Est.__name__}, got {bad!r}")
        with pytest.raises(ValueError, match=expected):
            Est(backend=bad, **kw).fit(X, y)
    for good in supported:
        if good == "cuda":
            continue  # tests/test_trees_gpu_fit.py
        fitted = Est(backend=good, **kw).fit(X, y)
        assert getattr(fitted, "backend_", "cpu" if good == "auto" else good) == ("cpu" if good == "auto" else good)
