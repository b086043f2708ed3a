"""HMM estimators with hmmlearn's API and attribute names: CategoricalHMM, GaussianHMM.

The E-step runs on the family's kernels (:func:`bagu_fast.hmm.baum_welch_stats` without the
normalisation check, since EM may leave a state with an all-zero transition row, as hmmlearn
does); the M-step and the initialisation follow hmmlearn 0.3.3 formula for formula, so a fit
from the same start gives the same log-likelihood history.  Everything is float64.
"""
from __future__ import annotations

import math
import numbers
from collections import deque
from typing import Any, Optional, Tuple

import numpy as np

from .. import _dispatch, _validate
from . import _checks

__all__ = ["CategoricalHMM", "GaussianHMM", "ConvergenceMonitor"]

COVARIANCE_TYPES = ("spherical", "diag", "full", "tied")


def _check_random_state(seed: Any) -> np.random.RandomState:
    """``None`` -> NumPy's global RandomState, int -> a new RandomState, RandomState -> itself."""
    if seed is None or seed is np.random:
        return np.random.mtrand._rand
    if isinstance(seed, numbers.Integral) and not isinstance(seed, bool):
        return np.random.RandomState(int(seed))
    if isinstance(seed, np.random.RandomState):
        return seed
    raise TypeError(f"random_state must be None, an int or a numpy.random.RandomState, got {type(seed).__name__}")


def _normalize(a: np.ndarray, axis: Optional[int] = None) -> None:
    """In place, as hmmlearn.utils.normalize (an all-zero row stays zero)."""
    a_sum = a.sum(axis)
    if axis and a.ndim > 1:
        a_sum[a_sum == 0] = 1
        shape = list(a.shape)
        shape[axis] = 1
        a_sum.shape = shape
    a /= a_sum


