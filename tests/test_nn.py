"""The sparse inference layers against the masked dense layers they replace (torch's linear and
conv2d), their buffers and state_dict, and their clear errors."""

import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from torch import nn

from sparsekit.masks import magnitude_mask, nm_mask
from sparsekit.nn import SparseConv2d, SparseInputLinear, SparseLinear


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


# ----------------------------------------------------------------------------- buffers and state_dict

def test_sparse_linear_weights_are_buffers_that_round_trip():
    torch.manual_seed(3)
    lin = nn.Linear(16, 8)
    for fmt in ("csr", "nm"):
        sp = SparseLinear.from_dense(lin, 0.5 if fmt == "csr" else None, format=fmt)
        state = sp.state_dict()
        assert "bias" in state and any(k.startswith("weight_") for k in state)
        other = SparseLinear.from_dense(nn.Linear(16, 8), 0.9 if fmt == "csr" else None, format=fmt)
        other.load_state_dict(state)  # a different number of non-zeros: the buffers take the stored shapes
        x = torch.randn(4, 16)
        with torch.no_grad():
            torch.testing.assert_close(other(x), sp(x))
        assert other.weight == sp.weight


def test_sparse_linear_to_double_converts_values_and_computes_in_float64():
    torch.manual_seed(4)
    lin = nn.Linear(12, 5)
    sp = SparseLinear.from_dense(lin, 0.5).double()
    assert sp.weight.values.dtype.name == "float64" and sp.bias.dtype == torch.float64
    x = torch.randn(3, 12, dtype=torch.float64)
    mask = magnitude_mask(lin.weight, 0.5)
    with torch.no_grad():
        ref = nn.functional.linear(x, (lin.weight * mask).double(), lin.bias.double())
        torch.testing.assert_close(sp(x), ref)
        with pytest.raises(TypeError, match="float32 but the layer's weight is torch.float64"):
            sp(x.float())


# ----------------------------------------------------------------------------- SparseConv2d


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 2), groups=st.sampled_from([1, 2]), c_in_g=st.integers(1, 5), c_out_g=st.integers(1, 5),
       k=st.sampled_from([1, 2, 3]), stride=st.integers(1, 3), padding=st.integers(0, 2), dilation=st.integers(1, 2),
       h=st.integers(3, 9), w=st.integers(3, 9), sparsity=st.sampled_from([0.0, 0.5, 0.9]), bias=st.booleans(),
       seed=st.integers(0, 1000))
def test_sparse_conv2d_matches_the_masked_conv2d(n, groups, c_in_g, c_out_g, k, stride, padding, dilation, h, w,
                                                 sparsity, bias, seed):
    assume((h + 2 * padding - dilation * (k - 1) - 1) >= 0 and (w + 2 * padding - dilation * (k - 1) - 1) >= 0)
    assume(round(sparsity * c_in_g * k * k * c_out_g) < c_in_g * k * k * c_out_g)
    torch.manual_seed(seed)
    conv = nn.Conv2d(c_in_g * groups, c_out_g * groups, k, stride, padding, dilation, groups, bias=bias)
    sp = SparseConv2d.from_dense(conv, sparsity)
    x = torch.randn(n, c_in_g * groups, h, w)
    with torch.no_grad():
        ref = nn.functional.conv2d(x, sp.weight_dense(), conv.bias, stride, padding, dilation, groups)
        torch.testing.assert_close(sp(x), ref, rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(sp(x.contiguous(memory_format=torch.channels_last)), ref, rtol=1e-4, atol=1e-5)
    kept = int((sp.weight_dense() != 0).sum())
    assert kept <= conv.weight.numel() - round(sparsity * conv.weight.numel() / groups) * groups + groups


def test_sparse_conv2d_strided_1x1_is_the_resnet_downsample():
    torch.manual_seed(5)
    conv = nn.Conv2d(16, 32, 1, stride=2, bias=False)
    mask = magnitude_mask(conv.weight, 0.9)
    sp = SparseConv2d.from_dense(conv, mask)
    x = torch.randn(2, 16, 14, 14)
    with torch.no_grad():
        torch.testing.assert_close(sp(x), nn.functional.conv2d(x, conv.weight * mask, stride=2), rtol=1e-4, atol=1e-5)


def test_sparse_conv2d_nm_in_both_orders_and_state_dict():
    from sparsekit.nm import NMConv2d

    torch.manual_seed(6)
    for layout in ("channel", "flat"):
        layer = NMConv2d(8, 4, 3, n=2, m=4, layout=layout, padding=1)
        sp = layer.to_sparse()
        assert sp.format == "nm" and sp.order == ("hwc" if layout == "channel" else "chw")
        x = torch.randn(2, 8, 6, 6)
        with torch.no_grad():
            torch.testing.assert_close(sp(x), layer(x), rtol=1e-4, atol=1e-5)
            again = NMConv2d(8, 4, 3, n=2, m=4, layout=layout, padding=1).to_sparse()
            again.load_state_dict(sp.state_dict())
            torch.testing.assert_close(again(x), layer(x), rtol=1e-4, atol=1e-5)


def test_sparse_conv2d_refuses_what_it_cannot_run():
    with pytest.raises(ValueError, match="zero padding"):
        SparseConv2d.from_dense(nn.Conv2d(4, 4, 3, padding=1, padding_mode="reflect"), 0.5)
    with pytest.raises(TypeError, match="nn.Conv2d"):
        SparseConv2d.from_dense(nn.Linear(4, 4), 0.5)
    with pytest.raises(ValueError, match="mask has shape"):
        SparseConv2d.from_dense(nn.Conv2d(4, 6, 1), torch.ones(6, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match="order must be one of"):
        SparseConv2d.from_dense(nn.Conv2d(4, 6, 1), 0.5, order="cwh")
    sp = SparseConv2d.from_dense(nn.Conv2d(4, 6, 1), 0.5)
    with torch.no_grad(), pytest.raises(ValueError, match="4 channels"):
        sp(torch.randn(1, 5, 3, 3))
    with pytest.raises(RuntimeError, match="no_grad"):
        sp(torch.randn(1, 4, 3, 3, requires_grad=True))
