"""The HMM estimators, with hmmlearn's API and attribute names, in one namespace.

Each lives in its own module: :mod:`.categorical` (CategoricalHMM), :mod:`.gaussian`
(GaussianHMM), on the shared EM logic of :mod:`._base` and the :mod:`._monitor`.
"""
from ._monitor import ConvergenceMonitor
from .categorical import CategoricalHMM
from .gaussian import COVARIANCE_TYPES, GaussianHMM

__all__ = ["CategoricalHMM", "GaussianHMM", "ConvergenceMonitor", "COVARIANCE_TYPES"]
