"""Trace-norm oracles against independent references: the nuclear norm, cvxpy, scipy L-BFGS on the
factorized objective, and the regularizer evaluated at the constructed factorizations."""

import numpy as np
import pytest
import torch
from scipy.optimize import minimize

from dltheory.models.dropout import dropout_regularizer
from dltheory.oracles.trace_norm import (
    dropout_factorization_optimum,
    equalized_factorization,
    induced_dropout_regularizer,
    weighted_trace_norm,
    weighted_trace_norm_sdp,
)


@pytest.fixture
def low_rank():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(6, 3)) @ rng.normal(size=(3, 5))
    return X, rng.uniform(0.2, 2.0, 6), rng.uniform(0.2, 2.0, 5)


def _reg(U, V, lam, p=None, q=None):
    def t(a):
        return None if a is None else torch.as_tensor(a)

    theta = 1.0 / (1.0 + lam)  # lam = (1 - theta) / theta
    return float(dropout_regularizer(torch.as_tensor(U), torch.as_tensor(V), keep_prob=theta, row_weights=t(p), col_weights=t(q)))


def test_unweighted_is_nuclear_norm_and_weights_scale(low_rank):
    X, p, q = low_rank
    assert weighted_trace_norm(X) == pytest.approx(np.linalg.norm(X, "nuc"), rel=1e-12)
    # scaling the marginals by c scales the norm by sqrt(c)
    assert weighted_trace_norm(X, row_weights=4 * p, col_weights=q) == pytest.approx(2 * weighted_trace_norm(X, row_weights=p, col_weights=q), rel=1e-12)
    assert weighted_trace_norm(torch.as_tensor(X), row_weights=torch.as_tensor(p)) == pytest.approx(weighted_trace_norm(X, row_weights=p))


def test_svd_matches_sdp(low_rank):
    X, p, q = low_rank
    assert weighted_trace_norm_sdp(X, row_weights=p, col_weights=q) == pytest.approx(weighted_trace_norm(X, row_weights=p, col_weights=q), rel=1e-6)


@pytest.mark.parametrize("width", [3, 4, 7])
def test_equalized_factorization_attains_induced_regularizer(low_rank, width):
    X, p, q = low_rank
    U, V = equalized_factorization(X, width=width, row_weights=p, col_weights=q)
    assert U.shape == (6, width) and V.shape == (5, width)
    np.testing.assert_allclose(U @ V.T, X, atol=1e-12)
    prods = np.sqrt((p[:, None] * U**2).sum(0) * (q[:, None] * V**2).sum(0))
    np.testing.assert_allclose(prods, weighted_trace_norm(X, row_weights=p, col_weights=q) / width, rtol=1e-10)
    target = induced_dropout_regularizer(X, width=width, lam=0.7, row_weights=p, col_weights=q)
    assert _reg(U, V, 0.7, p, q) == pytest.approx(target, rel=1e-10)


def test_induced_regularizer_is_a_lower_bound_over_factorizations(low_rank):
    X, p, q = low_rank
    U0, V0 = equalized_factorization(X, width=3)
    target = induced_dropout_regularizer(X, width=3, lam=1.0, row_weights=p, col_weights=q)
    rng = np.random.default_rng(1)
    for _ in range(20):
        A = rng.normal(size=(3, 3))
        assert _reg(U0 @ A, V0 @ np.linalg.inv(A).T, 1.0, p, q) >= target * (1 - 1e-12)


def test_rank_above_width_and_bad_weights_raise(low_rank):
    X, p, _ = low_rank
    with pytest.raises(ValueError, match="`X` must have rank <= width = 2 to factor with 2 columns; got rank 3"):
        induced_dropout_regularizer(X, width=2, lam=1.0)
    with pytest.raises(ValueError, match="`X` must have rank <= width = 2"):
        equalized_factorization(X, width=2)
    with pytest.raises(ValueError, match=r"`row_weights` must have shape \(6,\)"):
        weighted_trace_norm(X, row_weights=p[:3])
    with pytest.raises(ValueError, match="`col_weights` must be finite and > 0"):
        weighted_trace_norm(X, col_weights=-np.ones(5))
    with pytest.raises(ValueError, match=r"`X` must be a matrix \(2-D\); got shape \(3,\)"):
        weighted_trace_norm(np.ones(3))


