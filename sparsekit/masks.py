"""Pure mask functions: weights (and the current mask) in, a new boolean mask out.

Conventions shared by every function here except :func:`percentile_masks` (the RNN thesis's rule,
kept as it published it: it keeps every weight tied at its threshold, so its counts are not exact):

- a mask is a ``torch.bool`` tensor of the parameter's shape, ``True`` = weight kept;
- counts are exact: pruning to sparsity ``s`` of ``n`` weights zeroes ``round(s * n)`` of them
  (half rounds to even, as Python's ``round``), never one more for a tie at the threshold;
- ties are broken deterministically: among equal magnitudes the weight with the lower flat index
  (in the order the tensors are given) is pruned first;
- no target empties a tensor: a count that rounds to every weight of it is refused;
- a weight pruned in ``mask`` stays pruned (masks only shrink).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence

import torch

from .checks import fraction, one_of

__all__ = [
    "check_sparsity",
    "magnitude_mask",
    "prune_surviving",
    "global_magnitude_masks",
    "global_prune_surviving",
    "collapse_point",
    "percentile_masks",
    "random_mask",
    "erk_densities",
    "cubic_sparsity",
    "nm_mask",
    "nm_mask_conv",
    "layer_nm_mask",
    "LAYOUTS",
    "check_nm",
    "sparsity_of",
]


# --------------------------------------------------------------------------- validation


def check_sparsity(sparsity: float, name: str = "sparsity") -> float:
    """Return ``sparsity`` as a float, or raise naming the argument and the accepted range [0, 1)."""
    if isinstance(sparsity, (bool, str)) or not isinstance(sparsity, numbers.Real):
        raise TypeError(f"{name} must be a number in [0, 1), got {type(sparsity).__name__} {sparsity!r}")
    s = float(sparsity)
    if not (0.0 <= s < 1.0) or math.isnan(s):
        raise ValueError(f"{name} must be in [0, 1) (1 would remove every weight), got {sparsity!r}")
    return s


def _check_rate(rate: float, name: str = "rate") -> float:
    """A rate (the share of the *surviving* weights to prune) has the range and type of a sparsity."""
    return check_sparsity(rate, name)


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


def _check_not_all(n_zero: int, n: int, what: str) -> None:
    """Refuse a target that rounds to every weight: a layer with no weight left is no network."""
    if n > 0 and n_zero >= n:
        raise ValueError(
            f"{what} prunes round(...) = {n_zero} of {n} weights, i.e. all of them; "
            f"ask for a value below {(n - 0.5) / n:.6g} so that at least one weight is kept"
        )


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
    _check_not_all(n_zero, w.numel(), f"sparsity={sparsity!r}")
    return _prune_lowest(w.abs().flatten(), alive, n_zero).view(w.shape)


def prune_surviving(weight: torch.Tensor, rate: float, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Prune ``round(rate * alive)`` of the weights that ``mask`` still keeps (one IMP round)."""
    w = _check_weight(weight)
    f = _check_rate(rate)
    alive = _check_mask(mask, w).flatten()
    n_alive = int(alive.sum())
    n_zero = (w.numel() - n_alive) + round(f * n_alive)
    _check_not_all(n_zero, w.numel(), f"rate={rate!r} of the {n_alive} surviving weights")
    return _prune_lowest(w.abs().flatten(), alive, n_zero).view(w.shape)


