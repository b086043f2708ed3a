"""GaussianHMM: Gaussian emissions with four covariance types, as ``hmmlearn.hmm.GaussianHMM``."""
from __future__ import annotations

from typing import Any

import numpy as np
from scipy.linalg import LinAlgError, cholesky, solve_triangular

from .. import _validate
from ._base import _BaseHMM, _check_random_state, _dtype_name, _host_array
from ._kmeans import kmeans

__all__ = ["GaussianHMM", "COVARIANCE_TYPES"]

COVARIANCE_TYPES = ("spherical", "diag", "full", "tied")

_JITTER = 1e-7  # added to the diagonal of a covariance Cholesky cannot factor (hmmlearn's value)


def _cholesky(cv: np.ndarray, state: int) -> np.ndarray:
    """Lower Cholesky factor of ``cv``, or of ``cv + 1e-7 I`` when ``cv`` is singular (a state
    with one sample, or constant data), as hmmlearn's log-density."""
    try:
        return cholesky(cv, lower=True)
    except LinAlgError:
        try:
            return cholesky(cv + _JITTER * np.eye(cv.shape[0]), lower=True)
        except LinAlgError:
            raise ValueError(f"covars_ of state {state} must be symmetric, positive-definite "
                             f"(positive-definite once {_JITTER:g} is added to its diagonal)") from None


