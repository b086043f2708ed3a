"""Random forests of the classic trees, with scikit-learn's API.

A forest's two kinds of randomness (Breiman): each tree sees a bootstrap sample of the rows
(``bootstrap``, ``max_samples``; drawn as per-row counts that multiply ``sample_weight``, as
scikit-learn) and examines a random subset of ``max_features`` features at every node.  The
features are binned once (:class:`~bagu_fast.trees.BinMapper`) and shared by all trees; each
tree is grown by one call of the compiled grower, which releases the GIL, so ``n_jobs`` Python
threads grow trees concurrently.  Tree ``t`` depends only on its own seed (drawn from
``random_state`` up front), so the forest is the same for any ``n_jobs``.

Prediction averages the trees' class probabilities (classifier) or predictions (regressor) in
one parallel traversal over rows.  ``oob_score=True`` scores every training row with the trees
that did not draw it.
"""
from __future__ import annotations

import numbers
import os
import warnings
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Optional

import numpy as np

from .._compat import BaseEstimator, ClassifierMixin, RegressorMixin, need_sklearn
from .._validate import ArrayLike
from ._checks import check_random_state
from .tree import (MAX_INT, DecisionTreeClassifier, DecisionTreeRegressor, _binned_input, _check_params,
                   _ClassPredictions, _encode_classes, _fit_mapper, _flatten, _grow, _pack, _predictor,
                   _resolve_backend, _tags_allow_nan, _traverse_apply, _traverse_sum, _validate_fit, _writable)

__all__ = ["RandomForestClassifier", "RandomForestRegressor"]


def _n_threads(n_jobs: Any) -> int:
    """scikit-learn's convention: None = 1, -1 = all CPUs, -2 = all but one, ..."""
    if n_jobs is None:
        return 1
    if isinstance(n_jobs, (bool, np.bool_)) or not isinstance(n_jobs, numbers.Integral) or n_jobs == 0:
        raise ValueError(f"n_jobs must be None or a non-zero int, got {n_jobs!r}")
    cpus = os.cpu_count() or 1
    return max(1, cpus + 1 + int(n_jobs)) if n_jobs < 0 else int(n_jobs)


def _n_bootstrap(max_samples: Any, n: int) -> int:
    if max_samples is None:
        return n
    if isinstance(max_samples, (bool, np.bool_)):
        raise TypeError("max_samples must be None, an int or a float, got bool")
    if isinstance(max_samples, numbers.Integral):
        if not 1 <= max_samples:
            raise ValueError(f"max_samples must be >= 1 (or a float in (0, 1]), got {max_samples}")
        return int(max_samples)
    if isinstance(max_samples, numbers.Real):
        if not 0.0 < max_samples <= 1.0:
            raise ValueError(f"max_samples as a fraction must lie in (0, 1], got {max_samples}")
        return max(1, int(round(n * max_samples)))
    raise TypeError(f"max_samples must be None, an int or a float, got {type(max_samples).__name__}")


def _bootstrap_counts(seed: int, n: int, n_draws: int) -> np.ndarray:
    """Row counts of tree ``seed``'s bootstrap sample (scikit-learn's draw: ``randint(0, n, n_draws)``)."""
    rows = np.random.RandomState(seed).randint(0, n, n_draws)
    return np.bincount(rows, minlength=n).astype(np.float64)


