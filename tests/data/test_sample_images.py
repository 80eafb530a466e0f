"""Bundled natural images: shapes, range, the high-pass filter against numpy, random patches against direct slicing."""

import numpy as np
import pytest
import torch

from dltheory.data.images import highpass, random_patches, sample_images


def test_sample_images_are_gray_in_unit_range():
    x = sample_images()
    assert x.shape == (2, 427, 640) and x.dtype == torch.float64
    assert 0 <= float(x.min()) and float(x.max()) <= 1 and float(x.std()) > 0.1
    rgb = sample_images(dtype=torch.float32, gray=False)
    assert rgb.shape == (2, 3, 427, 640) and rgb.dtype == torch.float32
    torch.testing.assert_close(rgb.mean(1).double(), x, atol=1e-6, rtol=0)


def test_highpass_solves_the_tikhonov_problem():
    # the low-pass u = s - highpass(s) minimizes ||u - s||^2 + w ||grad u||^2 (periodic differences): its gradient vanishes
    s = torch.rand(12, 10, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    w = 3.0
    u = (s - highpass(s, weight=w)).numpy()

    def lap(v):  # grad^T grad v with periodic forward differences
        return sum(2 * v - np.roll(v, 1, a) - np.roll(v, -1, a) for a in (0, 1))

    np.testing.assert_allclose((u - s.numpy()) + w * lap(u), 0, atol=1e-12)
    assert abs(float(highpass(s).sum())) < 1e-10  # the mean (zero frequency) is removed
    with pytest.raises(ValueError, match="weight"):
        highpass(s, weight=0.0)


def test_random_patches_are_slices_of_the_images():
    imgs = torch.arange(2 * 9 * 11, dtype=torch.float64).reshape(2, 9, 11)
    P = random_patches(imgs, 4, 50, generator=torch.Generator().manual_seed(1))
    assert P.shape == (50, 16)
    for p in P.reshape(50, 4, 4):
        v = int(p[0, 0])
        n, rest = divmod(v, 99)
        i, j = divmod(rest, 11)
        torch.testing.assert_close(p, imgs[n, i:i + 4, j:j + 4])
    with pytest.raises(ValueError, match="size"):
        random_patches(imgs, 10, 5, generator=torch.Generator())
    with pytest.raises(ValueError, match="images"):
        random_patches(imgs[0], 3, 5, generator=torch.Generator())


def test_center_on_sphere_centres_and_normalizes_rows():
    import torch

    from dltheory.data.images import center_on_sphere

    g = torch.Generator().manual_seed(0)
    x = torch.randn(7, 5, generator=g, dtype=torch.float64) + 3.0
    mean = x.mean(0)
    z = center_on_sphere(x, mean)
    torch.testing.assert_close(z.norm(dim=1), torch.full((7,), 5 ** 0.5, dtype=torch.float64))
    cos = torch.nn.functional.cosine_similarity(z, x - mean, dim=1)  # same directions as the centred rows
    torch.testing.assert_close(cos, torch.ones(7, dtype=torch.float64))
