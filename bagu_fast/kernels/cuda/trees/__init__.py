"""Trees-family kernels (cuda): one module per concept, re-exported here.

histogram.py: histograms, split finding, partition, prediction (histogram gradient boosting).
criteria.py: class histograms and the classic split criteria (ID3 / C4.5 / CART, MSE).
grower.py: the tree grower and losses of a full gradient-boosting fit on the device.
Each submodule adds one import line below.
"""

PTX_SIGNATURES: dict = {}  # merged from each submodule: PTX_SIGNATURES.update(sub.PTX_SIGNATURES)
from . import criteria  # noqa: E402  (classic trees)
from .criteria import (  # noqa: F401,E402
    _class_hist_counts, _class_hist_weights, _mse_rows, _split_rows, build_class_histogram, split_criterion,
    split_gain_mse,
)
PTX_SIGNATURES.update(criteria.PTX_SIGNATURES)
from . import histogram  # noqa: E402  (issue 8)
from .histogram import *  # noqa: E402,F401,F403  (issue 8: functions and kernels, for the PTX check)
PTX_SIGNATURES.update(histogram.PTX_SIGNATURES)  # (issue 8)
from . import grower  # noqa: E402  (issue 8: the GPU full fit)
from .grower import *  # noqa: E402,F401,F403  (the tree grower, losses and their kernels, for the PTX check)
PTX_SIGNATURES.update(grower.PTX_SIGNATURES)
