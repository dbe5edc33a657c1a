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


def load_mnist_files(root: str | Path, seed: int = 0, val_size: int = 5000, flatten: bool = True,
                     download: bool = False) -> Split:
    """MNIST (``torchvision.datasets.MNIST``); ``val_size`` training images held out (the LTH paper: 5,000)."""
    xtr, ytr, xte, yte = _torchvision("MNIST", root, download)
    return _to_split(xtr, ytr, xte, yte, seed, val_size, "mnist", flatten, channels=None)


def load_fashion_mnist_files(root: str | Path, seed: int = 0, val_size: int = 5000, flatten: bool = True,
                             download: bool = False) -> Split:
    """Fashion-MNIST (``torchvision.datasets.FashionMNIST``); ``val_size`` training images held out."""
    xtr, ytr, xte, yte = _torchvision("FashionMNIST", root, download)
    return _to_split(xtr, ytr, xte, yte, seed, val_size, "fashion-mnist", flatten, channels=None)


def load_cifar10_files(root: str | Path, seed: int = 0, val_size: int = 5000, flatten: bool = False,
                       download: bool = False) -> Split:
    """CIFAR-10 (``torchvision.datasets.CIFAR10``) as (N, 3, 32, 32) in [0, 1]; ``val_size`` held out."""
    xtr, ytr, xte, yte = _torchvision("CIFAR10", root, download)
    return _to_split(xtr, ytr, xte, yte, seed, val_size, "cifar10", flatten, channels=-1)


def _to_split(xtr, ytr, xte, yte, seed, val_size, name, flatten, channels) -> Split:
    if not (0 < val_size < len(ytr)):
        raise ValueError(f"val_size must be between 1 and {len(ytr) - 1}, got {val_size}")
    tr, va = stratified_split(np.asarray(ytr), (1 - val_size / len(ytr), val_size / len(ytr)), seed)

    def x(a):
        t = torch.as_tensor(a.astype(np.float32) / 255.0)
        t = t.unsqueeze(1) if channels is None else t.movedim(channels, 1)  # (N, C, H, W)
        return t.reshape(len(t), -1) if flatten else t.contiguous()

    y = lambda a: torch.as_tensor(np.asarray(a).astype(np.int64))
    return Split(x(xtr[tr]), y(ytr[tr]), x(xtr[va]), y(ytr[va]), x(xte), y(yte), name=name, num_classes=10)
