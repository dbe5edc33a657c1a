"""Sparse matrix products that turn sparsity into speed, dispatched by the input's device.

- :func:`csr_matmul`: a CSR weight times dense activations (``y = x @ W.T``);
- :func:`nm_matmul`: an N:M-compressed weight times dense activations;
- :func:`sparse_input_matmul`: a dense weight times activations that are mostly zero
  (``y = x @ W.T`` skipping the zeros of ``x``, as after a ReLU).

CPU tensors go to the Numba kernels in ``cpu.py`` (explicit SIMD, parallel over the cores), CUDA
tensors to the numba.cuda kernels in ``cuda.py``. Results are torch tensors on the input's device.
"""

from __future__ import annotations

import threading

import numpy as np
import torch

from ..formats import CSR, NMSparse
from . import cpu

__all__ = ["csr_matmul", "nm_matmul", "sparse_input_matmul", "cpu"]

_TORCH_OF = {np.dtype(np.float32): torch.float32, np.dtype(np.float64): torch.float64}


def _check_input(x: torch.Tensor, n_in: int, dtype, channels_first: bool, what: str = "weight") -> None:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x must be a torch.Tensor, got {type(x).__name__}")
    if x.dim() != 2:
        raise ValueError(f"x must be 2-D ({'in_features, batch' if channels_first else 'batch, in_features'}), "
                         f"got shape {tuple(x.shape)}")
    got = x.shape[0] if channels_first else x.shape[1]
    if got != n_in:
        axis = "x.shape[0]" if channels_first else "x.shape[1]"
        raise ValueError(f"shape mismatch: {axis} is {got} but the {what} has {n_in} input features")
    want = _TORCH_OF[np.dtype(dtype)]
    if x.dtype != want:
        raise TypeError(f"x is {x.dtype} but the {what} is {want}; convert one of them (e.g. x.to({want}))")


_workspace = threading.local()


def _transposed(xn: np.ndarray) -> np.ndarray:
    """``xn.T`` made contiguous in a per-thread scratch buffer (reused: it is consumed at once by a kernel,
    and a fresh large allocation costs page faults on every call)."""
    key = (xn.shape[::-1], xn.dtype)
    buf = getattr(_workspace, "buffers", {}).get(key)
    if buf is None:
        _workspace.buffers = {key: np.empty(key[0], dtype=xn.dtype)}  # keep one shape per thread
        buf = _workspace.buffers[key]
    return cpu.transpose(xn, buf)


def _device_arrays(fmt, device: torch.device, names: tuple[str, ...]):
    """numba.cuda copies of a format's arrays on ``device``, kept in ``fmt.device_copies`` and remade
    when one of the arrays has been replaced since (see ``formats._DeviceCopies``)."""
    from numba import cuda

    arrays = tuple(getattr(fmt, n) for n in names)
    stamp = tuple((id(a), a.__array_interface__["data"][0], a.shape, a.dtype.str) for a in arrays)
    key = (str(device), names)
    hit = fmt.device_copies.get(key)
    if hit is None or hit[0] != stamp:
        with cuda.gpus[device.index or 0]:
            fmt.device_copies[key] = (stamp, tuple(cuda.to_device(a) for a in arrays))
    return fmt.device_copies[key][1]


def _cuda_run(x: torch.Tensor, channels_first: bool, n_rows: int, launch) -> torch.Tensor:
    from numba import cuda

    dense = x.contiguous() if channels_first else x.t().contiguous()
    out = torch.empty((n_rows, dense.shape[1]), dtype=x.dtype, device=x.device)
    launch(cuda.as_cuda_array(dense), cuda.as_cuda_array(out))
    return out if channels_first else out.t()


def _weight_matmul(weight, x: torch.Tensor, channels_first: bool, arrays: tuple[str, ...], kernel: str,
                   *params) -> torch.Tensor:
    """Run ``kernel`` (a function of the same name in ``cpu.py`` and ``cuda.py``) on the weight's
    ``arrays`` and ``params``, then the dense input; the result is laid out as ``x`` is."""
    _check_input(x, weight.shape[1], weight.dtype, channels_first)
    if x.is_cuda:
        from . import cuda as kc

        on_device = _device_arrays(weight, x.device, arrays)
        return _cuda_run(x, channels_first, weight.shape[0],
                         lambda d, o: getattr(kc, kernel)(*on_device, *params, d, o))
    xn = x.detach().numpy()
    dense = np.ascontiguousarray(xn) if channels_first else _transposed(xn)
    t = torch.from_numpy(getattr(cpu, kernel)(*(getattr(weight, a) for a in arrays), *params, dense))
    return t if channels_first else t.t()


def csr_matmul(weight: CSR, x: torch.Tensor, channels_first: bool = False) -> torch.Tensor:
    """``x @ W.T`` for ``x`` of shape (batch, in) -> (batch, out).

    With ``channels_first=True`` it computes ``W @ x`` for ``x`` of shape (in, batch) -> (out, batch):
    a 1x1 convolution on (channels, pixels) data, with no transpose.
    The (batch, out) result is a transposed view of the kernel's (out, batch) output.
    """
    if not isinstance(weight, CSR):
        raise TypeError(f"weight must be a sparsekit.formats.CSR, got {type(weight).__name__}")
    return _weight_matmul(weight, x, channels_first, ("indptr", "indices", "values"), "rows_times_dense")


def nm_matmul(weight: NMSparse, x: torch.Tensor, channels_first: bool = False) -> torch.Tensor:
    """Like :func:`csr_matmul` for an N:M-compressed weight."""
    if not isinstance(weight, NMSparse):
        raise TypeError(f"weight must be a sparsekit.formats.NMSparse, got {type(weight).__name__}")
    return _weight_matmul(weight, x, channels_first, ("offsets", "values"), "nm_rows_times_dense", weight.n, weight.m)


def sparse_input_matmul(x: torch.Tensor, weight_t: torch.Tensor) -> torch.Tensor:
    """``x @ weight_t`` skipping the zero entries of ``x`` (batch, in); ``weight_t`` is ``W.T`` (in, out),
    contiguous. Work is proportional to the non-zeros of ``x``: what activation sparsity saves."""
    if not isinstance(weight_t, torch.Tensor) or weight_t.dim() != 2:
        raise TypeError("weight_t must be a 2-D torch.Tensor holding W.T, of shape (in_features, out_features)")
    if weight_t.dtype not in (torch.float32, torch.float64):
        raise TypeError(f"weight_t must be float32 or float64, got {weight_t.dtype}")
    _check_input(x, weight_t.shape[0], {torch.float32: np.float32, torch.float64: np.float64}[weight_t.dtype],
                 False, what="weight_t")
    if x.device != weight_t.device:
        raise ValueError(f"x is on {x.device} but weight_t is on {weight_t.device}")
    if x.is_cuda:
        from numba import cuda

        from . import cuda as kc

        xs = x.detach().to_sparse_csr()
        out = torch.empty((x.shape[0], weight_t.shape[1]), dtype=x.dtype, device=x.device)
        arr = lambda t: cuda.as_cuda_array(t.contiguous())
        kc.rows_times_dense(arr(xs.crow_indices()), arr(xs.col_indices()), arr(xs.values()),
                            arr(weight_t.detach()), cuda.as_cuda_array(out))
        return out
    indptr, indices, values = cpu.dense_to_csr(np.ascontiguousarray(x.detach().numpy()))
    wt = np.ascontiguousarray(weight_t.detach().numpy())
    return torch.from_numpy(cpu.rows_times_dense(indptr, indices, values, wt))
