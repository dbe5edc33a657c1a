"""MobileNet v1 for timing: the dense network against the same network with sparse 1x1 convolutions.

Elsen et al. (Fast Sparse ConvNets, CVPR 2020) run MobileNet v1 with its pointwise (1x1)
convolutions sparse and report 1.3-2.4x faster inference than the dense network on an ARM phone.
This module builds MobileNet v1 as Howard et al. (arXiv 1704.04861, Table 1) define it - a 3x3
stem, 13 depthwise-separable blocks, average pooling, a 1000-way classifier - at width 1.0 and
224 x 224 input, with batch normalisation folded into the convolutions' biases (as at inference).

The weights are random (He initialisation; sparse weights are rescaled by ``1 / sqrt(density)`` so
activations keep their scale): the time of a product does not depend on the values, only on the
shapes and on where the zeros are. Sparse 1x1 convolutions keep a random ``1 - sparsity`` share of
each layer's weights exactly; everything else (stem, depthwise, classifier) stays dense.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from .masks import random_mask
from .nn import SparseConv2d
from .seeds import seeded

__all__ = ["BLOCKS", "mobilenet_v1", "sparsify_pointwise", "pointwise_layers", "flops", "dense_variants",
]

# (in channels, out channels, stride of the depthwise conv) of the 13 depthwise-separable blocks
BLOCKS = ((32, 64, 1), (64, 128, 2), (128, 128, 1), (128, 256, 2), (256, 256, 1), (256, 512, 2),
          *((512, 512, 1),) * 5, (512, 1024, 2), (1024, 1024, 1))


def _conv(c_in: int, c_out: int, k: int, stride: int = 1, groups: int = 1) -> nn.Sequential:
    conv = nn.Conv2d(c_in, c_out, k, stride, padding=k // 2, groups=groups, bias=True)
    nn.init.kaiming_normal_(conv.weight, nonlinearity="relu")
    nn.init.zeros_(conv.bias)  # type: ignore[arg-type]  # bias=True
    return nn.Sequential(conv, nn.ReLU(inplace=True))


class MobileNetV1(nn.Module):
    def __init__(self, width: float = 1.0, num_classes: int = 1000):
        super().__init__()
        if not width > 0:
            raise ValueError(f"width must be positive, got {width}")
        ch = lambda c: max(8, int(c * width))  # noqa: E731
        layers = [_conv(3, ch(32), 3, 2)]
        for c_in, c_out, stride in BLOCKS:
            layers += [_conv(ch(c_in), ch(c_in), 3, stride, groups=ch(c_in)), _conv(ch(c_in), ch(c_out), 1)]
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(ch(1024), num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)
        if x.is_mkldnn:
            x = x.to_dense()
        return self.classifier(x.mean((2, 3)))


def mobilenet_v1(width: float = 1.0, num_classes: int = 1000, seed: int = 0) -> MobileNetV1:
    """MobileNet v1 (random weights, BN folded), in eval mode."""
    with seeded(seed):
        return MobileNetV1(width, num_classes).eval()


def _is_pointwise(layer: nn.Module) -> bool:
    return isinstance(layer, (SparseConv2d, nn.Conv2d)) and tuple(layer.kernel_size) == (1, 1)


def pointwise_layers(model: MobileNetV1) -> list[tuple[int, nn.Module]]:
    """(index in ``model.features``, the 1x1 convolution) for every pointwise layer."""
    return [(i, blk[0]) for i, blk in enumerate(model.features) if _is_pointwise(blk[0])]


def _blocks_at_resolution(model: MobileNetV1, size: int):
    """(index, layer, side of its output) for every layer after the stem: a depthwise layer's stride
    sets the resolution, a 1x1 layer keeps it."""
    side = size // 2  # after the stride-2 stem
    for i, blk in enumerate(list(model.features)[1:], start=1):
        layer = blk[0]
        if not _is_pointwise(layer):
            side = (side + layer.stride[0] - 1) // layer.stride[0]
        yield i, layer, side


def sparsify_pointwise(model: MobileNetV1, sparsity: float, seed: int = 0) -> MobileNetV1:
    """A copy of ``model`` whose 1x1 convolutions keep exactly ``1 - sparsity`` of their weights (at
    random, rescaled by ``1 / sqrt(density)``) and run on sparsekit's CSR kernel."""
    if not 0.0 <= sparsity < 1.0:
        raise ValueError(f"sparsity must lie in [0, 1), got {sparsity}")
    out = copy.deepcopy(model)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for i, conv in pointwise_layers(out):
            assert isinstance(conv, nn.Conv2d)
            mask = random_mask(conv.weight.shape, sparsity, generator=g)
            conv.weight.mul_(mask / (1 - sparsity) ** 0.5)
            out.features[i][0] = SparseConv2d.from_dense(conv, mask)
    return out


def flops(model: MobileNetV1, size: int = 224) -> dict:
    """Multiply-adds x 2 of one image: all layers, and the 1x1 layers alone (their kept weights only)."""
    hw = size // 2
    total, pointwise = 2 * 3 * 3 * 3 * model.features[0][0].out_channels * hw * hw, 0
    for _, layer, hw in _blocks_at_resolution(model, size):
        if _is_pointwise(layer):
            kept = layer.weight.nnz if isinstance(layer, SparseConv2d) else int((layer.weight != 0).sum())
            f = 2 * kept * hw * hw
            pointwise += f
        else:  # depthwise 3x3
            f = 2 * 9 * layer.out_channels * hw * hw
        total += f
    total += 2 * model.classifier.in_features * model.classifier.out_features
    return {"total": total, "pointwise": pointwise}


def dense_variants(model: MobileNetV1, x: torch.Tensor) -> dict:
    """torch's ways to run the dense network on CPU - NCHW, channels-last, oneDNN (mkldnn tensors) -
    as zero-argument calls, to be timed together (the fastest is the baseline)."""
    import warnings

    cl = copy.deepcopy(model).to(memory_format=torch.channels_last)
    x_cl = x.contiguous(memory_format=torch.channels_last)
    out = {"NCHW": lambda: model(x), "channels-last": lambda: cl(x_cl)}
    if torch.backends.mkldnn.is_available():
        mk = copy.deepcopy(model)
        with warnings.catch_warnings():  # torch.utils.mkldnn builds its modules with the deprecated script_method
            warnings.simplefilter("ignore", FutureWarning)
            from torch.utils import mkldnn

            mk.features = mkldnn.to_mkldnn(mk.features)
        out["oneDNN (mkldnn tensors)"] = lambda: mk(x.to_mkldnn())
    return out
