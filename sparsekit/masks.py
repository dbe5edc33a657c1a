"""Pure mask functions: weights (and the current mask) in, a new boolean mask out.

Conventions shared by every function here:

- a mask is a ``torch.bool`` tensor of the parameter's shape, ``True`` = weight kept;
- counts are exact: pruning to sparsity ``s`` of ``n`` weights zeroes ``round(s * n)`` of them
  (half rounds to even, as Python's ``round``), never one more for a tie at the threshold;
- ties are broken deterministically: among equal magnitudes the weight with the lower flat index
  (in the order the tensors are given) is pruned first;
- a weight pruned in ``mask`` stays pruned (masks only shrink).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch

__all__ = [
    "check_sparsity",
    "magnitude_mask",
    "prune_fraction",
    "global_magnitude_masks",
    "global_prune_fraction",
    "random_mask",
    "erk_densities",
    "cubic_sparsity",
    "nm_mask",
    "check_nm",
    "sparsity_of",
]


# --------------------------------------------------------------------------- validation


def check_sparsity(sparsity: float, name: str = "sparsity") -> float:
    """Return ``sparsity`` as a float, or raise naming the argument and the accepted range [0, 1)."""
    try:
        s = float(sparsity)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a number in [0, 1), got {sparsity!r}") from None
    if not (0.0 <= s < 1.0) or math.isnan(s):
        raise ValueError(f"{name} must be in [0, 1) (1 would remove every weight), got {sparsity!r}")
    return s


def _check_fraction(fraction: float, name: str = "fraction") -> float:
    f = float(fraction)
    if not (0.0 <= f < 1.0):
        raise ValueError(f"{name} (share of the surviving weights to prune) must be in [0, 1), got {fraction!r}")
    return f


def _check_mask(mask: torch.Tensor | None, weight: torch.Tensor, name: str = "mask") -> torch.Tensor:
    if mask is None:
        return torch.ones(weight.shape, dtype=torch.bool, device=weight.device)
    if tuple(mask.shape) != tuple(weight.shape):
        raise ValueError(f"{name} has shape {tuple(mask.shape)} but the weight has shape {tuple(weight.shape)}")
    return mask.to(device=weight.device).bool()


def _check_weight(weight: torch.Tensor, name: str = "weight") -> torch.Tensor:
    if not isinstance(weight, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(weight).__name__}")
    if not weight.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got dtype {weight.dtype}")
    if torch.isnan(weight).any():
        raise ValueError(f"{name} contains NaN: a magnitude order is undefined")
    return weight.detach()


# --------------------------------------------------------------------------- magnitude


def _prune_lowest(scores: torch.Tensor, alive: torch.Tensor, n_zero: int) -> torch.Tensor:
    """Flat boolean keep-mask with exactly ``n_zero`` False entries: every dead entry plus the
    lowest-scoring live ones (lower index first among equal scores)."""
    n = scores.numel()
    n_dead = int((~alive).sum())
    if n_zero < n_dead:
        raise ValueError(
            f"the target prunes {n_zero} of {n} weights but the current mask already prunes {n_dead}; "
            "masks only shrink, so ask for a sparsity at least the current one"
        )
    key = torch.where(alive, scores.double(), torch.full_like(scores, -math.inf, dtype=torch.float64))
    order = torch.argsort(key, stable=True)  # ascending; dead entries (-inf) first
    keep = torch.ones(n, dtype=torch.bool, device=scores.device)
    keep[order[:n_zero]] = False
    return keep


def magnitude_mask(
    weight: torch.Tensor, sparsity: float, mask: torch.Tensor | None = None
) -> torch.Tensor:
    """Keep the largest-magnitude weights so that exactly ``round(sparsity * numel)`` are pruned.

    >>> w = torch.tensor([[0.1, -3.0], [2.0, 0.1]])
    >>> magnitude_mask(w, 0.5)
    tensor([[False,  True],
            [ True, False]])
    """
    w = _check_weight(weight)
    s = check_sparsity(sparsity)
    alive = _check_mask(mask, w).flatten()
    n_zero = round(s * w.numel())
    return _prune_lowest(w.abs().flatten(), alive, n_zero).view(w.shape)


def prune_fraction(weight: torch.Tensor, fraction: float, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Prune ``round(fraction * alive)`` of the weights that ``mask`` still keeps (one IMP round)."""
    w = _check_weight(weight)
    f = _check_fraction(fraction)
    alive = _check_mask(mask, w).flatten()
    n_alive = int(alive.sum())
    n_zero = (w.numel() - n_alive) + round(f * n_alive)
    return _prune_lowest(w.abs().flatten(), alive, n_zero).view(w.shape)


