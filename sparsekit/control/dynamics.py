"""A ReLU MLP dynamics model whose hidden neurons are each ReLU, identity or removed.

Neuron sparsification (our reading of Liu et al. 2023's "relaxed to a continuous problem"; the
paper's exact scheme was not checked): every hidden neuron j has gate logits over {ReLU, identity,
off}. In a *relaxed* stage the neuron outputs ``g_relu * relu(a) + g_id * a`` with
``g = softmax(logits / T)``, and the loss adds ``penalty * max(0, sum_j g_relu,j - budget)``; the
stage ends by *hardening*: the ``budget`` neurons most likely to be ReLU stay ReLU, every other one
becomes identity or off (whichever its gates prefer), and the weights are fine-tuned with the
gates fixed. Budgets shrink stage by stage (e.g. 64 -> 32 -> 16 -> 8 -> 4 ReLUs).

Identity neurons are linear, so they fold with the output layer into an affine skip term
``A z + c``: the MILP sees only the ReLU neurons.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .. import train
from ..data.split import batches
from ..utils import progress as progress_bar

__all__ = ["GatedMLP", "Folded", "fit_dynamics", "mse", "sparsify"]

RELU, IDENTITY, OFF = 0, 1, 2


class GatedMLP(nn.Module):
    """``f(z) = W2 h + b2`` with ``h_j`` = ReLU, identity or zero of ``a_j = W1_j z + b1_j``."""

    def __init__(self, num_inputs: int, num_outputs: int, hidden: int = 64):
        super().__init__()
        self.fc1 = nn.Linear(num_inputs, hidden)
        self.fc2 = nn.Linear(hidden, num_outputs)
        self.logits = nn.Parameter(torch.tensor([[2.0, 0.0, 0.0]]).repeat(hidden, 1))
        self.register_buffer("kind", torch.zeros(hidden, dtype=torch.int64))  # hard gates
        # inputs are standardised and outputs rescaled inside the model (folded into the weights for the MILP)
        self.register_buffer("x_mean", torch.zeros(num_inputs))
        self.register_buffer("x_std", torch.ones(num_inputs))
        self.register_buffer("y_std", torch.ones(num_outputs))
        self.relaxed = False
        self.temperature = 1.0

    def set_normalization(self, x: torch.Tensor, y: torch.Tensor) -> GatedMLP:
        """Standardise inputs and scale outputs by the data's statistics (physical units outside)."""
        self.x_mean.copy_(x.mean(0))
        self.x_std.copy_(x.std(0).clamp_min(1e-8))
        self.y_std.copy_(y.std(0).clamp_min(1e-8))
        return self

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        a = self.fc1((z - self.x_mean) / self.x_std)
        if self.relaxed:
            g = torch.softmax(self.logits / self.temperature, dim=-1)
            h = g[:, RELU] * torch.relu(a) + g[:, IDENTITY] * a
        else:
            kind: torch.Tensor = self.kind  # type: ignore[assignment]  # a buffer
            h = torch.where(kind == RELU, torch.relu(a), torch.where(kind == IDENTITY, a, torch.zeros_like(a)))
        return self.fc2(h) * self.y_std

    def relu_probability(self) -> torch.Tensor:
        return torch.softmax(self.logits / self.temperature, dim=-1)[:, RELU]

    def n_relu(self) -> int:
        return int((self.kind == RELU).sum())

    def harden(self, budget: int) -> None:
        """Keep the ``budget`` most ReLU-like neurons as ReLU; the rest become identity or off."""
        with torch.no_grad():
            g = torch.softmax(self.logits, dim=-1)
            kind = torch.where(g[:, IDENTITY] >= g[:, OFF], IDENTITY, OFF)
            kind[torch.argsort(g[:, RELU], descending=True, stable=True)[:budget]] = RELU
            self.kind.copy_(kind)
            # restart the gates from the hard choice, so the next relaxed stage begins here
            self.logits.copy_(torch.nn.functional.one_hot(kind, 3).float() * 4.0)
        self.relaxed = False

    def folded(self) -> Folded:
        """The network as ``W2r relu(W1r z + b1r) + A z + c``, only ReLU neurons left (numpy, float64)."""
        mu, sd, ys = (t.detach().double().numpy() for t in (self.x_mean, self.x_std, self.y_std))
        w1 = self.fc1.weight.detach().double().numpy() / sd  # W1 ((z - mu) / sd) = (W1 / sd) z - (W1 / sd) mu
        b1 = self.fc1.bias.detach().double().numpy() - w1 @ mu
        w2 = self.fc2.weight.detach().double().numpy() * ys[:, None]
        b2 = self.fc2.bias.detach().double().numpy() * ys
        kind = self.kind.numpy()
        r, i = kind == RELU, kind == IDENTITY
        return Folded(w1[r], b1[r], w2[:, r], w2[:, i] @ w1[i], w2[:, i] @ b1[i] + b2)