class _BaseForest(BaseEstimator):
    _classifier = True
    _tree_class: type = DecisionTreeClassifier

    def __init__(self, *, n_estimators, criterion, max_depth, min_samples_split, min_samples_leaf, max_features,
                 min_impurity_decrease, bootstrap, oob_score, n_jobs, random_state, max_samples, max_bins, backend):
        self.n_estimators = n_estimators
        self.criterion = criterion
        self.max_depth = max_depth
        self.min_samples_split = min_samples_split
        self.min_samples_leaf = min_samples_leaf
        self.max_features = max_features
        self.min_impurity_decrease = min_impurity_decrease
        self.bootstrap = bootstrap
        self.oob_score = oob_score
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.max_samples = max_samples
        self.max_bins = max_bins
        self.backend = backend

    def __sklearn_tags__(self):
        return _tags_allow_nan(super().__sklearn_tags__())

    def _check_forest_params(self, n: int) -> tuple[int, int, int]:
        ne = self.n_estimators
        if isinstance(ne, (bool, np.bool_)) or not isinstance(ne, numbers.Integral):
            raise TypeError(f"n_estimators must be an int, got {type(ne).__name__}")
        if ne < 1:
            raise ValueError(f"n_estimators must be >= 1, got {ne}")
        for name in ("bootstrap", "oob_score"):
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                raise TypeError(f"{name} must be a bool, got {type(getattr(self, name)).__name__}")
        if self.oob_score and not self.bootstrap:
            raise ValueError("oob_score=True needs bootstrap=True (out-of-bag rows exist only with bootstrap)")
        if not self.bootstrap and self.max_samples is not None:
            raise ValueError("max_samples must be None when bootstrap=False")
        n_draws = _n_bootstrap(self.max_samples, n) if self.bootstrap else n
        return int(ne), n_draws, _n_threads(self.n_jobs)

    def fit(self, X: ArrayLike, y: ArrayLike, sample_weight: Optional[ArrayLike] = None):
        """Grow ``n_estimators`` trees on bootstrap samples, in ``n_jobs`` threads.

        Parameters
        ----------
        X : array-like, shape ``[n_samples, n_features]``
            Real features; NaN = missing (valid), ±inf rejected.
        y : array-like, shape ``[n_samples]``
            Class labels (at least two classes) or finite targets.
        sample_weight : array-like, optional
            Non-negative weights (multiplied by the bootstrap counts).

        Returns
        -------
        self
        """
        classifier = self._classifier
        backend = _resolve_backend(self)
        X, y, sw = _validate_fit(self, X, y, sample_weight, classifier)
        n, n_features = X.shape
        p = _check_params(self, n, n_features, classifier)
        n_trees, n_draws, n_threads = self._check_forest_params(n)
        rs = check_random_state(self.random_state)
        bin_seed = int(rs.randint(MAX_INT))
        seeds = rs.randint(MAX_INT, size=n_trees)
        if classifier:
            yc = _encode_classes(self, y, sw)
            yv = np.zeros(0)
            n_classes = self.n_classes_
        else:
            yc = np.zeros(0, dtype=np.int64)
            yv = np.array(y, dtype=np.float64)
            n_classes = 0
        mapper, binned = _fit_mapper(X, sw, p.max_bins, bin_seed, backend)
        bootstrap = bool(self.bootstrap)
        all_rows = np.flatnonzero(sw > 0).astype(np.int64)
        unit_all = bool(np.all(sw == 1.0))

        def build(t: int):
            seed = int(seeds[t])
            if bootstrap:
                w = sw * _bootstrap_counts(seed, n, n_draws)
                samples = np.flatnonzero(w > 0).astype(np.int64)
                unit = False
            else:
                w, samples, unit = sw, all_rows.copy(), unit_all
            if samples.shape[0] == 0:  # every drawn row has weight 0: a forest of one-leaf trees
                w, samples, unit = sw, all_rows.copy(), unit_all
            return _grow(binned, samples, w, yc, yv, n_classes, p, seed, unit, mapper, backend)

        if n_threads == 1 or n_trees == 1:
            trees = [build(t) for t in range(n_trees)]
        else:
            with ThreadPoolExecutor(max_workers=min(n_threads, n_trees)) as pool:
                trees = list(pool.map(build, range(n_trees)))

        self._bin_mapper = mapper
        self.backend_ = backend
        self._trees = trees
        self._seeds = seeds
        self._flat = _flatten(trees)
        self.max_features_ = p.max_features
        self.n_outputs_ = 1
        self.estimators_ = [self._make_estimator(tree, int(seed)) for tree, seed in zip(trees, seeds)]
        if self.oob_score:
            self._set_oob(binned, y, yc, sw, n_draws)
        return self

    def _make_estimator(self, tree, seed: int):
        est = self._tree_class(criterion=self.criterion, max_depth=self.max_depth,
                               min_samples_split=self.min_samples_split, min_samples_leaf=self.min_samples_leaf,
                               max_features=self.max_features, min_impurity_decrease=self.min_impurity_decrease,
                               max_bins=self.max_bins, random_state=seed, backend=self.backend)
        est.tree_ = tree
        est.backend_ = self.backend_
        est._bin_mapper = self._bin_mapper
        est._flat = _flatten([tree])
        est.max_features_ = self.max_features_
        est.n_outputs_ = 1
        est.n_features_in_ = self.n_features_in_
        if hasattr(self, "feature_names_in_"):
            est.feature_names_in_ = self.feature_names_in_
        if self._classifier:
            est.classes_ = self.classes_
            est.n_classes_ = self.n_classes_
        return est

    def _set_oob(self, binned, y, yc, sw, n_draws):
        predictor = _predictor(self.backend_)
        n = binned.shape[0]
        width = self.n_classes_ if self._classifier else 1
        acc = np.zeros((n, width))
        hits = np.zeros(n, dtype=np.int64)
        missing_bin = np.int64(self._bin_mapper.missing_values_bin_idx_)
        for tree, seed in zip(self._trees, self._seeds):
            oob = np.flatnonzero(_bootstrap_counts(int(seed), n, n_draws) == 0)
            part = np.zeros((oob.shape[0], width))
            predictor.tree_predict_rows(binned, oob, _pack(tree), _writable(tree.value), missing_bin, part)
            acc[oob] += part
            hits[oob] += 1
        seen = hits > 0
        if not seen.all():
            warnings.warn("Some inputs do not have OOB scores. This probably means too few trees were used "
                          "to compute any reliable OOB estimates.", UserWarning, stacklevel=3)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = acc / hits[:, None]
        if self._classifier:
            self.oob_decision_function_ = mean
            pred = np.argmax(mean[seen], axis=1)
            self.oob_score_ = float(np.mean(yc[seen] == pred))
        else:
            self.oob_prediction_ = mean[:, 0]
            resid = np.sum((y[seen] - mean[seen, 0]) ** 2)
            total = np.sum((y[seen] - y[seen].mean()) ** 2)
            self.oob_score_ = float(1.0 - resid / total) if total > 0 else 0.0

    # -- inference ------------------------------------------------------------------------------
    def _binned(self, X: ArrayLike) -> np.ndarray:
        return _binned_input(self, X, "estimators_")

    def _mean_values(self, X: ArrayLike) -> np.ndarray:
        binned = self._binned(X)  # checks fitted first
        width = self.n_classes_ if self._classifier else 1
        out = _traverse_sum(binned, self._flat, self._bin_mapper.missing_values_bin_idx_, width, self.backend_)
        out /= len(self._trees)
        return out

    def apply(self, X: ArrayLike) -> np.ndarray:
        """Leaf index of every row in every tree, int64 ``[n_samples, n_estimators]``."""
        return _traverse_apply(self._binned(X), self._flat, self._bin_mapper.missing_values_bin_idx_, self.backend_)

    @property
    def feature_importances_(self) -> np.ndarray:
        """Mean over trees of each tree's normalised impurity-based importances (sums to 1 unless
        every tree is a single leaf)."""
        need_sklearn()
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(self, "estimators_")
        per_tree = [e.feature_importances_ for e in self.estimators_ if e.tree_.node_count > 1]
        if not per_tree:
            return np.zeros(self.n_features_in_)
        mean = np.mean(per_tree, axis=0)
        return mean / mean.sum()


