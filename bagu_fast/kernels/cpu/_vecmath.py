"""Building blocks for branch-free, vectorisable transcendentals in Numba kernels.

Numba has no SVML on these machines, so ``math.exp`` in a hot loop stays scalar.  The families
write ``exp`` as a Cody–Waite range reduction plus a polynomial, and need ``2**n`` for a whole
``n`` built straight from the exponent bits, which LLVM vectorises.  The polynomials stay with
each family (their accuracy and clamping differ by use); the bit trick lives here once.
"""
from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.extending import intrinsic


@intrinsic
def pow2_f32(typingctx, n):
    """2^n for a whole float32 n in [-126, 127] (builds the exponent bits; vectorises)."""
    if n != types.float32:
        return None

    def codegen(context, builder, signature, args):
        i32 = ir.IntType(32)
        e = builder.fptosi(args[0], i32)
        e = builder.add(e, ir.Constant(i32, 127))
        e = builder.shl(e, ir.Constant(i32, 23))
        return builder.bitcast(e, ir.FloatType())

    return types.float32(types.float32), codegen


@intrinsic
def pow2_f64(typingctx, n):
    """2^n for a whole float64 n in [-1022, 1023] (builds the exponent bits; vectorises)."""
    if n != types.float64:
        return None

    def codegen(context, builder, signature, args):
        i64 = ir.IntType(64)
        e = builder.fptosi(args[0], i64)
        e = builder.add(e, ir.Constant(i64, 1023))
        e = builder.shl(e, ir.Constant(i64, 52))
        return builder.bitcast(e, ir.DoubleType())

    return types.float64(types.float64), codegen
