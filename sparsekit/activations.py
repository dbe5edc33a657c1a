"""Activation sparsity: forward hooks that measure it, and a top-k activation that enforces it.

Li et al., "The Lazy Neuron Phenomenon: On Emergence of Activation Sparsity in Transformers"
(ICLR 2023, arXiv 2210.06313) measure the percentage of non-zero entries of each token's MLP
activation (the d_ff-dimensional output of the ReLU), averaged over tokens.

:class:`ActivationMeter` attaches forward hooks to chosen activation modules and keeps, per module,
running sums only - the number of tokens, the sum and sum of squares of each token's non-zero
fraction - so measuring a whole data set keeps no activations in memory.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

import torch
from torch import nn

__all__ = ["TopK", "ActivationMeter", "activation_modules"]


class TopK(nn.Module):
    """Keep the ``k`` largest entries of each token's ReLU activation (last dimension), zero the rest.

    >>> TopK(2)(torch.tensor([[3.0, -1.0, 2.0, 5.0]]))
    tensor([[3., 0., 0., 5.]])
    """

    def __init__(self, k: int):
        super().__init__()
        if int(k) < 1:
            raise ValueError(f"k must be a positive number of entries to keep, got {k}")
        self.k = int(k)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(x)
        if self.k >= x.shape[-1]:
            return x
        vals, idx = torch.topk(x, self.k, dim=-1)
        return torch.zeros_like(x).scatter(-1, idx, vals)

    def extra_repr(self) -> str:
        return f"k={self.k}"


def activation_modules(model: nn.Module, types: tuple[type, ...] = (nn.ReLU, TopK)) -> dict[str, nn.Module]:
    """Every activation module of the given types in ``model``, by name."""
    return {name: m for name, m in model.named_modules() if isinstance(m, types)}  # type: ignore[misc]


class ActivationMeter:
    """Percentage of non-zero activation entries per token, per module, over everything run through it.

    >>> net = nn.Sequential(nn.Linear(4, 8), nn.ReLU())
    >>> with ActivationMeter(net) as meter:
    ...     _ = net(torch.randn(10, 4))
    >>> 0 <= meter.nonzero_percent()["1"] <= 100
    True
    """

    def __init__(self, model: nn.Module, modules: Mapping[str, nn.Module] | Iterable[str] | None = None):
        if modules is None:
            modules = activation_modules(model)
        elif not isinstance(modules, Mapping):
            named = dict(model.named_modules())
            missing = [n for n in modules if n not in named]
            if missing:
                raise KeyError(f"model has no modules named {missing}")
            modules = {n: named[n] for n in modules}
        if not modules:
            raise ValueError("no activation modules to measure: pass modules= (names or a dict)")
        self.modules = dict(modules)
        self._handles: list = []
        self.reset()

    def reset(self) -> None:
        self.tokens = {n: 0 for n in self.modules}
        self.sum = {n: 0.0 for n in self.modules}
        self.sumsq = {n: 0.0 for n in self.modules}
        self.fired = {n: None for n in self.modules}  # per neuron: how many tokens it was non-zero for

    def _hook(self, name):
        def hook(module, inputs, output):
            with torch.no_grad():
                on = (output > 0).flatten(0, -2)
                frac = on.float().mean(-1)  # one value per token
                self.tokens[name] += frac.numel()
                self.sum[name] += frac.sum().item()
                self.sumsq[name] += (frac * frac).sum().item()
                count = on.sum(0).cpu()
                self.fired[name] = count if self.fired[name] is None else self.fired[name] + count

        return hook

    def attach(self) -> ActivationMeter:
        if not self._handles:
            self._handles = [m.register_forward_hook(self._hook(n)) for n, m in self.modules.items()]
        return self

    def detach(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles = []

    def __enter__(self) -> ActivationMeter:
        return self.attach()

    def __exit__(self, *exc) -> None:
        self.detach()

    def nonzero_percent(self) -> dict[str, float]:
        """Mean over tokens of the percentage of non-zero entries, per module."""
        return {n: 100.0 * self.sum[n] / self.tokens[n] if self.tokens[n] else math.nan for n in self.modules}

    def nonzero_std(self) -> dict[str, float]:
        """Standard deviation over tokens of that percentage, per module."""
        out = {}
        for n in self.modules:
            t = self.tokens[n]
            if t < 2:
                out[n] = math.nan
                continue
            mean = self.sum[n] / t
            out[n] = 100.0 * math.sqrt(max(self.sumsq[n] / t - mean * mean, 0.0))
        return out

    def dead_percent(self) -> dict[str, float]:
        """Percentage of each module's neurons that were zero for every token seen ("dead")."""
        return {n: math.nan if f is None else 100.0 * (f == 0).float().mean().item() for n, f in self.fired.items()}

    def live_nonzero_percent(self) -> dict[str, float]:
        """The non-zero percentage counted over the live neurons only (those non-zero at least once):
        ``nonzero_percent * width / live``. If it falls as far as ``nonzero_percent``, the sparsity is
        not the work of dead neurons."""
        out = {}
        for n, pct in self.nonzero_percent().items():
            f = self.fired[n]
            live = 0 if f is None else int((f > 0).sum())
            out[n] = math.nan if live == 0 or f is None else pct * f.numel() / live
        return out

    def mean_percent(self) -> float:
        """Average over modules (layers) of the per-module percentage."""
        vals = [v for v in self.nonzero_percent().values() if not math.isnan(v)]
        return sum(vals) / len(vals) if vals else math.nan
