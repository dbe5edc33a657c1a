"""The one training loop of the package, its result object, and evaluation.

``fit`` trains for a number of optimizer steps or of passes over the data, on any batch iterator,
with optional evaluation every few steps, early stopping on the validation loss, gradient
clipping, a scheduler stepped per pass or per step, and a per-step callback. Batches are moved to
the model's device. Every other trainer in the package is a thin front-end that builds its
batches and its loss and calls ``fit``: ``train_epochs`` (tensors in memory),
``rnn.train_sequences`` (padded sequences sorted by length), and
``control.dynamics.fit_dynamics`` (regression with a ReLU-budget penalty).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.nn import functional as F

from .checks import one_of, positive_int
from .data.split import Split, batches

__all__ = ["Batch", "FitResult", "accuracy", "eval_mode", "evaluate", "fit", "train_epochs",
           "classification_loss", "SCHEDULER_INTERVALS"]

Batch = tuple  # (inputs, target): inputs a tensor, or a tuple of tensors passed as model(*inputs)
SCHEDULER_INTERVALS = ("epoch", "step")


@contextlib.contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """``model.eval()`` inside the block; afterwards the model is in the mode it was in before."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


def accuracy(output: torch.Tensor, target: torch.Tensor) -> float:
    """Number of rows whose arg-max is the target (a *count*, so that batches add up; ``evaluate``
    divides by the number of examples)."""
    return float((output.argmax(-1) == target).sum().item())


def _device_of(model: nn.Module) -> torch.device:
    for t in (*model.parameters(), *model.buffers()):
        return t.device
    return torch.device("cpu")


def _to(obj, device: torch.device):
    """Tensors (also inside tuples and lists) moved to ``device``; a tensor already there is returned as is."""
    if isinstance(obj, torch.Tensor):
        return obj.to(device, non_blocking=True)
    if isinstance(obj, (tuple, list)):
        return type(obj)(_to(o, device) for o in obj)
    return obj


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 4096,
             loss_fn: Callable = F.cross_entropy, metric: Callable | None = accuracy) -> tuple[float, float]:
    """Mean loss and mean metric of ``model`` on (x, y), in eval mode (the model's mode is restored).

    ``loss_fn(output, target)`` defaults to cross-entropy; ``metric(output, target)`` returns the
    batch's *sum* (default: the number of correct arg-maxes, so the mean is the accuracy as a
    fraction); ``metric=None`` returns NaN in its place (a regression, say). Batches are moved to
    the model's device."""
    positive_int("batch_size", batch_size)
    device = _device_of(model)
    loss, total = 0.0, 0.0
    with eval_mode(model):
        for i in range(0, len(y), batch_size):
            xb, yb = _to(x[i : i + batch_size], device), _to(y[i : i + batch_size], device)
            out = model(xb)
            loss += float(loss_fn(out, yb, reduction="sum").item())
            if metric is not None:
                total += metric(out, yb)
    n = max(len(y), 1)
    return loss / n, (total / n if metric is not None else float("nan"))


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

    def _need_evaluations(self, what: str) -> None:
        if not self.val_loss:
            raise ValueError(f"{what} needs evaluations: this run made none (give fit eval_every and an evaluator "
                             "or a Split)")

    @property
    def best_index(self) -> int:
        """Index of the evaluation with the lowest validation loss (the first one on ties)."""
        self._need_evaluations("best_index")
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
        self._need_evaluations("max_test_acc")
        return max(self.test_acc)

    @property
    def final_test_acc(self) -> float:
        self._need_evaluations("final_test_acc")
        return self.test_acc[-1]

    def summary(self) -> dict:
        """The run in a few numbers: the last pass's training loss, and - when it was evaluated - the
        early-stopping step and test accuracy there, the final test accuracy and the best validation
        accuracy (``None`` for a run without evaluations)."""
        out: dict = {"passes": len(self.epoch_loss), "final_train_loss": self.epoch_loss[-1] if self.epoch_loss
                     else None, "early_stop_step": None, "early_stop_test_acc": None, "final_test_acc": None,
                     "best_val_acc": None}
        if self.val_loss:
            out.update(early_stop_step=self.early_stop_step, early_stop_test_acc=self.early_stop_test_acc,
                       final_test_acc=self.final_test_acc, best_val_acc=max(self.val_acc))
        return out


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


