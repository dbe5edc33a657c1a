"""Numba CPU kernels: sparse rows times a dense matrix, parallel over the cores.

One primitive does all the work, ``rows_times_dense``:

    out[r, :] = sum_j values[j] * dense[col_j, :]    for every sparse row r

- sparse weight x dense activations (a Linear layer, ``y = x @ W.T``): the rows are the weight's
  rows, ``dense`` is ``x.T`` (in, batch), and ``out.T`` is ``y``;
- dense weight x sparse activations (skip the zeros of x): the rows are the rows of x compressed
  to CSR, ``dense`` is ``W.T`` (in, out), and ``out`` is ``y``.

Columns of ``out`` are cut into tiles of 128 / 64 / 32 / 16 / 8 float32 (64 ... 4 float64) values, each
computed with vector accumulators in registers (see ``simd.py``); a narrower tail is done in
scalar code. Work is split over (row, tile) pairs with ``prange``.
"""

from __future__ import annotations

import functools

import numba as nb
import numpy as np
from numba import prange

from .simd import csr_tile, nm_tile

__all__ = ["tile_plan", "rows_times_dense", "nm_rows_times_dense", "transpose", "dense_to_csr"]

# (width, unroll): at most 8 vector registers of accumulators (128 float32 or 64 float64)
_T128, _T64, _T32, _T16, _T8, _T4 = (csr_tile(w, u) for w, u in ((128, 1), (64, 2), (32, 4), (16, 4), (8, 4), (4, 4)))
_WIDTHS = {np.dtype(np.float32): (128, 64, 32, 16, 8), np.dtype(np.float64): (64, 32, 16, 8, 4)}


@functools.lru_cache(maxsize=64)
def tile_plan(n_cols: int, dtype) -> tuple[np.ndarray, np.ndarray]:
    """Column tiles (start, width) covering ``n_cols``: widest SIMD tiles first, then a scalar tail."""
    widths = _WIDTHS[np.dtype(dtype)]
    starts, ws = [], []
    c = 0
    for w in widths:
        while n_cols - c >= w:
            starts.append(c)
            ws.append(w)
            c += w
    if c < n_cols:  # scalar tail, marked by a width below the narrowest SIMD tile
        starts.append(c)
        ws.append(n_cols - c)
    return np.asarray(starts, dtype=np.int64), np.asarray(ws, dtype=np.int64)


# The N:M kernel below has the same tile dispatch. It stays a separate function on purpose: it is
# built at run time per (N, M), which must be compile-time constants of its tiles, while this one is
# compiled once and cached on disk (NUMBA_CACHE_DIR), which a generated closure could not be.
@nb.njit(parallel=True, fastmath=True, cache=True)
def _csr_rows_dense(indptr, indices, values, dense, out, tile_c0, tile_w, min_w, zero):
    n_rows = indptr.shape[0] - 1
    nt = tile_c0.shape[0]
    for t in prange(n_rows * nt):
        r = t // nt
        i = t - r * nt
        c0 = tile_c0[i]
        w = tile_w[i]
        s = indptr[r]
        e = indptr[r + 1]
        if w == 128:
            _T128(dense, indices, values, s, e, c0, out, r)
        elif w == 64:
            _T64(dense, indices, values, s, e, c0, out, r)
        elif w == 32:
            _T32(dense, indices, values, s, e, c0, out, r)
        elif w == 16:
            _T16(dense, indices, values, s, e, c0, out, r)
        elif w == 8 and min_w <= 8:
            _T8(dense, indices, values, s, e, c0, out, r)
        elif w == 4 and min_w <= 4:
            _T4(dense, indices, values, s, e, c0, out, r)
        else:
            for c in range(c0, c0 + w):
                acc = zero
                for j in range(s, e):
                    acc += values[j] * dense[indices[j], c]
                out[r, c] = acc
    return out


