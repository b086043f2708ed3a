"""Optional dependencies, imported in one place.

The estimators follow scikit-learn's API and build on its base classes and validation helpers.
scikit-learn is an optional dependency: without it the modules still import (the kernels work),
the estimators' classes exist, and constructing or fitting one raises :func:`need_sklearn`'s
ImportError.
"""
from __future__ import annotations

try:
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin

    SKLEARN_ERROR: ImportError | None = None
except ImportError as _exc:
    SKLEARN_ERROR = _exc

    class BaseEstimator:  # type: ignore[no-redef]
        pass

    class ClassifierMixin:  # type: ignore[no-redef]
        pass

    class RegressorMixin:  # type: ignore[no-redef]
        pass


def need_sklearn(what: str = "the trees estimators") -> None:
    """Raise a clear ImportError when scikit-learn is missing."""
    if SKLEARN_ERROR is not None:
        raise ImportError(f"{what} need scikit-learn (pip install scikit-learn): {SKLEARN_ERROR}")


__all__ = ["BaseEstimator", "ClassifierMixin", "RegressorMixin", "SKLEARN_ERROR", "need_sklearn"]
