"""Sparse weight formats for inference: CSR with compact indices, and compressed N:M.

Both hold a weight of shape (out_features, in_features) - an ``nn.Linear`` weight - as NumPy
arrays that the Numba kernels read directly (and that move to a GPU with ``.to_device``).

- :class:`CSR`: ``indptr`` (int32 or int64), ``indices`` (uint16 when in_features <= 65,536, else
  int32 - half the index traffic of torch's int64 CSR), ``values``.
- :class:`NMSparse`: for every row and every group of M consecutive inputs, the N kept values and
  their offsets inside the group (uint8, M <= 16): ``values`` and ``offsets`` of shape
  (out, in // M * N). Density is exactly N / M.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from .masks import check_nm, nm_mask

__all__ = ["FLOAT_DTYPES", "MAX_M", "as_float_array", "CSR", "NMSparse"]

FLOAT_DTYPES = (np.float32, np.float64)
MAX_M = 16


def as_float_array(t: torch.Tensor | np.ndarray, name: str) -> np.ndarray:
    """A C-contiguous float32/float64 NumPy view (or copy) of a CPU tensor; clear errors otherwise."""
    if isinstance(t, torch.Tensor):
        if t.is_cuda:
            raise ValueError(f"{name} is on {t.device}; this function takes CPU data (move it with .cpu())")
        if t.requires_grad:
            t = t.detach()
        a = t.numpy()
    elif isinstance(t, np.ndarray):
        a = t
    else:
        raise TypeError(f"{name} must be a torch.Tensor or numpy array, got {type(t).__name__}")
    if a.dtype not in FLOAT_DTYPES:
        raise TypeError(f"{name} must be float32 or float64, got {a.dtype}")
    return np.ascontiguousarray(a)


def _weight_2d(weight: torch.Tensor | np.ndarray) -> np.ndarray:
    w = as_float_array(weight, "weight")
    if w.ndim != 2:
        raise ValueError(f"weight must be 2-D (out_features, in_features), got shape {w.shape}")
    return w


def _keep(mask: torch.Tensor | np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """A boolean NumPy copy of ``mask``, checked against the weight's shape."""
    keep = np.asarray(mask.detach().cpu().numpy() if isinstance(mask, torch.Tensor) else mask).astype(bool)
    if keep.shape != shape:
        raise ValueError(f"mask has shape {keep.shape} but the weight has shape {shape}")
    return keep


class _DeviceCopies:
    """GPU copies of a format's arrays, made on first use per device by ``kernels`` and kept in
    ``device_copies``. A copy is remade when one of its arrays is *replaced* (``fmt.values = ...``);
    after editing an array *in place* (``fmt.values[3] = 0``) call ``invalidate_device_copies()``."""

    def invalidate_device_copies(self) -> None:
        self.device_copies.clear()


def _index_dtype(n_cols: int):
    return np.uint16 if n_cols <= np.iinfo(np.uint16).max + 1 else np.int32


@dataclass
class CSR(_DeviceCopies):
    """Compressed sparse rows of a (rows, cols) weight, with compact column indices."""

    indptr: np.ndarray
    indices: np.ndarray
    values: np.ndarray
    shape: tuple[int, int]
    device_copies: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    @classmethod
    def from_dense(cls, weight: torch.Tensor | np.ndarray, mask: torch.Tensor | np.ndarray | None = None) -> CSR:
        """Keep the non-zero entries of ``weight`` (or the entries ``mask`` keeps, zeros included)."""
        w = _weight_2d(weight)
        keep = w != 0 if mask is None else _keep(mask, w.shape)
        rows, cols = np.nonzero(keep)
        counts = np.bincount(rows, minlength=w.shape[0])
        ptr_dtype = np.int32 if len(rows) < np.iinfo(np.int32).max else np.int64
        indptr = np.zeros(w.shape[0] + 1, dtype=ptr_dtype)
        np.cumsum(counts, out=indptr[1:])
        return cls(indptr, cols.astype(_index_dtype(w.shape[1])), np.ascontiguousarray(w[rows, cols]), w.shape)

    @property
    def nnz(self) -> int:
        return int(self.indptr[-1])

    @property
    def density(self) -> float:
        return self.nnz / max(self.shape[0] * self.shape[1], 1)

    @property
    def dtype(self):
        return self.values.dtype

    def nbytes(self) -> int:
        return self.indptr.nbytes + self.indices.nbytes + self.values.nbytes

    def to_dense(self) -> np.ndarray:
        out = np.zeros(self.shape, dtype=self.values.dtype)
        rows = np.repeat(np.arange(self.shape[0]), np.diff(self.indptr))
        out[rows, self.indices.astype(np.int64)] = self.values
        return out

    def astype(self, dtype) -> CSR:
        return CSR(self.indptr, self.indices, self.values.astype(dtype), self.shape)

    def __repr__(self) -> str:
        return (f"CSR(shape={self.shape}, nnz={self.nnz}, density={self.density:.3f}, "
                f"values {self.values.dtype}, indices {self.indices.dtype})")


