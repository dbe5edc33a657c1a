"""N:M structured sparsity trained from scratch: STE / SR-STE, SAD, and N:M layers (the masks are in ``masks``).

Zhou et al., "Learning N:M Fine-grained Structured Sparse Neural Networks From Scratch", ICLR 2021
(arXiv 2102.04010). The mask is recomputed from the dense weights at every forward pass: in every
group of M consecutive weights along the input dimension the N largest magnitudes are kept.

- Linear weight (out, in): groups of M consecutive input features.
- Conv2d weight (O, I, kh, kw): ``layout="channel"`` (default; NVIDIA ASP / TensorRT) groups M
  consecutive *input channels* at each kernel position; ``layout="flat"`` (the paper's original
  code) groups M consecutive entries of the flattened (I, kh, kw) order.

SR-STE (sparse-refined straight-through estimator): the forward pass uses ``W * E``; the backward
pass sends the gradient with respect to the sparse weight straight through to *all* dense
weights and adds ``lambda_w * (1 - E) * W``, a decay on the currently pruned weights that stops
them from flipping in and out. ``lambda_w = 0`` is the plain STE.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from .checks import one_of
from .masks import LAYOUTS, check_nm, layer_nm_mask

__all__ = [
    "sparse_weight",
    "NMLinear",
    "NMConv2d",
    "nm_layers",
    "sad",
    "SADTracker",
    "integrated_decay",
    "lambda_for_decay",

    "has_sparse_tensor_cores",
    "semi_structured_speedup",
]

class _SRSTE(torch.autograd.Function):
    @staticmethod
    def forward(ctx, weight, mask, lambda_w):
        ctx.save_for_backward(weight, mask)
        ctx.lambda_w = lambda_w
        return weight * mask

    @staticmethod
    def backward(ctx, grad_out):
        weight, mask = ctx.saved_tensors
        grad = grad_out
        if ctx.lambda_w:
            grad = grad + ctx.lambda_w * (~mask) * weight
        return grad, None, None


def sparse_weight(weight: torch.Tensor, mask: torch.Tensor, lambda_w: float = 0.0) -> torch.Tensor:
    """``weight * mask`` whose gradient is passed straight through to every weight, plus
    ``lambda_w * (1 - mask) * weight`` (SR-STE; ``lambda_w = 0`` is the STE)."""
    if lambda_w < 0:
        raise ValueError(f"lambda_w must be >= 0, got {lambda_w}")
    if mask.shape != weight.shape:
        raise ValueError(f"mask has shape {tuple(mask.shape)} but the weight has shape {tuple(weight.shape)}")
    return _SRSTE.apply(weight, mask.bool(), float(lambda_w))


class _NMMixin:
    n: int
    m: int
    lambda_w: float
    weight: torch.Tensor

    def _init_nm(self, n: int, m: int, lambda_w: float, size: int, what: str) -> None:
        check_nm(n, m, size, what)
        if lambda_w < 0:
            raise ValueError(f"lambda_w must be >= 0 (0 is the plain STE), got {lambda_w}")
        self.n, self.m, self.lambda_w = n, m, float(lambda_w)
        self.last_mask: torch.Tensor | None = None

    def current_mask(self) -> torch.Tensor:
        return layer_nm_mask(self.weight.detach(), self.n, self.m, getattr(self, "layout", "channel"))

    def _masked_weight(self) -> torch.Tensor:
        mask = self.current_mask()
        self.last_mask = mask
        return sparse_weight(self.weight, mask, self.lambda_w)


class NMLinear(nn.Linear, _NMMixin):
    """``nn.Linear`` trained N:M sparse along its input features, with STE (``lambda_w=0``) or SR-STE.

    >>> layer = NMLinear(8, 3, n=2, m=4, lambda_w=2e-4)
    >>> int(layer.current_mask().sum())  # 2 of every 4 inputs kept, 3 rows
    12
    """

    def __init__(self, in_features: int, out_features: int, n: int = 2, m: int = 4, lambda_w: float = 2e-4,
                 bias: bool = True):
        super().__init__(in_features, out_features, bias=bias)
        self._init_nm(n, m, lambda_w, in_features, "the Linear layer's in_features")

    @classmethod
    def from_linear(cls, linear: nn.Linear, n: int = 2, m: int = 4, lambda_w: float = 2e-4) -> NMLinear:
        layer = cls(linear.in_features, linear.out_features, n, m, lambda_w, bias=linear.bias is not None)
        layer.load_state_dict(linear.state_dict())
        return layer

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self._masked_weight(), self.bias)

    def to_sparse(self):
        """A :class:`sparsekit.nn.SparseLinear` with this layer's N:M weight (for inference)."""
        from .formats import NMSparse
        from .nn import SparseLinear

        weight = NMSparse.from_dense(self.weight.detach().cpu(), self.n, self.m, mask=self.current_mask())
        return SparseLinear(weight, None if self.bias is None else self.bias.detach().cpu())

    def extra_repr(self) -> str:
        return super().extra_repr() + f", nm={self.n}:{self.m}, lambda_w={self.lambda_w}"


