"""Notebook 03's study: N:M networks trained from scratch with STE / SR-STE, and their mask flips.

(Zhou et al. 2021, arXiv 2102.04010.) The layers, the SR-STE gradient, SAD and the integrated decay
live in the library (``sparsekit.nm``); here is the training recipe the notebook runs per arm.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from sparsekit.nm import SADTracker, nm_layers
from sparsekit.seeds import seeded
from sparsekit.train import evaluate, fit

__all__ = ["train_from_scratch"]


def train_from_scratch(make_model: Callable[[], nn.Module], data, *, seed: int, epochs: int, lr: float,
                       batch_size: int, momentum: float = 0.9, weight_decay: float = 5e-5) -> tuple[nn.Module, dict]:
    """Train ``make_model()`` (with or without N:M layers) by SGD with momentum and a per-step cosine
    schedule, the paper's recipe at small scale, through ``train.fit``.

    Returns the model and ``acc`` (test accuracy, %), ``lrs`` (the learning rate of every step),
    ``sad`` (the fraction of N:M mask entries that flipped at every step; empty for a dense model).
    """
    with seeded(seed):
        model = make_model()
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)
    steps = epochs * (len(data.y_train) // batch_size)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    tracker = SADTracker(model) if nm_layers(model) else None
    lrs: list[float] = []

    def on_step(step: int) -> None:
        lrs.append(sched.get_last_lr()[0])
        sched.step()
        if tracker is not None:
            tracker.step()

    fit(model, opt, data, epochs=epochs, batch_size=batch_size, generator=torch.Generator().manual_seed(seed),
        on_step=on_step)
    acc = 100 * evaluate(model, data.x_test, data.y_test)[1]
    return model, {"acc": acc, "lrs": lrs, "sad": list(tracker.history) if tracker else []}
