"""Sparse weight formats for inference: CSR with compact indices, and compressed N:M.

Both hold a weight of shape (out_features, in_features) - an ``nn.Linear`` weight - as NumPy
arrays that the Numba kernels read directly (and that move to a GPU with ``.to_device``).

- :class:`CSR`: ``indptr`` (int32 or int64), ``indices`` (uint16 when in_features <= 65,536, else
  int32 - half the index traffic of torch's int64 CSR), ``values``.
- :class:`NMSparse`: for every row and every group of M consecutive inputs, the N kept values and
  their offsets inside the group (uint8, M <= 16): ``values`` and ``offsets`` of shape
  (out, in // M * N). Density is exactly N / M.

Both compare with ``==`` (same shape, pattern and values), and convert to and from torch's and
SciPy's formats: ``CSR.from_torch`` / ``to_torch`` (``torch.sparse_csr_tensor``), ``from_scipy`` /
``to_scipy`` (``scipy.sparse.csr_array``), ``NMSparse.to_torch_dense``; ``tensors()`` and
``from_tensors`` are the torch tensors a layer keeps as registered buffers.
"""

from __future__ import annotations

import numbers
from dataclasses import InitVar, dataclass, field

import numpy as np
import torch

from .masks import check_nm, nm_mask

__all__ = ["FLOAT_DTYPES", "MAX_M", "as_float_array", "check_csr", "check_nm_arrays", "CSR", "NMSparse"]

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

    device_copies: dict

    def invalidate_device_copies(self) -> None:
        self.device_copies.clear()


def _check_shape(shape) -> tuple[int, int]:
    if (not isinstance(shape, (tuple, list)) or len(shape) != 2
            or not all(isinstance(v, numbers.Integral) and not isinstance(v, bool) and v >= 0 for v in shape)):
        raise ValueError(f"shape must be two non-negative integers (out_features, in_features), got {shape!r}")
    return int(shape[0]), int(shape[1])


def _check_array(a, name: str, ndim: int, dtypes: tuple) -> np.ndarray:
    if not isinstance(a, np.ndarray):
        raise TypeError(f"{name} must be a numpy array, got {type(a).__name__}")
    if a.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {a.shape}")
    if a.dtype not in [np.dtype(d) for d in dtypes]:
        raise TypeError(f"{name} must have dtype {' or '.join(np.dtype(d).name for d in dtypes)}, got {a.dtype}")
    return a


def check_csr(indptr: np.ndarray, indices: np.ndarray, values: np.ndarray, shape) -> tuple[int, int]:
    """Raise a clear error unless the arrays form a valid CSR matrix of ``shape``: ``indptr`` of length
    rows + 1 from 0 to nnz, non-decreasing; ``indices`` in [0, cols) and strictly increasing in each row
    (sorted, no duplicates); ``values`` as many as ``indices``."""
    rows, cols = _check_shape(shape)
    _check_array(indptr, "indptr", 1, (np.int32, np.int64))
    _check_array(indices, "indices", 1, (np.uint16, np.int32, np.int64))
    _check_array(values, "values", 1, FLOAT_DTYPES)
    if len(indptr) != rows + 1:
        raise ValueError(f"indptr must have rows + 1 = {rows + 1} entries, got {len(indptr)}")
    if len(values) != len(indices):
        raise ValueError(f"values and indices must have the same length, got {len(values)} and {len(indices)}")
    if indptr[0] != 0 or indptr[-1] != len(indices):
        raise ValueError(f"indptr must start at 0 and end at nnz = {len(indices)}, got {indptr[0]} ... {indptr[-1]}")
    steps = np.diff(indptr)
    if (steps < 0).any():
        r = int(np.argmax(steps < 0))
        raise ValueError(f"indptr must be non-decreasing; indptr[{r + 1}] = {indptr[r + 1]} "
                         f"< indptr[{r}] = {indptr[r]}")
    if indices.dtype == np.uint16 and cols > np.iinfo(np.uint16).max + 1:
        raise TypeError(f"uint16 indices address at most 65,536 columns, the shape has {cols}")
    if len(indices) and (int(indices.min()) < 0 or int(indices.max()) >= cols):
        raise ValueError(f"indices must lie in [0, {cols}), got values from {int(indices.min())} "
                         f"to {int(indices.max())}")
    row_of = np.repeat(np.arange(rows), steps)
    same_row = row_of[1:] == row_of[:-1]
    bad = same_row & (indices[1:].astype(np.int64) <= indices[:-1].astype(np.int64))
    if bad.any():
        r = int(row_of[1:][bad][0])
        raise ValueError(f"indices must be strictly increasing within each row (sorted, no duplicates); row {r} is not")
    return rows, cols


