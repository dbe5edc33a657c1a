"""Offline data sets with fixed-seed train / validation / test splits.

Nothing here downloads. ``load_mnist1d``, ``load_mnist_sample`` and ``load_digits`` use data generated
in code or shipped inside installed packages; ``load_mnist_files`` and ``load_cifar10_files`` read the
real data sets from a local folder and name the missing files otherwise.
"""

from .files import load_cifar10_files, load_mnist_files, read_idx, write_idx
from .offline import load_digits, load_mnist1d, load_mnist_sample, load_mnist_sample_per_class
from .split import Split, batches, stratified_split

__all__ = [
    "Split",
    "batches",
    "stratified_split",
    "load_mnist1d",
    "load_mnist_sample",
    "load_mnist_sample_per_class",
    "load_digits",
    "load_mnist_files",
    "load_cifar10_files",
    "read_idx",
    "write_idx",
]
