"""The shared models against hand-written torch forward passes; Glorot init against its variance."""

import pytest
import torch
from torch import nn

from sparsekit.models import ResidualMLP, SmallCNN, glorot_normal_, lenet_300_100, mlp


def test_mlp_is_the_composition_it_says():
    net = mlp([6, 5, 4, 3])
    x = torch.randn(7, 6)
    l0, l1, l2 = net[0], net[2], net[4]
    ref = l2(torch.relu(l1(torch.relu(l0(x)))))
    torch.testing.assert_close(net(x), ref)
    assert len(mlp([3, 2], bias=False)) == 1 and mlp([3, 2], bias=False)[0].bias is None
    with pytest.raises(ValueError, match="at least two positive"):
        mlp([5])
    with pytest.raises(ValueError, match="at least two positive"):
        mlp([5, 0, 2])


def test_lenet_300_100_shape_and_glorot_variance():
    torch.manual_seed(0)
    net = lenet_300_100()
    assert sum(m.weight.numel() for m in net if isinstance(m, nn.Linear)) == 266_200
    w = net[0].weight
    assert w.var().item() == pytest.approx(2 / (784 + 300), rel=0.05)  # Glorot normal: 2 / (fan_in + fan_out)
    assert all(m.bias.abs().sum() == 0 for m in net if isinstance(m, nn.Linear))
    conv = glorot_normal_(nn.Conv2d(4, 8, 3))
    assert conv.bias.abs().sum() == 0


def test_residual_mlp_forward():
    torch.manual_seed(0)
    net = ResidualMLP(num_inputs=40, hidden=16, num_classes=10)
    x = torch.randn(5, 40)
    h = torch.relu(x @ net.fc1.weight.T + net.fc1.bias)
    h = h + torch.relu(h @ net.fc2.weight.T + net.fc2.bias)
    torch.testing.assert_close(net(x), h @ net.fc3.weight.T + net.fc3.bias)


def test_small_cnn_accepts_flat_and_image_input():
    torch.manual_seed(0)
    net = SmallCNN(channels=(4, 8), hidden=16)
    x = torch.randn(3, 784)
    out = net(x)
    assert out.shape == (3, 10)
    torch.testing.assert_close(out, net(x.view(3, 1, 28, 28)))