def check_nm_arrays(values: np.ndarray, offsets: np.ndarray, n: int, m: int, shape) -> tuple[int, int]:
    """Raise a clear error unless ``values`` and ``offsets`` form a valid compressed N:M weight of
    ``shape``: both (rows, cols // m * n), offsets uint8 in [0, m) and strictly increasing in each group."""
    rows, cols = _check_shape(shape)
    check_nm(n, m, cols)
    if m > MAX_M:
        raise ValueError(f"M must be at most {MAX_M} for the compressed N:M format, got {m}")
    _check_array(values, "values", 2, FLOAT_DTYPES)
    _check_array(offsets, "offsets", 2, (np.uint8,))
    want = (rows, cols // m * n)
    for name, a in (("values", values), ("offsets", offsets)):
        if a.shape != want:
            raise ValueError(f"{name} must have shape (rows, cols // M * N) = {want}, got {a.shape}")
    if offsets.size and int(offsets.max()) >= m:
        raise ValueError(f"offsets must lie in [0, M) = [0, {m}), got a {int(offsets.max())}")
    groups = offsets.reshape(rows, -1, n).astype(np.int16)
    if n > 1 and (np.diff(groups, axis=-1) <= 0).any():
        r, g = np.argwhere((np.diff(groups, axis=-1) <= 0).any(-1))[0]
        raise ValueError(f"offsets must be strictly increasing within each group of N; row {r}, group {g} is not")
    return rows, cols


def _index_dtype(n_cols: int):
    return np.uint16 if n_cols <= np.iinfo(np.uint16).max + 1 else np.int32


def _same_arrays(a: tuple[np.ndarray, ...], b: tuple[np.ndarray, ...]) -> bool:
    return all(x.shape == y.shape and np.array_equal(x.astype(np.int64) if x.dtype.kind in "iu" else x,
                                                      y.astype(np.int64) if y.dtype.kind in "iu" else y)
               for x, y in zip(a, b))


def _as_numpy(t, name: str) -> np.ndarray:
    if isinstance(t, torch.Tensor):
        return t.detach().cpu().numpy()
    if isinstance(t, np.ndarray):
        return t
    raise TypeError(f"{name} must be a torch.Tensor or numpy array, got {type(t).__name__}")


@dataclass(eq=False)
class CSR(_DeviceCopies):
    """Compressed sparse rows of a (rows, cols) weight, with compact column indices."""

    indptr: np.ndarray
    indices: np.ndarray
    values: np.ndarray
    shape: tuple[int, ...]
    device_copies: dict = field(default_factory=dict, init=False, repr=False, compare=False)
    check: InitVar[bool] = True  # validate the arrays (check_csr); False only for data already known valid

    def __post_init__(self, check: bool) -> None:
        self.shape = check_csr(self.indptr, self.indices, self.values, self.shape) if check else tuple(self.shape)

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
        return cls(indptr, cols.astype(_index_dtype(w.shape[1])), np.ascontiguousarray(w[rows, cols]), w.shape,
                   check=False)  # valid by construction

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
        return CSR(self.indptr, self.indices, self.values.astype(dtype), self.shape, check=False)

    def __eq__(self, other) -> bool:
        """Same shape, the same kept positions and the same values (index dtypes may differ)."""
        if not isinstance(other, CSR):
            return NotImplemented
        return (tuple(self.shape) == tuple(other.shape) and self.values.dtype == other.values.dtype
                and _same_arrays((self.indptr, self.indices, self.values), (other.indptr, other.indices, other.values)))

    __hash__ = None  # type: ignore[assignment]  # mutable arrays inside

    # --------------------------------------------------------------- torch and scipy
    @classmethod
    def from_torch(cls, t: torch.Tensor) -> CSR:
        """From a ``torch.sparse_csr_tensor`` (its pattern kept as stored, explicit zeros included) or a
        dense 2-D tensor (its non-zeros)."""
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"t must be a torch.Tensor, got {type(t).__name__}")
        if t.layout == torch.sparse_csr:
            if t.dim() != 2:
                raise ValueError(f"t must be a 2-D sparse CSR tensor, got {t.dim()} dimensions")
            shape = tuple(int(d) for d in t.shape)
            crow, col, val = (a.detach().cpu().numpy() for a in (t.crow_indices(), t.col_indices(), t.values()))
            return cls(crow.astype(np.int64 if crow.dtype == np.int64 else np.int32),
                       col.astype(_index_dtype(shape[1])), np.ascontiguousarray(val), shape)
        if t.layout == torch.strided:
            return cls.from_dense(t.detach().cpu())
        raise ValueError(f"t must be a dense or sparse CSR tensor, got layout {t.layout}; "
                         "convert it with .to_sparse_csr()")

    def to_torch(self, index_dtype: torch.dtype = torch.int64) -> torch.Tensor:
        """A ``torch.sparse_csr_tensor`` (``index_dtype`` int64 or int32; torch has no uint16 indices)."""
        if index_dtype not in (torch.int64, torch.int32):
            raise ValueError(f"index_dtype must be torch.int64 or torch.int32, got {index_dtype}")
        import warnings

        with warnings.catch_warnings():  # torch says once per process that sparse CSR is "in beta"
            warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta", category=UserWarning)
            return torch.sparse_csr_tensor(torch.from_numpy(self.indptr.astype(np.int64)).to(index_dtype),
                                           torch.from_numpy(self.indices.astype(np.int64)).to(index_dtype),
                                           torch.from_numpy(self.values.copy()), self.shape)

    @classmethod
    def from_scipy(cls, a) -> CSR:
        """From any ``scipy.sparse`` matrix or array (converted to CSR, indices sorted, duplicates summed)."""
        import scipy.sparse as sps

        if not sps.issparse(a):
            raise TypeError(f"a must be a scipy.sparse matrix or array, got {type(a).__name__}")
        c = sps.csr_array(a)
        c.sum_duplicates()
        c.sort_indices()
        shape = tuple(int(d) for d in c.shape)
        return cls(c.indptr.astype(np.int64 if c.indptr.dtype == np.int64 else np.int32),
                   c.indices.astype(_index_dtype(shape[1])), np.ascontiguousarray(as_float_array(c.data, "data")),
                   shape)

    def to_scipy(self):
        """A ``scipy.sparse.csr_array`` holding the same pattern and values."""
        import scipy.sparse as sps

        return sps.csr_array((self.values.copy(), self.indices.astype(np.int32), self.indptr.astype(np.int64)),
                             shape=self.shape)

    # --------------------------------------------------------------- as registered buffers
    def tensors(self) -> dict[str, torch.Tensor]:
        """The arrays as torch tensors sharing their memory (what a layer registers as buffers)."""
        return {"indptr": torch.from_numpy(self.indptr), "indices": torch.from_numpy(self.indices),
                "values": torch.from_numpy(self.values)}

    @classmethod
    def from_tensors(cls, shape, indptr: torch.Tensor, indices: torch.Tensor, values: torch.Tensor,
                     check: bool = False) -> CSR:
        """From the tensors of :meth:`tensors` (CPU ones share memory; others are copied to the CPU)."""
        arr = lambda t, name: np.ascontiguousarray(_as_numpy(t, name))
        return cls(arr(indptr, "indptr"), arr(indices, "indices"),
                   np.ascontiguousarray(_as_numpy(values, "values")), tuple(shape), check=check)

    def __repr__(self) -> str:
        return (f"CSR(shape={self.shape}, nnz={self.nnz}, density={self.density:.3f}, "
                f"values {self.values.dtype}, indices {self.indices.dtype})")


