"""MS-D network: the paper's dilations, parameter count and receptive field in closed form, the fast dilated convolution, errors."""

from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as F

from dltheory.models.msd import (
    MixedScaleDense,
    dilated_conv3x3,
    mixed_scale_dense,
    msd_dilations,
    msd_num_params,
    msd_receptive_field,
)


def _reference_forward(net: MixedScaleDense, x: torch.Tensor) -> torch.Tensor:
    """The MS-D net written out with F.conv2d(dilation=s) channel by channel (no fold, no grouping)."""
    maps = [x]
    for layer in net.layers:
        inp = torch.cat(maps, 1) if net.dense else maps[-1]
        zs = [F.conv2d(inp, layer.weight[j:j + 1], layer.bias[j:j + 1], padding=s, dilation=s) for j, s in enumerate(layer.dilations)]
        maps.append(torch.relu(torch.cat(zs, 1)))
    return F.conv2d(torch.cat(maps, 1) if net.dense else maps[-1], net.output.weight, net.output.bias)


def test_dilations_follow_the_paper():
    # s_ij = ((i w + j) mod 10) + 1, i and j from 0
    assert msd_dilations(12, 1) == tuple((i % 10 + 1,) for i in range(12))
    assert msd_dilations(3, 4) == ((1, 2, 3, 4), (5, 6, 7, 8), (9, 10, 1, 2))
    assert msd_dilations(2, 3, max_dilation=2) == ((1, 2, 1), (2, 1, 2))
    assert msd_dilations(4, 2, max_dilation=1) == ((1, 1),) * 4


@pytest.mark.parametrize(("d", "w", "cin", "cout"), [(1, 1, 1, 1), (10, 1, 1, 2), (7, 3, 2, 4), (3, 12, 1, 1), (25, 2, 3, 5)])
def test_parameter_count_closed_form(d, w, cin, cout):
    for dense in (True, False):
        net = mixed_scale_dense(cin, cout, d, w, dense=dense, generator=torch.Generator().manual_seed(0))
        assert sum(p.numel() for p in net.parameters()) == msd_num_params(cin, cout, d, w, dense=dense)
    # the sum of the paper, term by term
    assert msd_num_params(cin, cout, d, w) == sum(9 * w * (cin + w * (i - 1)) + w for i in range(1, d + 1)) + (cin + w * d) * cout + cout


def test_receptive_field_closed_form_against_the_maximal_dilations():
    for d, w, m in itertools.product(range(1, 25), range(1, 13), (1, 3, 10)):
        assert msd_receptive_field(d, w, max_dilation=m) == 1 + 2 * sum(max(layer) for layer in msd_dilations(d, w, max_dilation=m))
    assert msd_receptive_field(10, 1) == 111 and msd_receptive_field(6, 4, max_dilation=1) == 13


@pytest.mark.parametrize(("d", "w", "dense"), [(6, 1, True), (3, 4, True), (4, 2, False)])
def test_impulse_response_fills_exactly_the_receptive_field(d, w, dense):
    side = msd_receptive_field(d, w)
    net = mixed_scale_dense(1, 1, d, w, dense=dense, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    with torch.no_grad():
        for p in net.parameters():
            p.abs_()
        for layer in [*net.layers, net.output]:
            layer.bias.zero_()
    x = torch.zeros(1, 1, side + 8, side + 8, dtype=torch.float64)
    c = (side + 8) // 2
    x[0, 0, c, c] = 1
    with torch.no_grad():
        rows, cols = torch.nonzero(net(x)[0, 0], as_tuple=True)
    assert int((rows - c).abs().max()) == int((cols - c).abs().max()) == side // 2  # the support reaches the corner, no farther


@pytest.mark.parametrize(("d", "w", "dense", "mode"), [(5, 1, True, "zeros"), (4, 3, True, "zeros"), (12, 2, False, "zeros"), (3, 2, True, "reflect"), (3, 11, True, "circular")])
def test_forward_matches_conv2d_reference(d, w, dense, mode):
    net = mixed_scale_dense(2, 3, d, w, dense=dense, padding_mode=mode, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    x = torch.randn(2, 2, 23, 21, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    y = net(x)
    assert y.shape == (2, 3, 23, 21)
    if mode == "zeros":
        torch.testing.assert_close(y, _reference_forward(net, x), rtol=1e-12, atol=1e-12)
    maps = net.features(x)
    assert len(maps) == d + 1 and all(m.shape[1] == w for m in maps[1:]) and all((m >= 0).all() for m in maps[1:])


def test_dilated_conv3x3_matches_conv2d_and_its_gradient():
    g = torch.Generator().manual_seed(4)
    x = torch.randn(3, 4, 17, 13, generator=g, dtype=torch.float64, requires_grad=True)
    wt = torch.randn(2, 4, 3, 3, generator=g, dtype=torch.float64, requires_grad=True)
    for s in (1, 2, 5, 12, 16, 30):  # dilations past the image side read only zero padding off-centre
        ours, ref = dilated_conv3x3(x, wt, s), F.conv2d(x, wt, padding=s, dilation=s)
        torch.testing.assert_close(ours, ref, rtol=1e-13, atol=1e-13)
        go, gr = torch.autograd.grad(ours.square().sum(), (x, wt)), torch.autograd.grad(ref.square().sum(), (x, wt))
        for a, b in zip(go, gr, strict=True):
            torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match=r"`weight` must have shape \(O, 4, 3, 3\)"):
        dilated_conv3x3(x, wt[:, :3], 1)


def test_dtype_device_and_determinism():
    a = mixed_scale_dense(1, 2, 5, 2, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    b = mixed_scale_dense(1, 2, 5, 2, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    for p, q in zip(a.parameters(), b.parameters(), strict=True):
        assert p.dtype == torch.float64 and p.device == torch.device("cpu")
        torch.testing.assert_close(p, q)
    assert a(torch.zeros(1, 1, 8, 8, dtype=torch.float64)).dtype == torch.float64
    assert all(float(layer.bias.detach().abs().max()) == 0 for layer in a.layers)  # he_normal: zero biases


def test_errors():
    g = torch.Generator()
    with pytest.raises(ValueError, match=r"`depth` must be an int >= 1; got 0\."):
        mixed_scale_dense(1, 1, 0, generator=g)
    with pytest.raises(ValueError, match=r"`width` must be an int >= 1; got 0\."):
        msd_num_params(1, 1, 3, 0)
    with pytest.raises(ValueError, match=r"`max_dilation` must be an int >= 1; got 0\."):
        msd_receptive_field(3, 1, max_dilation=0)
    with pytest.raises(ValueError, match=r"`padding_mode` must be one of"):
        mixed_scale_dense(1, 1, 2, padding_mode="same", generator=g)
    with pytest.raises(TypeError, match=r"`generator` must be a torch.Generator"):
        mixed_scale_dense(1, 1, 2, generator=None)
    with pytest.raises(TypeError, match=r"`dense` must be a bool"):
        mixed_scale_dense(1, 1, 2, dense=1, generator=g)
    net = mixed_scale_dense(2, 1, 2, generator=g)
    with pytest.raises(ValueError, match=r"`x` must have shape \(B, 2, H, W\); got \(1, 1, 8, 8\)"):
        net(torch.zeros(1, 1, 8, 8))
