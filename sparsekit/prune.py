"""Masks attached to a model and kept exact through training; snapshot, rewind and IMP.

The model keeps plain parameters (no ``weight_orig`` / ``weight_mask`` re-parametrisation), so
its ``state_dict`` loads into an unpruned model of the same architecture. The masks live in a
:class:`Pruner`, which keeps pruned weights at exactly zero by

1. zeroing the optimizer state (momentum, Adam moments) at pruned positions whenever the masks
   change or an optimizer is attached,
2. zeroing the gradient of pruned weights before every optimizer step, so that the state stays
   zero (SGD with momentum, Adam, AdamW, Adagrad, RMSprop all map a zero gradient, zero state and
   zero weight to a zero update), and
3. re-applying the mask to the weights after every step, as a guard for any other optimizer,

so that momentum or Adam's running averages cannot revive a pruned weight, and weight decay
(AdamW) leaves zero at zero.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from . import masks as M
from .checks import one_of
from .seeds import derive_seed, seeded
from .utils import atomic_torch_save
from .utils import progress as progress_bar

__all__ = [
    "SCOPES",
    "prunable_parameters",
    "torch_pruned_parameters",
    "Pruner",
    "snapshot",
    "rewind",
    "prune_step",
    "IMPConfig",
    "IMPResult",
    "iterative_magnitude_pruning",
]

SCOPES = ("layer", "global")
_SKIP_MODULES = (nn.Embedding, nn.EmbeddingBag, nn.LayerNorm, nn.GroupNorm, nn.modules.batchnorm._BatchNorm)


def prunable_parameters(model: nn.Module) -> list[str]:
    """Default choice: every parameter with two or more dimensions outside embeddings and norms
    (weights of Linear, Conv and recurrent layers; biases are left dense)."""
    names = []
    for mod_name, mod in model.named_modules():
        if isinstance(mod, _SKIP_MODULES):
            continue
        for p_name, p in mod.named_parameters(recurse=False):
            if p.dim() >= 2:
                names.append(f"{mod_name}.{p_name}" if mod_name else p_name)
    return names


def torch_pruned_parameters(model: nn.Module) -> dict[str, str]:
    """Parameters re-parametrised by ``torch.nn.utils.prune``: ``{"fc.weight": "fc.weight_orig", ...}``
    (the tensor torch computes as ``weight_orig * weight_mask`` before every forward)."""
    from torch.nn.utils import prune as torch_prune

    out = {}
    for mod_name, mod in model.named_modules():
        for hook in mod._forward_pre_hooks.values():
            if isinstance(hook, torch_prune.BasePruningMethod):
                names = [h._tensor_name for h in hook._pruning_methods] if isinstance(
                    hook, torch_prune.PruningContainer) else [hook._tensor_name]
                for t in names:
                    full = f"{mod_name}.{t}" if mod_name else t
                    out[full] = f"{full}_orig"
    return out


class Pruner:
    """Boolean masks on named parameters of ``model``.

    >>> net = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    >>> pr = Pruner(net)
    >>> pr.names
    ['0.weight', '2.weight']
    >>> pr.prune_surviving(0.5)  # half of each layer, by magnitude
    >>> round(pr.sparsity(), 2)
    0.5
    """

    def __init__(
        self,
        model: nn.Module,
        params: Iterable[str] | None = None,
        masks: Mapping[str, torch.Tensor] | None = None,
    ):
        self.model = model
        reparam = torch_pruned_parameters(model)
        if reparam:
            raise ValueError(
                f"the model carries torch.nn.utils.prune re-parametrisations on {sorted(reparam)} "
                f"(parameters {sorted(reparam.values())} times a weight_mask buffer): pruning those would "
                "rank weights torch has already removed. Use Pruner.from_torch_pruned(model), which keeps "
                "their masks, or call torch.nn.utils.prune.remove(module, name) first")
        named = dict(model.named_parameters())
        names = list(params) if params is not None else prunable_parameters(model)
        if not names:
            raise ValueError("no parameters to prune: pass params=[names] (see model.named_parameters())")
        unknown = [n for n in names if n not in named]
        if unknown:
            raise KeyError(f"params names parameters the model does not have: {unknown}; it has {list(named)}")
        self.params: dict[str, nn.Parameter] = {n: named[n] for n in names}
        self.masks: dict[str, torch.Tensor] = {
            n: torch.ones_like(p, dtype=torch.bool) for n, p in self.params.items()
        }
        self._mul: dict[str, torch.Tensor] = {}  # the masks as 0/1 in each parameter's dtype (fast multiply)
        self._optimizers: list[torch.optim.Optimizer] = []
        self._handles: list[Any] = []
        if masks is not None:
            self.set_masks(masks)

    @classmethod
    def from_torch_pruned(cls, model: nn.Module, params: Iterable[str] | None = None) -> Pruner:
        """A Pruner for a model pruned with ``torch.nn.utils.prune``: each re-parametrised tensor is
        made a plain parameter again (``prune.remove``: ``weight = weight_orig * weight_mask``) and
        its mask becomes this Pruner's mask for it, so further pruning ranks only surviving weights.

        >>> from torch.nn.utils import prune as torch_prune
        >>> net = nn.Sequential(nn.Linear(8, 4))
        >>> _ = torch_prune.l1_unstructured(net[0], "weight", amount=0.5)
        >>> pr = Pruner.from_torch_pruned(net)
        >>> pr.names, round(pr.sparsity(), 2), hasattr(net[0], "weight_orig")
        (['0.weight'], 0.5, False)
        """
        from torch.nn.utils import prune as torch_prune

        found = torch_pruned_parameters(model)
        masks = {}
        for full in found:
            mod_name, _, t = full.rpartition(".")
            mod = model.get_submodule(mod_name) if mod_name else model
            masks[full] = getattr(mod, f"{t}_mask").detach().bool().clone()
            torch_prune.remove(mod, t)
        pruner = cls(model, params if params is not None else None)
        pruner.set_masks({n: m for n, m in masks.items() if n in pruner.params})
        return pruner

    @property
    def names(self) -> list[str]:
        return list(self.params)

    # ------------------------------------------------------------------ masks
    def set_masks(self, masks: Mapping[str, torch.Tensor]) -> None:
        """Replace some or all masks (shapes checked) and apply them at once."""
        for n, m in masks.items():
            if n not in self.params:
                raise KeyError(f"mask given for {n!r}, which this Pruner does not manage ({self.names})")
            p = self.params[n]
            if not isinstance(m, torch.Tensor) or m.dtype != torch.bool:
                what = f"torch.Tensor of dtype {m.dtype}" if isinstance(m, torch.Tensor) else type(m).__name__
                raise TypeError(f"the mask for {n!r} must be a torch.bool tensor (True = kept), got a {what}; "
                                "a float mask would silently keep every non-zero entry")
            if tuple(m.shape) != tuple(p.shape):
                raise ValueError(f"mask for {n!r} has shape {tuple(m.shape)}, the parameter {tuple(p.shape)}")
            self.masks[n] = m.detach().to(device=p.device).clone()
            self._mul[n] = self.masks[n].to(p.dtype)
        self.apply()
        for opt in self._optimizers:
            self.mask_optimizer_state(opt)

    def weights(self) -> dict[str, torch.Tensor]:
        return {n: p.detach() for n, p in self.params.items()}

    def prune_surviving(self, rate: float | Mapping[str, float], scope: str = "layer",
                        allow_empty_layers: bool = False) -> None:
        """Prune a fraction of the *surviving* weights by magnitude: per tensor (``scope='layer'``,
        ``rate`` a float or a dict name -> float) or with one threshold pooled over all (``'global'``,
        which refuses to empty a tensor unless ``allow_empty_layers``)."""
        self._prune(rate, scope, "rate", M.global_prune_surviving, M.prune_surviving, allow_empty_layers)

    def prune_to(self, sparsity: float | Mapping[str, float] | None = None, scope: str = "layer", *,
                 amount: float | Mapping[str, float] | None = None, allow_empty_layers: bool = False) -> None:
        """Prune by magnitude to a target sparsity (per tensor, or pooled with ``scope='global'``).
        ``amount`` is torch's word for the same number (``torch.nn.utils.prune``): give one of the two."""
        if (sparsity is None) == (amount is None):
            raise TypeError("give exactly one of sparsity and amount (the same number: the fraction removed)")
        value = sparsity if sparsity is not None else amount
        self._prune(value, scope, "sparsity", M.global_magnitude_masks, M.magnitude_mask, allow_empty_layers)

    def _prune(self, value, scope: str, what: str, pooled, per_tensor, allow_empty_layers: bool = False) -> None:
        self.set_masks(_by_magnitude(self.weights(), self.masks, value, scope, what, pooled, per_tensor,
                                     allow_empty_layers))

    def _factor(self, n: str) -> torch.Tensor:
        p = self.params[n]
        f = self._mul.get(n)
        if f is None or f.dtype != p.dtype or f.device != p.device:
            f = self._mul[n] = self.masks[n].to(device=p.device, dtype=p.dtype)
        return f

    @torch.no_grad()
    def apply(self) -> None:
        """Zero the pruned weights."""
        for n, p in self.params.items():
            p.mul_(self._factor(n))

    @torch.no_grad()
    def mask_optimizer_state(self, optimizer: torch.optim.Optimizer) -> None:
        """Zero every per-parameter state tensor (momentum buffer, exp_avg, exp_avg_sq...) at pruned positions."""
        for n, p in self.params.items():
            for v in optimizer.state.get(p, {}).values():
                if isinstance(v, torch.Tensor) and v.shape == p.shape:
                    v.mul_(self.masks[n].to(v.dtype))

    @torch.no_grad()
    def mask_grads(self) -> None:
        for n, p in self.params.items():
            if p.grad is not None:
                p.grad.mul_(self._factor(n))

    def attach(self, optimizer: torch.optim.Optimizer) -> torch.optim.Optimizer:
        """Keep masks exact through ``optimizer``: gradients masked before each step, weights and
        optimizer state masked after it. Returns the optimizer, so ``opt = pruner.attach(Adam(...))``."""
        in_opt = {id(p) for g in optimizer.param_groups for p in g["params"]}
        missing = [n for n, p in self.params.items() if id(p) not in in_opt]
        if missing:
            raise ValueError(
                f"the optimizer does not hold the pruned parameters {missing}: their masks could not be kept "
                "through its steps. Give it every pruned parameter (e.g. model.parameters()), or build the "
                "Pruner with params= naming only the ones it holds")
        self._handles.append(optimizer.register_step_pre_hook(lambda opt, args, kwargs: self.mask_grads()))
        self._handles.append(optimizer.register_step_post_hook(lambda opt, args, kwargs: self.apply()))
        self._optimizers.append(optimizer)
        self.apply()
        self.mask_optimizer_state(optimizer)
        return optimizer

    def detach(self) -> None:
        """Remove the optimizer hooks (the masks stay)."""
        for h in self._handles:
            h.remove()
        self._handles.clear()
        self._optimizers.clear()

    # ------------------------------------------------------------------ reporting
    def sparsity(self) -> float:
        return M.sparsity_of(self.masks)

    def density(self) -> float:
        return 1.0 - self.sparsity()

    def layer_sparsity(self) -> dict[str, float]:
        return {n: M.sparsity_of(m) for n, m in self.masks.items()}

    def report(self):
        """Per-parameter table: shape, kept, total, sparsity (a pandas DataFrame)."""
        import pandas as pd

        rows = [
            {
                "parameter": n,
                "shape": tuple(m.shape),
                "kept": int(m.sum()),
                "total": m.numel(),
                "sparsity": round(M.sparsity_of(m), 4),
                "zero weights": int((self.params[n].detach() == 0).sum()),
            }
            for n, m in self.masks.items()
        ]
        df = pd.DataFrame(rows)
        total = {"parameter": "all", "shape": "", "kept": int(df.kept.sum()), "total": int(df.total.sum())}
        total["sparsity"] = round(1 - total["kept"] / max(total["total"], 1), 4)
        total["zero weights"] = int(df["zero weights"].sum())
        return pd.concat([df, pd.DataFrame([total])], ignore_index=True)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {n: m.clone().cpu() for n, m in self.masks.items()}

    def load_state_dict(self, masks: Mapping[str, torch.Tensor]) -> None:
        self.set_masks(masks)


