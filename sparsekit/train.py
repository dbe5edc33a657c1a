"""Small training and evaluation loops on in-memory tensors, with early-stopping bookkeeping."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.nn import functional as F

from .data.split import Split, batches


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 4096) -> tuple[float, float]:
    """Mean cross-entropy loss and accuracy (fraction) of ``model`` on (x, y)."""
    was_training = model.training
    model.eval()
    loss, correct = 0.0, 0
    for i in range(0, len(y), batch_size):
        out = model(x[i : i + batch_size])
        loss += F.cross_entropy(out, y[i : i + batch_size], reduction="sum").item()
        correct += (out.argmax(-1) == y[i : i + batch_size]).sum().item()
    model.train(was_training)
    n = max(len(y), 1)
    return loss / n, correct / n


@dataclass
class FitResult:
    steps: list[int] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_acc: list[float] = field(default_factory=list)
    test_acc: list[float] = field(default_factory=list)

    @property
    def best_index(self) -> int:
        """Index of the evaluation with the lowest validation loss (the first one on ties)."""
        return min(range(len(self.val_loss)), key=lambda i: (self.val_loss[i], i))

    @property
    def early_stop_step(self) -> int:
        """Iteration of minimum validation loss (Frankle & Carbin's measure of learning speed)."""
        return self.steps[self.best_index]

    @property
    def early_stop_test_acc(self) -> float:
        """Test accuracy at the iteration of minimum validation loss."""
        return self.test_acc[self.best_index]

    @property
    def final_test_acc(self) -> float:
        return self.test_acc[-1]

    def summary(self) -> dict:
        return {
            "early_stop_step": self.early_stop_step,
            "early_stop_test_acc": self.early_stop_test_acc,
            "final_test_acc": self.final_test_acc,
            "best_val_acc": max(self.val_acc),
        }


def fit(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    data: Split,
    steps: int,
    batch_size: int,
    eval_every: int,
    generator: torch.Generator | None = None,
    on_step: Callable[[int], None] | None = None,
    loss_fn: Callable = F.cross_entropy,
) -> FitResult:
    """Train for ``steps`` minibatch iterations (reshuffling each epoch); every ``eval_every`` steps
    record validation loss/accuracy and test accuracy. ``on_step(step)`` runs after each step."""
    if steps < 1 or eval_every < 1:
        raise ValueError(f"steps and eval_every must be positive, got {steps} and {eval_every}")
    res = FitResult()
    step = 0
    model.train()
    while step < steps:
        for xb, yb in batches(data.x_train, data.y_train, batch_size, generator, drop_last=True):
            optimizer.zero_grad(set_to_none=True)
            loss_fn(model(xb), yb).backward()
            optimizer.step()
            step += 1
            if on_step is not None:
                on_step(step)
            if step % eval_every == 0 or step == steps:
                vl, va = evaluate(model, data.x_val, data.y_val)
                _, ta = evaluate(model, data.x_test, data.y_test)
                res.steps.append(step)
                res.val_loss.append(vl)
                res.val_acc.append(va)
                res.test_acc.append(ta)
            if step >= steps:
                break
    return res


def train_epochs(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    x: torch.Tensor,
    y: torch.Tensor,
    epochs: int,
    batch_size: int,
    generator: torch.Generator | None = None,
    after_step: Callable[[], None] | None = None,
    loss_fn: Callable = F.cross_entropy,
    clip_grad: float | None = None,
) -> list[float]:
    """Plain epoch loop; returns the mean training loss of each epoch."""
    losses = []
    model.train()
    for _ in range(epochs):
        total, n = 0.0, 0
        for xb, yb in batches(x, y, batch_size, generator):
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model(xb), yb)
            loss.backward()
            if clip_grad is not None:
                nn.utils.clip_grad_norm_(model.parameters(), clip_grad)
            optimizer.step()
            if after_step is not None:
                after_step()
            total += loss.item() * len(yb)
            n += len(yb)
        losses.append(total / max(n, 1))
    return losses
