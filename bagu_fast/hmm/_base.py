"""The estimators' shared logic: hmmlearn's EM loop, inference methods and sampling.

The E-step runs on the family's kernels (the raw expected-counts kernel without the public
functions' normalisation check, since EM may leave a state with an all-zero transition row, as
hmmlearn does); the M-step and the initialisation follow hmmlearn 0.3.3 formula for formula, so
a fit from the same start gives the same log-likelihood history.  Everything is float64.
Subclasses (one per emission model) supply ``_check_X``, ``_init``, ``_check``,
``_log_emission``, ``_emission_stats``, ``_do_mstep`` and ``_generate_sample_from_state``.
"""
from __future__ import annotations

import math
import numbers
import warnings
from typing import Any, Optional, Tuple

import numpy as np

from .. import _dispatch, _validate
from . import _checks
from ._monitor import ConvergenceMonitor


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


def _host_array(x: Any, name: str) -> np.ndarray:
    """A NumPy array of ``x`` (nested sequences, pandas objects, torch tensors, device arrays
    copied to the host); TypeError naming ``name`` for None or what is not array-like."""
    return _dispatch.host(_dispatch.prepare_array(x, name))


def _dtype_name(arr: np.ndarray) -> str:
    if arr.dtype == np.object_:
        return "an array of Python objects (None, strings or mixed types?)"
    return f"dtype {arr.dtype}"


def _log(x: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return np.log(x)


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
        """(log-likelihood of each sequence, expected start counts, transition counts, gamma)."""
        backend, args, tmpl = self._kernel_args(X, lengths)
        logz, c_start, c_trans, _c_end, gamma = _dispatch.kernels("hmm", backend).expected_counts(*args)
        return np.asarray(logz), np.asarray(c_start), np.asarray(c_trans), np.asarray(gamma)

    # ---- EM safeguards -----------------------------------------------------------------------
    def _fitted_attrs(self) -> tuple:
        return ("startprob_", "transmat_") + self._emission_attrs

    def _per_state(self, name: str) -> bool:
        """Whether the first axis of the fitted attribute ``name`` runs over the states."""
        return True

    @staticmethod
    def _require_possible(logz: np.ndarray, iteration: int) -> None:
        """An impossible sequence gives EM nothing to learn from (zero probabilities stay zero)."""
        bad = np.flatnonzero(~np.isfinite(logz))
        if bad.size:
            raise ValueError(
                f"fit: sequence {int(bad[0])} of X has probability 0 under the parameters of iteration "
                f"{iteration + 1} (log-likelihood {float(logz[bad[0]])}), and EM cannot make it possible: give "
                "the states that can emit it a nonzero start, transition or emission probability")

    def _require_finite(self, before: dict, gamma: np.ndarray, iteration: int) -> None:
        """Refuse an M-step that left a parameter NaN / inf; the parameters go back to ``before``."""
        for name in self._fitted_attrs():
            value = np.asarray(getattr(self, name))
            if np.all(np.isfinite(value)):
                continue
            for attr, old in before.items():
                setattr(self, attr, old)
            weight = gamma.sum(axis=0)
            if self._per_state(name):
                states = np.flatnonzero(~np.isfinite(value.reshape(self.n_components, -1)).all(axis=1))
            else:
                states = np.flatnonzero(weight <= 0)
            public = name.lstrip("_")
            raise ValueError(
                f"fit: the M-step of iteration {iteration + 1} leaves {public} undefined (NaN / inf) for "
                f"state(s) {states.tolist()}, whose posterior weights are {weight[states].tolist()}: a state "
                "that receives no weight (start probability 0 and no transition into it, or emissions "
                "that rule it out) has no data to estimate it from.  The parameters are left as before "
                "that iteration.  Give such states a prior (means_weight > 0; covars_weight > n_features for "
                "full / tied covariances), "
                "a nonzero start or transition probability, or use fewer components")

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

        Raises
        ------
        ValueError
            When a sequence has probability 0 under the parameters of an iteration, or when an
            M-step would leave a parameter NaN / inf (a state that received no posterior weight,
            e.g. one that cannot be reached, and no prior to fall back on); the parameters are
            then those before that iteration.  As hmmlearn, a state from which no transition was
            observed keeps an all-zero ``transmat_`` row, with a RuntimeWarning.
        """
        self._check_hyper()
        X = self._check_X(X, fitting=True)
        self._lengths(X, lengths)
        self._init(X)
        self._check()
        self.monitor_._reset()
        for iteration in range(self.n_iter):
            logz, c_start, c_trans, gamma = self._estep(X, lengths)
            self._require_possible(logz, iteration)
            stats = {"start": c_start, "trans": c_trans}
            self._emission_stats(stats, X, gamma)
            before = {name: np.copy(getattr(self, name)) for name in self._fitted_attrs()}
            with np.errstate(divide="ignore", invalid="ignore"):  # 0 / 0 is reported below
                self._do_mstep(stats)
            self._require_finite(before, gamma, iteration)
            self.monitor_.report(float(np.sum(logz)))
            if self.monitor_.converged:
                break
        empty = np.flatnonzero(self.transmat_.sum(axis=1) == 0)
        if empty.size:
            warnings.warn(f"transmat_ rows of state(s) {empty.tolist()} sum to 0: no transition from them was "
                          "ever observed (the model cannot score data until they are set)", RuntimeWarning,
                          stacklevel=2)
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
            state of every sample (ties to the lowest state).  Default: the estimator's
            ``algorithm``.

        Returns
        -------
        logprob : float
            ``"viterbi"``: the log-probability of the best paths, summed over the sequences.
            ``"map"``: hmmlearn 0.3.3's value, ``sum_t max_i gamma_t(i)``, the sum over all
            samples of the largest state posterior (a sum of probabilities, not a
            log-probability, whatever its name).
        states : int array ``[n_samples]``
        """
        algorithm = self.algorithm if algorithm is None else algorithm
        _validate.choice(algorithm, "algorithm", ("viterbi", "map"))
        X = self._prepared(X, lengths)
        backend, args, _ = self._kernel_args(X, lengths)
        if algorithm == "viterbi":
            path, score = _dispatch.kernels("hmm", backend).viterbi(*args)
            return float(np.sum(score)), np.asarray(path).astype(np.int64)
        gamma = np.asarray(_dispatch.kernels("hmm", backend).posteriors(*args)[0])
        return float(gamma.max(axis=1).sum()), np.argmax(gamma, axis=1)

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