def _by_magnitude(weights, masks, value, scope: str, what: str, pooled, per_tensor,
                  allow_empty_layers: bool = False) -> dict[str, torch.Tensor]:
    if scope == "global":
        if not isinstance(value, (int, float)):
            raise TypeError(f"scope='global' takes one {what} (a float), not a per-layer dict")
        return pooled(weights, value, masks, allow_empty_layers=allow_empty_layers)
    if scope == "layer":
        values = _per_layer(value, list(weights))
        return {n: per_tensor(weights[n], values[n], masks[n]) for n in weights}
    one_of("scope", scope, SCOPES)
    raise AssertionError("unreachable")


def prune_step(
    weights: Mapping[str, torch.Tensor],
    masks: Mapping[str, torch.Tensor],
    rate: float | Mapping[str, float],
    scope: str = "layer",
) -> dict[str, torch.Tensor]:
    """One round of iterative magnitude pruning as a pure function: trained weights and the current
    masks in, the next masks out. ``rate`` of the surviving weights go, per tensor (``scope='layer'``,
    a float or a dict name -> rate p_l) or ranked over all tensors together (``'global'``):

    ``kept_l(r + 1) = kept_l(r) - round(p_l * kept_l(r))`` for every tensor l (per layer), or the
    same count taken from one ranking over all tensors (global).

    >>> w = {"a": torch.tensor([[0.1, -3.0, 2.0, 0.5]])}
    >>> prune_step(w, {"a": torch.tensor([[True, True, True, False]])}, 0.34)["a"]
    tensor([[False,  True,  True, False]])
    """
    if set(weights) != set(masks):
        raise KeyError(f"weights and masks must name the same tensors: {sorted(set(weights) ^ set(masks))}")
    return _by_magnitude(dict(weights), dict(masks), rate, scope, "rate", M.global_prune_surviving, M.prune_surviving)