@pytest.mark.parametrize("width,lam", [(2, 1.0), (3, 4.0), (8, 0.3), (8, 1.0)])
def test_dropout_optimum_beats_lbfgs_on_the_factorized_objective(width, lam):
    """Independent reference: multi-start L-BFGS directly on ||M - UV^T||^2 + lam sum ||u_k||^2 ||v_k||^2."""
    rng = np.random.default_rng(2)
    M = rng.normal(size=(7, 6))
    opt = dropout_factorization_optimum(M, width=width, lam=lam)
    assert opt.rank <= width

    def f(x):
        U, V = x[: 7 * width].reshape(7, width), x[7 * width :].reshape(6, width)
        R = M - U @ V.T
        val = (R**2).sum() + lam * ((U**2).sum(0) * (V**2).sum(0)).sum()
        gU = -2 * R @ V + 2 * lam * U * (V**2).sum(0)
        gV = -2 * R.T @ U + 2 * lam * V * (U**2).sum(0)
        return val, np.concatenate([gU.ravel(), gV.ravel()])

    runs = [minimize(f, rng.normal(size=13 * width), jac=True, method="L-BFGS-B", options={"maxiter": 20000, "gtol": 1e-12, "ftol": 1e-16}) for _ in range(4)]
    best = min(runs, key=lambda r: r.fun)
    assert opt.objective <= best.fun + 1e-9  # the closed form is never beaten
    assert opt.objective == pytest.approx(best.fun, rel=1e-7)
    U, V = best.x[: 7 * width].reshape(7, width), best.x[7 * width :].reshape(6, width)
    np.testing.assert_allclose(U @ V.T, opt.matrix, atol=1e-4)
    prods = np.linalg.norm(U, axis=0) * np.linalg.norm(V, axis=0)
    np.testing.assert_allclose(prods, opt.product, rtol=1e-3)  # equalized


def test_dropout_optimum_matches_cvxpy_when_the_cap_does_not_bind():
    """Without the rank cap the problem is convex: min ||M - Z||_F^2 + (lam/r) ||Z||_*^2."""
    import cvxpy as cp

    rng = np.random.default_rng(3)
    M = rng.normal(size=(5, 4))
    width, lam = 6, 2.0
    opt = dropout_factorization_optimum(M, width=width, lam=lam)
    Z = cp.Variable(M.shape)
    prob = cp.Problem(cp.Minimize(cp.sum_squares(M - Z) + lam / width * cp.square(cp.normNuc(Z))))
    prob.solve(solver="CLARABEL")
    assert opt.rank < min(M.shape)  # the shrinkage, not the width, sets the rank here
    assert opt.objective == pytest.approx(prob.value, rel=1e-6)
    np.testing.assert_allclose(opt.matrix, Z.value, atol=1e-4)


def test_dropout_optimum_cap_and_formula():
    # singular values 1, 0.9, ..., 0.1 with lam = 1: shrinkage sum_{i<=rho} s_i / (r + rho)
    s = np.linspace(1.0, 0.1, 10)
    M = np.diag(s)
    capped = dropout_factorization_optimum(M, width=5, lam=1.0)
    assert capped.rank == 5 and capped.shrinkage == pytest.approx(4.0 / 10)  # the cap binds: rho = r
    np.testing.assert_allclose(capped.singular_values[:5], s[:5] - 0.4, atol=1e-12)
    wide = dropout_factorization_optimum(M, width=10, lam=1.0)
    assert wide.rank == 8  # shrinkage-limited: sigma_9 = 0.2 <= sum_{i<=9} s_i / 19
    assert wide.shrinkage == pytest.approx(s[:8].sum() / 18)
    assert dropout_factorization_optimum(M, width=5, lam=0.0).shrinkage == 0.0  # no dropout: truncated SVD
