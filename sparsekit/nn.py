"""Inference layers that run on the sparse kernels.

- :class:`SparseLinear`: an ``nn.Linear`` whose weight is stored sparse (CSR or N:M) and
  multiplied by ``sparsekit.kernels`` - the speed a masked dense layer never gets.
- :class:`SparseInputLinear`: a dense ``nn.Linear`` that skips the zero entries of its input
  (activation sparsity, e.g. the second matmul of a ReLU MLP block).
- :class:`SparseConv1x1`: a 1x1 ``nn.Conv2d`` (stride 1, no groups) with a CSR weight, run on NCHW
  data in place: per image, ``W @ X`` with ``X`` the (channels, pixels) view.

Both are for inference: they hold no trainable parameters and refuse inputs that need gradients.
"""

from __future__ import annotations

import torch
from torch import nn

from . import kernels
from .formats import CSR, NMSparse
from .masks import magnitude_mask

__all__ = ["SparseLinear", "SparseInputLinear", "SparseConv1x1"]


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


class SparseLinear(nn.Module):
    """``y = x @ W.T + b`` with ``W`` stored as :class:`CSR` or :class:`NMSparse`.

    >>> lin = nn.Linear(8, 4)
    >>> sp = SparseLinear.from_dense(lin, 0.5)
    >>> sp
    SparseLinear(in_features=8, out_features=4, format=csr, density=0.500)
    """

    def __init__(self, weight: CSR | NMSparse, bias: torch.Tensor | None = None):
        super().__init__()
        if not isinstance(weight, (CSR, NMSparse)):
            raise TypeError(f"weight must be a CSR or NMSparse, got {type(weight).__name__}")
        self.weight = weight
        self.out_features, self.in_features = weight.shape
        if bias is not None:
            if bias.shape != (self.out_features,):
                raise ValueError(f"bias has shape {tuple(bias.shape)}, expected ({self.out_features},)")
            self.register_buffer("bias", bias.detach().clone())
        else:
            self.bias = None

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
        mask = _mask_of(w, mask_or_sparsity)
        if format == "csr":
            fmt = CSR.from_dense(w, mask)
        elif format == "nm":
            fmt = NMSparse.from_dense(w, n, m, mask=mask, prune=mask is None)
        else:
            raise ValueError(f"format must be 'csr' or 'nm', got {format!r}")
        bias = None if linear.bias is None else linear.bias.detach().cpu()
        return cls(fmt, bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _no_grad_input(x, "SparseLinear")
        lead = x.shape[:-1]
        x2 = x.reshape(-1, x.shape[-1])
        fn = kernels.csr_matmul if isinstance(self.weight, CSR) else kernels.nm_matmul
        y = fn(self.weight, x2)
        if self.bias is not None:
            y = y + self.bias.to(y.device)
        return y.reshape(*lead, self.out_features)

    def extra_repr(self) -> str:
        kind = "csr" if isinstance(self.weight, CSR) else f"nm {self.weight.n}:{self.weight.m}"
        return (f"in_features={self.in_features}, out_features={self.out_features}, format={kind}, "
                f"density={self.weight.density:.3f}")


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
        y = kernels.sparse_input_matmul(x.reshape(-1, x.shape[-1]), self.weight_t)
        if self.bias is not None:
            y = y + self.bias
        return y.reshape(*lead, self.out_features)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}"


class SparseConv1x1(nn.Module):
    """A pointwise convolution ``y[:, o] = sum_c W[o, c] x[:, c] + b[o]`` with ``W`` in :class:`CSR`,
    on NCHW input (each image's (channels, height * width) view goes to the kernel as it lies)."""

    def __init__(self, weight: CSR, bias: torch.Tensor | None = None):
        super().__init__()
        if not isinstance(weight, CSR):
            raise TypeError(f"weight must be a CSR, got {type(weight).__name__}")
        self.weight = weight
        self.out_channels, self.in_channels = weight.shape
        if bias is not None and bias.shape != (self.out_channels,):
            raise ValueError(f"bias has shape {tuple(bias.shape)}, expected ({self.out_channels},)")
        self.register_buffer("bias", None if bias is None else bias.detach().clone())

    @classmethod
    def from_dense(cls, conv: nn.Conv2d, mask_or_sparsity: torch.Tensor | float | None = None) -> SparseConv1x1:
        """From a 1x1 ``nn.Conv2d`` with stride 1, no padding, dilation 1 and one group; the mask
        (or sparsity, keeping the largest magnitudes) applies to its (out, in) weight."""
        if not isinstance(conv, nn.Conv2d):
            raise TypeError(f"conv must be an nn.Conv2d, got {type(conv).__name__}")
        if (conv.kernel_size != (1, 1) or conv.stride != (1, 1) or conv.padding not in ((0, 0), "valid")
                or conv.dilation != (1, 1) or conv.groups != 1):
            raise ValueError("conv must be a pointwise convolution: kernel_size 1, stride 1, padding 0, "
                             f"dilation 1, groups 1; got {conv}")
        w = conv.weight.detach().cpu().reshape(conv.out_channels, conv.in_channels)
        bias = None if conv.bias is None else conv.bias.detach().cpu()
        return cls(CSR.from_dense(w, _mask_of(w, mask_or_sparsity)), bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _no_grad_input(x, "SparseConv1x1")
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"x must be NCHW with {self.in_channels} channels, got shape {tuple(x.shape)}")
        n, _, h, w = x.shape
        x = x.contiguous()
        ys = [kernels.csr_matmul(self.weight, x[i].reshape(self.in_channels, h * w), channels_first=True)
              for i in range(n)]
        y = (ys[0].unsqueeze(0) if n == 1 else torch.stack(ys)).reshape(n, self.out_channels, h, w)
        if self.bias is not None:
            y.add_(self.bias.reshape(1, -1, 1, 1))  # y is a fresh tensor of the kernel's: in place is safe
        return y

    def extra_repr(self) -> str:
        return f"in_channels={self.in_channels}, out_channels={self.out_channels}, density={self.weight.density:.3f}"
