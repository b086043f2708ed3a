"""editops: trace the full Wagner–Fischer table back from the corner (unit weights)."""
from __future__ import annotations

import numpy as np

from .wagner_fischer import table

REPLACE, INSERT, DELETE = 0, 1, 2


def edit_script(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """int64 ``[k, 3]`` rows (kind, src_pos, dest_pos) of a minimal script, ordered by position."""
    d = table(a, b, np.ones(3, dtype=np.int64))
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
