"""The numba.cuda kernels, run by Numba's CUDA simulator on the CPU, against the CPU kernels."""

import os

import numpy as np
import pytest

pytestmark = pytest.mark.skipif(
    os.environ.get("NUMBA_ENABLE_CUDASIM") != "1" and os.environ.get("SPARSEKIT_REAL_CUDA") != "1",
    reason="needs the CUDA simulator (set by conftest) or SPARSEKIT_REAL_CUDA=1 on a GPU",
)


@pytest.fixture(scope="module")
def kc():
    from sparsekit.kernels import cuda as kc

    assert kc.available()
    return kc


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(5, 8, 3), (17, 12, 33), (1, 4, 1), (9, 16, 40)])
def test_csr_cuda_matches_cpu(kc, dtype, shape):
    from numba import cuda

    from sparsekit.formats import CSR
    from sparsekit.kernels import cpu

    o, k, b = shape
    rng = np.random.default_rng(o * 100 + k)
    w = rng.standard_normal((o, k)).astype(dtype)
    w[rng.random((o, k)) < 0.7] = 0
    w[0] = 0  # an empty row
    dense = rng.standard_normal((k, b)).astype(dtype)
    c = CSR.from_dense(w)
    out = cuda.to_device(np.zeros((o, b), dtype))
    kc.rows_times_dense(cuda.to_device(c.indptr), cuda.to_device(c.indices), cuda.to_device(c.values),
                        cuda.to_device(dense), out)
    ref = cpu.rows_times_dense(c.indptr, c.indices, c.values, dense)
    np.testing.assert_allclose(out.copy_to_host(), ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("nm", [(2, 4), (1, 4), (4, 8)])
def test_nm_cuda_matches_cpu(kc, nm):
    from numba import cuda

    from sparsekit.formats import NMSparse
    from sparsekit.kernels import cpu

    n, m = nm
    rng = np.random.default_rng(n * 10 + m)
    w = rng.standard_normal((6, 2 * m)).astype(np.float32)
    f = NMSparse.from_dense(w, n, m, prune=True)
    dense = rng.standard_normal((2 * m, 5)).astype(np.float32)
    out = cuda.to_device(np.zeros((6, 5), np.float32))
    kc.nm_rows_times_dense(cuda.to_device(f.offsets), cuda.to_device(f.values), n, m, cuda.to_device(dense), out)
    ref = cpu.nm_rows_times_dense(f.offsets, f.values, n, m, dense)
    np.testing.assert_allclose(out.copy_to_host(), ref, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(ref, f.to_dense() @ dense, rtol=1e-5, atol=1e-5)


def test_cuda_sparse_input_as_csr_rows(kc):
    """The activation-sparse path on a GPU compresses x to CSR and reuses the row kernel."""
    from numba import cuda

    from sparsekit.kernels import cpu

    rng = np.random.default_rng(3)
    x = np.maximum(rng.standard_normal((4, 10)), 0).astype(np.float32)
    wt = rng.standard_normal((10, 7)).astype(np.float32)
    ip, ix, vv = cpu.dense_to_csr(x)
    out = cuda.to_device(np.zeros((4, 7), np.float32))
    kc.rows_times_dense(cuda.to_device(ip), cuda.to_device(ix), cuda.to_device(vv), cuda.to_device(wt), out)
    np.testing.assert_allclose(out.copy_to_host(), x @ wt, rtol=1e-5, atol=1e-5)


def test_device_copies_are_remade_when_arrays_change(kc):
    import torch

    from sparsekit.formats import CSR
    from sparsekit.kernels import _device_arrays

    w = np.arange(12, dtype=np.float32).reshape(3, 4)
    c = CSR.from_dense(w)
    dev = torch.device("cuda:0")
    names = ("indptr", "indices", "values")
    first = _device_arrays(c, dev, names)
    assert _device_arrays(c, dev, names) is first  # kept
    np.testing.assert_array_equal(first[2].copy_to_host(), c.values)
    c.values = c.values * 2  # replaced: the copy is remade
    again = _device_arrays(c, dev, names)
    assert again is not first
    np.testing.assert_array_equal(again[2].copy_to_host(), c.values)
    c.values[0] = -1.0  # edited in place: stale until invalidated, as documented
    assert _device_arrays(c, dev, names) is again
    c.invalidate_device_copies()
    assert _device_arrays(c, dev, names)[2].copy_to_host()[0] == -1.0
    assert c == CSR(c.indptr, c.indices, c.values, c.shape)  # the copies take no part in equality


@pytest.mark.skipif(os.environ.get("SPARSEKIT_REAL_CUDA") != "1", reason="needs a real GPU (SPARSEKIT_REAL_CUDA=1)")
def test_sparse_linear_through_the_dispatch_on_a_gpu():
    """SparseLinear on CUDA tensors goes through kernels' dispatch to the numba.cuda kernels."""
    import torch

    from sparsekit.masks import magnitude_mask
    from sparsekit.nn import SparseLinear

    torch.manual_seed(0)
    lin = torch.nn.Linear(64, 32)
    mask = magnitude_mask(lin.weight, 0.8)
    sp = SparseLinear.from_dense(lin, mask)
    x = torch.randn(9, 64)
    with torch.no_grad():
        ref = torch.nn.functional.linear(x, lin.weight * mask, lin.bias)
        got = sp.to("cuda")(x.cuda()).cpu()
    torch.testing.assert_close(got, ref, rtol=1e-4, atol=1e-4)
