"""Histogram-based decision trees: binning, histogram and split kernels, gradient boosting,
classic decision trees and random forests, with scikit-learn's estimator API.

One concept per module (binning.py, histogram.py, boosting.py, criteria.py, tree.py,
forest.py); this package re-exports the public names.
"""
from .binning import BinMapper  # noqa: E402,F401  (issue 8)
from .histogram import SplitInfo, build_histogram, find_best_split, partition  # noqa: E402,F401  (issue 8)
from .criteria import build_class_histogram, split_criterion, split_gain_mse  # noqa: F401  (classic trees)
from .tree import DecisionTreeClassifier, DecisionTreeRegressor, Tree  # noqa: F401  (classic trees)
from .forest import RandomForestClassifier, RandomForestRegressor  # noqa: F401  (classic trees)
from .boosting import HistGradientBoostingClassifier, HistGradientBoostingRegressor  # noqa: E402,F401  (issue 8)
