"""The roofline of a sparse product: what it must compute, what it must move, and what this machine can do.

A kernel runs at most at ``min(peak, bandwidth x intensity)``, where the *arithmetic intensity* is
its useful FLOPs divided by the bytes it must move. For a weight of ``o x k`` at density ``d`` and
``b`` input columns (float32):

- dense:  ``2 o k b`` FLOPs, ``4 o k`` weight bytes;
- CSR:    ``2 d o k b`` FLOPs, ``d o k (4 + i) + 4 (o + 1)`` weight bytes (``i`` bytes per index);
- N:M:    ``2 d o k b`` FLOPs, ``d o k (4 + 1)`` weight bytes (a one-byte offset per value);

plus ``4 (k b + o b)`` bytes of input and output for all three. When the weight dominates the
traffic (small ``b``, the decoding case) and both products are memory-bound, the speed-up of a
sparse format over dense cannot exceed the *byte ratio* dense bytes / sparse bytes
(:func:`byte_bound`): about ``4 / (6 d)`` for CSR with 16-bit indices.
"""

from __future__ import annotations

import functools
import math
from pathlib import Path

import numpy as np

from .checks import one_of

__all__ = ["FORMATS", "traffic_and_flops", "byte_bound", "machine_roofline", "last_level_cache_bytes", "mlp_block_macs"]

FORMATS = ("dense", "csr", "nm")
_DEFAULT_LLC = 32 * 2**20


def _check(out_features: int, in_features: int, batch: int, density: float, fmt: str, index_bytes: int) -> None:
    for name, v in (("out_features", out_features), ("in_features", in_features), ("batch", batch)):
        if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 1:
            raise ValueError(f"{name} must be a positive integer, got {v!r}")
    if not 0.0 <= density <= 1.0:
        raise ValueError(f"density must lie in [0, 1], got {density}")
    one_of("fmt", fmt, FORMATS)
    one_of("index_bytes", index_bytes, (1, 2, 4, 8))


def traffic_and_flops(shape, density: float, fmt: str = "csr", index_bytes: int = 2) -> dict:
    """Useful FLOPs and the least bytes a kernel must move (weight, indices, input, output) for
    ``shape`` (anything with ``out_features``, ``in_features`` and ``batch_size``) at ``density``."""
    o, k, b = shape.out_features, shape.in_features, shape.batch_size
    _check(o, k, b, density, fmt, index_bytes)
    nnz = density * o * k
    act = 4 * (k * b + o * b)
    if fmt == "dense":
        return {"flops": 2 * o * k * b, "bytes": 4 * o * k + act}
    if fmt == "csr":
        return {"flops": 2 * nnz * b, "bytes": nnz * (4 + index_bytes) + 4 * (o + 1) + act}
    return {"flops": 2 * nnz * b, "bytes": nnz * (4 + 1) + act}


def byte_bound(shape, density: float, fmt: str = "csr", index_bytes: int = 2) -> float:
    """Dense bytes / sparse bytes: the most a memory-bound sparse product can gain over a
    memory-bound dense one (the bound is not a ceiling when dense is compute-bound or the sparse
    weight stays in cache while the dense one streams from memory)."""
    if fmt == "dense":
        raise ValueError("fmt must be a sparse format ('csr' or 'nm'): the bound compares it with dense")
    dense = traffic_and_flops(shape, 1.0, "dense")["bytes"]
    return dense / traffic_and_flops(shape, density, fmt, index_bytes)["bytes"]


@functools.cache  # read once: every cold benchmark asks
def last_level_cache_bytes() -> int:
    """Size of the largest CPU cache (Linux sysfs), or 32 MiB when the system does not say."""
    sizes = []
    for f in Path("/sys/devices/system/cpu/cpu0/cache").glob("index*/size"):
        text = f.read_text().strip().upper()
        unit = {"K": 2**10, "M": 2**20, "G": 2**30}.get(text[-1:], 1)
        digits = text.rstrip("KMG")
        if digits.isdigit():
            sizes.append(int(digits) * unit)
    return max(sizes) if sizes else _DEFAULT_LLC


def machine_roofline(reps: int = 5) -> dict:
    """This machine's ceilings: dense float32 GEMM throughput (torch, all threads; 2048^3) and
    memory bandwidth (a parallel Numba copy of 64 MiB, twice the size of a typical last-level cache,
    read and written: 128 MiB of traffic per copy)."""
    import numba as nb
    import torch

    from .timing import measure

    @nb.njit(parallel=True, cache=False)
    def _copy(src, dst):
        for i in nb.prange(src.shape[0]):
            dst[i] = src[i]

    n = 2048
    a, b = torch.randn(n, n), torch.randn(n, n)
    src = np.ones(max(16 * 2**20, math.ceil(2 * last_level_cache_bytes() / 4)), dtype=np.float32)
    dst = np.empty_like(src)
    t = measure({"gemm": lambda: a @ b, "copy": lambda: _copy(src, dst)}, reps=reps, warmup=1, inner=1)
    return {"peak_gflops": 2 * n**3 / t["gemm"] / 1e9, "bandwidth_gbs": 2 * src.nbytes / t["copy"] / 1e9,
            "llc_mib": last_level_cache_bytes() / 2**20}


def mlp_block_macs(tokens: int, d: int, d_ff: int, nonzero: float | None = None) -> int:
    """Multiply-adds of an MLP block ``fc2(act(fc1(x)))`` over ``tokens`` tokens: ``tokens * d * d_ff``
    for each matmul; with ``nonzero`` (the share of non-zero activations, 0..1) the second matmul
    touches only the non-zero entries' rows of W2^T."""
    if min(tokens, d, d_ff) < 1:
        raise ValueError(f"tokens, d and d_ff must be positive, got {tokens}, {d}, {d_ff}")
    if nonzero is not None and not 0 <= nonzero <= 1:
        raise ValueError(f"nonzero must be a share in [0, 1], got {nonzero}")
    second = tokens * d * d_ff if nonzero is None else round(nonzero * tokens * d_ff) * d
    return tokens * d * d_ff + second
