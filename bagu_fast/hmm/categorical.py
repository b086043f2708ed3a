"""CategoricalHMM: discrete emissions, as ``hmmlearn.hmm.CategoricalHMM``."""
from __future__ import annotations

from typing import Any, Optional

import numpy as np

from ._base import _BaseHMM, _check_random_state, _dtype_name, _host_array, _log, _normalize

__all__ = ["CategoricalHMM"]


class CategoricalHMM(_BaseHMM):
    """Hidden Markov model with categorical (discrete) emissions, as ``hmmlearn.hmm.CategoricalHMM``.

    Parameters
    ----------
    n_components : int
        Number of states.
    startprob_prior, transmat_prior, emissionprob_prior : float or array
        Dirichlet concentration parameters (1 = maximum likelihood).
    n_features : int, optional
        Number of symbols; default ``max(X) + 1`` at the first fit.
    algorithm : {"viterbi", "map"}
        Decoder of ``decode`` / ``predict``.
    random_state : None, int or numpy.random.RandomState
        Initialisation (hmmlearn's draws: ``dirichlet`` for start / transitions, ``rand`` for
        the emission matrix).
    n_iter : int
        Maximum number of EM iterations.
    tol : float
        Stop when the log-likelihood improves by less than ``tol``.
    verbose : bool
        Print each iteration's log-likelihood.
    params, init_params : str
        Letters of the parameters to update / initialise: ``s`` start, ``t`` transitions,
        ``e`` emissions.
    backend : {"auto", "cpu", "cuda", "reference"}
        Backend of the E-step / inference kernels.

    Attributes
    ----------
    startprob_ : array ``[n_components]``
    transmat_ : array ``[n_components, n_components]``
    emissionprob_ : array ``[n_components, n_features]``
    monitor_ : ConvergenceMonitor
        ``monitor_.history``: the log-likelihood at each iteration (never decreasing beyond
        rounding).

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[0], [1], [1], [0], [1], [1], [1], [0]])
    >>> model = CategoricalHMM(2, n_iter=5, random_state=0).fit(X)
    >>> model.transmat_.shape, model.emissionprob_.shape
    ((2, 2), (2, 2))
    """

    _emission_letters = "e"
    _emission_attrs = ("emissionprob_",)

    def __init__(self, n_components: int = 1, *, startprob_prior: Any = 1.0, transmat_prior: Any = 1.0,
                 emissionprob_prior: Any = 1.0, n_features: Optional[int] = None, algorithm: str = "viterbi",
                 random_state: Any = None, n_iter: int = 10, tol: float = 1e-2, verbose: bool = False,
                 params: str = "ste", init_params: str = "ste", backend: str = "auto") -> None:
        super().__init__(n_components, startprob_prior, transmat_prior, algorithm, random_state, n_iter, tol,
                         verbose, params, init_params, backend)
        self.emissionprob_prior = emissionprob_prior
        self.n_features = n_features

    def _check_X(self, X: Any, fitting: bool) -> np.ndarray:
        arr = _host_array(X, "X")
        if arr.dtype == np.bool_ or not np.issubdtype(arr.dtype, np.integer):
            raise TypeError(f"X must hold integer symbols, got {_dtype_name(arr)}")
        if arr.ndim == 1:
            arr = arr[:, None]
        if arr.ndim != 2 or arr.shape[1] != 1:
            raise ValueError(f"X must have shape [n_samples, 1] (one symbol per row), got {arr.shape}")
        if arr.shape[0] == 0:
            raise ValueError("X must hold at least one sample")
        if arr.min() < 0:
            raise ValueError(f"X must hold symbols >= 0, got {int(arr.min())}")
        if fitting and self.n_features is None:
            self.n_features = int(arr.max()) + 1
        nf = self.n_features if self.n_features is not None else getattr(self, "emissionprob_", np.zeros((1, 0))).shape[1]
        if int(arr.max()) >= nf:
            raise ValueError(f"X holds symbol {int(arr.max())} but the model emits symbols 0..{nf - 1}")
        return arr.astype(np.int64, copy=False)

    def _init(self, X: np.ndarray) -> None:
        self._init_start_trans()
        rs = _check_random_state(self.random_state)
        self.random_state = rs  # as hmmlearn (its emission draw uses the estimator's state)
        if self._needs_init("e", "emissionprob_"):
            self.emissionprob_ = rs.rand(self.n_components, self.n_features)
            _normalize(self.emissionprob_, axis=1)

    def _check(self) -> None:
        super()._check()
        self.emissionprob_ = np.atleast_2d(np.asarray(self.emissionprob_, dtype=np.float64))
        if self.n_features is None:
            self.n_features = self.emissionprob_.shape[1]
        if self.emissionprob_.shape != (self.n_components, self.n_features):
            raise ValueError(f"emissionprob_ must have shape ({self.n_components}, {self.n_features}), "
                             f"got {self.emissionprob_.shape}")
        if not np.all(np.isfinite(self.emissionprob_)) or (self.emissionprob_ < 0).any():
            raise ValueError("emissionprob_ must hold finite probabilities >= 0")
        self._check_sum_1("emissionprob_")

    def _log_emission(self, X: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(_log(self.emissionprob_)[:, X[:, 0]].T)

    def _emission_stats(self, stats: dict, X: np.ndarray, gamma: np.ndarray) -> None:
        if "e" in self.params:
            sym = X[:, 0]
            stats["obs"] = np.stack([np.bincount(sym, weights=gamma[:, i], minlength=self.n_features)
                                     for i in range(self.n_components)])

    def _do_mstep(self, stats: dict) -> None:
        super()._do_mstep(stats)
        if "e" in self.params:
            self.emissionprob_ = np.maximum(self.emissionprob_prior - 1 + stats["obs"], 0)
            _normalize(self.emissionprob_, axis=1)

    def _generate_sample_from_state(self, state: int, rs: np.random.RandomState) -> list:
        cdf = np.cumsum(self.emissionprob_[state, :])
        return [(cdf > rs.rand()).argmax()]
