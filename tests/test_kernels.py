"""Oracle tests of the sparse formats and kernels against dense torch / scipy.sparse."""

import numpy as np
import pytest
import scipy.sparse as sps
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from sparsekit import kernels
from sparsekit.formats import CSR, NMSparse
from sparsekit.kernels import cpu
from sparsekit.masks import nm_mask

DT = {np.float32: torch.float32, np.float64: torch.float64}


def sparse_weight(rng, o, k, sparsity, dtype=np.float32):
    w = rng.standard_normal((o, k)).astype(dtype)
    w[rng.random((o, k)) < sparsity] = 0
    return w


def close(a, b, dtype):
    tol = 1e-4 if dtype == np.float32 else 1e-10
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=tol, atol=tol * 10)


@settings(max_examples=60, deadline=None)
@given(o=st.integers(1, 70), k=st.integers(1, 70), b=st.integers(1, 70), s=st.sampled_from([0.0, 0.5, 0.9, 0.99, 1.0]),
       dtype=st.sampled_from([np.float32, np.float64]), seed=st.integers(0, 10_000))
def test_csr_matmul_oracle(o, k, b, s, dtype, seed):
    rng = np.random.default_rng(seed)
    w = sparse_weight(rng, o, k, s, dtype)
    x = rng.standard_normal((b, k)).astype(dtype)
    c = CSR.from_dense(torch.from_numpy(w))
    close(kernels.csr_matmul(c, torch.from_numpy(x)), x @ w.T, dtype)
    close(kernels.csr_matmul(c, torch.from_numpy(np.ascontiguousarray(x.T)), channels_first=True), w @ x.T, dtype)
    close(c.to_dense(), w, dtype)
    # scipy as a second oracle of the format
    ref = sps.csr_matrix(w)
    assert c.nnz == ref.nnz
    np.testing.assert_array_equal(c.indptr, ref.indptr)


@settings(max_examples=50, deadline=None)
@given(nm=st.sampled_from([(1, 2), (2, 4), (1, 4), (4, 8), (2, 8), (1, 16), (3, 4)]), o=st.integers(1, 40),
       groups=st.integers(1, 6), b=st.integers(1, 70), dtype=st.sampled_from([np.float32, np.float64]),
       seed=st.integers(0, 10_000))
def test_nm_matmul_oracle(nm, o, groups, b, dtype, seed):
    n, m = nm
    rng = np.random.default_rng(seed)
    k = groups * m
    w = torch.from_numpy(rng.standard_normal((o, k)).astype(dtype))
    f = NMSparse.from_dense(w, n, m, prune=True)
    dense = (w * nm_mask(w, n, m)).numpy()
    close(f.to_dense(), dense, dtype)
    x = rng.standard_normal((b, k)).astype(dtype)
    close(kernels.nm_matmul(f, torch.from_numpy(x)), x @ dense.T, dtype)
    assert f.offsets.dtype == np.uint8 and f.values.shape == (o, groups * n)


@settings(max_examples=50, deadline=None)
@given(b=st.integers(1, 60), k=st.integers(1, 60), o=st.integers(1, 70), s=st.sampled_from([0.0, 0.5, 0.9, 1.0]),
       dtype=st.sampled_from([np.float32, np.float64]), seed=st.integers(0, 10_000))
def test_sparse_input_matmul_oracle(b, k, o, s, dtype, seed):
    rng = np.random.default_rng(seed)
    x = sparse_weight(rng, b, k, s, dtype)  # activations with zeros
    w = rng.standard_normal((o, k)).astype(dtype)
    y = kernels.sparse_input_matmul(torch.from_numpy(x), torch.from_numpy(np.ascontiguousarray(w.T)))
    close(y, x @ w.T, dtype)


