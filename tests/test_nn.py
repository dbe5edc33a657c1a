import pytest
import torch
from torch import nn

from sparsekit.masks import magnitude_mask, nm_mask
from sparsekit.nn import SparseInputLinear, SparseLinear


@pytest.mark.parametrize("shape", [(8, 16), (33, 64), (1, 4)])
@pytest.mark.parametrize("sparsity", [0.0, 0.5, 0.9])
def test_sparse_linear_matches_masked_linear(shape, sparsity):
    torch.manual_seed(0)
    lin = nn.Linear(shape[1], shape[0])
    all_pruned = round(sparsity * lin.weight.numel()) >= lin.weight.numel()
    # magnitude_mask refuses to prune every weight; the kernel must still handle an all-zero layer
    mask = torch.zeros_like(lin.weight, dtype=torch.bool) if all_pruned else magnitude_mask(lin.weight, sparsity)
    sp = SparseLinear.from_dense(lin, mask)
    x = torch.randn(5, 7, shape[1])
    with torch.no_grad():
        ref = nn.functional.linear(x, lin.weight * mask, lin.bias)
        torch.testing.assert_close(sp(x), ref, rtol=1e-5, atol=1e-5)
    if not all_pruned:
        assert SparseLinear.from_dense(lin, sparsity).weight.nnz == mask.sum().item()


def test_sparse_linear_nm_and_no_bias():
    torch.manual_seed(1)
    lin = nn.Linear(32, 12, bias=False)
    sp = SparseLinear.from_dense(lin, format="nm", n=2, m=4)
    x = torch.randn(3, 32)
    with torch.no_grad():
        torch.testing.assert_close(sp(x), x @ (lin.weight * nm_mask(lin.weight, 2, 4)).T, rtol=1e-5, atol=1e-5)


def test_sparse_linear_refuses_training_and_bad_args():
    lin = nn.Linear(4, 2)
    sp = SparseLinear.from_dense(lin, 0.5)
    with pytest.raises(RuntimeError, match="inference"):
        sp(torch.ones(1, 4, requires_grad=True))
    with pytest.raises(ValueError, match="format"):
        SparseLinear.from_dense(lin, 0.5, format="bsr")
    with pytest.raises(ValueError, match=r"sparsity must be in \[0, 1\)"):
        SparseLinear.from_dense(lin, 1.5)
    with pytest.raises(TypeError, match="nn.Linear"):
        SparseLinear.from_dense(nn.Conv2d(1, 1, 1), 0.5)


def test_sparse_input_linear():
    torch.manual_seed(2)
    lin = nn.Linear(20, 6)
    si = SparseInputLinear.from_dense(lin)
    x = torch.relu(torch.randn(2, 9, 20))
    with torch.no_grad():
        torch.testing.assert_close(si(x), lin(x), rtol=1e-5, atol=1e-5)
