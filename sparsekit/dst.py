"""Dynamic sparse training: masks that change while a sparse network trains (SET, RigL).

One mechanism, :class:`MaskUpdater`, and a method is two scoring functions on top of it (the design
of google-research/rigl's ``SparseSETOptimizer`` / ``SparseRigLOptimizer``). Every ``every`` optimizer
steps until ``end_step``, in every pruned tensor:

1. *drop* ``k = round(f_t * n_active)`` active weights, those of lowest ``drop_score`` (both methods:
   ``|w|``);
2. *grow* ``k`` weights among the positions that are not active after the drop (a just-dropped
   weight may come back), those of highest ``grow_score`` - SET (Mocanu et al. 2018): uniformly
   random; RigL (Evci et al. 2020, arXiv 1911.11134): ``|dL/dw|``, the dense gradient of the last
   batch, taken before the mask zeroes it.

Grown weights start at zero and with zero optimizer state (RigL's ``grow_init='zeros'``; under a
:class:`~sparsekit.prune.Pruner` a pruned weight's value and state are already exactly zero). The
drop fraction anneals from ``drop_fraction`` as RigL's cosine schedule,
``f_t = drop_fraction / 2 * (1 + cos(pi t / end_step))``, or stays constant. The number of active
weights of every tensor never changes.

>>> import torch
>>> from torch import nn
>>> from sparsekit.prune import Pruner
>>> net = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 2))
>>> pr = Pruner(net)
>>> pr.prune_to(0.75)
>>> opt = pr.attach(torch.optim.SGD(net.parameters(), lr=0.1))
>>> rigl = RigL(pr, opt, every=1, end_step=10)
>>> x, y = torch.randn(4, 8), torch.tensor([0, 1, 0, 1])
>>> for _ in range(3):
...     opt.zero_grad(); nn.functional.cross_entropy(net(x), y).backward(); opt.step()
>>> rigl.updates, round(pr.sparsity(), 2)
(3, 0.75)
"""

from __future__ import annotations

import math

import torch

from .checks import fraction, non_negative_int, one_of, positive_int
from .prune import Pruner

__all__ = ["ANNEALS", "drop_fraction_at", "MaskUpdater", "SET", "RigL"]

ANNEALS = ("cosine", "constant")


def drop_fraction_at(step: int, drop_fraction: float, end_step: int, anneal: str = "cosine") -> float:
    """The share of active weights dropped at ``step``: RigL's cosine decay to 0 at ``end_step``, or constant.

    >>> drop_fraction_at(0, 0.3, 100), drop_fraction_at(50, 0.3, 100), drop_fraction_at(100, 0.3, 100)
    (0.3, 0.15, 0.0)
    """
    one_of("anneal", anneal, ANNEALS)
    if anneal == "constant":
        return drop_fraction if step < end_step else 0.0
    return 0.5 * drop_fraction * (1 + math.cos(math.pi * min(step, end_step) / end_step)) if step < end_step \
        else 0.0


class MaskUpdater:
    """Drop and regrow a share of each pruned tensor every ``every`` steps (see the module docstring).

    ``pruner`` holds the masks and must already be attached to ``optimizer``; create the updater after
    ``pruner.attach(optimizer)`` so that its step hook runs after the pruner's. Subclasses define
    ``drop_score`` and ``grow_score`` (higher = keep / grow)."""

    def __init__(self, pruner: Pruner, optimizer: torch.optim.Optimizer, every: int, end_step: int,
                 drop_fraction: float = 0.3, anneal: str = "cosine", begin_step: int = 0,
                 generator: torch.Generator | None = None):
        self.pruner, self.optimizer = pruner, optimizer
        self.every = positive_int("every", every)
        self.end_step = positive_int("end_step", end_step)
        self.begin_step = non_negative_int("begin_step", begin_step)
        self.drop_fraction = fraction("drop_fraction", drop_fraction)
        self.anneal = one_of("anneal", anneal, ANNEALS)
        if optimizer not in pruner._optimizers:
            raise ValueError("attach the optimizer to the pruner first (opt = pruner.attach(opt)), then create the "
                             "updater: the masks must be kept exact through the optimizer")
        self.generator = generator
        self.step_count, self.updates = 0, 0
        self.changed: list[float] = []  # share of each update's active weights that moved
        self._grads: dict[str, torch.Tensor] = {}
        self._hooks = [p.register_hook(self._grad_hook(n)) for n, p in pruner.params.items()]
        self._hooks.append(optimizer.register_step_post_hook(lambda opt, args, kwargs: self._after_step()))

    # ------------------------------------------------------------------ the two scores
    def drop_score(self, name: str, weight: torch.Tensor) -> torch.Tensor:
        return weight.abs()

    def grow_score(self, name: str, weight: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    needs_grad = False

    # ------------------------------------------------------------------ the mechanism
    def _due(self, step: int) -> bool:
        return self.begin_step <= step < self.end_step and step % self.every == 0 and step > 0

    def _grad_hook(self, name: str):
        def hook(grad: torch.Tensor):
            if self.needs_grad and self._due(self.step_count + 1):
                self._grads[name] = grad.detach().clone()
            return grad
        return hook

    def _after_step(self) -> None:
        self.step_count += 1
        if self._due(self.step_count):
            self.update(drop_fraction_at(self.step_count, self.drop_fraction, self.end_step, self.anneal))

    @torch.no_grad()
    def update(self, share: float) -> None:
        """One drop-and-grow of ``share`` of every tensor's active weights."""
        new, moved, total = {}, 0, 0
        for name, p in self.pruner.params.items():
            mask = self.pruner.masks[name]
            active = int(mask.sum())
            k = round(share * active)
            if k == 0 or active == mask.numel():
                continue
            w = p.detach()
            keep_score = torch.where(mask, self.drop_score(name, w).float(), torch.full_like(w, -math.inf,
                                                                                              dtype=torch.float32))
            order = torch.sort(keep_score.flatten(), stable=True).indices
            dropped = order[mask.numel() - active : mask.numel() - active + k]  # the k lowest active ones
            after = mask.clone().flatten()
            after[dropped] = False
            grow = torch.where(after, torch.full_like(w, -math.inf, dtype=torch.float32).flatten(),
                               self.grow_score(name, w).float().flatten())
            grown = torch.sort(grow, descending=True, stable=True).indices[:k]
            after[grown] = True
            new[name] = after.view(mask.shape)
            moved += int((new[name] & ~mask).sum())
            total += active
        if new:
            self.pruner.set_masks(new)  # zeroes the dropped weights and their optimizer state
        self.changed.append(moved / total if total else 0.0)
        self.updates += 1
        self._grads.clear()

    def remove(self) -> None:
        for h in self._hooks:
            h.remove()
        self._hooks.clear()


class SET(MaskUpdater):
    """SET (Mocanu et al. 2018): drop the smallest ``|w|``, regrow at uniformly random empty positions."""

    def grow_score(self, name: str, weight: torch.Tensor) -> torch.Tensor:
        return torch.rand(weight.shape, generator=self.generator)


class RigL(MaskUpdater):
    """RigL (Evci et al. 2020): drop the smallest ``|w|``, regrow where the dense gradient ``|dL/dw|`` is largest."""

    needs_grad = True

    def grow_score(self, name: str, weight: torch.Tensor) -> torch.Tensor:
        g = self._grads.get(name)
        if g is None:
            raise RuntimeError(f"RigL needs the dense gradient of {name!r} from the step before an update: call "
                               "loss.backward() before every optimizer.step()")
        return g.abs()
