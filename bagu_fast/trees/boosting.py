"""Histogram gradient boosting with scikit-learn's ``HistGradientBoosting*`` API.

:class:`HistGradientBoostingRegressor` (squared error) and :class:`HistGradientBoostingClassifier`
(binary log-loss, multiclass softmax) are drop-in replacements for scikit-learn's estimators of
the same names and parameters (the subset listed in each docstring).  Training bins the data
once (:class:`~bagu_fast.trees.BinMapper`, uint8 row-major codes), then grows each tree
leaf-wise (best-first, as LightGBM) inside one Numba function per tree
(:mod:`bagu_fast.kernels.cpu.trees.grower`): histograms of the smaller child only (the sibling by
subtraction), split finding in parallel over features, stable in-place partition of one index
array.  Prediction traverses flat node arrays of all trees with the raw float thresholds, so new
data is never binned.

Not supported (scikit-learn parameters absent here): ``categorical_features``, ``monotonic_cst``,
``interaction_cst``, ``warm_start``, ``max_features``, ``class_weight``, ``quantile`` and the other
regression losses, ``scoring`` other than ``"loss"``.
"""
from __future__ import annotations

import numbers
import time
from typing import Any, Optional

import numpy as np

try:  # the estimators follow scikit-learn's API and use its validation helpers
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import LabelEncoder
    from sklearn.utils import check_random_state
    from sklearn.utils.multiclass import check_classification_targets
    from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

    _SKLEARN_ERROR = None
except ImportError as _exc:  # the kernels (and this module's import) work without scikit-learn
    _SKLEARN_ERROR = _exc

    class BaseEstimator:  # type: ignore[no-redef]
        pass

    class ClassifierMixin:  # type: ignore[no-redef]
        pass

    class RegressorMixin:  # type: ignore[no-redef]
        pass

from ..kernels.cpu._parallel import parallel_region
from .binning import BinMapper

__all__ = ["HistGradientBoostingRegressor", "HistGradientBoostingClassifier"]

ArrayLike = Any
_MIN_HESSIAN_TO_SPLIT = 1e-3
_MAX_LEAVES_UNLIMITED = 4096  # max_leaf_nodes=None: at most this many leaves (histogram pool size)


def _kernels():
    from ..kernels.cpu.trees import grower, histogram

    return grower, histogram


