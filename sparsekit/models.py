"""Small models the notebooks share: MLPs (LeNet-300-100, MNIST-1D residual MLP) and a small CNN."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

__all__ = ["glorot_normal_", "mlp", "lenet_300_100", "ResidualMLP", "SmallCNN"]


def glorot_normal_(module: nn.Module) -> nn.Module:
    """Gaussian Glorot initialisation of every Linear/Conv weight, zero biases (Frankle & Carbin's init)."""
    for m in module.modules():
        if isinstance(m, (nn.Linear, nn.Conv1d, nn.Conv2d)):
            nn.init.xavier_normal_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    return module


def mlp(sizes: Sequence[int], activation: type[nn.Module] = nn.ReLU, bias: bool = True) -> nn.Sequential:
    """Fully connected net ``sizes[0] -> ... -> sizes[-1]`` with ``activation`` between layers.

    >>> mlp([784, 300, 100, 10])
    Sequential(
      (0): Linear(in_features=784, out_features=300, bias=True)
      (1): ReLU()
      (2): Linear(in_features=300, out_features=100, bias=True)
      (3): ReLU()
      (4): Linear(in_features=100, out_features=10, bias=True)
    )
    """
    if len(sizes) < 2 or any(int(s) < 1 for s in sizes):
        raise ValueError(f"sizes must list at least two positive layer widths, got {list(sizes)}")
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(int(a), int(b), bias=bias))
        if i < len(sizes) - 2:
            layers.append(activation())
    return nn.Sequential(*layers)


def lenet_300_100(num_inputs: int = 784, num_classes: int = 10) -> nn.Sequential:
    """LeNet-300-100 (266,200 weights for MNIST) with Gaussian Glorot init, as in Frankle & Carbin."""
    net = mlp([num_inputs, 300, 100, num_classes])
    glorot_normal_(net)
    return net


class ResidualMLP(nn.Module):
    """The MNIST-1D lottery-ticket MLP: ``h = relu(W1 x); h = h + relu(W2 h); out = W3 h`` (Greydanus)."""

    def __init__(self, num_inputs: int = 40, hidden: int = 100, num_classes: int = 10):
        super().__init__()
        self.fc1 = nn.Linear(num_inputs, hidden)
        self.fc2 = nn.Linear(hidden, hidden)
        self.fc3 = nn.Linear(hidden, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.fc1(x))
        h = h + torch.relu(self.fc2(h))
        return self.fc3(h)


class SmallCNN(nn.Module):
    """Two 3x3 conv blocks and two Linear layers, for 28x28 one-channel images."""

    def __init__(self, channels: Sequence[int] = (16, 32), hidden: int = 128, num_classes: int = 10):
        super().__init__()
        c1, c2 = channels
        self.conv1 = nn.Conv2d(1, c1, 3, padding=1)
        self.conv2 = nn.Conv2d(c1, c2, 3, padding=1)
        self.fc1 = nn.Linear(c2 * 7 * 7, hidden)
        self.fc2 = nn.Linear(hidden, num_classes)
        self.pool = nn.MaxPool2d(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 2:
            x = x.view(-1, 1, 28, 28)
        x = self.pool(torch.relu(self.conv1(x)))
        x = self.pool(torch.relu(self.conv2(x)))
        return self.fc2(torch.relu(self.fc1(x.flatten(1))))
