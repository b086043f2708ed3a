"""Wagner–Fischer, one NumPy row at a time: the obviously correct edit distance."""
from __future__ import annotations

import numpy as np


def next_row(prev: np.ndarray, a_i, b: np.ndarray, i: int, weights: np.ndarray) -> np.ndarray:
    """Row i of the Wagner–Fischer table from row i-1:
    d[i, j] = min(d[i-1, j-1] + sub*(a_i != b_j), d[i-1, j] + del, d[i, j-1] + ins).
    The left-neighbour term is a running minimum along the row:
    d[i, j] = min_k<=j (best[k] + (j - k) * ins) = j*ins + cummin(best[k] - k*ins)."""
    ins, dele, sub = (int(w) for w in weights)
    best = np.empty_like(prev)
    best[0] = i * dele
    best[1:] = np.minimum(prev[:-1] + np.where(b == a_i, 0, sub), prev[1:] + dele)
    ramp = np.arange(len(prev), dtype=np.int64) * ins
    return np.minimum.accumulate(best - ramp) + ramp


def table(a: np.ndarray, b: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Full (len(a)+1) x (len(b)+1) Wagner–Fischer table (for tracing edit operations)."""
    d = np.empty((len(a) + 1, len(b) + 1), dtype=np.int64)
    d[0] = np.arange(len(b) + 1) * int(weights[0])
    for i in range(1, len(a) + 1):
        d[i] = next_row(d[i - 1], a[i - 1], b, i, weights)
    return d


def distance(a: np.ndarray, b: np.ndarray, weights: np.ndarray) -> int:
    """Bottom-right entry of the table, keeping one row at a time."""
    row = np.arange(len(b) + 1, dtype=np.int64) * int(weights[0])
    for i in range(1, len(a) + 1):
        row = next_row(row, a[i - 1], b, i, weights)
    return int(row[-1])
