"""ResNet-20 builder: the paper's parameter count, shapes, determinism, errors."""

from __future__ import annotations

import pytest
import torch

from dltheory.models.resnet import resnet20


def test_resnet20_has_the_papers_size_and_runs():
    net = resnet20(generator=torch.Generator().manual_seed(0))
    P = sum(p.numel() for p in net.parameters())
    # He et al. 2016, Table 6: 0.27M (option A shortcuts have no parameters):
    # convs 268,336 (bias-free) + BatchNorm scale and shift 736 + read-out 650
    assert P == 269722
    out = net.eval()(torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(1)))
    assert out.shape == (2, 10) and bool(torch.isfinite(out).all())
    n_layers = sum(isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)) for m in net.modules())
    assert n_layers == 20


def test_resnet_is_deterministic_in_its_generator_and_dtype():
    a = resnet20(generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    b = resnet20(generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    for p, q in zip(a.parameters(), b.parameters(), strict=True):
        assert p.dtype == torch.float64
        torch.testing.assert_close(p, q)
    deeper = resnet20(blocks_per_stage=1, num_classes=4, in_channels=1, generator=torch.Generator())
    assert deeper.eval()(torch.zeros(1, 1, 32, 32)).shape == (1, 4)


def test_resnet_errors():
    with pytest.raises(ValueError, match=r"`blocks_per_stage` must be an int >= 1; got 0\."):
        resnet20(blocks_per_stage=0, generator=torch.Generator())
    with pytest.raises(TypeError, match=r"`generator` must be a torch.Generator"):
        resnet20(generator=None)