def _log(x: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return np.log(x)


class ConvergenceMonitor:
    """Log-likelihood history of a fit and hmmlearn's stopping rule.

    ``converged`` is True once ``n_iter`` iterations ran or the last improvement is below
    ``tol``.  ``history`` holds the log-likelihood of the data before each M-step.
    """

    def __init__(self, tol: float, n_iter: int, verbose: bool) -> None:
        self.tol = tol
        self.n_iter = n_iter
        self.verbose = verbose
        self.history: deque = deque()
        self.iter = 0

    def _reset(self) -> None:
        self.iter = 0
        self.history.clear()

    def report(self, log_prob: float) -> None:
        if self.verbose:
            delta = log_prob - self.history[-1] if self.history else float("nan")
            print(f"{self.iter + 1:>10d} {log_prob:>16.8f} {delta:>+16.8f}")
        self.history.append(log_prob)
        self.iter += 1

    @property
    def converged(self) -> bool:
        return self.iter == self.n_iter or (len(self.history) >= 2 and self.history[-1] - self.history[-2] < self.tol)


class _BaseHMM:
    """Shared estimator logic; subclasses supply the emission model."""

    _emission_letters = ""

    def __init__(self, n_components, startprob_prior, transmat_prior, algorithm, random_state, n_iter, tol,
                 verbose, params, init_params, backend):
        self.n_components = n_components
        self.startprob_prior = startprob_prior
        self.transmat_prior = transmat_prior
        self.algorithm = algorithm
        self.random_state = random_state
        self.n_iter = n_iter
        self.tol = tol
        self.verbose = verbose
        self.params = params
        self.init_params = init_params
        self.backend = backend
        self.monitor_ = ConvergenceMonitor(tol, n_iter, verbose)

    # ---- sklearn-style parameter access ------------------------------------------------------
    def get_params(self, deep: bool = True) -> dict:
        import inspect

        names = [p for p in inspect.signature(type(self).__init__).parameters if p != "self"]
        return {n: getattr(self, n) for n in names}

    def set_params(self, **params) -> "_BaseHMM":
        for k, v in params.items():
            if k not in self.get_params():
                raise ValueError(f"invalid parameter {k!r} for {type(self).__name__}")
            setattr(self, k, v)
        return self

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    # ---- checks ------------------------------------------------------------------------------
    def _check_hyper(self) -> None:
        self.n_components = _validate.integer(self.n_components, "n_components", minimum=1)
        self.n_iter = _validate.integer(self.n_iter, "n_iter", minimum=0)
        if math.isnan(_validate.real_number(self.tol, "tol", finite=False)):
            raise ValueError("tol must not be NaN")
        for name in ("params", "init_params"):
            value = getattr(self, name)
            if not isinstance(value, str):
                raise TypeError(f"{name} must be a string of letters from 'st{self._emission_letters}'")
            bad = set(value) - set("st" + self._emission_letters)
            if bad:
                raise ValueError(f"{name} has unknown letters {sorted(bad)}; allowed: 'st{self._emission_letters}'")
        _validate.choice(self.algorithm, "algorithm", ("viterbi", "map"))
        self.monitor_.tol, self.monitor_.n_iter, self.monitor_.verbose = self.tol, self.n_iter, self.verbose

    def _needs_init(self, code: str, name: str) -> bool:
        return code in self.init_params or not hasattr(self, name)

    def _check_sum_1(self, name: str) -> None:
        s = getattr(self, name).sum(axis=-1)
        if not np.allclose(s, 1):
            raise ValueError(f"{name} must sum to 1 along its last axis (got {s})")

    def _check(self) -> None:
        nc = self.n_components
        self.startprob_ = np.asarray(self.startprob_, dtype=np.float64)
        if self.startprob_.shape != (nc,):
            raise ValueError(f"startprob_ must have shape ({nc},), got {self.startprob_.shape}")
        self.transmat_ = np.asarray(self.transmat_, dtype=np.float64)
        if self.transmat_.shape != (nc, nc):
            raise ValueError(f"transmat_ must have shape ({nc}, {nc}), got {self.transmat_.shape}")
        for name in ("startprob_", "transmat_"):
            arr = getattr(self, name)
            if not np.all(np.isfinite(arr)) or (arr < 0).any():
                raise ValueError(f"{name} must hold finite probabilities >= 0")
        self._check_sum_1("startprob_")
        self._check_sum_1("transmat_")

    def _lengths(self, X: np.ndarray, lengths: Any) -> Any:
        _checks.hmm_lengths(lengths, X.shape[0])  # validates (raises naming `lengths`)
        return lengths

    def _check_fitted(self) -> None:
        for name in ("startprob_", "transmat_") + self._emission_attrs:
            if not hasattr(self, name):
                raise ValueError(f"{type(self).__name__} is not fitted: set {name} or call fit first")

    # ---- kernels -----------------------------------------------------------------------------
    def _kernel_args(self, X: np.ndarray, lengths: Any) -> tuple:
        """Kernel arguments from checked parameters and a checked X (no second validation pass:
        the log-parameters hold no NaN / +inf, and EM may leave all-zero rows that the public
        functions' normalisation check would refuse)."""
        le = self._log_emission(X)
        seq_start, seq_len = _checks.hmm_lengths(lengths, X.shape[0])
        backend = _dispatch.resolve_backend(self.backend, le)
        args = (_log(self.startprob_), _log(self.transmat_), np.zeros(self.n_components), le, seq_start, seq_len)
        return backend, args, le

    def _estep(self, X: np.ndarray, lengths: Any) -> tuple:
        backend, args, tmpl = self._kernel_args(X, lengths)
        logz, c_start, c_trans, _c_end, gamma = _dispatch.kernels("hmm", backend).expected_counts(*args)
        return float(np.sum(logz)), np.asarray(c_start), np.asarray(c_trans), np.asarray(gamma)

    # ---- public API --------------------------------------------------------------------------
    def fit(self, X: Any, lengths: Any = None) -> "_BaseHMM":
        """Estimate the parameters with Baum-Welch (EM), as ``hmmlearn``'s ``fit``.

        Parameters
        ----------
        X : array ``[n_samples, n_features]``
            Concatenated sequences (``[n_samples, 1]`` integer symbols for CategoricalHMM).
        lengths : array of int ``[n_sequences]``, optional
            Lengths of the sequences in ``X``, summing to ``n_samples``.

        Returns
        -------
        self
        """
        self._check_hyper()
        X = self._check_X(X, fitting=True)
        self._lengths(X, lengths)
        self._init(X)
        self._check()
        self.monitor_._reset()
        for _ in range(self.n_iter):
            logprob, c_start, c_trans, gamma = self._estep(X, lengths)
            stats = {"start": c_start, "trans": c_trans}
            self._emission_stats(stats, X, gamma)
            self._do_mstep(stats)
            self.monitor_.report(logprob)
            if self.monitor_.converged:
                break
        return self

    def _do_mstep(self, stats: dict) -> None:
        if "s" in self.params:
            startprob_ = np.maximum(self.startprob_prior - 1 + stats["start"], 0)
            self.startprob_ = np.where(self.startprob_ == 0, 0, startprob_)
            _normalize(self.startprob_)
        if "t" in self.params:
            transmat_ = np.maximum(self.transmat_prior - 1 + stats["trans"], 0)
            self.transmat_ = np.where(self.transmat_ == 0, 0, transmat_)
            _normalize(self.transmat_, axis=1)

    def _init_start_trans(self) -> None:
        nc = self.n_components
        init = 1.0 / nc
        rs = _check_random_state(self.random_state)
        if self._needs_init("s", "startprob_"):
            self.startprob_ = rs.dirichlet(np.full(nc, init))
        if self._needs_init("t", "transmat_"):
            self.transmat_ = rs.dirichlet(np.full(nc, init), size=nc)

    def _prepared(self, X: Any, lengths: Any) -> np.ndarray:
        self._check_hyper()
        self._check_fitted()
        self._check()
        X = self._check_X(X, fitting=False)
        self._lengths(X, lengths)
        return X

    def score(self, X: Any, lengths: Any = None) -> float:
        """Log-likelihood of ``X`` (summed over its sequences).

        Parameters
        ----------
        X : array ``[n_samples, n_features]``
            Concatenated sequences.
        lengths : array of int, optional
            Lengths of the sequences in ``X`` (default: one sequence).

        Returns
        -------
        float
        """
        X = self._prepared(X, lengths)
        backend, args, _ = self._kernel_args(X, lengths)
        logz, _ = _dispatch.kernels("hmm", backend).forward(*args, False)
        return float(np.sum(logz))

    def score_samples(self, X: Any, lengths: Any = None) -> Tuple[float, np.ndarray]:
        """Log-likelihood of ``X`` and the state posteriors of every sample.

        Parameters
        ----------
        X, lengths
            As :meth:`score`.

        Returns
        -------
        (float, array ``[n_samples, n_components]``)
        """
        X = self._prepared(X, lengths)
        backend, args, _ = self._kernel_args(X, lengths)
        gamma, logz = _dispatch.kernels("hmm", backend).posteriors(*args)
        return float(np.sum(logz)), np.asarray(gamma)

    def predict_proba(self, X: Any, lengths: Any = None) -> np.ndarray:
        """State posteriors of every sample.

        Parameters
        ----------
        X, lengths
            As :meth:`score`.

        Returns
        -------
        array ``[n_samples, n_components]``
        """
        return self.score_samples(X, lengths)[1]

    def decode(self, X: Any, lengths: Any = None, algorithm: Optional[str] = None) -> Tuple[float, np.ndarray]:
        """Most likely states of ``X``.

        Parameters
        ----------
        X, lengths
            As :meth:`score`.
        algorithm : {"viterbi", "map"}, optional
            ``"viterbi"``: the best path (ties to the lowest state); ``"map"``: the most probable
            state of every sample.  Default: the estimator's ``algorithm``.

        Returns
        -------
        logprob : float
            Log-probability of the best paths (``"viterbi"``) or, as hmmlearn, the
            log-likelihood of ``X`` (``"map"``).
        states : int array ``[n_samples]``
        """
        algorithm = self.algorithm if algorithm is None else algorithm
        _validate.choice(algorithm, "algorithm", ("viterbi", "map"))
        X = self._prepared(X, lengths)
        backend, args, _ = self._kernel_args(X, lengths)
        if algorithm == "viterbi":
            path, score = _dispatch.kernels("hmm", backend).viterbi(*args)
            return float(np.sum(score)), np.asarray(path).astype(np.int64)
        gamma, logz = _dispatch.kernels("hmm", backend).posteriors(*args)
        return float(np.sum(logz)), np.argmax(np.asarray(gamma), axis=1)

    def predict(self, X: Any, lengths: Any = None) -> np.ndarray:
        """Most likely state of every sample (``decode``'s state sequence).

        Parameters
        ----------
        X, lengths
            As :meth:`score`.

        Returns
        -------
        int array ``[n_samples]``
        """
        return self.decode(X, lengths)[1]

    def sample(self, n_samples: int = 1, random_state: Any = None, currstate: Optional[int] = None):
        """Draw a sample from the model (hmmlearn's algorithm and random draws, so the same
        ``random_state`` gives the same sample).

        Parameters
        ----------
        n_samples : int
            Length of the sample.
        random_state : None, int or numpy.random.RandomState, optional
            Default: the estimator's ``random_state``.
        currstate : int, optional
            Start in this state instead of drawing it from ``startprob_``.

        Returns
        -------
        X : array ``[n_samples, n_features]``
        states : int array ``[n_samples]``
        """
        n_samples = _validate.integer(n_samples, "n_samples", minimum=1)
        self._check_hyper()
        self._check_fitted()
        self._check()
        rs = _check_random_state(self.random_state if random_state is None else random_state)
        transmat_cdf = np.cumsum(self.transmat_, axis=1)
        if currstate is None:
            currstate = int((np.cumsum(self.startprob_) > rs.rand()).argmax())
        else:
            currstate = _validate.integer(currstate, "currstate", minimum=0)
            if currstate >= self.n_components:
                raise ValueError(f"currstate must be < n_components = {self.n_components}, got {currstate}")
        states = [currstate]
        X = [self._generate_sample_from_state(currstate, rs)]
        for _ in range(n_samples - 1):
            currstate = int((transmat_cdf[currstate] > rs.rand()).argmax())
            states.append(currstate)
            X.append(self._generate_sample_from_state(currstate, rs))
        return np.atleast_2d(X), np.array(states, dtype=int)


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
        arr = np.asarray(X)
        if arr.ndim == 1:
            arr = arr[:, None]
        if arr.ndim != 2 or arr.shape[1] != 1:
            raise ValueError(f"X must have shape [n_samples, 1] (one symbol per row), got {arr.shape}")
        if arr.dtype == np.bool_ or not np.issubdtype(arr.dtype, np.integer):
            raise TypeError(f"X must hold integer symbols, got dtype {arr.dtype}")
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


def _kmeans(X: np.ndarray, k: int, rs: np.random.RandomState, n_init: int = 10, max_iter: int = 100) -> np.ndarray:
    """Lloyd's k-means with k-means++ seeding, best of ``n_init`` (the means initialisation)."""
    best, best_inertia = None, np.inf
    n = X.shape[0]
    for _ in range(n_init):
        centers = np.empty((k, X.shape[1]))
        centers[0] = X[rs.randint(n)]
        d2 = ((X - centers[0]) ** 2).sum(1)
        for c in range(1, k):
            total = d2.sum()
            idx = rs.randint(n) if total <= 0 else int(np.searchsorted(np.cumsum(d2), rs.rand() * total))
            centers[c] = X[min(idx, n - 1)]
            d2 = np.minimum(d2, ((X - centers[c]) ** 2).sum(1))
        for _ in range(max_iter):
            dist = ((X[:, None, :] - centers[None]) ** 2).sum(-1)
            label = dist.argmin(1)
            new = np.array([X[label == c].mean(0) if np.any(label == c) else centers[c] for c in range(k)])
            if np.allclose(new, centers):
                centers = new
                break
            centers = new
        inertia = ((X - centers[((X[:, None, :] - centers[None]) ** 2).sum(-1).argmin(1)]) ** 2).sum()
        if inertia < best_inertia:
            best, best_inertia = centers, inertia
    return best


class GaussianHMM(_BaseHMM):
    """Hidden Markov model with Gaussian emissions, as ``hmmlearn.hmm.GaussianHMM``.

    Parameters
    ----------
    n_components : int
        Number of states.
    covariance_type : {"diag", "spherical", "full", "tied"}
        Covariance of each state: diagonal, one variance, full, or one full matrix shared.
    min_covar : float
        Added to the diagonal of the initial covariance.
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
        arr = np.asarray(X)
        if arr.dtype == np.bool_ or not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
            raise TypeError(f"X must hold real numbers, got dtype {arr.dtype}")
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
            self.means_ = _kmeans(X, nc, _check_random_state(self.random_state))
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
        if self.covariance_type in ("spherical", "diag"):
            if not np.all(np.isfinite(c)) or (c <= 0).any():
                raise ValueError("covars_ must be finite and positive")
        else:
            mats = c[None] if c.ndim == 2 else c
            for m in mats:
                if not np.allclose(m, m.T) or np.any(np.linalg.eigvalsh(m) <= 0):
                    raise ValueError("covars_ must be symmetric, positive-definite")
        self._covars_ = c

    def _log_emission(self, X: np.ndarray) -> np.ndarray:
        means, c = self.means_, self._covars_
        nf = X.shape[1]
        if self.covariance_type in ("spherical", "diag"):
            covars = c[:, None] * np.ones(nf) if self.covariance_type == "spherical" else c
            # hmmlearn's formula (log_multivariate_normal_density, diag)
            lpr = -0.5 * (nf * np.log(2 * np.pi) + np.sum(np.log(covars), 1) + np.sum((means ** 2) / covars, 1)
                          - 2 * np.dot(X, (means / covars).T) + np.dot(X ** 2, (1.0 / covars).T))
            return np.ascontiguousarray(lpr)
        mats = np.tile(c, (self.n_components, 1, 1)) if self.covariance_type == "tied" else c
        out = np.empty((X.shape[0], self.n_components))
        for k in range(self.n_components):
            chol = np.linalg.cholesky(mats[k])
            y = np.linalg.solve(chol, (X - means[k]).T)
            out[:, k] = -0.5 * (nf * np.log(2 * np.pi) + (y ** 2).sum(0)) - np.log(np.diag(chol)).sum()
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