def _check_budget(steps: int | None, epochs: int | None) -> None:
    if (steps is None) == (epochs is None):
        raise ValueError(f"give exactly one of steps and epochs, got steps={steps!r}, epochs={epochs!r}")
    positive_int("steps" if steps is not None else "epochs", steps if steps is not None else epochs)


def _batches_of(data, batch_size, generator, evaluator):
    """(a function giving one pass of batches, the evaluator) for a Split or a batch function."""
    if isinstance(data, Split):
        if batch_size is None:
            raise ValueError("batch_size is needed to draw minibatches from a Split")
        split = data
        return (lambda: batches(split.x_train, split.y_train, batch_size, generator, drop_last=True),
                evaluator or _split_evaluator(split))
    if not callable(data):
        raise TypeError(f"data must be a Split or a function returning batches, got {type(data).__name__}")
    return data, evaluator


class _Stopper:
    """Records each evaluation and says when ``patience`` evaluations passed without a lower validation loss."""

    def __init__(self, res: FitResult, patience: int | None):
        self.res, self.patience, self.best, self.waited = res, patience, float("inf"), 0

    def record(self, step: int, vl: float, va: float, ta: float) -> bool:
        self.res.steps.append(step)
        self.res.val_loss.append(vl)
        self.res.val_acc.append(va)
        self.res.test_acc.append(ta)
        self.best, self.waited = (vl, 0) if vl < self.best else (self.best, self.waited + 1)
        if self.patience is not None and self.waited >= self.patience:
            self.res.stopped_early = True
        return self.res.stopped_early


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
    scheduler_interval: str = "epoch",
) -> FitResult:
    """Train ``model`` for exactly ``steps`` optimizer steps or ``epochs`` passes (give one).

    ``data`` is a ``Split`` (minibatches of ``batch_size`` from its training part, reshuffled with
    ``generator`` every pass, the last incomplete batch dropped; evaluation on its validation and
    test parts) or a function returning one pass of batches ``(inputs, target)``; every batch is
    moved to the model's device. ``loss(model, batch)`` defaults to ``loss_fn(model(inputs),
    target)``. Every ``eval_every`` steps and at the last one, ``evaluator(model)`` returns
    (validation loss, validation accuracy, test accuracy); with ``patience``, training stops after
    that many evaluations without a lower validation loss. ``clip_grad`` clips the gradient norm;
    ``on_step(step)`` runs after each optimizer step; ``scheduler.step()`` runs after each pass
    (``scheduler_interval="epoch"``) or after each optimizer step (``"step"``). A pass cut short by
    ``steps`` is recorded in ``epoch_loss`` as far as it went.
    """
    _check_budget(steps, epochs)
    one_of("scheduler_interval", scheduler_interval, SCHEDULER_INTERVALS)
    data, evaluator = _batches_of(data, batch_size, generator, evaluator)
    if eval_every is not None and (eval_every < 1 or evaluator is None):
        raise ValueError("eval_every must be a positive number of steps, with an evaluator (or a Split) to run")
    if patience is not None and (eval_every is None or patience < 1):
        raise ValueError(f"patience (evaluations without improvement) needs eval_every and must be >= 1, "
                         f"got {patience!r}")
    loss = loss or (lambda m, b: classification_loss(m, b, loss_fn))
    device = _device_of(model)
    res = FitResult()
    stopper, step = _Stopper(res, patience), 0
    model.train()
    while True:
        total, seen, last = 0.0, 0, False
        for batch in data():
            batch = _to(batch, device)
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
            if scheduler is not None and scheduler_interval == "step":
                scheduler.step()
            last = steps is not None and step >= steps
            if eval_every is not None and (step % eval_every == 0 or last):
                vl, va, ta = evaluator(model)
                model.train()
                last = stopper.record(step, vl, va, ta) or last
            if last:
                break
        if seen == 0:
            raise ValueError("the batch iterator yielded no batch (too few examples for one batch?)")
        res.epoch_loss.append(total / seen)
        if scheduler is not None and scheduler_interval == "epoch":
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
    on_step: Callable[[int], None] | None = None,
    loss_fn: Callable = F.cross_entropy,
    clip_grad: float | None = None,
) -> list[float]:
    """``fit`` for ``epochs`` passes over tensors in memory (the last batch kept, however small);
    returns the mean training loss of each pass."""
    res = fit(model, optimizer, lambda: batches(x, y, batch_size, generator), epochs=epochs, loss_fn=loss_fn,
              clip_grad=clip_grad, on_step=on_step)
    return res.epoch_loss
