"""The one training loop of the package, its result object, and evaluation.

``fit`` trains for a number of optimizer steps or of passes over the data, on any batch iterator,
with optional evaluation every few steps, early stopping on the validation loss, gradient
clipping, a per-epoch scheduler and a per-step callback. Every other trainer in the package is a
thin front-end that builds its batches and its loss and calls ``fit``: ``train_epochs`` (tensors
in memory), ``rnn.train_sequences`` (padded sequences sorted by length), and
``control.dynamics.fit`` (regression with a ReLU-budget penalty).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.nn import functional as F

from .data.split import Split, batches

__all__ = ["Batch", "FitResult", "evaluate", "fit", "train_epochs", "classification_loss"]

Batch = tuple  # (inputs, target): inputs a tensor, or a tuple of tensors passed as model(*inputs)


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 4096) -> tuple[float, float]:
    """Mean cross-entropy loss and accuracy (fraction) of ``model`` on (x, y)."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
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
    """What ``fit`` saw: the training loss of each pass, and each evaluation (step, validation loss
    and accuracy, test accuracy). ``stopped_early`` says whether early stopping ended the run."""

    epoch_loss: list[float] = field(default_factory=list)
    steps: list[int] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_acc: list[float] = field(default_factory=list)
    test_acc: list[float] = field(default_factory=list)
    stopped_early: bool = False

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
    def max_test_acc(self) -> float:
        """The highest test accuracy of any evaluation (the measure Greydanus & Kobak report)."""
        return max(self.test_acc)

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


def classification_loss(model: nn.Module, batch: Batch, loss_fn: Callable = F.cross_entropy) -> torch.Tensor:
    """``loss_fn(model(*inputs), target)`` for a batch ``(inputs, target)``."""
    inputs, target = batch
    out = model(*inputs) if isinstance(inputs, tuple) else model(inputs)
    return loss_fn(out, target)


def _split_evaluator(data: Split) -> Callable[[nn.Module], tuple[float, float, float]]:
    def run(model: nn.Module) -> tuple[float, float, float]:
        vl, va = evaluate(model, data.x_val, data.y_val)
        return vl, va, evaluate(model, data.x_test, data.y_test)[1]

    return run


def fit(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    data: Split | Callable[[], Iterable[Batch]],
    *,
    steps: int | None = None,
    epochs: int | None = None,
    batch_size: int | None = None,
    generator: torch.Generator | None = None,
    loss: Callable[[nn.Module, Batch], torch.Tensor] | None = None,
    loss_fn: Callable = F.cross_entropy,
    eval_every: int | None = None,
    evaluator: Callable[[nn.Module], tuple[float, float, float]] | None = None,
    patience: int | None = None,
    clip_grad: float | None = None,
    on_step: Callable[[int], None] | None = None,
    scheduler=None,
) -> FitResult:
    """Train ``model`` for exactly ``steps`` optimizer steps or ``epochs`` passes (give one).

    ``data`` is a ``Split`` (minibatches of ``batch_size`` from its training part, reshuffled with
    ``generator`` every pass, the last incomplete batch dropped; evaluation on its validation and
    test parts) or a function returning one pass of batches ``(inputs, target)``. ``loss(model,
    batch)`` defaults to ``loss_fn(model(inputs), target)``. Every ``eval_every`` steps and at the
    last one, ``evaluator(model)`` returns (validation loss, validation accuracy, test accuracy);
    with ``patience``, training stops after that many evaluations without a lower validation
    loss. ``clip_grad`` clips the gradient norm; ``on_step(step)`` runs after each optimizer step;
    ``scheduler.step()`` after each pass. A pass cut short by ``steps`` is recorded in
    ``epoch_loss`` as far as it went.
    """
    if (steps is None) == (epochs is None):
        raise ValueError(f"give exactly one of steps and epochs, got steps={steps!r}, epochs={epochs!r}")
    budget = steps if steps is not None else epochs
    if not isinstance(budget, int) or budget < 1:
        raise ValueError(f"{'steps' if steps is not None else 'epochs'} must be a positive integer, got {budget!r}")
    if isinstance(data, Split):
        if batch_size is None:
            raise ValueError("batch_size is needed to draw minibatches from a Split")
        split = data
        data = lambda: batches(split.x_train, split.y_train, batch_size, generator, drop_last=True)
        evaluator = evaluator or _split_evaluator(split)
    elif not callable(data):
        raise TypeError(f"data must be a Split or a function returning batches, got {type(data).__name__}")
    if eval_every is not None and (eval_every < 1 or evaluator is None):
        raise ValueError("eval_every must be a positive number of steps, with an evaluator (or a Split) to run")
    if patience is not None and (eval_every is None or patience < 1):
        raise ValueError(f"patience (evaluations without improvement) needs eval_every and must be >= 1, "
                         f"got {patience!r}")
    loss = loss or (lambda m, b: classification_loss(m, b, loss_fn))

    res, step, best, waited = FitResult(), 0, float("inf"), 0
    model.train()
    while True:
        total, seen = 0.0, 0
        for batch in data():
            optimizer.zero_grad(set_to_none=True)
            value = loss(model, batch)
            value.backward()
            if clip_grad is not None:
                nn.utils.clip_grad_norm_(model.parameters(), clip_grad)
            optimizer.step()
            step += 1
            total += value.item() * len(batch[-1])
            seen += len(batch[-1])
            if on_step is not None:
                on_step(step)
            last = steps is not None and step >= steps
            if eval_every is not None and (step % eval_every == 0 or last):
                vl, va, ta = evaluator(model)
                model.train()
                res.steps.append(step)
                res.val_loss.append(vl)
                res.val_acc.append(va)
                res.test_acc.append(ta)
                best, waited = (vl, 0) if vl < best else (best, waited + 1)
                if patience is not None and waited >= patience:
                    res.stopped_early = True
                    last = True
            if last:
                break
        if seen == 0:
            raise ValueError("the batch iterator yielded no batch (too few examples for one batch?)")
        res.epoch_loss.append(total / seen)
        if scheduler is not None:
            scheduler.step()
        done = step >= steps if steps is not None else len(res.epoch_loss) >= epochs
        if res.stopped_early or done:
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
    """``fit`` for ``epochs`` passes over tensors in memory (the last batch kept, however small);
    returns the mean training loss of each pass."""
    res = fit(model, optimizer, lambda: batches(x, y, batch_size, generator), epochs=epochs, loss_fn=loss_fn,
              clip_grad=clip_grad, on_step=None if after_step is None else (lambda _step: after_step()))
    return res.epoch_loss
