"""Image classification data: scikit-learn's handwritten digits (bundled), and MNIST or CIFAR-10 from a user's folder."""

from __future__ import annotations

import math

import numpy as np
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


def center_on_sphere(x: Tensor, mean: Tensor) -> Tensor:
    r"""Rows of ``x`` (n, d) centred by ``mean`` and projected onto the sphere of radius :math:`\sqrt d`
    (so :math:`x^\top x / d = 1`, the normalization of NTK analyses: Lee et al. 2019, Arora et al. 2019)."""
    z = x - mean
    return z * (math.sqrt(x.shape[1]) / z.norm(dim=1, keepdim=True).clamp_min(1e-12))


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


SAMPLE_IMAGES = ("china.jpg", "flower.jpg")  # scikit-learn's bundled natural images, 427 x 640 RGB


def sample_images(*, dtype: torch.dtype = torch.float64, device=None, gray: bool = True) -> Tensor:
    """scikit-learn's two bundled natural photographs (china, flower) as (2, 427, 640) grayscale in [0, 1] (``gray=False``: (2, 3, 427, 640) RGB).

    Grayscale is the mean of the three channels. Nothing is downloaded: the JPEGs ship with scikit-learn.
    """
    from sklearn.datasets import load_sample_image

    rgb = torch.tensor(np.stack([load_sample_image(name) for name in SAMPLE_IMAGES]), dtype=dtype, device=device) / 255.0  # (2, H, W, 3)
    return rgb.mean(-1) if gray else rgb.permute(0, 3, 1, 2).contiguous()


def highpass(images: Tensor, *, weight: float = 5.0) -> Tensor:
    r"""The high-pass part of images (..., H, W): the image minus its Tikhonov low-pass (periodic boundary).

    The low-pass solves :math:`\min_u \|u - s\|^2 + w\|\nabla u\|^2` in the Fourier domain,
    :math:`\hat u = \hat s / (1 + w|\hat\nabla|^2)` with the periodic finite-difference gradient, the
    usual preprocessing before convolutional sparse coding (SPORCO's ``tikhonov_filter``).
    """
    if not isinstance(weight, (int, float)) or isinstance(weight, bool) or not weight > 0:
        raise ValueError(f"`weight` must be a float > 0; got {weight!r}.")
    H, W = images.shape[-2:]
    wy = torch.fft.fftfreq(H, dtype=images.dtype, device=images.device)[:, None]
    wx = torch.fft.rfftfreq(W, dtype=images.dtype, device=images.device)[None, :]
    lowpass = 1 / (1 + weight * ((2 * torch.sin(torch.pi * wy)) ** 2 + (2 * torch.sin(torch.pi * wx)) ** 2))
    return images - torch.fft.irfft2(torch.fft.rfft2(images) * lowpass, s=(H, W))


def random_patches(images: Tensor, size: int, count: int, *, generator: torch.Generator) -> Tensor:
    """``count`` square patches of side ``size`` at uniformly random positions of random images of (N, H, W), as (count, size * size)."""
    if images.ndim != 3:
        raise ValueError(f"`images` must be (N, H, W); got shape {tuple(images.shape)}.")
    N, H, W = images.shape
    if not isinstance(size, int) or isinstance(size, bool) or not 1 <= size <= min(H, W):
        raise ValueError(f"`size` must be an int in [1, {min(H, W)}]; got {size!r}.")
    if not isinstance(count, int) or isinstance(count, bool) or count < 1:
        raise ValueError(f"`count` must be an int >= 1; got {count!r}.")
    n = torch.randint(N, (count,), generator=generator, device=generator.device).to(images.device)
    i = torch.randint(H - size + 1, (count,), generator=generator, device=generator.device).to(images.device)
    j = torch.randint(W - size + 1, (count,), generator=generator, device=generator.device).to(images.device)
    r = torch.arange(size, device=images.device)
    return images[n[:, None, None], (i[:, None] + r)[:, :, None], (j[:, None] + r)[:, None, :]].reshape(count, size * size)
