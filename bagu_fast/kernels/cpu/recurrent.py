"""Numba CPU kernels for the recurrent family (LSTM, GRU, Elman RNN).

Raw signature and semantics: see :mod:`bagu_fast.kernels.reference.recurrent`.

Per layer (both directions at once):

1. **Input projection** of every time step: ``xg = x @ W_ih^T`` for ``[T * B, I]`` rows against
   both directions' ``W_ih`` stacked (``[D * G * H, I]``), in ``prange`` tasks of 128 rows (or
   on the calling thread when small).  Packed sequences multiply only their valid rows (tasks of
   consecutive steps with equal row counts).  ``W_ih``'s rows are permuted so that each work
   item's gate columns are contiguous in ``xg`` (see :func:`_recurrence`).
2. **Time loop** (:func:`_recurrence`): one worker per thread.  A step's work items are blocks of
   ``hb`` hidden units per direction (then, with ``proj_size``, blocks of projected outputs).
   Workers wait for the previous step through an atomic counter (:mod:`._sync`), not a parallel
   launch per step, and claim items, their own first (so a block's weights stay in one core's
   cache from step to step), then any left.  The scheme is deadlock-free with any number of
   threads (see :func:`_worker`).  An item multiplies the valid rows of ``[h, 1]`` (the previous
   hidden state and a constant 1) by its block of ``[W_hh | bias]`` (its ``G`` gates' rows
   together) and, for LSTM and RNN, adds the result straight into its block of ``xg`` (GRU keeps
   ``W_hn h + b_hn`` apart, as ``r`` multiplies it); then it applies the gates and the state
   update to those units while the sums are in cache; nothing is allocated inside the loop.
3. **Products**: every product goes through :mod:`._microkernel`, an LLVM-IR register-blocked
   kernel on weights packed once per call into 32-column panels, not BLAS: on this project's
   AMD EPYC it ran 116 GFLOP/s on one core for a step's 64 x 512 x 256 block (OpenBLAS 77, with
   its per-call packing), 46 for one row (GEMV; OpenBLAS 35) and 226 on two cores for the input
   projection (OpenBLAS 187).
4. **Packed sequences**: the batch is sorted by length (descending) once per call, so the rows
   valid at step ``t`` are a prefix; the reverse direction picks up a sequence at its own last
   step from its initial state (its rows in both hidden-state buffers hold ``h0`` until then).
   Outputs of invalid steps stay zero, ``h_n`` is read from the outputs afterwards, ``c_n`` is
   the cell buffer (a finished row is never written again).

Hidden states are double-buffered (``hbuf[s % 2]`` is read while ``hbuf[1 - s % 2]`` is written),
cell states are updated in place.  Blocks depend only on the shapes and each item is computed
the same way whatever worker runs it, so results do not depend on the number of threads.

Sigmoid and tanh are branch-free and vectorise (no SVML here), a few ulp for any input:
``exp`` is a Cody–Waite reduction + polynomial on a clamped argument, so no input overflows a
finite intermediate.  float32: sigmoid = 1 / (1 + e^-x) (e^-x may become inf: then 0), tanh
from ``e^(-2|x|) - 1`` built as ``2^n (e^r - 1) + (2^n - 1)`` (no cancellation near 0); one
exponential and one division each, about 2.6 ns per LSTM unit for all five on this project's
AMD EPYC (3.4 ns with the float64-style forms).  float64: e^-|x| and, for tanh, Cephes' rational
function for ``|x| < 0.625``.  NaN propagates through both; ``±inf`` saturate.
"""
from __future__ import annotations

import math

import numba
import numpy as np
from numba import njit, prange, types
from numba.extending import intrinsic, overload

from ._microkernel import (PANEL_WIDTH, pack_panel_rows, pack_panels, packed_matmul, packed_matmul_prefixes,
                           whole_tiles)
from ._parallel import run_parallel
from ._workspace import aligned_empty, aligned_zeros, scratch
from ._sync import fetch_add, wait_until
from ._vecmath import pow2_f32, pow2_f64

__all__ = ["run"]

