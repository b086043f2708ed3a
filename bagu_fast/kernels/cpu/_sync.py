"""Atomic counters for kernels whose threads hand work to each other inside one ``prange``.

A recurrent layer is a chain of dependent time steps; launching a parallel region per step costs
microseconds each (and a whole time slice when a worker is descheduled).  Instead, a kernel's
workers claim numbered work items from a shared counter (:func:`fetch_add`) and wait with
:func:`wait_until` for the items they depend on.  A worker only ever waits for items with
*smaller* numbers, all of which were claimed by a worker that is running them, so the scheme
cannot deadlock, even when ``prange`` runs every worker one after another on a single thread.

``counters`` arrays are int64.
"""
from __future__ import annotations

import platform
import sys

from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

__all__ = ["fetch_add", "load_acquire", "wait_until", "prefetch"]

_X86 = platform.machine().lower() in ("x86_64", "amd64", "i386", "i686")
_SPINS_BEFORE_YIELD = 1 << 12


def _item_pointer(context, builder, sig, args):
    aryty = sig.args[0]
    ary = context.make_array(aryty)(context, builder, args[0])
    return cgutils.get_item_pointer(context, builder, aryty, ary, [args[1]])


@intrinsic
def fetch_add(typingctx, counters, index, value):
    """Atomically ``counters[index] += value`` (sequentially consistent); returns the old value."""
    if not (isinstance(counters, types.Array) and counters.dtype == types.int64):
        return None

    def codegen(context, builder, sig, args):
        ptr = _item_pointer(context, builder, sig, args)
        value = context.cast(builder, args[2], sig.args[2], types.int64)
        return builder.atomic_rmw("add", ptr, value, "seq_cst")

    return types.int64(counters, types.intp, types.int64), codegen


@intrinsic
def load_acquire(typingctx, counters, index):
    """``counters[index]`` read atomically with acquire ordering (sees every write made before
    the matching :func:`fetch_add`)."""
    if not (isinstance(counters, types.Array) and counters.dtype == types.int64):
        return None

    def codegen(context, builder, sig, args):
        return builder.load_atomic(_item_pointer(context, builder, sig, args), "acquire", 8)

    return types.int64(counters, types.intp), codegen


@intrinsic
def _pause(typingctx):
    """A spin-wait hint to the core (x86 ``pause``; nothing elsewhere)."""

    def codegen(context, builder, sig, args):
        if _X86:
            fnty = ir.FunctionType(ir.VoidType(), [])
            builder.call(cgutils.get_or_insert_function(builder.module, fnty, "llvm.x86.sse2.pause"), [])
        return context.get_dummy_value()

    return types.none(), codegen


@intrinsic
def _yield_thread(typingctx):
    """``sched_yield()``: let a descheduled partner run when the machine is oversubscribed."""

    def codegen(context, builder, sig, args):
        if sys.platform == "win32":  # no sched_yield: keep spinning
            return context.get_dummy_value()
        fnty = ir.FunctionType(ir.IntType(32), [])
        builder.call(cgutils.get_or_insert_function(builder.module, fnty, "sched_yield"), [])
        return context.get_dummy_value()

    return types.none(), codegen


@njit(cache=True, nogil=True)
def wait_until(counters, index, target):
    """Spin until ``counters[index] >= target`` (then yield the core between polls)."""
    spins = 0
    while load_acquire(counters, index) < target:
        if spins < _SPINS_BEFORE_YIELD:
            _pause()
            spins += 1
        else:
            _yield_thread()


@intrinsic
def prefetch(typingctx, array, index):
    """Hint the CPU to load ``array.flat[index]``'s cache line (1-d or C-contiguous array; a
    no-op where unsupported).  For gathers whose addresses are known a few iterations ahead
    (rows of a tree node through its index array): the loads of later rows overlap the work."""
    if not isinstance(array, types.Array) or not isinstance(index, types.Integer):
        return None

    def codegen(context, builder, sig, args):
        aryty = sig.args[0]
        ary = context.make_array(aryty)(context, builder, args[0])
        ptr = builder.gep(ary.data, [context.cast(builder, args[1], sig.args[1], types.intp)])
        i8p = ir.IntType(8).as_pointer()
        i32 = ir.IntType(32)
        fnty = ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.prefetch.p0i8")
        builder.call(fn, [builder.bitcast(ptr, i8p), i32(0), i32(3), i32(1)])
        return context.get_dummy_value()

    return types.none(array, index), codegen
