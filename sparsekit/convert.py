"""One entry point that turns the Linear and Conv2d layers of any model into sparse inference layers.

>>> import torch
>>> from torch import nn
>>> from sparsekit.prune import Pruner
>>> net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 4 * 4, 10))
>>> Pruner(net).prune_to(0.9, scope="global")
>>> sparse = to_sparse(net)
>>> [type(m).__name__ for m in sparse]
['SparseConv2d', 'ReLU', 'Flatten', 'SparseLinear']
>>> x = torch.randn(2, 3, 4, 4)
>>> with torch.no_grad():
...     torch.allclose(sparse(x), net(x), atol=1e-5)
True

:func:`to_sparse` copies the model (``inplace=False``) and swaps every ``nn.Linear`` and
``nn.Conv2d`` that ``filter_fn(module, name)`` accepts for a :class:`~sparsekit.nn.SparseLinear` or
:class:`~sparsekit.nn.SparseConv2d` holding the same weight: its non-zero entries, or the masks of
a :class:`~sparsekit.prune.Pruner` given as ``masks`` (names are the parameters' dotted names, e.g.
``"layer1.0.conv1.weight"``, torch's ``tensor_fqn``), in CSR or in N:M (``format="nm"``). N:M
layers trained with ``sparsekit.nm`` convert through their own ``to_sparse`` (the compressed N:M
format, in their layout). Models pruned with ``torch.nn.utils.prune`` are read through their
``weight_orig * weight_mask`` and lose the re-parametrisation. Depthwise convolutions (one input
channel per group) stay dense by default: a sparse kernel has nothing to skip in a 3x3 window per
channel (``skip_depthwise=False`` converts them too).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping

import torch
from torch import nn

from .checks import one_of
from .nm import NMConv2d, NMLinear
from .nn import FORMATS, SparseConv2d, SparseLinear

__all__ = ["to_sparse", "sparse_layers", "to_dense"]

FilterFn = Callable[[nn.Module, str], bool]


def _default_filter(module: nn.Module, name: str) -> bool:
    return True


def _torch_pruned(module: nn.Module) -> tuple[torch.Tensor, torch.Tensor] | None:
    """(weight, mask) of a module whose ``weight`` is re-parametrised by ``torch.nn.utils.prune``."""
    if hasattr(module, "weight_orig") and hasattr(module, "weight_mask"):
        mask = module.weight_mask.detach().bool()
        return module.weight_orig.detach() * mask, mask
    return None


def _convert_one(module: nn.Module, name: str, masks: Mapping[str, torch.Tensor] | None, format: str, n: int,
                 m: int) -> nn.Module:
    if isinstance(module, (NMLinear, NMConv2d)):
        return module.to_sparse()
    pruned = _torch_pruned(module)
    key = f"{name}.weight" if name else "weight"
    if pruned is not None:
        weight, mask = pruned
        plain = copy.deepcopy(module)
        from torch.nn.utils import prune as torch_prune

        torch_prune.remove(plain, "weight")
        module = plain
    else:
        weight, mask = module.weight.detach(), None
    if masks is not None and key in masks:
        mask = masks[key].bool()
    if mask is None and format == "csr":
        mask = weight != 0
    if isinstance(module, nn.Linear):
        return SparseLinear.from_dense(module, mask, format=format, n=n, m=m)
    assert isinstance(module, nn.Conv2d)
    return SparseConv2d.from_dense(module, mask, format=format, n=n, m=m)


def to_sparse(model: nn.Module, masks=None, *, format: str = "csr", n: int = 2, m: int = 4,
              filter_fn: FilterFn | None = None, skip_depthwise: bool = True, inplace: bool = False) -> nn.Module:
    """``model`` with its Linear and Conv2d layers as sparsekit inference layers (see the module docstring).

    ``masks``: a :class:`~sparsekit.prune.Pruner`, a dict of boolean masks by parameter name, or
    ``None`` (keep each weight's non-zeros; with ``format="nm"``, prune each weight to N:M by
    magnitude). ``format``: ``"csr"`` or ``"nm"``. ``filter_fn(module, name) -> bool`` picks the
    layers (all by default). The result is for inference: call it under ``torch.no_grad()``.
    """
    one_of("format", format, FORMATS)
    if masks is not None and hasattr(masks, "masks") and hasattr(masks, "params"):
        masks = masks.masks  # a Pruner
    if masks is not None and not isinstance(masks, Mapping):
        raise TypeError("masks must be a Pruner, a dict of masks by parameter name, or None; "
                        f"got {type(masks).__name__}")
    names = {n for n, _ in model.named_modules()}
    if masks is not None:
        unknown = sorted(k for k in masks if k.rsplit(".", 1)[0] not in names and "." in k)
        if unknown:
            raise KeyError(f"masks name parameters of no module of this model: {unknown[:5]}")
    out = model if inplace else copy.deepcopy(model)
    keep = filter_fn or _default_filter
    todo = []
    for name, module in out.named_modules():
        if not isinstance(module, (nn.Linear, nn.Conv2d)) or isinstance(module, (SparseLinear, SparseConv2d)):
            continue
        if isinstance(module, nn.Conv2d) and skip_depthwise and module.groups > 1 \
                and module.groups == module.in_channels:
            continue
        if keep(module, name):
            todo.append(name)
    for name in todo:
        parent_name, _, child = name.rpartition(".")
        parent = out.get_submodule(parent_name) if parent_name else out
        setattr(parent, child, _convert_one(getattr(parent, child), name, masks, format, n, m))
    return out.eval()


def sparse_layers(model: nn.Module) -> dict[str, nn.Module]:
    """The sparsekit inference layers of a converted model, by name."""
    return {n: mod for n, mod in model.named_modules() if isinstance(mod, (SparseLinear, SparseConv2d))}


def to_dense(model: nn.Module, inplace: bool = False) -> nn.Module:
    """The inverse of :func:`to_sparse`: every sparse layer back as an ``nn.Linear`` / ``nn.Conv2d``
    holding the same (zero-filled) weight - the oracle a converted model must agree with."""
    out = model if inplace else copy.deepcopy(model)
    for name in list(sparse_layers(out)):
        parent_name, _, child = name.rpartition(".")
        parent = out.get_submodule(parent_name) if parent_name else out
        sp = getattr(parent, child)
        if isinstance(sp, SparseLinear):
            dense: nn.Module = nn.Linear(sp.in_features, sp.out_features, bias=sp.bias is not None)
        else:
            dense = nn.Conv2d(sp.in_channels, sp.out_channels, sp.kernel_size, sp.stride, sp.padding, sp.dilation,
                              sp.groups, bias=sp.bias is not None)
        with torch.no_grad():
            w = sp.weight_dense()
            dense.weight.copy_(w.reshape(dense.weight.shape).to(dense.weight.dtype))
            if sp.bias is not None:
                dense.bias.copy_(sp.bias)
        setattr(parent, child, dense.to(sp.weight_values.dtype))
    return out
