"""CSR and NMSparse refuse arrays that break their invariants (each invariant, with a clear error)."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from sparsekit.formats import CSR, NMSparse


def valid_csr():
    w = np.array([[0, 1.5, 0, 2.0], [0, 0, 0, 0], [3.0, 0, 0, 4.0]], dtype=np.float32)
    return CSR.from_dense(w)


def test_valid_csr_passes_and_round_trips():
    c = valid_csr()
    again = CSR(c.indptr, c.indices, c.values, c.shape)  # checked
    np.testing.assert_array_equal(again.to_dense(), c.to_dense())
    assert again.shape == (3, 4)


@pytest.mark.parametrize("change,match", [
    (lambda c: dict(indptr=c.indptr[:-1]), "indptr must have rows \\+ 1 = 4 entries"),
    (lambda c: dict(indptr=np.array([1, 2, 2, 4], np.int32)), "start at 0 and end at nnz"),
    (lambda c: dict(indptr=np.array([0, 3, 2, 4], np.int32)), "non-decreasing"),
    (lambda c: dict(indptr=c.indptr.astype(np.float64)), "indptr must have dtype int32 or int64"),
    (lambda c: dict(indices=np.array([1, 3, 0, 4], np.uint16)), "indices must lie in \\[0, 4\\)"),
    (lambda c: dict(indices=np.array([3, 1, 0, 3], np.uint16)), "strictly increasing within each row.*row 0"),
    (lambda c: dict(indices=np.array([1, 1, 0, 3], np.uint16)), "strictly increasing within each row.*row 0"),
    (lambda c: dict(values=c.values[:3]), "same length"),
    (lambda c: dict(values=c.values.astype(np.int32)), "values must have dtype float32 or float64"),
    (lambda c: dict(shape=(3, -4)), "shape must be two non-negative integers"),
    (lambda c: dict(indices=list(c.indices)), "indices must be a numpy array"),
])
def test_csr_invariants(change, match):
    c = valid_csr()
    kw = dict(indptr=c.indptr, indices=c.indices, values=c.values, shape=c.shape) | change(c)
    with pytest.raises((ValueError, TypeError), match=match):
        CSR(**kw)


def test_csr_uint16_indices_cannot_address_more_than_65536_columns():
    with pytest.raises(TypeError, match="uint16 indices address at most 65,536 columns"):
        CSR(np.array([0, 1], np.int32), np.array([5], np.uint16), np.ones(1, np.float32), (1, 70_000))


def valid_nm():
    torch.manual_seed(0)
    return NMSparse.from_dense(torch.randn(3, 8), 2, 4, prune=True)


def test_valid_nm_passes():
    s = valid_nm()
    again = NMSparse(s.values, s.offsets, s.n, s.m, s.shape)
    np.testing.assert_array_equal(again.to_dense(), s.to_dense())
    assert NMSparse(s.values, s.offsets, np.int64(2), np.int64(4), s.shape).n == 2


@pytest.mark.parametrize("change,match", [
    (lambda s: dict(offsets=np.where(s.offsets == 0, 7, s.offsets).astype(np.uint8)), "offsets must lie in \\[0, M\\)"),
    (lambda s: dict(offsets=s.offsets[:, ::-1].copy()), "strictly increasing within each group"),
    (lambda s: dict(offsets=np.zeros_like(s.offsets)), "strictly increasing within each group"),
    (lambda s: dict(offsets=s.offsets.astype(np.int32)), "offsets must have dtype uint8"),
    (lambda s: dict(values=s.values[:, :2]), "values must have shape \\(rows, cols // M \\* N\\) = \\(3, 4\\)"),
    (lambda s: dict(n=5), "N <= M"),
    (lambda s: dict(shape=(3, 10)), "M=4 does not divide"),
])
def test_nm_invariants(change, match):
    s = valid_nm()
    kw = dict(values=s.values, offsets=s.offsets, n=s.n, m=s.m, shape=s.shape) | change(s)
    with pytest.raises((ValueError, TypeError), match=match):
        NMSparse(**kw)


# ----------------------------------------------------------------------------- equality and conversions

def test_csr_equality_is_by_pattern_and_values():
    w = torch.tensor([[0.0, 1.0, 0.0], [2.0, 0.0, 3.0]])
    a, b = CSR.from_dense(w), CSR.from_dense(w.clone())
    assert a == b and not (a != b)
    assert a != CSR.from_dense(w * 2) and a != CSR.from_dense(w.T.contiguous())
    assert a != CSR.from_dense(w.double())
    n1 = NMSparse.from_dense(torch.randn(2, 8, generator=torch.Generator().manual_seed(0)), 2, 4, prune=True)
    assert n1 == NMSparse(n1.values.copy(), n1.offsets.copy(), 2, 4, n1.shape)


@settings(max_examples=40, deadline=None)
@given(rows=st.integers(1, 12), cols=st.integers(1, 70), density=st.floats(0, 1), seed=st.integers(0, 999))
def test_csr_round_trips_through_torch_and_scipy(rows, cols, density, seed):
    import scipy.sparse as sps

    rng = np.random.default_rng(seed)
    w = (rng.normal(size=(rows, cols)) * (rng.random((rows, cols)) < density)).astype(np.float32)
    c = CSR.from_dense(w)
    for index_dtype in (torch.int64, torch.int32):
        t = c.to_torch(index_dtype)
        assert t.layout == torch.sparse_csr and t.crow_indices().dtype == index_dtype
        np.testing.assert_array_equal(t.to_dense().numpy(), w)
        assert CSR.from_torch(t) == c
    assert CSR.from_torch(torch.from_numpy(w)) == c  # a dense tensor: its non-zeros
    s = c.to_scipy()
    assert isinstance(s, sps.csr_array)
    np.testing.assert_array_equal(s.toarray(), w)
    assert CSR.from_scipy(s) == c
    assert CSR.from_scipy(sps.coo_matrix(w)) == c  # any scipy format


def test_conversions_refuse_what_they_cannot_read():
    with pytest.raises(TypeError, match="scipy.sparse"):
        CSR.from_scipy(np.ones((2, 2)))
    with pytest.raises(ValueError, match="layout"):
        CSR.from_torch(torch.eye(3).to_sparse_coo())
    with pytest.raises(ValueError, match="index_dtype"):
        CSR.from_dense(torch.eye(3)).to_torch(torch.int16)
