"""Real MNIST, Fashion-MNIST and CIFAR-10 through torchvision's own dataset classes.

The files sit where torchvision puts them under ``root``:

- MNIST:         ``<root>/MNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte``
- Fashion-MNIST: ``<root>/FashionMNIST/raw/`` (the same four file names)
- CIFAR-10:      ``<root>/cifar-10-batches-py/{data_batch_1..5, test_batch}``

Nothing is downloaded unless ``download=True`` is passed (for a machine with a network); without
the files the error names the folder and the files, and how to get them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..checks import fraction
from .split import Split, stratified_split

__all__ = ["load_mnist_files", "load_fashion_mnist_files", "load_cifar10_files", "MNIST_FILES", "CIFAR10_FILES"]

MNIST_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
CIFAR10_FILES = tuple(f"data_batch_{i}" for i in range(1, 6)) + ("test_batch",)
_WHERE = {"MNIST": ("MNIST/raw", MNIST_FILES), "FashionMNIST": ("FashionMNIST/raw", MNIST_FILES),
          "CIFAR10": ("cifar-10-batches-py", CIFAR10_FILES)}


def _torchvision(name: str, root: str | Path, download: bool) -> tuple[np.ndarray, ...]:
    """Train and test images (uint8, N x H x W or N x H x W x C) and labels of a torchvision data set."""
    from torchvision import datasets

    if not isinstance(download, bool):
        raise TypeError(f"download must be True or False, got {download!r}")
    folder, files = _WHERE[name]
    cls = getattr(datasets, name)
    try:
        train, test = cls(str(root), train=True, download=download), cls(str(root), train=False, download=download)
    except RuntimeError as e:  # torchvision: "Dataset not found (or corrupted). You can use download=True ..."
        where = Path(root) / folder
        missing = [f for f in files if not (where / f).exists()]
        raise FileNotFoundError(
            f"{name} was not found in {where} (missing: {missing or 'none - a file failed its check'}). "
            f"On a machine with a network pass download=True (torchvision fetches the files into {root}); "
            f"otherwise copy the {folder.split('/')[0]}/ folder there. torchvision said: {e}"
        ) from None
    as_np = lambda a: a.numpy() if isinstance(a, torch.Tensor) else np.asarray(a)
    return as_np(train.data), as_np(train.targets), as_np(test.data), as_np(test.targets)


def load_mnist_files(root: str | Path, seed: int = 0, val_fraction: float = 1 / 12, flatten: bool = True,
                     download: bool = False) -> Split:
    """MNIST (``torchvision.datasets.MNIST``); ``val_fraction`` of the training images held out (the
    default 1/12 holds out 5,000 of 60,000, as the LTH paper did)."""
    xtr, ytr, xte, yte = _torchvision("MNIST", root, download)
    return _to_split(xtr, ytr, xte, yte, seed, val_fraction, "mnist", flatten, channels=None)


def load_fashion_mnist_files(root: str | Path, seed: int = 0, val_fraction: float = 1 / 12, flatten: bool = True,
                             download: bool = False) -> Split:
    """Fashion-MNIST (``torchvision.datasets.FashionMNIST``); ``val_fraction`` of the training images
    held out (5,000 of 60,000 by default)."""
    xtr, ytr, xte, yte = _torchvision("FashionMNIST", root, download)
    return _to_split(xtr, ytr, xte, yte, seed, val_fraction, "fashion-mnist", flatten, channels=None)


def load_cifar10_files(root: str | Path, seed: int = 0, val_fraction: float = 0.1, flatten: bool = False,
                       download: bool = False) -> Split:
    """CIFAR-10 (``torchvision.datasets.CIFAR10``) as (N, 3, 32, 32) in [0, 1]; ``val_fraction`` of the
    training images held out (5,000 of 50,000 by default)."""
    xtr, ytr, xte, yte = _torchvision("CIFAR10", root, download)
    return _to_split(xtr, ytr, xte, yte, seed, val_fraction, "cifar10", flatten, channels=-1)


def _to_split(xtr, ytr, xte, yte, seed, val_fraction, name, flatten, channels) -> Split:
    v = fraction("val_fraction", val_fraction, low_open=True)
    tr, va = stratified_split(np.asarray(ytr), (1 - v, v), seed)

    def x(a):
        t = torch.as_tensor(a.astype(np.float32) / 255.0)
        t = t.unsqueeze(1) if channels is None else t.movedim(channels, 1)  # (N, C, H, W)
        return t.reshape(len(t), -1) if flatten else t.contiguous()

    y = lambda a: torch.as_tensor(np.asarray(a).astype(np.int64))
    return Split(x(xtr[tr]), y(ytr[tr]), x(xtr[va]), y(ytr[va]), x(xte), y(yte), name=name, num_classes=10)
