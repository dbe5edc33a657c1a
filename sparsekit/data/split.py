"""The Split container, stratified fixed-seed splitting, and minibatch iteration."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch

__all__ = ["Split", "stratified_split", "batches"]


@dataclass
class Split:
    """Tensors of one data set: train / validation / test features (float32) and labels (int64)."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    name: str = ""
    num_classes: int = 10

    def sizes(self) -> dict[str, int]:
        return {"train": len(self.y_train), "val": len(self.y_val), "test": len(self.y_test)}

    def to(self, device) -> Split:
        kw = {k: getattr(self, k).to(device) for k in ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test")}
        return Split(**kw, name=self.name, num_classes=self.num_classes)

    def __repr__(self) -> str:
        s = self.sizes()
        return (f"Split({self.name!r}: train {s['train']}, val {s['val']}, test {s['test']}, "
                f"x {tuple(self.x_train.shape[1:])}, {self.num_classes} classes)")


def stratified_split(y: np.ndarray, fractions: tuple[float, ...], seed: int) -> list[np.ndarray]:
    """Index arrays that split ``y`` into parts of the given fractions, each class in proportion.

    Fractions must be positive and sum to 1. The same ``seed`` always gives the same split.
    """
    y = np.asarray(y)
    fr = np.asarray(fractions, dtype=float)
    if (fr <= 0).any() or abs(fr.sum() - 1) > 1e-9:
        raise ValueError(f"fractions must be positive and sum to 1, got {tuple(fractions)}")
    rng = np.random.default_rng(seed)
    parts: list[list[np.ndarray]] = [[] for _ in fr]
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c))
        cuts = np.round(np.cumsum(fr)[:-1] * len(idx)).astype(int)
        for i, chunk in enumerate(np.split(idx, cuts)):
            parts[i].append(chunk)
    return [np.sort(np.concatenate(p)) for p in parts]


def batches(
    x: torch.Tensor, y: torch.Tensor, batch_size: int, generator: torch.Generator | None = None,
    shuffle: bool = True, drop_last: bool = False,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Minibatches of in-memory tensors (faster than a DataLoader for data that fits in memory)."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    if len(x) != len(y):
        raise ValueError(f"x has {len(x)} rows but y has {len(y)}")
    n = len(y)
    order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
    stop = n - n % batch_size if drop_last else n
    for i in range(0, stop, batch_size):
        j = order[i : i + batch_size]
        yield x[j], y[j]