class RandomForestClassifier(ClassifierMixin, _ClassPredictions, _BaseForest):
    """A random forest of classic decision trees (CART / ID3 / C4.5 criteria) on binned features.

    Parameters
    ----------
    n_estimators : int, default=100
        Number of trees, ``>= 1``.
    criterion : {"gini", "entropy", "gain_ratio"}, default="gini"
    max_depth, min_samples_split, min_samples_leaf, min_impurity_decrease, max_bins
        As :class:`~bagu_fast.trees.DecisionTreeClassifier`.
    max_features : int, float, "sqrt", "log2" or None, default="sqrt"
        Features examined per node.
    bootstrap : bool, default=True
        Each tree sees a bootstrap sample (``max_samples`` draws with replacement).
    oob_score : bool, default=False
        Score the training rows with the trees that did not draw them (``oob_score_``,
        ``oob_decision_function_``); needs ``bootstrap``.
    n_jobs : int or None, default=None
        Threads growing trees (None = 1, -1 = every CPU).  The result does not depend on it.
    random_state : int, RandomState or None
    max_samples : int, float or None, default=None
        Bootstrap draws per tree (None = ``n_samples``; a float is a fraction).
    backend : {"auto", "cpu", "reference"}, default="auto"
        As :class:`~bagu_fast.trees.DecisionTreeClassifier` (the policy of every trees
        estimator; no GPU kernels: "cuda" raises a ValueError naming ``backend``).

    Attributes
    ----------
    estimators_ : list of DecisionTreeClassifier
    classes_, n_classes_, n_features_in_, feature_names_in_, max_features_, n_outputs_
    feature_importances_ : ndarray
    oob_score_, oob_decision_function_ : with ``oob_score=True``
    backend_ : str
        The backend the fit ran on ("cpu" or "reference").
    """

    _classifier = True
    _tree_class = DecisionTreeClassifier

    def __init__(self, n_estimators: int = 100, *, criterion: str = "gini", max_depth: Optional[int] = None,
                 min_samples_split: Any = 2, min_samples_leaf: Any = 1, max_features: Any = "sqrt",
                 min_impurity_decrease: float = 0.0, bootstrap: bool = True, oob_score: bool = False,
                 n_jobs: Optional[int] = None, random_state: Any = None, max_samples: Any = None,
                 max_bins: int = 255, backend: str = "auto"):
        super().__init__(n_estimators=n_estimators, criterion=criterion, max_depth=max_depth,
                         min_samples_split=min_samples_split, min_samples_leaf=min_samples_leaf,
                         max_features=max_features, min_impurity_decrease=min_impurity_decrease,
                         bootstrap=bootstrap, oob_score=oob_score, n_jobs=n_jobs, random_state=random_state,
                         max_samples=max_samples, max_bins=max_bins, backend=backend)

    def predict_proba(self, X: ArrayLike) -> np.ndarray:
        """Mean of the trees' class probabilities, ``[n_samples, n_classes]``."""
        return self._mean_values(X)


