"""Real MNIST and CIFAR-10 read from a local folder in torchvision's layout (no download).

MNIST:    <root>/MNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]
CIFAR-10: <root>/cifar-10-batches-py/{data_batch_1..5, test_batch}
"""

from __future__ import annotations

import gzip
import pickle
import struct
from pathlib import Path

import numpy as np
import torch

from .split import Split, stratified_split

MNIST_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
CIFAR10_FILES = tuple(f"data_batch_{i}" for i in range(1, 6)) + ("test_batch",)

_IDX_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"),
              0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (the MNIST format), gzipped or not."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_TYPES:
        raise ValueError(f"{path} is not an IDX file (bad magic number)")
    dtype, ndim = np.dtype(_IDX_TYPES[data[2]]), data[3]
    shape = struct.unpack(f">{ndim}I", data[4 : 4 + 4 * ndim])
    body = np.frombuffer(data, dtype=dtype, offset=4 + 4 * ndim)
    if body.size != int(np.prod(shape)):
        raise ValueError(f"{path}: header says shape {shape} but the file holds {body.size} values")
    return body.reshape(shape)


def write_idx(array: np.ndarray, path: str | Path) -> Path:
    """Write an array in IDX format (used by the tests to make small real-format files)."""
    codes = {np.dtype(np.uint8): 0x08, np.dtype(np.int8): 0x09}
    a = np.asarray(array)
    if a.dtype not in codes:
        raise TypeError(f"write_idx supports uint8 and int8 arrays, got {a.dtype}")
    path = Path(path)
    header = bytes([0, 0, codes[a.dtype], a.ndim]) + struct.pack(f">{a.ndim}I", *a.shape)
    payload = header + a.tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".gz":
        with gzip.open(path, "wb") as f:
            f.write(payload)
    else:
        path.write_bytes(payload)
    return path


def _find(folder: Path, name: str) -> Path | None:
    for cand in (folder / name, folder / f"{name}.gz"):
        if cand.exists():
            return cand
    return None


def load_mnist_files(root: str | Path, seed: int = 0, val_size: int = 5000, flatten: bool = True) -> Split:
    """MNIST from ``<root>/MNIST/raw``; ``val_size`` training images held out (the LTH paper: 5,000)."""
    folder = Path(root) / "MNIST" / "raw"
    found = {n: _find(folder, n) for n in MNIST_FILES}
    missing = [n for n, p in found.items() if p is None]
    if missing:
        raise FileNotFoundError(
            f"MNIST files missing in {folder}: {missing}. Put the four IDX files (optionally .gz) there, e.g. from "
            "http://yann.lecun.com/exdb/mnist/ or by running torchvision.datasets.MNIST(root, download=True) "
            "on a machine with network access, then copy the MNIST/ folder."
        )
    xtr, ytr = read_idx(found[MNIST_FILES[0]]), read_idx(found[MNIST_FILES[1]])
    xte, yte = read_idx(found[MNIST_FILES[2]]), read_idx(found[MNIST_FILES[3]])
    if len(xtr) != len(ytr) or len(xte) != len(yte):
        raise ValueError(f"MNIST files in {folder} disagree on the number of images and labels")
    return _to_split(xtr, ytr, xte, yte, seed, val_size, "mnist", flatten, chw=False)


def load_cifar10_files(root: str | Path, seed: int = 0, val_size: int = 5000, flatten: bool = False) -> Split:
    """CIFAR-10 from ``<root>/cifar-10-batches-py`` (the python pickles); ``val_size`` held out."""
    folder = Path(root) / "cifar-10-batches-py"
    missing = [n for n in CIFAR10_FILES if not (folder / n).exists()]
    if missing:
        raise FileNotFoundError(
            f"CIFAR-10 files missing in {folder}: {missing}. Unpack cifar-10-python.tar.gz "
            "(https://www.cs.toronto.edu/~kriz/cifar.html) so that cifar-10-batches-py/ sits in the root."
        )

    def read(name):
        with open(folder / name, "rb") as f:
            d = pickle.load(f, encoding="bytes")
        x = np.asarray(d[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32)
        return x, np.asarray(d[b"labels"], dtype=np.int64)

    parts = [read(n) for n in CIFAR10_FILES[:5]]
    xtr, ytr = np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
    xte, yte = read("test_batch")
    return _to_split(xtr, ytr, xte, yte, seed, val_size, "cifar10", flatten, chw=True)


def _to_split(xtr, ytr, xte, yte, seed, val_size, name, flatten, chw) -> Split:
    if not (0 < val_size < len(ytr)):
        raise ValueError(f"val_size must be between 1 and {len(ytr) - 1}, got {val_size}")
    tr, va = stratified_split(ytr, (1 - val_size / len(ytr), val_size / len(ytr)), seed)

    def x(a):
        t = torch.as_tensor(a.astype(np.float32) / 255.0)
        if flatten:
            return t.reshape(len(t), -1)
        return t if chw else t.unsqueeze(1)

    y = lambda a: torch.as_tensor(a.astype(np.int64))
    return Split(x(xtr[tr]), y(ytr[tr]), x(xtr[va]), y(ytr[va]), x(xte), y(yte), name=name, num_classes=10)
