"""LISTA: equal to unrolled ISTA at initialization, gradients against finite differences, trainable."""

from __future__ import annotations

import pytest
import torch
from sparse_problems import gaussian_dictionary, noisy_problem
from torch.func import functional_call

from dltheory.sparse import LISTA, fista, ista


@pytest.mark.parametrize("learn", ["all", "thresholds", "none"])
@pytest.mark.parametrize("nonnegative", [False, True])
def test_initialization_is_unrolled_ista(learn, nonnegative):
    D, Y, lam = noisy_problem()
    net = LISTA(D, lam, 25, learn=learn, nonnegative=nonnegative)
    expected = ista(D, Y, lam, 25, nonnegative=nonnegative).codes
    with torch.no_grad():
        torch.testing.assert_close(net(Y), expected, rtol=0, atol=1e-13)
        torch.testing.assert_close(net(Y[2]), expected[2], rtol=0, atol=1e-13)
    trainable = {name for name, _ in net.named_parameters()}
    assert trainable == {"all": {"W_e", "S", "theta"}, "thresholds": {"theta"}, "none": set()}[learn]
    assert {name for name, _ in net.named_buffers()} == {"W_e", "S", "theta"} - trainable
    assert net.W_e.dtype == torch.float64 and net.W_e.device == D.device


def test_gradients_match_finite_differences():
    D = gaussian_dictionary(4, 6, seed=3)
    Y = torch.randn(3, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    net = LISTA(D, 0.05, 4)
    names = [name for name, _ in net.named_parameters()]

    def forward(Y, *params):
        return functional_call(net, dict(zip(names, params, strict=True)), (Y,))

    inputs = (Y.requires_grad_(),) + tuple(p.detach().clone().requires_grad_() for p in net.parameters())
    assert torch.autograd.gradcheck(forward, inputs)


def test_training_lowers_the_error_to_the_lasso_solution():
    """Three LISTA layers fitted to FISTA's converged codes on the training signals beat three ISTA
    steps (the initialization) on held-out signals: the point of Gregor & LeCun (2010)."""
    D = gaussian_dictionary(16, 32, seed=5)
    g = torch.Generator().manual_seed(6)
    codes = torch.randn(600, 32, dtype=torch.float64, generator=g) * (torch.rand(600, 32, generator=g, dtype=torch.float64) < 0.1)
    Y = codes @ D.T + 0.01 * torch.randn(600, 16, generator=g, dtype=torch.float64)
    lam = 0.05
    target = fista(D, Y, lam, 5000, tol=1e-10, restart=True).codes
    train, test = slice(0, 500), slice(500, 600)
    net = LISTA(D, lam, 3)

    def error(part):
        return ((net(Y[part]) - target[part]) ** 2).sum(dim=1).mean()

    with torch.no_grad():
        before = float(error(test))
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    for _ in range(150):
        opt.zero_grad()
        error(train).backward()
        opt.step()
    with torch.no_grad():
        assert float(error(test)) < before  # a predicate, not a tuned factor (measured: 1.53 -> 0.65)


def test_errors_name_the_parameter():
    D, Y, lam = noisy_problem()
    with pytest.raises(ValueError, match="`learn` must be one of 'all', 'thresholds', 'none'; got 'weights'"):
        LISTA(D, lam, 3, learn="weights")
    with pytest.raises(ValueError, match="`steps` must be an int >= 1; got 0"):
        LISTA(D, lam, 0)
    with pytest.raises(ValueError, match="`lam` must be a float >= 0.0; got -1.0"):
        LISTA(D, -1.0, 3)
    with pytest.raises(ValueError, match=r"`Y` must have shape \(20,\) or \(B, 20\)"):
        LISTA(D, lam, 3)(Y[:, :5])
    with pytest.raises(ValueError, match="`Y` must have the dictionary's dtype and device"):
        LISTA(D, lam, 3)(Y.float())
