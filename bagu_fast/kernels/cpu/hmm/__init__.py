"""Numba CPU kernels for the sequence-model family (HMM and linear-chain CRF share them).

Raw signature and semantics: see :mod:`bagu_fast.kernels.reference.hmm`.  Inputs of either float
dtype are computed in float64 (the recursions are latency-bound, and long sequences need the
range); results come back in the input dtype.  Every kernel is compiled for one signature only.

One module per concept, the launchers re-exported here:

- ``scaled``: the scaled linear-domain recurrences of one sequence, and the rule that decides when
  a sequence may use them (stated in its docstring);
- ``logspace``: the log-space recurrences (the fallback, and the log-valued outputs);
- ``forward_backward``: log-likelihoods and posteriors / expected transition counts over many
  sequences, scaled with the log-space fallback;
- ``decoding``: Viterbi (max-plus) decoding;
- ``crf``: the observed part of the CRF gradient;
- ``_launch``: the launchers with the raw signature, and the thread count of each call;
- ``_common``: the fastmath flags and inlined scalar helpers they share.

* Sequences are independent: ``prange`` over sequences.  Kernels that sum over sequences (the
  expected counts, the CRF gradient) split them into ``min(S, 64)`` fixed strided chunks, each with
  its own accumulator, summed in chunk order afterwards, so the result does not depend on the
  number of threads.  Each call cuts numba's thread count to the sequences it has and to one
  thread per ``_MIN_WORK_PER_THREAD`` transitions (:func:`_launch._region`): a single long
  sequence runs on the calling thread alone (a step of an ``N = 64`` chain is about a microsecond
  of work, less than a parallel-region barrier), small batches do not wake a team.
* No allocation per time step: per-sequence scratch (a few rows) comes from per-chunk buffers.
"""
from ._launch import backward, crf_grad, expected_counts, forward, posteriors, viterbi

__all__ = ["forward", "backward", "posteriors", "viterbi", "expected_counts", "crf_grad"]
