import pickle
import struct

import numpy as np
import pytest
import torch

from sparsekit.data import (
    batches,
    load_cifar10_files,
    load_digits,
    load_fashion_mnist_files,
    load_mnist1d,
    load_mnist_files,
    load_mnist_sample,
    stratified_split,
)


def test_stratified_split_partitions_and_is_seeded():
    y = np.repeat(np.arange(3), 100)
    a = stratified_split(y, (0.7, 0.1, 0.2), seed=1)
    b = stratified_split(y, (0.7, 0.1, 0.2), seed=1)
    c = stratified_split(y, (0.7, 0.1, 0.2), seed=2)
    assert all(np.array_equal(p, q) for p, q in zip(a, b))
    assert not np.array_equal(a[0], c[0])
    assert sorted(np.concatenate(a).tolist()) == list(range(300))
    assert [np.bincount(y[p]).tolist() for p in a] == [[70] * 3, [10] * 3, [20] * 3]
    with pytest.raises(ValueError, match="sum to 1"):
        stratified_split(y, (0.5, 0.2), 0)


def test_mnist1d_offline():
    d = load_mnist1d(seed=0)
    assert d.sizes() == {"train": 3200, "val": 800, "test": 1000}
    assert d.x_train.shape[1] == 40 and d.x_train.dtype == torch.float32
    assert set(d.y_train.unique().tolist()) == set(range(10))
    d2 = load_mnist1d(seed=0)
    assert torch.equal(d.x_val, d2.x_val)
    with pytest.raises(ValueError, match="val_fraction"):
        load_mnist1d(val_fraction=1.2)


def test_mnist1d_matches_recorded_fingerprint():
    """Pin the generated data (mnist1d 0.0.2.post1, data seed 42) so a change of the generator shows up."""
    d = load_mnist1d(seed=0)
    assert d.x_test.shape == (1000, 40)
    assert float(d.x_test.double().sum()) == pytest.approx(51.78747297367954, rel=1e-6)


def test_mnist_sample():
    d = load_mnist_sample(seed=0)
    assert d.sizes() == {"train": 3500, "val": 500, "test": 1000}
    assert float(d.x_train.max()) <= 1.0 and float(d.x_train.min()) >= 0.0
    assert torch.bincount(d.y_test).tolist() == [100] * 10
    img = load_mnist_sample(seed=0, image_shape=True)
    assert img.x_train.shape[1:] == (1, 28, 28)
    with pytest.raises(ValueError, match="below 1"):
        load_mnist_sample(val_fraction=0.5, test_fraction=0.5)


def test_digits():
    d = load_digits(seed=0)
    assert sum(d.sizes().values()) == 1797
    assert d.x_train.shape[1] == 64


def write_idx(a: np.ndarray, path) -> None:
    """An IDX file (the MNIST format: magic 0x0000 0x08 ndim, big-endian sizes, uint8 data)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(bytes([0, 0, 0x08, a.ndim]) + struct.pack(f">{a.ndim}I", *a.shape) + a.astype(np.uint8).tobytes())


@pytest.mark.parametrize("folder,loader", [("MNIST", load_mnist_files), ("FashionMNIST", load_fashion_mnist_files)])
def test_mnist_layout_through_torchvision(tmp_path, folder, loader):
    raw = tmp_path / folder / "raw"
    rng = np.random.default_rng(0)
    xtr = rng.integers(0, 256, (120, 28, 28), dtype=np.uint8)
    write_idx(xtr, raw / "train-images-idx3-ubyte")
    write_idx(np.arange(120, dtype=np.uint8) % 10, raw / "train-labels-idx1-ubyte")
    write_idx(rng.integers(0, 256, (30, 28, 28), dtype=np.uint8), raw / "t10k-images-idx3-ubyte")
    write_idx(np.arange(30, dtype=np.uint8) % 10, raw / "t10k-labels-idx1-ubyte")
    d = loader(tmp_path, val_fraction=1 / 6)
    assert d.sizes() == {"train": 100, "val": 20, "test": 30}
    assert d.x_train.shape[1] == 784 and float(d.x_train.max()) <= 1.0
    # every training image is one of the file's images, scaled to [0, 1]
    flat = torch.as_tensor(xtr.reshape(120, -1).astype(np.float32) / 255)
    assert all(any(torch.equal(row, f) for f in flat) for row in d.x_train[:5])
    assert loader(tmp_path, val_fraction=1 / 6, flatten=False).x_test.shape[1:] == (1, 28, 28)


def test_missing_files_name_the_folder_and_the_switch(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"MNIST/raw .*train-images-idx3-ubyte.*download=True"):
        load_mnist_files(tmp_path)
    with pytest.raises(FileNotFoundError, match="cifar-10-batches-py"):
        load_cifar10_files(tmp_path / "nowhere")
    with pytest.raises(TypeError, match="download must be True or False"):
        load_mnist_files(tmp_path, download="yes")


def test_cifar10_layout_through_torchvision(tmp_path, monkeypatch):
    from torchvision import datasets

    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        # the real batches were pickled by Python 2: str keys once read with encoding="latin1"
        d = {"data": rng.integers(0, 256, (20, 3072), dtype=np.uint8), "labels": list(range(10)) * 2}
        with open(folder / name, "wb") as f:
            pickle.dump(d, f)
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({"label_names": [str(i) for i in range(10)]}, f)
    # torchvision checks the real files' md5 sums; these small ones only have the real layout
    monkeypatch.setattr(datasets.CIFAR10, "_check_integrity", lambda self: True)
    monkeypatch.setattr(datasets.cifar, "check_integrity", lambda *a, **k: True)
    d = load_cifar10_files(tmp_path, val_fraction=0.1)
    assert d.sizes() == {"train": 90, "val": 10, "test": 20}
    assert d.x_train.shape[1:] == (3, 32, 32)
    with open(folder / "test_batch", "rb") as f:
        first = pickle.load(f)["data"][0]
    np.testing.assert_allclose(d.x_test[0].numpy().ravel(), first.astype(np.float32) / 255)  # CHW kept


def test_batches():
    x, y = torch.arange(10).float().view(10, 1), torch.arange(10)
    got = torch.cat([yb for _, yb in batches(x, y, 3, torch.Generator().manual_seed(0))])
    assert sorted(got.tolist()) == list(range(10))
    assert [len(b) for _, b in batches(x, y, 3, drop_last=True)] == [3, 3, 3]
    with pytest.raises(ValueError, match="rows"):
        list(batches(x, y[:5], 2))
