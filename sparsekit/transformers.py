"""Small, configurable Transformers with ReLU (or top-k) MLP blocks, for activation-sparsity studies.

- :class:`ViT`: patches of an image -> pre-LayerNorm Transformer blocks -> CLS token -> classes.
- :class:`T5Encoder`: a T5-style encoder (``torch.nn.RMSNorm`` with T5's eps 1e-6, bias-free ReLU
  feed-forward) over token sequences, mean-pooled into a classifier, for the synthetic sequence task of
  :func:`majority_task`.

Each block's MLP is ``Linear(d, d_ff) -> act -> Linear(d_ff, d)`` with the activation module named
``act``, so :class:`sparsekit.activations.ActivationMeter` finds it.
"""

from __future__ import annotations

import torch
from torch import nn

from .activations import TopK

__all__ = ["make_activation", "MLPBlock", "Block", "ViT", "T5Encoder", "majority_task"]


def make_activation(kind: str | int) -> nn.Module:
    """``"relu"`` or an integer ``k`` (top-k after ReLU)."""
    if kind == "relu":
        return nn.ReLU()
    if isinstance(kind, int):
        return TopK(kind)
    raise ValueError(f"activation must be 'relu' or an integer k for top-k, got {kind!r}")


class MLPBlock(nn.Module):
    def __init__(self, d: int, d_ff: int, activation: str | int = "relu", bias: bool = True):
        super().__init__()
        self.fc1 = nn.Linear(d, d_ff, bias=bias)
        self.act = make_activation(activation)
        self.fc2 = nn.Linear(d_ff, d, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    """Pre-norm Transformer block: x + attn(norm(x)); x + mlp(norm(x))."""

    def __init__(self, d: int, heads: int, d_ff: int, activation: str | int = "relu", t5: bool = False):
        super().__init__()
        norm = (lambda: nn.RMSNorm(d, eps=1e-6)) if t5 else (lambda: nn.LayerNorm(d))
        self.norm1, self.norm2 = norm(), norm()
        self.attn = nn.MultiheadAttention(d, heads, batch_first=True, bias=not t5)
        self.mlp = MLPBlock(d, d_ff, activation, bias=not t5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.norm1(x)
        x = x + self.attn(h, h, h, need_weights=False)[0]
        return x + self.mlp(self.norm2(x))


class ViT(nn.Module):
    """A Vision Transformer for small one-channel images (MNIST: 28 x 28, patches of 7 -> 16 tokens)."""

    def __init__(self, image_size: int = 28, patch: int = 7, d: int = 64, depth: int = 4, heads: int = 4,
                 d_ff: int = 256, num_classes: int = 10, activation: str | int = "relu", channels: int = 1):
        super().__init__()
        if image_size % patch:
            raise ValueError(f"patch ({patch}) must divide image_size ({image_size})")
        if d % heads:
            raise ValueError(f"heads ({heads}) must divide d ({d})")
        self.image_size, self.patch, self.channels = image_size, patch, channels
        n_patches = (image_size // patch) ** 2
        self.embed = nn.Linear(channels * patch * patch, d)
        self.cls = nn.Parameter(torch.zeros(1, 1, d))
        self.pos = nn.Parameter(torch.randn(1, n_patches + 1, d) * 0.02)
        self.blocks = nn.ModuleList([Block(d, heads, d_ff, activation) for _ in range(depth)])
        self.norm = nn.LayerNorm(d)
        self.head = nn.Linear(d, num_classes)

    def patches(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 2:
            x = x.view(-1, self.channels, self.image_size, self.image_size)
        p = self.patch
        b = x.shape[0]
        x = x.unfold(2, p, p).unfold(3, p, p)  # (B, C, H/p, W/p, p, p)
        return x.permute(0, 2, 3, 1, 4, 5).reshape(b, -1, self.channels * p * p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = self.embed(self.patches(x))
        tokens = torch.cat([self.cls.expand(tokens.shape[0], -1, -1), tokens], dim=1) + self.pos
        for blk in self.blocks:
            tokens = blk(tokens)
        return self.head(self.norm(tokens[:, 0]))


class T5Encoder(nn.Module):
    """A T5-style encoder classifier over token sequences (learned absolute positions, for brevity)."""

    def __init__(self, vocab: int = 16, max_len: int = 64, d: int = 64, depth: int = 4, heads: int = 4,
                 d_ff: int = 256, num_classes: int = 16, activation: str | int = "relu"):
        super().__init__()
        self.tok = nn.Embedding(vocab, d)
        self.pos = nn.Parameter(torch.randn(1, max_len, d) * 0.02)
        self.blocks = nn.ModuleList([Block(d, heads, d_ff, activation, t5=True) for _ in range(depth)])
        self.norm = nn.RMSNorm(d, eps=1e-6)
        self.head = nn.Linear(d, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.tok(x) + self.pos[:, : x.shape[1]]
        for blk in self.blocks:
            h = blk(h)
        return self.head(self.norm(h).mean(1))


def majority_task(n: int, length: int = 32, vocab: int = 16, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Token sequences labelled by their most frequent token (ties go to the smaller token)."""
    g = torch.Generator().manual_seed(seed)
    # draw from a per-sequence skewed distribution so that the majority is learnable
    logits = torch.randn(n, vocab, generator=g) * 1.5
    x = torch.multinomial(torch.softmax(logits, -1), length, replacement=True, generator=g)
    counts = torch.zeros(n, vocab, dtype=torch.int64).scatter_add_(1, x, torch.ones_like(x))
    y = counts.argmax(1)
    return x, y