class RandomForestRegressor(RegressorMixin, _BaseForest):
    """A random forest of CART regression trees (squared error) on binned features.

    Parameters as :class:`RandomForestClassifier`, except ``criterion="squared_error"`` and
    ``max_features=1.0`` (all features, scikit-learn's default for regression).
    ``oob_score_`` is the out-of-bag R² (``oob_prediction_`` the predictions).
    """

    _classifier = False
    _tree_class = DecisionTreeRegressor

    def __init__(self, n_estimators: int = 100, *, criterion: str = "squared_error", max_depth: Optional[int] = None,
                 min_samples_split: Any = 2, min_samples_leaf: Any = 1, max_features: Any = 1.0,
                 min_impurity_decrease: float = 0.0, bootstrap: bool = True, oob_score: bool = False,
                 n_jobs: Optional[int] = None, random_state: Any = None, max_samples: Any = None,
                 max_bins: int = 255, backend: str = "auto"):
        super().__init__(n_estimators=n_estimators, criterion=criterion, max_depth=max_depth,
                         min_samples_split=min_samples_split, min_samples_leaf=min_samples_leaf,
                         max_features=max_features, min_impurity_decrease=min_impurity_decrease,
                         bootstrap=bootstrap, oob_score=oob_score, n_jobs=n_jobs, random_state=random_state,
                         max_samples=max_samples, max_bins=max_bins, backend=backend)

    def predict(self, X: ArrayLike) -> np.ndarray:
        """Mean of the trees' predictions, ``[n_samples]``."""
        return self._mean_values(X)[:, 0]