def _global(
    weights: Mapping[str, torch.Tensor], masks: Mapping[str, torch.Tensor] | None, n_zero_of
) -> dict[str, torch.Tensor]:
    if not weights:
        raise ValueError("weights is empty: give at least one tensor to prune")
    names = list(weights)
    ws = [_check_weight(weights[k], f"weights[{k!r}]") for k in names]
    masks = masks or {}
    unknown = set(masks) - set(names)
    if unknown:
        raise KeyError(f"masks names parameters not in weights: {sorted(unknown)}")
    alive = [_check_mask(masks.get(k), w, f"masks[{k!r}]").flatten() for k, w in zip(names, ws)]
    device = ws[0].device
    scores = torch.cat([w.abs().flatten().to(device) for w in ws])
    alive_all = torch.cat([a.to(device) for a in alive])
    keep = _prune_lowest(scores, alive_all, n_zero_of(scores.numel(), int(alive_all.sum())))
    out, start = {}, 0
    for k, w in zip(names, ws):
        out[k] = keep[start : start + w.numel()].view(w.shape).to(w.device)
        start += w.numel()
    return out


def global_magnitude_masks(
    weights: Mapping[str, torch.Tensor], sparsity: float, masks: Mapping[str, torch.Tensor] | None = None
) -> dict[str, torch.Tensor]:
    """One magnitude threshold pooled over all tensors: exactly ``round(sparsity * total)`` pruned."""
    s = check_sparsity(sparsity)
    return _global(weights, masks, lambda n, n_alive: round(s * n))


def global_prune_fraction(
    weights: Mapping[str, torch.Tensor], fraction: float, masks: Mapping[str, torch.Tensor] | None = None
) -> dict[str, torch.Tensor]:
    """Prune ``round(fraction * alive)`` of the surviving weights, pooled over all tensors."""
    f = _check_fraction(fraction)
    return _global(weights, masks, lambda n, n_alive: (n - n_alive) + round(f * n_alive))


# --------------------------------------------------------------------------- random and ERK


def random_mask(
    shape: Sequence[int] | torch.Size, sparsity: float, generator: torch.Generator | None = None
) -> torch.Tensor:
    """A uniformly random mask with exactly ``round(sparsity * numel)`` pruned entries."""
    s = check_sparsity(sparsity)
    shape = tuple(int(d) for d in shape)
    if any(d < 0 for d in shape):
        raise ValueError(f"shape must have non-negative sizes, got {shape}")
    n = math.prod(shape)
    keep = torch.ones(n, dtype=torch.bool)
    keep[torch.randperm(n, generator=generator)[: round(s * n)]] = False
    return keep.view(shape)


def erk_densities(
    shapes: Mapping[str, Sequence[int]],
    density: float,
    power: float = 1.0,
    dense: Sequence[str] = (),
) -> dict[str, float]:
    """Erdos-Renyi-Kernel per-layer densities (RigL, arXiv 1911.11134).

    Layer l gets ``d_l = eps * raw_l`` with ``raw_l = (sum of its dims / product of its dims) ** power``;
    ``eps`` solves ``sum_l d_l N_l = density * sum_l N_l``. A layer whose density would exceed 1 is
    made dense and ``eps`` re-solved, until none does. Layers named in ``dense`` are dense from the start.
    """
    if not shapes:
        raise ValueError("shapes is empty")
    d = float(density)
    if not (0.0 < d <= 1.0):
        raise ValueError(f"density must be in (0, 1] (density = 1 - sparsity), got {density!r}")
    unknown = set(dense) - set(shapes)
    if unknown:
        raise KeyError(f"dense names layers not in shapes: {sorted(unknown)}")
    numel = {k: math.prod(int(x) for x in s) for k, s in shapes.items()}
    raw = {k: (sum(int(x) for x in s) / numel[k]) ** power for k, s in shapes.items()}
    total = sum(numel.values())
    dense_set = set(dense)
    while True:
        sparse = [k for k in shapes if k not in dense_set]
        budget = d * total - sum(numel[k] for k in dense_set)
        if not sparse:
            break
        if budget < 0:
            raise ValueError(
                f"density {d} is too low to keep the layers {sorted(dense_set)} dense; raise it or drop them"
            )
        eps = budget / sum(raw[k] * numel[k] for k in sparse)
        over = [k for k in sparse if eps * raw[k] > 1.0]
        if not over:
            break
        dense_set.update(over)
    out = {}
    for k in shapes:
        out[k] = 1.0 if k in dense_set else eps * raw[k]
    return out