@dataclass
class Folded:
    """``f(z) = w2 relu(w1 z + b1) + a z + c``; ``w1`` has one row per ReLU neuron."""

    w1: np.ndarray
    b1: np.ndarray
    w2: np.ndarray
    a: np.ndarray
    c: np.ndarray

    @property
    def n_relu(self) -> int:
        return self.w1.shape[0]

    def __call__(self, z: np.ndarray) -> np.ndarray:
        return np.maximum(z @ self.w1.T + self.b1, 0.0) @ self.w2.T + z @ self.a.T + self.c


def fit_dynamics(model: GatedMLP, x: torch.Tensor, y: torch.Tensor, epochs: int, lr: float = 1e-2,
                 batch_size: int = 128, budget: int | None = None, penalty: float = 1e-2, seed: int = 0) -> float:
    """Train on (x, y) with MSE on the standardised outputs (Adam, cosine-annealed learning rate),
    through ``train.fit``; with ``budget`` (relaxed gates), add the ReLU-budget penalty
    ``penalty * relu(sum_j P(unit j is a ReLU) - budget)``. Returns the last pass's mean MSE."""
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(1, epochs))

    def loss(m: nn.Module, batch) -> torch.Tensor:
        assert isinstance(m, GatedMLP)
        xb, yb = batch
        value = nn.functional.mse_loss(m(xb) / m.y_std, yb / m.y_std)
        if budget is not None and m.relaxed:
            value = value + penalty * torch.relu(m.relu_probability().sum() - budget)
        return value

    res = train.fit(model, opt, lambda: batches(x, y, batch_size, g), epochs=epochs, loss=loss, scheduler=sched)
    return res.epoch_loss[-1]


@torch.no_grad()
def mse(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    with train.eval_mode(model):
        return float(nn.functional.mse_loss(model(x), y))


def sparsify(model: GatedMLP, x: torch.Tensor, y: torch.Tensor, budgets: list[int], relax_epochs: int = 10,
             finetune_epochs: int = 10, seed: int = 0, progress: bool = True) -> dict[int, GatedMLP]:
    """Shrink the number of ReLUs stage by stage; returns a hard-gated copy of the model per budget."""
    if sorted(budgets, reverse=True) != list(budgets) or budgets[-1] < 0:
        raise ValueError(f"budgets must be non-increasing and non-negative, got {budgets}")
    if budgets[0] > model.fc1.out_features:
        raise ValueError(f"the first budget ({budgets[0]}) exceeds the hidden width ({model.fc1.out_features})")
    out = {}
    for k, budget in enumerate(progress_bar(budgets, desc="sparsify", disable=not progress)):
        model.relaxed, model.temperature = True, 1.0
        fit_dynamics(model, x, y, relax_epochs, budget=budget, seed=seed + k)
        model.harden(budget)
        fit_dynamics(model, x, y, finetune_epochs, lr=3e-3, seed=seed + 100 + k)
        out[budget] = copy.deepcopy(model)
    return out
