"""Training-free activation sparsity on the inputs of linear layers: TEAL's thresholds, WINA's scores.

A *gate* zeroes entries of a linear layer's input before the product, so a kernel that skips
zeros (``sparsekit.kernels.sparse_input_matmul``) has less to do. Two published rules:

- **TEAL** (Liu et al. 2024, arXiv 2408.14690): ``x_i -> 0`` where ``|x_i| <= tau``, with one
  threshold ``tau`` per layer set offline as the ``sparsity`` quantile of ``|x|`` over calibration
  inputs (:func:`teal_thresholds`). The share zeroed on new text is near, not exactly, ``sparsity``.
- **WINA** (Chen et al. 2025, arXiv 2505.19427): per token, keep the ``1 - sparsity`` share of inputs
  with the largest ``|x_i| * ||W_{:,i}||_2`` (the column norm of the weight that consumes them) - an
  exact share per token.

:func:`gated` applies either to a set of linear layers inside a ``with`` block, with forward
pre-hooks that are removed afterwards, and counts the share of inputs it zeroed.

>>> import torch
>>> lin = torch.nn.Linear(8, 2)
>>> x = torch.randn(64, 8)
>>> tau = teal_thresholds({"lin": x}, 0.5)
>>> with gated({"lin": lin}, "teal", 0.5, thresholds=tau) as g:
...     _ = lin(x)
>>> round(g.zeroed_share(), 2)
0.5
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping

import torch
from torch import nn

from .checks import fraction, one_of

__all__ = ["RULES", "teal_thresholds", "teal_gate", "wina_gate", "Gates", "gated"]

RULES = ("teal", "wina")


def teal_thresholds(inputs: Mapping[str, torch.Tensor], sparsity: float) -> dict[str, float]:
    """Per layer, the ``sparsity`` quantile of ``|x|`` over its calibration inputs (any shape, last
    dimension the features): TEAL's offline thresholds for a uniform per-layer sparsity."""
    s = fraction("sparsity", sparsity)
    out = {}
    for name, x in inputs.items():
        a = x.detach().abs().float().flatten()
        if a.numel() == 0:
            raise ValueError(f"no calibration inputs for {name!r}")
        if a.numel() > 2**24:  # torch.quantile's input limit: a strided subsample keeps the distribution
            a = a[:: a.numel() // 2**24 + 1]
        out[name] = float(torch.quantile(a, s)) if s > 0 else -1.0
    return out


def teal_gate(x: torch.Tensor, tau: float) -> torch.Tensor:
    """``x`` with every entry of ``|x| <= tau`` set to zero."""
    return torch.where(x.abs() <= tau, torch.zeros_like(x), x)


def wina_gate(x: torch.Tensor, column_norms: torch.Tensor, sparsity: float) -> torch.Tensor:
    """``x`` with, per token (last dimension), the ``round(sparsity * d)`` entries of smallest
    ``|x_i| * ||W_{:,i}||`` set to zero."""
    s = fraction("sparsity", sparsity)
    d = x.shape[-1]
    if column_norms.shape != (d,):
        raise ValueError(f"column_norms must have the input's {d} features, got shape {tuple(column_norms.shape)}")
    k = round(s * d)
    if k == 0:
        return x
    score = x.abs() * column_norms.to(x.dtype)
    drop = torch.topk(score, k, dim=-1, largest=False).indices
    return x.scatter(-1, drop, 0.0)


class Gates:
    """What :func:`gated` applied: entries seen and zeroed (by the gate itself) per layer."""

    def __init__(self) -> None:
        self.seen: dict[str, int] = {}
        self.zeroed: dict[str, int] = {}

    def zeroed_share(self, name: str | None = None) -> float:
        names = [name] if name is not None else list(self.seen)
        seen = sum(self.seen[n] for n in names)
        return sum(self.zeroed[n] for n in names) / seen if seen else 0.0


@contextlib.contextmanager
def gated(linears: Mapping[str, nn.Linear], rule: str, sparsity: float,
          thresholds: Mapping[str, float] | None = None) -> Iterator[Gates]:
    """Inside the block each named linear layer sees its input gated by ``rule`` (``"teal"`` with the
    given per-layer ``thresholds``; ``"wina"`` with its weight's column norms) at ``sparsity``."""
    one_of("rule", rule, RULES)
    fraction("sparsity", sparsity)
    if rule == "teal":
        missing = sorted(set(linears) - set(thresholds or {}))
        if missing:
            raise ValueError(f"rule 'teal' needs a threshold for every layer (teal_thresholds); missing {missing[:3]}")
    log = Gates()

    def hook_for(name: str, lin: nn.Linear):
        norms = lin.weight.detach().norm(dim=0) if rule == "wina" else None

        def pre(_mod, args):
            x = args[0]
            y = teal_gate(x, thresholds[name]) if rule == "teal" else wina_gate(x, norms, sparsity)  # type: ignore
            log.seen[name] = log.seen.get(name, 0) + x.numel()
            log.zeroed[name] = log.zeroed.get(name, 0) + int(((y == 0) & (x != 0)).sum())
            return (y, *args[1:])
        return pre

    handles = [lin.register_forward_pre_hook(hook_for(n, lin)) for n, lin in linears.items()]
    try:
        yield log
    finally:
        for h in handles:
            h.remove()
