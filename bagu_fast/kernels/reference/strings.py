"""NumPy reference for the edit-distance family: plain Wagner–Fischer.

Raw signatures shared with the cpu and cuda modules (inputs already validated):

* strings are packed as ``codes`` (uint8, uint32 or int64 symbol values, all strings
  concatenated; values compare across dtypes) and ``offsets`` (int64,
  ``n + 1`` entries; string ``i`` is ``codes[offsets[i]:offsets[i + 1]]``);
* ``weights`` is an int64 array ``[insert, delete, substitute]``.

``cdist`` returns an int64 matrix ``[n_queries, n_choices]``, ``cpdist`` an int64 vector;
``editops`` returns an int64 array ``[k, 3]`` of ``(kind, src_pos, dest_pos)`` with kind
0 = replace, 1 = insert, 2 = delete, ordered by position.
"""
from __future__ import annotations

import numpy as np

REPLACE, INSERT, DELETE = 0, 1, 2


def _next_row(prev: np.ndarray, a_i, b: np.ndarray, i: int, weights: np.ndarray) -> np.ndarray:
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


def _table(a: np.ndarray, b: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Full (len(a)+1) x (len(b)+1) Wagner–Fischer table (for tracing edit operations)."""
    d = np.empty((len(a) + 1, len(b) + 1), dtype=np.int64)
    d[0] = np.arange(len(b) + 1) * int(weights[0])
    for i in range(1, len(a) + 1):
        d[i] = _next_row(d[i - 1], a[i - 1], b, i, weights)
    return d


def _distance(a: np.ndarray, b: np.ndarray, weights: np.ndarray) -> int:
    """Bottom-right entry of the table, keeping one row at a time."""
    row = np.arange(len(b) + 1, dtype=np.int64) * int(weights[0])
    for i in range(1, len(a) + 1):
        row = _next_row(row, a[i - 1], b, i, weights)
    return int(row[-1])


def _split(codes: np.ndarray, offsets: np.ndarray) -> list[np.ndarray]:
    return [codes[offsets[i]:offsets[i + 1]] for i in range(len(offsets) - 1)]


def cdist(q_codes, q_offsets, c_codes, c_offsets, weights) -> np.ndarray:
    queries, choices = _split(q_codes, q_offsets), _split(c_codes, c_offsets)
    out = np.empty((len(queries), len(choices)), dtype=np.int64)
    for i, a in enumerate(queries):
        for j, b in enumerate(choices):
            out[i, j] = _distance(a, b, weights)
    return out


def cpdist(a_codes, a_offsets, b_codes, b_offsets, weights) -> np.ndarray:
    pairs = zip(_split(a_codes, a_offsets), _split(b_codes, b_offsets))
    return np.array([_distance(a, b, weights) for a, b in pairs], dtype=np.int64)


def editops(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Unit-weight edit script by tracing the full table back from the corner."""
    d = _table(a, b, np.ones(3, dtype=np.int64))
    ops = []
    i, j = len(a), len(b)
    while i > 0 or j > 0:
        if i > 0 and j > 0 and a[i - 1] == b[j - 1] and d[i, j] == d[i - 1, j - 1]:
            i, j = i - 1, j - 1
        elif i > 0 and j > 0 and d[i, j] == d[i - 1, j - 1] + 1:
            i, j = i - 1, j - 1
            ops.append((REPLACE, i, j))
        elif i > 0 and d[i, j] == d[i - 1, j] + 1:
            i -= 1
            ops.append((DELETE, i, j))
        else:
            j -= 1
            ops.append((INSERT, i, j))
    ops.reverse()
    return np.array(ops, dtype=np.int64).reshape(-1, 3)
