"""Sequence models: HMM inference and estimators (hmmlearn's API) and the linear-chain CRF.

inference.py: forward, backward, posteriors, viterbi, baum_welch_stats (log-probabilities in).
categorical.py, gaussian.py: CategoricalHMM, GaussianHMM (hmmlearn's estimator API and attribute
names), on the EM loop of _base.py; models.py gathers them.
crf.py: crf_log_partition, crf_marginals, crf_decode, crf_log_likelihood (pytorch-crf's conventions).
Kernels: bagu_fast/kernels/{reference,cpu,cuda}/hmm.py, one linear-chain grid for both.
"""
from .crf import crf_decode, crf_log_likelihood, crf_log_partition, crf_marginals
from .inference import BaumWelchStats, backward, baum_welch_stats, forward, posteriors, viterbi
from .models import CategoricalHMM, GaussianHMM

__all__ = [
    "BaumWelchStats",
    "CategoricalHMM",
    "GaussianHMM",
    "backward",
    "baum_welch_stats",
    "crf_decode",
    "crf_log_likelihood",
    "crf_log_partition",
    "crf_marginals",
    "forward",
    "posteriors",
    "viterbi",
]