@dataclass
class NMSparse(_DeviceCopies):
    """N:M compressed weight: in every group of M consecutive inputs, N values and their offsets."""

    values: np.ndarray  # (rows, cols // m * n)
    offsets: np.ndarray  # (rows, cols // m * n) uint8, each in [0, m)
    n: int
    m: int
    shape: tuple[int, int]
    device_copies: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    @classmethod
    def from_dense(cls, weight: torch.Tensor | np.ndarray, n: int, m: int, mask=None, prune: bool = False) -> NMSparse:
        """Compress a weight that is already N:M sparse along its input dimension.

        ``mask`` (an N:M mask) says which entries to keep; without it the weight's non-zeros are
        used and must number at most N per group, unless ``prune=True``, which keeps the N
        largest magnitudes of every group (``sparsekit.masks.nm_mask``).
        """
        w = _weight_2d(weight)
        check_nm(n, m, w.shape[1])
        if m > MAX_M:
            raise ValueError(f"M must be at most {MAX_M} for the compressed N:M format, got {m}")
        if mask is None and prune:
            mask = nm_mask(torch.from_numpy(w), n, m)
        keep = w != 0 if mask is None else _keep(mask, w.shape)
        groups = keep.reshape(w.shape[0], -1, m)
        counts = groups.sum(-1)
        if (counts > n).any():
            r, g = np.argwhere(counts > n)[0]
            raise ValueError(
                f"weight is not {n}:{m} sparse: row {r}, input group {g} keeps {counts[r, g]} > {n} entries; "
                "pass mask= (an N:M mask) or prune=True"
            )
        # take the kept positions first (stable), padding groups with fewer than n by zero entries
        order = np.argsort(~groups, axis=-1, kind="stable")[..., :n]
        offsets = np.sort(order, axis=-1).astype(np.uint8)
        vals = np.take_along_axis(w.reshape(w.shape[0], -1, m), offsets.astype(np.int64), axis=-1)
        kept = np.take_along_axis(groups, offsets.astype(np.int64), axis=-1)
        vals = np.where(kept, vals, 0).astype(w.dtype)
        rows = w.shape[0]
        return cls(np.ascontiguousarray(vals.reshape(rows, -1)), np.ascontiguousarray(offsets.reshape(rows, -1)),
                   n, m, w.shape)

    @property
    def density(self) -> float:
        return self.n / self.m

    @property
    def dtype(self):
        return self.values.dtype

    def nbytes(self) -> int:
        return self.values.nbytes + self.offsets.nbytes

    def to_dense(self) -> np.ndarray:
        rows, cols = self.shape
        out = np.zeros((rows, cols // self.m, self.m), dtype=self.values.dtype)
        np.put_along_axis(out, self.offsets.reshape(rows, -1, self.n).astype(np.int64),
                          self.values.reshape(rows, -1, self.n), axis=-1)
        return out.reshape(rows, cols)

    def astype(self, dtype) -> NMSparse:
        return NMSparse(self.values.astype(dtype), self.offsets, self.n, self.m, self.shape)

    def __repr__(self) -> str:
        return f"NMSparse({self.n}:{self.m}, shape={self.shape}, values {self.values.dtype})"
