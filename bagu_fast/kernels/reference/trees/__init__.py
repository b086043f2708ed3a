"""Trees-family kernels (reference, NumPy), one module per concept (the same names as on the cpu):

binning.py, histogram.py, splitting.py, partition.py, criteria.py, boosting_grower.py,
tree_grower.py, predictor.py, loss.py.  The raw-signature kernels of the public functions are
re-exported here.
"""
from .criteria import split_criterion, split_gain_mse  # noqa: F401
from .histogram import build_class_histogram, build_histogram  # noqa: F401
from .partition import partition  # noqa: F401
from .splitting import find_best_split  # noqa: F401
