"""sparsekit.convert: any model's Linear and Conv2d layers swapped for sparse inference layers that
compute what the masked dense model computes (torch's own layers as the oracle)."""

import pytest
import torch
from torch import nn
from torch.nn.utils import prune as torch_prune

from sparsekit.convert import sparse_layers, to_dense, to_sparse
from sparsekit.nm import NMConv2d, NMLinear
from sparsekit.nn import SparseConv2d, SparseLinear
from sparsekit.prune import Pruner


def small_resnet_like():
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU(),
        nn.Conv2d(8, 16, 1, stride=2, bias=False),  # a ResNet downsample
        nn.Conv2d(16, 16, 3, padding=1, groups=16),  # depthwise: stays dense by default
        nn.Conv2d(16, 16, 3, padding=2, dilation=2, groups=2),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 10)).eval()


def test_a_globally_pruned_model_converts_and_computes_the_masked_model():
    net = small_resnet_like()
    Pruner(net).prune_to(0.6, scope="global")
    sparse = to_sparse(net)
    kinds = [type(m).__name__ for m in sparse]
    assert kinds.count("SparseConv2d") == 3 and kinds.count("SparseLinear") == 1 and kinds.count("Conv2d") == 1
    assert isinstance(net[0], nn.Conv2d)  # the original is left as it was
    x = torch.randn(2, 3, 12, 12)
    with torch.no_grad():
        torch.testing.assert_close(sparse(x), net(x), rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(to_dense(sparse)(x), net(x), rtol=1e-4, atol=1e-5)


def test_masks_from_a_pruner_or_a_dict_and_a_filter():
    net = small_resnet_like()
    pr = Pruner(net)
    pr.prune_to(0.5)
    sparse = to_sparse(net, pr, filter_fn=lambda mod, name: isinstance(mod, nn.Linear))
    assert list(sparse_layers(sparse)) == ["8"]
    assert sparse_layers(sparse)["8"].weight.nnz == int(pr.masks["8.weight"].sum())
    with pytest.raises(KeyError, match="no module"):
        to_sparse(net, {"nowhere.weight": torch.ones(1, dtype=torch.bool)})
    with pytest.raises(TypeError, match="Pruner, a dict"):
        to_sparse(net, [1, 2])
    with pytest.raises(ValueError, match="format must be one of"):
        to_sparse(net, format="bsr")


def test_nm_format_and_nm_layers():
    torch.manual_seed(1)
    net = nn.Sequential(nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, 4))
    sparse = to_sparse(net, format="nm")
    assert all(m.format == "nm" for m in sparse_layers(sparse).values())
    x = torch.randn(3, 16)
    with torch.no_grad():
        torch.testing.assert_close(sparse(x), to_dense(sparse)(x), rtol=1e-5, atol=1e-5)
    trained = nn.Sequential(NMConv2d(8, 8, 3, padding=1), nn.Flatten(), NMLinear(8 * 4 * 4, 4))
    conv = to_sparse(trained)
    xi = torch.randn(2, 8, 4, 4)
    with torch.no_grad():
        torch.testing.assert_close(conv(xi), trained(xi), rtol=1e-4, atol=1e-5)
    assert isinstance(conv[0], SparseConv2d) and isinstance(conv[2], SparseLinear)


def test_a_model_pruned_with_torch_prune_is_read_through_its_mask():
    net = small_resnet_like()
    torch_prune.l1_unstructured(net[8], "weight", amount=0.7)
    torch_prune.random_unstructured(net[3], "weight", amount=0.5)
    x = torch.randn(2, 3, 12, 12)
    with torch.no_grad():
        want = net(x)
    sparse = to_sparse(net)
    with torch.no_grad():
        torch.testing.assert_close(sparse(x), want, rtol=1e-4, atol=1e-5)
    assert sparse[8].weight.nnz == int(net[8].weight_mask.sum())
    assert not hasattr(sparse[8], "weight_orig")
    # the Pruner refuses to rank weight_orig, and reads the masks on request
    with pytest.raises(ValueError, match="torch.nn.utils.prune"):
        Pruner(net)
    torch_mask = net[8].weight_mask.bool().clone()
    pr = Pruner.from_torch_pruned(net)
    assert torch.equal(pr.masks["8.weight"], torch_mask) and not hasattr(net[8], "weight_orig")
    pr.prune_to(0.9)  # further pruning ranks only what torch had kept
    assert int(pr.masks["8.weight"].sum()) == 16 and not (pr.masks["8.weight"] & ~torch_mask).any()
