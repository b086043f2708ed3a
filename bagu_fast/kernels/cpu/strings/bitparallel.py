"""The bit-parallel recurrences every unit-weight kernel of the family runs, written once.

Levenshtein: Myers (1999) in Hyyrö's (2003) formulation.  The vertical deltas of one DP column
are two bit vectors ``VP`` / ``VN`` (one bit per pattern row); a text symbol with match mask
``x`` advances them by ~15 word operations, and the distance is read off the last column,
``D[m][n] = n + popcount(VP) - popcount(VN)`` (bits below ``m``), so no score is kept in the
loop.  Patterns longer than one word are Hyyrö's blocks: words linked by the horizontal +1 / -1
carries (:func:`step_block`).

Indel (``insert == delete``, ``substitute >= insert + delete``): the bit-parallel LCS of
Allison–Dix / Hyyrö (2004), ``S = (S + u) | (S & ~u)`` with ``u = S & match``, through the same
functions (flag ``lcs``; ``VP`` holds S).

Bits above the pattern length only ever influence higher bits (additions, left shifts), so they
are garbage that the final mask ignores.

Every pair kernel first strips the common prefix and suffix (:func:`strip_affix`).

:func:`step_word` and :func:`word_distance` work on any unsigned lane type: every operation is
cast back to the type of ``vp`` through :func:`as_lane` (otherwise Numba widens small integers
to 64 bits and the cdist lane loops would stay 64-bit wide).
"""
from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic, overload

U0 = np.uint64(0)
U1 = np.uint64(1)
U63 = np.uint64(63)
ALL = np.uint64(0xFFFFFFFFFFFFFFFF)


@intrinsic
def popcount(typingctx, x):
    """llvm.ctpop on any integer type (vectorises to vpopcnt where available)."""
    if isinstance(x, types.Integer):

        def codegen(context, builder, signature, args):
            return builder.ctpop(args[0])

        return x(x), codegen
    return None


@intrinsic
def eqmask64(typingctx, pat, off, c):
    """Bit i set where ``pat[off + i] == c`` for i < 64 (uint8 bytes): one vector compare
    (vpcmpeqb + kmov on AVX-512, two compares + movemask on AVX2)."""
    if not (isinstance(pat, types.Array) and pat.dtype == types.uint8 and isinstance(off, types.Integer)
            and isinstance(c, types.Integer)):
        return None

    def codegen(context, builder, signature, args):
        ary = context.make_array(signature.args[0])(context, builder, value=args[0])
        i8 = ir.IntType(8)
        vec = ir.VectorType(i8, 64)
        ptr = builder.gep(ary.data, [args[1]])
        v = builder.load(builder.bitcast(ptr, vec.as_pointer()), align=1)
        cv = args[2]
        if cv.type.width > 8:
            cv = builder.trunc(cv, i8)
        splat = builder.insert_element(ir.Constant(vec, None), cv, ir.Constant(ir.IntType(32), 0))
        splat = builder.shuffle_vector(splat, ir.Constant(vec, None),
                                       ir.Constant(ir.VectorType(ir.IntType(32), 64), [0] * 64))
        return builder.bitcast(builder.icmp_unsigned("==", v, splat), ir.IntType(64))

    return types.uint64(pat, off, c), codegen


def as_lane(x, like):  # pragma: no cover - replaced by the overload inside jitted code
    raise NotImplementedError


def _make_cast(np_type):
    def impl(x, like):
        return np_type(x)

    return impl


_CASTS = {
    types.uint8: _make_cast(np.uint8),
    types.uint16: _make_cast(np.uint16),
    types.uint32: _make_cast(np.uint32),
    types.uint64: _make_cast(np.uint64),
}


@overload(as_lane, inline="always")
def _as_lane_overload(x, like):
    """Cast ``x`` to the (unsigned) type of ``like``: keeps lane arithmetic narrow."""
    return _CASTS.get(like)


@njit(cache=True, nogil=True)
def low_mask(m):
    """uint64 with the low ``m`` bits set (0 <= m <= 64)."""
    if m >= 64:
        return ALL
    return (U1 << np.uint64(m)) - U1


@njit(cache=True, nogil=True, inline="always")
def step_word(x, vp, vn, lcs):
    """One text symbol (match mask ``x``) through a single-word column: the new (vp, vn).

    With ``lcs`` the LCS step on S = ``vp`` (``vn`` is returned as it came).  Any unsigned type;
    ``hp + hp`` stands for ``hp << 1``, which Numba would widen."""
    if lcs:
        u = as_lane(vp & x, vp)
        return as_lane(as_lane(vp + u, vp) | as_lane(vp & as_lane(~u, vp), vp), vp), vn
    d0 = as_lane(as_lane(as_lane(as_lane(x & vp, vp) + vp, vp) ^ vp, vp) | x | vn, vp)
    hp = as_lane(vn | as_lane(~as_lane(d0 | vp, vp), vp), vp)
    hn = as_lane(d0 & vp, vp)
    hp = as_lane(as_lane(hp + hp, vp) | as_lane(1, vp), vp)  # the +1 boundary of row 0
    hn = as_lane(hn + hn, vp)
    return as_lane(hn | as_lane(~as_lane(d0 | hp, vp), vp), vp), as_lane(hp & d0, vp)


@njit(cache=True, nogil=True, inline="always")
def word_distance(vp, vn, mask, n, lcs):
    """Distance from the last column of a single-word pattern whose rows are the bits of
    ``mask``, after ``n`` text symbols (Indel distance m + n - 2 LCS with ``lcs``)."""
    if lcs:
        return n + np.int64(popcount(mask)) - 2 * np.int64(popcount(as_lane(as_lane(~vp, vp) & mask, vp)))
    return n + np.int64(popcount(as_lane(vp & mask, vp))) - np.int64(popcount(as_lane(vn & mask, vp)))


@njit(cache=True, nogil=True, inline="always")
def step_block(x, hpc, hnc, vp, vn, lcs):
    """One word of one column of Hyyrö's blocked algorithm (uint64): (vp, vn, hp carry, hn carry).

    ``hpc`` / ``hnc`` are the carries from the word below (+1 / 0 into a column's first word).
    With ``lcs`` it is one word of the bit-parallel LCS instead: ``vp`` holds S, ``hpc`` the
    addition carry (``vn`` and ``hnc`` pass through unused)."""
    if lcs:
        u = vp & x
        sm = vp + u + hpc
        return sm | (vp & ~u), vn, ((vp & u) | ((vp | u) & ~sm)) >> U63, hnc
    x = x | hnc
    d0 = (((x & vp) + vp) ^ vp) | x | vn
    hp = vn | ~(d0 | vp)
    hn = d0 & vp
    hpo = hp >> U63
    hno = hn >> U63
    hp = (hp << U1) | hpc
    hn = (hn << U1) | hnc
    return hn | ~(d0 | hp), hp & d0, hpo, hno


@njit(cache=True, nogil=True, inline="always")
def strip_affix(a, sa, m, b, sb, n):
    """Bounds of ``a[sa:sa+m]`` / ``b[sb:sb+n]`` without their common prefix and suffix (they
    cost nothing in any edit script): (sa, m, sb, n)."""
    while m > 0 and n > 0 and a[sa] == b[sb]:
        sa += 1
        sb += 1
        m -= 1
        n -= 1
    while m > 0 and n > 0 and a[sa + m - 1] == b[sb + n - 1]:
        m -= 1
        n -= 1
    return sa, m, sb, n
