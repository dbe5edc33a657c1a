"""Notebook 08's study: training sparse networks - gradual and one-shot magnitude pruning, static
random masks (uniform, ER, ERK), SET and RigL, and random search over node masks.

Every arm is one :class:`Arm` (a model, a method, a sparsity, a layer-wise distribution) and is
trained by :func:`train_arm` with the package's one training loop (:func:`sparsekit.train.train_epochs`)
and a :class:`~sparsekit.prune.Pruner` that keeps the masks exact through Adam. :func:`tune_lr`
is the rule that puts every arm at its best: the learning rate of highest mean validation accuracy
over the tuning seeds, from one grid, the same for every arm.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from sparsekit.checks import fraction, one_of, positive_int
from sparsekit.data.split import Split
from sparsekit.dst import SET, RigL
from sparsekit.masks import cubic_sparsity, erk_densities, random_mask
from sparsekit.models import mlp
from sparsekit.prune import Pruner
from sparsekit.seeds import derive_seed, seeded
from sparsekit.train import evaluate, train_epochs

__all__ = ["MODELS", "METHODS", "DISTRIBUTIONS", "Arm", "Budget", "build", "layer_densities", "random_masks",
           "node_masks", "matched_width", "train_arm", "run", "tune_lr", "random_search", "weight_count"]

MODELS = ("mlp", "cnn")
METHODS = ("dense", "gradual", "oneshot", "static", "set", "rigl", "nodes")
DISTRIBUTIONS = ("uniform", "er", "erk")


@dataclass(frozen=True)
class Arm:
    """One way of training one network: ``method`` at ``sparsity`` (of the prunable weights).

    ``gradual`` and ``oneshot`` prune by magnitude per layer while training (dense start); ``static``,
    ``set`` and ``rigl`` start from random masks with ``distribution``'s layer-wise densities; ``nodes``
    keeps a random ``1 - sparsity`` share of every hidden layer's units (a random sub-network of nodes),
    and with ``search > 0`` the best of that many random node masks (:func:`random_search`)."""

    name: str
    model: str = "mlp"
    width: int = 256
    method: str = "dense"
    sparsity: float = 0.0
    distribution: str = "erk"
    search: int = 0

    def __post_init__(self):
        one_of("model", self.model, MODELS)
        one_of("method", self.method, METHODS)
        one_of("distribution", self.distribution, DISTRIBUTIONS)
        positive_int("width", self.width)
        if self.method == "dense":
            if self.sparsity != 0:
                raise ValueError(f"a dense arm has sparsity 0, got {self.sparsity!r}")
        else:
            fraction("sparsity", self.sparsity, low_open=True)
        if self.method == "nodes" and self.model != "mlp":
            raise ValueError("node masks are defined for the MLP (model='mlp')")
        if self.search and self.method != "nodes":
            raise ValueError(f"random search draws node masks: search > 0 needs method='nodes', got {self.method!r}")
        if self.search < 0:
            raise ValueError(f"search must be 0 (no search) or a number of candidates, got {self.search!r}")


@dataclass(frozen=True)
class Budget:
    """The training budget every arm gets alike: ``epochs`` of Adam at batch ``batch_size``;
    gradual pruning from ``prune_begin`` to ``prune_end`` (shares of the steps, updated once per
    epoch), one-shot pruning at ``prune_end``; SET and RigL update once per epoch, RigL's drop share
    annealed by a cosine to 0 at ``dst_end``, SET's constant to the last epoch."""

    epochs: int
    batch_size: int = 128
    prune_begin: float = 0.1
    prune_end: float = 0.6
    dst_end: float = 0.75
    drop_fraction: float = 0.3

    def __post_init__(self):
        positive_int("epochs", self.epochs)
        positive_int("batch_size", self.batch_size)
        fraction("prune_begin", self.prune_begin)
        fraction("prune_end", self.prune_end, low_open=True, high_open=False)
        fraction("dst_end", self.dst_end, low_open=True, high_open=False)
        fraction("drop_fraction", self.drop_fraction)
        if round(self.prune_begin * self.epochs) >= round(self.prune_end * self.epochs):
            raise ValueError(f"prune_begin ({self.prune_begin}) and prune_end ({self.prune_end}) leave no epoch "
                             f"of gradual pruning in {self.epochs} epochs")


