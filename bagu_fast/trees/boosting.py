"""Histogram gradient boosting with scikit-learn's ``HistGradientBoosting*`` API.

:class:`HistGradientBoostingRegressor` (squared error) and :class:`HistGradientBoostingClassifier`
(binary log-loss, multiclass softmax) are drop-in replacements for scikit-learn's estimators of
the same names and parameters (the subset listed in each docstring).  Training bins the data
once (:class:`~bagu_fast.trees.BinMapper`, uint8 row-major codes), then grows each tree
leaf-wise (best-first, as LightGBM) inside one Numba function per tree
(:mod:`bagu_fast.kernels.cpu.trees.boosting_grower`): histograms of the smaller child only (the
sibling by subtraction), split finding per feature, stable in-place partition of one index
array.  Prediction traverses flat node arrays of all trees with the raw float thresholds, so new
data is never binned.

``backend="cuda"`` (or ``"auto"`` with GPU inputs) fits on the GPU
(:mod:`bagu_fast.kernels.cuda.trees.boosting_grower`): the same best-first algorithm and node
records, with the codes, gradients, raw predictions, index buffers and histograms kept on the
device and deterministic (integer-quantised) histograms; binning, early-stopping scores and
prediction stay on the cpu.  ``backend="reference"`` fits with the NumPy reference kernels
(:mod:`bagu_fast.kernels.reference.trees`): slow, for comparison.  The training state of each
backend lives in :mod:`.boosting_trainers`.

Not supported (scikit-learn parameters absent here): ``categorical_features``, ``monotonic_cst``,
``interaction_cst``, ``warm_start``, ``max_features``, ``class_weight``, ``quantile`` and the other
regression losses, ``scoring`` other than ``"loss"``.
"""
from __future__ import annotations

import numbers
import time
from typing import Any, Optional

import numpy as np

from .. import _dispatch
from .._compat import SKLEARN_ERROR, BaseEstimator, ClassifierMixin, RegressorMixin, need_sklearn
from .._validate import ArrayLike
from ..kernels.reference.trees import boosting_grower as nodes_layout
from ._checks import array_argument, check_backend, check_random_state, host_copy
from .binning import BinMapper
from .boosting_trainers import TRAINERS, predict_raw

if SKLEARN_ERROR is None:  # the estimators use scikit-learn's validation helpers
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import LabelEncoder
    from sklearn.utils.multiclass import check_classification_targets
    from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

__all__ = ["HistGradientBoostingRegressor", "HistGradientBoostingClassifier"]

