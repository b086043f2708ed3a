"""NumPy reference for the edit-distance family: plain Wagner–Fischer.

Raw signatures shared with the cpu and cuda modules (inputs already validated):

* strings are packed as ``codes`` (int64, all strings concatenated) and ``offsets`` (int64,
  ``n + 1`` entries; string ``i`` is ``codes[offsets[i]:offsets[i + 1]]``);
* ``weights`` is an int64 array ``[insert, delete, substitute]``.

``cdist`` returns an int64 matrix ``[n_queries, n_choices]``, ``cpdist`` an int64 vector;
``editops`` returns an int64 array ``[k, 3]`` of ``(kind, src_pos, dest_pos)`` with kind
0 = replace, 1 = insert, 2 = delete, ordered by position.
"""
from __future__ import annotations

import numpy as np

REPLACE, INSERT, DELETE = 0, 1, 2


def _table(a: np.ndarray, b: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Full (len(a)+1) x (len(b)+1) Wagner–Fischer table; row i vectorised over j except
    for the insertion recurrence, which is a running minimum along the row."""
    ins, dele, sub = (int(w) for w in weights)
    m, n = len(a), len(b)
    d = np.empty((m + 1, n + 1), dtype=np.int64)
    d[0] = np.arange(n + 1) * ins
    for i in range(1, m + 1):
        d[i, 0] = i * dele
        diag = d[i - 1, :-1] + np.where(a[i - 1] == b, 0, sub)
        up = d[i - 1, 1:] + dele
        best = np.minimum(diag, up)
        for j in range(1, n + 1):  # the left neighbour depends on this row: sequential
            d[i, j] = min(best[j - 1], d[i, j - 1] + ins)
    return d


def _distance(a: np.ndarray, b: np.ndarray, weights: np.ndarray) -> int:
    return int(_table(a, b, weights)[-1, -1])


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
