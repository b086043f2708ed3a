"""Trees-family kernels (cuda), one module per concept (the same names as on the cpu):

histogram.py: gradient and class histograms; splitting.py: the best split of a node;
partition.py: a node's rows split by a split; criteria.py: the classic split criteria;
loss.py: gradients; boosting_grower.py: a whole gradient-boosting tree grown on the device;
_launch.py: launch helpers.  Each module lists its kernels in its own ``PTX_SIGNATURES`` (the PTX
check walks every module of :mod:`bagu_fast.kernels.cuda`).

The raw-signature launchers of the public functions are re-exported here.
"""
from .criteria import split_criterion, split_gain_mse  # noqa: F401
from .histogram import build_class_histogram, build_histogram  # noqa: F401
from .partition import partition  # noqa: F401
from .splitting import find_best_split  # noqa: F401
