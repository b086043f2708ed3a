"""bagu_fast: fast kernels for classic ML algorithms.

Every kernel-backed function takes ``backend="auto" | "cpu" | "cuda" | "reference"``: a Numba JIT CPU
kernel, a Numba CUDA kernel, or an obviously correct NumPy reference.
"""
from .attention import (
    multi_head_attention,
    scaled_dot_product_attention,
    scaled_dot_product_attention_backward,
    sinusoidal_positional_encoding,
)
from .hmm import (
    CategoricalHMM,
    GaussianHMM,
    backward,
    baum_welch_stats,
    crf_decode,
    crf_log_likelihood,
    crf_log_partition,
    crf_marginals,
    forward,
    posteriors,
    viterbi,
)
from .recurrent import (
    gru,
    gru_cell,
    gru_param_count,
    lstm,
    lstm_cell,
    lstm_param_count,
    rnn,
    rnn_cell,
    rnn_param_count,
)
from .recurrent_backward import (
    RecurrentCache,
    gru_backward,
    gru_cell_backward,
    lstm_backward,
    lstm_cell_backward,
    rnn_backward,
    rnn_cell_backward,
)
from .strings import (
    apply_editops,
    cdist,
    cpdist,
    levenshtein,
    levenshtein_editops,
    normalized_levenshtein,
)

__version__ = "0.1.0"

__all__ = [
    "CategoricalHMM",
    "GaussianHMM",
    "apply_editops",
    "backward",
    "baum_welch_stats",
    "crf_decode",
    "crf_log_likelihood",
    "crf_log_partition",
    "crf_marginals",
    "forward",
    "gru",
    "gru_cell",
    "gru_param_count",
    "lstm",
    "lstm_cell",
    "lstm_param_count",
    "posteriors",
    "rnn",
    "rnn_cell",
    "rnn_param_count",
    "RecurrentCache",
    "lstm_backward",
    "gru_backward",
    "rnn_backward",
    "lstm_cell_backward",
    "gru_cell_backward",
    "rnn_cell_backward",
    "trees",
    "viterbi",
    "cdist",
    "cpdist",
    "levenshtein",
    "levenshtein_editops",
    "multi_head_attention",
    "normalized_levenshtein",
    "scaled_dot_product_attention",
    "scaled_dot_product_attention_backward",
    "sinusoidal_positional_encoding",
]


def __getattr__(name: str):
    # bagu_fast.trees (estimators built on scikit-learn's base classes) loads on first use, so
    # that `import bagu_fast` stays light.
    if name == "trees":
        import importlib

        return importlib.import_module(".trees", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
