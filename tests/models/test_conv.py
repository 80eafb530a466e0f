"""models.conv: the CNN against a hand-written forward pass with torch.nn.functional, errors."""

import pytest
import torch
import torch.nn.functional as F

from dltheory.core import functionalize, torch_generator
from dltheory.models.conv import convnet


@pytest.mark.parametrize("pooling", ["max", "avg", "none"])
def test_forward_matches_a_hand_written_network(pooling):
    net = convnet(2, [3, 4], 5, image_size=8, activation="relu", pooling=pooling, generator=torch_generator(0, "c"), dtype=torch.float64)
    p = dict(net.named_parameters())
    x = torch.randn(6, 2, 8, 8, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    pool = {"max": lambda z: F.max_pool2d(z, 2), "avg": lambda z: F.avg_pool2d(z, 2), "none": lambda z: z}[pooling]
    h = pool(F.relu(F.conv2d(x, p["conv1.weight"], p["conv1.bias"], padding=1)))
    h = pool(F.relu(F.conv2d(h, p["conv2.weight"], p["conv2.bias"], padding=1)))
    expected = h.reshape(6, -1) @ p["linear.weight"].T + p["linear.bias"]
    side = 2 if pooling != "none" else 8
    assert p["linear.weight"].shape == (5, 4 * side * side)
    fm = functionalize(net)
    torch.testing.assert_close(fm(fm.params, x), expected, rtol=0, atol=1e-12)


def test_no_bias_and_reproducible():
    a = convnet(1, [2], 3, image_size=4, bias=False, generator=torch_generator(1, "c"))
    b = convnet(1, [2], 3, image_size=4, bias=False, generator=torch_generator(1, "c"))
    assert [k for k, _ in a.named_parameters()] == ["conv1.weight", "linear.weight"]
    assert all(torch.equal(u, v) for u, v in zip(a.parameters(), b.parameters(), strict=True))


def test_errors():
    g = torch_generator(0, "c")
    with pytest.raises(ValueError, match="`image_size` must be divisible by 2\\^2 = 4"):
        convnet(1, [2, 2], 3, image_size=6, generator=g)
    with pytest.raises(ValueError, match="`widths` must hold at least one"):
        convnet(1, [], 3, image_size=4, generator=g)
    with pytest.raises(ValueError, match="`pooling` must be one of"):
        convnet(1, [2], 3, image_size=4, pooling="lp", generator=g)
    with pytest.raises(TypeError, match="`bias` must be a bool"):
        convnet(1, [2], 3, image_size=4, bias=[True], generator=g)