# --------------------------------------------------------------------------- schedule


def cubic_sparsity(
    step: int,
    final_sparsity: float,
    begin_step: int,
    end_step: int,
    initial_sparsity: float = 0.0,
    interval: int = 1,
) -> float:
    """Zhu & Gupta (arXiv 1710.01878) gradual schedule.

    ``s_t = s_f + (s_i - s_f) * (1 - (t - t0) / (n * dt)) ** 3`` for ``t`` in ``{t0, t0 + dt, ..., t0 + n dt}``:
    the step is snapped down to the last update, held at ``s_i`` before ``begin_step`` and at ``s_f``
    after ``end_step``. ``n = (end_step - begin_step) // interval``.
    """
    s_f = check_sparsity(final_sparsity, "final_sparsity")
    s_i = check_sparsity(initial_sparsity, "initial_sparsity")
    if s_i > s_f:
        raise ValueError(f"initial_sparsity ({s_i}) must not exceed final_sparsity ({s_f})")
    if interval < 1:
        raise ValueError(f"interval must be a positive number of steps, got {interval}")
    if end_step < begin_step + interval:
        raise ValueError(
            f"end_step ({end_step}) must be at least begin_step + interval ({begin_step + interval})"
        )
    n = (end_step - begin_step) // interval
    k = min(max((step - begin_step) // interval, 0), n)
    return s_f + (s_i - s_f) * (1.0 - k / n) ** 3


# --------------------------------------------------------------------------- N:M


def check_nm(n: int, m: int, size: int | None = None, name: str = "weight") -> None:
    """Raise a clear error unless 1 <= n <= m and m divides ``size`` (when given)."""
    if not (isinstance(n, int) and isinstance(m, int)):
        raise TypeError(f"N and M must be integers, got N={n!r}, M={m!r}")
    if m < 1 or n < 1:
        raise ValueError(f"N:M needs N >= 1 and M >= 1, got {n}:{m}")
    if n > m:
        raise ValueError(f"N:M needs N <= M (keep N of every M), got {n}:{m}")
    if size is not None and size % m:
        raise ValueError(
            f"M={m} does not divide the grouped dimension of {name} (size {size}); "
            f"use an M that divides {size} or pad the layer"
        )


def nm_mask(weight: torch.Tensor, n: int, m: int, dim: int = -1) -> torch.Tensor:
    """Keep the ``n`` largest-magnitude weights in every group of ``m`` consecutive entries along ``dim``.

    For an ``nn.Linear`` weight of shape (out, in) the default ``dim=-1`` groups along the input
    features, the reduction dimension that sparse tensor cores accelerate.
    """
    w = _check_weight(weight)
    if w.dim() == 0:
        raise ValueError("weight must have at least one dimension for an N:M mask")
    dim = dim % w.dim()
    check_nm(n, m, w.shape[dim])
    wt = w.movedim(dim, -1)
    groups = wt.abs().reshape(*wt.shape[:-1], wt.shape[-1] // m, m)
    # stable descending sort keeps the lower index first among equal magnitudes
    top = torch.argsort(groups, dim=-1, descending=True, stable=True)[..., :n]
    keep = torch.zeros_like(groups, dtype=torch.bool).scatter_(-1, top, True)
    return keep.reshape(wt.shape).movedim(-1, dim).contiguous()


def sparsity_of(masks: torch.Tensor | Mapping[str, torch.Tensor]) -> float:
    """Fraction of pruned entries in one mask or pooled over a dict of masks."""
    ms = [masks] if isinstance(masks, torch.Tensor) else list(masks.values())
    total = sum(m.numel() for m in ms)
    if total == 0:
        return 0.0
    return 1.0 - sum(int(m.bool().sum()) for m in ms) / total