def _per_layer(value: float | Mapping[str, float], names: list[str]) -> dict[str, float]:
    if isinstance(value, Mapping):
        missing = [n for n in names if n not in value]
        extra = [n for n in value if n not in names]
        if missing or extra:
            raise KeyError(
                f"per-layer values must name exactly the pruned parameters; missing {missing}, extra {extra}"
            )
        return {n: float(value[n]) for n in names}
    return {n: float(value) for n in names}


# ---------------------------------------------------------------------- snapshot / rewind


def snapshot(model: nn.Module) -> dict[str, torch.Tensor]:
    """A detached copy of the model's state (weights and buffers)."""
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


@torch.no_grad()
def rewind(model: nn.Module, snap: Mapping[str, torch.Tensor], pruner: Pruner | None = None) -> None:
    """Load ``snap`` into ``model`` and, with a ``pruner``, zero the pruned weights again."""
    model.load_state_dict(snap)
    if pruner is not None:
        pruner.apply()


# ---------------------------------------------------------------------- IMP


@dataclass
class IMPConfig:
    """Iterative magnitude pruning (Frankle & Carbin 2019, arXiv 1803.03635)."""

    rounds: int  # pruning rounds after the dense round 0; density after r rounds is (1 - rate) ** r
    rate: float | dict[str, float] = 0.2  # fraction of the *surviving* weights pruned per round (per layer allowed)
    scope: str = "layer"  # "layer": each tensor by its own rate (the paper); "global": one pooled threshold
    rewind_step: int = 0  # 0 rewinds survivors to initialisation; k > 0 to the weights after k steps (arXiv 1903.01611)
    seed: int = 0  # seeds the initialisation and, with the round number, every round's training

    def __post_init__(self):
        if int(self.rounds) != self.rounds or self.rounds < 0:
            raise ValueError(f"rounds must be a non-negative integer, got {self.rounds!r}")
        one_of("scope", self.scope, SCOPES)
        rates = self.rate.values() if isinstance(self.rate, Mapping) else [self.rate]
        for r in rates:
            if not (0.0 < float(r) < 1.0):
                raise ValueError(f"rate must be in (0, 1) (share of surviving weights pruned per round), got {r!r}")
        if self.scope == "global" and isinstance(self.rate, Mapping):
            raise TypeError("scope='global' takes one rate, not a per-layer dict")
        if self.rewind_step < 0:
            raise ValueError(f"rewind_step must be >= 0, got {self.rewind_step}")


