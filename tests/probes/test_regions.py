"""Exact linear-region enumeration in 2-D against Zaslavsky's count, a known construction, a forward pass and brute-force bounds."""

from itertools import product
from math import comb

import numpy as np
import pytest
import torch
from torch import nn

from dltheory.experiments.expressivity.linear_regions import (
    one_layer_box,
    random_relu_layers,
    sawtooth_layers,
)
from dltheory.probes.regions import (
    activation_patterns,
    linear_regions_2d,
    polygon_area,
    serra_bound,
    zaslavsky_count,
)


@pytest.mark.parametrize(("m", "seed"), [(1, 0), (3, 1), (12, 2), (30, 3), (60, 4)])
def test_one_layer_in_general_position_has_zaslavskys_count(m, seed):
    layers = random_relu_layers([m], bias_std=1.0, generator=torch.Generator().manual_seed(seed))
    r = linear_regions_2d(layers, one_layer_box(layers))
    assert r.count == zaslavsky_count(m, 2) == 1 + m + m * (m - 1) // 2


@pytest.mark.parametrize("depth", [1, 2, 3, 4])
def test_sawtooth_cuts_the_square_into_4_to_the_depth_squares(depth):
    r = linear_regions_2d(sawtooth_layers(depth), (0.0, 1.0, 0.0, 1.0))
    assert r.count == 4**depth
    np.testing.assert_allclose(r.areas(), 4.0**-depth, rtol=1e-9)


def test_regions_tile_the_box_and_carry_the_forward_pass_pattern():
    layers = random_relu_layers([6, 6, 6], bias_std=0.5, generator=torch.Generator().manual_seed(5))
    r = linear_regions_2d(layers, (-2.0, 2.0, -1.0, 3.0))
    assert r.areas().sum() == pytest.approx(16.0, rel=1e-12)
    cent = np.stack([P.mean(0) for P in r.polygons])
    np.testing.assert_array_equal(activation_patterns(layers, cent), r.patterns)
    assert len({p.tobytes() for p in r.patterns}) == r.count  # convex pattern sets: one region per pattern
    g = np.linspace(-2, 2, 301)[1:-1]
    pts = np.stack(np.meshgrid(g, g + 1), -1).reshape(-1, 2)
    found = {p.tobytes() for p in activation_patterns(layers, pts)}
    assert found <= {p.tobytes() for p in r.patterns} and len(found) >= 0.8 * r.count  # the fine grid meets most regions, none unknown


def test_module_and_layer_list_give_the_same_regions():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(2, 5), nn.ReLU(), nn.Linear(5, 4), nn.ReLU(), nn.Linear(4, 1))
    layers = [(net[0].weight, net[0].bias), (net[2].weight, net[2].bias)]
    a, b = linear_regions_2d(net), linear_regions_2d(layers)
    assert a.count == b.count
    x = torch.tensor(np.stack([P.mean(0) for P in a.polygons]), dtype=torch.float32)
    h1 = net[0](x) > 0
    np.testing.assert_array_equal(a.patterns[:, :5], h1.numpy())


def test_serra_bound_against_its_definition_and_special_cases():
    def brute(widths, n0):  # the theorem's set J enumerated over all tuples
        n = [n0, *widths]
        total = 0
        for js in product(*(range(w + 1) for w in widths)):
            if all(js[l_ - 1] <= min([n[0]] + [n[i] - js[i - 1] for i in range(1, l_)] + [n[l_]]) for l_ in range(1, len(n))):
                total += np.prod([comb(n[l_], js[l_ - 1]) for l_ in range(1, len(n))])
        return total

    for widths, n0 in [([4], 2), ([3, 3], 2), ([4, 2, 3], 2), ([5, 5], 3), ([2, 2], 2)]:
        assert serra_bound(widths, n0) == brute(widths, n0)
    assert serra_bound([2, 2], 2) == 11
    assert serra_bound([7], 2) == zaslavsky_count(7, 2)
    assert serra_bound([3, 4, 2], 1) == 4 * 5 * 3  # exact for 1-D input: prod (n_l + 1)


def test_polygon_area_and_errors():
    assert polygon_area(np.array([[0, 0], [2, 0], [2, 1], [0, 1.0]])) == 2.0
    with pytest.raises(ValueError, match="box"):
        linear_regions_2d([(torch.ones(2, 2), torch.zeros(2))], (1.0, 0.0, 0.0, 1.0))
    with pytest.raises(ValueError, match="2-D input"):
        linear_regions_2d([(torch.ones(2, 3), torch.zeros(2))])
    with pytest.raises(ValueError, match="Linear and nn.ReLU"):
        linear_regions_2d(nn.Sequential(nn.Linear(2, 3), nn.Tanh()))
    with pytest.raises(ValueError, match="chain"):
        linear_regions_2d([(torch.ones(3, 2), torch.zeros(3)), (torch.ones(2, 4), torch.zeros(2))])