HB_TARGET = 128  # hidden units per work item (the last block may be smaller)
PROJ_ROWS = 128  # rows per input-projection task
PARALLEL_MACS = 1 << 22  # less recurrent work than this: no parallel launch at all
PARALLEL_PROJECTION_MACS = 1 << 24  # smaller input projections: on the calling thread, no prange launch
_MODES = {"lstm": 0, "gru": 1, "rnn_tanh": 2, "rnn_relu": 3}
_GATES = (4, 3, 1, 1)


# --------------------------------------------------------------------------------------------
# vectorisable exp (non-positive arguments), sigmoid, tanh
# --------------------------------------------------------------------------------------------
@intrinsic
def _select(typingctx, cond, a, b):
    """LLVM ``select(cond, a, b)``: a branch-free choice, so that loops using it vectorise."""
    if not isinstance(cond, types.Boolean) or a != b or not isinstance(a, types.Float):
        return None

    def codegen(context, builder, signature, args):
        return builder.select(args[0], args[1], args[2])

    return a(cond, a, b), codegen


_F32 = np.float32
_LO32 = _F32(-87.0)  # 2^n for n >= -126: still normal
_HI32 = _F32(88.9)  # n = 128 at most: 2^128 -> inf, so e^z -> inf for z > ~88.7
_LOG2E32 = _F32(1.4426950408889634)
_LN2HI32 = _F32(0.693359375)
_LN2LO32 = _F32(-2.12194440e-4)
_E32 = tuple(_F32(c) for c in (1.9875691500e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2,
                                1.6666665459e-1, 5.0000001201e-1))
_HALF32, _ONE32, _TWO32, _MTWO32 = _F32(0.5), _F32(1), _F32(2), _F32(-2)

_LO64 = -708.0  # e^-708 ~ 3.3e-308, still normal
_LOG2E64 = 1.4426950408889634
_LN2HI64 = 6.93147180369123816490e-01  # fdlibm's split of ln 2 (n * hi is exact)
_LN2LO64 = 1.90821492927058770002e-10
_INV_FACT = tuple(1.0 / math.factorial(k) for k in range(14))  # Taylor to r^13, |r| <= ln2 / 2
_TP64 = (-9.64399179425052238628e-1, -9.92877231001918586564e1, -1.61468768441708447952e3)
_TQ64 = (1.12811678491632931402e2, 2.23548839060100448583e3, 4.84406305325125486048e3)


@njit(inline="always", cache=True, error_model="numpy")
def _expm1_parts32(z):
    """``(e^r - 1, 2^n)`` with ``e^z = 2^n e^r``, for float32 ``z`` in ``[-87, 88.9]`` (NaN stays
    NaN): Cody–Waite reduction, ``|r| <= ln2 / 2``, Cephes' polynomial; branch-free."""
    n = np.floor(z * _LOG2E32 + _HALF32)
    r = z - n * _LN2HI32 - n * _LN2LO32
    p = ((((_E32[0] * r + _E32[1]) * r + _E32[2]) * r + _E32[3]) * r + _E32[4]) * r + _E32[5]
    return p * r * r + r, pow2_f32(n)


@njit(inline="always", cache=True, error_model="numpy")
def _expneg64(x):
    """e^x for float64 x <= 0 (NaN stays NaN); ~1 ulp, branch-free."""
    xc = _select(x < _LO64, _LO64, x)
    n = np.floor(xc * _LOG2E64 + 0.5)
    r = xc - n * _LN2HI64 - n * _LN2LO64
    c = _INV_FACT
    p = c[13]
    p = p * r + c[12]
    p = p * r + c[11]
    p = p * r + c[10]
    p = p * r + c[9]
    p = p * r + c[8]
    p = p * r + c[7]
    p = p * r + c[6]
    p = p * r + c[5]
    p = p * r + c[4]
    p = p * r + c[3]
    p = p * r + c[2]
    p = p * r + 1.0
    p = p * r + 1.0
    y = p * pow2_f64(n)
    return _select(x < _LO64, 0.0, y)


