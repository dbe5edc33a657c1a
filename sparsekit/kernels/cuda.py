"""numba.cuda versions of the two row kernels (tested on the CPU under NUMBA_ENABLE_CUDASIM=1).

One thread computes one output entry ``out[r, c]``; threads of a warp take consecutive columns
``c``, so the reads of ``dense[k, c]`` are coalesced and the sparse row's values and indices are
broadcast across the warp.
"""

from __future__ import annotations

import functools
import math

from numba import cuda

__all__ = ["THREADS", "available", "rows_times_dense", "nm_rows_times_dense"]

THREADS = (32, 8)  # (columns, rows) per block


def available() -> bool:
    """True when numba.cuda can launch kernels (a GPU, or the simulator)."""
    try:
        return bool(cuda.is_available())
    except Exception:  # noqa: BLE001 - a broken driver means no CUDA path
        return False


@cuda.jit
def _csr_rows_dense(indptr, indices, values, dense, out):
    c, r = cuda.grid(2)
    if r < out.shape[0] and c < out.shape[1]:
        acc = dense[0, 0] * 0  # a zero of the data type; dense is never empty here
        for j in range(indptr[r], indptr[r + 1]):
            acc += values[j] * dense[indices[j], c]
        out[r, c] = acc


@functools.cache
def _nm_kernel(n: int, m: int):
    @cuda.jit
    def kernel(offsets, values, dense, out):
        c, r = cuda.grid(2)
        if r < out.shape[0] and c < out.shape[1]:
            acc = dense[0, 0] * 0
            for j in range(values.shape[1]):
                acc += values[r, j] * dense[(j // n) * m + offsets[r, j], c]
            out[r, c] = acc

    return kernel


def _grid(rows: int, cols: int):
    return (max(1, math.ceil(cols / THREADS[0])), max(1, math.ceil(rows / THREADS[1])))


def rows_times_dense(indptr, indices, values, dense, out):
    """CUDA ``out[r] = sum_j values[j] * dense[indices[j]]`` over CSR rows (device arrays or numpy)."""
    rows, cols = out.shape
    if rows and cols:
        if dense.shape[0] == 0:  # no inputs at all: every output is zero
            out[:] = 0
            return out
        _csr_rows_dense[_grid(rows, cols), THREADS](indptr, indices, values, dense, out)
    return out


def nm_rows_times_dense(offsets, values, n: int, m: int, dense, out):
    """CUDA N:M rows times dense: column of entry j of a row is ``(j // n) * m + offsets[r, j]``."""
    rows, cols = out.shape
    if rows and cols:
        if dense.shape[0] == 0:
            out[:] = 0
            return out
        _nm_kernel(n, m)[_grid(rows, cols), THREADS](offsets, values, dense, out)
    return out
