"""What the modules of the cpu HMM / CRF kernels share: the fastmath flags, the number of
accumulator chunks, and the inlined scalar helpers (a max, and a branch-free ``e^x`` for ``x <= 0``)
that keep their loops vectorised."""
from __future__ import annotations

import math

import numpy as np
from numba import njit

from .._vecmath import pow2_f64

_MAX_CHUNKS = 64  # accumulator chunks for the kernels that sum over sequences
_FM = {"reassoc", "contract", "nsz"}  # no nnan / ninf: -inf keeps its meaning

NEG_INF = -np.inf

# e^x for x <= 0: 2^n e^r, n = round(x log2 e), r = x - n ln 2 (Cody-Waite), degree-12 Taylor
# polynomial (relative error < 4e-16); branch-free so the loops that call it vectorise (Numba has
# no SVML here).  x < -708 gives 0 (exp would be subnormal there), -inf gives 0.
_LOG2E = 1.4426950408889634
_LN2_HI = 0.693147180369123816490
_LN2_LO = 1.90821492927058770002e-10
_C2, _C3, _C4, _C5, _C6, _C7, _C8, _C9, _C10, _C11, _C12 = (1.0 / math.factorial(k) for k in range(2, 13))


@njit(inline="always", cache=True, fastmath=_FM)
def _exp_nonpos(x):
    xc = -708.0 if x < -708.0 else x
    n = np.floor(xc * _LOG2E + 0.5)
    r = xc - n * _LN2_HI - n * _LN2_LO
    p = _C12 * r + _C11
    p = p * r + _C10
    p = p * r + _C9
    p = p * r + _C8
    p = p * r + _C7
    p = p * r + _C6
    p = p * r + _C5
    p = p * r + _C4
    p = p * r + _C3
    p = p * r + _C2
    p = p * r + 1.0
    p = p * r + 1.0
    y = p * pow2_f64(n)
    return 0.0 if x < -708.0 else y


@njit(inline="always", cache=True)
def _mx(a, b):
    return a if a > b else b
