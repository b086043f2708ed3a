"""Trees-family kernels (cpu): one module per concept, re-exported here.

histogram.py: histograms, split finding, partition, prediction (histogram gradient boosting).
criteria.py: class histograms and the classic split criteria (ID3 / C4.5 / CART, MSE).
Each submodule adds one import line below.
"""
from .criteria import build_class_histogram, split_criterion, split_gain_mse  # noqa: F401  (classic trees)

from .histogram import build_histogram, find_best_split, partition  # noqa: E402,F401  (issue 8)
