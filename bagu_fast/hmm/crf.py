"""Linear-chain CRF with pytorch-crf's conventions, batched, with an analytic gradient.

``emissions [B, T, K]`` (batch first), ``transitions [K, K]`` (``transitions[i, j]`` = score of
tag ``i`` followed by tag ``j``), ``start_transitions [K]``, ``end_transitions [K]``, ``lengths [B]``
(valid positions first, padding after; ``None`` = all ``T``).  The score of a tag sequence ``y`` of
length ``L`` is ``start[y_0] + sum_t emissions[t, y_t] + sum_t transitions[y_{t-1}, y_t] + end[y_{L-1}]``;
``log p(y | x) = score(y) - log Z``.  Scores are any real numbers or ``-inf`` (a forbidden tag /
transition); NaN and ``+inf`` are rejected.
"""
from __future__ import annotations

from typing import Any, Optional, Tuple, Union

import numpy as np

from .. import _dispatch, _validate
from .._validate import ArrayLike
from . import _checks

__all__ = ["crf_log_partition", "crf_marginals", "crf_decode", "crf_log_likelihood"]


def _prepare(emissions, transitions, start_transitions, end_transitions, lengths, backend, tags=None,
             need_tags=False):
    inputs = (emissions, transitions, start_transitions, end_transitions)
    backend = _dispatch.resolve_backend(backend, *inputs)
    em = _dispatch.prepare_array(emissions, "emissions")
    tr = _dispatch.prepare_array(transitions, "transitions")
    st = _dispatch.prepare_array(start_transitions, "start_transitions")
    en = _dispatch.prepare_array(end_transitions, "end_transitions")
    dtype = _validate.float_arrays(emissions=em, transitions=tr, start_transitions=st, end_transitions=en)
    _checks.ndim(em, "emissions", 3, "[B, T, K]")
    B, T, K = (int(d) for d in em.shape)
    if K < 1:
        raise ValueError("emissions must have at least one tag (K >= 1 on the last axis)")
    if tuple(tr.shape) != (K, K):
        raise ValueError(f"transitions must have shape ({K}, {K}) to match emissions' K, got {tuple(tr.shape)}")
    for arr, name in ((st, "start_transitions"), (en, "end_transitions")):
        if tuple(arr.shape) != (K,):
            raise ValueError(f"{name} must have shape ({K},), got {tuple(arr.shape)}")
    seq_len = _checks.padded_lengths(lengths, B, T)
    for arr, name in ((em, "emissions"), (tr, "transitions"), (st, "start_transitions"), (en, "end_transitions")):
        _checks.no_nan_or_posinf_any(arr, name)
    tags_flat = _checks.crf_tags(tags, B, T, K, seq_len) if need_tags else None
    seq_start = np.arange(B, dtype=np.int64) * T
    args = (st, tr, en, _dispatch.reshape(em, (B * T, K)), seq_start, seq_len)
    return backend, args, (B, T, K), dtype, tags_flat


def crf_log_partition(
    emissions: ArrayLike,
    transitions: ArrayLike,
    start_transitions: ArrayLike,
    end_transitions: ArrayLike,
    lengths: Optional[ArrayLike] = None,
    *,
    backend: str = "auto",
) -> Any:
    """Log partition function ``log Z`` of each sequence.

    Parameters
    ----------
    emissions : array ``[B, T, K]``
        Emission scores (float32 or float64).
    transitions : array ``[K, K]``
        ``transitions[i, j]``: score of tag ``i`` followed by tag ``j``.
    start_transitions, end_transitions : arrays ``[K]``
        Scores of the first / last tag.
    lengths : array of int ``[B]``, optional
        Valid positions of each sequence (``1 <= lengths[b] <= T``); ``None``: all ``T``.
    backend : {"auto", "cpu", "cuda", "reference"}

    Returns
    -------
    array ``[B]``
        ``log sum_y exp(score(y))`` over all tag sequences of each length.
    """
    backend, args, (B, T, K), dtype, _ = _prepare(emissions, transitions, start_transitions, end_transitions,
                                                  lengths, backend)
    logz, _ = _dispatch.kernels("hmm", backend).forward(*args, False)
    return _dispatch.wrap_like(logz, emissions)


