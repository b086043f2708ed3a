"""Trees-family kernels (cpu), one module per concept (the same names on every backend):

binning.py: quantile thresholds and bin codes; histogram.py: gradient and class histograms;
splitting.py: the best split of a gradient-histogram node; partition.py: a node's rows split by
a split; criteria.py: the classic split criteria; boosting_grower.py / tree_grower.py: a whole
tree of gradient boosting / of the classic trees; predictor.py: prediction by traversal;
loss.py: gradients and loss values.

The raw-signature kernels of the public functions are re-exported here.
"""
from .criteria import split_criterion, split_gain_mse  # noqa: F401
from .histogram import build_class_histogram, build_histogram  # noqa: F401
from .partition import partition  # noqa: F401
from .splitting import find_best_split  # noqa: F401
