"""NumPy reference: the stable partition of a node's rows by a split (gradient boosting).

``partition(sample_indices, binned, feature, bin, missing_go_to_left, missing_bin) -> (left, right)``
    Codes ``<= bin`` of column ``feature`` go left, code ``missing_bin`` goes left iff
    ``missing_go_to_left``; both outputs keep the input order.
"""
from __future__ import annotations

import numpy as np

__all__ = ["partition"]


def partition(sample_indices, binned, feature, bin, missing_go_to_left, missing_bin):
    codes = binned[sample_indices, feature]
    missing = codes == missing_bin
    left = np.where(missing, bool(missing_go_to_left), codes <= bin)
    return sample_indices[left], sample_indices[~left]
