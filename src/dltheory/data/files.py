"""Readers for the standard image files a user keeps under a data root (never downloaded).

- MNIST / Fashion-MNIST IDX files (``train-images-idx3-ubyte[.gz]``, ``...-labels-idx1-ubyte``),
- CIFAR-10 python pickles (``cifar-10-batches-py/data_batch_1`` ... ``test_batch``).

Both return float tensors in [0, 1] shaped (N, C, H, W) and int64 labels.
"""

from __future__ import annotations

import gzip
import pickle
import struct
from pathlib import Path

import numpy as np
import torch

_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


def _open(path: Path):
    return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")  # noqa: SIM115


def _find(root: Path, stem: str) -> Path:
    for cand in (root / stem, root / (stem + ".gz"), root / "raw" / stem, root / "raw" / (stem + ".gz")):
        if cand.exists():
            return cand
    raise FileNotFoundError(f"no '{stem}' (or '{stem}.gz') under {root}; dltheory never downloads data: put the MNIST IDX files there.")


def read_idx(path: str | Path) -> np.ndarray:
    """One IDX file as a numpy array (format: magic 0x0000TTDD, then DD big-endian sizes)."""
    path = Path(path)
    with _open(path) as f:
        head = f.read(4)
        if len(head) != 4 or head[0] != 0 or head[1] != 0 or head[2] not in _IDX_DTYPES:
            raise ValueError(f"{path} is not an IDX file (bad magic number {head!r}).")
        ndim = head[3]
        shape = struct.unpack(">" + "I" * ndim, f.read(4 * ndim))
        data = np.frombuffer(f.read(), dtype=_IDX_DTYPES[head[2]])
    if data.size != int(np.prod(shape)):
        raise ValueError(f"{path} holds {data.size} values but its header says shape {shape}.")
    return data.reshape(shape)


def load_mnist(root: str | Path, *, train: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """MNIST from IDX files under ``root``: images (N, 1, 28, 28) in [0, 1], labels (N,)."""
    root = Path(root)
    split = "train" if train else "t10k"
    images = read_idx(_find(root, f"{split}-images-idx3-ubyte"))
    labels = read_idx(_find(root, f"{split}-labels-idx1-ubyte"))
    if images.shape[0] != labels.shape[0]:
        raise ValueError(f"MNIST images ({images.shape[0]}) and labels ({labels.shape[0]}) differ in number.")
    x = torch.from_numpy(images.astype(np.float32) / 255.0).unsqueeze(1)
    return x, torch.from_numpy(labels.astype(np.int64))


def load_cifar10(root: str | Path, *, train: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """CIFAR-10 from the python pickles under ``root`` (or ``root/cifar-10-batches-py``):
    images (N, 3, 32, 32) in [0, 1], labels (N,)."""
    root = Path(root)
    base = root / "cifar-10-batches-py" if (root / "cifar-10-batches-py").is_dir() else root
    names = [f"data_batch_{i}" for i in range(1, 6)] if train else ["test_batch"]
    xs, ys = [], []
    for name in names:
        path = base / name
        if not path.exists():
            raise FileNotFoundError(f"no CIFAR-10 batch '{name}' under {base}; dltheory never downloads data.")
        with open(path, "rb") as f:
            batch = pickle.load(f, encoding="bytes")
        data = batch.get(b"data", batch.get("data"))
        labels = batch.get(b"labels", batch.get("labels"))
        xs.append(np.asarray(data, dtype=np.uint8).reshape(-1, 3, 32, 32))
        ys.append(np.asarray(labels, dtype=np.int64))
    x = torch.from_numpy(np.concatenate(xs).astype(np.float32) / 255.0)
    return x, torch.from_numpy(np.concatenate(ys))
