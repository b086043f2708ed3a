"""Classic decision trees (ID3 / C4.5 / CART) grown on binned features, with scikit-learn's API.

:class:`DecisionTreeClassifier` (``criterion="gini" | "entropy" | "gain_ratio"``) and
:class:`DecisionTreeRegressor` (``criterion="squared_error"``) bin the features once with
:class:`~bagu_fast.trees.BinMapper` (at most ``max_bins`` quantile bins per feature, NaN in its
own bin) and grow the tree in one compiled function
(:func:`bagu_fast.kernels.cpu.trees.tree_grower.grow_decision_tree`): per node, class (or
target) histograms of the candidate features, every bin boundary scored by the criterion, a
stable in-place partition.  Thresholds are therefore bin
boundaries (quantiles past 255 distinct values) instead of scikit-learn's exact midpoints.

The criteria are the ones :func:`bagu_fast.trees.split_criterion` / :func:`split_gain_mse`
compute.  ``gain_ratio`` follows C4.5: each feature's threshold is the one with the largest
information gain; among the features whose information gain is at least the average
information gain of the features examined at the node, the one with the largest gain ratio
``Gain / IV`` is chosen (Quinlan's rule against the bias of gain ratio toward very unbalanced
splits with tiny split information).

Missing values (NaN) are valid: at each node both directions are tried for them (and the split
"all values vs missing"); a node that saw no missing value at fit time sends them to its child
with the larger weight.

``backend="reference"`` grows, bins and predicts with the NumPy reference kernels (the same
trees, slowly); there are no GPU kernels for these estimators.
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np

from .._compat import SKLEARN_ERROR, BaseEstimator, ClassifierMixin, RegressorMixin, need_sklearn
from .._validate import ArrayLike
from ._checks import array_argument, check_backend, check_random_state, describe, host_copy
from .binning import BinMapper

if SKLEARN_ERROR is None:  # the estimators use scikit-learn's validation helpers
    from sklearn.utils.multiclass import check_classification_targets
    from sklearn.utils.validation import _check_sample_weight, check_is_fitted, column_or_1d, validate_data

__all__ = ["DecisionTreeClassifier", "DecisionTreeRegressor"]

BACKENDS = ("auto", "cpu", "reference")  # the classic trees have no GPU kernels
CLASSIFIER_CRITERIA = {"gini": 0, "entropy": 1, "gain_ratio": 2}
REGRESSOR_CRITERIA = {"squared_error": 3}
MAX_INT = np.iinfo(np.int32).max


# ----------------------------------------------------------------------------------------------
# the fitted tree
# ----------------------------------------------------------------------------------------------
@dataclass
class Tree:
    """A fitted tree's arrays (scikit-learn's ``tree_`` names where they exist).

    Node 0 is the root; nodes are numbered in depth-first preorder (left before right).

    Attributes
    ----------
    node_count, max_depth, n_leaves : int
    feature : int32 [node_count]
        Split feature, ``-2`` for leaves (scikit-learn's ``TREE_UNDEFINED``).
    threshold : float64 [node_count]
        ``x <= threshold`` goes left (the bin's upper threshold; ``inf`` for a "values vs
        missing" split); ``-2`` for leaves.
    threshold_bin : int32 [node_count]
        The same threshold as a bin code: code ``<= threshold_bin`` goes left.
    missing_go_to_left : uint8 [node_count]
        Where NaN goes.
    children_left, children_right : int32 [node_count]
        ``-1`` for leaves.
    value : float64 [node_count, n_classes or 1]
        Class probabilities (weighted) or mean target of the node's training rows.
    impurity : float64 [node_count]
        Gini, entropy (bits; also for ``gain_ratio``) or mean squared error.
    n_node_samples : int64 [node_count]
    weighted_n_node_samples : float64 [node_count]
    """

    node_count: int
    max_depth: int
    n_leaves: int
    feature: np.ndarray
    threshold: np.ndarray
    threshold_bin: np.ndarray
    missing_go_to_left: np.ndarray
    children_left: np.ndarray
    children_right: np.ndarray
    value: np.ndarray
    impurity: np.ndarray
    n_node_samples: np.ndarray
    weighted_n_node_samples: np.ndarray
    raw_importances: np.ndarray


def _threshold_table(mapper: BinMapper) -> np.ndarray:
    """``table[f, b]``: the real threshold of "code <= b" (``inf`` past the feature's last one)."""
    table = getattr(mapper, "_bagu_threshold_table", None)
    if table is None:
        thresholds = mapper.bin_thresholds_
        table = np.full((len(thresholds), 256), np.inf)
        for f, t in enumerate(thresholds):
            table[f, : len(t)] = t
        mapper._bagu_threshold_table = table
    return table


def _make_tree(result: tuple, mapper: BinMapper) -> Tree:
    feat, thr_bin, miss_left, left, right, value, n_node, w_node, impurity, imp, depth = result
    n_nodes = feat.shape[0]
    leaves = feat < 0
    table = _threshold_table(mapper)
    threshold = np.where(leaves, -2.0, table[np.maximum(feat, 0), thr_bin])
    feature = feat.copy()
    feature[leaves] = -2
    return Tree(node_count=n_nodes, max_depth=int(depth), n_leaves=int(leaves.sum()), feature=feature,
                threshold=threshold, threshold_bin=thr_bin, missing_go_to_left=miss_left, children_left=left,
                children_right=right, value=value, impurity=impurity, n_node_samples=n_node,
                weighted_n_node_samples=w_node, raw_importances=imp)


def _writable(a: np.ndarray) -> np.ndarray:
    """``a``, or a copy when it is read-only (unpickled / memory-mapped arrays): Numba compiles a
    separate specialisation for read-only arrays, so the kernels only ever see writable ones."""
    return a if a.flags.writeable else a.copy()


def _pack(tree: Tree) -> np.ndarray:
    """The traversal kernels' node table: int32 ``[node_count, 4]`` (feature or -1, threshold bin
    | missing-goes-left << 8, left, right)."""
    nodes = np.empty((tree.node_count, 4), dtype=np.int32)
    nodes[:, 0] = np.where(tree.feature < 0, -1, tree.feature)
    nodes[:, 1] = tree.threshold_bin.astype(np.int32) | (tree.missing_go_to_left.astype(np.int32) << 8)
    nodes[:, 2] = tree.children_left
    nodes[:, 3] = tree.children_right
    return nodes


def _flatten(trees: list) -> tuple:
    """Concatenate trees for the traversal kernels: ``(offsets, nodes, value)``."""
    offsets = np.zeros(len(trees) + 1, dtype=np.int64)
    np.cumsum([t.node_count for t in trees], out=offsets[1:])
    nodes = np.concatenate([_pack(t) for t in trees])
    return offsets, nodes, np.ascontiguousarray(np.concatenate([t.value for t in trees]))


def _row_block(n: int) -> int:
    """Rows per traversal block: large (each block streams every tree once), but enough blocks
    for the threads; the result does not depend on it."""
    import numba

    return int(min(32768, max(256, -(-n // (2 * numba.get_num_threads())))))


def _predictor(backend: str):
    """The traversal kernels of ``backend``: the cpu's (parallel over rows) or the reference's."""
    if backend == "reference":
        from ..kernels.reference.trees import predictor
    else:
        from ..kernels.cpu.trees import predictor
    return predictor


def _traverse_sum(binned: np.ndarray, flat: tuple, missing_bin: int, width: int, backend: str = "cpu") -> np.ndarray:
    from ..kernels.cpu._parallel import parallel_region

    out = np.zeros((binned.shape[0], width), dtype=np.float64)
    if binned.shape[0]:
        with parallel_region():
            _predictor(backend).predict_forest(_writable(binned), *map(_writable, flat), np.int64(missing_bin),
                                               np.int64(_row_block(binned.shape[0])), out)
    return out


def _traverse_apply(binned: np.ndarray, flat: tuple, missing_bin: int, backend: str = "cpu") -> np.ndarray:
    from ..kernels.cpu._parallel import parallel_region

    offsets, nodes, _ = flat
    out = np.zeros((binned.shape[0], offsets.shape[0] - 1), dtype=np.int64)
    if binned.shape[0]:
        with parallel_region():
            _predictor(backend).apply_forest(_writable(binned), _writable(offsets), _writable(nodes),
                                             np.int64(missing_bin), np.int64(_row_block(binned.shape[0])), out)
    return out


# ----------------------------------------------------------------------------------------------
# parameter checks (shared with the forests)
# ----------------------------------------------------------------------------------------------
def _check_int_or_fraction(value: Any, name: str, n: int, *, min_int: int, max_frac: float = 1.0) -> int:
    """An int ``>= min_int`` or a fraction in ``(0, max_frac]`` of ``n`` (ceil), as scikit-learn."""
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be an int or a float, got bool")
    if isinstance(value, numbers.Integral):
        if value < min_int:
            raise ValueError(f"{name} must be an int >= {min_int} or a float in (0, {max_frac}], got {value}")
        return int(value)
    if isinstance(value, numbers.Real):
        if not 0.0 < value <= max_frac:
            raise ValueError(f"{name} must be an int >= {min_int} or a float in (0, {max_frac}], got {value}")
        return max(min_int, int(math.ceil(value * n)))
    raise TypeError(f"{name} must be an int or a float, got {type(value).__name__}")


def _resolve_max_features(value: Any, n_features: int) -> int:
    if value is None:
        return n_features
    if isinstance(value, str):
        if value == "sqrt":
            return max(1, int(math.sqrt(n_features)))
        if value == "log2":
            return max(1, int(math.log2(n_features)))
        raise ValueError(f"max_features must be None, 'sqrt', 'log2', an int or a float, got {value!r}")
    if isinstance(value, (bool, np.bool_)):
        raise TypeError("max_features must be None, 'sqrt', 'log2', an int or a float, got bool")
    if isinstance(value, numbers.Integral):
        if not 0 < value <= n_features:
            raise ValueError(f"max_features must lie in (0, n_features={n_features}], got {value}")
        return int(value)
    if isinstance(value, numbers.Real):
        if not 0.0 < value <= 1.0:
            raise ValueError(f"max_features as a fraction must lie in (0, 1], got {value}")
        return max(1, int(value * n_features))
    raise TypeError(f"max_features must be None, 'sqrt', 'log2', an int or a float, got {type(value).__name__}")


@dataclass
class _GrowParams:
    code: int
    max_depth: int
    min_samples_split: int
    min_samples_leaf: int
    max_features: int
    min_impurity_decrease: float
    max_bins: int


def _check_params(est: Any, n_samples: int, n_features: int, classifier: bool) -> _GrowParams:
    criteria = CLASSIFIER_CRITERIA if classifier else REGRESSOR_CRITERIA
    if not isinstance(est.criterion, str) or est.criterion not in criteria:
        extra = " (gain_ratio is a classification criterion)" if est.criterion == "gain_ratio" else ""
        raise ValueError(f"criterion must be one of {tuple(criteria)}, got {est.criterion!r}{extra}")
    if est.max_depth is None:
        max_depth = -1
    else:
        if isinstance(est.max_depth, (bool, np.bool_)) or not isinstance(est.max_depth, numbers.Integral):
            raise TypeError(f"max_depth must be None or an int, got {type(est.max_depth).__name__}")
        if est.max_depth < 1:
            raise ValueError(f"max_depth must be None or >= 1, got {est.max_depth}")
        max_depth = int(est.max_depth)
    msl = _check_int_or_fraction(est.min_samples_leaf, "min_samples_leaf", n_samples, min_int=1, max_frac=1.0)
    mss = _check_int_or_fraction(est.min_samples_split, "min_samples_split", n_samples, min_int=2, max_frac=1.0)
    mss = max(mss, 2 * msl)
    mtry = _resolve_max_features(est.max_features, n_features)
    if isinstance(est.min_impurity_decrease, (bool, np.bool_)) or not isinstance(est.min_impurity_decrease, numbers.Real):
        raise TypeError(f"min_impurity_decrease must be a real number, got {describe(est.min_impurity_decrease)}")
    if not (est.min_impurity_decrease >= 0 and math.isfinite(est.min_impurity_decrease)):
        raise ValueError(f"min_impurity_decrease must be finite and >= 0, got {est.min_impurity_decrease}")
    if isinstance(est.max_bins, (bool, np.bool_)) or not isinstance(est.max_bins, numbers.Integral):
        raise TypeError(f"max_bins must be an int, got {type(est.max_bins).__name__}")
    if not 2 <= est.max_bins <= 255:
        raise ValueError(f"max_bins must be in [2, 255], got {est.max_bins}")
    return _GrowParams(criteria[est.criterion], max_depth, mss, msl, mtry, float(est.min_impurity_decrease),
                       int(est.max_bins))


def _resolve_backend(est: Any) -> str:
    """"cpu" or "reference" ("auto" is "cpu"; GPU inputs are copied to the host)."""
    backend = check_backend(est.backend, BACKENDS, type(est).__name__)
    return "cpu" if backend == "auto" else backend


def _validate_fit(est: Any, X: ArrayLike, y: ArrayLike, sample_weight: Optional[ArrayLike], classifier: bool):
    """Checked ``(X float, y, sample_weight float64)``; classifiers also set ``classes_``."""
    need_sklearn()
    array_argument(X, "X", "a 2-D array [n_samples, n_features]")
    if y is not None:  # None: scikit-learn's own message
        array_argument(y, "y", "a 1-D array [n_samples]")
    if sample_weight is not None:
        array_argument(sample_weight, "sample_weight", "a 1-D array [n_samples] or None")
    X, y, sample_weight = (host_copy(a, n) for a, n in ((X, "X"), (y, "y"), (sample_weight, "sample_weight")))
    X, y = validate_data(est, X, y, dtype=np.float64, ensure_all_finite="allow-nan",
                         y_numeric=not classifier, multi_output=False)
    y = column_or_1d(y, warn=True)
    if classifier:
        check_classification_targets(y)
    sw = _check_sample_weight(sample_weight, X, dtype=np.float64, ensure_non_negative=True)
    if not np.all(np.isfinite(sw)):
        raise ValueError("sample_weight must be finite")
    if not np.any(sw > 0):
        raise ValueError("sample_weight must have at least one positive entry")
    return X, y, sw


def _encode_classes(est: Any, y: np.ndarray, sw: np.ndarray) -> np.ndarray:
    classes, codes = np.unique(y, return_inverse=True)
    if len(np.unique(codes[sw > 0])) < 2:
        raise ValueError(f"y must contain at least 2 classes (with positive sample_weight), got "
                         f"{len(np.unique(codes[sw > 0]))} class")
    est.classes_ = classes
    est.n_classes_ = len(classes)
    return codes.astype(np.int64)


def _fit_mapper(X: np.ndarray, sw: np.ndarray, max_bins: int, seed: int,
                backend: str = "cpu") -> tuple[BinMapper, np.ndarray]:
    """Thresholds from the rows with positive weight (zero weight = absent), codes for all rows."""
    mapper = BinMapper(max_bins=max_bins, random_state=seed, backend=backend)
    pos = sw > 0
    X = _writable(X)
    mapper.fit(X if pos.all() else X[pos])
    return mapper, mapper.transform(X)


def _grow(binned, samples, weight, yc, yv, n_classes, p: _GrowParams, seed: int, unit_weight: bool, mapper,
          backend: str = "cpu") -> Tree:
    if backend == "reference":
        from ..kernels.reference.trees import tree_grower
    else:
        from ..kernels.cpu.trees import tree_grower

    binned, samples, weight, yc, yv = map(_writable, (binned, samples, weight, yc, yv))
    result = tree_grower.grow_decision_tree(
        binned, samples, weight, yc, yv, np.int64(n_classes), np.int64(p.code), np.int64(p.max_bins + 1),
        np.int64(p.max_bins), np.int64(p.max_depth), np.int64(p.min_samples_split), np.int64(p.min_samples_leaf),
        np.int64(p.max_features), np.float64(p.min_impurity_decrease), np.int64(seed), bool(unit_weight))
    return _make_tree(result, mapper)


def _tags_allow_nan(tags):
    tags.input_tags.allow_nan = True
    return tags


# ----------------------------------------------------------------------------------------------
# estimators
# ----------------------------------------------------------------------------------------------
def _binned_input(est, X: ArrayLike, fitted: str) -> np.ndarray:
    """``X`` checked against the fitted estimator ``est`` (``fitted``: an attribute its fit sets)
    and binned by its bin mapper."""
    need_sklearn()
    check_is_fitted(est, fitted)
    array_argument(X, "X", "a 2-D array [n_samples, n_features]")
    X = validate_data(est, host_copy(X, "X"), dtype=np.float64, ensure_all_finite="allow-nan", reset=False)
    return est._bin_mapper.transform(_writable(X))


class _BaseDecisionTree(BaseEstimator):
    _classifier = True

    def __init__(self, *, criterion, max_depth, min_samples_split, min_samples_leaf, max_features,
                 min_impurity_decrease, max_bins, random_state, backend):
        self.criterion = criterion
        self.max_depth = max_depth
        self.min_samples_split = min_samples_split
        self.min_samples_leaf = min_samples_leaf
        self.max_features = max_features
        self.min_impurity_decrease = min_impurity_decrease
        self.max_bins = max_bins
        self.random_state = random_state
        self.backend = backend

    def __sklearn_tags__(self):
        return _tags_allow_nan(super().__sklearn_tags__())

    def fit(self, X: ArrayLike, y: ArrayLike, sample_weight: Optional[ArrayLike] = None):
        """Grow the tree.

        Parameters
        ----------
        X : array-like, shape ``[n_samples, n_features]``
            Real features; NaN = missing (valid); ±inf is rejected (as scikit-learn).
        y : array-like, shape ``[n_samples]``
            Class labels (classifier; at least two classes) or finite targets (regressor).
        sample_weight : array-like, shape ``[n_samples]``, optional
            Non-negative weights; rows of weight 0 are left out (also of the binning).

        Returns
        -------
        self
        """
        classifier = self._classifier
        backend = _resolve_backend(self)
        X, y, sw = _validate_fit(self, X, y, sample_weight, classifier)
        p = _check_params(self, X.shape[0], X.shape[1], classifier)
        rs = check_random_state(self.random_state)
        bin_seed = int(rs.randint(MAX_INT))
        tree_seed = int(rs.randint(MAX_INT))
        if classifier:
            yc = _encode_classes(self, y, sw)
            yv = np.zeros(0)
        else:
            yc = np.zeros(0, dtype=np.int64)
            yv = np.array(y, dtype=np.float64)
        mapper, binned = _fit_mapper(X, sw, p.max_bins, bin_seed, backend)
        samples = np.flatnonzero(sw > 0).astype(np.int64)
        unit = bool(np.all(sw == 1.0))
        self.tree_ = _grow(binned, samples, sw, yc, yv, self.n_classes_ if classifier else 0, p, tree_seed, unit,
                           mapper, backend)
        self.backend_ = backend
        self._bin_mapper = mapper
        self.max_features_ = p.max_features
        self.n_outputs_ = 1
        self._flat = _flatten([self.tree_])
        return self

    # -- inference ------------------------------------------------------------------------------
    def _binned(self, X: ArrayLike) -> np.ndarray:
        return _binned_input(self, X, "tree_")

    def _raw_values(self, X: ArrayLike) -> np.ndarray:
        return _traverse_sum(self._binned(X), self._flat, self._bin_mapper.missing_values_bin_idx_,
                             self.tree_.value.shape[1], self.backend_)

    def apply(self, X: ArrayLike) -> np.ndarray:
        """Index of the leaf (node id in ``tree_``) that each row of ``X`` lands in, int64 ``[n]``."""
        return _traverse_apply(self._binned(X), self._flat, self._bin_mapper.missing_values_bin_idx_,
                               self.backend_)[:, 0]

    def get_depth(self) -> int:
        """Depth of the tree (a single leaf has depth 0)."""
        check_is_fitted(self, "tree_")
        return self.tree_.max_depth

    def get_n_leaves(self) -> int:
        """Number of leaves."""
        check_is_fitted(self, "tree_")
        return self.tree_.n_leaves

    @property
    def feature_importances_(self) -> np.ndarray:
        """Impurity-based importances: each feature's total weighted impurity decrease, normalised
        to sum to 1 (all zeros for a single-leaf tree).  ``gain_ratio`` trees count information
        gain."""
        check_is_fitted(self, "tree_")
        imp = self.tree_.raw_importances
        total = imp.sum()
        return imp / total if total > 0 else np.zeros_like(imp)


class _ClassPredictions:
    """``predict`` and ``predict_log_proba`` of a classifier from its ``predict_proba``."""

    def predict(self, X: ArrayLike) -> np.ndarray:
        """The most probable class of each row (ties to the first class in ``classes_``)."""
        proba = self.predict_proba(X)  # checks fitted first
        return self.classes_[np.argmax(proba, axis=1)]

    def predict_log_proba(self, X: ArrayLike) -> np.ndarray:
        """``log(predict_proba(X))`` (``-inf`` for classes with probability 0)."""
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))


class DecisionTreeClassifier(ClassifierMixin, _ClassPredictions, _BaseDecisionTree):
    """A decision tree classifier: CART (``"gini"``), ID3 (``"entropy"``) or C4.5 (``"gain_ratio"``)
    splits on binned features.

    Parameters
    ----------
    criterion : {"gini", "entropy", "gain_ratio"}, default="gini"
        ``"gini"``: Gini impurity decrease; ``"entropy"``: information gain ``H(D) - H(D|A)``;
        ``"gain_ratio"``: C4.5's gain ratio among the features whose information gain is at
        least the average (see the module docstring).  Splits are binary (``x <= t``), also for
        ID3 / C4.5, whose textbook forms split categorical features multiway.
    max_depth : int or None, default=None
        Maximum depth (root = 0); None grows until the other limits stop it.
    min_samples_split : int or float, default=2
        Minimum rows in a node to split it (a float is a fraction of the rows).
    min_samples_leaf : int or float, default=1
        Minimum rows in each child (a float is a fraction of the rows).
    max_features : int, float, "sqrt", "log2" or None, default=None
        Features examined per node, drawn at random without replacement (constant ones do not
        count); ``None`` = all.  An int must lie in ``(0, n_features]``.
    min_impurity_decrease : float, default=0.0
        A split must decrease the weighted impurity by at least this much (scikit-learn's rule).
    max_bins : int, default=255
        Quantile bins per feature (``[2, 255]``); NaN gets its own.
    random_state : int, RandomState or None
        Seeds the feature draws and the binning subsample (200 000 rows).
    backend : {"auto", "cpu", "reference"}, default="auto"
        The kernels, under the policy of every trees estimator: "cpu" (Numba; "auto" is "cpu",
        GPU inputs are copied to the host: the classic trees have no GPU kernels) or
        "reference" (the NumPy reference grower, binning and traversal: slow, the cpu's trees).
        Any other value, "cuda" included, raises a ValueError naming ``backend`` and listing
        these.

    Attributes
    ----------
    classes_, n_classes_, n_features_in_, feature_names_in_, max_features_, n_outputs_
    tree_ : :class:`Tree`
    feature_importances_ : ndarray [n_features]
    backend_ : str
        The backend the fit ran on ("cpu" or "reference").
    """

    _classifier = True

    def __init__(self, criterion: str = "gini", max_depth: Optional[int] = None, min_samples_split: Any = 2,
                 min_samples_leaf: Any = 1, max_features: Any = None, min_impurity_decrease: float = 0.0,
                 max_bins: int = 255, random_state: Any = None, backend: str = "auto"):
        super().__init__(criterion=criterion, max_depth=max_depth, min_samples_split=min_samples_split,
                         min_samples_leaf=min_samples_leaf, max_features=max_features,
                         min_impurity_decrease=min_impurity_decrease, max_bins=max_bins, random_state=random_state,
                         backend=backend)

    def predict_proba(self, X: ArrayLike) -> np.ndarray:
        """Class probabilities ``[n_samples, n_classes]``: the weighted class fractions of the leaf."""
        return self._raw_values(X)


class DecisionTreeRegressor(RegressorMixin, _BaseDecisionTree):
    """A CART regression tree (squared error) on binned features.

    Parameters are those of :class:`DecisionTreeClassifier` except ``criterion``, which is
    ``"squared_error"`` only (the split decreasing the mean squared error most, as
    :func:`bagu_fast.trees.split_gain_mse`).  Leaves predict the weighted mean target.
    """

    _classifier = False

    def __init__(self, criterion: str = "squared_error", max_depth: Optional[int] = None, min_samples_split: Any = 2,
                 min_samples_leaf: Any = 1, max_features: Any = None, min_impurity_decrease: float = 0.0,
                 max_bins: int = 255, random_state: Any = None, backend: str = "auto"):
        super().__init__(criterion=criterion, max_depth=max_depth, min_samples_split=min_samples_split,
                         min_samples_leaf=min_samples_leaf, max_features=max_features,
                         min_impurity_decrease=min_impurity_decrease, max_bins=max_bins, random_state=random_state,
                         backend=backend)

    def predict(self, X: ArrayLike) -> np.ndarray:
        """Predicted targets ``[n_samples]``."""
        return self._raw_values(X)[:, 0]