def rows_times_dense(indptr, indices, values, dense: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """``out[r] = sum_{indptr[r] <= j < indptr[r+1]} values[j] * dense[indices[j]]`` (CSR rows x dense)."""
    n_rows = len(indptr) - 1
    if out is None:
        out = np.empty((n_rows, dense.shape[1]), dtype=dense.dtype)
    c0, w = tile_plan(dense.shape[1], dense.dtype)
    return _csr_rows_dense(indptr, indices, values, dense, out, c0, w, _WIDTHS[dense.dtype][-1], dense.dtype.type(0))


@functools.cache
def _nm_kernel(n: int, m: int):
    """A kernel specialised to one N:M pattern (N and M are compile-time constants of the tiles)."""
    t128, t64, t32, t16, t8, t4 = (
        nm_tile(w, n, m, u) for w, u in ((128, 1), (64, 1), (32, 2), (16, 2), (8, 2), (4, 2))
    )
    row_len_per_group = n

    @nb.njit(parallel=True, fastmath=True)
    def kernel(offsets, values, dense, out, tile_c0, tile_w, min_w, zero):
        n_rows, row_len = values.shape
        nt = tile_c0.shape[0]
        offs = offsets.ravel()
        vals = values.ravel()
        for t in prange(n_rows * nt):
            r = t // nt
            i = t - r * nt
            c0 = tile_c0[i]
            w = tile_w[i]
            s = r * row_len
            e = s + row_len
            if w == 128:
                t128(dense, offs, vals, s, e, c0, out, r)
            elif w == 64:
                t64(dense, offs, vals, s, e, c0, out, r)
            elif w == 32:
                t32(dense, offs, vals, s, e, c0, out, r)
            elif w == 16:
                t16(dense, offs, vals, s, e, c0, out, r)
            elif w == 8 and min_w <= 8:
                t8(dense, offs, vals, s, e, c0, out, r)
            elif w == 4 and min_w <= 4:
                t4(dense, offs, vals, s, e, c0, out, r)
            else:
                for c in range(c0, c0 + w):
                    acc = zero
                    for j in range(s, e):
                        g = (j - s) // row_len_per_group
                        acc += vals[j] * dense[g * m + offs[j], c]
                    out[r, c] = acc
        return out

    return kernel


def nm_rows_times_dense(offsets, values, n: int, m: int, dense: np.ndarray, out: np.ndarray | None = None):
    """N:M rows (``values``/``offsets`` of shape (rows, in // m * n)) times ``dense`` (in, C)."""
    if out is None:
        out = np.empty((values.shape[0], dense.shape[1]), dtype=dense.dtype)
    c0, w = tile_plan(dense.shape[1], dense.dtype)
    return _nm_kernel(n, m)(offsets, values, dense, out, c0, w, _WIDTHS[dense.dtype][-1], dense.dtype.type(0))


@nb.njit(parallel=True, cache=True)
def transpose(x, out):
    """``out[:] = x.T`` for a 2-D array, in parallel over blocks of 64 columns of ``x``.

    Rows of ``x`` are read contiguously; reading down a column instead would hit the same cache
    set over and over when the row length is a multiple of 4 KiB.
    """
    rows, cols = x.shape
    bs = 64
    for t in prange((cols + bs - 1) // bs):
        c0 = t * bs
        c1 = min(c0 + bs, cols)
        for r in range(rows):
            for c in range(c0, c1):
                out[c, r] = x[r, c]
    return out


@nb.njit(parallel=True, cache=True)
def _count_nonzero_rows(x, counts):
    for r in prange(x.shape[0]):
        c = 0
        for k in range(x.shape[1]):
            if x[r, k] != 0:
                c += 1
        counts[r] = c


@nb.njit(parallel=True, cache=True)
def _fill_csr(x, indptr, indices, values):
    for r in prange(x.shape[0]):
        p = indptr[r]
        for k in range(x.shape[1]):
            v = x[r, k]
            if v != 0:
                indices[p] = k
                values[p] = v
                p += 1


def dense_to_csr(x: np.ndarray):
    """Compress a dense 2-D array's non-zeros to CSR (indptr int64, indices int32, values), in parallel."""
    counts = np.empty(x.shape[0], dtype=np.int64)
    _count_nonzero_rows(x, counts)
    indptr = np.zeros(x.shape[0] + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    indices = np.empty(indptr[-1], dtype=np.int32)
    values = np.empty(indptr[-1], dtype=x.dtype)
    _fill_csr(x, indptr, indices, values)
    return indptr, indices, values
