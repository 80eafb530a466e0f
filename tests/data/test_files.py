import gzip
import pickle
import struct

import numpy as np
import pytest

from dltheory.data.files import load_cifar10, load_mnist, read_idx


def _write_idx(path, arr, code=0x08):
    head = bytes([0, 0, code, arr.ndim]) + struct.pack(">" + "I" * arr.ndim, *arr.shape)
    data = head + arr.astype(">u1" if code == 0x08 else ">f4").tobytes()
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "wb") as f:
        f.write(data)


def test_mnist_idx_roundtrip(tmp_path):
    rng = np.random.default_rng(0)
    imgs = rng.integers(0, 256, size=(5, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, size=5, dtype=np.uint8)
    _write_idx(tmp_path / "train-images-idx3-ubyte.gz", imgs)
    _write_idx(tmp_path / "train-labels-idx1-ubyte", labels)
    x, y = load_mnist(tmp_path)
    assert x.shape == (5, 1, 28, 28) and y.tolist() == labels.tolist()
    np.testing.assert_allclose(x[:, 0].numpy() * 255, imgs, atol=1e-4)
    f = np.arange(6, dtype=np.float32).reshape(2, 3)
    _write_idx(tmp_path / "f.idx", f, code=0x0D)
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
