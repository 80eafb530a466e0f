"""GGN products and spectra against J^T H_loss J built densely with autograd.functional.jacobian."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from dltheory.core import flatten, functionalize, isolated_global_rng, unflatten
from dltheory.probes.curvature import dense_hessian
from dltheory.probes.gauss_newton import ggn_operator, ggn_vector_product
from dltheory.probes.lanczos import extreme_eigenvalues
from dltheory.probes.randomized import stochastic_trace

D = torch.float64


def _setup(loss_name: str):
    g = torch.Generator().manual_seed(0)
    X = torch.randn(20, 4, generator=g, dtype=D)
    with isolated_global_rng(0, "ggn"):
        model = nn.Sequential(nn.Linear(4, 5), nn.Tanh(), nn.Linear(5, 3)).to(D)
    fm = functionalize(model)
    if loss_name == "mse":
        return fm, X, torch.randn(20, 3, generator=g, dtype=D), F.mse_loss
    return fm, X, torch.randint(0, 3, (20,), generator=g), F.cross_entropy


def _dense_ggn(fm, X, targets, loss_fn):
    like = fm.params
    x0 = flatten(like)
    z = fm(like, X)
    J = torch.autograd.functional.jacobian(lambda w: fm(unflatten(w, like), X).reshape(-1), x0)
    HL = torch.autograd.functional.hessian(lambda zz: loss_fn(zz.reshape(z.shape), targets), z.reshape(-1))
    return J.T @ HL @ J


@pytest.mark.parametrize("loss_name", ["mse", "cross_entropy", "callable"])
def test_ggn_product_matches_dense(loss_name):
    fm, X, t, loss_fn = _setup("mse" if loss_name == "mse" else "cross_entropy")
    G = _dense_ggn(fm, X, t, loss_fn)
    v = torch.randn(G.shape[0], generator=torch.Generator().manual_seed(1), dtype=D)
    loss = loss_fn if loss_name == "callable" else loss_name
    out = ggn_vector_product(fm, fm.params, X, t, unflatten(v, fm.params), loss=loss)
    torch.testing.assert_close(flatten(out), G @ v, rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("loss_name", ["mse", "cross_entropy"])
def test_ggn_spectrum_through_shared_solvers(loss_name):
    fm, X, t, loss_fn = _setup(loss_name)
    G = _dense_ggn(fm, X, t, loss_fn)
    ev = torch.linalg.eigvalsh(G)
    op = ggn_operator(fm, fm.params, X, t, loss=loss_name)
    spec = extreme_eigenvalues(op, k=3, tol=1e-9)
    torch.testing.assert_close(spec.eigenvalues, ev[-3:].flip(0), rtol=1e-7, atol=0)
    assert float(ev[0]) > -1e-12  # PSD for convex losses
    tr = stochastic_trace(op, matvecs=3 * op.dim)
    assert tr.value == pytest.approx(float(G.trace()), rel=1e-9)


def test_ggn_equals_hessian_for_linear_model_with_mse():
    g = torch.Generator().manual_seed(3)
    X, Y = torch.randn(15, 4, generator=g, dtype=D), torch.randn(15, 2, generator=g, dtype=D)
    with isolated_global_rng(0, "lin"):
        fm = functionalize(nn.Linear(4, 2).to(D))
    H = dense_hessian(lambda p: F.mse_loss(fm(p, X), Y), fm.params)
    v = torch.randn(H.shape[0], generator=g, dtype=D)
    torch.testing.assert_close(flatten(ggn_vector_product(fm, fm.params, X, Y, v)), H @ v)


def test_ggn_errors():
    fm, X, t, _ = _setup("mse")
    with pytest.raises(ValueError, match=r"`loss` must be one of 'mse', 'cross_entropy'; got 'l1'\."):
        ggn_operator(fm, fm.params, X, t, loss="l1")
    with pytest.raises(ValueError, match=r"`vector` must have shape \(43,\)"):
        ggn_vector_product(fm, fm.params, X, t, torch.ones(5, dtype=D))
