"""HMM inference on log-probabilities: forward, backward, posteriors, Viterbi, Baum-Welch statistics.

The model is given in log space, so any emission model works: ``log_startprob [N]``,
``log_transmat [N, N]`` (row = from, column = to: ``alpha_t(i) = sum_j alpha_{t-1}(j) a_ji b_i(o_t)``)
and ``log_emission [T, N] = log p(o_t | state)``.  Several sequences are concatenated along ``T``
and described by ``lengths`` (hmmlearn's convention); ``lengths=None`` means one sequence.

Every backend agrees with the log-space recurrences within rounding, whatever the zeros of the
model and the range of the emissions.  The cpu backend runs a sequence in the (faster) scaled
linear domain only while that provably loses no probability mass: for dense chains (no
forbidden transition, scores spread by less than about 430 nats) always, otherwise while a
per-step test shows that no positive forward value underflowed; other sequences run in log
space (:mod:`bagu_fast.kernels.cpu.hmm.scaled` states the rule).  The cuda backend works in log space.
"""
from __future__ import annotations

from typing import Any, NamedTuple, Optional, Tuple, Union

import numpy as np

from .. import _dispatch, _validate
from .._validate import ArrayLike
from . import _checks

__all__ = ["forward", "backward", "posteriors", "viterbi", "baum_welch_stats", "BaumWelchStats"]


class BaumWelchStats(NamedTuple):
    """Expected sufficient statistics of one E-step (summed over the sequences).

    Attributes
    ----------
    start : array ``[N]``
        Expected number of sequences starting in each state (``sum_s gamma_s[0]``).
    trans : array ``[N, N]``
        Expected number of ``i -> j`` transitions (``sum_s sum_t xi_t(i, j)``).
    gamma : array ``[T, N]``
        State posteriors of every row (feed them to any emission model's M-step).
    loglik : array ``[n_seq]``
        Log-likelihood of each sequence under the current parameters.
    """

    start: Any
    trans: Any
    gamma: Any
    loglik: Any


def _prepare(log_startprob, log_transmat, log_emission, lengths, backend, *, check_model=True):
    """Validate; return (backend, kernel args, template)."""
    backend = _dispatch.resolve_backend(backend, log_startprob, log_transmat, log_emission)
    ls = _dispatch.prepare_array(log_startprob, "log_startprob")
    lt = _dispatch.prepare_array(log_transmat, "log_transmat")
    le = _dispatch.prepare_array(log_emission, "log_emission")
    dtype = _validate.float_arrays(log_startprob=ls, log_transmat=lt, log_emission=le)
    _checks.ndim(ls, "log_startprob", 1, "[N]")
    N = int(ls.shape[0])
    if N < 1:
        raise ValueError("log_startprob must have at least one state (N >= 1)")
    if tuple(lt.shape) != (N, N):
        raise ValueError(f"log_transmat must have shape ({N}, {N}) to match log_startprob, got {tuple(lt.shape)}")
    _checks.ndim(le, "log_emission", 2, f"[T, {N}]")
    if int(le.shape[1]) != N:
        raise ValueError(f"log_emission must have shape [T, {N}] (one column per state), got {tuple(le.shape)}")
    T = int(le.shape[0])
    seq_start, seq_len = _checks.hmm_lengths(lengths, T)
    if check_model:
        _checks.log_distribution(_dispatch.host(ls), "log_startprob", dtype)
        _checks.log_distribution(_dispatch.host(lt), "log_transmat", dtype)
    else:
        for arr, name in ((ls, "log_startprob"), (lt, "log_transmat")):
            _checks.no_nan_or_posinf(_dispatch.host(arr), name)
    _checks.no_nan_or_posinf_any(le, "log_emission")
    on_device = not isinstance(le, np.ndarray)
    end = np.zeros(N, dtype=dtype)
    if on_device:
        from numba import cuda

        end = cuda.to_device(end)
    return backend, (ls, lt, end, le, seq_start, seq_len), log_emission


def _kernels(backend: str):
    return _dispatch.kernels("hmm", backend)


def forward(
    log_startprob: ArrayLike,
    log_transmat: ArrayLike,
    log_emission: ArrayLike,
    lengths: Optional[ArrayLike] = None,
    *,
    return_alpha: bool = False,
    backend: str = "auto",
) -> Union[Any, Tuple[Any, Any]]:
    """Forward algorithm: log-likelihood of each sequence (and the log forward lattice).

    Parameters
    ----------
    log_startprob : array ``[N]``
        Log initial-state probabilities (float32 or float64; entries <= 0, ``-inf`` allowed;
        ``sum(exp)`` must be 1 within 1e-6 for float64, 1e-4 for float32).
    log_transmat : array ``[N, N]``
        Log transition probabilities, row = from state, column = to state; every row
        normalised as ``log_startprob``.  ``-inf`` forbids a transition.
    log_emission : array ``[T, N]``
        ``log p(o_t | state)`` of every row; any real or ``-inf`` (log-densities may be
        positive); NaN and ``+inf`` are rejected.
    lengths : array of int ``[n_seq]``, optional
        Lengths of the sequences concatenated along ``T`` (each >= 1, summing to ``T``);
        ``None``: one sequence of length ``T >= 1``.
    return_alpha : bool
        Also return ``log alpha [T, N]``, ``log p(o_0..o_t, state_t = i)`` within each sequence.
    backend : {"auto", "cpu", "cuda", "reference"}

    Returns
    -------
    loglik : array ``[n_seq]``
        ``log p(sequence)``; ``-inf`` for an impossible sequence.
    alpha : array ``[T, N]``
        Only with ``return_alpha=True``.

    Examples
    --------
    >>> import numpy as np
    >>> ls = np.log([0.6, 0.4]); lt = np.log([[0.7, 0.3], [0.4, 0.6]])
    >>> le = np.log([[0.5, 0.1], [0.4, 0.3], [0.1, 0.6]])  # 3 observations
    >>> float(np.exp(forward(ls, lt, le)[0]))  # doctest: +ELLIPSIS
    0.03628...
    """
    return_alpha = _validate.flag(return_alpha, "return_alpha")
    backend, args, tmpl = _prepare(log_startprob, log_transmat, log_emission, lengths, backend)
    logz, alpha = _kernels(backend).forward(*args, return_alpha)
    logz = _dispatch.wrap_like(logz, tmpl)
    if return_alpha:
        return logz, _dispatch.wrap_like(alpha, tmpl)
    return logz