class _BaseHistGradientBoosting(BaseEstimator):
    _loss_kind = 0  # 0 squared error, 1 binary log-loss, 2 multiclass

    def __init__(
        self,
        loss: str,
        *,
        learning_rate: float = 0.1,
        max_iter: int = 100,
        max_leaf_nodes: Optional[int] = 31,
        max_depth: Optional[int] = None,
        min_samples_leaf: int = 20,
        l2_regularization: float = 0.0,
        max_bins: int = 255,
        early_stopping: Any = "auto",
        scoring: Optional[str] = "loss",
        validation_fraction: Optional[float] = 0.1,
        n_iter_no_change: int = 10,
        tol: float = 1e-7,
        verbose: int = 0,
        random_state: Any = None,
    ):
        if _SKLEARN_ERROR is not None:
            raise ImportError(f"{type(self).__name__} needs scikit-learn (pip install scikit-learn): {_SKLEARN_ERROR}")
        self.loss = loss
        self.learning_rate = learning_rate
        self.max_iter = max_iter
        self.max_leaf_nodes = max_leaf_nodes
        self.max_depth = max_depth
        self.min_samples_leaf = min_samples_leaf
        self.l2_regularization = l2_regularization
        self.max_bins = max_bins
        self.early_stopping = early_stopping
        self.scoring = scoring
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.verbose = verbose
        self.random_state = random_state

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags

    # ---------------------------------------------------------------- parameters
    @staticmethod
    def _int(value, name, minimum, allow_none=False):
        if value is None and allow_none:
            return None
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise TypeError(f"{name} must be an integer{' or None' if allow_none else ''}, got {value!r}")
        if value < minimum:
            raise ValueError(f"{name} must be >= {minimum}, got {value}")
        return int(value)

    @staticmethod
    def _real(value, name, minimum, strict=False, maximum=None):
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise TypeError(f"{name} must be a real number, got {value!r}")
        v = float(value)
        if not np.isfinite(v) or (v <= minimum if strict else v < minimum) or (maximum is not None and v >= maximum):
            bound = f"{'>' if strict else '>='} {minimum}" + (f" and < {maximum}" if maximum is not None else "")
            raise ValueError(f"{name} must be finite and {bound}, got {value!r}")
        return v

    def _check_params(self) -> dict:
        p = {}
        p["learning_rate"] = self._real(self.learning_rate, "learning_rate", 0.0, strict=True)
        p["max_iter"] = self._int(self.max_iter, "max_iter", 1)
        mln = self._int(self.max_leaf_nodes, "max_leaf_nodes", 2, allow_none=True)
        p["max_leaf_nodes"] = mln
        md = self._int(self.max_depth, "max_depth", 1, allow_none=True)
        p["max_depth"] = -1 if md is None else md
        p["min_samples_leaf"] = self._int(self.min_samples_leaf, "min_samples_leaf", 1)
        p["l2_regularization"] = self._real(self.l2_regularization, "l2_regularization", 0.0)
        mb = self._int(self.max_bins, "max_bins", 2)
        if mb > 255:
            raise ValueError(f"max_bins must be in [2, 255], got {mb}")
        p["max_bins"] = mb
        if self.early_stopping not in ("auto", True, False):
            raise ValueError(f"early_stopping must be 'auto', True or False, got {self.early_stopping!r}")
        if self.scoring not in ("loss", None):
            raise ValueError(f"scoring must be 'loss' or None (only the loss is supported), got {self.scoring!r}")
        if self.validation_fraction is not None:
            p["validation_fraction"] = self._real(self.validation_fraction, "validation_fraction", 0.0, strict=True,
                                                  maximum=1.0)
        p["n_iter_no_change"] = self._int(self.n_iter_no_change, "n_iter_no_change", 1)
        p["tol"] = self._real(self.tol, "tol", 0.0)
        self._int(self.verbose, "verbose", 0)
        return p

    # ---------------------------------------------------------------- fitting
    def _encode_y(self, y):  # overridden by the classifier
        return y

    def _baseline(self, y, w):
        raise NotImplementedError

    def fit(self, X: ArrayLike, y: ArrayLike, sample_weight: Optional[ArrayLike] = None):
        """Fit the gradient boosting model.

        Parameters
        ----------
        X : array-like ``[n_samples, n_features]``
            NaN marks a missing value (a direction is learnt at each split); ``±inf`` are valid.
        y : array-like ``[n_samples]``
            Finite targets (regression) or class labels (classification).
        sample_weight : array-like ``[n_samples]`` or None
            Non-negative weights (gradients and hessians are scaled by them).

        Returns
        -------
        self
        """
        t_start = time.perf_counter()
        params = self._check_params()
        X, y = validate_data(self, X, y, dtype=[np.float64, np.float32], ensure_all_finite=False,
                             y_numeric=self._loss_kind == 0, order="C")
        if y.dtype.kind in "fc" and not np.all(np.isfinite(y)):
            raise ValueError("y must be finite (no NaN or inf)")
        y = self._encode_y(y)
        n = X.shape[0]
        w = None
        if sample_weight is not None:
            w = _check_sample_weight(sample_weight, X, dtype=np.float64, ensure_non_negative=True)
            if not np.all(np.isfinite(w)):
                raise ValueError("sample_weight must be finite")
            if not w.sum() > 0:
                raise ValueError("sample_weight must not be all zero")
        rng = check_random_state(self.random_state)
        seed = rng.randint(np.iinfo(np.uint32).max, dtype="u8")
        es = self.early_stopping
        self.do_early_stopping_ = bool(n > 10_000) if es == "auto" else bool(es)
        Xv = yv = wv = None
        if self.do_early_stopping_ and self.validation_fraction is not None:
            stratify = y if self._loss_kind > 0 else None
            split = train_test_split(*( (X, y) if w is None else (X, y, w) ), test_size=params["validation_fraction"],
                                     stratify=stratify, random_state=int(seed % (2**31)))
            if w is None:
                X, Xv, y, yv = split
            else:
                X, Xv, y, yv, w, wv = split
            X = np.ascontiguousarray(X)
            Xv = np.ascontiguousarray(Xv)
            if Xv.shape[0] == 0 or X.shape[0] == 0:
                raise ValueError("validation_fraction leaves no training or no validation sample")
        self._bin_mapper = BinMapper(max_bins=params["max_bins"], random_state=int(seed % (2**31)))
        t0 = time.perf_counter()
        binned = self._bin_mapper.fit_transform(X)
        binned_val = self._bin_mapper.transform(Xv) if Xv is not None else None
        self._binning_time_s = time.perf_counter() - t0

        K = self.n_trees_per_iteration_
        self._baseline_prediction = self._baseline(y, w)  # [K]
        n = X.shape[0]
        raw = np.empty((K, n), dtype=np.float64)
        raw[:] = self._baseline_prediction[:, None]
        raw_val = None
        if binned_val is not None:
            raw_val = np.empty((K, binned_val.shape[0]), dtype=np.float64)
            raw_val[:] = self._baseline_prediction[:, None]
        yf = np.ascontiguousarray(y, dtype=np.float64)
        yvf = None if yv is None else np.ascontiguousarray(yv, dtype=np.float64)
        use_w = w is not None
        wf = np.ascontiguousarray(w) if use_w else np.zeros(1)
        wvf = np.ascontiguousarray(wv) if wv is not None else np.zeros(1)
        self._fit_loop(params, binned, raw, yf, wf, use_w, binned_val, raw_val, yvf, wvf, t_start)
        self._fit_time_s = time.perf_counter() - t_start
        return self

    def _fit_loop(self, params, binned, raw, y, w, use_w, binned_val, raw_val, yv, wv, t_start):
        grower, hk = _kernels()
        K = self.n_trees_per_iteration_
        n, n_features = binned.shape
        max_bins = params["max_bins"]
        n_bins = max_bins + 1
        max_leaf = params["max_leaf_nodes"]
        if max_leaf is None:  # no limit: bounded by the rows, max_depth and _MAX_LEAVES_UNLIMITED
            max_leaf = max(2, n // params["min_samples_leaf"])
            if params["max_depth"] > 0:
                max_leaf = min(max_leaf, 2 ** min(params["max_depth"], 30))
            max_leaf = max(2, min(max_leaf, _MAX_LEAVES_UNLIMITED))
        kind = self._loss_kind
        const_hess = kind == 0 and not use_w
        grad = np.empty((K, n), dtype=np.float32)
        hess = np.empty((K, n), dtype=np.float32) if not const_hess else np.empty((K, 1), dtype=np.float32)
        binned_cols = np.ascontiguousarray(binned.T)  # column-major copy for the partitions
        idx = np.arange(n, dtype=np.intp)
        tmp = np.empty(2 * n, dtype=np.intp)  # partition scratch
        pool = np.empty((max_leaf + 1, n_features, n_bins, 3), dtype=np.float64)
        scratch = np.empty((hk.MAX_CHUNKS, n_features, n_bins, 3), dtype=np.float64)
        res = np.empty((n_features, 9), dtype=np.float64)
        counts = np.zeros(2 * 64, dtype=np.int64)
        nodes = np.empty((2 * max_leaf - 1, grower.N_FIELDS), dtype=np.float64)
        leaf_start = np.empty(max_leaf, dtype=np.intp)
        leaf_end = np.empty(max_leaf, dtype=np.intp)
        leaf_node = np.empty(max_leaf, dtype=np.intp)
        lam = params["l2_regularization"]
        lr = params["learning_rate"]
        msl = params["min_samples_leaf"]
        trees: list = []
        es = self.do_early_stopping_
        train_scores: list = []
        val_scores: list = []
        if es:
            train_scores.append(-grower.loss_value(kind, raw, y, w, use_w))
            if binned_val is not None:
                val_scores.append(-grower.loss_value(kind, raw_val, yv, wv, use_w and wv.size == yv.size))
        n_iter = 0
        self._tree_times_s = []
        for it in range(params["max_iter"]):
            t_it = time.perf_counter()
            with parallel_region():
                if kind == 0:
                    grower.grad_squared_error(raw[0], y, w, use_w, grad[0], hess[0] if use_w else grad[0])
                elif kind == 1:
                    grower.grad_binary(raw[0], y, w, use_w, grad[0], hess[0])
                else:
                    grower.grad_multiclass(raw, y, w, use_w, grad, hess)
            it_trees = []
            for k in range(K):
                g = grad[k]
                h = g if const_hess else hess[k]
                with parallel_region():
                    n_nodes, n_leaves = grower.grow_tree(
                        binned, binned_cols, g, h, not const_hess, 1.0, n_bins, max_leaf, params["max_depth"], msl, lam,
                        _MIN_HESSIAN_TO_SPLIT, 0.0, lr, idx, tmp, pool, scratch, res, counts, nodes,
                        leaf_start, leaf_end, leaf_node)
                    grower.update_raw_from_leaves(raw[k], idx, nodes, leaf_start, leaf_end, leaf_node, n_leaves)
                    tree = nodes[:n_nodes].copy()
                    if binned_val is not None:
                        grower.predict_binned(binned_val, tree, max_bins, raw_val[k])
                it_trees.append(tree)
            trees.append(it_trees)
            n_iter += 1
            self._tree_times_s.append(time.perf_counter() - t_it)
            stop = False
            if es:
                train_scores.append(-grower.loss_value(kind, raw, y, w, use_w))
                if binned_val is not None:
                    val_scores.append(-grower.loss_value(kind, raw_val, yv, wv, use_w and wv.size == yv.size))
                    stop = self._should_stop(val_scores, params)
                else:
                    stop = self._should_stop(train_scores, params)
            if self.verbose:
                leaves = sum(int(t[:, grower.F_LEAF].sum()) for t in it_trees)
                line = f"[{it + 1}/{params['max_iter']}] {len(it_trees)} tree(s), {leaves} leaves"
                if es:
                    line += f", train score: {train_scores[-1]:.5f}"
                    if val_scores:
                        line += f", val score: {val_scores[-1]:.5f}"
                line += f", in {time.perf_counter() - t_it:.3f}s (total {time.perf_counter() - t_start:.3f}s)"
                print(line, flush=True)
            if stop:
                break
        self.n_iter_ = n_iter
        self._trees = trees
        self.train_score_ = np.asarray(train_scores, dtype=np.float64)
        self.validation_score_ = np.asarray(val_scores, dtype=np.float64)
        self._build_predictor()

    def _should_stop(self, scores, params) -> bool:
        ref = params["n_iter_no_change"] + 1
        if len(scores) < ref:
            return False
        reference_score = scores[-ref] + params["tol"]
        return not any(s > reference_score for s in scores[-ref + 1:])

    def _build_predictor(self) -> None:
        """Flat node arrays of all trees, thresholds in raw feature units."""
        grower, _ = _kernels()
        thr = self._bin_mapper.bin_thresholds_
        feats, thres, mleft, left, right, value = [], [], [], [], [], []
        starts, classes, depths = [], [], []
        offset = 0
        for it_trees in self._trees:
            for k, t in enumerate(it_trees):
                starts.append(offset)
                classes.append(k)
                depths.append(int(t[:, grower.F_DEPTH].max()))
                f = t[:, grower.F_FEATURE].astype(np.int64)
                b = t[:, grower.F_BIN].astype(np.int64)
                leaf = t[:, grower.F_LEAF] != 0
                th = np.empty(len(t))
                for i in range(len(t)):
                    th[i] = np.inf if leaf[i] or b[i] >= len(thr[f[i]]) else thr[f[i]][b[i]]
                feats.append(np.where(leaf, 0, f))
                thres.append(th)
                mleft.append(t[:, grower.F_MLEFT] != 0)
                own = np.arange(len(t)) + offset  # a leaf is its own child (marks the leaves)
                left.append(np.where(leaf, own, t[:, grower.F_LEFT].astype(np.int64) + offset))
                right.append(np.where(leaf, own, t[:, grower.F_RIGHT].astype(np.int64) + offset))
                value.append(np.where(leaf, t[:, grower.F_VALUE], 0.0))
                offset += len(t)
        cat = (lambda parts, dt: np.ascontiguousarray(np.concatenate(parts).astype(dt)) if parts else np.zeros(0, dt))
        self._pred = {
            "feature": cat(feats, np.int32), "threshold": cat(thres, np.float64), "mleft": cat(mleft, np.bool_),
            "left": cat(left, np.int32), "right": cat(right, np.int32), "value": cat(value, np.float64),
            "tree_start": np.asarray(starts, dtype=np.int64), "tree_class": np.asarray(classes, dtype=np.int64),
            "tree_depth": np.asarray(depths, dtype=np.int64),
        }

    # ---------------------------------------------------------------- prediction
    def _check_X_predict(self, X):
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=[np.float64, np.float32], ensure_all_finite=False, order="C")
        return X

    def _raw_predict(self, X, trees: Optional[slice] = None) -> np.ndarray:
        """Raw predictions ``[K, n_samples]`` (baseline included)."""
        grower, _ = _kernels()
        K = self.n_trees_per_iteration_
        raw = np.empty((K, X.shape[0]), dtype=np.float64)
        raw[:] = self._baseline_prediction[:, None]
        self._add_trees(X, raw, slice(None) if trees is None else trees)
        return raw

    def _add_trees(self, X, raw, trees: slice) -> None:
        grower, _ = _kernels()
        p = self._pred
        starts = p["tree_start"][trees]
        if X.shape[0] == 0 or starts.size == 0:
            return
        with parallel_region():
            grower.predict_raw(X, p["feature"], p["threshold"], p["mleft"], p["left"], p["right"], p["value"],
                               np.ascontiguousarray(starts), np.ascontiguousarray(p["tree_class"][trees]), raw)

    def _staged_raw(self, X):
        X = self._check_X_predict(X)
        K = self.n_trees_per_iteration_
        raw = np.empty((K, X.shape[0]), dtype=np.float64)
        raw[:] = self._baseline_prediction[:, None]
        for i in range(self.n_iter_):
            self._add_trees(X, raw, slice(i * K, (i + 1) * K))
            yield raw.copy()