# --------------------------------------------------------------------------- models


def build(arm: Arm, inputs: int = 40, classes: int = 10) -> nn.Module:
    """The arm's network: an MLP ``inputs -> width -> width -> classes`` or a 1-D CNN with ``width``
    channels (kernels 5, strides 1, 2, 2) and a linear read-out, for sequences of length ``inputs``."""
    if arm.model == "mlp":
        return mlp([inputs, arm.width, arm.width, classes])
    c = arm.width
    length = math.ceil(math.ceil(inputs / 2) / 2)
    return nn.Sequential(nn.Unflatten(1, (1, inputs)), nn.Conv1d(1, c, 5, padding=2), nn.ReLU(),
                         nn.Conv1d(c, c, 5, stride=2, padding=2), nn.ReLU(),
                         nn.Conv1d(c, c, 5, stride=2, padding=2), nn.ReLU(), nn.Flatten(),
                         nn.Linear(c * length, classes))


def weight_count(model: nn.Module) -> dict[str, int]:
    """Entries of every prunable weight (biases stay dense and are not counted)."""
    return {n: p.numel() for n, p in model.named_parameters() if p.dim() >= 2}


def matched_width(nonzeros: float, inputs: int = 40, classes: int = 10) -> int:
    """The width ``h`` of a dense MLP ``inputs -> h -> h -> classes`` whose weights number closest to
    ``nonzeros``: the positive root of ``h**2 + (inputs + classes) h = nonzeros``, rounded.

    >>> matched_width(0.1 * (40 * 256 + 256 * 256 + 256 * 10))
    67
    """
    if not nonzeros > 0:
        raise ValueError(f"nonzeros must be positive, got {nonzeros!r}")
    b = inputs + classes
    return max(1, round((-b + math.sqrt(b * b + 4 * nonzeros)) / 2))


def layer_densities(model: nn.Module, distribution: str, density: float) -> dict[str, float]:
    """Layer-wise densities of the prunable weights: ``uniform`` (every layer alike), ``er``
    (Erdos-Renyi, SET) or ``erk`` (Erdos-Renyi-Kernel, RigL) - :func:`sparsekit.masks.erk_densities`."""
    one_of("distribution", distribution, DISTRIBUTIONS)
    shapes = {n: tuple(p.shape) for n, p in model.named_parameters() if p.dim() >= 2}
    if distribution == "uniform":
        fraction("density", density, low_open=True, high_open=False)
        return {n: float(density) for n in shapes}
    return erk_densities(shapes, density, kernel=distribution == "erk")


def random_masks(model: nn.Module, densities: Mapping[str, float], generator: torch.Generator) -> dict:
    """A uniformly random mask per layer with exactly ``round((1 - d) * numel)`` pruned entries
    (the official codes draw Bernoulli(d) masks, whose counts vary by seed; exact counts keep every
    arm at exactly its non-zeros)."""
    shapes = {n: p.shape for n, p in model.named_parameters() if p.dim() >= 2}
    return {n: random_mask(shapes[n], 1.0 - d, generator) if d < 1.0 else torch.ones(shapes[n], dtype=torch.bool)
            for n, d in densities.items()}