def backward(
    log_startprob: ArrayLike,
    log_transmat: ArrayLike,
    log_emission: ArrayLike,
    lengths: Optional[ArrayLike] = None,
    *,
    backend: str = "auto",
) -> Any:
    """Backward algorithm: ``log beta_t(i) = log p(o_{t+1} .. o_{L-1} | state_t = i)`` per sequence.

    Parameters
    ----------
    log_startprob, log_transmat, log_emission, lengths, backend
        As :func:`forward` (``log_startprob`` is checked but not used).

    Returns
    -------
    array ``[T, N]``
        Log-beta of every row; the last row of each sequence is 0.
    """
    backend, args, tmpl = _prepare(log_startprob, log_transmat, log_emission, lengths, backend)
    return _dispatch.wrap_like(_kernels(backend).backward(*args), tmpl)


def posteriors(
    log_startprob: ArrayLike,
    log_transmat: ArrayLike,
    log_emission: ArrayLike,
    lengths: Optional[ArrayLike] = None,
    *,
    backend: str = "auto",
) -> Tuple[Any, Any]:
    """State posteriors ``gamma_t(i) = p(state_t = i | sequence)`` and log-likelihoods.

    Parameters
    ----------
    log_startprob, log_transmat, log_emission, lengths, backend
        As :func:`forward`.

    Returns
    -------
    gamma : array ``[T, N]``
        Rows sum to 1 (rows of an impossible sequence are 0).
    loglik : array ``[n_seq]``
    """
    backend, args, tmpl = _prepare(log_startprob, log_transmat, log_emission, lengths, backend)
    gamma, logz = _kernels(backend).posteriors(*args)
    return _dispatch.wrap_like(gamma, tmpl), _dispatch.wrap_like(logz, tmpl)


def viterbi(
    log_startprob: ArrayLike,
    log_transmat: ArrayLike,
    log_emission: ArrayLike,
    lengths: Optional[ArrayLike] = None,
    *,
    backend: str = "auto",
) -> Tuple[Any, Any]:
    """Most likely state path of each sequence (Viterbi).

    Parameters
    ----------
    log_startprob, log_transmat, log_emission, lengths, backend
        As :func:`forward`.

    Returns
    -------
    path : int32 array ``[T]``
        The best state of every row.
    logprob : array ``[n_seq]``
        Log-probability of each best path (``-inf`` when the sequence is impossible; its path is
        then arbitrary but deterministic).

    Notes
    -----
    Ties go to the lowest state index: among equal back-pointer candidates and among equal final
    scores, the smallest state wins (so paths are identical on every backend).  ``-inf`` entries
    (forbidden transitions / impossible emissions) are never on a path of finite score.
    """
    backend, args, tmpl = _prepare(log_startprob, log_transmat, log_emission, lengths, backend)
    path, score = _kernels(backend).viterbi(*args)
    return _dispatch.wrap_like(path, tmpl), _dispatch.wrap_like(score, tmpl)


def baum_welch_stats(
    log_startprob: ArrayLike,
    log_transmat: ArrayLike,
    log_emission: ArrayLike,
    lengths: Optional[ArrayLike] = None,
    *,
    backend: str = "auto",
) -> BaumWelchStats:
    """Expected counts of one Baum-Welch E-step, for any emission model.

    Parameters
    ----------
    log_startprob, log_transmat, log_emission, lengths, backend
        As :func:`forward`.

    Returns
    -------
    BaumWelchStats
        ``(start [N], trans [N, N], gamma [T, N], loglik [n_seq])``: expected start counts,
        expected transition counts (summed over sequences; a sequence of length 1 has none),
        the state posteriors and the log-likelihoods.  An impossible sequence contributes
        nothing.  The M-step for start / transitions is ``start / start.sum()`` and
        ``trans / trans.sum(axis=1, keepdims=True)``.
    """
    backend, args, tmpl = _prepare(log_startprob, log_transmat, log_emission, lengths, backend)
    return _stats(backend, args, tmpl)


def _stats(backend, args, tmpl) -> BaumWelchStats:
    logz, c_start, c_trans, _c_end, gamma = _kernels(backend).expected_counts(*args)
    w = lambda x: _dispatch.wrap_like(x, tmpl)  # noqa: E731
    return BaumWelchStats(w(c_start), w(c_trans), w(gamma), w(logz))
