import pickle

import numpy as np
import pytest
import torch

from sparsekit.data import (
    batches,
    load_cifar10_files,
    load_digits,
    load_mnist1d,
    load_mnist_files,
    load_mnist_sample,
    read_idx,
    stratified_split,
    write_idx,
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


@pytest.mark.parametrize("gz", [False, True])
def test_idx_roundtrip(tmp_path, gz):
    a = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    p = write_idx(a, tmp_path / ("x.idx.gz" if gz else "x.idx"))
    np.testing.assert_array_equal(read_idx(p), a)
    (tmp_path / "bad").write_bytes(b"\x01\x02\x03")
    with pytest.raises(ValueError, match="IDX"):
        read_idx(tmp_path / "bad")


def _write_mnist(root, n_train=120, n_test=30, gz=False):
    raw = root / "MNIST" / "raw"
    rng = np.random.default_rng(0)
    sfx = ".gz" if gz else ""
    ytr = np.arange(n_train, dtype=np.uint8) % 10
    write_idx(rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8), raw / f"train-images-idx3-ubyte{sfx}")
    write_idx(ytr, raw / f"train-labels-idx1-ubyte{sfx}")
    write_idx(rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8), raw / f"t10k-images-idx3-ubyte{sfx}")
    write_idx(np.arange(n_test, dtype=np.uint8) % 10, raw / f"t10k-labels-idx1-ubyte{sfx}")


@pytest.mark.parametrize("gz", [False, True])
def test_mnist_files(tmp_path, gz):
    _write_mnist(tmp_path, gz=gz)
    d = load_mnist_files(tmp_path, val_size=20)
    assert d.sizes() == {"train": 100, "val": 20, "test": 30}
    assert d.x_train.shape[1] == 784 and float(d.x_train.max()) <= 1.0


def test_mnist_files_missing_names_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="train-images-idx3-ubyte.*MNIST/raw|MNIST.*raw"):
        load_mnist_files(tmp_path)


def test_cifar10_files(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        d = {b"data": rng.integers(0, 256, (20, 3072), dtype=np.uint8), b"labels": list(range(10)) * 2}
        with open(folder / name, "wb") as f:
            pickle.dump(d, f)
    d = load_cifar10_files(tmp_path, val_size=10)
    assert d.sizes() == {"train": 90, "val": 10, "test": 20}
    assert d.x_train.shape[1:] == (3, 32, 32)
    with pytest.raises(FileNotFoundError, match="cifar-10-batches-py"):
        load_cifar10_files(tmp_path / "nowhere")


def test_batches():
    x, y = torch.arange(10).float().view(10, 1), torch.arange(10)
    got = torch.cat([yb for _, yb in batches(x, y, 3, torch.Generator().manual_seed(0))])
    assert sorted(got.tolist()) == list(range(10))
    assert [len(b) for _, b in batches(x, y, 3, drop_last=True)] == [3, 3, 3]
    with pytest.raises(ValueError, match="rows"):
        list(batches(x, y[:5], 2))
