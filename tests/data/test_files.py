import pickle

import numpy as np
import pytest

from dltheory.data.files import load_cifar10, load_mnist, read_idx
from fake_data import fake_mnist, write_idx


def test_mnist_idx_roundtrip(tmp_path):
    rng = np.random.default_rng(0)
    imgs = rng.integers(0, 256, size=(5, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, size=5, dtype=np.uint8)
    write_idx(tmp_path / "train-images-idx3-ubyte.gz", imgs)
    write_idx(tmp_path / "train-labels-idx1-ubyte", labels)
    x, y = load_mnist(tmp_path)
    assert x.shape == (5, 1, 28, 28) and y.tolist() == labels.tolist()
    np.testing.assert_allclose(x[:, 0].numpy() * 255, imgs, atol=1e-4)
    f = np.arange(6, dtype=np.float32).reshape(2, 3)
    write_idx(tmp_path / "f.idx", f, code=0x0D)
    np.testing.assert_array_equal(read_idx(tmp_path / "f.idx"), f)


def test_mnist_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="never downloads"):
        load_mnist(tmp_path, train=False)
    (tmp_path / "bad").write_bytes(b"\x01\x02\x03\x04")
    with pytest.raises(ValueError, match="not an IDX file"):
        read_idx(tmp_path / "bad")


def test_cifar_pickle(tmp_path):
    rng = np.random.default_rng(1)
    d = tmp_path / "cifar-10-batches-py"
    d.mkdir()
    data = rng.integers(0, 256, size=(4, 3 * 32 * 32), dtype=np.uint8)
    with open(d / "test_batch", "wb") as f:
        pickle.dump({b"data": data, b"labels": [3, 1, 4, 1]}, f)
    x, y = load_cifar10(tmp_path, train=False)
    assert x.shape == (4, 3, 32, 32) and y.tolist() == [3, 1, 4, 1]
    np.testing.assert_allclose(x[2, 1].numpy() * 255, data[2, 1024:2048].reshape(32, 32), atol=1e-4)
    with pytest.raises(FileNotFoundError, match="data_batch_1"):
        load_cifar10(tmp_path, train=True)


def test_classification_split_digits_mnist_cifar(tmp_path):
    import torch

    from dltheory.data.images import classification_split

    (xtr, ytr), (xte, yte) = classification_split("digits", 1000, dtype=torch.float32, device="cpu")
    assert xtr.shape == (1000, 64) and xte.shape == (797, 64) and float(xtr.max()) == 1.0
    assert ytr.dtype == torch.int64 and set(ytr.tolist()) == set(range(10))
    fake_mnist(tmp_path)
    (xtr, ytr), (xte, yte) = classification_split("mnist", 30, data_root=str(tmp_path), dtype=torch.float64, device="cpu")
    assert xtr.shape == (30, 784) and xte.shape == (20, 784) and xtr.dtype == torch.float64
    np.testing.assert_allclose(xtr.numpy() * 255, read_idx(tmp_path / "train-images-idx3-ubyte")[:30].reshape(30, -1), atol=1e-9)
    assert ytr.tolist() == [i % 10 for i in range(30)]
    d = tmp_path / "cifar-10-batches-py"
    d.mkdir()
    rng = np.random.default_rng(2)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        with open(d / name, "wb") as f:
            pickle.dump({b"data": rng.integers(0, 256, size=(3, 3072), dtype=np.uint8), b"labels": [0, 1, 2]}, f)
    (xtr, ytr), (xte, _) = classification_split("cifar10", 12, data_root=str(tmp_path), dtype=torch.float32, device="cpu")
    assert xtr.shape == (12, 3072) and xte.shape == (3, 3072)
    with pytest.raises(ValueError, match="`num_train` must be <= 15, the training images under"):
        classification_split("cifar10", 16, data_root=str(tmp_path), dtype=torch.float32, device="cpu")
    with pytest.raises(ValueError, match="`data_root` must name the folder holding mnist"):
        classification_split("mnist", 10, dtype=torch.float32, device="cpu")
    with pytest.raises(ValueError, match="`num_train` must be < 1797 for dataset 'digits'"):
        classification_split("digits", 1797, dtype=torch.float32, device="cpu")
    with pytest.raises(ValueError, match="`dataset` must be one of"):
        classification_split("svhn", 10, dtype=torch.float32, device="cpu")
