"""Image classification data: scikit-learn's handwritten digits (bundled), and MNIST or CIFAR-10 from a user's folder."""

from __future__ import annotations

import torch
from torch import Tensor


def digits_data(num_points: int, *, input_scale: float, dtype: torch.dtype, device) -> tuple[Tensor, Tensor]:
    """The first ``num_points`` scikit-learn digits as (n, 1, 8, 8) images in [0, input_scale] and one-hot (n, 10) targets."""
    from sklearn.datasets import load_digits

    d = load_digits()
    if num_points > len(d.target):
        raise ValueError(f"`num_points` must be <= {len(d.target)} for the digits dataset; got {num_points}.")
    x = torch.tensor(d.images[:num_points] / 16.0 * input_scale, dtype=dtype, device=device)[:, None]
    y = torch.nn.functional.one_hot(torch.tensor(d.target[:num_points], device=device), 10).to(dtype)
    return x, y


CLASSIFICATION_DATASETS = {"digits": 1797, "mnist": 60000, "cifar10": 50000}  # name -> training images available


def check_classification_split(dataset: str, num_train: int, data_root: str | None) -> None:
    """Raise a ValueError naming the parameter if ``num_train`` or ``data_root`` does not fit ``dataset``."""
    if dataset not in CLASSIFICATION_DATASETS:
        raise ValueError(f"`dataset` must be one of {list(CLASSIFICATION_DATASETS)}; got {dataset!r}.")
    if dataset == "digits":
        if num_train >= CLASSIFICATION_DATASETS["digits"]:
            raise ValueError(f"`num_train` must be < 1797 for dataset 'digits' (the rest is the test set); got {num_train}.")
    else:
        if data_root is None:
            raise ValueError(f"`data_root` must name the folder holding {dataset} for dataset {dataset!r} (dltheory never downloads data); got None.")
        if num_train > CLASSIFICATION_DATASETS[dataset]:
            raise ValueError(f"`num_train` must be <= {CLASSIFICATION_DATASETS[dataset]} for dataset {dataset!r}; got {num_train}.")


def classification_split(dataset: str, num_train: int, *, data_root: str | None = None, dtype: torch.dtype,
                         device) -> tuple[tuple[Tensor, Tensor], tuple[Tensor, Tensor]]:
    """``((x_train, y_train), (x_test, y_test))`` with inputs flattened to (n, features) in [0, 1] and integer labels.

    ``"digits"`` (bundled, 64 features): the first ``num_train`` of scikit-learn's 1797 digits
    train, the rest test. ``"mnist"`` (784) and ``"cifar10"`` (3072) are read from
    ``data_root`` (:func:`dltheory.data.files.load_mnist` / ``load_cifar10``; never downloaded):
    the first ``num_train`` training images, and the official test set.
    """
    check_classification_split(dataset, num_train, data_root)
    if dataset == "digits":
        x, y1 = digits_data(CLASSIFICATION_DATASETS["digits"], input_scale=1.0, dtype=dtype, device=device)
        x, y = x.reshape(len(x), -1), y1.argmax(1)
        return (x[:num_train], y[:num_train]), (x[num_train:], y[num_train:])
    from dltheory.data.files import load_cifar10, load_mnist

    load = load_mnist if dataset == "mnist" else load_cifar10
    (xtr, ytr), (xte, yte) = load(data_root, train=True), load(data_root, train=False)
    if num_train > len(xtr):
        raise ValueError(f"`num_train` must be <= {len(xtr)}, the training images under {data_root}; got {num_train}.")

    def flat(x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        return x.reshape(len(x), -1).to(device=device, dtype=dtype), y.to(device)

    return flat(xtr[:num_train], ytr[:num_train]), flat(xte, yte)
