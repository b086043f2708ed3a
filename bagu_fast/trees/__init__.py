"""Histogram-based decision trees: binning, histogram and split kernels, gradient boosting,
classic decision trees and random forests, with scikit-learn's estimator API.

One concept per module: binning.py (BinMapper), histogram.py (gradient histograms, best split,
partition), criteria.py (class histograms, split criteria), boosting.py and
boosting_trainers.py (histogram gradient boosting and its per-backend training state), tree.py
(decision trees), forest.py (random forests), _checks.py (the backend policy and argument checks
shared by the family).  This package re-exports the public names.

Every estimator takes ``backend="auto" | "cpu" | "cuda" | "reference"`` with one policy: "auto"
picks "cuda" for GPU inputs where the estimator has GPU kernels (gradient boosting), else "cpu";
"reference" runs the NumPy reference kernels (slow, the cpu's results); a backend an estimator
cannot run raises a ValueError naming ``backend`` and listing the ones it supports.
"""
from .binning import BinMapper  # noqa: F401
from .boosting import HistGradientBoostingClassifier, HistGradientBoostingRegressor  # noqa: F401
from .criteria import build_class_histogram, split_criterion, split_gain_mse  # noqa: F401
from .forest import RandomForestClassifier, RandomForestRegressor  # noqa: F401
from .histogram import SplitInfo, build_histogram, find_best_split, partition  # noqa: F401
from .tree import DecisionTreeClassifier, DecisionTreeRegressor, Tree  # noqa: F401