def _global(
    weights: Mapping[str, torch.Tensor], masks: Mapping[str, torch.Tensor] | None, n_zero_of,
    allow_empty_layers: bool = False,
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
    n_zero = n_zero_of(scores.numel(), int(alive_all.sum()))
    _check_not_all(n_zero, scores.numel(), "the requested sparsity or rate")
    keep = _prune_lowest(scores, alive_all, n_zero)
    out, start = {}, 0
    for k, w in zip(names, ws):
        out[k] = keep[start : start + w.numel()].view(w.shape).to(w.device)
        start += w.numel()
    emptied = [k for k, m in out.items() if m.numel() > 0 and not bool(m.any())]
    if emptied and not allow_empty_layers:
        raise ValueError(
            f"one global threshold prunes every weight of {emptied} (layer collapse): the network no longer "
            "connects its input to its output. Prune less, leave those tensors out, or pass "
            "allow_empty_layers=True to get the collapsed masks anyway")
    return out


def global_magnitude_masks(
    weights: Mapping[str, torch.Tensor], sparsity: float, masks: Mapping[str, torch.Tensor] | None = None,
    allow_empty_layers: bool = False,
) -> dict[str, torch.Tensor]:
    """One magnitude threshold pooled over all tensors: exactly ``round(sparsity * total)`` pruned.

    A threshold that empties a whole tensor is refused (as :func:`magnitude_mask` refuses to empty
    one) unless ``allow_empty_layers=True``."""
    s = check_sparsity(sparsity)
    return _global(weights, masks, lambda n, n_alive: round(s * n), allow_empty_layers)


def global_prune_surviving(
    weights: Mapping[str, torch.Tensor], rate: float, masks: Mapping[str, torch.Tensor] | None = None,
    allow_empty_layers: bool = False,
) -> dict[str, torch.Tensor]:
    """Prune ``round(rate * alive)`` of the surviving weights, pooled over all tensors (an emptied
    tensor refused as in :func:`global_magnitude_masks`)."""
    f = _check_rate(rate)
    return _global(weights, masks, lambda n, n_alive: (n - n_alive) + round(f * n_alive), allow_empty_layers)


def collapse_point(weights: Mapping[str, torch.Tensor]) -> tuple[str, int]:
    """Where one global magnitude threshold first empties a tensor (layer collapse, in the sense of
    Tanaka et al. 2020): ``(name, k)`` with ``k`` the smallest number of pooled weights whose pruning
    by :func:`global_magnitude_masks` (same order, lower index first among ties) leaves tensor
    ``name`` with none. Any sparsity ``s`` with ``round(s * total) >= k`` collapses it; below, no
    tensor is empty. ``k / total`` is the collapse sparsity.

    >>> collapse_point({"a": torch.tensor([3.0, 4.0]), "b": torch.tensor([1.0, 2.0, 5.0])})
    ('a', 4)
    """
    if not weights:
        raise ValueError("weights is empty: give at least one tensor")
    names = list(weights)
    ws = [_check_weight(weights[k], f"weights[{k!r}]") for k in names]
    empty = [k for k, w in zip(names, ws) if w.numel() == 0]
    if empty:
        raise ValueError(f"weights holds tensors with no entries, which are empty already: {empty}")
    scores = torch.cat([w.detach().abs().flatten().double().cpu() for w in ws])
    rank = torch.empty(scores.numel(), dtype=torch.long)
    rank[torch.argsort(scores, stable=True)] = torch.arange(scores.numel())  # _prune_lowest's order
    # a tensor is empty once its last-ranked weight is pruned; the first such tensor on a tie
    empty_at = {k: int(r.max()) + 1 for k, r in zip(names, rank.split([w.numel() for w in ws]))}
    name = min(empty_at, key=empty_at.__getitem__)
    return name, empty_at[name]


def percentile_masks(weights: Mapping[str, torch.Tensor], percent: float) -> dict[str, torch.Tensor]:
    """The RNN-pruning thesis's rule (arXiv 2407.20601, ``PruneRNN.apply_mask``): one threshold, the
    ``percent``-th percentile of all |w| pooled (``numpy.percentile``, linear interpolation), and
    every weight with ``|w| >= threshold`` kept. Unlike :func:`global_magnitude_masks` the count is
    not exact: ties at the threshold are all kept, so ``percent=100`` keeps the largest weight(s)
    rather than none, and interpolation can keep one more or one fewer than ``percent``% suggests.
    """
    import numpy as np

    if not 0 <= percent <= 100:
        raise ValueError(f"percent must lie in [0, 100], got {percent}")
    if not weights:
        raise ValueError("weights is empty")
    checked = {n: _check_weight(w, f"weights[{n!r}]") for n, w in weights.items()}
    # as the thesis does: the percentile of the weights' own dtype, compared in that dtype
    pooled = np.concatenate([w.abs().flatten().cpu().numpy() for w in checked.values()])
    threshold = np.percentile(pooled, percent)
    return {n: ~(w.abs() < torch.tensor(float(threshold), dtype=w.dtype)) for n, w in checked.items()}


# --------------------------------------------------------------------------- random and ERK


def random_mask(
    shape: Sequence[int] | torch.Size, sparsity: float, generator: torch.Generator | None = None
) -> torch.Tensor:
    """A uniformly random mask with exactly ``round(sparsity * numel)`` pruned entries (never all of
    them: a target that rounds to every entry is refused, as :func:`magnitude_mask` refuses it)."""
    s = check_sparsity(sparsity)
    shape = tuple(int(d) for d in shape)
    if any(d < 0 for d in shape):
        raise ValueError(f"shape must have non-negative sizes, got {shape}")
    n = math.prod(shape)
    n_zero = round(s * n)
    _check_not_all(n_zero, n, f"sparsity={sparsity!r}")
    keep = torch.ones(n, dtype=torch.bool)
    keep[torch.randperm(n, generator=generator)[:n_zero]] = False
    return keep.view(shape)


def erk_densities(
    shapes: Mapping[str, Sequence[int]],
    density: float,
    power: float = 1.0,
    dense: Sequence[str] = (),
    kernel: bool = True,
) -> dict[str, float]:
    """Erdos-Renyi-Kernel per-layer densities (RigL, arXiv 1911.11134).

    Layer l gets ``d_l = eps * raw_l`` with ``raw_l = (sum of its dims / product of its dims) ** power``;
    ``eps`` solves ``sum_l d_l N_l = density * sum_l N_l``. A layer whose density would exceed 1 is
    made dense and ``eps`` re-solved, until none does. Layers named in ``dense`` are dense from the start.
    ``kernel=False`` gives Erdos-Renyi (SET, Mocanu et al. 2018): only the first two dimensions
    (outputs, inputs) count, ``raw_l = (n_out + n_in) / (n_out n_in)``, as rigl's and Random_Pruning's
    ``ER`` do; for a linear layer the two coincide.

    >>> shapes = {"conv1": (32, 1, 5), "conv2": (32, 32, 5), "fc": (10, 320)}
    >>> {k: round(v, 3) for k, v in erk_densities(shapes, 0.1).items()}
    {'conv1': 0.461, 'conv2': 0.026, 'fc': 0.2}
    >>> {k: round(v, 3) for k, v in erk_densities(shapes, 0.1, kernel=False).items()}  # ER: conv1 made dense
    {'conv1': 1.0, 'conv2': 0.066, 'fc': 0.109}
    """
    if not shapes:
        raise ValueError("shapes is empty")
    d = fraction("density", density, low_open=True, high_open=False)
    unknown = set(dense) - set(shapes)
    if unknown:
        raise KeyError(f"dense names layers not in shapes: {sorted(unknown)}")
    numel = {k: math.prod(int(x) for x in s) for k, s in shapes.items()}
    empty = sorted(k for k, v in numel.items() if v == 0)
    if empty:
        raise ValueError(f"shapes has layers with no weights (a zero dimension): {empty}; leave them out")
    counted = {k: tuple(int(x) for x in (s if kernel else tuple(s)[:2])) for k, s in shapes.items()}
    raw = {k: (sum(c) / math.prod(c)) ** power for k, c in counted.items()}
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
    if not all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in (n, m)):
        raise TypeError(f"N and M must be integers (int or numpy integer), got N={n!r}, M={m!r}")
    n, m = int(n), int(m)
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
    if not isinstance(dim, numbers.Integral) or not -w.dim() <= dim < w.dim():
        raise ValueError(f"dim must be an integer in [{-w.dim()}, {w.dim() - 1}] for a {w.dim()}-D weight, got {dim!r}")
    dim = int(dim) % w.dim()
    check_nm(n, m, w.shape[dim])
    n, m = int(n), int(m)
    wt = w.movedim(dim, -1)
    groups = wt.abs().reshape(*wt.shape[:-1], wt.shape[-1] // m, m)
    # stable descending sort keeps the lower index first among equal magnitudes
    top = torch.argsort(groups, dim=-1, descending=True, stable=True)[..., :n]
    keep = torch.zeros_like(groups, dtype=torch.bool).scatter_(-1, top, True)
    return keep.reshape(wt.shape).movedim(-1, dim).contiguous()


LAYOUTS = ("channel", "flat")


def nm_mask_conv(weight: torch.Tensor, n: int, m: int, layout: str = "channel") -> torch.Tensor:
    """N:M mask of a Conv2d weight (O, I, kh, kw) along input channels or the flattened kernel."""
    if weight.dim() != 4:
        raise ValueError(f"a Conv2d weight has 4 dimensions (O, I, kh, kw), got shape {tuple(weight.shape)}")
    if layout == "channel":
        # (O, I, kh, kw) -> (O, kh, kw, I): groups of M consecutive input channels at one kernel tap
        return nm_mask(weight.permute(0, 2, 3, 1), n, m, dim=-1).permute(0, 3, 1, 2).contiguous()
    if layout == "flat":
        o = weight.shape[0]
        return nm_mask(weight.reshape(o, -1), n, m, dim=-1).reshape(weight.shape)
    one_of("layout", layout, LAYOUTS)
    raise AssertionError("unreachable")


def layer_nm_mask(weight: torch.Tensor, n: int, m: int, layout: str = "channel") -> torch.Tensor:
    """The N:M mask of a Linear (2-D) or Conv2d (4-D) weight."""
    if weight.dim() == 2:
        return nm_mask(weight, n, m, dim=-1)
    if weight.dim() == 4:
        return nm_mask_conv(weight, n, m, layout)
    raise ValueError(f"N:M masks are defined for Linear (2-D) and Conv2d (4-D) weights, got {weight.dim()}-D")


def sparsity_of(masks: torch.Tensor | Mapping[str, torch.Tensor]) -> float:
    """Fraction of pruned entries in one mask or pooled over a dict of masks."""
    ms = [masks] if isinstance(masks, torch.Tensor) else list(masks.values())
    total = sum(m.numel() for m in ms)
    if total == 0:
        return 0.0
    return 1.0 - sum(int(m.bool().sum()) for m in ms) / total
