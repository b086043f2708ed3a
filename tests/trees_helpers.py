"""Helpers shared by the trees family's test modules."""
from __future__ import annotations

import math

import numpy as np
import pytest

from bagu_fast import _dispatch
from bagu_fast.trees import BinMapper

try:  # the estimators need scikit-learn (the kernels do not; a GPU image may lack it)
    import sklearn  # noqa: F401

    HAVE_SKLEARN = True
except ImportError:  # pragma: no cover
    HAVE_SKLEARN = False
needs_sklearn = pytest.mark.skipif(not HAVE_SKLEARN, reason="the estimators need scikit-learn")
needs_cuda = pytest.mark.skipif(not _dispatch.cuda_available(), reason="needs a GPU or NUMBA_ENABLE_CUDASIM=1")


def binned_data(rng, n, f, max_bins=15, nan_frac=0.1):
    """uint8 codes of ``n x f`` standard normal features with a fraction of NaN."""
    X = rng.standard_normal((n, f))
    X[rng.random(X.shape) < nan_frac] = np.nan
    return BinMapper(max_bins=max_bins).fit_transform(X)


CRITERIA = ("gini", "entropy", "gain_ratio")


def entropy_bits(*p):
    """Entropy in bits of the probabilities ``p`` (hand formula, independent of the package)."""
    return -sum(x * math.log2(x) for x in p if x > 0)