def node_masks(model: nn.Module, keep: float, generator: torch.Generator) -> dict[str, torch.Tensor]:
    """Masks of a random sub-network of nodes of an MLP: ``round(keep * width)`` units of every hidden
    layer are kept, and a weight survives if both the units it joins do (inputs and outputs all kept)."""
    fraction("keep", keep, low_open=True, high_open=False)
    linears = [(n, m) for n, m in model.named_modules() if isinstance(m, nn.Linear)]
    alive = [torch.ones(linears[0][1].in_features, dtype=torch.bool)]
    for i, (_, m) in enumerate(linears):
        if i == len(linears) - 1:
            alive.append(torch.ones(m.out_features, dtype=torch.bool))
        else:
            k = max(1, round(keep * m.out_features))
            units = torch.zeros(m.out_features, dtype=torch.bool)
            units[torch.randperm(m.out_features, generator=generator)[:k]] = True
            alive.append(units)
    return {f"{n}.weight": alive[i + 1][:, None] & alive[i][None, :] for i, (n, _) in enumerate(linears)}


# --------------------------------------------------------------------------- training


def _schedule(arm: Arm, budget: Budget, pruner: Pruner, steps_per_epoch: int) -> Callable[[int], None] | None:
    """The per-step hook of gradual (cubic, once per epoch) or one-shot magnitude pruning."""
    t0 = round(budget.prune_begin * budget.epochs) * steps_per_epoch
    t1 = round(budget.prune_end * budget.epochs) * steps_per_epoch
    if arm.method == "gradual":
        def hook(step: int) -> None:
            if t0 < step <= t1 and (step - t0) % steps_per_epoch == 0:
                pruner.prune_to(cubic_sparsity(step, arm.sparsity, t0, t1, interval=steps_per_epoch))
        return hook
    if arm.method == "oneshot":
        def once(step: int) -> None:
            if step == t1:
                pruner.prune_to(arm.sparsity)
        return once
    return None


def train_arm(arm: Arm, data: Split, seed: int, lr: float, budget: Budget, masks: Mapping | None = None,
              epochs: int | None = None, return_model: bool = False) -> dict:
    """Train ``arm`` from seed ``seed`` (initialisation, masks and batch order) with Adam at ``lr``.

    Returns the validation and test accuracy at the end, the non-zero weights, the final sparsity and,
    for SET / RigL, the share of active weights each mask update moved. ``masks`` overrides the
    random initial masks (random search); ``epochs`` cuts the run short (its schedules are those of
    the full budget)."""
    fraction("lr", lr, low_open=True, high=10.0)
    with seeded(derive_seed(seed, "init", arm.model, arm.width)):
        model = build(arm, data.x_train.shape[1], data.num_classes)
    gen = torch.Generator().manual_seed(derive_seed(seed, "masks", arm.name))
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    n = len(data.y_train)
    spe = math.ceil(n / budget.batch_size)
    total = budget.epochs * spe
    pruner = hook = updater = None
    if arm.method != "dense":
        pruner = Pruner(model)
        if masks is not None:
            pruner.set_masks(masks)
        elif arm.method in ("static", "set", "rigl"):
            pruner.set_masks(random_masks(model, layer_densities(model, arm.distribution, 1 - arm.sparsity), gen))
        elif arm.method == "nodes":
            pruner.set_masks(node_masks(model, 1 - arm.sparsity, gen))
        opt = pruner.attach(opt)
        hook = _schedule(arm, budget, pruner, spe)
        if arm.method == "set":
            updater = SET(pruner, opt, every=spe, end_step=total, drop_fraction=budget.drop_fraction,
                          anneal="constant", generator=gen)
        elif arm.method == "rigl":
            updater = RigL(pruner, opt, every=spe, end_step=max(spe + 1, round(budget.dst_end * total)),
                           drop_fraction=budget.drop_fraction, anneal="cosine")
    batches = torch.Generator().manual_seed(derive_seed(seed, "batches"))
    train_epochs(model, opt, data.x_train, data.y_train, epochs or budget.epochs, budget.batch_size, batches,
                 on_step=hook)
    _, val_acc = evaluate(model, data.x_val, data.y_val)
    _, test_acc = evaluate(model, data.x_test, data.y_test)
    counts = weight_count(model)
    nonzeros = sum(int(pruner.masks[k].sum()) for k in counts) if pruner is not None else sum(counts.values())
    out = dict(arm=arm.name, seed=int(seed), lr=float(lr), val_acc=float(val_acc), test_acc=float(test_acc),
               nonzeros=int(nonzeros), sparsity=1 - nonzeros / sum(counts.values()),
               changed=list(updater.changed) if updater is not None else [])
    if return_model:
        out["model"] = model
    return out


