"""Small fake copies of user datasets in their on-disk formats (MNIST IDX files), for tests."""

import gzip
import struct

import numpy as np


def write_idx(path, arr, code=0x08):
    """Write ``arr`` as an IDX file (unsigned bytes, or big-endian float32 with ``code=0x0D``); gzipped if the name ends in .gz."""
    head = bytes([0, 0, code, arr.ndim]) + struct.pack(">" + "I" * arr.ndim, *arr.shape)
    data = head + arr.astype(">u1" if code == 0x08 else ">f4").tobytes()
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "wb") as f:
        f.write(data)


def fake_mnist(root, n_train=40, n_test=20, seed=0):
    """Random 28 x 28 images with labels 0..9 cycling, as MNIST's four IDX files under ``root``."""
    rng = np.random.default_rng(seed)
    for split, n in (("train", n_train), ("t10k", n_test)):
        write_idx(root / f"{split}-images-idx3-ubyte", rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8))
        write_idx(root / f"{split}-labels-idx1-ubyte", np.arange(n, dtype=np.uint8) % 10)