class HistGradientBoostingRegressor(RegressorMixin, _BaseHistGradientBoosting):
    """Histogram gradient boosting regressor (squared error), scikit-learn's API.

    Parameters
    ----------
    loss : {"squared_error"}, default="squared_error"
    learning_rate : float, default=0.1
        Shrinkage of every leaf value.
    max_iter : int, default=100
        Boosting iterations (one tree each).
    max_leaf_nodes : int or None, default=31
        Leaves per tree; trees grow best-first (the leaf with the largest gain splits next).
        None: no limit beyond ``min_samples_leaf`` and ``max_depth``, but at most 4096 leaves.
    max_depth : int or None, default=None
        Edges from the root to the deepest leaf; None = unlimited.
    min_samples_leaf : int, default=20
    l2_regularization : float, default=0.0
        λ in the leaf value ``−G/(H+λ)`` and the gain.
    max_bins : int, default=255
        Bins for non-missing values, in [2, 255] (NaN has its own bin).
    early_stopping : "auto" or bool, default="auto"
        "auto": on when there are more than 10 000 samples.
    scoring : "loss" or None, default="loss"
        The early-stopping score (negative loss); only the loss is supported.
    validation_fraction : float or None, default=0.1
        Held out for early stopping (None: the training loss decides).
    n_iter_no_change : int, default=10
    tol : float, default=1e-7
    verbose : int, default=0
        When set, one progress line per iteration.
    random_state : int, RandomState or None
        Seeds the binning subsample and the validation split.

    Attributes
    ----------
    n_iter_ : int
    n_trees_per_iteration_ : int
        1.
    train_score_, validation_score_ : ndarray
        Negative loss before the first and after each iteration (empty without early stopping;
        ``validation_score_`` empty when ``validation_fraction`` is None).
    do_early_stopping_ : bool
    n_features_in_ : int
    """

    _loss_kind = 0

    def __init__(
        self,
        loss: str = "squared_error",
        *,
        learning_rate: float = 0.1,
        max_iter: int = 100,
        max_leaf_nodes: Optional[int] = 31,
        max_depth: Optional[int] = None,
        min_samples_leaf: int = 20,
        l2_regularization: float = 0.0,
        max_bins: int = 255,
        early_stopping: Any = "auto",
        scoring: Optional[str] = "loss",
        validation_fraction: Optional[float] = 0.1,
        n_iter_no_change: int = 10,
        tol: float = 1e-7,
        verbose: int = 0,
        random_state: Any = None,
    ):
        super().__init__(
            loss, learning_rate=learning_rate, max_iter=max_iter, max_leaf_nodes=max_leaf_nodes,
            max_depth=max_depth, min_samples_leaf=min_samples_leaf, l2_regularization=l2_regularization,
            max_bins=max_bins, early_stopping=early_stopping, scoring=scoring,
            validation_fraction=validation_fraction, n_iter_no_change=n_iter_no_change, tol=tol,
            verbose=verbose, random_state=random_state,
        )

    def _check_params(self) -> dict:
        if self.loss != "squared_error":
            raise ValueError(f"loss must be 'squared_error', got {self.loss!r}")
        return super()._check_params()

    def _encode_y(self, y):
        self.n_trees_per_iteration_ = 1
        return y

    def _baseline(self, y, w):
        return np.array([np.average(y) if w is None else np.average(y, weights=w)], dtype=np.float64)

    def predict(self, X: ArrayLike) -> np.ndarray:
        """Predicted values ``[n_samples]`` (float64)."""
        X = self._check_X_predict(X)
        return self._raw_predict(X)[0]

    def staged_predict(self, X: ArrayLike):
        """Predictions after each iteration (a generator of ``[n_samples]`` arrays)."""
        for raw in self._staged_raw(X):
            yield raw[0]