def crf_marginals(
    emissions: ArrayLike,
    transitions: ArrayLike,
    start_transitions: ArrayLike,
    end_transitions: ArrayLike,
    lengths: Optional[ArrayLike] = None,
    *,
    backend: str = "auto",
) -> Any:
    """Tag marginals ``p(y_t = k | x)``, ``[B, T, K]``.

    Arguments as :func:`crf_log_partition`.  Rows of valid positions sum to 1; padding
    positions (and every position of a sequence whose every tagging is forbidden) are 0.
    """
    backend, args, (B, T, K), dtype, _ = _prepare(emissions, transitions, start_transitions, end_transitions,
                                                  lengths, backend)
    gamma, _ = _dispatch.kernels("hmm", backend).posteriors(*args)
    return _dispatch.wrap_like(_dispatch.reshape(gamma, (B, T, K)), emissions)


def crf_decode(
    emissions: ArrayLike,
    transitions: ArrayLike,
    start_transitions: ArrayLike,
    end_transitions: ArrayLike,
    lengths: Optional[ArrayLike] = None,
    *,
    backend: str = "auto",
) -> Tuple[Any, Any]:
    """Best tag sequence of each sequence (Viterbi), as ``torchcrf.CRF.decode``.

    Arguments as :func:`crf_log_partition`.  Ties go to the lowest tag index.

    Returns
    -------
    tags : int32 array ``[B, T]``
        The best tags; ``-1`` past each sequence's length.
    scores : array ``[B]``
        Score of each best tag sequence (``-inf`` if every tagging is forbidden).
    """
    backend, args, (B, T, K), dtype, _ = _prepare(emissions, transitions, start_transitions, end_transitions,
                                                  lengths, backend)
    path, score = _dispatch.kernels("hmm", backend).viterbi(*args)
    return _dispatch.wrap_like(_dispatch.reshape(path, (B, T)), emissions), _dispatch.wrap_like(score, emissions)


def crf_log_likelihood(
    emissions: ArrayLike,
    tags: ArrayLike,
    transitions: ArrayLike,
    start_transitions: ArrayLike,
    end_transitions: ArrayLike,
    lengths: Optional[ArrayLike] = None,
    *,
    return_grad: bool = False,
    backend: str = "auto",
) -> Union[Any, Tuple[Any, Tuple[Any, Any, Any, Any]]]:
    """``log p(tags | emissions)`` of each sequence, optionally with its gradient.

    Parameters
    ----------
    emissions, transitions, start_transitions, end_transitions, lengths
        As :func:`crf_log_partition`.
    tags : int array ``[B, T]``
        Gold tags in ``[0, K)`` at valid positions (padding positions are ignored, so the
        ``-1`` of :func:`crf_decode` may stay there).
    return_grad : bool
        Also return the gradient of ``sum_b log p(tags_b | x_b)`` (pytorch-crf's
        ``reduction="sum"``) with respect to every input: observed minus expected counts.
    backend : {"auto", "cpu", "cuda", "reference"}

    Returns
    -------
    llh : array ``[B]``
        ``score(tags) - log Z``; ``-inf`` when the gold tags are forbidden (or every tagging is).
    grads : tuple ``(d_emissions [B, T, K], d_transitions [K, K], d_start [K], d_end [K])``
        Only with ``return_grad=True``; zero at padding positions, and zero for a sequence whose
        every tagging is forbidden.
    """
    return_grad = _validate.flag(return_grad, "return_grad")
    backend, args, (B, T, K), dtype, tags_flat = _prepare(
        emissions, transitions, start_transitions, end_transitions, lengths, backend, tags=tags, need_tags=True)
    if not isinstance(args[3], np.ndarray):
        from numba import cuda

        tags_arg = cuda.to_device(tags_flat)
    else:
        tags_arg = tags_flat
    st, tr, en, em, seq_start, seq_len = args
    llh, g_em, g_tr, g_st, g_en = _dispatch.kernels("hmm", backend).crf_grad(
        st, tr, en, em, tags_arg, seq_start, seq_len)
    w = lambda x: _dispatch.wrap_like(x, emissions)  # noqa: E731
    if not return_grad:
        return w(llh)
    return w(llh), (w(_dispatch.reshape(g_em, (B, T, K))), w(g_tr), w(g_st), w(g_en))