@njit(cache=True, error_model="numpy")
def _sigmoid32(x):
    """1 / (1 + e^-x): e^-x is only evaluated in [e^-87, inf] (the clamp keeps 2^n in range;
    below it the result is 1, above it e^-x overflows to inf and the result is 0)."""
    z = -x
    z = _select(z < _LO32, _LO32, z)
    z = _select(z > _HI32, _HI32, z)
    q, s = _expm1_parts32(z)
    return _ONE32 / (_ONE32 + (q + _ONE32) * s)


@njit(inline="always", cache=True, error_model="numpy")
def _sigmoid64(x):
    x = np.float64(x)
    e = _expneg64(-abs(x))
    inv = 1.0 / (1.0 + e)
    return _select(x >= 0.0, inv, e * inv)


@njit(cache=True, error_model="numpy")
def _tanh32(x):
    """tanh |x| = -m / (m + 2) with m = e^(-2|x|) - 1 in [-1, 0], computed as 2^n (e^r - 1) +
    (2^n - 1): no cancellation near 0 (n = 0 there, m = e^r - 1 straight from the polynomial),
    one exponential and one division."""
    z = _MTWO32 * abs(x)
    z = _select(z < _LO32, _LO32, z)
    q, s = _expm1_parts32(z)
    m = q * s + (s - _ONE32)
    return math.copysign(-m / (m + _TWO32), x)


@njit(inline="always", cache=True, error_model="numpy")
def _tanh64(x):
    x = np.float64(x)
    a = abs(x)
    e = _expneg64(-2.0 * a)
    big = (1.0 - e) / (1.0 + e)
    z = a * a
    num = (_TP64[0] * z + _TP64[1]) * z + _TP64[2]
    den = ((z + _TQ64[0]) * z + _TQ64[1]) * z + _TQ64[2]
    small = a + a * z * (num / den)
    v = _select(a < 0.625, small, big)
    return math.copysign(v, x)


def _sigmoid(x):  # pragma: no cover - replaced by the overload
    raise NotImplementedError


def _tanh(x):  # pragma: no cover - replaced by the overload
    raise NotImplementedError


@overload(_sigmoid, inline="always")
def _sigmoid_ov(x):
    if x == types.float32:
        return lambda x: _sigmoid32(x)
    return lambda x: _sigmoid64(x)


@overload(_tanh, inline="always")
def _tanh_ov(x):
    if x == types.float32:
        return lambda x: _tanh32(x)
    return lambda x: _tanh64(x)


@njit(cache=True, nogil=True, error_model="numpy")
def sigmoid_array(x, out):
    """Elementwise sigmoid (for tests of the approximation)."""
    for i in range(x.size):
        out[i] = _sigmoid(x[i])


@njit(cache=True, nogil=True, error_model="numpy")
def tanh_array(x, out):
    """Elementwise tanh (for tests of the approximation)."""
    for i in range(x.size):
        out[i] = _tanh(x[i])


# --------------------------------------------------------------------------------------------
# products
# --------------------------------------------------------------------------------------------
@njit(cache=True, nogil=True, parallel=True, error_model="numpy")
def _input_projection(x2, w, out, rows):
    """``out = x2 @ W`` for panels ``w`` (:func:`pack_panels`), in tasks of ``rows`` rows."""
    N = x2.shape[0]
    n_chunks = (N + rows - 1) // rows
    for c in prange(n_chunks):
        r0 = c * rows
        r1 = min(r0 + rows, N)
        packed_matmul(x2[r0:r1], w, out[r0:r1])


@njit(cache=True, nogil=True, parallel=True, error_model="numpy")
def _input_projection_ragged(x, w, out, nact, bounds):
    """``out[t, :n] = x[t, :n] @ W`` for the ``n = nact[t]`` rows valid at each step (packed
    sequences: the padding is never multiplied); task ``c`` takes steps
    ``[bounds[c], bounds[c + 1])`` (about equal numbers of rows: ``prange`` splits its tasks
    into equal contiguous shares, and the early steps have the most rows)."""
    for c in prange(bounds.shape[0] - 1):
        packed_matmul_prefixes(x, w, out, nact, bounds[c], bounds[c + 1])