_MAX_LEAVES_UNLIMITED = 4096  # max_leaf_nodes=None: at most this many leaves (histogram pool size)
BACKENDS = ("auto", "cpu", "cuda", "reference")


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
        backend: str = "auto",
    ):
        need_sklearn()
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
        self.backend = backend

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
        check_backend(self.backend, BACKENDS, type(self).__name__)
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
        array_argument(X, "X", "a 2-D array [n_samples, n_features]")
        if y is not None:  # None: scikit-learn's own message
            array_argument(y, "y", "a 1-D array [n_samples]")
        if sample_weight is not None:
            array_argument(sample_weight, "sample_weight", "a 1-D array [n_samples] or None")
        backend = _dispatch.resolve_backend(self.backend, X, y, sample_weight)
        if backend == "cuda":
            _dispatch.kernels("trees", "cuda")  # a clear error here when there is no GPU (nor the simulator)
        X, y, sample_weight = (host_copy(a, name) for a, name in ((X, "X"), (y, "y"), (sample_weight, "sample_weight")))
        X, y = validate_data(self, X, y, dtype=[np.float64, np.float32], ensure_all_finite=False,
                             y_numeric=self._loss_kind == 0, order="C")
        if y.dtype.kind in "fc" and not np.all(np.isfinite(y)):
            raise ValueError("y must be finite (no NaN or inf)")
        y = self._encode_y(y)
        n = X.shape[0]
        w = None
        if sample_weight is not None:  # any sign, as scikit-learn (a negative weight flips a row's pull)
            w = _check_sample_weight(sample_weight, X, dtype=np.float64)
            if not np.all(np.isfinite(w)):
                raise ValueError("sample_weight must be finite")
            if w.sum() == 0:
                raise ValueError("sample_weight must not sum to zero (the baseline is a weighted mean)")
        rng = check_random_state(self.random_state)
        # scikit-learn's seed, used as it uses it: the validation split and the binning subsample
        seed = int(rng.randint(np.iinfo(np.uint32).max, dtype="u8"))
        es = self.early_stopping
        self.do_early_stopping_ = bool(n > 10_000) if es == "auto" else bool(es)
        Xv = yv = wv = None
        if self.do_early_stopping_ and self.validation_fraction is not None:
            stratify = y if self._loss_kind > 0 else None
            split = train_test_split(*((X, y) if w is None else (X, y, w)), test_size=params["validation_fraction"],
                                     stratify=stratify, random_state=seed)
            if w is None:
                X, Xv, y, yv = split
            else:
                X, Xv, y, yv, w, wv = split
            X = np.ascontiguousarray(X)
            Xv = np.ascontiguousarray(Xv)
            if Xv.shape[0] == 0 or X.shape[0] == 0:
                raise ValueError("validation_fraction leaves no training or no validation sample")
        self._bin_mapper = BinMapper(max_bins=params["max_bins"], random_state=seed,
                                     backend="reference" if backend == "reference" else "cpu")
        t0 = time.perf_counter()
        binned = self._bin_mapper.fit_transform(X, sample_weight=w)
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
        self.backend_ = backend
        self._fit_loop(params, binned, raw, yf, wf, use_w, binned_val, raw_val, yvf, wvf, t_start, backend)
        self._fit_time_s = time.perf_counter() - t_start
        return self

    def _max_leaves(self, params, n) -> int:
        max_leaf = params["max_leaf_nodes"]
        if max_leaf is None:  # no limit: bounded by the rows, max_depth and _MAX_LEAVES_UNLIMITED
            max_leaf = max(2, n // params["min_samples_leaf"])
            if params["max_depth"] > 0:
                max_leaf = min(max_leaf, 2 ** min(params["max_depth"], 30))
            max_leaf = max(2, min(max_leaf, _MAX_LEAVES_UNLIMITED))
        return max_leaf

    def _fit_loop(self, params, binned, raw, y, w, use_w, binned_val, raw_val, yv, wv, t_start, backend="cpu"):
        K = self.n_trees_per_iteration_
        max_bins = params["max_bins"]
        kind = self._loss_kind
        max_leaf = self._max_leaves(params, binned.shape[0])
        trainer = TRAINERS[backend](binned, raw, y, w, use_w, kind, K, params, max_leaf)
        trees: list = []
        es = self.do_early_stopping_
        train_scores: list = []
        val_scores: list = []
        val_w = use_w and wv.size == yv.size if yv is not None else False
        if es:
            train_scores.append(-trainer.loss_value(kind, raw, y, w, use_w))
            if binned_val is not None:
                val_scores.append(-trainer.loss_value(kind, raw_val, yv, wv, val_w))
        n_iter = 0
        self._tree_times_s = []
        for it in range(params["max_iter"]):
            t_it = time.perf_counter()
            trainer.gradients()
            it_trees = []
            for k in range(K):
                tree = trainer.grow(k)  # also adds the tree to the training rows' raw predictions
                if binned_val is not None:
                    trainer.predict_binned(binned_val, tree, max_bins, raw_val[k])
                it_trees.append(tree)
            trees.append(it_trees)
            n_iter += 1
            self._tree_times_s.append(time.perf_counter() - t_it)
            stop = False
            if es:
                train_scores.append(-trainer.loss_value(kind, trainer.raw_host(), y, w, use_w))
                if binned_val is not None:
                    val_scores.append(-trainer.loss_value(kind, raw_val, yv, wv, val_w))
                    stop = self._should_stop(val_scores, params)
                else:
                    stop = self._should_stop(train_scores, params)
            if self.verbose:
                leaves = sum(int(t[:, nodes_layout.F_LEAF].sum()) for t in it_trees)
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
        grower = nodes_layout
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
        array_argument(X, "X", "a 2-D array [n_samples, n_features]")
        X = host_copy(X, "X")  # prediction runs on the host
        X = validate_data(self, X, reset=False, dtype=[np.float64, np.float32], ensure_all_finite=False, order="C")
        return X

    def _raw_predict(self, X, trees: Optional[slice] = None) -> np.ndarray:
        """Raw predictions ``[K, n_samples]`` (baseline included)."""
        K = self.n_trees_per_iteration_
        raw = np.empty((K, X.shape[0]), dtype=np.float64)
        raw[:] = self._baseline_prediction[:, None]
        self._add_trees(X, raw, slice(None) if trees is None else trees)
        return raw

    def _add_trees(self, X, raw, trees: slice) -> None:
        p = self._pred
        starts = p["tree_start"][trees]
        if X.shape[0] == 0 or starts.size == 0:
            return
        predict_raw(getattr(self, "backend_", "cpu"), X, p, np.ascontiguousarray(starts),
                    np.ascontiguousarray(p["tree_class"][trees]), raw)

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
    backend : {"auto", "cpu", "cuda", "reference"}, default="auto"
        Where the trees are grown; the policy of every trees estimator.  "auto": "cuda" when ``X``
        is a GPU array (anything with ``__cuda_array_interface__``: CuPy, PyTorch CUDA, Numba
        device arrays), else "cpu" (the rule of every ``bagu_fast`` function).  "cuda" grows
        every tree on the GPU: codes, gradients, raw predictions and histograms stay on the
        device; the histograms sum integer-quantised gradients, so a fit does not depend on the
        atomics' timing, and it chooses the cpu fit's splits (leaf values equal to ~1e-12)
        except at exact ties of gain.  It needs an NVIDIA GPU (or ``NUMBA_ENABLE_CUDASIM=1``,
        slow); otherwise fit raises RuntimeError.  Binning, early-stopping scores and prediction
        run on the cpu in either case (GPU inputs are copied to the host for them).
        "reference" runs the NumPy reference kernels for the binning, the trees, the scores and
        prediction (slow; the cpu fit's trees on small data).  Any other value raises a
        ValueError naming ``backend`` and listing these four.

    Attributes
    ----------
    n_iter_ : int
    n_trees_per_iteration_ : int
        1.
    train_score_, validation_score_ : ndarray
        Negative loss before the first and after each iteration (empty without early stopping;
        ``validation_score_`` empty when ``validation_fraction`` is None).
    do_early_stopping_ : bool
    backend_ : str
        The backend the fit ran on ("cpu", "cuda" or "reference").
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
        backend: str = "auto",
    ):
        super().__init__(
            loss, learning_rate=learning_rate, max_iter=max_iter, max_leaf_nodes=max_leaf_nodes,
            max_depth=max_depth, min_samples_leaf=min_samples_leaf, l2_regularization=l2_regularization,
            max_bins=max_bins, early_stopping=early_stopping, scoring=scoring,
            validation_fraction=validation_fraction, n_iter_no_change=n_iter_no_change, tol=tol,
            verbose=verbose, random_state=random_state, backend=backend,
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

    Parameters are those of :class:`HistGradientBoostingRegressor` with ``loss="log_loss"``,
    ``backend`` included ("cuda": the whole fit on the GPU, prediction on the cpu; "reference":
    the NumPy reference kernels).
    Binary problems grow one tree per iteration, ``K``-class problems ``K`` (one per class).

    Attributes
    ----------
    classes_ : ndarray
    n_trees_per_iteration_ : int
        1 for two classes, else the number of classes.
    n_iter_, train_score_, validation_score_, do_early_stopping_, backend_, n_features_in_
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
        backend: str = "auto",
    ):
        super().__init__(
            loss, learning_rate=learning_rate, max_iter=max_iter, max_leaf_nodes=max_leaf_nodes,
            max_depth=max_depth, min_samples_leaf=min_samples_leaf, l2_regularization=l2_regularization,
            max_bins=max_bins, early_stopping=early_stopping, scoring=scoring,
            validation_fraction=validation_fraction, n_iter_no_change=n_iter_no_change, tol=tol,
            verbose=verbose, random_state=random_state, backend=backend,
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
        # one class is valid, as in scikit-learn: a binary model of the encoded (all-zero) target
        self.n_trees_per_iteration_ = 1 if len(self.classes_) <= 2 else len(self.classes_)
        self._loss_kind = 1 if len(self.classes_) <= 2 else 2
        return codes

    def _baseline(self, y, w):
        """scikit-learn's intercept-only model: the logit (binary) or symmetric multinomial logit
        of the weighted class frequencies, clipped to ``[10 eps, 1 - 10 eps]`` (binary) or
        ``[eps, 1 - eps]`` (multiclass)."""
        from scipy.special import logit
        from scipy.stats import gmean

        if self.n_trees_per_iteration_ == 1:
            eps = 10 * np.finfo(np.float64).eps
            p = np.clip(np.average(y.astype(np.float64), weights=w), eps, 1 - eps)
            return np.array([logit(p)], dtype=np.float64)
        eps = np.finfo(np.float64).eps
        p = np.array([np.clip(np.average(y == k, weights=w), eps, 1 - eps) for k in range(len(self.classes_))])
        return np.log(p / gmean(p))

    def decision_function(self, X: ArrayLike) -> np.ndarray:
        """Raw scores: ``[n_samples]`` (binary, log-odds of ``classes_[1]``) or ``[n_samples, K]``."""
        X = self._check_X_predict(X)
        raw = self._raw_predict(X)
        return raw[0] if raw.shape[0] == 1 else raw.T.copy()

    @staticmethod
    def _proba(raw):
        if raw.shape[0] == 1:  # two columns also for a single class, as scikit-learn
            from scipy.special import expit

            p1 = expit(raw[0])
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
