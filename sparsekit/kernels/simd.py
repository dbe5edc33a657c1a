"""Explicit-SIMD building blocks for the CPU kernels, written as Numba intrinsics.

Numba's auto-vectoriser does not vectorise the inner loop of a sparse row times a dense tile: the
batch loop is short, and the output and input arrays may alias, so LLVM keeps the accumulator in
memory and emits scalar code. These intrinsics emit the loop directly in LLVM IR with vector
accumulators held in registers:

    out[r, c0:c0+W] = sum_j values[j] * dense[k_j, c0:c0+W]

where W is a compile-time width (a multiple of the SIMD lanes) and ``k_j`` comes from a CSR row
(``indices[j]``) or from an N:M row (``g * M + offsets[j]`` for group ``g``). ``unroll``
independent accumulators hide the latency of the fused multiply-add.
"""

from __future__ import annotations

import functools

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

__all__ = ["csr_tile", "nm_tile"]

_FAST = ("fast",)


class _Arr:
    """Data pointer, shapes and strides of a Numba array value inside an intrinsic."""

    def __init__(self, context, builder, ty, value):
        a = context.make_array(ty)(context, builder, value)
        self.ty, self.data = ty, a.data
        self.shape = cgutils.unpack_tuple(builder, a.shape, ty.ndim)
        self.strides = cgutils.unpack_tuple(builder, a.strides, ty.ndim)

    def ptr(self, context, builder, inds):
        return cgutils.get_item_pointer2(
            context, builder, self.data, self.shape, self.strides, self.ty.layout, inds,
            wraparound=False, boundscheck=False,
        )


def _emit_tile(context, builder, sig, args, width: int, unroll: int, nm: tuple[int, int] | None):
    """Shared code generation for the CSR and N:M row tiles."""
    dense_t, idx_t, val_t, _, _, _, out_t, _ = sig.args
    dense, idx, vals, start, end, c0, out, r = args
    lty = context.get_data_type(dense_t.dtype)
    vty = ir.VectorType(lty, width)
    intp = context.get_value_type(types.intp)
    i32 = ir.IntType(32)
    D = _Arr(context, builder, dense_t, dense)
    I = _Arr(context, builder, idx_t, idx)  # noqa: E741
    V = _Arr(context, builder, val_t, vals)
    Out = _Arr(context, builder, out_t, out)
    const = lambda v: ir.Constant(intp, v)

    accs = [cgutils.alloca_once_value(builder, ir.Constant(vty, None)) for _ in range(unroll)]

    def splat(v):
        vec = builder.insert_element(ir.Constant(vty, ir.Undefined), v, ir.Constant(i32, 0))
        mask = ir.Constant(ir.VectorType(i32, width), [0] * width)
        return builder.shuffle_vector(vec, ir.Constant(vty, ir.Undefined), mask)

    def load_index(j):
        k = builder.load(I.ptr(context, builder, [j]))
        if k.type.width < intp.width:
            k = builder.sext(k, intp) if idx_t.dtype.signed else builder.zext(k, intp)
        elif k.type.width > intp.width:
            k = builder.trunc(k, intp)
        return k

    def accumulate(j, k, acc):
        v = builder.load(V.ptr(context, builder, [j]))
        p = D.ptr(context, builder, [k, c0])
        x = builder.load(builder.bitcast(p, vty.as_pointer()), align=1)
        prod = builder.fmul(splat(v), x, flags=_FAST)
        builder.store(builder.fadd(builder.load(acc), prod, flags=_FAST), acc)

    if nm is None:
        # CSR row: entries start..end, column index indices[j]
        n = builder.sub(end, start)
        main_end = builder.add(start, builder.mul(builder.sdiv(n, const(unroll)), const(unroll)))
        with cgutils.for_range_slice(builder, start, main_end, const(unroll), intp) as (j, _):
            for u in range(unroll):
                ju = builder.add(j, const(u))
                accumulate(ju, load_index(ju), accs[u])
        with cgutils.for_range_slice(builder, main_end, end, const(1), intp) as (j, _):
            accumulate(j, load_index(j), accs[0])
    else:
        # N:M row: groups g of N stored entries; column = g * M + offsets[j]
        n_keep, m = nm
        groups = builder.sdiv(builder.sub(end, start), const(n_keep))
        main_groups = builder.mul(builder.sdiv(groups, const(unroll)), const(unroll))

        def do_group(g, acc):
            base = builder.mul(g, const(m))
            j0 = builder.add(start, builder.mul(g, const(n_keep)))
            for t in range(n_keep):
                j = builder.add(j0, const(t))
                accumulate(j, builder.add(base, load_index(j)), acc)

        with cgutils.for_range_slice(builder, const(0), main_groups, const(unroll), intp) as (g, _):
            for u in range(unroll):
                do_group(builder.add(g, const(u)), accs[u])
        with cgutils.for_range_slice(builder, main_groups, groups, const(1), intp) as (g, _):
            do_group(g, accs[0])

    total = builder.load(accs[0])
    for u in range(1, unroll):
        total = builder.fadd(total, builder.load(accs[u]), flags=_FAST)
    po = Out.ptr(context, builder, [r, c0])
    builder.store(total, builder.bitcast(po, vty.as_pointer()), align=1)
    return context.get_dummy_value()


@functools.cache
def csr_tile(width: int, unroll: int = 4):
    """``csr_tile(width)(dense, indices, values, start, end, c0, out, r)`` writes
    ``out[r, c0:c0+width] = sum_{start<=j<end} values[j] * dense[indices[j], c0:c0+width]``."""

    @intrinsic
    def _tile(typingctx, dense, indices, values, start, end, c0, out, r):
        sig = types.void(dense, indices, values, types.intp, types.intp, types.intp, out, types.intp)
        return sig, functools.partial(_emit_tile, width=width, unroll=unroll, nm=None)

    return _tile


@functools.cache
def nm_tile(width: int, n: int, m: int, unroll: int = 2):
    """Like :func:`csr_tile` for an N:M row: entries start..end come in groups of ``n``, and the
    column of entry ``j`` of group ``g`` is ``g * m + offsets[j]``."""

    @intrinsic
    def _tile(typingctx, dense, offsets, values, start, end, c0, out, r):
        sig = types.void(dense, offsets, values, types.intp, types.intp, types.intp, out, types.intp)
        return sig, functools.partial(_emit_tile, width=width, unroll=unroll, nm=(n, m))

    return _tile
