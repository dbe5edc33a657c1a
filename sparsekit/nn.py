"""Sparse inference layers that run on sparsekit's kernels.

- :class:`SparseLinear`: an ``nn.Linear`` whose weight is stored sparse (CSR or N:M) and
  multiplied by ``sparsekit.kernels`` - the speed a masked dense layer never gets.
- :class:`SparseConv2d`: an ``nn.Conv2d`` with a CSR or N:M weight: 1x1 convolutions of any stride
  run on NCHW data in place (per image ``W @ X`` with ``X`` the (channels, pixels) view, strided
  inputs subsampled first), kxk ones through im2col (``F.unfold``), grouped ones per group.
- :class:`SparseInputLinear`: a dense ``nn.Linear`` that skips the zero entries of its input
  (activation sparsity, e.g. the second matmul of a ReLU MLP block).

All three are for inference: they hold no trainable parameters (their weights are registered
buffers, so ``state_dict()`` round-trips them and ``.to(dtype)`` / ``.double()`` convert the
values) and refuse inputs that need gradients. ``sparsekit.convert.to_sparse`` swaps them into a
whole model.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from . import kernels
from .checks import one_of
from .formats import CSR, NMSparse
from .masks import magnitude_mask

__all__ = ["FORMATS", "SparseLinear", "SparseConv2d", "SparseInputLinear"]

FORMATS = ("csr", "nm")


def _no_grad_input(x: torch.Tensor, layer: str) -> None:
    if torch.is_grad_enabled() and x.requires_grad:
        raise RuntimeError(f"{layer} is for inference: call it under torch.no_grad() (its kernels have no backward)")


def _mask_of(weight: torch.Tensor, mask_or_sparsity: torch.Tensor | float | None) -> torch.Tensor | None:
    """A mask as given, the magnitude mask of a sparsity, or None (keep the non-zeros)."""
    if isinstance(mask_or_sparsity, (int, float)) and not isinstance(mask_or_sparsity, bool):
        return magnitude_mask(weight, float(mask_or_sparsity))
    if isinstance(mask_or_sparsity, torch.Tensor) or mask_or_sparsity is None:
        return mask_or_sparsity
    raise TypeError(f"mask_or_sparsity must be a mask tensor, a float sparsity or None, got {mask_or_sparsity!r}")


def _pack(w2d: torch.Tensor, mask: torch.Tensor | None, format: str, n: int, m: int) -> CSR | NMSparse:
    one_of("format", format, FORMATS)
    if format == "csr":
        return CSR.from_dense(w2d, mask)
    return NMSparse.from_dense(w2d, n, m, mask=mask, prune=mask is None)


class _SparseWeight(nn.Module):
    """A weight held as the arrays of a CSR or N:M format, registered as buffers ``weight_<array>``.

    The format object the kernels read (``self.weight``) is built from the buffers when they
    change (a ``.to(dtype)``, a ``load_state_dict``), sharing their memory on the CPU.
    """

    def _set_weight(self, weight: CSR | NMSparse) -> None:
        if not isinstance(weight, (CSR, NMSparse)):
            raise TypeError(f"weight must be a sparsekit CSR or NMSparse, got {type(weight).__name__}")
        self.format = "csr" if isinstance(weight, CSR) else "nm"
        self.weight_shape = tuple(weight.shape)
        self.nm = (weight.n, weight.m) if isinstance(weight, NMSparse) else None
        for name, t in weight.tensors().items():
            self.register_buffer(f"weight_{name}", t.clone())
        self._cached: tuple | None = None

    def _arrays(self) -> dict[str, torch.Tensor]:
        names = ("indptr", "indices", "values") if self.format == "csr" else ("values", "offsets")
        return {n: getattr(self, f"weight_{n}") for n in names}

    @property
    def weight(self) -> CSR | NMSparse:
        """The sparse weight as the kernels read it (rebuilt from the buffers when they changed)."""
        arrays = self._arrays()
        key = tuple((t.data_ptr(), t.dtype, t.device, tuple(t.shape)) for t in arrays.values())
        if self._cached is None or self._cached[0] != key:
            fmt: CSR | NMSparse
            if self.format == "csr":
                fmt = CSR.from_tensors(self.weight_shape, arrays["indptr"], arrays["indices"], arrays["values"])
            else:
                n, m = self.nm  # type: ignore[misc]
                fmt = NMSparse.from_tensors(self.weight_shape, n, m, arrays["values"], arrays["offsets"])
            self._cached = (key, fmt)
        return self._cached[1]

    def weight_dense(self) -> torch.Tensor:
        """The weight as a dense 2-D tensor (zeros where it is pruned)."""
        return torch.from_numpy(self.weight.to_dense())

    @property
    def density(self) -> float:
        return self.weight.density

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                              error_msgs):
        # a sparse weight's arrays have the length of its non-zeros: take the stored ones' shapes
        for name, t in self._arrays().items():
            key = prefix + f"weight_{name}"
            if key in state_dict and state_dict[key].shape != t.shape:
                setattr(self, f"weight_{name}", torch.empty_like(state_dict[key], dtype=t.dtype, device=t.device))
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                                      error_msgs)
        self._cached = None

    def _check_x_dtype(self, x: torch.Tensor) -> None:
        want = self._arrays()["values"].dtype
        if x.dtype != want:
            raise TypeError(f"x is {x.dtype} but the layer's weight is {want}; convert one of them (x.to({want}) "
                            f"or layer.to({x.dtype}))")

    def _matmul(self, x2: torch.Tensor, channels_first: bool) -> torch.Tensor:
        w = self.weight
        if isinstance(w, CSR):
            return kernels.csr_matmul(w, x2, channels_first=channels_first)
        return kernels.nm_matmul(w, x2, channels_first=channels_first)

    def _format_repr(self) -> str:
        return "csr" if self.format == "csr" else f"nm {self.nm[0]}:{self.nm[1]}"


class SparseLinear(_SparseWeight):
    """``y = x @ W.T + b`` with ``W`` stored as :class:`CSR` or :class:`NMSparse`.

    >>> lin = nn.Linear(8, 4)
    >>> sp = SparseLinear.from_dense(lin, 0.5)
    >>> sp
    SparseLinear(in_features=8, out_features=4, format=csr, density=0.500)
    >>> sorted(sp.state_dict())
    ['bias', 'weight_indices', 'weight_indptr', 'weight_values']
    """

    def __init__(self, weight: CSR | NMSparse, bias: torch.Tensor | None = None):
        super().__init__()
        self._set_weight(weight)
        self.out_features, self.in_features = self.weight_shape
        if bias is not None and tuple(bias.shape) != (self.out_features,):
            raise ValueError(f"bias has shape {tuple(bias.shape)}, expected ({self.out_features},)")
        self.register_buffer("bias", None if bias is None else bias.detach().cpu().clone())

    @classmethod
    def from_dense(
        cls,
        linear: nn.Linear,
        mask_or_sparsity: torch.Tensor | float | None = None,
        format: str = "csr",
        n: int = 2,
        m: int = 4,
    ) -> SparseLinear:
        """Build from an ``nn.Linear``.

        ``mask_or_sparsity``: a boolean mask of the weight's shape, a sparsity in [0, 1) (the
        largest-magnitude weights are kept), or ``None`` (keep the weight's non-zeros; for
        ``format='nm'``, prune to N:M by magnitude). ``format`` is ``'csr'`` or ``'nm'``.
        """
        if not isinstance(linear, nn.Linear):
            raise TypeError(f"linear must be an nn.Linear, got {type(linear).__name__}")
        w = linear.weight.detach().cpu()
        bias = None if linear.bias is None else linear.bias.detach().cpu()
        return cls(_pack(w, _mask_of(w, mask_or_sparsity), format, n, m), bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _no_grad_input(x, "SparseLinear")
        self._check_x_dtype(x)
        lead = x.shape[:-1]
        y = self._matmul(x.reshape(-1, x.shape[-1]), channels_first=False)
        if self.bias is not None:
            y = y + self.bias.to(y.device)
        return y.reshape(*lead, self.out_features)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, format={self._format_repr()}, "
                f"density={self.density:.3f}")


def _pair(v) -> tuple[int, int]:
    return (int(v), int(v)) if isinstance(v, int) else (int(v[0]), int(v[1]))


class SparseConv2d(_SparseWeight):
    """A 2-D convolution whose weight, seen as (out_channels, in_channels / groups * kh * kw) per
    group, is stored sparse (CSR, or N:M along that flattened input dimension).

    A 1x1 convolution runs on NCHW data without copies (strided ones read every ``stride``-th pixel
    first, padded ones are padded first); a kxk one unfolds its input (im2col) and multiplies the
    sparse weight by the (in * kh * kw, pixels) columns of each image. With ``groups > 1`` each group
    has its own weight. ``order="hwc"`` says that the flattened weight runs over (kh, kw, in) - the
    layout of an N:M mask grouped along input channels at each tap (``NMConv2d(layout="channel")``).
    """

    def __init__(self, weights: list[CSR | NMSparse], in_channels: int, out_channels: int, kernel_size,
                 stride=1, padding=0, dilation=1, groups: int = 1, bias: torch.Tensor | None = None,
                 order: str = "chw"):
        super().__init__()
        one_of("order", order, ("chw", "hwc"))
        if groups < 1 or in_channels % groups or out_channels % groups:
            raise ValueError(f"groups must divide in_channels ({in_channels}) and out_channels ({out_channels}), "
                             f"got {groups}")
        if len(weights) != groups:
            raise ValueError(f"give one sparse weight per group: {groups} groups, {len(weights)} weights")
        self.in_channels, self.out_channels, self.groups = int(in_channels), int(out_channels), int(groups)
        self.kernel_size, self.stride = _pair(kernel_size), _pair(stride)
        self.padding, self.dilation, self.order = _pair(padding), _pair(dilation), order
        cols = in_channels // groups * math.prod(self.kernel_size)
        for g, w in enumerate(weights):
            if tuple(w.shape) != (out_channels // groups, cols):
                raise ValueError(f"group {g}'s weight has shape {tuple(w.shape)}, expected "
                                 f"({out_channels // groups}, {cols})")
        # one group's arrays as this module's buffers, the others in child modules (each its own buffers)
        self._set_weight(weights[0])
        self.other_groups = nn.ModuleList(_GroupWeight(w) for w in weights[1:])
        if bias is not None and tuple(bias.shape) != (out_channels,):
            raise ValueError(f"bias has shape {tuple(bias.shape)}, expected ({out_channels},)")
        self.register_buffer("bias", None if bias is None else bias.detach().cpu().clone())

    @classmethod
    def from_dense(cls, conv: nn.Conv2d, mask_or_sparsity: torch.Tensor | float | None = None, format: str = "csr",
                   n: int = 2, m: int = 4, order: str = "chw") -> SparseConv2d:
        """From an ``nn.Conv2d`` (zero padding; any kernel size, stride, dilation and groups). The mask
        (or the sparsity, keeping the largest magnitudes of each group's weight) has the conv weight's
        shape; ``order`` as in the class docstring."""
        if not isinstance(conv, nn.Conv2d):
            raise TypeError(f"conv must be an nn.Conv2d, got {type(conv).__name__}")
        if conv.padding_mode != "zeros" or isinstance(conv.padding, str) and conv.padding != "valid":
            raise ValueError(f"conv must use zero padding given as numbers (padding_mode='zeros'), got {conv}")
        one_of("order", order, ("chw", "hwc"))
        w = conv.weight.detach().cpu()
        if isinstance(mask_or_sparsity, torch.Tensor) and tuple(mask_or_sparsity.shape) != tuple(w.shape):
            raise ValueError(f"the mask has shape {tuple(mask_or_sparsity.shape)}, the conv weight {tuple(w.shape)}")
        per = conv.out_channels // conv.groups
        weights = []
        for g in range(conv.groups):
            wg = w[g * per:(g + 1) * per]
            mg = mask_or_sparsity[g * per:(g + 1) * per] if isinstance(mask_or_sparsity, torch.Tensor) else None
            if order == "hwc":
                wg, mg = wg.permute(0, 2, 3, 1), None if mg is None else mg.permute(0, 2, 3, 1)
            w2 = wg.reshape(per, -1)
            mask = mg.reshape(per, -1) if mg is not None else _mask_of(w2, mask_or_sparsity)
            weights.append(_pack(w2, mask, format, n, m))
        padding = (0, 0) if conv.padding == "valid" else conv.padding
        bias = None if conv.bias is None else conv.bias.detach().cpu()
        return cls(weights, conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, padding,
                   conv.dilation, conv.groups, bias, order)

    def group_weights(self) -> list[CSR | NMSparse]:
        return [self.weight, *(g.weight for g in self.other_groups)]

    @property
    def density(self) -> float:
        ws = self.group_weights()
        kept = sum(w.density * w.shape[0] * w.shape[1] for w in ws)
        return kept / max(sum(w.shape[0] * w.shape[1] for w in ws), 1)

    def weight_dense(self) -> torch.Tensor:
        """The weight as a dense (out, in / groups, kh, kw) tensor (zeros where it is pruned)."""
        kh, kw = self.kernel_size
        per_in = self.in_channels // self.groups
        parts = []
        for w in self.group_weights():
            d = torch.from_numpy(w.to_dense())
            parts.append(d.reshape(-1, kh, kw, per_in).permute(0, 3, 1, 2) if self.order == "hwc"
                         else d.reshape(-1, per_in, kh, kw))
        return torch.cat(parts)

    def _is_pointwise(self) -> bool:
        return self.kernel_size == (1, 1)

    def _group_product(self, layer: _SparseWeight, x: torch.Tensor) -> torch.Tensor:
        """(N, C_g, H, W) -> (N, O_g, H', W') for one group."""
        n = x.shape[0]
        if self._is_pointwise():
            if self.padding != (0, 0):
                x = F.pad(x, (self.padding[1], self.padding[1], self.padding[0], self.padding[0]))
            if self.stride != (1, 1):
                x = x[:, :, ::self.stride[0], ::self.stride[1]]
            x = x.contiguous()
            h, w = x.shape[2], x.shape[3]
            cols = [x[i].reshape(x.shape[1], h * w) for i in range(n)]
        else:
            h, w = (
                (x.shape[2 + i] + 2 * self.padding[i] - self.dilation[i] * (self.kernel_size[i] - 1) - 1)
                // self.stride[i] + 1 for i in (0, 1))
            unf = F.unfold(x, self.kernel_size, self.dilation, self.padding, self.stride)  # (N, C*kh*kw, L)
            if self.order == "hwc":
                c = x.shape[1]
                unf = unf.reshape(n, c, -1, unf.shape[-1]).transpose(1, 2).reshape(n, -1, unf.shape[-1])
            cols = [unf[i].contiguous() for i in range(n)]
        ys = [layer._matmul(c, channels_first=True) for c in cols]
        return (ys[0].unsqueeze(0) if n == 1 else torch.stack(ys)).reshape(n, -1, h, w)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _no_grad_input(x, "SparseConv2d")
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"x must be NCHW with {self.in_channels} channels, got shape {tuple(x.shape)}")
        self._check_x_dtype(x)
        layers: list[_SparseWeight] = [self, *self.other_groups]
        if self.groups == 1:
            y = self._group_product(self, x)
        else:
            per = self.in_channels // self.groups
            y = torch.cat([self._group_product(layer, x[:, g * per:(g + 1) * per]) for g, layer in enumerate(layers)],
                          dim=1)
        if self.bias is not None:
            y.add_(self.bias.to(y.device).reshape(1, -1, 1, 1))  # y is a fresh tensor of the kernel's
        return y

    def extra_repr(self) -> str:
        extra = "" if self.groups == 1 else f", groups={self.groups}"
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
                f"padding={self.padding}{extra}, format={self._format_repr()}, density={self.density:.3f}")


class _GroupWeight(_SparseWeight):
    """The sparse weight of one further group of a :class:`SparseConv2d` (buffers only)."""

    def __init__(self, weight: CSR | NMSparse):
        super().__init__()
        self._set_weight(weight)


class SparseInputLinear(nn.Module):
    """A dense ``nn.Linear`` for inference whose product skips the zero entries of the input."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None = None):
        super().__init__()
        if weight.dim() != 2:
            raise ValueError(f"weight must be 2-D (out_features, in_features), got shape {tuple(weight.shape)}")
        self.out_features, self.in_features = weight.shape
        self.register_buffer("weight_t", weight.detach().t().contiguous())
        self.register_buffer("bias", None if bias is None else bias.detach().clone())

    @classmethod
    def from_dense(cls, linear: nn.Linear) -> SparseInputLinear:
        if not isinstance(linear, nn.Linear):
            raise TypeError(f"linear must be an nn.Linear, got {type(linear).__name__}")
        return cls(linear.weight, linear.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _no_grad_input(x, "SparseInputLinear")
        lead = x.shape[:-1]
        y = kernels.sparse_input_matmul(x.reshape(-1, x.shape[-1]), self.weight_t)  # type: ignore[arg-type]
        if self.bias is not None:
            y = y + self.bias
        return y.reshape(*lead, self.out_features)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}"