@dataclass(eq=False)
class NMSparse(_DeviceCopies):
    """N:M compressed weight: in every group of M consecutive inputs, N values and their offsets."""

    values: np.ndarray  # (rows, cols // m * n)
    offsets: np.ndarray  # (rows, cols // m * n) uint8, each in [0, m)
    n: int
    m: int
    shape: tuple[int, ...]
    device_copies: dict = field(default_factory=dict, init=False, repr=False, compare=False)
    check: InitVar[bool] = True  # validate the arrays (check_nm_arrays); False only for data already known valid

    def __post_init__(self, check: bool) -> None:
        if check:
            self.shape = check_nm_arrays(self.values, self.offsets, self.n, self.m, self.shape)
        self.n, self.m, self.shape = int(self.n), int(self.m), tuple(self.shape)

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
                   n, m, w.shape, check=False)  # valid by construction

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
        return NMSparse(self.values.astype(dtype), self.offsets, self.n, self.m, self.shape, check=False)

    def __eq__(self, other) -> bool:
        if not isinstance(other, NMSparse):
            return NotImplemented
        return ((self.n, self.m, tuple(self.shape)) == (other.n, other.m, tuple(other.shape))
                and self.values.dtype == other.values.dtype
                and _same_arrays((self.values, self.offsets), (other.values, other.offsets)))

    __hash__ = None  # type: ignore[assignment]

    def to_torch_dense(self) -> torch.Tensor:
        """The weight as a dense torch tensor (zeros where N:M prunes)."""
        return torch.from_numpy(self.to_dense())

    def tensors(self) -> dict[str, torch.Tensor]:
        """The arrays as torch tensors sharing their memory (what a layer registers as buffers)."""
        return {"values": torch.from_numpy(self.values), "offsets": torch.from_numpy(self.offsets)}

    @classmethod
    def from_tensors(cls, shape, n: int, m: int, values: torch.Tensor, offsets: torch.Tensor,
                     check: bool = False) -> NMSparse:
        """From the tensors of :meth:`tensors` (CPU ones share memory; others are copied to the CPU)."""
        arr = lambda t, name: np.ascontiguousarray(_as_numpy(t, name))
        return cls(arr(values, "values"), arr(offsets, "offsets"),
                   n, m, tuple(shape), check=check)

    def __repr__(self) -> str:
        return f"NMSparse({self.n}:{self.m}, shape={self.shape}, values {self.values.dtype})"
