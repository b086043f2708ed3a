"""bagu_fast: fast kernels for classic ML algorithms.

Every kernel-backed function takes ``backend="auto" | "cpu" | "cuda" | "reference"``: a Numba JIT CPU
kernel, a Numba CUDA kernel, or an obviously correct NumPy reference.
"""
from .attention import multi_head_attention, scaled_dot_product_attention, sinusoidal_positional_encoding
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
    "apply_editops",
    "cdist",
    "cpdist",
    "levenshtein",
    "levenshtein_editops",
    "multi_head_attention",
    "normalized_levenshtein",
    "scaled_dot_product_attention",
    "sinusoidal_positional_encoding",
]