def _step_bounds(nact: np.ndarray, rows: int) -> np.ndarray:
    """Boundaries of consecutive steps holding about ``rows`` valid rows each."""
    ends = np.cumsum(nact)
    n_chunks = max(1, -(-int(ends[-1]) // rows))
    cuts = np.searchsorted(ends, np.arange(1, n_chunks) * (ends[-1] / n_chunks), side="left") + 1
    return np.unique(np.concatenate([[0], cuts, [len(nact)]])).astype(np.int64)


# --------------------------------------------------------------------------------------------
# gates (one row of one block of hidden units; vectorised over the units)
# --------------------------------------------------------------------------------------------
# A block's pre-activations are one row of G gate chunks of hb columns each (``[i | f | g | o]``,
# ``[r | z | n]``); for LSTM and RNN every sum is already in place (input projection, recurrent
# product, biases: see :func:`_gates_task`), GRU adds its parts in :func:`_gru_row`.  Every loop below indexes views from 0 (no offsets, no
# negative-index wraparound in the address) and touches few arrays, so LLVM can prove or check
# their ranges and vectorises it; with offset indices or more written arrays it left the gate
# loop scalar (measured 34 ns per unit instead of ~3).  The output row is copied afterwards for
# the same reason.
@njit(cache=True, nogil=True, error_model="numpy")
def _lstm_row(arow, crow, hrow, yrow, j0, j1, hb):
    n = j1 - j0
    ai, af = arow[:n], arow[hb:hb + n]
    ag, ao = arow[2 * hb:2 * hb + n], arow[3 * hb:3 * hb + n]
    cs, hs = crow[j0:j1], hrow[j0:j1]
    for jj in range(n):
        gi = _sigmoid(ai[jj])
        gf = _sigmoid(af[jj])
        gg = _tanh(ag[jj])
        go = _sigmoid(ao[jj])
        cn = gf * cs[jj] + gi * gg
        cs[jj] = cn
        hs[jj] = go * _tanh(cn)
    yrow[j0:j1] = hs


@njit(cache=True, nogil=True, error_model="numpy")
def _gru_row(xrow, b_in, arow, hprev, hrow, yrow, j0, j1, hb):
    """``xrow`` the input projections (no bias), ``arow`` the recurrent products with their
    biases (r, z: both biases; n: ``b_hn``), ``b_in`` the n gate's input bias."""
    n = j1 - j0
    one = hprev.dtype.type(1)
    xr, xz, xn = xrow[:n], xrow[hb:hb + n], xrow[2 * hb:2 * hb + n]
    ar, az, an = arow[:n], arow[hb:hb + n], arow[2 * hb:2 * hb + n]
    bn = b_in[j0:j1]
    for jj in range(n):  # xrow / arow are this step's own scratch
        ar[jj] += xr[jj]
    for jj in range(n):
        az[jj] += xz[jj]
    for jj in range(n):
        xn[jj] += bn[jj]
    hp, hs = hprev[j0:j1], hrow[j0:j1]
    for jj in range(n):
        r = _sigmoid(ar[jj])
        z = _sigmoid(az[jj])
        nn = _tanh(xn[jj] + r * an[jj])
        hs[jj] = (one - z) * nn + z * hp[jj]
    yrow[j0:j1] = hs


@njit(cache=True, nogil=True, error_model="numpy")
def _rnn_row(arow, hrow, yrow, j0, j1, relu):
    n = j1 - j0
    zero = hrow.dtype.type(0)
    a = arow[:n]
    hs = hrow[j0:j1]
    if relu:
        for jj in range(n):
            hs[jj] = _select(a[jj] < zero, zero, a[jj])  # NaN passes through (as torch's relu)
    else:
        for jj in range(n):
            hs[jj] = _tanh(a[jj])
    yrow[j0:j1] = hs


# --------------------------------------------------------------------------------------------
# the time loop of one layer (both directions)
# --------------------------------------------------------------------------------------------
@njit(cache=True, nogil=True, error_model="numpy")
def _gates_task(mode, t, p, d, k, n, xg, b_in, whh, hbuf, c, mbuf, acc, y, H, hb, proj):
    """The first n rows of direction d, block k of hidden units, at time t: recurrent product
    (reading hbuf[p]) + gates (writing hbuf[1 - p], or mbuf with a projection)."""
    Hout = y.shape[2] // whh.shape[0]
    nblk = whh.shape[1]
    cb = whh.shape[2] * whh.shape[4]  # a block's columns of xg
    q = 1 - p
    m = whole_tiles(n, hbuf.shape[2])
    x0 = (d * nblk + k) * cb
    j0 = k * hb
    j1 = min(j0 + hb, H)
    if mode == 1:  # GRU: W_hn h apart from W_in x (r multiplies it)
        packed_matmul(hbuf[p, d, :m], whh[d, k], acc[:m])
        for rr in range(n):
            _gru_row(xg[t, rr, x0:x0 + cb], b_in[d], acc[rr], hbuf[p, d, rr], hbuf[q, d, rr],
                     y[t, rr, d * Hout:(d + 1) * Hout], j0, j1, hb)
        return
    # LSTM, RNN: the recurrent product (with the biases) is added to the input projection in place
    packed_matmul(hbuf[p, d, :m], whh[d, k], xg[t, :m, x0:x0 + cb], True)
    for rr in range(n):
        arow = xg[t, rr, x0:x0 + cb]
        yrow = y[t, rr, d * Hout:(d + 1) * Hout]
        if mode == 0:
            if proj:
                _lstm_row(arow, c[d, rr], mbuf[d, rr], mbuf[d, rr], j0, j1, hb)
            else:
                _lstm_row(arow, c[d, rr], hbuf[q, d, rr], yrow, j0, j1, hb)
        else:
            _rnn_row(arow, hbuf[q, d, rr], yrow, j0, j1, mode == 3)


@njit(cache=True, nogil=True, error_model="numpy")
def _proj_task(t, p, d, k, n, whr, hbuf, mbuf, acc, y, hb):
    """The first n rows of direction d, block k of projected outputs: h = m W_hr^T."""
    Hout = hbuf.shape[3] - 1  # the last column holds the constant 1
    q = 1 - p
    o0 = k * hb
    o1 = min(o0 + hb, Hout)
    m = whole_tiles(n, mbuf.shape[1])
    packed_matmul(mbuf[d, :m], whr[d, k], acc[:m])
    for r in range(n):
        for j in range(o1 - o0):
            hbuf[q, d, r, o0 + j] = acc[r, j]
            y[t, r, d * Hout + o0 + j] = acc[r, j]


@njit(cache=True, nogil=True, error_model="numpy")
def _run_item(i, s, p, mode, xg, b_in, whh, whr, nact, hbuf, c, mbuf, acc, pacc, y, H, hb):
    """Work item ``i`` of step ``s``: gate block (direction, block of hidden units), or after
    them a projection block."""
    T = xg.shape[0]
    nblk = whh.shape[1]
    npb = whr.shape[1]
    n_gates = whh.shape[0] * nblk
    if i < n_gates:
        d = i // nblk
        t = s if d == 0 else T - 1 - s  # the reverse direction walks back from the end
        n = nact[t]
        if n > 0:
            _gates_task(mode, t, p, d, i - d * nblk, n, xg, b_in, whh, hbuf, c, mbuf, acc, y, H, hb, npb > 0)
    else:
        j = i - n_gates
        d = j // npb
        t = s if d == 0 else T - 1 - s
        n = nact[t]
        if n > 0:
            _proj_task(t, p, d, j - d * npb, n, whr, hbuf, mbuf, pacc, y, hb)


@njit(cache=True, nogil=True, error_model="numpy")
def _worker(w, n_workers, mode, claims, done, xg, b_in, whh, whr, nact, hbuf, c, mbuf, gbuf, pbuf, y, H, hb):
    """Worker ``w`` of ``n_workers`` of a layer's time loop (arguments as :func:`_recurrence`).

    Each step has one or two stages: its gate blocks, then (with a projection) its projection
    blocks, which need all of the step's gates.  Items are numbered in stage order.  At each
    stage the worker waits until every earlier item is done, then claims the stage's items it
    can (``claims[item]`` goes 0 -> 1 once): first its own (``i % n_workers == w``, so that an
    item's weights stay in one core's cache from step to step), then any left over.  A worker
    leaves a stage only when all its items are claimed, and never waits while holding one, so
    the workers cannot deadlock, whatever the number of threads actually running them.
    """
    T = xg.shape[0]
    n_gates = whh.shape[0] * whh.shape[1]
    n_proj = whh.shape[0] * whr.shape[1]
    per_step = n_gates + n_proj
    acc = gbuf[w]
    pacc = pbuf[w]
    for s in range(T):
        p = s % 2
        for stage in range(2 if n_proj > 0 else 1):
            first = s * per_step + (0 if stage == 0 else n_gates)
            lo = 0 if stage == 0 else n_gates
            hi = n_gates if stage == 0 else per_step
            wait_until(done, 0, first)
            for own in (True, False):
                for i in range(lo, hi):
                    if own and (i - lo) % n_workers != w:
                        continue
                    if fetch_add(claims, first + i - lo, 1) != 0:
                        continue
                    _run_item(i, s, p, mode, xg, b_in, whh, whr, nact, hbuf, c, mbuf, acc, pacc, y, H, hb)
                    fetch_add(done, 0, 1)


@njit(cache=True, nogil=True, parallel=True, error_model="numpy")
def _recurrence(n_workers, mode, claims, done, xg, b_in, whh, whr, nact, hbuf, c, mbuf, gbuf, pbuf, y, H, hb):
    """Run one layer's recurrence on ``n_workers`` workers that share its work items.

    claims [T * items per step] zeros (claim flags) and done [1] zero (items finished);
    xg [T, B, D * n_blk * cb] input projections without biases, in block order: direction d,
    block k owns the cb = n_panels * PW columns from (d * n_blk + k) * cb, gate chunks of hb
    columns each (LSTM / RNN: the recurrent products are added in place; GRU: scratch);
    b_in [D, H] (GRU's b_in; otherwise unused); whh [D, n_blk, n_panels, Hout + 1, PW] (each
    block's G*hb rows of [W_hh | bias] packed by pack_panels: the bias is the product with the
    constant 1 in hbuf's last column; LSTM / RNN: b_ih + b_hh; GRU: b_ih + b_hh for r, z and
    b_hn for n); whr [D, n_pb, n_panels, H, PW]
    or [D, 0, 1, 1, PW] (LSTM projection, blocks of hb outputs, packed); nact [T] rows valid
    at step t (a prefix: rows are sorted by length); hbuf [2, D, B, Hout + 1] (both halves hold
    [h0, 1] on entry); c [D, B, H] cell state (LSTM; in place); mbuf [D, B, H] (LSTM with projection:
    o * tanh(c)); gbuf [n_workers, B, >= G*hb] and pbuf [n_workers, B, >= hb] scratch; y [T, B, D*Hout]
    output (rows past nact must be zero on entry).
    """
    for w in prange(n_workers):
        _worker(w, n_workers, mode, claims, done, xg, b_in, whh, whr, nact, hbuf, c, mbuf, gbuf, pbuf, y, H, hb)


# --------------------------------------------------------------------------------------------
# driver
# --------------------------------------------------------------------------------------------
def _workers() -> int:
    """Workers for a parallel time loop: one per thread (any number is correct: see _worker)."""
    return numba.get_num_threads()


def _blocks(H: int) -> tuple[int, int]:
    """(units per block, number of blocks) for ``H`` hidden units."""
    nblk = max(1, -(-H // HB_TARGET))
    hb = -(-H // nblk)
    return hb, nblk


def _block_rows(G: int, H: int, hb: int, nblk: int, cb: int) -> np.ndarray:
    """Source row of each packed column, in xg's block order: block k's columns are gate chunks
    of hb rows ``g * H + k * hb + j`` (``j < hb``), then zero padding (-1) up to ``cb``."""
    rows = np.full((nblk, cb), -1, dtype=np.int64)
    j = np.arange(hb)
    for k in range(nblk):
        for g in range(G):
            unit = k * hb + j
            rows[k, g * hb:(g + 1) * hb] = np.where(unit < H, g * H + unit, -1)
    return rows


def _layer_weights(mode, dirs, G, H, hb, nblk, dtype):
    """One layer's packed weights: ``(w_ih, whh, whr, b_in)``, shapes as :func:`_recurrence` and
    :func:`_input_projection` take them (``w_ih``'s output columns in xg's block order)."""
    D = len(dirs)
    pw = PANEL_WIDTH[np.dtype(dtype)]
    n_panels = -(-G * hb // pw)
    cb = n_panels * pw
    rows = _block_rows(G, H, hb, nblk, cb)
    I = np.asarray(dirs[0][0]).shape[1]
    Hout = np.asarray(dirs[0][1]).shape[1]
    w_ih = scratch("recurrent.w_ih", (D, nblk * n_panels, I, pw), dtype)  # every element is written
    whh = scratch("recurrent.whh", (D, nblk, n_panels, Hout + 1, pw), dtype)
    b_in = np.zeros((D, H), dtype=dtype)
    proj = dirs[0][4] is not None
    npb = -(-Hout // hb) if proj else 0
    whr = aligned_zeros((D, npb, -(-hb // pw), H, pw) if proj else (D, 0, 1, 1, pw), dtype)
    no_bias = np.zeros(0, dtype=dtype)
    for d, (w_ih_d, w_hh, b_ih, b_hh, w_hr) in enumerate(dirs):
        pack_panel_rows(np.ascontiguousarray(w_ih_d, dtype=dtype), rows.reshape(-1), no_bias, w_ih[d])
        bias = np.zeros(G * H, dtype=dtype)  # the recurrent product's: [W_hh | bias] @ [h, 1]
        if b_ih is not None:
            b_ih = np.asarray(b_ih, dtype=dtype)
            if mode == "gru":  # b_in stays with W_in x (r multiplies only W_hn h + b_hn)
                bias[:2 * H] += b_ih[:2 * H]
                b_in[d] = b_ih[2 * H:]
            else:
                bias += b_ih
        if b_hh is not None:
            bias += np.asarray(b_hh, dtype=dtype)
        w_hh = np.ascontiguousarray(w_hh, dtype=dtype)
        for k in range(nblk):
            pack_panel_rows(w_hh, rows[k], bias, whh[d, k])
        if proj:
            w_hr = np.asarray(w_hr, dtype=dtype)
            for k in range(npb):
                outputs = w_hr[k * hb:(k + 1) * hb]  # the last block may be short
                whr[d, k, :-(-len(outputs) // pw)] = pack_panels(outputs)
    return w_ih.reshape(D * nblk * n_panels, I, pw), whh, whr, b_in


def run(mode, x, lengths, h0, c0, layers, batch_first=False):
    x = np.asarray(x)
    dtype = x.dtype
    if batch_first:
        x = x.transpose(1, 0, 2)
    T, B, _ = x.shape
    D = len(layers[0])
    G = _GATES[_MODES[mode]]
    Hout = h0.shape[2]
    H = layers[0][0][1].shape[0] // G
    L = len(layers)
    lengths = np.asarray(lengths, dtype=np.int64)
    if T == 0 or B == 0:  # nothing to run: zero outputs, the initial states
        out = np.zeros((B, T, D * Hout) if batch_first else (T, B, D * Hout), dtype=dtype)
        return out, h0.astype(dtype, copy=True), None if c0 is None else c0.astype(dtype, copy=True)
    # Rows sorted by length (descending), so that the rows valid at a step are a prefix.
    perm = np.argsort(-lengths, kind="stable")
    permuted = bool(np.any(perm != np.arange(B)))
    lens = lengths[perm]
    nact = (lens[:, None] > np.arange(T)[None, :]).sum(axis=0).astype(np.int64)
    ragged = bool(B and lens.min() < T)
    inp = np.ascontiguousarray(x[:, perm] if permuted else x)
    h0 = h0[:, perm] if permuted else h0
    c0 = None if c0 is None else (c0[:, perm] if permuted else c0)
    h_n = np.empty((L * D, B, Hout), dtype=dtype)
    c_n = None if c0 is None else np.empty((L * D, B, H), dtype=dtype)
    hb, nblk = _blocks(H)
    rows = np.arange(B)
    has_len = lens > 0
    last = np.maximum(lens - 1, 0)
    for l, dirs in enumerate(layers):
        I_l = inp.shape[2]
        pw = PANEL_WIDTH[np.dtype(dtype)]
        w_ih, whh, whr, b_in = _layer_weights(mode, dirs, G, H, hb, nblk, dtype)
        npb = whr.shape[1]
        proj = npb > 0
        xg = scratch("recurrent.xg", (T, B, w_ih.shape[0] * pw), dtype)  # D * n_blk blocks of cb columns
        hbuf = np.empty((2, D, B, Hout + 1), dtype=dtype)
        hbuf[0, :, :, :Hout] = h0[l * D:(l + 1) * D]
        hbuf[0, :, :, Hout] = 1  # multiplies the bias row of the packed [W_hh | bias]
        hbuf[1] = hbuf[0]
        c = np.zeros((D, B, H), dtype=dtype) if c0 is None else c0[l * D:(l + 1) * D].astype(dtype, copy=True)
        mbuf = np.zeros((D, B, H) if proj else (1, 1, 1), dtype=dtype)  # rows past n: finite
        macs = T * B * Hout * G * H * D
        n_workers = _workers() if macs >= PARALLEL_MACS else 1
        parallel = n_workers > 1
        gbuf = aligned_empty((n_workers, B, whh.shape[2] * pw), dtype)  # product tiles: whole cache lines
        pbuf = aligned_empty((n_workers, B, whr.shape[2] * pw), dtype)
        done = np.zeros(1, dtype=np.int64)
        if l < L - 1:  # an inner layer's output is only the next layer's input
            y = scratch(f"recurrent.y{l % 2}", (T, B, D * Hout), dtype)
            if ragged:
                y.fill(0)
        else:
            y = (np.zeros if ragged else np.empty)((T, B, D * Hout), dtype=dtype)
        x2, xg2 = inp.reshape(T * B, I_l), xg.reshape(T * B, xg.shape[2])
        projection_macs = T * B * I_l * D * G * H
        if projection_macs >= PARALLEL_PROJECTION_MACS and numba.get_num_threads() > 1:
            if ragged:  # only the valid rows
                run_parallel(_input_projection_ragged, inp, w_ih, xg, nact, _step_bounds(nact, PROJ_ROWS),
                             work=projection_macs)
            else:
                run_parallel(_input_projection, x2, w_ih, xg2, PROJ_ROWS, work=projection_macs)
        else:  # small: a parallel launch would cost more than it saves
            packed_matmul(x2, w_ih, xg2)
        claims = np.zeros(T * D * (nblk + npb), dtype=np.int64)
        args = (_MODES[mode], claims, done, xg, b_in, whh, whr, nact, hbuf, c, mbuf, gbuf, pbuf, y, H, hb)
        if parallel:
            run_parallel(_recurrence, n_workers, *args, work=macs)
        else:  # little work: on this thread, no parallel launch at all
            _worker(0, 1, *args)
        for d in range(D):
            k = l * D + d
            t_final = last if d == 0 else np.zeros(B, dtype=np.int64)
            h_n[k] = np.where(has_len[:, None], y[t_final, rows, d * Hout:(d + 1) * Hout], h0[k])
            if c_n is not None:
                c_n[k] = c[d]
        inp = y
    out = inp
    if permuted:
        inv = np.empty(B, dtype=np.int64)
        inv[perm] = np.arange(B)
        out = out[:, inv]
        h_n = np.ascontiguousarray(h_n[:, inv])
        c_n = None if c_n is None else np.ascontiguousarray(c_n[:, inv])
    if batch_first:
        out = out.transpose(1, 0, 2)
    return np.ascontiguousarray(out), h_n, c_n