@dataclass
class IMPResult:
    config: IMPConfig
    history: list[dict] = field(default_factory=list)  # one entry per round: round, density, metrics
    masks: list[dict[str, torch.Tensor]] = field(default_factory=list)  # the masks each round trained with
    init: dict[str, torch.Tensor] = field(default_factory=dict)  # weights at initialisation
    rewind_to: dict[str, torch.Tensor] = field(default_factory=dict)  # weights survivors are reset to
    trained: dict[str, torch.Tensor] = field(default_factory=dict)  # weights at the end of the last round
    resumed_from: int | None = None  # the round a resumed run started at (None: fresh run)


TrainFn = Callable[[nn.Module, Pruner, int, Callable[[int], None]], Mapping[str, Any]]


def iterative_magnitude_pruning(
    make_model: Callable[[], nn.Module],
    train: TrainFn,
    config: IMPConfig,
    params: Iterable[str] | None = None,
    checkpoint: str | Path | None = None,
    progress: bool = True,
) -> IMPResult:
    """Run IMP: train, prune ``rate`` of the surviving weights, reset survivors, repeat.

    ``make_model()`` builds a fresh model (its initial weights are drawn once, with torch's global
    generator seeded by ``config.seed`` inside :func:`sparsekit.seeds.seeded`, which hands the
    caller's generator state back afterwards). ``train(model, pruner, round, on_step)`` trains in
    place - creating its optimizer and calling ``pruner.attach(optimizer)`` - calls
    ``on_step(step)`` after every optimizer step, and returns a JSON-able dict of metrics. Round 0 is
    the dense network; round ``r`` runs under the seed ``derive_seed(config.seed, "imp-round", r)``.

    With ``checkpoint`` the state is written atomically after every round; a run that was killed
    resumes from the last finished round and, since every round is seeded by (seed, round), ends
    with the same result as an uninterrupted run.
    """
    result = _resume(checkpoint, config) if checkpoint is not None else None
    start = 0 if result is None else len(result.history)
    if result is None:
        result = IMPResult(config=config)
        with seeded(config.seed):
            result.init = snapshot(make_model())
    bar = progress_bar(range(start, config.rounds + 1), desc="IMP rounds", disable=not progress, initial=start,
                       total=config.rounds + 1)
    for rnd in bar:
        with seeded(derive_seed(config.seed, "imp-round", rnd)):
            density = _imp_round(make_model, train, config, params, result, rnd)
        if checkpoint is not None:
            _save_checkpoint(checkpoint, config, result)
        bar.set_postfix(density=f"{density:.3f}")
    return result