class GaussianHMM(_BaseHMM):
    """Hidden Markov model with Gaussian emissions, as ``hmmlearn.hmm.GaussianHMM``.

    Parameters
    ----------
    n_components : int
        Number of states.
    covariance_type : {"diag", "spherical", "full", "tied"}
        Covariance of each state: diagonal, one variance, full, or one full matrix shared.
    min_covar : float
        Added to the diagonal of the initial covariance.  (As hmmlearn, a full / tied covariance
        that is not positive-definite, e.g. of a state with one sample or constant data, is used
        with ``1e-7`` added to its diagonal, and a zero diagonal / spherical variance as the
        smallest positive float.)
    startprob_prior, transmat_prior, means_prior, means_weight, covars_prior, covars_weight
        Priors of the M-step (hmmlearn's defaults and formulas).
    algorithm, random_state, n_iter, tol, verbose, backend
        As :class:`CategoricalHMM`.
    params, init_params : str
        Letters from ``s`` start, ``t`` transitions, ``m`` means, ``c`` covariances.

    Attributes
    ----------
    startprob_, transmat_ : arrays
    means_ : array ``[n_components, n_features]``
    covars_ : array ``[n_components, n_features, n_features]``
        Full covariance of every state (the setter takes the shape of ``covariance_type``:
        ``[nc]`` spherical, ``[nc, nf]`` diag, ``[nc, nf, nf]`` full, ``[nf, nf]`` tied).
    monitor_ : ConvergenceMonitor

    Notes
    -----
    The means are initialised by k-means (k-means++ seeding, best of 10) written here, so the
    initial means differ from hmmlearn's (scikit-learn's KMeans); pass ``init_params`` without
    ``m`` and set ``means_`` to start from the same point.
    """

    _emission_letters = "mc"
    _emission_attrs = ("means_", "_covars_")

    def __init__(self, n_components: int = 1, covariance_type: str = "diag", min_covar: float = 1e-3, *,
                 startprob_prior: Any = 1.0, transmat_prior: Any = 1.0, means_prior: Any = 0, means_weight: Any = 0,
                 covars_prior: Any = 1e-2, covars_weight: Any = 1, algorithm: str = "viterbi", random_state: Any = None,
                 n_iter: int = 10, tol: float = 1e-2, verbose: bool = False, params: str = "stmc",
                 init_params: str = "stmc", backend: str = "auto") -> None:
        super().__init__(n_components, startprob_prior, transmat_prior, algorithm, random_state, n_iter, tol,
                         verbose, params, init_params, backend)
        self.covariance_type = covariance_type
        self.min_covar = min_covar
        self.means_prior = means_prior
        self.means_weight = means_weight
        self.covars_prior = covars_prior
        self.covars_weight = covars_weight

    # covars_ as hmmlearn: the getter returns full matrices
    @property
    def covars_(self) -> np.ndarray:
        c = np.asarray(self._covars_)
        nc, nf = self.n_components, self.means_.shape[1] if hasattr(self, "means_") else None
        if self.covariance_type == "full":
            return c
        if self.covariance_type == "diag":
            return np.array([np.diag(row) for row in c])
        if self.covariance_type == "tied":
            return np.tile(c, (nc, 1, 1))
        nf = nf or 1
        return np.array([np.eye(nf) * v for v in np.ravel(c)[:nc]])

    @covars_.setter
    def covars_(self, covars: Any) -> None:
        self._covars_ = np.array(covars, dtype=np.float64, copy=True)

    def _check_hyper(self) -> None:
        super()._check_hyper()
        _validate.choice(self.covariance_type, "covariance_type", COVARIANCE_TYPES)
        _validate.real_number(self.min_covar, "min_covar", minimum=0.0)

    def _check_X(self, X: Any, fitting: bool) -> np.ndarray:
        arr = _host_array(X, "X")
        if arr.dtype == np.bool_ or not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
            raise TypeError(f"X must hold real numbers, got {_dtype_name(arr)}")
        arr = arr.astype(np.float64, copy=False)
        if arr.ndim != 2:
            raise ValueError(f"X must have shape [n_samples, n_features], got {arr.shape}")
        if arr.shape[0] == 0 or arr.shape[1] == 0:
            raise ValueError(f"X must hold at least one sample of at least one feature, got shape {arr.shape}")
        if not np.all(np.isfinite(arr)):
            raise ValueError("X must be finite (no NaN or inf)")
        if not fitting and hasattr(self, "means_") and arr.shape[1] != np.shape(self.means_)[1]:
            raise ValueError(f"X has {arr.shape[1]} features but the model has {np.shape(self.means_)[1]}")
        return arr

    def _init(self, X: np.ndarray) -> None:
        self._init_start_trans()
        nc, nf = self.n_components, X.shape[1]
        if self._needs_init("m", "means_"):
            if X.shape[0] < nc:
                raise ValueError(f"X has {X.shape[0]} samples, fewer than n_components = {nc}, for the k-means init")
            self.means_ = kmeans(X, nc, _check_random_state(self.random_state))
        if self._needs_init("c", "_covars_"):
            cv = np.atleast_2d(np.cov(X.T)) + self.min_covar * np.eye(nf)
            if not cv.shape:
                cv.shape = (1, 1)
            self._covars_ = {
                "spherical": np.tile(cv.mean(), nc),
                "tied": cv,
                "diag": np.tile(np.diag(cv), (nc, 1)),
                "full": np.tile(cv, (nc, 1, 1)),
            }[self.covariance_type].copy()

    def _check(self) -> None:
        super()._check()
        self.means_ = np.asarray(self.means_, dtype=np.float64)
        nc = self.n_components
        if self.means_.ndim != 2 or self.means_.shape[0] != nc:
            raise ValueError(f"means_ must have shape ({nc}, n_features), got {self.means_.shape}")
        nf = self.means_.shape[1]
        c = np.asarray(self._covars_, dtype=np.float64)
        shape = {"spherical": [(nc,), (nc, nf)], "diag": [(nc, nf)], "full": [(nc, nf, nf)],
                 "tied": [(nf, nf)]}[self.covariance_type]
        if c.shape not in shape:
            raise ValueError(f"covars_ must have shape {shape[0]} for covariance_type={self.covariance_type!r}, "
                             f"got {c.shape}")
        if self.covariance_type == "spherical" and c.ndim == 2:
            c = c.mean(1)
        if not np.all(np.isfinite(c)):
            raise ValueError("covars_ must be finite")
        if self.covariance_type in ("spherical", "diag"):
            if (c < 0).any():
                raise ValueError("covars_ must be >= 0 (0 counts as the smallest positive variance)")
        else:
            for k, m in enumerate(c[None] if c.ndim == 2 else c):
                if not np.allclose(m, m.T):
                    raise ValueError(f"covars_ of state {k} must be symmetric")
                _cholesky(m, k)
        self._covars_ = c

    def _per_state(self, name: str) -> bool:
        return name != "_covars_" or self.covariance_type != "tied"

    def _log_emission(self, X: np.ndarray) -> np.ndarray:
        """log N(x_t; mean_k, covar_k) [n_samples, n_components], hmmlearn 0.3.3's formulas (one
        state at a time: temporaries of X's size)."""
        means, c = self.means_, self._covars_
        nf = X.shape[1]
        out = np.empty((X.shape[0], self.n_components))
        if self.covariance_type in ("spherical", "diag"):
            covars = c[:, None] * np.ones(nf) if self.covariance_type == "spherical" else c
            covars = np.maximum(covars, np.finfo(float).tiny)  # a zero variance: no 0 log 0
            with np.errstate(over="ignore"):
                for k in range(self.n_components):
                    out[:, k] = -0.5 * (nf * np.log(2 * np.pi) + np.log(covars[k]).sum()
                                        + ((X - means[k]) ** 2 / covars[k]).sum(axis=1))
            return out
        for k in range(self.n_components):
            chol = _cholesky(c if self.covariance_type == "tied" else c[k], k)
            y = solve_triangular(chol, (X - means[k]).T, lower=True)
            out[:, k] = -0.5 * (nf * np.log(2 * np.pi) + (y ** 2).sum(axis=0)) - np.log(np.diag(chol)).sum()
        return out

    def _emission_stats(self, stats: dict, X: np.ndarray, gamma: np.ndarray) -> None:
        if "m" in self.params or "c" in self.params:
            stats["post"] = gamma.sum(axis=0)
            stats["obs"] = gamma.T @ X
        if "c" in self.params:
            if self.covariance_type in ("spherical", "diag"):
                stats["obs**2"] = gamma.T @ X ** 2
            else:
                stats["obs*obs.T"] = np.einsum("ij,ik,il->jkl", gamma, X, X)

    def _do_mstep(self, stats: dict) -> None:
        super()._do_mstep(stats)
        means_prior, means_weight = self.means_prior, self.means_weight
        if "post" not in stats:
            return
        denom = stats["post"][:, None]
        if "m" in self.params:
            self.means_ = (means_weight * means_prior + stats["obs"]) / (means_weight + denom)
        if "c" in self.params:
            covars_prior, covars_weight = self.covars_prior, self.covars_weight
            meandiff = self.means_ - means_prior
            if self.covariance_type in ("spherical", "diag"):
                c_n = (means_weight * meandiff ** 2 + stats["obs**2"] - 2 * self.means_ * stats["obs"]
                       + self.means_ ** 2 * denom)
                c_d = max(covars_weight - 1, 0) + denom
                cov = (covars_prior + c_n) / np.maximum(c_d, 1e-5)
                self._covars_ = cov.mean(1) if self.covariance_type == "spherical" else cov
            else:
                nf = self.means_.shape[1]
                c_n = np.empty((self.n_components, nf, nf))
                for c in range(self.n_components):
                    obsmean = np.outer(stats["obs"][c], self.means_[c])
                    c_n[c] = (means_weight * np.outer(meandiff[c], meandiff[c]) + stats["obs*obs.T"][c]
                              - obsmean - obsmean.T + np.outer(self.means_[c], self.means_[c]) * stats["post"][c])
                cvweight = max(covars_weight - nf, 0)
                if self.covariance_type == "tied":
                    self._covars_ = (covars_prior + c_n.sum(axis=0)) / (cvweight + stats["post"].sum())
                else:
                    self._covars_ = (covars_prior + c_n) / (cvweight + stats["post"][:, None, None])

    def _generate_sample_from_state(self, state: int, rs: np.random.RandomState) -> np.ndarray:
        return rs.multivariate_normal(self.means_[state], self.covars_[state])
