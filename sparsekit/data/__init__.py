"""Offline data sets with fixed-seed train / validation / test splits.

Nothing here downloads by default. ``load_mnist1d``, ``load_mnist_sample`` and ``load_digits`` use
data generated in code or shipped inside installed packages; ``load_mnist_files``,
``load_fashion_mnist_files`` and ``load_cifar10_files`` read the real data sets through torchvision
from a local folder (``download=True`` fetches them on a machine with a network) and name the
missing files otherwise.
"""

from .files import load_cifar10_files, load_fashion_mnist_files, load_mnist_files
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
    "load_fashion_mnist_files",
    "load_cifar10_files",
]
