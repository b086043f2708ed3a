"""Numba CPU kernels for the edit-distance (Levenshtein) family: the raw contract.

Signatures and semantics as :mod:`bagu_fast.kernels.reference.strings`: ``cdist``, ``cpdist``
and ``editops`` on packed strings (``codes`` uint8 / uint32 / int64 compared by value across
dtypes, ``offsets`` int64 with n + 1 entries) and int64 ``weights`` (insert, delete,
substitute).  The wrappers here check that offsets are non-decreasing positions inside the
codes (ValueError otherwise), so no kernel can index out of bounds whatever the caller passed,
then pick the kernels:

* equal insert / delete weights ``w`` with a substitution of ``w`` (Levenshtein) or of at
  least ``2 w`` (Indel: a substitution never beats a delete plus an insert) run the
  bit-parallel recurrences of :mod:`.bitparallel` on the unit problem, times ``w``:
  :mod:`.cdist_lanes` (many patterns per vector of lanes) and :mod:`.cpdist_pairs` (pairs four
  at a time); patterns longer than 64 symbols run in a diagonal band (:mod:`.banded`) with
  masks from :mod:`.masks`;
* other weights run Wagner–Fischer (:mod:`.wagner_fischer`);
* ``editops`` is Hirschberg's divide and conquer over banded passes (:mod:`.edit_script`).

Symbols are mapped to dense ids first (:mod:`.alphabet`).  :mod:`.fast_pair` is the per-call
kernel of ``levenshtein`` on two short byte strings.  Results never depend on the thread count.

Numba's disk cache is keyed on each kernel's own source file: a kernel that inlines a function
of another module here (:mod:`.bitparallel`, :mod:`.masks`, ...) keeps the old code until the
package's ``__pycache__`` is cleared.
"""
from __future__ import annotations

import numpy as np
from numba import get_num_threads

from .._parallel import parallel_region
from .cdist_lanes import cdist_unit
from .cpdist_pairs import cpdist_chunk, cpdist_unit
from .edit_script import edit_script as editops
from .wagner_fischer import cdist_weighted, cpdist_weighted

__all__ = ["cdist", "cpdist", "editops"]

_NATIVE_CODE_DTYPES = (np.dtype(np.uint8), np.dtype(np.uint32), np.dtype(np.int64))


def _packed(codes, offsets, name: str):
    """C-contiguous (codes, offsets); offsets must be non-decreasing within the codes, so that no
    kernel can read out of bounds whatever the caller passed.  Narrow code arrays (uint8 ASCII,
    uint32 Unicode) are kept as they are: widening them costs a fresh allocation per call that
    is slower than the kernels themselves; the kernels compile one specialisation per dtype."""
    codes = np.asarray(codes).reshape(-1)
    if codes.dtype not in _NATIVE_CODE_DTYPES or not codes.flags.c_contiguous:
        codes = np.ascontiguousarray(codes, dtype=np.int64)
    offsets = np.ascontiguousarray(offsets, dtype=np.int64).reshape(-1)
    if offsets.shape[0] == 0:
        raise ValueError(f"{name} offsets must hold n + 1 >= 1 entries")
    if offsets[0] < 0 or offsets[-1] > codes.shape[0] or np.any(offsets[1:] < offsets[:-1]):
        raise ValueError(f"{name} offsets must be non-decreasing positions within its codes")
    return codes, offsets


def _two_sides(a_codes, a_offsets, b_codes, b_offsets, names: str):
    """Both packed sides checked (:func:`_packed`) and in one code dtype (the kernels pick
    either side as the pattern)."""
    a_codes, a_off = _packed(a_codes, a_offsets, names[0])
    b_codes, b_off = _packed(b_codes, b_offsets, names[1])
    if a_codes.dtype != b_codes.dtype:
        common = np.promote_types(a_codes.dtype, b_codes.dtype)
        a_codes, b_codes = a_codes.astype(common), b_codes.astype(common)
    return a_codes, a_off, b_codes, b_off


def _bit_parallel(ins: int, dele: int, sub: int):
    """(w, lcs) when the weights are ``w`` times Levenshtein (``lcs`` False) or ``w`` times the
    Indel distance (``lcs`` True), None otherwise (Wagner–Fischer)."""
    if ins == dele and ins > 0 and (sub == ins or sub >= 2 * ins):
        return ins, sub != ins
    return None


def cpdist(a_codes, a_offsets, b_codes, b_offsets, weights) -> np.ndarray:
    a_codes, a_off, b_codes, b_off = _two_sides(a_codes, a_offsets, b_codes, b_offsets, "ab")
    if a_off.shape[0] != b_off.shape[0]:
        raise ValueError("a and b must hold the same number of strings")
    npairs = a_off.shape[0] - 1
    out = np.zeros(npairs, np.int64)
    ins, dele, sub = (int(x) for x in weights)
    if npairs <= 0 or ins == dele == 0:  # free inserts and deletes: every distance is 0
        return out
    nchunk = max(1, min(npairs, 8 * get_num_threads(), (a_codes.shape[0] + b_codes.shape[0]) // 4096))
    unit = _bit_parallel(ins, dele, sub)
    if unit is None:
        with parallel_region():
            cpdist_weighted(a_codes, a_off, b_codes, b_off, np.int64(ins), np.int64(dele), np.int64(sub), out, nchunk)
        return out
    w, lcs = unit
    if nchunk == 1:  # no thread launch for a single pair / tiny inputs
        cpdist_chunk(a_codes, a_off, b_codes, b_off, out, 0, npairs, lcs)
    else:
        with parallel_region():
            cpdist_unit(a_codes, a_off, b_codes, b_off, out, nchunk, lcs)
    if w != 1:
        out *= w
    return out


def cdist(q_codes, q_offsets, c_codes, c_offsets, weights) -> np.ndarray:
    q_codes, q_off, c_codes, c_off = _two_sides(q_codes, q_offsets, c_codes, c_offsets, "qc")
    nq = q_off.shape[0] - 1
    nc = c_off.shape[0] - 1
    ins, dele, sub = (int(x) for x in weights)
    if nq == 0 or nc == 0 or ins == dele == 0:
        return np.zeros((nq, nc), np.int64)
    out = np.empty((nq, nc), np.int64)
    unit = _bit_parallel(ins, dele, sub)
    if unit is not None:
        cdist_unit(q_codes, q_off, c_codes, c_off, unit[0], out, unit[1])
        return out
    nchunk = max(1, min(nq, 8 * get_num_threads()))
    with parallel_region():
        cdist_weighted(q_codes, q_off, c_codes, c_off, np.int64(ins), np.int64(dele), np.int64(sub), out, nchunk)
    return out