class NMConv2d(nn.Conv2d, _NMMixin):
    """``nn.Conv2d`` trained N:M sparse along input channels (``layout='channel'``) or the flattened kernel."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size, n: int = 2, m: int = 4,
                 lambda_w: float = 2e-4, layout: str = "channel", **kw):
        super().__init__(in_channels, out_channels, kernel_size, **kw)
        one_of("layout", layout, LAYOUTS)
        self.layout = layout
        size = in_channels // self.groups if layout == "channel" else self.weight[0].numel()
        self._init_nm(n, m, lambda_w, size, f"the Conv2d weight ({layout} layout)")

    @classmethod
    def from_conv(cls, conv: nn.Conv2d, n: int = 2, m: int = 4, lambda_w: float = 2e-4,
                  layout: str = "channel") -> NMConv2d:
        layer = cls(conv.in_channels, conv.out_channels, conv.kernel_size, n, m, lambda_w, layout,
                    stride=conv.stride, padding=conv.padding, dilation=conv.dilation, groups=conv.groups,
                    bias=conv.bias is not None)
        layer.load_state_dict(conv.state_dict())
        return layer

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._conv_forward(x, self._masked_weight(), self.bias)

    def to_sparse(self):
        """A :class:`sparsekit.nn.SparseConv2d` with this layer's N:M weight in the compressed N:M
        format (for inference): its groups of M run along input channels at each tap
        (``layout='channel'``, the layer's weight read in (kh, kw, in) order) or along the flattened
        kernel (``'flat'``)."""
        from .nn import SparseConv2d

        return SparseConv2d.from_dense(self, self.current_mask(), format="nm", n=self.n, m=self.m,
                                       order="hwc" if self.layout == "channel" else "chw")

    def extra_repr(self) -> str:
        return super().extra_repr() + f", nm={self.n}:{self.m}, lambda_w={self.lambda_w}, layout={self.layout}"


def nm_layers(model: nn.Module) -> dict[str, nn.Module]:
    """The N:M layers of a model, by name."""
    return {name: mod for name, mod in model.named_modules() if isinstance(mod, (NMLinear, NMConv2d))}


def sad(mask_a: torch.Tensor, mask_b: torch.Tensor) -> int:
    """Sparse architecture divergence between two masks: the number of entries that flipped."""
    if mask_a.shape != mask_b.shape:
        raise ValueError(f"masks have different shapes: {tuple(mask_a.shape)} vs {tuple(mask_b.shape)}")
    return int((mask_a.bool() ^ mask_b.bool()).sum())


class SADTracker:
    """Fraction of N:M mask entries (over all N:M layers) that flip between successive calls.

    ``tracker.step()`` compares the current masks with those at the previous call and appends the
    flipped fraction to ``tracker.history``; ``tracker.cumulative()`` is the running sum - the SAD
    summed over training.
    """

    def __init__(self, model: nn.Module):
        self.layers = nm_layers(model)
        if not self.layers:
            raise ValueError("the model has no NMLinear / NMConv2d layers to track")
        self.previous = {k: m.current_mask() for k, m in self.layers.items()}
        self.total = sum(v.numel() for v in self.previous.values())
        self.history: list[float] = []

    def step(self) -> float:
        now = {k: m.current_mask() for k, m in self.layers.items()}
        flipped = sum(sad(self.previous[k], now[k]) for k in now)
        self.previous = now
        self.history.append(flipped / self.total)
        return self.history[-1]

    def cumulative(self) -> list[float]:
        return list(itertools.accumulate(self.history))


def integrated_decay(lambda_w: float, lrs: Sequence[float], momentum: float = 0.0) -> float:
    """How far SR-STE's decay pulls a weight that stays pruned: ``lambda_w * sum(lr_t) / (1 - momentum)``.

    A pruned weight w with no other gradient shrinks by the factor ``exp(-D)`` over the run (momentum
    sums the decay over about ``1 / (1 - momentum)`` steps). The paper's ImageNet set-up, read in its
    official code (github.com/aojunzz/NM-sparsity: ``classification/configs/config_resnet50_2by4.yaml``,
    ``train_imagenet.py``, ``train_val.sh``, ``devkit/sparse_ops/sparse_ops.py``,
    ``devkit/core/dist_utils.py``): a global batch of 256 over 8 processes, 120 epochs, cosine from 0.1
    after 5 warm-up epochs, momentum 0.9, so sum(lr_t) is about 600,600 steps x 0.05 = 30,030; each
    process adds 2e-4 * (1 - mask) * w to its gradient and ``average_gradients`` all-reduces with a
    sum, so the decay on the mean gradient is 8 x 2e-4 = 1.6e-3: D is about 1.6e-3 x 30,030 / (1 - 0.9)
    = 480 (48 without the momentum factor; a single-process reading of 2e-4 gives 60 / 6). Pruned
    weights decay fully. A short run with lambda_w = 2e-4 reaches D ~ 0.01 and SR-STE is the STE.

    >>> round(integrated_decay(2e-4, [0.05] * 100, momentum=0.9), 4)
    0.01
    """
    if lambda_w < 0:
        raise ValueError(f"lambda_w must be >= 0, got {lambda_w}")
    if not 0.0 <= momentum < 1.0:
        raise ValueError(f"momentum must be in [0, 1), got {momentum}")
    return float(lambda_w) * float(sum(lrs)) / (1.0 - momentum)


def lambda_for_decay(target: float, lrs: Sequence[float], momentum: float = 0.0) -> float:
    """The ``lambda_w`` whose integrated decay over the learning rates ``lrs`` is ``target``."""
    total = float(sum(lrs))
    if target < 0 or total <= 0:
        raise ValueError(f"need target >= 0 and a positive sum of learning rates, got {target}, {total}")
    return target * (1.0 - momentum) / total


def has_sparse_tensor_cores(device: torch.device | str) -> bool:
    """Whether ``device`` is a CUDA GPU with 2:4 sparse tensor cores (compute capability 8.0 or later)."""
    device = torch.device(device)
    return device.type == "cuda" and torch.cuda.is_available() and torch.cuda.get_device_capability(device) >= (8, 0)


def semi_structured_speedup(device: torch.device | str, size: int = 4096, reps: int = 30) -> list[float]:
    """Dense time / 2:4 time of a ``size`` x ``size`` fp16 product (batch ``size``) on sparse tensor
    cores, once per interleaved repetition: torch's dense ``F.linear`` against
    ``torch.sparse.to_sparse_semi_structured`` (cuSPARSELt or CUTLASS), same masked weight, timed
    round-robin after warm-up (the paired values a timed claim decides on)."""
    from .masks import nm_mask
    from .timing import measure_samples

    if not has_sparse_tensor_cores(device):
        raise RuntimeError(f"{device} has no 2:4 sparse tensor cores (a CUDA GPU of compute capability >= 8.0)")
    from torch.sparse import to_sparse_semi_structured

    g = torch.Generator(device=device).manual_seed(0)
    w = torch.randn(size, size, dtype=torch.half, device=device, generator=g)
    w = w * nm_mask(w, 2, 4)
    x = torch.randn(size, size, dtype=torch.half, device=device, generator=g)
    ws = to_sparse_semi_structured(w)
    t = measure_samples({"dense": lambda: F.linear(x, w), "2:4": lambda: F.linear(x, ws)}, reps=reps,
                        sync=torch.cuda.synchronize)
    return [d / s for d, s in zip(t["dense"], t["2:4"])]