def _resume(checkpoint: str | Path, config: IMPConfig) -> IMPResult | None:
    """The finished rounds stored in ``checkpoint`` (None when there is no file yet)."""
    if not Path(checkpoint).exists():
        return None
    state = torch.load(checkpoint, weights_only=True)  # tensors, numbers, strings, lists and dicts only
    if state["config"] != asdict(config):
        raise ValueError(
            f"checkpoint {checkpoint} was written by another configuration ({state['config']}); "
            "remove it or point checkpoint= elsewhere"
        )
    return IMPResult(config=config, history=state["history"], masks=state["masks"], init=state["init"],
                     rewind_to=state["rewind_to"], trained=state["trained"], resumed_from=len(state["history"]))


def _save_checkpoint(checkpoint: str | Path, config: IMPConfig, result: IMPResult) -> None:
    atomic_torch_save({"config": asdict(config), "history": result.history, "masks": result.masks,
                       "init": result.init, "rewind_to": result.rewind_to, "trained": result.trained}, checkpoint)


def _imp_round(make_model, train: TrainFn, config: IMPConfig, params, result: IMPResult, rnd: int) -> float:
    """One round: the model reset to its rewind point, the next masks from the last trained weights,
    training, and the round's entry appended to ``result``. Returns the round's density."""
    model = make_model()
    model.load_state_dict(result.rewind_to if rnd > 0 and result.rewind_to else result.init)
    pruner = Pruner(model, params)
    if rnd > 0:  # the next masks come from the last trained weights and the last masks
        last = result.masks[-1]
        pruner.set_masks(prune_step({n: result.trained[n] for n in last}, last, config.rate, config.scope))
    captured: dict[str, dict] = {}

    def on_step(step: int) -> None:
        if rnd == 0 and step == config.rewind_step and config.rewind_step > 0:
            captured["w"] = snapshot(model)

    metrics = dict(train(model, pruner, rnd, on_step))
    if rnd == 0:
        if config.rewind_step > 0 and "w" not in captured:
            raise RuntimeError(
                f"rewind_step={config.rewind_step} was never reached: train() must call on_step(step) "
                "after every optimizer step and run at least that many steps"
            )
        result.rewind_to = captured.get("w", result.init)
    result.masks.append(pruner.state_dict())
    result.history.append({"round": rnd, "density": pruner.density(), **metrics})
    result.trained = snapshot(model)  # the next round's masks are computed from these weights
    return pruner.density()