def test_edge_cases():
    rng = np.random.default_rng(0)
    # empty rows, an all-zero matrix, a single row, batch 1
    w = sparse_weight(rng, 10, 33, 0.7)
    w[[0, 4, 9]] = 0
    for x in (rng.standard_normal((1, 33)), rng.standard_normal((17, 33))):
        x = x.astype(np.float32)
        close(kernels.csr_matmul(CSR.from_dense(w), torch.from_numpy(x)), x @ w.T, np.float32)
    z = CSR.from_dense(np.zeros((5, 8), np.float32))
    assert z.nnz == 0
    assert torch.equal(kernels.csr_matmul(z, torch.ones(3, 8)), torch.zeros(3, 5))
    one = CSR.from_dense(w[:1])
    close(kernels.csr_matmul(one, torch.ones(4, 33)), np.ones((4, 33), np.float32) @ w[:1].T, np.float32)
    # one input column
    col = sparse_weight(rng, 6, 1, 0.5)
    close(kernels.csr_matmul(CSR.from_dense(col), torch.ones(3, 1)), np.ones((3, 1), np.float32) @ col.T, np.float32)
    # all-zero activations
    assert torch.equal(kernels.sparse_input_matmul(torch.zeros(4, 6), torch.ones(6, 3)), torch.zeros(4, 3))


def test_non_contiguous_inputs():
    rng = np.random.default_rng(1)
    w = sparse_weight(rng, 20, 24, 0.8)
    base = torch.from_numpy(rng.standard_normal((48, 30)).astype(np.float32))
    x = base[::2, 3:27]  # strided rows and an offset
    assert not x.is_contiguous()
    close(kernels.csr_matmul(CSR.from_dense(w), x), x.numpy() @ w.T, np.float32)
    f = NMSparse.from_dense(w, 2, 4, prune=True)
    close(kernels.nm_matmul(f, x), x.numpy() @ f.to_dense().T, np.float32)
    xt = torch.from_numpy(rng.standard_normal((24, 40)).astype(np.float32)).t()  # transposed view
    close(kernels.sparse_input_matmul(xt, torch.from_numpy(np.ascontiguousarray(w.T))), xt.numpy() @ w.T, np.float32)


def test_mask_keeps_explicit_zeros_and_compact_indices():
    w = np.arange(12, dtype=np.float32).reshape(3, 4)  # w[0, 0] is a real zero
    mask = np.ones_like(w, dtype=bool)
    c = CSR.from_dense(w, mask)
    assert c.nnz == 12 and c.indices.dtype == np.uint16
    wide = CSR.from_dense(np.ones((1, 70_000), np.float32))
    assert wide.indices.dtype == np.int32
    x = torch.ones(2, 70_000)
    assert torch.allclose(kernels.csr_matmul(wide, x), torch.full((2, 1), 70_000.0))


def test_bad_input_errors():
    c = CSR.from_dense(np.eye(4, dtype=np.float32))
    with pytest.raises(ValueError, match=r"x.shape\[1\] is 5 but the weight has 4 input features"):
        kernels.csr_matmul(c, torch.ones(2, 5))
    with pytest.raises(TypeError, match="x is torch.float64 but the weight is torch.float32"):
        kernels.csr_matmul(c, torch.ones(2, 4, dtype=torch.float64))
    with pytest.raises(ValueError, match="2-D"):
        kernels.csr_matmul(c, torch.ones(4))
    with pytest.raises(TypeError, match="CSR"):
        kernels.csr_matmul(np.eye(4), torch.ones(2, 4))
    with pytest.raises(ValueError, match="does not divide"):
        NMSparse.from_dense(np.ones((2, 6), np.float32), 2, 4)
    with pytest.raises(ValueError, match="N <= M"):
        NMSparse.from_dense(np.ones((2, 8), np.float32), 5, 4)
    with pytest.raises(ValueError, match="not 2:4 sparse"):
        NMSparse.from_dense(np.ones((2, 8), np.float32), 2, 4)
    with pytest.raises(ValueError, match="at most 16"):
        NMSparse.from_dense(np.ones((2, 32), np.float32), 1, 32, prune=True)
    with pytest.raises(TypeError, match="float32 or float64"):
        CSR.from_dense(np.ones((2, 2), np.int64))
    with pytest.raises(ValueError, match="mask has shape"):
        CSR.from_dense(np.ones((2, 2), np.float32), np.ones((3, 2), bool))
    with pytest.raises(ValueError, match="weight_t has 3 input features"):
        kernels.sparse_input_matmul(torch.ones(2, 4), torch.ones(3, 5))


def test_tile_plan_covers_columns():
    for n in (0, 1, 7, 8, 15, 31, 32, 33, 63, 784):
        for dt in (np.float32, np.float64):
            c0, w = cpu.tile_plan(n, dt)
            assert int(w.sum()) == n
            assert list(c0) == list(np.cumsum(np.r_[0, w[:-1]])) if len(w) else True
