"""NumPy reference for the edit-distance family: plain Wagner–Fischer.

Raw signatures shared with the cpu and cuda modules (inputs already validated):

* strings are packed as ``codes`` (uint8, uint32 or int64 symbol values, all strings
  concatenated; values compare across dtypes) and ``offsets`` (int64,
  ``n + 1`` entries; string ``i`` is ``codes[offsets[i]:offsets[i + 1]]``);
* ``weights`` is an int64 array ``[insert, delete, substitute]``.

``cdist`` returns an int64 matrix ``[n_queries, n_choices]``, ``cpdist`` an int64 vector;
``editops`` returns an int64 array ``[k, 3]`` of ``(kind, src_pos, dest_pos)`` with kind
0 = replace, 1 = insert, 2 = delete, ordered by position.

Distances come from :mod:`.wagner_fischer`, edit scripts from :mod:`.edit_script`.
"""
from __future__ import annotations

import numpy as np

from .edit_script import edit_script as editops
from .wagner_fischer import distance

__all__ = ["cdist", "cpdist", "editops"]


def _split(codes: np.ndarray, offsets: np.ndarray) -> list[np.ndarray]:
    return [codes[offsets[i]:offsets[i + 1]] for i in range(len(offsets) - 1)]


def cdist(q_codes, q_offsets, c_codes, c_offsets, weights) -> np.ndarray:
    queries, choices = _split(q_codes, q_offsets), _split(c_codes, c_offsets)
    out = np.empty((len(queries), len(choices)), dtype=np.int64)
    for i, a in enumerate(queries):
        for j, b in enumerate(choices):
            out[i, j] = distance(a, b, weights)
    return out


def cpdist(a_codes, a_offsets, b_codes, b_offsets, weights) -> np.ndarray:
    pairs = zip(_split(a_codes, a_offsets), _split(b_codes, b_offsets))
    return np.array([distance(a, b, weights) for a, b in pairs], dtype=np.int64)