class HistGradientBoostingClassifier(ClassifierMixin, _BaseHistGradientBoosting):
    """Histogram gradient boosting classifier (log-loss: binary logistic or multiclass softmax).

    Parameters are those of :class:`HistGradientBoostingRegressor` with ``loss="log_loss"``.
    Binary problems grow one tree per iteration, ``K``-class problems ``K`` (one per class).

    Attributes
    ----------
    classes_ : ndarray
    n_trees_per_iteration_ : int
        1 for two classes, else the number of classes.
    n_iter_, train_score_, validation_score_, do_early_stopping_, n_features_in_
        As in the regressor (scores are negative log-losses).
    """

    def __init__(
        self,
        loss: str = "log_loss",
        *,
        learning_rate: float = 0.1,
        max_iter: int = 100,
        max_leaf_nodes: Optional[int] = 31,
        max_depth: Optional[int] = None,
        min_samples_leaf: int = 20,
        l2_regularization: float = 0.0,
        max_bins: int = 255,
        early_stopping: Any = "auto",
        scoring: Optional[str] = "loss",
        validation_fraction: Optional[float] = 0.1,
        n_iter_no_change: int = 10,
        tol: float = 1e-7,
        verbose: int = 0,
        random_state: Any = None,
    ):
        super().__init__(
            loss, learning_rate=learning_rate, max_iter=max_iter, max_leaf_nodes=max_leaf_nodes,
            max_depth=max_depth, min_samples_leaf=min_samples_leaf, l2_regularization=l2_regularization,
            max_bins=max_bins, early_stopping=early_stopping, scoring=scoring,
            validation_fraction=validation_fraction, n_iter_no_change=n_iter_no_change, tol=tol,
            verbose=verbose, random_state=random_state,
        )

    _loss_kind = 1  # binary until fit sees the classes

    def _check_params(self) -> dict:
        if self.loss != "log_loss":
            raise ValueError(f"loss must be 'log_loss', got {self.loss!r}")
        return super()._check_params()

    def _encode_y(self, y):
        check_classification_targets(y)
        enc = LabelEncoder()
        codes = enc.fit_transform(y)
        self.classes_ = enc.classes_
        if len(self.classes_) < 2:
            raise ValueError(f"y must contain at least 2 classes, got 1 class ({self.classes_[0]!r})")
        self.n_trees_per_iteration_ = 1 if len(self.classes_) == 2 else len(self.classes_)
        self._loss_kind = 1 if len(self.classes_) == 2 else 2
        return codes

    def _baseline(self, y, w):
        K = len(self.classes_)
        counts = np.bincount(y, weights=w, minlength=K).astype(np.float64)
        p = np.clip(counts / counts.sum(), 1e-15, 1 - 1e-15)
        if K == 2:
            return np.array([np.log(p[1] / (1 - p[1]))])
        logp = np.log(p)
        return logp - logp.mean()

    def decision_function(self, X: ArrayLike) -> np.ndarray:
        """Raw scores: ``[n_samples]`` (binary, log-odds of ``classes_[1]``) or ``[n_samples, K]``."""
        X = self._check_X_predict(X)
        raw = self._raw_predict(X)
        return raw[0] if raw.shape[0] == 1 else raw.T.copy()

    @staticmethod
    def _proba(raw):
        if raw.shape[0] == 1:
            p1 = 1.0 / (1.0 + np.exp(-raw[0]))
            return np.column_stack([1.0 - p1, p1])
        z = raw.T - raw.T.max(axis=1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)

    def predict_proba(self, X: ArrayLike) -> np.ndarray:
        """Class probabilities ``[n_samples, n_classes]``."""
        X = self._check_X_predict(X)
        return self._proba(self._raw_predict(X))

    def predict(self, X: ArrayLike) -> np.ndarray:
        """Predicted class labels."""
        X = self._check_X_predict(X)
        raw = self._raw_predict(X)
        if raw.shape[0] == 1:
            return self.classes_[(raw[0] > 0).astype(np.intp)]
        return self.classes_[np.argmax(raw, axis=0)]

    def staged_predict(self, X: ArrayLike):
        """Predicted labels after each iteration (generator)."""
        for raw in self._staged_raw(X):
            yield self.classes_[(raw[0] > 0).astype(np.intp)] if raw.shape[0] == 1 else self.classes_[raw.argmax(0)]

    def staged_predict_proba(self, X: ArrayLike):
        """Class probabilities after each iteration (generator)."""
        for raw in self._staged_raw(X):
            yield self._proba(raw)

    def staged_decision_function(self, X: ArrayLike):
        """Raw scores after each iteration (generator)."""
        for raw in self._staged_raw(X):
            yield raw[0].copy() if raw.shape[0] == 1 else raw.T.copy()
