"""Layered thresholding against a ReLU network built from torch.nn, layered basis pursuit against a
chain of scikit-learn Lasso fits."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sparse_problems import gaussian_dictionary, sparse_codes

from dltheory.oracles.lasso import lasso_duality_gap, lasso_objective_np, lasso_sklearn
from dltheory.sparse import (
    hard_threshold,
    layered_basis_pursuit,
    layered_thresholding,
    soft_threshold,
)


def _model(B=6, seed=0):
    """A two-layer model y = D1 D2 G2 with G2 3-sparse (D1 (12, 20), D2 (20, 30))."""
    D1, D2 = gaussian_dictionary(12, 20, seed=seed), gaussian_dictionary(20, 30, seed=seed + 1)
    G2 = sparse_codes(B, 30, 3, seed=seed + 2, low=0.5, high=1.0)
    Y = G2 @ D2.T @ D1.T + 0.02 * torch.tensor(np.random.default_rng(seed + 3).standard_normal((B, 12)))
    return [D1, D2], Y


def test_nonnegative_soft_layered_thresholding_is_a_relu_network():
    (D1, D2), Y = _model()
    lams = [0.1, 0.05]
    G1, G2 = layered_thresholding([D1, D2], Y, lams, nonnegative=True)
    net = torch.nn.Sequential(torch.nn.Linear(12, 20), torch.nn.ReLU(), torch.nn.Linear(20, 30), torch.nn.ReLU()).double()
    with torch.no_grad():
        for layer, D, lam in ((net[0], D1, lams[0]), (net[2], D2, lams[1])):
            layer.weight.copy_(D.T)
            layer.bias.fill_(-lam)
    torch.testing.assert_close(G1, net[:2](Y), rtol=0, atol=1e-15)
    torch.testing.assert_close(G2, net(Y), rtol=0, atol=1e-15)


def test_two_sided_and_hard_layers_compose_the_thresholds():
    (D1, D2), Y = _model(seed=5)
    for kind, fn in (("soft", soft_threshold), ("hard", hard_threshold)):
        G1, G2 = layered_thresholding([D1, D2], Y[0], [0.2, 0.1], kind=kind)
        assert G1.shape == (20,) and G2.shape == (30,)
        expected1 = fn(D1.T @ Y[0], 0.2)
        torch.testing.assert_close(G1, expected1, rtol=0, atol=0)
        torch.testing.assert_close(G2, fn(D2.T @ expected1, 0.1), rtol=0, atol=0)


@pytest.mark.parametrize("nonnegative", [False, True])
def test_layered_basis_pursuit_is_a_chain_of_lassos(nonnegative):
    (D1, D2), Y = _model(seed=9)
    lams = [0.05, 0.02]
    L1, L2 = layered_basis_pursuit([D1, D2], Y, lams, steps=20_000, tol=1e-13, nonnegative=nonnegative)
    # layer 1 against scikit-learn on the signals; layer 2 against scikit-learn on our layer-1 codes
    for sol, D, inp, lam in ((L1, D1, Y, lams[0]), (L2, D2, L1.codes, lams[1])):
        ref = lasso_sklearn(D, inp, lam, positive=nonnegative)
        F_ref = lasso_objective_np(D, inp, ref, lam)
        np.testing.assert_array_less(np.abs(sol.objective.numpy() - F_ref), 1e-8 * F_ref)
        assert (lasso_duality_gap(D, inp, sol.codes, lam, positive=nonnegative) <= 1e-8 * F_ref).all()


def test_errors_name_the_parameter():
    (D1, D2), Y = _model()
    with pytest.raises(ValueError, match=r"`dicts\[1\]` must have 20 rows \(the atoms of dicts\[0\], shape \(12, 20\)\)"):
        layered_thresholding([D1, D2[:19]], Y, [0.1, 0.1])
    with pytest.raises(ValueError, match="`lams` must be a list of 2 thresholds \\(one per layer\\); got length 1"):
        layered_basis_pursuit([D1, D2], Y, [0.1])
    with pytest.raises(ValueError, match="`kind` must be one of 'soft', 'hard'; got 'relu'"):
        layered_thresholding([D1, D2], Y, [0.1, 0.1], kind="relu")
    with pytest.raises(TypeError, match="`dicts` must be a non-empty list"):
        layered_thresholding(D1, Y, [0.1])
    with pytest.raises(ValueError, match="`lam` must be a float >= 0.0; got -0.1"):
        layered_thresholding([D1, D2], Y, [0.1, -0.1])