def tune_lr(arm: Arm, data: Split, seeds: Sequence[int], grid: Sequence[float], budget: Budget,
            extend: int = 3) -> tuple[float, dict[float, float]]:
    """The rule that puts every arm at its best: train the arm at every learning rate of ``grid`` from
    each tuning seed and keep the rate of highest mean *validation* accuracy (ties: the smaller rate).
    If the best rate is at an end of the grid, the grid grows by one step beyond that end (the ratio
    of the two rates there), up to ``extend`` times, so that no arm is held at a grid's edge.
    Returns the chosen rate and the mean validation accuracy of every rate tried."""
    if not grid:
        raise ValueError("grid must hold at least one learning rate")
    if not seeds:
        raise ValueError("seeds must hold at least one tuning seed")
    if extend < 0:
        raise ValueError(f"extend must be a non-negative number of steps, got {extend!r}")
    rates = sorted(float(g) for g in grid)
    scores: dict[float, float] = {}

    def score(lr: float) -> None:
        if lr not in scores:
            scores[lr] = float(np.mean([run(arm, data, s, lr, budget)["val_acc"] for s in seeds]))

    for lr in rates:
        score(lr)
    up, down = (rates[-1] / rates[-2], rates[1] / rates[0]) if len(rates) > 1 else (1.0, 1.0)
    for _ in range(extend if len(rates) > 1 else 0):
        tried = sorted(scores)
        best = min(lr for lr in tried if scores[lr] == max(scores.values()))
        if best == tried[-1]:
            score(float(f"{tried[-1] * up:.12g}"))  # rounded: 3e-3 * 3 is 9e-3, not 0.009000000000000001
        elif best == tried[0]:
            score(float(f"{tried[0] / down:.12g}"))
        else:
            break
    top = max(scores.values())
    return min(lr for lr, v in scores.items() if v == top), dict(sorted(scores.items()))


def run(arm: Arm, data: Split, seed: int, lr: float, budget: Budget) -> dict:
    """One arm from one seed: :func:`random_search` for a searching arm, :func:`train_arm` otherwise."""
    if arm.search:
        return random_search(arm, data, seed, lr, budget)
    return train_arm(arm, data, seed, lr, budget)


def random_search(arm: Arm, data: Split, seed: int, lr: float, budget: Budget, short_epochs: int = 1) -> dict:
    """Random search over node masks (Farahani 2024, arXiv 2403.08265): draw ``arm.search`` random
    node masks, train each for ``short_epochs`` from the same initialisation, keep the one of highest
    validation accuracy and train it for the full budget. Returns that run, the candidates'
    short-run validation accuracies and the index chosen."""
    positive_int("short_epochs", short_epochs)
    if arm.method != "nodes" or arm.search < 1:
        raise ValueError(f"random search needs an arm with method='nodes' and search >= 1 candidates, got "
                         f"method={arm.method!r}, search={arm.search!r}")
    candidates = arm.search
    gen = torch.Generator().manual_seed(derive_seed(seed, "search", arm.name))
    with seeded(derive_seed(seed, "init", arm.model, arm.width)):
        shell = build(arm, data.x_train.shape[1], data.num_classes)
    draws = [node_masks(shell, 1 - arm.sparsity, gen) for _ in range(candidates)]
    short = [train_arm(arm, data, seed, lr, budget, masks=m, epochs=short_epochs)["val_acc"] for m in draws]
    best = int(np.argmax(short))
    out = train_arm(arm, data, seed, lr, budget, masks=draws[best])
    out.update(short=short, chosen=best)
    return out
