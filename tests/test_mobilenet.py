"""MobileNet v1 as Howard et al. define it, and its sparse 1x1 layers against dense convolutions."""

import pytest
import torch
from torch import nn

from sparsekit import bench
from sparsekit import mobilenet as mb
from sparsekit.nn import SparseConv2d


def test_mobilenet_v1_has_howards_shapes_and_mult_adds():
    model = mb.mobilenet_v1()
    pw = mb.pointwise_layers(model)
    assert len(pw) == 13 and len(model.features) == 27
    assert [(c.in_channels, c.out_channels) for _, c in pw][:3] == [(32, 64), (64, 128), (128, 128)]
    with torch.no_grad():
        assert model(torch.randn(1, 3, 224, 224)).shape == (1, 1000)
    f = mb.flops(model)
    # Howard et al. (arXiv 1704.04861) Table 2: 569 million mult-adds; Table 2: 1x1 convolutions take 94.86%
    assert f["total"] / 2 / 1e6 == pytest.approx(569, abs=1)
    assert f["pointwise"] / f["total"] == pytest.approx(0.9486, abs=5e-4)


def test_sparsified_mobilenet_keeps_exactly_the_density_and_computes_the_masked_network():
    dense = mb.mobilenet_v1(width=0.25, num_classes=10)
    sparse = mb.sparsify_pointwise(dense, 0.9, seed=1)
    for (_, d), (_, s) in zip(mb.pointwise_layers(dense), mb.pointwise_layers(sparse)):
        assert isinstance(s, SparseConv2d) and s.weight.nnz == round(0.1 * d.weight[:, :, 0, 0].numel())
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(sparse(x), bench._masked_dense(sparse)(x), rtol=1e-4, atol=1e-4)
    assert isinstance(mb.pointwise_layers(dense)[0][1], nn.Conv2d)  # the dense model is left as it was
    f = mb.flops(sparse, 64)
    assert f["pointwise"] == pytest.approx(0.1 * mb.flops(dense, 64)["pointwise"], rel=0.01)
    with pytest.raises(ValueError, match="sparsity"):
        mb.sparsify_pointwise(dense, 1.0)


def test_dense_variants_agree():
    model = mb.mobilenet_v1(width=0.25, num_classes=10)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        outs = {k: f() for k, f in mb.dense_variants(model, x).items()}
    assert len(outs) >= 2
    for k, y in outs.items():
        torch.testing.assert_close(y, outs["NCHW"], rtol=1e-3, atol=1e-3, msg=k)
