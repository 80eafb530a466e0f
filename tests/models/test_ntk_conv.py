"""models.ntk: the NTK-parameterized convolution against torch.nn.functional.conv2d with explicit padding, ntk_cnn, errors."""

import math

import pytest
import torch
import torch.nn.functional as F

from dltheory.models.ntk import GlobalAvgPool, NTKConv2d, ntk_cnn


@pytest.mark.parametrize("padding", ["circular", "zeros"])
def test_conv_matches_conv2d_with_explicit_padding_and_scale(padding):
    g = torch.Generator().manual_seed(0)
    conv = NTKConv2d(2, 3, 3, padding=padding, sigma_w=1.7, sigma_b=0.4, generator=g, dtype=torch.float64)
    x = torch.randn(4, 2, 5, 6, generator=g, dtype=torch.float64)
    xp = F.pad(x, (1, 1, 1, 1), mode="circular" if padding == "circular" else "constant")
    expected = F.conv2d(xp, conv.weight) * 1.7 / math.sqrt(2 * 9) + 0.4 * conv.bias[:, None, None]
    torch.testing.assert_close(conv(x), expected, rtol=0, atol=1e-13)
    assert conv(x).shape == (4, 3, 5, 6)


def test_circular_padding_wraps_images_smaller_than_the_kernel():
    # a 1 x 1 image with circular padding: every tap reads the one pixel, so the conv is a linear map with summed weights
    g = torch.Generator().manual_seed(1)
    conv = NTKConv2d(3, 4, 5, padding="circular", generator=g, dtype=torch.float64)
    x = torch.randn(2, 3, 1, 1, generator=g, dtype=torch.float64)
    expected = x[:, :, 0, 0] @ conv.weight.sum((2, 3)).T / math.sqrt(3 * 25)
    torch.testing.assert_close(conv(x)[:, :, 0, 0], expected, rtol=0, atol=1e-13)


@pytest.mark.parametrize("pooling", ["flatten", "gap"])
def test_ntk_cnn_is_the_hand_written_network(pooling):
    g = torch.Generator().manual_seed(2)
    net = ntk_cnn(2, 5, 2, 3, image_size=(4, 6), pooling=pooling, padding="zeros", sigma_b=0.1, generator=g, dtype=torch.float64)
    p = dict(net.named_parameters())
    x = torch.randn(3, 2, 4, 6, generator=g, dtype=torch.float64)
    s = math.sqrt(2.0)
    h = F.relu(F.conv2d(x, p["conv1.weight"], padding=1) * s / math.sqrt(2 * 9) + 0.1 * p["conv1.bias"][:, None, None])
    h = F.relu(F.conv2d(h, p["conv2.weight"], padding=1) * s / math.sqrt(5 * 9) + 0.1 * p["conv2.bias"][:, None, None])
    feats = h.reshape(3, -1) if pooling == "flatten" else h.mean((2, 3))
    expected = feats @ p["readout.weight"].T * s / math.sqrt(feats.shape[1]) + 0.1 * p["readout.bias"]
    torch.testing.assert_close(net(x), expected, rtol=0, atol=1e-12)
    assert isinstance(net.pool, GlobalAvgPool) == (pooling == "gap")


def test_errors():
    g = torch.Generator().manual_seed(0)
    with pytest.raises(ValueError, match="kernel_size"):
        NTKConv2d(1, 1, 2, generator=g)
    with pytest.raises(ValueError, match="padding"):
        NTKConv2d(1, 1, 3, padding="reflect", generator=g)
    with pytest.raises(ValueError, match=r"\(n, 2, H, W\)"):
        NTKConv2d(2, 1, 3, generator=g)(torch.randn(1, 3, 4, 4))
    with pytest.raises(ValueError, match="pooling"):
        ntk_cnn(1, 2, 1, 1, image_size=4, pooling="max", generator=g)
    with pytest.raises(ValueError, match="depth"):
        ntk_cnn(1, 2, 0, 1, image_size=4, generator=g)
